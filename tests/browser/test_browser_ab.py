"""The A/B pages in real headless Chromium: the setup form's live sample-size advice, the results page
(rates, interval bars, charts drawn by Chart.js, the decision in words) and the "pick winner" action."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from campaigns import scheduler
from campaigns.db import now_utc
from campaigns.engagement.hit_buffer import record_hit
from campaigns.experiments import setup
from campaigns.journeys.broadcasts import create_broadcast, schedule_broadcast
from campaigns.models import ABStatus, ABTest, Broadcast, Send
from campaigns.models.tracking import HitKind
from tests.browser_helpers import logged_in_page
from tests.conftest import USER_EMAIL, USER_PASSWORD, run_jobs
from tests.factories import make_contacts
from tests.sending_helpers import make_version, setup_account
from tests.tracking_helpers import IP_APPLE, IP_HOME_JP, UA_APPLE_MAIL, UA_CHROME, drain

pytestmark = pytest.mark.browser
SHOTS = Path(os.environ.get("BROWSER_SHOTS", "/tmp/nurture-browser"))


def test_results_page_and_pick_winner_in_chromium(app, services, user, smtp_server):
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian chromium is not installed")
    expect = pytest.importorskip("playwright.sync_api").expect
    with services.db.begin() as s:
        setup_account(s)
        version = make_version(s, subject="Autumn webinar", name="Webinar")
        make_contacts(s, 30)
        broadcast = create_broadcast(s, "Webinar invite", version.template_id)
        broadcast_id = broadcast.id
        test = setup.create_test(s, broadcast_id=broadcast_id, kind="subject", test_portion=0.6, mode="manual",
                                   variants=[{"subject": "Autumn webinar"}, {"subject": "Join us live on Thursday"},
                                             {"subject": "Seats are limited"}])
        test_id = test.id
        schedule_broadcast(s, s.get(Broadcast, broadcast_id))
    scheduler.tick(services, now=now_utc(), lock=False)
    run_jobs(app)
    assert len(smtp_server.wait_for(18)) == 18
    with services.db.begin() as s:
        sends = list(s.scalars(select(Send).where(Send.broadcast_id == broadcast_id)))
        for send in sends:
            send.sent_at = send.sent_at - timedelta(hours=3)
        by_key: dict[str, list[int]] = {}
        for send in sends:
            by_key.setdefault(send.variant, []).append(send.id)
    for key, humans in (("A", 1), ("B", 5), ("C", 2)):
        for send_id in by_key[key][:humans]:
            record_hit(services, HitKind.OPEN, send_id, 0, UA_CHROME, IP_HOME_JP)
        for send_id in by_key[key]:
            record_hit(services, HitKind.OPEN, send_id, 0, UA_APPLE_MAIL, IP_APPLE)  # proxies: never counted
    drain(app)
    scheduler.tick(services, now=now_utc() + timedelta(hours=25), lock=False)
    SHOTS.mkdir(parents=True, exist_ok=True)

    with logged_in_page(app, USER_EMAIL, USER_PASSWORD) as b:
        page = b.page
        page.goto(f"{b.server.url}/broadcasts/{broadcast_id}")
        page.get_by_test_id("ab-link").click()
        page.wait_for_url(f"{b.server.url}/ab/{test_id}")
        expect(page.get_by_test_id("ab-status")).to_have_text("Waiting for your decision")
        expect(page.get_by_test_id("ab-conv-A")).to_have_text("1")
        expect(page.get_by_test_id("ab-conv-B")).to_have_text("5")
        expect(page.get_by_test_id("ab-rate-B")).to_have_text("83.33%")
        expect(page.get_by_test_id("ab-plain")).to_contain_text("Recommendation: B won")
        # Charts drawn by Chart.js from the page's data (a canvas is marked once drawn).
        expect(page.locator("#ab-interval-chart")).to_have_attribute("data-rendered", "3")
        expect(page.locator("#ab-aligned-chart")).to_have_attribute("data-rendered", "25")
        expect(page.locator("#ab-timeline-chart")).to_have_attribute("data-rendered", "1")
        p_best = [float(page.get_by_test_id(f"ab-pbest-{k}").inner_text().rstrip("%")) for k in "ABC"]
        assert max(p_best) == p_best[1] and abs(sum(p_best) - 100) < 0.5
        page.screenshot(path=str(SHOTS / "ab-results.png"), full_page=True)

        page.select_option("#ab-variant", "1")
        page.get_by_test_id("ab-pick").click()
        expect(page.get_by_test_id("ab-status")).to_have_text("Decided")
        expect(page.get_by_test_id("ab-chosen")).to_contain_text("B")

        # The setup form's advice follows the inputs (fetched as the marketer types).
        page.goto(f"{b.server.url}/sequences")
        page.goto(f"{b.server.url}/broadcasts")
        with services.db.begin() as s:
            setup_account(s)
            other = create_broadcast(s, "Another", version.template_id).id
        page.goto(f"{b.server.url}/broadcasts/{other}")
        page.get_by_test_id("ab-new").click()
        advice = page.get_by_test_id("ab-advice")
        expect(advice).to_contain_text("Audience too small")
        page.fill("#baseline", "10")
        expect(advice).to_have_attribute("data-per-variant", "3841")
        page.select_option("#kind", "send_time")
        expect(page.locator("input[name=v1_send_local]")).to_be_visible()
        expect(page.locator("input[name=v1_subject]")).to_be_hidden()
        page.screenshot(path=str(SHOTS / "ab-setup.png"), full_page=True)
        assert b.problems == []
    with services.db.begin() as s:
        test = s.get(ABTest, test_id)
        assert test.status is ABStatus.DECIDED and test.winner_index == 1 and test.rest_planned == 12
