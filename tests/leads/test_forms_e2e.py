"""Forms end to end over real SMTP: the double opt-in mail arrives, its link confirms only by POST, and the
form's sequence then sends its first step through the scheduler and the RQ worker; a single opt-in form
does the same at once."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from campaigns import scheduler
from campaigns.automation.linear import activate_sequence
from campaigns.db import now_utc
from campaigns.delivery.rendering import create_template
from campaigns.journeys.sequences import create_sequence
from campaigns.journeys.walk_entry import journey_of_sequence
from campaigns.leads import forms
from campaigns.models import (
    Contact,
    ContactStatus,
    FormSubmission,
    JourneyEnrolment,
    Send,
    SendStatus,
    SubmissionStatus,
)
from tests.conftest import run_jobs
from tests.sending_helpers import setup_account

CONSENT = "ホワイトペーパーの送付および関連するご案内メールの受信に同意します。"
WHITEPAPER_HTML = """<p>{{ contact.last_name }}様</p><p>資料はこちらです。</p>
<p><a href="https://acme.test/whitepaper.pdf">ダウンロード</a></p>"""


def _setup(services: Any, *, double_opt_in: bool, **form_kw: Any) -> tuple[int, str]:
    """A sender identity, a whitepaper sequence whose first step has no delay, and a form enrolling into it."""
    with services.db.begin() as s:
        setup_account(s)
        template = create_template(s, "Whitepaper", subject="【資料】{{ contact.company }}様へ", html_source=WHITEPAPER_HTML)
        sequence = create_sequence(s, "Whitepaper follow-up", steps=[
            {"template_id": template.id, "delay_minutes": 0, "window_days": "", "window_start_hour": None,
             "window_end_hour": None},
            {"template_id": template.id, "delay_minutes": 3 * 1440, "window_days": "", "window_start_hour": None,
             "window_end_hour": None},
        ])
        activate_sequence(s, sequence)  # it runs as a live linear journey
        form = forms.create_form(s, forms.FormInput(
            name="ホワイトペーパー請求", consent_text=CONSENT, double_opt_in=double_opt_in, sequence_ids=[sequence.id],
            **form_kw,
        ))
        return sequence.id, form.slug


FIELDS = {"email": "hanako.sato@example.jp", "last_name": "佐藤", "first_name": "花子", "company": "株式会社テスト",
          "consent": "1"}


def _deliver_due(app: Any, services: Any) -> dict[str, int]:
    """One scheduler pass (plans and enqueues what is due), then the RQ worker sends it."""
    counts = scheduler.tick(services, now=now_utc() + timedelta(seconds=1))
    run_jobs(app)
    return counts


def _parts(mail: Any) -> tuple[str, str]:
    msg = mail.message
    html = msg.get_body(("html",)).get_content()
    text = msg.get_body(("plain",)).get_content()
    return html, text


def test_double_opt_in_mail_link_confirms_by_post_and_starts_the_sequence(app, services, client, smtp_server):
    sequence_id, slug = _setup(services, double_opt_in=True, thank_you_message="ご登録ありがとうございました。")
    resp = client.post(f"/f/{slug}", data=FIELDS)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/pending")
    assert "メールをご確認ください" in client.get(resp.headers["Location"], headers={"Accept-Language": "ja"}).get_data(as_text=True)

    # Nothing is mailed for marketing before the confirmation: the scheduler has nothing to plan.
    assert _deliver_due(app, services).get("planned", 0) == 0
    [mail] = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["hanako.sato@example.jp"]
    msg = mail.message
    assert msg["To"].addresses[0].addr_spec == "hanako.sato@example.jp"
    # family name first, as Japanese writes it (names.display_name, the rule every To: header follows)
    assert msg["To"].addresses[0].display_name == "佐藤 花子"
    assert msg["Subject"] == forms.DEFAULT_CONFIRMATION_SUBJECT
    assert msg["From"].addresses[0].addr_spec == "marketing@acme.test"
    html, text = _parts(mail)
    links = re.findall(r'href="(http://nurture\.test/f/confirm/[^"]+)"', html)
    assert len(links) == 1 and links[0] in text
    assert "ホワイトペーパー請求" in html and 'style="' in html  # layout CSS inlined like any campaign mail
    assert "Acme 株式会社" in text  # the legal footer of the account
    path = links[0].replace("http://nurture.test", "")

    page = client.get(path)  # what a mail scanner or the person's first click does
    assert page.status_code == 200
    with services.db.begin() as s:
        sub = s.scalar(select(FormSubmission))
        assert sub.status == SubmissionStatus.PENDING
        assert s.scalar(select(Contact.status)) == ContactStatus.PENDING
    assert _deliver_due(app, services).get("planned", 0) == 0
    assert len(smtp_server.messages) == 1

    confirmed = client.post(path)
    assert "ご登録ありがとうございました。" in confirmed.get_data(as_text=True)
    with services.db.begin() as s:
        contact = s.scalar(select(Contact))
        assert contact.status == ContactStatus.ACTIVE
        assert contact.consent_method == "form" and contact.consent_source == "ホワイトペーパー請求"
        assert contact.consent_text == CONSENT
        sub = s.scalar(select(FormSubmission))
        assert sub.status == SubmissionStatus.CONFIRMED and sub.confirmed_at >= sub.submitted_at

    counts = _deliver_due(app, services)
    assert counts["planned"] == 1
    mails = smtp_server.wait_for(2)
    assert len(mails) == 2
    whitepaper = mails[1].message
    assert whitepaper["Subject"] == "【資料】株式会社テスト様へ"
    assert whitepaper["To"].addresses[0].addr_spec == "hanako.sato@example.jp"
    assert "佐藤様" in _parts(mails[1])[0]
    with services.db.begin() as s:
        [send] = s.scalars(select(Send))
        walk = s.get(JourneyEnrolment, send.journey_enrolment_id)  # the sequence runs as its journey
        assert send.status == SendStatus.SENT and walk.journey_id == journey_of_sequence(s, sequence_id).id


def test_single_opt_in_form_sends_the_first_step_at_once(app, services, client, smtp_server):
    _sequence_id, slug = _setup(services, double_opt_in=False, redirect_url="https://acme.test/thanks")
    resp = client.post(f"/f/{slug}", data=FIELDS)
    assert resp.status_code == 303 and resp.headers["Location"] == "https://acme.test/thanks"
    run_jobs(app)
    assert smtp_server.messages == []  # no confirmation mail without double opt-in
    assert _deliver_due(app, services)["planned"] == 1
    [mail] = smtp_server.wait_for(1)
    assert mail.message["Subject"] == "【資料】株式会社テスト様へ"
    assert mail.message["List-Unsubscribe"]  # a campaign mail, unlike the confirmation
    # The second step waits for its delay.
    assert _deliver_due(app, services).get("planned", 0) == 0


def test_custom_confirmation_mail_is_rendered_in_the_sandbox(app, services, client, smtp_server):
    html = ("<p>{{ contact.first_name }}さん、{{ form_name }}</p><p>[{{ ''.__class__ }}][{{ config }}]</p>"
            '<p><a href="{{ confirm_url }}">確認</a></p>')
    _sequence_id, slug = _setup(services, double_opt_in=True, confirmation_subject="{{ contact.last_name }}様：ご確認ください",
                                confirmation_html=html, title="秋のウェビナー")
    client.post(f"/f/{slug}", data=FIELDS)
    run_jobs(app)
    [mail] = smtp_server.wait_for(1)
    body, text = _parts(mail)
    assert mail.message["Subject"] == "佐藤様：ご確認ください"
    assert "花子さん、秋のウェビナー" in body and "[][]" in body
    assert re.search(r'href="http://nurture\.test/f/confirm/[A-Za-z0-9_-]+"', body)
    assert "確認 (http://nurture.test/f/confirm/" in text
