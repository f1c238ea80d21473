"""The demo after its first start, in headless Chromium: the pages a newcomer opens first (dashboard, contacts and
a contact's page, segments, the journeys list and the running journey's canvas, sequences, broadcasts, A/B tests
and their results, scoring, reports, the website report and recent visitors, KPIs) all show data, in English and
Japanese, at 1366 and 390 px."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from campaigns.demo import DEMO_EMAIL, DEMO_PASSWORD, seed_demo
from campaigns.models import ABTest, Broadcast, BroadcastStatus, Journey, JourneyEnrolment
from tests.browser_helpers import logged_in_page

pytestmark = pytest.mark.browser
SHOTS = Path(os.environ.get("BROWSER_SHOTS", "/tmp/nurture-browser")) / "demo"

# Nothing on these pages may say "no data": the empty states' test ids, and tables without rows.
# The reports page's sequence section is left: the demo runs a journey, and sequences are being converted to
# journeys (its report is the journey page's, opened below).
EMPTY_STATES = ("[data-testid=kpi-empty], [data-testid=trends-empty], [data-testid=running-empty], "
                ".empty:not([data-testid=empty-sequence-reports])")


def _no_empty_tables(page: Any, url: str) -> None:
    for table in page.locator("main table").all():
        if not table.is_visible() and not table.locator("xpath=ancestor::details").count():
            continue
        rows = table.locator("tbody tr").count()
        assert rows > 0, f"{url}: an empty table"
        text = table.inner_text()
        assert "No data" not in text and "データがありません" not in text, url
    assert page.locator(EMPTY_STATES).count() == 0, f"{url}: an empty state"
    for canvas in page.locator("main canvas").all():
        if canvas.is_visible():
            assert canvas.get_attribute("data-rendered") not in (None, "0"), f"{url}: a chart without data"


def _figure(element: Any) -> int:
    """The first number an element shows ("1,234 9.2%" -> 1234)."""
    return int(element.inner_text().split()[0].replace(",", ""))


def _no_sideways_scroll(page: Any, url: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"] + 1, f"{url}: {width} px wide"


def test_the_demos_first_pages_all_show_data(app: Any, services: Any) -> None:
    with services.db.begin() as s:
        s.execute(sa.delete(sa.table("account")))  # seed_demo fills the account itself
    seed_demo(services)
    with services.db.begin() as s:
        broadcast = s.scalar(select(Broadcast.id).where(Broadcast.status == BroadcastStatus.SENT).order_by(Broadcast.id))
        test = s.scalar(select(ABTest.id))
        journey = s.scalar(select(Journey.id))
        contact = s.scalar(select(JourneyEnrolment.contact_id).where(JourneyEnrolment.status == "completed")
                           .order_by(JourneyEnrolment.id))
    pages = ["/", "/contacts/", f"/contacts/{contact}", "/contacts/segments", "/journeys/", f"/journeys/{journey}",
             "/sequences/", "/broadcasts/", "/ab/", f"/ab/{test}", "/scoring", "/reports/",
             f"/reports/broadcasts/{broadcast}", "/visitors/report", "/visitors", "/kpi/"]
    SHOTS.mkdir(parents=True, exist_ok=True)
    with logged_in_page(app, DEMO_EMAIL, DEMO_PASSWORD) as b:
        page, base = b.page, b.server.url
        for lang in ("en", "ja"):
            page.set_extra_http_headers({"Accept-Language": lang})
            for width in (1366, 390):
                page.set_viewport_size({"width": width, "height": 900})
                for url in pages:
                    page.goto(base + url)
                    page.wait_for_load_state("networkidle")
                    if url == "/":
                        page.wait_for_selector("#mail-trend[data-rendered]")
                        page.click("[data-testid=trend-table] >> xpath=ancestor::details/summary")
                        assert page.locator("[data-testid=check-import][data-done=yes]").count() == 1
                        assert page.locator("[data-testid=check-snippet][data-done=yes]").count() == 1
                        assert page.locator("[data-testid=check-dkim][data-done=no]").count() == 1
                        assert page.locator("[data-testid=running-journey]").count() == 1
                        assert page.locator("[data-testid=running-broadcast]").count() == 1
                        text = page.inner_text("main")
                        assert ("Trends by week" if lang == "en" else "週ごとの推移") in text
                        assert "UTC" not in text
                    if url == "/contacts/segments":  # counted at seed time, not "not counted yet"
                        assert page.locator("main table tbody tr").count() >= 3
                        assert "Not counted yet" not in page.inner_text("main") and "未集計" not in page.inner_text("main")
                    if url == f"/journeys/{journey}":  # the canvas's live counts: walks at several nodes
                        for node in ("whitepaper", "three-days", "weekday"):
                            now = page.locator(f"[data-testid=node-stats-{node}] [data-stat=now] strong").inner_text()
                            assert int(now) > 0, (node, now)
                        passed = page.locator("[data-testid=node-stats-case-study] [data-stat=passed] strong")
                        assert int(passed.inner_text().replace(",", "")) > 50
                        # the journey's goal (a consultation request) was reached by some of its walks
                        totals = page.locator("[data-testid=journey-totals]").inner_text()
                        assert ("Reached the goal" if lang == "en" else "ゴール達成") in totals
                        assert _figure(page.locator("[data-testid=journey-totals] span").nth(1).locator("strong")) > 0, totals
                        # ... at the three-day wait, where the node says so (no line is drawn for the goal)
                        assert _figure(page.locator("[data-testid=node-stats-three-days] [data-stat=goal] strong")) > 0
                    if url == "/reports/":  # the journey section's goal column
                        converted = page.locator("[data-testid=converted]")
                        assert converted.count() >= 1 and _figure(converted.first) > 0, converted.first.inner_text()
                    _no_empty_tables(page, url)
                    _no_sideways_scroll(page, f"{url} {lang} {width}")
                    name = url.strip("/").replace("/", "-").split("?")[0] or "dashboard"
                    page.screenshot(path=str(SHOTS / f"{name}-{lang}-{width}.png"), full_page=True)
                    if url == f"/journeys/{journey}":  # its settings name the goal: a consultation request
                        page.click("[data-testid=open-settings]")
                        assert page.locator("[data-field=goal-kind]").input_value() == "event"
                        assert "consultation_requested" in [i.input_value() for i in page.locator(
                            "[data-field=goal-kind] >> xpath=ancestor::*[contains(concat(' ', @class, ' '), ' field ')][1]/following-sibling::div[1]//input").all()]
                        page.screenshot(path=str(SHOTS / f"journey-settings-{lang}-{width}.png"), full_page=True)
        assert b.problems == []
