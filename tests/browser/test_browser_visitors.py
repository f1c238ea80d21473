"""Website visits in headless Chromium, English and Japanese at 1366 and 390 px: the recent-visitors page
(known and anonymous visitors newest first, a page filter, times in the account's zone, no English on the
Japanese page, nothing scrolls sideways), the website report, and the segment editor's "visited a page"
condition whose live count matches the server's."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from campaigns.audience.segments import count_segment
from campaigns.db import now_utc
from campaigns.models import Account
from tests.browser_helpers import sideways
from tests.factories import make_contact, make_visit, make_visitor

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("BROWSER_SHOTS", "/tmp/nurture-browser")) / "visits"
WORDS = {
    "en": ("Recent visitors", "Anonymous visitor", "Network: Gamma Holdings", "Known lead", "times in Asia/Tokyo",
           "Website visit", "at least"),
    "ja": ("最近の訪問者", "匿名の訪問者", "ネットワーク: Gamma Holdings", "既知のリード", "時刻は Asia/Tokyo",
           "Webサイト訪問", "回以上"),
}
ENGLISH_ON_JA = ("Recent visitors", "Anonymous visitor", "Known lead", "last visit", "visits", "Period", "Show")


@pytest.fixture
def site(services: Any) -> None:
    now = now_utc()
    with services.db.begin() as s:
        s.get(Account, 1).timezone = "Asia/Tokyo"
        for i in range(6):
            contact = make_contact(s, f"lead{i}@example.jp", last_name="佐藤", first_name=f"花子{i}",
                                   company="株式会社サンプル工業")
            visitor = make_visitor(s, contact.id)
            for n in range(i % 3 + 1):
                make_visit(s, visitor, "/pricing" if n % 2 == 0 else "/case-studies/very-long-customer-story-name",
                           title="料金プラン｜サンプル" if n % 2 == 0 else "導入事例：株式会社サンプル様の長いタイトル",
                           at=now - timedelta(hours=i, minutes=n + 10))
        anon = make_visitor(s, None, organisation="Gamma Holdings")
        make_visit(s, anon, "/pricing/enterprise", title="Enterprise", at=now - timedelta(minutes=5))


def test_visitors_page_report_and_segment_condition(app: Any, user: Any, services: Any, site: None) -> None:
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian chromium is not installed")
    from playwright.sync_api import expect

    from tests.browser_helpers import logged_in_page
    from tests.conftest import USER_EMAIL, USER_PASSWORD

    SHOTS.mkdir(parents=True, exist_ok=True)
    with logged_in_page(app, USER_EMAIL, USER_PASSWORD) as b:
        page = b.page
        for lang, words in WORDS.items():
            page.set_extra_http_headers({"Accept-Language": lang})
            for width in (1366, 390):
                page.set_viewport_size({"width": width, "height": 900})
                page.goto(b.server.url + "/visitors")
                cards = page.locator('[data-testid="visitor"]')
                expect(cards).to_have_count(7)
                assert cards.first.get_attribute("data-known") == "no"  # the newest visit: the anonymous one
                text = page.locator("main").inner_text()
                for word in words[:5]:
                    assert word in text, (lang, width, word)
                if lang == "ja":
                    for english in ENGLISH_ON_JA:
                        assert english not in text, (width, english)
                assert "UTC" not in text
                assert sideways(page) <= 0, (lang, width)
                page.screenshot(path=str(SHOTS / f"visitors-{lang}-{width}.png"), full_page=True)

                page.fill("#visitor-page", "/case-studies/*")
                page.click('[data-testid="visitor-apply"]')
                expect(page.locator('[data-testid="visitor"]')).to_have_count(4)

                page.goto(b.server.url + "/visitors/report")
                expect(page.locator('[data-testid="top-pages"]')).to_be_visible()
                assert sideways(page) <= 0, (lang, width, "report")
                page.screenshot(path=str(SHOTS / f"visits-report-{lang}-{width}.png"), full_page=True)

                page.goto(b.server.url + "/contacts/segments/new")
                page.fill("#name", f"pricing {lang} {width}")
                builder = page.locator("#rule-builder")
                builder.locator('[data-role="add"]').first.click()
                row = builder.locator(".rule-row").nth(0)
                row.locator('[data-role="type"]').select_option("visit")
                row.locator('[data-role="visit-page"]').fill("/pricing*")
                row.locator('[data-role="visit-times"]').fill("2")
                rules = {"all": [{"visited": "/pricing*", "at_least": 2, "within_days": 30}]}
                with services.db.begin() as s:
                    expected = str(count_segment(s, rules))
                expect(page.locator("#segment-count")).to_have_text(expected)
                row_text = row.inner_text()
                assert words[5] in page.locator("#rule-builder").inner_html() and words[6] in row_text, (lang, row_text)
                assert sideways(page) <= 0, (lang, width, "builder")
                page.screenshot(path=str(SHOTS / f"segment-visit-{lang}-{width}.png"), full_page=True)
    assert b.problems == []
