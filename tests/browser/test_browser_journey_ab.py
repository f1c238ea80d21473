"""A/B test of a journey's mail in headless Chromium: the send node's side panel sets it up in words (a second
template, shares, the metric, the horizon, what happens after), the draft holds the graph's `ab`, publishing
starts the test; after the real engine, the real sender and a real open, the live node shows each variant's
mails, rate and chance to be best, with a link to the A/B results page. English and Japanese, 1366 and 390 px
(no sideways scroll)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from campaigns.models import ABTest, Journey
from tests.automation.engine_helpers import deliver, enrol, open_mail, tick
from tests.automation.engine_helpers import template as make_mail
from tests.factories import make_contact
from tests.tracking_helpers import IP_HOME_JP, UA_CHROME

pytestmark = pytest.mark.browser
SHOTS = Path(os.environ.get("BROWSER_SHOTS", "/tmp/nurture-browser")) / "journey-ab"


def _no_sideways_scroll(page: Any) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways"


def test_set_up_an_ab_mail_on_the_canvas_and_see_its_variants_live(app: Any, services: Any, user: Any, client: Any,
                                                                   smtp_server: Any) -> None:
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian chromium is not installed")
    from playwright.sync_api import expect

    from tests.browser_helpers import logged_in_page
    from tests.conftest import USER_EMAIL, USER_PASSWORD

    with services.db.begin() as s:
        control, challenger = make_mail(s, "事例紹介"), make_mail(s, "事例紹介（短い版）")
        contacts = [make_contact(s, f"buyer{i}@example.jp", first_name=f"太郎{i}").id for i in range(8)]
    SHOTS.mkdir(parents=True, exist_ok=True)
    with logged_in_page(app, USER_EMAIL, USER_PASSWORD) as bs:
        server, page, problems = bs.server, bs.page, bs.problems
        page.set_viewport_size({"width": 1366, "height": 900})
        page.goto(server.url + "/journeys/")
        page.click("[data-testid=journey-new]")
        page.fill("#name", "事例紹介のA/Bテスト")
        page.click("[data-testid=journey-create]")
        canvas, panel = page.locator("#journey-canvas"), page.locator("#journey-panel")
        page.click("[data-testid=add-start]")
        page.click("[data-testid=type-menu] [data-type=send]")
        panel.locator("[data-field=template]").select_option(label="事例紹介")
        expect(panel.locator("[data-testid=ab-panel]")).to_contain_text("Send different versions")
        panel.locator("[data-field=ab-on]").check()
        expect(panel.locator("[data-testid=ab-row-0]")).to_contain_text("事例紹介")
        panel.locator("[data-field=ab-template-1]").select_option(label="事例紹介（短い版）")
        panel.locator("[data-field=ab-percent-0]").fill("70")
        expect(canvas.locator("[data-testid=problem-n1]")).to_contain_text("add up to 120, not 100")
        panel.locator("[data-field=ab-percent-1]").fill("30")
        expect(canvas.locator("[data-testid=problem-n1]")).to_have_count(0)
        panel.locator("[data-field=ab-metric]").select_option("click")
        panel.locator("[data-field=ab-per-variant]").fill("4")
        expect(canvas.locator("[data-testid=node-n1]")).to_contain_text("A 70% / B 30%")
        page.screenshot(path=str(SHOTS / "panel-en-1366.png"), full_page=True)
        page.click("[data-testid=save-draft]")
        expect(page.locator("[data-testid=save-state]")).to_contain_text("Draft saved.")
        with services.db.factory() as s:
            journey = s.scalars(select(Journey)).one()
            assert journey.draft_graph["nodes"][0]["ab"] == {
                "variants": [{"template_id": control, "percent": 70}, {"template_id": challenger, "percent": 30}],
                "metric": "click", "days": 14, "per_variant": 4, "window_hours": 24, "winner": "auto"}
            journey_id = journey.id
        page.click("[data-testid=publish]")
        page.click("[data-testid=publish-confirm]")
        expect(page.locator("[data-testid=journey-status]")).to_have_text("Live")
        with services.db.factory() as s:
            test = s.scalars(select(ABTest).where(ABTest.journey_id == journey_id)).one()
            test_id = test.id

        # the engine walks eight contacts: one mail each through the real sender; a person opens one
        enrol(services, journey_id, contacts)
        tick(services)
        deliver(app)
        mails = smtp_server.wait_for(8)
        assert len(mails) == 8
        open_mail(client, app, mails[0].message.get_body(("html",)).get_content(), UA_CHROME, IP_HOME_JP)
        page.reload()
        live = canvas.locator("[data-testid=ab-live]")
        expect(live).to_contain_text("A/B test")
        expect(live.locator("[data-testid=ab-variant-A]")).to_contain_text("70%")
        expect(live.locator("[data-testid=ab-result-link]")).to_have_attribute("href", f"/ab/{test_id}")
        page.screenshot(path=str(SHOTS / "live-en-1366.png"), full_page=True)
        canvas.locator("[data-testid=node-n1]").click()
        page.set_viewport_size({"width": 390, "height": 844})
        _no_sideways_scroll(page)
        page.screenshot(path=str(SHOTS / "panel-en-390.png"), full_page=True)
        page.reload()
        _no_sideways_scroll(page)
        page.screenshot(path=str(SHOTS / "live-en-390.png"), full_page=True)

        page.click("[data-testid=lang-switch]")
        expect(canvas.locator("[data-testid=ab-live]")).to_contain_text("A/Bテスト")
        _no_sideways_scroll(page)
        page.screenshot(path=str(SHOTS / "live-ja-390.png"), full_page=True)
        canvas.locator("[data-testid=node-n1]").click()
        expect(panel.locator("[data-testid=ab-panel]")).to_contain_text("パターンB")
        _no_sideways_scroll(page)
        page.screenshot(path=str(SHOTS / "panel-ja-390.png"), full_page=True)
        page.set_viewport_size({"width": 1366, "height": 900})
        page.reload()
        page.screenshot(path=str(SHOTS / "live-ja-1366.png"), full_page=True)
        canvas.locator("[data-testid=node-n1]").click()
        page.screenshot(path=str(SHOTS / "panel-ja-1366.png"), full_page=True)
        page.goto(server.url + f"/ab/{test_id}")
        expect(page.locator("main")).to_contain_text("事例紹介のA/Bテスト")
        page.screenshot(path=str(SHOTS / "results-ja-1366.png"), full_page=True)
        assert problems == [], problems
