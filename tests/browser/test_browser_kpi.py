"""The KPI dashboard in headless Chromium: charts render under the CSP, and the date filter changes the numbers."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from campaigns.models import Contact, Segment, Sequence, StageChange
from tests.browser_helpers import logged_in_page
from tests.conftest import USER_EMAIL, USER_PASSWORD

pytestmark = pytest.mark.browser
SHOTS = Path(os.environ.get("BROWSER_SHOTS", "/tmp/nurture-browser"))


def test_dashboard_draws_its_charts_and_the_range_changes_the_numbers(app, services, user):
    now = datetime.now(UTC)
    with services.db.begin() as s:
        # 3 leads in the last 30 days (2 of them MQL), 5 more about 200 days ago (1 MQL)
        for i, (age, source, mql) in enumerate([(3, "web", True), (10, "web", True), (20, "seminar", False),
                                                 *[(200 + k, "展示会", k == 0) for k in range(5)]]):
            created = now - timedelta(days=age)
            c = Contact(email=f"k{i}@example.jp", source=source, created_at=created, stage="mql" if mql else "warm")
            s.add(c)
            s.flush()
            if mql:
                s.add(StageChange(contact_id=c.id, from_stage="hot", to_stage="mql", cause="score_threshold",
                                  changed_at=created + timedelta(days=1)))
        s.add(Segment(name="Web", rules={"all": [{"field": "source", "op": "eq", "value": "web"}]}))
        s.add(Sequence(name="Nurture", goal_event="demo_booked"))
    SHOTS.mkdir(parents=True, exist_ok=True)
    with logged_in_page(app, USER_EMAIL, USER_PASSWORD) as b:
        page = b.page
        page.set_viewport_size({"width": 1360, "height": 900})
        page.click("[data-testid=nav-insights]")
        page.click("#nav-insights >> text=KPIs")
        page.click("[data-testid=preset-30]")
        page.wait_for_selector("#funnel-chart[data-rendered]")
        assert page.inner_text("[data-testid=total-contacts]") == "3"
        assert page.inner_text("[data-testid=total-mqls]") == "2"
        # days of the account's zone (the test account's Asia/Tokyo), named on the page
        assert "Whole days in Asia/Tokyo" in page.inner_text("[data-testid=kpi-filter]")
        assert page.input_value("#kpi-to") == datetime.now(ZoneInfo("Asia/Tokyo")).date().isoformat()
        for chart in ["funnel-chart", "mql-chart", "source-chart", "stage-chart", "ttm-chart"]:
            assert page.get_attribute(f"#{chart}", "data-rendered") is not None, chart
            box = page.locator(f"#{chart}").bounding_box()
            assert box and box["width"] > 100 and box["height"] > 50, chart
        page.screenshot(path=str(SHOTS / "kpi-30-days.png"), full_page=True)

        page.click("[data-testid=preset-365]")
        page.wait_for_selector("#funnel-chart[data-rendered]")
        assert page.inner_text("[data-testid=total-contacts]") == "8"
        assert page.inner_text("[data-testid=total-mqls]") == "3"
        assert page.inner_text("[data-testid=funnel-mql]") == "3"

        # the from/to inputs: a range with nobody in it shows the empty state
        page.fill("#kpi-from", (now - timedelta(days=150)).date().isoformat())
        page.fill("#kpi-to", (now - timedelta(days=100)).date().isoformat())
        page.click("[data-testid=kpi-apply]")
        page.wait_for_selector("[data-testid=kpi-empty]")
        assert b.problems == []
