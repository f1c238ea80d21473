"""The event browser and the CSV event import in headless Chromium, English and Japanese at 1366 and 390 px:
the names with counts and last seen in the account's zone, the test event's contact picker and event name
picker (the <datalist> static/event_names.js and events.js fill), a Shift_JIS attendee list imported with its
bad rows listed by line, no English on the Japanese pages, nothing scrolling sideways."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from campaigns.db import now_utc
from campaigns.models import Account, Event
from tests.browser_helpers import sideways
from tests.factories import make_contact

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("BROWSER_SHOTS", "/tmp/nurture-browser")) / "events"
WORDS = {
    "en": ("Events", "Send a test event", "times in Asia/Tokyo", "Logged by hand"),
    "ja": ("イベント", "テストイベントを送信", "時刻は Asia/Tokyo", "手動記録"),
}
IMPORT_WORDS = {"en": ("events recorded", "Rows with errors"), "ja": ("記録したイベント", "エラーのある行")}
ENGLISH_ON_JA = ("Send a test event", "Event name", "Last seen", "Recent sources", "Example properties",
                 "events recorded", "Rows with errors", "Problem", "Email column", "When it happened")
SJIS = ("メールアドレス,氏名,会社名\n"
        "lead0@example.jp,佐藤 花子,株式会社サンプル工業\n"
        "壊れたアドレス,山田 太郎,\n"
        "new@example.jp,新規 一郎,株式会社ニュー\n").encode("cp932")


@pytest.fixture
def events(services: Any) -> None:
    now = now_utc()
    with services.db.begin() as s:
        s.get(Account, 1).timezone = "Asia/Tokyo"
        for i in range(3):
            c = make_contact(s, f"lead{i}@example.jp", last_name="佐藤", first_name=f"花子{i}", company="株式会社サンプル工業")
            s.add(Event(contact_id=c.id, name="webinar_attended", source="api",
                        properties={"webinar": "2024年 製造業DXセミナー", "seat": i}, occurred_at=now - timedelta(hours=i)))
            s.add(Event(contact_id=c.id, name="seminar_attended", source="manual",
                        properties={"activity": "seminar", "note": "東京会場"}, occurred_at=now - timedelta(days=1, hours=i)))
        s.add(Event(contact_id=c.id, name="a_very_long_event_name_from_a_crm_integration_that_goes_on", source="crm",
                    properties={"deal": "x" * 120}, occurred_at=now - timedelta(days=3)))


def test_event_browser_and_csv_import(app: Any, user: Any, services: Any, events: None, tmp_path: Path) -> None:
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian chromium is not installed")
    from playwright.sync_api import expect

    from tests.browser_helpers import logged_in_page
    from tests.conftest import USER_EMAIL, USER_PASSWORD, run_jobs

    SHOTS.mkdir(parents=True, exist_ok=True)
    csv_path = tmp_path / "来場者リスト.csv"
    csv_path.write_bytes(SJIS)
    with logged_in_page(app, USER_EMAIL, USER_PASSWORD) as b:
        page = b.page
        for lang, words in WORDS.items():
            page.set_extra_http_headers({"Accept-Language": lang})
            for width in (1366, 390):
                page.set_viewport_size({"width": width, "height": 900})
                page.goto(b.server.url + "/events/")
                rows = page.locator('[data-testid="event-row"]')
                expect(rows).to_have_count(3)
                assert rows.first.get_attribute("data-name") == "webinar_attended"
                assert rows.first.locator('[data-testid="event-count"]').inner_text() == "3"
                text = page.locator("main").inner_text()
                for word in words:
                    assert word.lower() in text.lower(), (lang, width, word)  # table headers are upper case
                # the column labels: table headers at 1366 px, each card's labels at 390 px
                labels = page.locator('[data-testid="event-names"]').evaluate(
                    "t => [...t.querySelectorAll('th, td[data-label]')].map(e => e.dataset.label || e.textContent).join(' ')")
                assert ("最近の発生元" if lang == "ja" else "Recent sources") in labels
                if lang == "ja":
                    for english in ENGLISH_ON_JA[:5]:
                        assert english.lower() not in text.lower(), (width, english)
                assert "UTC" not in text
                assert sideways(page) <= 0, (lang, width)
                page.screenshot(path=str(SHOTS / f"events-{lang}-{width}.png"), full_page=True)

                # the pickers: contacts by name, event names from the list
                page.fill('[data-testid="test-email"]', "花子1")
                expect(page.locator("#test-contacts option")).to_have_count(1)
                assert page.locator("#test-contacts option").first.get_attribute("value") == "lead1@example.jp"
                page.click('[data-testid="test-name"]')
                expect(page.locator("#nurture-event-names option")).to_have_count(3)

                # the CSV event import, Shift_JIS, with one bad row
                page.goto(b.server.url + "/events/import")
                page.set_input_files('[data-testid="event-file"]', str(csv_path))
                page.click('[data-testid="event-upload"]')
                expect(page.locator('[data-testid="event-map"]')).to_be_visible()
                assert "Shift_JIS" in page.locator('[data-testid="encoding"]').inner_text() or "CP932" in page.locator('[data-testid="encoding"]').inner_text()
                assert sideways(page) <= 0, ("map", lang, width)
                page.screenshot(path=str(SHOTS / f"import-map-{lang}-{width}.png"), full_page=True)
                map_text = page.locator("main").inner_text()
                if lang == "ja":
                    for english in ENGLISH_ON_JA[-2:]:
                        assert english not in map_text, (width, english)
                page.fill('[data-testid="event-name"]', f"expo_visit_{lang}_{width}")
                page.click('[data-testid="event-start"]')
                expect(page.locator("#event-import-progress")).to_be_visible()
                assert run_jobs(app) == 1
                page.reload()
                expect(page.locator('[data-testid="recorded"]')).to_have_text("2")
                expect(page.locator('[data-testid="failed-rows"]')).to_have_text("1")
                errors = page.locator('[data-testid="event-import-errors"] tbody tr')
                expect(errors).to_have_count(1)
                assert errors.first.locator("td").first.inner_text() == "3"
                text = page.locator("main").inner_text()
                for word in IMPORT_WORDS[lang]:
                    assert word.lower() in text.lower(), (lang, width, word)
                if lang == "ja":
                    for english in ENGLISH_ON_JA[5:8]:
                        assert english.lower() not in text.lower(), (width, english)
                assert sideways(page) <= 0, ("progress", lang, width)
                page.screenshot(path=str(SHOTS / f"import-done-{lang}-{width}.png"), full_page=True)
        assert not b.problems, b.problems
