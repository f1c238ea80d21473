"""Nothing mails anyone before it is confirmed, in real headless Chromium: the new-broadcast form shows
who (count, sample) and when before anything is written, the scheduler and a real worker send nothing
until the click, and then the SMTP sink gets each mail once; a mass send needs the count typed (a wrong
number is refused by the page and by the server); English and Japanese, and a phone (390 px)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from campaigns import scheduler
from campaigns.db import now_utc
from campaigns.journeys.broadcasts import create_broadcast
from campaigns.models import Broadcast, BroadcastStatus, JourneyEnrolment, Segment, Send
from campaigns.views.confirm import MASS_THRESHOLD
from tests.browser_helpers import logged_in_page, sideways
from tests.conftest import USER_EMAIL, USER_PASSWORD, run_jobs
from tests.factories import make_contact, make_contacts, make_sequence
from tests.sending_helpers import make_version, setup_account

pytestmark = pytest.mark.browser
SHOTS = Path(os.environ.get("BROWSER_SHOTS", "/tmp/nurture-browser"))


@pytest.fixture
def chromium():
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian chromium is not installed")
    SHOTS.mkdir(parents=True, exist_ok=True)
    return pytest.importorskip("playwright.sync_api").expect


def _sends(services) -> int:
    with services.db.begin() as s:
        return int(s.scalar(select(func.count()).select_from(Send)) or 0)


def _broadcasts(services) -> list[tuple[str, BroadcastStatus]]:
    with services.db.begin() as s:
        return [(b.name, b.status) for b in s.scalars(select(Broadcast).order_by(Broadcast.id))]


def test_send_now_goes_only_after_the_confirmation(app, services, user, smtp_server, chromium):
    expect = chromium
    with services.db.begin() as s:
        setup_account(s)
        make_version(s, name="April news", subject="April news")
        make_contacts(s, 3, prefix="reader", company="Kaisha")
        make_contact(s, "left@example.com", status="unsubscribed", first_name="Left")
    with logged_in_page(app, USER_EMAIL, USER_PASSWORD) as session:
        page, base = session.page, session.server.url
        page.set_viewport_size({"width": 1366, "height": 900})
        page.goto(base + "/broadcasts/new")
        page.fill("#name", "April")
        page.select_option("#template_id", label="April news")
        page.select_option("#segment", value="all")
        page.check("input[name=when][value=now]")
        page.click("[data-testid=broadcast-save]")
        expect(page.get_by_test_id("confirm-count")).to_have_text("3 contacts")
        expect(page.get_by_test_id("confirm-when")).to_have_text("Right away")
        expect(page.get_by_test_id("confirm-sample")).to_contain_text("Kaisha")
        expect(page.get_by_test_id("confirm-sample")).not_to_contain_text("Left")
        page.screenshot(path=str(SHOTS / "safety-confirm-send-now-en.png"), full_page=True)
        # The scheduler and a real worker run: nothing exists to send yet.
        scheduler.tick(services, now=now_utc(), lock=False)
        run_jobs(app)
        assert _broadcasts(services) == [] and _sends(services) == 0 and smtp_server.messages == []
        page.click("[data-testid=confirm-go]")
        expect(page.get_by_test_id("broadcast-status")).to_have_text("scheduled")
        scheduler.tick(services, now=now_utc(), lock=False)
        run_jobs(app)
        assert sorted(m.rcpt_tos[0] for m in smtp_server.wait_for(3)) == [f"reader{i}@example.com" for i in range(3)]
        assert _broadcasts(services) == [("April", BroadcastStatus.SENDING)] or \
            _broadcasts(services) == [("April", BroadcastStatus.SENT)]
        assert session.problems == []


def test_mass_send_needs_the_typed_count_and_refuses_a_wrong_one(app, services, user, smtp_server, chromium):
    expect = chromium
    with services.db.begin() as s:
        setup_account(s)
        version = make_version(s, name="Webinar")
        make_contacts(s, MASS_THRESHOLD + 2, company="Shosha")
        broadcast_id = create_broadcast(s, "Webinar invite", version.template_id).id
    n = MASS_THRESHOLD + 2
    with logged_in_page(app, USER_EMAIL, USER_PASSWORD) as session:
        page, base = session.page, session.server.url
        page.set_viewport_size({"width": 1366, "height": 900})
        page.goto(f"{base}/broadcasts/{broadcast_id}")
        page.check("[data-testid=schedule-form] input[name=when][value=now]")
        page.click("[data-testid=schedule-go]")
        expect(page.get_by_test_id("confirm-count")).to_have_text(f"{n} contacts")
        go = page.get_by_test_id("confirm-go")
        expect(go).to_be_disabled()
        page.fill("#typed_count", str(n - 1))
        expect(go).to_be_disabled()
        page.press("#typed_count", "Enter")  # no way round the disabled button from the keyboard
        page.screenshot(path=str(SHOTS / "safety-confirm-typed-wrong-en.png"), full_page=True)
        assert _broadcasts(services) == [("Webinar invite", BroadcastStatus.DRAFT)]
        # The server checks too: a page whose script was bypassed is refused, nothing is scheduled.
        page.evaluate("document.querySelector('[data-testid=confirm-go]').disabled = false")
        go.click()
        expect(page.get_by_test_id("confirm-error")).to_contain_text(f"Type the number of contacts, {n}")
        scheduler.tick(services, now=now_utc(), lock=False)
        run_jobs(app)
        assert _broadcasts(services) == [("Webinar invite", BroadcastStatus.DRAFT)] and _sends(services) == 0
        assert smtp_server.messages == []
        page.fill("#typed_count", str(n))
        expect(go).to_be_enabled()
        go.click()
        expect(page.get_by_test_id("broadcast-status")).to_have_text("scheduled")
        assert _broadcasts(services) == [("Webinar invite", BroadcastStatus.SCHEDULED)]
        assert session.problems == []


def test_japanese_enrolment_and_cancel_confirmations_on_a_phone(app, services, user, chromium):
    expect = chromium
    with services.db.begin() as s:
        setup_account(s)
        version = make_version(s, name="ようこそ")
        sequence_id = make_sequence(s, [{"template_id": version.template_id, "delay_minutes": 0}],
                                    name="新規リード育成").id
        for i, (last, first, company) in enumerate([("山田", "太郎", "株式会社サンプル"), ("佐藤", "花子", "合同会社テスト"),
                                                     ("鈴木", "一郎", "エクスアンプル商事株式会社")]):
            make_contact(s, f"jp{i}@example.jp", last_name=last, first_name=first, company=company)
        segment = Segment(name="全員", rules={})
        s.add(segment)
        s.flush()
        segment_id = segment.id
        broadcast = create_broadcast(s, "12月のお知らせ", version.template_id)
        broadcast_id = broadcast.id
    with logged_in_page(app, USER_EMAIL, USER_PASSWORD) as session:
        page, base = session.page, session.server.url
        page.click("[data-testid=lang-switch]")
        for width in (1366, 390):
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(f"{base}/sequences/{sequence_id}")  # an active sequence: its journey's canvas answers
            page.select_option("[data-testid=journey-enrol-segment]", value=str(segment_id))
            page.click("[data-testid=journey-enrol]")
            expect(page.get_by_test_id("confirm-title")).to_contain_text("「新規リード育成」")
            expect(page.get_by_test_id("confirm-count")).to_have_text(re.compile(r"^3\s?件$"))
            expect(page.get_by_test_id("confirm-sample")).to_contain_text("山田 太郎")
            expect(page.get_by_test_id("confirm-sample")).to_contain_text("エクスアンプル商事株式会社")
            expect(page.get_by_test_id("confirm-go")).to_have_text(re.compile(r"^3\s?件.*登録"))
            assert sideways(page) == 0, width
            page.screenshot(path=str(SHOTS / f"safety-confirm-enrol-ja-{width}.png"), full_page=True)
            with services.db.begin() as s:
                assert s.scalar(select(func.count()).select_from(JourneyEnrolment)) == 0
        page.click("[data-testid=confirm-go]")
        expect(page.locator(".flash-success")).to_contain_text("3")
        with services.db.begin() as s:
            assert s.scalar(select(func.count()).select_from(JourneyEnrolment)) == 3

        # Cancel asks first, in Japanese, and fits the phone.
        page.goto(f"{base}/broadcasts/{broadcast_id}")
        assert sideways(page) == 0
        page.screenshot(path=str(SHOTS / "safety-broadcast-show-ja-390.png"), full_page=True)
        page.click("[data-testid=cancel-form] button")
        expect(page.get_by_test_id("confirm-title")).to_have_text("「12月のお知らせ」の配信をキャンセルしますか？")
        assert sideways(page) == 0
        page.screenshot(path=str(SHOTS / "safety-confirm-cancel-ja-390.png"), full_page=True)
        assert _broadcasts(services) == [("12月のお知らせ", BroadcastStatus.DRAFT)]
        page.click("[data-testid=confirm-back]")
        expect(page.get_by_test_id("broadcast-status")).to_have_text("下書き")
        assert _broadcasts(services) == [("12月のお知らせ", BroadcastStatus.DRAFT)]
        assert session.problems == []
