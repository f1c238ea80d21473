"""The journey canvas in headless Chromium: build a journey by clicking (a mail, a wait, a branch on "clicked
the previous mail", a wait for an event with a timeout, a second mail), see a cheap check refuse an empty event
name beside its step, save, publish, enrol a segment through the confirmation, run the real engine (its tick
in-process), the real sender (aiosmtpd) and a real click through the click endpoint, and see the counts on the
canvas: who passed, who is where, the mail's human click rate, how many took each exit, and the contacts at
a step. Then the same canvas in Japanese, and at 390 px wide, where the canvas scrolls inside its own box and
the page never sideways."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from campaigns.models import Journey, Segment
from tests.automation.engine_helpers import click_mail, deliver, later, template, tick
from tests.factories import make_contact
from tests.tracking_helpers import IP_HOME_JP, UA_CHROME

pytestmark = pytest.mark.browser
SHOTS = Path(os.environ.get("BROWSER_SHOTS", "/tmp/nurture-browser")) / "journeys"


def _html_of(mail: Any) -> str:
    return mail.message.get_body(("html",)).get_content()


@pytest.fixture
def seeded(services: Any) -> dict[str, Any]:
    with services.db.begin() as s:
        first = template(s, "事例紹介")
        second = template(s, "ウェビナーのご案内")
        for i in range(3):
            make_contact(s, f"buyer{i}@example.jp", first_name=f"太郎{i}", company="買う会社")
        segment = Segment(name="買う会社の皆さん", rules={"all": [{"field": "company", "op": "eq", "value": "買う会社"}]})
        s.add(segment)
        s.flush()
        return {"first": first, "second": second, "segment": segment.id}


def _no_sideways_scroll(page: Any) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways"


def test_build_publish_enrol_and_see_the_counts(app: Any, services: Any, user: Any, client: Any, smtp_server: Any,
                                                seeded: dict[str, Any]) -> None:
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian chromium is not installed")
    from playwright.sync_api import expect

    from tests.browser_helpers import logged_in_page
    from tests.conftest import USER_EMAIL, USER_PASSWORD

    SHOTS.mkdir(parents=True, exist_ok=True)
    with logged_in_page(app, USER_EMAIL, USER_PASSWORD) as bs:
        server, page, problems = bs.server, bs.page, bs.problems
        page.set_viewport_size({"width": 1366, "height": 900})
        page.on("dialog", lambda d: d.accept())
        page.goto(server.url + "/journeys/")
        page.click("[data-testid=journey-new]")
        page.fill("#name", "ウェビナー誘導シナリオ")
        page.click("[data-testid=journey-create]")
        expect(page.locator("[data-testid=journey-status]")).to_have_text("Draft")
        canvas, panel = page.locator("#journey-canvas"), page.locator("#journey-panel")

        def add(where: str, node_type: str) -> None:
            page.click(f"[data-testid=add-{where}]")
            page.click(f"[data-testid=type-menu] [data-type={node_type}]")

        add("start", "send")  # n1: the first mail
        panel.locator("[data-field=template]").select_option(label="事例紹介")
        add("n1-next", "wait")  # n2: 30 minutes
        panel.locator("[data-field=wait-value]").fill("30")
        panel.locator("[data-field=wait-unit]").select_option("minutes")
        expect(canvas.locator("[data-testid=node-n2]")).to_contain_text("30 minutes")
        add("n2-next", "branch")  # n3: clicked the previous mail, else
        expect(canvas.locator("[data-testid=exit-n3-clicked]")).to_have_text("Clicked the previous mail")
        expect(canvas.locator("[data-testid=exit-n3-else]")).to_have_text("Everyone else")
        add("n3-clicked", "wait_for")  # n4: the webinar, at most 7 days
        # a cheap check as you edit: the event has no name yet, said beside the step
        expect(canvas.locator("[data-testid=problem-n4]")).to_have_text("Give the event name.")
        panel.locator("[data-field=event-name]").fill("webinar_attended")
        expect(canvas.locator("[data-testid=problem-n4]")).to_have_count(0)
        expect(canvas.locator("[data-testid=node-n4]")).to_contain_text("7 days")
        expect(canvas.locator("[data-testid=exit-n4-happened]")).to_have_text("It happened")
        expect(canvas.locator("[data-testid=exit-n4-timeout]")).to_have_text("Timed out")
        add("n4-happened", "send")  # n5: the second mail
        panel.locator("[data-field=template]").select_option(label="ウェビナーのご案内")
        page.screenshot(path=str(SHOTS / "canvas-built-en-1366.png"), full_page=True)
        page.click("[data-testid=save-draft]")
        expect(page.locator("[data-testid=save-state]")).to_contain_text("Draft saved.")
        with services.db.factory() as s:
            journey = s.scalars(select(Journey)).one()
            assert [n["type"] for n in journey.draft_graph["nodes"]] == ["send", "wait", "branch", "wait_for", "send"]
            journey_id = journey.id

        page.click("[data-testid=publish]")
        expect(page.locator("[data-testid=publish-dialog]")).to_contain_text("Every contact now in the journey stays")
        page.click("[data-testid=publish-confirm]")
        expect(page.locator("[data-testid=journey-status]")).to_have_text("Live")

        page.select_option("[data-testid=journey-enrol-segment]", str(seeded["segment"]))
        page.click("[data-testid=journey-enrol]")
        expect(page.locator("[data-testid=confirm-count]")).to_contain_text("3")
        page.click("[data-testid=confirm-go]")
        expect(page.locator(".flash-success")).to_contain_text("Enrolled 3 of 3 contacts.")
        expect(canvas.locator("[data-testid=node-stats-n1]")).to_contain_text("Now 3")

        # the engine walks: the first mail goes through the real sender, one reader clicks it for real
        tick(services)
        deliver(app)
        mails = {m.message["To"].split("<")[-1].rstrip(">"): m for m in smtp_server.wait_for(3)}
        click_mail(client, app, _html_of(mails["buyer0@example.jp"]), "case-study", UA_CHROME, IP_HOME_JP)
        tick(services, later(31))  # the wait is over: the branch sends the clicker to the webinar wait

        page.reload()
        n1 = canvas.locator("[data-testid=node-stats-n1]")
        expect(n1).to_contain_text("Passed 3")
        expect(n1).to_contain_text("Sent 3")
        expect(n1).to_contain_text("Clicked 33.3%")
        expect(canvas.locator("[data-testid=node-stats-n2]")).to_contain_text("Passed 3")
        expect(canvas.locator("[data-testid=exit-n3-clicked]")).to_contain_text("· 1")
        expect(canvas.locator("[data-testid=exit-n3-else]")).to_contain_text("· 2")
        expect(canvas.locator("[data-testid=node-stats-n4]")).to_contain_text("Now 1")
        expect(page.locator("[data-testid=journey-totals]")).to_contain_text("2")  # two walked to the end
        canvas.locator("[data-testid=node-n4]").click()
        contacts = panel.locator("[data-testid=node-contacts]")
        expect(contacts.locator("a")).to_have_text(["buyer0@example.jp"])
        assert re.fullmatch(r"/contacts/\d+", contacts.locator("a").get_attribute("href") or "")
        page.screenshot(path=str(SHOTS / "canvas-live-en-1366.png"), full_page=True)

        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()
        _no_sideways_scroll(page)
        page.screenshot(path=str(SHOTS / "canvas-live-en-390.png"), full_page=True)

        page.click("[data-testid=lang-switch]")
        expect(page.locator("[data-testid=journey-status]")).to_have_text("公開中")
        expect(canvas.locator("[data-testid=exit-n3-clicked]")).to_contain_text("直前のメールをクリックした")
        expect(canvas.locator("[data-testid=node-stats-n4]")).to_contain_text("現在 1")
        _no_sideways_scroll(page)
        page.screenshot(path=str(SHOTS / "canvas-live-ja-390.png"), full_page=True)
        page.set_viewport_size({"width": 1366, "height": 900})
        page.reload()
        canvas.locator("[data-testid=node-n4]").click()
        page.screenshot(path=str(SHOTS / "canvas-live-ja-1366.png"), full_page=True)
        page.goto(server.url + "/journeys/")
        expect(page.locator(f"[data-testid=journey-active-{journey_id}]")).to_have_text("1")
        page.screenshot(path=str(SHOTS / "list-ja-1366.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        _no_sideways_scroll(page)
        page.screenshot(path=str(SHOTS / "list-ja-390.png"), full_page=True)
        assert problems == [], problems
