"""The hosted form in real headless Chromium against the real app on a loopback port: a visitor fills it
in (in Japanese), forgets the consent box, sees the error with everything typed kept, ticks it and lands
on the thank-you page; the iframe embed and the pasted HTML snippet work from another origin."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from campaigns.leads import forms
from campaigns.models import Contact, FormSubmission, SubmissionStatus
from tests.browser_helpers import open_page

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(os.environ.get("BROWSER_SHOTS", "/tmp/nurture-browser"))
CONSENT = "資料送付およびセミナー案内のメール受信に同意します。"


@pytest.fixture
def chromium(app: Any) -> Any:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with open_page(app, viewport={"width": 900, "height": 1000}, locale="ja-JP",
                   extra_http_headers={"Accept-Language": "ja,en;q=0.5"}) as session:
        yield session.server, session.page, session.problems


def _form(services: Any, **kw: Any) -> Any:
    with services.db.begin() as s:
        form = forms.create_form(s, forms.FormInput(
            name="Whitepaper", title="ホワイトペーパー請求", consent_text=CONSENT,
            thank_you_message="資料をお送りしました。", **kw))
        s.expunge(form)
    return form


def test_visitor_fills_the_hosted_form(services: Any, chromium: Any) -> None:
    server, page, problems = chromium
    form = _form(services)
    page.goto(f"{server.url}/f/{form.slug}")
    assert page.locator("h1").inner_text() == "ホワイトペーパー請求"
    assert page.get_by_test_id("consent-text").inner_text() == CONSENT
    box = page.locator("input[name=website]").bounding_box()
    assert box is not None and box["x"] + box["width"] <= 0  # the honeypot is off-screen for people
    # the default "日本語 / English" labels show the Japanese half to a Japanese browser
    page.get_by_label("姓").fill("山田")
    page.locator("input[name=first_name]").fill("太郎")
    page.get_by_label("メールアドレス").fill("taro.yamada@example.jp")
    page.get_by_label("会社名").fill("サンプル株式会社")
    page.get_by_test_id("form-submit").click()
    page.wait_for_selector("[data-testid=error-consent]")
    assert page.get_by_test_id("error-consent").inner_text() == "メール受信への同意が必要です。"
    assert page.get_by_label("会社名").input_value() == "サンプル株式会社"  # nothing lost
    page.screenshot(path=str(SHOTS / "form-error.png"), full_page=True)
    page.get_by_test_id("consent").check()
    page.get_by_test_id("form-submit").click()
    page.wait_for_url(f"{server.url}/f/{form.slug}/thanks")
    assert page.get_by_test_id("form-message").inner_text() == "資料をお送りしました。"
    page.screenshot(path=str(SHOTS / "form-thanks.png"), full_page=True)
    with services.db.begin() as s:
        contact = s.scalar(select(Contact))
        assert (contact.email, contact.last_name, contact.company) == ("taro.yamada@example.jp", "山田", "サンプル株式会社")
        assert contact.consent_text == CONSENT
        sub = s.scalar(select(FormSubmission))
        assert sub.status == SubmissionStatus.CONFIRMED and "HeadlessChrome" in sub.user_agent
    assert problems == []


def test_iframe_and_html_snippet_work_from_another_origin(app: Any, services: Any, chromium: Any) -> None:
    from tests.browser_helpers import LiveServer

    server, page, problems = chromium
    form = _form(services)
    with app.test_request_context():
        from campaigns.views.forms import embed_snippets

        snippets = embed_snippets(form, server.url)
    # The customer's web site: another origin (another port) serving a page with both embeds.
    from flask import Flask

    site = Flask("customer-site")
    site_html = f"<!doctype html><html><body><h1>Acme</h1>{snippets['iframe']}<hr>{snippets['html']}</body></html>"
    site.add_url_rule("/", "index", lambda: site_html)
    other = LiveServer(site)
    other.start()
    try:
        page.goto(other.url + "/")
        frame_element = page.wait_for_selector("iframe")
        frame = frame_element.content_frame()
        assert frame is not None
        frame.wait_for_selector("[data-testid=lead-form]")  # not refused by X-Frame-Options
        frame.get_by_label("姓").fill("佐藤")
        frame.get_by_label("メールアドレス").fill("sato@example.jp")
        frame.get_by_label("会社名").fill("テスト商事")
        frame.get_by_test_id("consent").check()
        frame.get_by_test_id("form-submit").click()
        frame.wait_for_selector("[data-testid=form-message]")
        assert "embed=1" in frame.url
        page.screenshot(path=str(SHOTS / "form-iframe.png"), full_page=True)

        # The pasted HTML snippet posts across origins to the hosted endpoint.
        snippet = page.locator("body > form")
        snippet.locator("input[name=last_name]").fill("鈴木")
        snippet.locator("input[name=email]").fill("suzuki@example.jp")
        snippet.locator("input[name=company]").fill("鈴木工業")
        snippet.locator("input[name=consent]").check()
        snippet.locator("button[type=submit]").click()
        page.wait_for_url(f"{server.url}/f/{form.slug}/thanks")
    finally:
        other.stop()
    with services.db.begin() as s:
        emails = sorted(s.scalars(select(Contact.email)))
        referrers = sorted(s.scalars(select(FormSubmission.referrer)))
    assert emails == ["sato@example.jp", "suzuki@example.jp"]
    assert any(r.startswith(other.url) for r in referrers)
    assert problems == []
