"""The builder UI in real headless Chromium (Debian's chromium driven by Playwright), against the real app
served by werkzeug on a loopback port: log in, write a template with the live preview, build a two-step
sequence, activate it, and check the result in the database and on the page."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select

from campaigns.models import Sequence, SequenceStatus, Step, Template
from tests.browser_helpers import open_page
from tests.conftest import USER_EMAIL, USER_PASSWORD
from tests.factories import committed, make_template

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(os.environ.get("BROWSER_SHOTS", "/tmp/nurture-browser"))


@pytest.fixture
def browser_page(app, user):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")
    SHOTS.mkdir(parents=True, exist_ok=True)
    # CSP violations and script errors must not happen (page.problems; failed loads are not counted).
    with open_page(app, viewport={"width": 1360, "height": 900}, locale="en-US") as session:
        page = session.page
        page.base = session.server.url  # type: ignore[attr-defined]
        page.problems = session.problems  # type: ignore[attr-defined]
        yield page


def _login(page) -> None:
    page.goto(page.base + "/login")
    page.fill("#email", USER_EMAIL)
    page.fill("#password", USER_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(page.base + "/")


def test_template_and_two_step_sequence_through_the_ui(browser_page, services):
    page = browser_page
    expect = pytest.importorskip("playwright.sync_api").expect
    other = committed(services, make_template, "Case study", subject="A customer story", compiled=True)
    _login(page)

    # ---- a template, with the live preview following the edits
    page.click("[data-testid=nav-campaigns]")
    page.click("#nav-campaigns >> text=Mail templates")
    page.click("[data-testid=template-new]")
    # an empty new template: no errors before the first keystroke, only a hint
    expect(page.locator("#preview-status")).to_have_text("The preview appears as you write.")
    expect(page.get_by_test_id("preview-error")).to_be_hidden()
    page.fill("#name", "Whitepaper thanks")
    page.fill("#subject", "Thanks, {{ contact.first_name }}")
    page.fill("#html_source", "<html><head><style>.hi { color: #2f6fde; }</style></head><body>"
              "<p class='hi'>Hello {{ contact.first_name | default('there') }}</p>"
              "<p><a href='https://acme.test/wp.pdf'>Download</a></p></body></html>")
    expect(page.get_by_test_id("preview-subject")).to_have_text("Thanks, Taro")  # sample contact
    frame = page.frame_locator("#preview-frame")
    expect(frame.locator("p.hi")).to_have_text("Hello Taro")
    page.fill("#html_source", page.input_value("#html_source").replace("Hello", "Live marker, hello"))
    expect(frame.locator("p.hi")).to_have_text("Live marker, hello Taro")
    assert page.get_attribute("#preview-frame", "sandbox") == ""  # sandboxed: no scripts, opaque origin
    page.fill("#html_source", "<p>{% if %}</p>")
    expect(page.get_by_test_id("preview-error")).to_be_visible()
    page.fill("#html_source", "<html><body><p class='hi'>Hello {{ contact.first_name | default('there') }}</p>"
              "<p><a href='https://acme.test/wp.pdf'>Download</a></p></body></html>")
    expect(page.get_by_test_id("preview-error")).to_be_hidden()
    expect(frame.locator("p.hi")).to_have_text("Hello Taro")
    page.screenshot(path=str(SHOTS / "template-editor-new.png"), full_page=True)
    page.click("[data-testid=template-save]")
    expect(page.locator(".flash-success")).to_contain_text("Template saved.")
    expect(page.get_by_test_id("current-version")).to_have_text("Version 1")
    expect(page.get_by_test_id("template-links")).to_contain_text("https://acme.test/wp.pdf")
    page.screenshot(path=str(SHOTS / "template-editor.png"), full_page=True)
    with services.db.begin() as s:
        template = s.scalar(select(Template).where(Template.name == "Whitepaper thanks"))
        assert template is not None and template.current_version.subject == "Thanks, {{ contact.first_name }}"
        first_template = template.id

    # ---- a two-step sequence: add, reorder, remove, windows
    page.click("[data-testid=nav-campaigns]")
    page.click("#nav-campaigns >> text=Sequences")
    page.click("[data-testid=sequence-new]")
    page.fill("#name", "Whitepaper follow-up")
    page.fill("#trigger_events", "whitepaper_downloaded")
    page.fill("#exit_events", "demo_booked")
    steps = page.locator("#steps [data-step]")
    steps.nth(0).locator("select[name$=template_id]").select_option(str(first_template))
    steps.nth(0).locator("input[name$=delay_value]").fill("0")
    page.click("[data-testid=add-step]")
    page.click("[data-testid=add-step]")
    expect(steps).to_have_count(3)
    steps.nth(1).locator("select[name$=template_id]").select_option(str(other))
    steps.nth(1).locator("input[name$=delay_value]").fill("3")
    steps.nth(1).locator("select[name$=delay_unit]").select_option("days")
    for day in ("6", "7"):  # weekdays only
        steps.nth(1).locator(f"input[name$='-days'][value='{day}']").uncheck()
    steps.nth(1).locator("select[name$=start_hour]").select_option("9")
    steps.nth(1).locator("select[name$=end_hour]").select_option("18")
    # move the case study up and back down, then drop the empty third step
    steps.nth(1).locator("[data-move=up]").click()
    expect(steps.nth(0).locator("select[name$=template_id]")).to_have_value(str(other))
    expect(steps.nth(0).locator("select[name$=template_id]")).to_have_attribute("name", "steps-0-template_id")
    steps.nth(0).locator("[data-move=down]").click()
    steps.nth(2).locator("[data-remove]").click()
    expect(steps).to_have_count(2)
    expect(steps.nth(1).locator("[data-step-number]")).to_have_text("2")
    page.screenshot(path=str(SHOTS / "sequence-builder.png"), full_page=True)
    page.click("[data-testid=sequence-save]")
    expect(page.locator(".flash-success")).to_contain_text("Sequence saved.")
    expect(page.get_by_test_id("sequence-status")).to_have_text("draft")

    expect(page.get_by_test_id("step-table").locator("tbody tr")).to_have_count(2)
    expect(page.get_by_test_id("step-table")).to_contain_text("3 days")
    page.screenshot(path=str(SHOTS / "sequence-page.png"), full_page=True)
    page.click("[data-testid=sequence-activate]")  # it becomes a live journey: its canvas opens
    expect(page.locator(".flash-success")).to_contain_text("Sequence activated: it runs as a journey now.")
    page.wait_for_url("**/journeys/*")

    with services.db.begin() as s:
        seq = s.scalar(select(Sequence).where(Sequence.name == "Whitepaper follow-up"))
        assert seq.status == SequenceStatus.CONVERTED
        assert seq.trigger_events == ["whitepaper_downloaded"] and seq.exit_events == ["demo_booked"]
        rows = s.scalars(select(Step).where(Step.sequence_id == seq.id, Step.deleted.is_(False))
                         .order_by(Step.position)).all()
        assert [(r.template_id, r.delay_minutes, r.window_days, r.window_start_hour, r.window_end_hour)
                for r in rows] == [(first_template, 0, "", None, None), (other, 3 * 1440, "12345", 9, 18)]

    page.click("[data-testid=nav-campaigns]")
    page.click("#nav-campaigns >> text=Sequences")
    expect(page.get_by_test_id(f"status-{seq.id}")).to_have_text("Runs as a journey")
    page.screenshot(path=str(SHOTS / "sequence-list.png"), full_page=True)
    page.click("[data-testid=nav-campaigns]")
    page.click("#nav-campaigns >> text=Mail templates")
    expect(page.get_by_test_id("template-list")).to_contain_text("Whitepaper thanks")
    page.screenshot(path=str(SHOTS / "template-list.png"), full_page=True)
    assert page.problems == []  # type: ignore[attr-defined]


def test_builder_pages_in_japanese_render_cleanly(browser_page, services):
    page = browser_page
    expect = pytest.importorskip("playwright.sync_api").expect
    committed(services, make_template, "ようこそ", subject="{{ contact.last_name }}様、ようこそ", compiled=True)
    _login(page)
    page.click("[data-testid=lang-switch]")
    page.goto(page.base + "/sequences/new")
    expect(page.get_by_test_id("add-step")).to_contain_text("ステップを追加")
    page.screenshot(path=str(SHOTS / "sequence-builder-ja.png"), full_page=True)
    page.goto(page.base + "/broadcasts/new")
    expect(page.locator("h1")).to_have_text("新規一斉配信")
    page.fill("#name", "12月のお知らせ")
    page.select_option("#template_id", label="ようこそ")
    page.select_option("#segment", value="all")  # the audience is always an explicit choice
    page.check("input[name=when][value=later]")
    page.fill("input[name=scheduled_at]", "2030-12-01T10:00")
    page.screenshot(path=str(SHOTS / "broadcast-new-ja.png"), full_page=True)
    page.click("[data-testid=broadcast-save]")
    expect(page.get_by_test_id("confirm-when")).to_contain_text("2030年12月1日 10:00")  # asked first
    page.click("[data-testid=confirm-go]")
    expect(page.get_by_test_id("broadcast-status")).to_have_text("予約済み")
    expect(page.get_by_test_id("broadcast-scheduled")).to_contain_text("2030年12月1日 10:00")
    page.screenshot(path=str(SHOTS / "broadcast-show-ja.png"), full_page=True)
    with services.db.begin() as s:
        from campaigns.models import Broadcast

        assert s.scalar(select(Broadcast.scheduled_at)).isoformat() == "2030-12-01T01:00:00+00:00"
    assert page.problems == []  # type: ignore[attr-defined]


def test_top_bar_keeps_every_item_whole_and_inside_it_at_laptop_widths(browser_page, services):
    # At 1280-1366 px the twelve menu entries (now grouped), the language switch and "Log out" once overflowed a fixed
    # 52-px bar: the first row was cut off at the top and "ログアウト" wrapped one character per line.
    page = browser_page
    _login(page)
    items = "header.topbar nav > a, header.topbar .nav-toggle, header.topbar .nav-search, header.topbar .topbar-right button"
    for language in ("en", "ja"):
        if language == "ja":
            page.click("[data-testid=lang-switch]")
        for width in (1024, 1280, 1366, 1920):
            page.set_viewport_size({"width": width, "height": 800})
            page.goto(page.base + "/")
            bar = page.locator("header.topbar").bounding_box()
            boxes = [page.locator(items).nth(i).bounding_box() for i in range(page.locator(items).count())]
            # Dashboard, the four groups (Audience, Campaigns, Insights, Settings), search, the language switch, log out
            assert len(boxes) == 8
            line = min(b["height"] for b in boxes)
            for box in boxes:
                assert box["y"] >= bar["y"] and box["y"] + box["height"] <= bar["y"] + bar["height"] + 0.5, \
                    (language, width, box, bar)
                # one line each, never wrapped (a group's button is a padded line: 30 px beside a bare 18)
                assert box["height"] < 1.9 * line, (language, width, box)
            page.screenshot(path=str(SHOTS / f"topbar-{language}-{width}.png"))
    assert page.problems == []  # type: ignore[attr-defined]


def test_outbox_shows_a_caught_mail_in_a_sandboxed_frame(browser_page, services):
    import smtplib
    from email.message import EmailMessage

    from campaigns.delivery.outbox import start_outbox
    from tests.conftest import free_port

    page = browser_page
    expect = pytest.importorskip("playwright.sync_api").expect
    controller = start_outbox(services, port=free_port())
    try:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "marketing@acme.test", "hanako@example.jp", "Your whitepaper"
        msg.set_content("Text part for Hanako")
        msg.add_alternative("<html><body><h1 id='mail-title'>Whitepaper inside</h1>"
                            "<script>document.title='pwned'</script></body></html>", subtype="html")
        with smtplib.SMTP("127.0.0.1", controller.port, timeout=10) as smtp:
            smtp.send_message(msg)
    finally:
        controller.stop()
    _login(page)
    page.click("nav >> text=Outbox")
    page.click("text=Your whitepaper")
    expect(page.get_by_test_id("outbox-subject")).to_have_text("Your whitepaper")
    mail = page.frame_locator("[data-testid=outbox-html]")
    expect(mail.locator("#mail-title")).to_have_text("Whitepaper inside")
    expect(page.get_by_test_id("outbox-text")).to_contain_text("Text part for Hanako")
    frame = next(f for f in page.frames if f.url.endswith("/html"))
    assert frame.title() != "pwned"  # the mail's script did not run
    page.screenshot(path=str(SHOTS / "outbox-message.png"), full_page=True)
