"""Lead capture forms through the real app: the hosted page and its POST (HTML and JSON), consent records,
double opt-in confirmation (GET shows, POST confirms), honeypot, rate limit, redirects, frame headers,
the admin pages (editor, snippet, submissions, CSV) and the API. Real Redis, SQLite or PostgreSQL."""

from __future__ import annotations

import csv
import dataclasses
import io
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from campaigns import scheduler
from campaigns.db import now_utc
from campaigns.journeys import walk_entry
from campaigns.leads import forms
from campaigns.models import (
    Contact,
    ContactStatus,
    Enrollment,
    Event,
    Form,
    FormSubmission,
    JourneyEnrolment,
    SubmissionStatus,
)
from tests.factories import make_sequence, make_template

CONSENT = "ニュースレターやセミナー案内のメール受信に同意します。配信はいつでも停止できます。"
GOOD = {"email": "Taro.Yamada@Example.CO.JP", "last_name": "山田", "first_name": "太郎", "company": "サンプル株式会社",
        "consent": "1"}


def make_form(services: Any, **kw: Any) -> Form:
    """A form saved through the service (the editor's path)."""
    data = forms.FormInput(name=kw.pop("name", "Whitepaper request"), consent_text=kw.pop("consent_text", CONSENT), **kw)
    with services.db.begin() as s:
        form = forms.create_form(s, data)
        s.expunge(form)
    return form


def contact_by_email(services: Any, email: str) -> Contact | None:
    with services.db.begin() as s:
        contact = s.scalar(select(Contact).where(Contact.email == email))
        if contact is not None:
            s.expunge(contact)
        return contact


def submissions(services: Any) -> list[FormSubmission]:
    with services.db.begin() as s:
        rows = list(s.scalars(select(FormSubmission).order_by(FormSubmission.id)))
        for row in rows:
            s.expunge(row)
        return rows


def events(services: Any, name: str = "form_submitted") -> list[Event]:
    with services.db.begin() as s:
        rows = list(s.scalars(select(Event).where(Event.name == name).order_by(Event.id)))
        for row in rows:
            s.expunge(row)
        return rows


# ---------------------------------------------------------------- the hosted page
def test_hosted_page_shows_fields_consent_wording_and_honeypot_in_the_browser_language(services, client):
    form = make_form(services, title="資料請求")
    page = client.get(f"/f/{form.slug}", headers={"Accept-Language": "ja,en;q=0.5"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert CONSENT in html and 'name="consent"' in html and "required" in html
    english = client.get(f"/f/{form.slug}", headers={"Accept-Language": "en-US"}).get_data(as_text=True)
    for spec in form.fields:
        # a "日本語 / English" label shows the visitor's half only
        japanese_label, _, english_label = spec["label"].partition(" / ")
        assert f'name="{spec["key"]}"' in html and f">{japanese_label}<" in html and english_label not in html
        assert f">{english_label or japanese_label}<" in english
    assert f'name="{forms.HONEYPOT_FIELD}"' in html
    assert "送信する" in html and 'lang="ja"' in html
    assert ">Submit<" in english and 'lang="en"' in english


def test_form_pages_may_be_framed_but_the_admin_and_confirmation_pages_may_not(services, client, ui):
    form = make_form(services, redirect_url="https://www.acme.test/thanks?from=form")
    page = client.get(f"/f/{form.slug}?embed=1")
    assert "X-Frame-Options" not in page.headers
    csp = page.headers["Content-Security-Policy"]
    assert "frame-ancestors *" in csp
    assert "form-action 'self' https://www.acme.test;" in csp  # the stored redirect's origin, nothing else
    assert "embed" in page.get_data(as_text=True)
    admin = ui.get("/forms/")
    assert admin.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in admin.headers["Content-Security-Policy"]
    client.post(f"/f/{form.slug}", data={**GOOD, "email": "x@acme.test"})
    token = forms.confirm_token(services, submissions(services)[0])
    confirm = client.get(f"/f/confirm/{token}")
    assert confirm.headers["X-Frame-Options"] == "SAMEORIGIN"


def test_unknown_and_inactive_forms_take_nothing(services, client):
    assert client.get("/f/no-such-form").status_code == 404
    form = make_form(services, status="inactive")
    assert client.get(f"/f/{form.slug}").status_code == 404
    resp = client.post(f"/f/{form.slug}", data=GOOD)
    assert resp.status_code == 404
    assert client.post(f"/f/{form.slug}", json={**GOOD, "consent": True}).get_json()["error"] == "form_closed"
    assert submissions(services) == [] and contact_by_email(services, "Taro.Yamada@example.co.jp") is None


# ---------------------------------------------------------------- single opt-in
def test_submission_creates_contact_with_consent_record_event_and_thank_you(services, client):
    form = make_form(services, thank_you_message="資料をメールでお送りしました。", source="web-form")
    before = now_utc()
    resp = client.post(f"/f/{form.slug}", data=GOOD, headers={"User-Agent": "Mozilla/5.0 Test",
                                                           "Referer": "https://www.acme.test/lp"},
                       environ_base={"REMOTE_ADDR": "203.0.113.77"})
    assert resp.status_code == 303
    assert resp.headers["Location"].endswith(f"/f/{form.slug}/thanks")
    thanks = client.get(resp.headers["Location"])
    assert "資料をメールでお送りしました。" in thanks.get_data(as_text=True)

    contact = contact_by_email(services, "Taro.Yamada@example.co.jp")  # domain lower-cased, local part kept
    assert contact is not None and contact.status == ContactStatus.ACTIVE
    assert (contact.first_name, contact.last_name, contact.company) == ("太郎", "山田", "サンプル株式会社")
    assert contact.source == "web-form"
    assert contact.consent_method == "form" and contact.consent_source == "Whitepaper request"
    assert contact.consent_text == CONSENT
    assert contact.consent_at is not None and before <= contact.consent_at <= now_utc()

    [sub] = submissions(services)
    assert sub.status == SubmissionStatus.CONFIRMED and sub.contact_id == contact.id
    assert sub.consent_text == CONSENT and sub.confirmed_at is not None
    assert sub.values["company"] == "サンプル株式会社" and sub.email == "Taro.Yamada@example.co.jp"
    assert sub.ip == "203.0.113.0"  # truncated to its /24 (IP_PRIVACY=truncate), never the full address
    assert sub.user_agent == "Mozilla/5.0 Test" and sub.referrer == "https://www.acme.test/lp"

    [event] = events(services)
    assert event.contact_id == contact.id and event.properties["form"] == "Whitepaper request"
    assert event.source == "form"


def test_consent_wording_is_the_one_shown_at_the_time(services, client, ui):
    form = make_form(services)
    client.post(f"/f/{form.slug}", data=GOOD)
    with services.db.begin() as s:
        stored = s.get(Form, form.id)
        forms.update_form(s, stored, forms.FormInput(**{**forms.FormInput.from_form(stored).__dict__,
                                                               "consent_text": "新しい同意文言です。"}))
    client.post(f"/f/{form.slug}", data={**GOOD, "email": "hanako@example.jp"})
    first, second = submissions(services)
    assert first.consent_text == CONSENT and second.consent_text == "新しい同意文言です。"
    assert contact_by_email(services, "hanako@example.jp").consent_text == "新しい同意文言です。"


def test_existing_contact_keeps_values_a_blank_field_would_erase(services, client):
    form = make_form(services, fields=[
        {"key": "email", "label": "Email", "required": True},
        {"key": "company", "label": "Company", "required": False},
        {"key": "job_title", "label": "Title", "required": False},
        {"key": "phone", "label": "Phone", "required": False},
        {"key": "attributes.industry", "label": "Industry", "required": False},
    ])
    with services.db.begin() as s:
        s.add(Contact(email="kept@example.jp", company="Old Co", job_title="部長", attributes={"industry": "IT",
                                                                                          "employees": 50}))
    resp = client.post(f"/f/{form.slug}", data={"email": "kept@example.jp", "company": "", "job_title": "本部長",
                                                 "phone": "03-1234-5678", "attributes.industry": "", "consent": "on"})
    assert resp.status_code == 303
    contact = contact_by_email(services, "kept@example.jp")
    assert contact.company == "Old Co"  # blank did not erase
    assert contact.job_title == "本部長"  # a new value updates
    assert contact.attributes == {"industry": "IT", "employees": 50, "phone": "03-1234-5678"}
    assert len(events(services)) == 1


def test_form_enrols_in_its_sequences_and_event_triggered_ones_once(services, client):
    with services.db.begin() as s:
        template = make_template(s, "Whitepaper")
        direct = make_sequence(s, [{"template_id": template.id, "delay_minutes": 0}], name="Direct")
        triggered = make_sequence(s, [{"template_id": template.id, "delay_minutes": 0}], name="Triggered",
                                  trigger_events=["form_submitted"])
        both = make_sequence(s, [{"template_id": template.id, "delay_minutes": 0}], name="Both",
                             trigger_events=["form_submitted"])
        unrelated = make_sequence(s, [{"template_id": template.id, "delay_minutes": 0}], name="Other")
        ids = (direct.id, triggered.id, both.id, unrelated.id)
    form = make_form(services, sequence_ids=[ids[0], ids[2]])
    with services.db.begin() as s:  # activated sequences run as journeys: the form names those (migration 0022)
        journey = {i: walk_entry.journey_of_sequence(s, i).id for i in ids}
        assert s.get(Form, form.id).journey_ids == [journey[ids[0]], journey[ids[2]]]
    scheduler.tick(services, lock=False)  # the engine's first pass starts its event cursor at the present
    client.post(f"/f/{form.slug}", data=GOOD)
    with services.db.begin() as s:  # the form's own journeys at once; the event-triggered one at the next tick
        assert _walks(s) == [(journey[ids[0]], f"form:{form.id}"), (journey[ids[2]], f"form:{form.id}")]
    scheduler.tick(services, now=now_utc() + timedelta(minutes=1), lock=False)
    with services.db.begin() as s:  # "Both" (listed and triggered) is entered once
        walks = _walks(s)
        assert [j for j, _source in walks] == sorted([journey[ids[0]], journey[ids[1]], journey[ids[2]]])
        assert s.scalar(select(Enrollment.id)) is None


def _walks(s: Any) -> list[tuple[int, str]]:
    return sorted((w.journey_id, w.source) for w in s.scalars(select(JourneyEnrolment)))


# ---------------------------------------------------------------- bad input
def test_bad_input_is_shown_again_with_errors_and_nothing_lost(services, client):
    form = make_form(services, fields=[*forms.default_fields(), {"key": "phone", "label": "電話", "required": False}])
    typed = {"email": "taro@@example", "last_name": "山田", "first_name": "太郎", "company": "",
             "job_title": "部長 <b>", "phone": "call me", "website": ""}
    resp = client.post(f"/f/{form.slug}", data=typed, headers={"Accept-Language": "ja"})
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert 'value="taro@@example"' in html and 'value="山田"' in html and 'value="部長 &lt;b&gt;"' in html
    assert 'value="call me"' in html
    assert 'data-testid="error-email"' in html and "正しいメールアドレスを入力してください。" in html
    assert 'data-testid="error-company"' in html and "この項目は必須です。" in html
    assert 'data-testid="error-phone"' in html and 'data-testid="error-consent"' in html
    assert 'data-testid="error-last_name"' not in html
    assert submissions(services) == [] and events(services) == []
    # The consent box stays ticked when it was ticked.
    again = client.post(f"/f/{form.slug}", data={**typed, "consent": "1"}).get_data(as_text=True)
    assert 'value="1" required checked' in again and 'data-testid="error-consent"' not in again


def test_fields_not_on_the_form_are_ignored(services, client):
    form = make_form(services)
    client.post(f"/f/{form.slug}", data={**GOOD, "status": "unsubscribed", "score": "999", "attributes.vip": "yes",
                                         "stage": "customer"})
    contact = contact_by_email(services, "Taro.Yamada@example.co.jp")
    assert contact.status == ContactStatus.ACTIVE and contact.score == 0 and contact.stage == "cold"
    assert "vip" not in contact.attributes
    assert set(submissions(services)[0].values) == {spec["key"] for spec in form.fields}


def test_json_posts_get_json_answers_with_reasons(services, client):
    form = make_form(services, redirect_url="https://www.acme.test/thanks")
    bad = client.post(f"/f/{form.slug}", json={"email": "nope", "company": "Acme"}, headers={"Origin": "https://lp.test"})
    assert bad.status_code == 422
    body = bad.get_json()
    assert body["error"] == "validation_failed"
    assert set(body["details"]) == {"email", "last_name", "consent"}
    assert bad.headers["Access-Control-Allow-Origin"] == "*"
    assert client.post(f"/f/{form.slug}", data="{not json", content_type="application/json").status_code == 400
    assert client.post(f"/f/{form.slug}", json=["a", "list"]).status_code == 400
    ok = client.post(f"/f/{form.slug}", json={**GOOD, "consent": True})
    assert ok.status_code == 200
    assert ok.get_json() == {"status": "ok", "message": "Thank you. We have received your submission.",
                             "redirect_url": "https://www.acme.test/thanks"}
    preflight = client.options(f"/f/{form.slug}", headers={"Origin": "https://lp.test",
                                                           "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 204 and "POST" in preflight.headers["Access-Control-Allow-Methods"]


# ---------------------------------------------------------------- redirect
def test_redirect_goes_only_to_the_stored_url(services, client):
    form = make_form(services, redirect_url="https://www.acme.test/thanks")
    resp = client.post(f"/f/{form.slug}?next=https://evil.test/&redirect_url=https://evil.test/",
                       data={**GOOD, "redirect_url": "https://evil.test/", "next": "https://evil.test/"})
    assert resp.status_code == 303 and resp.headers["Location"] == "https://www.acme.test/thanks"


@pytest.mark.parametrize("url", ["javascript:alert(1)", "//evil.test/x", "/relative", "ftp://files.test/x",
                                 "https://ok.test/a b", "data:text/html,hi"])
def test_only_absolute_http_urls_can_be_stored_as_redirect(services, url):
    with pytest.raises(forms.FormConfigError) as caught, services.db.begin() as s:
        forms.create_form(s, forms.FormInput(name="X", consent_text=CONSENT, redirect_url=url))
    assert "redirect_url" in caught.value.errors


# ---------------------------------------------------------------- spam protection
def test_honeypot_submission_looks_accepted_but_creates_nothing(services, client):
    form = make_form(services)
    resp = client.post(f"/f/{form.slug}", data={**GOOD, forms.HONEYPOT_FIELD: "http://spam.test"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/thanks")
    assert contact_by_email(services, "Taro.Yamada@example.co.jp") is None
    [sub] = submissions(services)
    assert sub.status == SubmissionStatus.SPAM and sub.contact_id is None
    assert events(services) == []
    json_resp = client.post(f"/f/{form.slug}", json={**GOOD, "consent": True, forms.HONEYPOT_FIELD: "x"})
    assert json_resp.status_code == 200 and json_resp.get_json()["status"] == "ok"
    assert contact_by_email(services, "Taro.Yamada@example.co.jp") is None


def test_rate_limit_per_address_keeps_the_typed_values(app, services, client):
    services.settings = dataclasses.replace(services.settings, form_rate_limit=3, form_rate_window=600)
    form = make_form(services)
    busy = {"REMOTE_ADDR": "198.51.100.20"}
    for i in range(3):
        assert client.post(f"/f/{form.slug}", data={**GOOD, "email": f"a{i}@example.jp"}, environ_base=busy).status_code == 303
    refused = client.post(f"/f/{form.slug}", data={**GOOD, "email": "a3@example.jp"}, environ_base=busy,
                          headers={"Accept-Language": "en"})
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "600"
    html = refused.get_data(as_text=True)
    assert "Too many submissions" in html and 'value="a3@example.jp"' in html
    assert client.post(f"/f/{form.slug}", json={**GOOD, "consent": True}, environ_base=busy).status_code == 429
    assert contact_by_email(services, "a3@example.jp") is None
    # Another network is not affected; the window's key expires in Redis.
    other = client.post(f"/f/{form.slug}", data={**GOOD, "email": "b@example.jp"},
                        environ_base={"REMOTE_ADDR": "192.0.2.9"})
    assert other.status_code == 303
    keys = services.redis.keys("nurture:forms:rate:*")
    assert len(keys) == 2 and all(0 < services.redis.ttl(k) <= 600 for k in keys)
    assert b"198.51.100" not in b"".join(keys)  # the address is keyed by a hash, not stored in Redis


# ---------------------------------------------------------------- double opt-in
def test_double_opt_in_waits_for_the_post_of_the_link(services, client):
    with services.db.begin() as s:
        template = make_template(s, "Whitepaper")
        sequence_id = make_sequence(s, [{"template_id": template.id, "delay_minutes": 0}]).id
    form = make_form(services, double_opt_in=True, sequence_ids=[sequence_id])
    resp = client.post(f"/f/{form.slug}", data=GOOD)
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/f/{form.slug}/pending")
    contact = contact_by_email(services, "Taro.Yamada@example.co.jp")
    assert contact.status == ContactStatus.PENDING  # not mailable for marketing yet
    assert contact.consent_at is None and contact.consent_method == ""
    [sub] = submissions(services)
    assert sub.status == SubmissionStatus.PENDING and sub.confirmed_at is None
    assert events(services) == []
    with services.db.begin() as s:
        assert s.scalar(select(Enrollment.id)) is None

    token = forms.confirm_token(services, sub)
    for _ in range(2):  # scanners prefetch: GET never confirms
        page = client.get(f"/f/confirm/{token}")
        assert page.status_code == 200 and 'data-testid="confirm-subscription"' in page.get_data(as_text=True)
    assert submissions(services)[0].status == SubmissionStatus.PENDING
    assert contact_by_email(services, "Taro.Yamada@example.co.jp").status == ContactStatus.PENDING

    assert client.post(f"/f/confirm/{token}").status_code == 200
    contact = contact_by_email(services, "Taro.Yamada@example.co.jp")
    assert contact.status == ContactStatus.ACTIVE
    assert contact.consent_method == "form" and contact.consent_text == CONSENT and contact.consent_at is not None
    sub = submissions(services)[0]
    assert sub.status == SubmissionStatus.CONFIRMED and sub.confirmed_at is not None
    assert len(events(services)) == 1
    with services.db.begin() as s:
        # the sequence runs as a journey (activated): the form names it, and the confirmation starts one walk
        assert _walks(s) == [(walk_entry.journey_of_sequence(s, sequence_id).id, f"form:{form.id}")]
    # A second click changes nothing.
    again = client.post(f"/f/confirm/{token}")
    assert "already confirmed" in again.get_data(as_text=True)
    assert len(events(services)) == 1


def test_double_opt_in_does_not_change_an_existing_contact_before_confirmation(services, client):
    with services.db.begin() as s:
        s.add(Contact(email="boss@example.jp", first_name="本物", company="Real Co"))
    form = make_form(services, double_opt_in=True)
    client.post(f"/f/{form.slug}", data={**GOOD, "email": "boss@example.jp", "first_name": "偽物", "company": "Fake"})
    contact = contact_by_email(services, "boss@example.jp")
    assert (contact.first_name, contact.company, contact.status) == ("本物", "Real Co", ContactStatus.ACTIVE)
    token = forms.confirm_token(services, submissions(services)[0])
    client.post(f"/f/confirm/{token}")
    assert contact_by_email(services, "boss@example.jp").company == "Fake"  # the owner of the address confirmed


def test_forged_or_foreign_confirmation_tokens_are_refused(services, client):
    form = make_form(services, double_opt_in=True)
    client.post(f"/f/{form.slug}", data=GOOD)
    sub = submissions(services)[0]
    token = forms.confirm_token(services, sub)
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    unsubscribe_kind = services.urls.unsubscribe(sub.id).rsplit("/", 1)[1]  # a real token of another kind
    for bad in (forged, unsubscribe_kind, "x" * 10):
        assert client.get(f"/f/confirm/{bad}").status_code == 404
        assert client.post(f"/f/confirm/{bad}").status_code == 404
    assert submissions(services)[0].status == SubmissionStatus.PENDING


def test_confirmation_mails_to_one_address_are_capped(services, client, smtp_server, app):
    from tests.conftest import run_jobs
    from tests.sending_helpers import setup_account

    with services.db.begin() as s:
        setup_account(s)
    form = make_form(services, double_opt_in=True)
    for _ in range(forms.CONFIRMATIONS_PER_WINDOW + 2):
        client.post(f"/f/{form.slug}", data=GOOD)
    run_jobs(app)
    smtp_server.wait_for(forms.CONFIRMATIONS_PER_WINDOW, timeout=5)
    assert len(smtp_server.messages) == forms.CONFIRMATIONS_PER_WINDOW
    sent = [s for s in submissions(services) if s.confirmation_sent_at is not None]
    assert len(sent) == forms.CONFIRMATIONS_PER_WINDOW


# ---------------------------------------------------------------- form configuration
def test_form_configuration_is_validated(services):
    with services.db.begin() as s:
        make_form(services, slug="taken")
        bad = forms.FormInput(name="", slug="Bad Slug!", consent_text="", fields=[
            {"key": "first_name", "label": "名", "required": True}, {"key": "password", "label": "x"},
            {"key": "attributes.ok_name", "label": ""},
        ], double_opt_in=True, confirmation_html="<p>no link here</p>", sequence_ids=[999])
        with pytest.raises(forms.FormConfigError) as caught:
            forms.create_form(s, bad)
        errors = caught.value.errors
        assert {"name", "slug", "consent_text", "fields.1", "fields.2", "confirmation_html", "sequence_ids"} <= set(errors)
        with pytest.raises(forms.FormConfigError) as caught:
            forms.create_form(s, forms.FormInput(name="B", slug="taken", consent_text=CONSENT))
        assert caught.value.errors == {"slug": "another form already uses this URL name"}
        with pytest.raises(forms.FormConfigError) as caught:
            forms.create_form(s, forms.FormInput(name="C", consent_text=CONSENT, fields=[
                {"key": "company", "label": "社名"}]))
        assert "fields" in caught.value.errors
        sandboxed = forms.FormInput(name="D", consent_text=CONSENT, double_opt_in=True,
                                        confirmation_html="{{ confirm_url }} {{ ''.__class__.__mro__[1].__subclasses__() }}")
        with pytest.raises(forms.FormConfigError) as caught:
            forms.create_form(s, sandboxed)
        assert "not allowed" in caught.value.errors["confirmation_html"]


# ---------------------------------------------------------------- admin UI
def _editor_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "name": "Webinar sign-up", "slug": "", "title": "ウェビナー申込", "status": "active",
        "fields-0-key": "email", "fields-0-label": "メールアドレス", "fields-0-required": "1",
        "fields-1-key": "company", "fields-1-label": "会社名", "fields-1-required": "1",
        "fields-2-key": "custom", "fields-2-attr": "employees", "fields-2-label": "従業員数",
        "fields-3-key": "", "fields-3-label": "",
        "consent_text": CONSENT, "thank_you_message": "お申し込みありがとうございます。", "redirect_url": "",
        "confirmation_subject": "", "confirmation_html": "",
    }
    data.update(overrides)
    return data


def test_admin_creates_edits_and_shows_the_embed_snippet(services, ui):
    page = ui.get("/forms/new", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "新規フォーム" in page
    resp = ui.post("/forms/new", data=_editor_data())
    assert resp.status_code == 302
    with services.db.begin() as s:
        form = s.scalar(select(Form))
        assert form.slug == "webinar-sign-up"
        assert form.fields == [
            {"key": "email", "label": "メールアドレス", "required": True},
            {"key": "company", "label": "会社名", "required": True},
            {"key": "attributes.employees", "label": "従業員数", "required": False},
        ]
        form_id = form.id
    show = ui.get(f"/forms/{form_id}").get_data(as_text=True)
    assert "http://nurture.test/f/webinar-sign-up" in show
    snippet_action = 'action=&#34;http://nurture.test/f/webinar-sign-up&#34;'
    assert snippet_action in show and "name=&#34;attributes.employees&#34;" in show
    assert "name=&#34;website&#34;" in show and "name=&#34;consent&#34;" in show
    assert "&lt;iframe src=&#34;http://nurture.test/f/webinar-sign-up?embed=1&#34;" in show
    assert CONSENT in show
    # The preview is the public page itself.
    assert ui.get("/f/webinar-sign-up").status_code == 200
    # Editing: a bad redirect is refused with the typed values kept.
    bad = ui.post(f"/forms/{form_id}/edit", data=_editor_data(redirect_url="javascript:alert(1)", name="Renamed"))
    assert bad.status_code == 400
    html = bad.get_data(as_text=True)
    assert 'value="javascript:alert(1)"' in html and 'value="Renamed"' in html and "http:// or https://" in html
    ok = ui.post(f"/forms/{form_id}/edit", data=_editor_data(redirect_url="https://acme.test/ty", status="inactive"))
    assert ok.status_code == 302
    with services.db.begin() as s:
        form = s.get(Form, form_id)
        assert form.redirect_url == "https://acme.test/ty" and form.status == "inactive"
    assert "Webinar sign-up" in ui.get("/forms/").get_data(as_text=True)


def test_submissions_page_and_csv_export_neutralise_formulas(services, client, ui):
    form = make_form(services)
    client.post(f"/f/{form.slug}", data={**GOOD, "company": "=HYPERLINK(\"http://evil.test\")", "last_name": "+SUM(A1)"})
    client.post(f"/f/{form.slug}", data={**GOOD, "email": "spam@example.jp", "website": "x"})
    page = ui.get(f"/forms/{form.id}/submissions").get_data(as_text=True)
    assert "Taro.Yamada@example.co.jp" in page and CONSENT in page and "spam@example.jp" in page
    only_spam = ui.get(f"/forms/{form.id}/submissions?status=spam").get_data(as_text=True)
    assert "spam@example.jp" in only_spam and "Taro.Yamada@example.co.jp" not in only_spam
    resp = ui.get(f"/forms/{form.id}/submissions.csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True).lstrip("\ufeff"))))
    assert len(rows) == 2
    real = next(r for r in rows if r["status"] == "confirmed")
    assert real["company"] == "'=HYPERLINK(\"http://evil.test\")" and real["last_name"] == "'+SUM(A1)"
    assert real["consent_text"] == CONSENT and real["email"] == "Taro.Yamada@example.co.jp"
    assert real["submitted_at"] and real["confirmed_at"]


def test_admin_pages_need_a_login(services, client):
    form = make_form(services)
    for url in ("/forms/", "/forms/new", f"/forms/{form.id}", f"/forms/{form.id}/submissions.csv"):
        assert client.get(url).status_code == 302


# ---------------------------------------------------------------- API
def test_api_lists_forms_and_reads_submissions(services, client, api_key):
    form = make_form(services)
    client.post(f"/f/{form.slug}", data=GOOD)
    client.post(f"/f/{form.slug}", data={**GOOD, "email": "bot@example.jp", "website": "x"})
    auth = {"Authorization": f"Bearer {api_key}"}
    listed = client.get("/api/v1/forms", headers=auth).get_json()
    assert [f["slug"] for f in listed["data"]] == [form.slug] and listed["next_after"] is None
    assert listed["data"][0]["consent_text"] == CONSENT
    assert listed["data"][0]["url"] == f"http://nurture.test/f/{form.slug}"
    one = client.get(f"/api/v1/forms/{form.id}", headers=auth).get_json()
    assert one["fields"][0]["key"] == "last_name"
    subs = client.get(f"/api/v1/forms/{form.id}/submissions", headers=auth).get_json()["data"]
    assert [s["status"] for s in subs] == ["confirmed", "spam"]
    assert subs[0]["consent_text"] == CONSENT and subs[0]["values"]["company"] == "サンプル株式会社"
    spam = client.get(f"/api/v1/forms/{form.id}/submissions?status=spam", headers=auth).get_json()["data"]
    assert [s["email"] for s in spam] == ["bot@example.jp"]
    assert client.get(f"/api/v1/forms/{form.id}/submissions?status=nope", headers=auth).status_code == 422
    assert client.get("/api/v1/forms/999/submissions", headers=auth).status_code == 404
    assert client.get("/api/v1/forms").status_code == 401


def test_pending_contact_is_not_a_broadcast_or_segment_recipient(services, client):
    from campaigns.audience.segments import count_segment

    form = make_form(services, double_opt_in=True)
    client.post(f"/f/{form.slug}", data=GOOD)
    with services.db.begin() as s:
        assert count_segment(s, {}) == 0
    client.post(f"/f/confirm/{forms.confirm_token(services, submissions(services)[0])}")
    with services.db.begin() as s:
        assert count_segment(s, {}) == 1


def test_timestamps_are_utc_aware(services, client):
    form = make_form(services)
    client.post(f"/f/{form.slug}", data=GOOD)
    sub = submissions(services)[0]
    assert sub.submitted_at.utcoffset() == timedelta(0)


def test_oversized_posts_are_refused_before_anything_is_read(services, client):
    form = make_form(services)
    resp = client.post(f"/f/{form.slug}", data={**GOOD, "company": "x" * 100_000})
    assert resp.status_code == 413
    assert client.post(f"/f/{form.slug}", json={**GOOD, "company": "x" * 100_000}).status_code == 413
    assert submissions(services) == [] and contact_by_email(services, "Taro.Yamada@example.co.jp") is None


def test_admin_preview_shows_an_inactive_form_without_taking_submissions(services, ui):
    form = make_form(services, status="inactive", title="準備中のフォーム")
    page = ui.get(f"/forms/{form.id}/preview")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "準備中のフォーム" in html and CONSENT in html
    assert 'data-testid="form-submit" disabled' in html and 'data-testid="form-notice"' in html
    assert f'href="/forms/{form.id}/preview"' in ui.get(f"/forms/{form.id}").get_data(as_text=True)


def test_no_confirmation_mail_to_a_suppressed_address(services, client, smtp_server, app):
    from campaigns.suppression import suppress
    from tests.conftest import run_jobs
    from tests.sending_helpers import setup_account

    with services.db.begin() as s:
        setup_account(s)
        suppress(s, "bounced@example.jp", "hard_bounce")
    form = make_form(services, double_opt_in=True)
    client.post(f"/f/{form.slug}", data={**GOOD, "email": "bounced@example.jp"})
    client.post(f"/f/{form.slug}", data={**GOOD, "email": "fine@example.jp"})
    run_jobs(app)
    [mail] = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["fine@example.jp"]
    assert contact_by_email(services, "bounced@example.jp").status == ContactStatus.BOUNCED
