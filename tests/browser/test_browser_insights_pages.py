"""The segments list (counts made ahead, "counted at" in the account's zone, Recount), the dashboard's weekly trends
(counted at) and the reports index's journey section in headless Chromium, English and Japanese at 1366 and 390
px: the words are there, no English on the Japanese pages, no UTC time, nothing scrolls sideways."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from campaigns.db import now_utc
from campaigns.models import Account, Contact, JourneyEnrolment, Segment
from campaigns.scheduler import refresh_segment_counts
from tests.browser_helpers import sideways
from tests.factories import make_journey, make_visit, make_visitor

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("BROWSER_SHOTS", "/tmp/nurture-browser")) / "insights"
PAGES = {  # path, words in English, the same in Japanese, English that must not stay on the Japanese page
    "segments": ("/contacts/segments", ("counted at", "Recount all", "Recount"), ("集計", "すべて再集計", "再集計"),
                 ("counted at", "Recount", "Not counted yet")),
    "dashboard": ("/", ("Counted at", "Trends by week"), ("時点の集計", "週ごとの推移"), ("Counted at",)),
    "reports": ("/reports/", ("In it now", "Reached the goal", "Left early"), ("参加中", "ゴール達成", "途中で離脱"),
                ("In it now", "Reached the goal", "Walked to the end", "Left early", "Entered")),
}


@pytest.fixture
def data(services: Any) -> None:
    now = now_utc()
    with services.db.begin() as s:
        s.get(Account, 1).timezone = "Asia/Tokyo"
        contacts = [Contact(email=f"lead{i}@example.jp", last_name="佐藤", first_name=f"花子{i}", company="株式会社サンプル",
                            created_at=now - timedelta(days=i * 5)) for i in range(12)]
        s.add_all(contacts)
        s.flush()
        for i, contact in enumerate(contacts[:8]):
            visitor = make_visitor(s, contact.id)
            for n in range(i % 4 + 1):
                make_visit(s, visitor, "/pricing" if n % 2 else "/blog/ai", at=now - timedelta(days=n * 3, hours=i))
        s.add(Segment(name="料金ページを2回以上見た人", rules={"all": [{"visited": "/pricing*", "at_least": 2,
                                                                      "within_days": 30}]}))
        s.add(Segment(name="Website: 3+ visits in 30 days", rules={"all": [{"visited": "*", "at_least": 3,
                                                                            "within_days": 30}]}))
        journey = make_journey(s, name="ウェルカム シナリオ")
        for contact, status in zip(contacts, ["active"] * 5 + ["converted"] * 3 + ["completed", "exited"],
                                   strict=False):
            s.add(JourneyEnrolment(journey_id=journey.id, contact_id=contact.id, version_id=journey.live_version_id,
                                   status=status, node_key=str(journey.draft_graph.get("start") or "start")))
    refresh_segment_counts(services, now)


def test_segments_dashboard_and_reports_pages(app: Any, user: Any, services: Any, data: None) -> None:
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian chromium is not installed")
    from tests.browser_helpers import logged_in_page
    from tests.conftest import USER_EMAIL, USER_PASSWORD

    SHOTS.mkdir(parents=True, exist_ok=True)
    with logged_in_page(app, USER_EMAIL, USER_PASSWORD) as b:
        page = b.page
        for lang in ("en", "ja"):
            page.set_extra_http_headers({"Accept-Language": lang})
            for width in (1366, 390):
                page.set_viewport_size({"width": width, "height": 900})
                for name, (path, english, japanese, leftover) in PAGES.items():
                    page.goto(b.server.url + path)
                    text = page.locator("main").inner_text()
                    for word in (english if lang == "en" else japanese):
                        assert word.lower() in text.lower(), (name, lang, width, word)  # headers are upper-cased
                    if lang == "ja":
                        for word in leftover:
                            assert word.lower() not in text.lower(), (name, width, word)
                    assert "UTC" not in text, (name, lang, width)
                    assert sideways(page) <= 0, (name, lang, width)
                    page.screenshot(path=str(SHOTS / f"{name}-{lang}-{width}.png"), full_page=True)
    assert b.problems == []
