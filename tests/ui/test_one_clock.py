"""One clock: with the account in Asia/Tokyo and every stored time at a known UTC instant, the UI's pages show
that instant in Tokyo time and never the UTC clock reading (the contact page, stage timeline and score ledger,
A/B deadlines and chart, imports, reports, the outbox, hand-over deliveries, broadcasts, segments ...).

2026-03-04 15:47 UTC is 2026-03-05 00:47 in Tokyo: a page that shows "15:47" is on the wrong clock."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from sqlalchemy import update

from campaigns.db import UTCDateTime
from campaigns.models import ABTest, Base, Broadcast, EngagementRollup, RollupScope, WebhookDelivery
from campaigns.users import get_account
from tests.platform.test_i18n_coverage import demo, ui_pages  # noqa: F401  (the fixture)

AT = datetime(2026, 3, 4, 15, 47, tzinfo=UTC)
LOCAL, UTC_READING = "00:47", "15:47"
# pages that show one of the seeded times; each must show it in Tokyo time
MAIN_PAGES = [
    "/contacts/suppressions", "/contacts/import", "/contacts/segments",
    "/scoring/deliveries", "/scoring/deliveries/{delivery_id}", "/ab/{test_id}", "/ab/",
    "/broadcasts/", "/broadcasts/{broadcast_id}", "/templates/{template_id}", "/sequences/",
    "/forms/{form_id}/submissions", "/outbox/", "/outbox/{message_id}", "/reports/contacts/{contact_id}",
    "/contacts/{contact_id}",
]


def _visible(html: str) -> str:
    """The page's text as a reader sees it: no scripts, no tags or attributes (a <time datetime> is machine text)."""
    html = re.sub(r"<script\b.*?</script>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def _everything_at(services: Any, ids: dict[str, Any]) -> None:
    """Every stored timestamp of every table set to AT; the delivery's attempt log and an A/B chart hour too."""
    with services.db.begin() as s:
        get_account(s).timezone = "Asia/Tokyo"
        for table in Base.metadata.sorted_tables:
            for column in table.columns:
                if isinstance(column.type, UTCDateTime) and not column.primary_key:
                    s.execute(update(table).where(column.is_not(None)).values({column.name: AT}))
        s.execute(update(ABTest).where(ABTest.id == ids["test_id"]).values(deadline_at=AT))
        s.execute(update(Broadcast).where(Broadcast.id == ids["broadcast_id"]).values(scheduled_at=AT))
        s.execute(update(WebhookDelivery).where(WebhookDelivery.id == ids["delivery_id"]).values(
            history=[{"attempt": 1, "at": AT.isoformat(), "status": 503, "ok": False, "excerpt": "down"}],
            state="retrying", next_retry_at=AT))
        s.add(EngagementRollup(scope=RollupScope.BROADCAST, scope_id=ids["broadcast_id"], variant="A", link_id=0,
                               bucket=AT.replace(minute=0), metric="unique_open", count=3))


def test_times_are_shown_in_the_accounts_zone(app: Flask, ui: Any, services: Any, demo: dict[str, Any]) -> None:  # noqa: F811
    _everything_at(services, demo)
    ids = {**demo, "message_id": demo.get("message_id", 1)}
    wrong: dict[str, list[str]] = {}
    for url in ui_pages(app, ids):
        resp = ui.get(url)
        if resp.mimetype != "text/html" or resp.status_code != 200:
            continue
        text = _visible(resp.get_data(as_text=True))
        if UTC_READING in text:
            wrong[url] = [text[max(0, m.start() - 60):m.end() + 20].strip() for m in re.finditer(UTC_READING, text)][:3]
    assert not wrong, f"pages on the UTC clock: {wrong}"

    for template in MAIN_PAGES:
        url = template.format(**ids)
        resp = ui.get(url)
        assert resp.status_code == 200, url
        text = _visible(resp.get_data(as_text=True))
        assert LOCAL in text, f"{url} does not show the seeded time in Tokyo time"
        assert "Asia/Tokyo" in text, f"{url} does not say which zone its times are in"
        found = re.search(r"\bUTC\b", text)
        assert found is None, f"{url} still says UTC: {text[max(0, found.start() - 150):found.end() + 50]!r}"

    # Japanese: the locale's own writing of the same instant (2026年3月5日 0:47)
    ja = _visible(ui.get(f"/contacts/{ids['contact_id']}", headers={"Accept-Language": "ja"}).get_data(as_text=True))
    assert "2026年3月5日 0:47" in ja and UTC_READING not in ja

    # the A/B timeline chart's hours are Tokyo hours (its data is a JSON script, not visible text)
    page = ui.get(f"/ab/{ids['test_id']}").get_data(as_text=True)
    data = json.loads(re.search(r'<script type="application/json" id="ab-data">(.*?)</script>', page, re.S).group(1))
    assert data["timeline"]["labels"] == ["03/05 00:00"] and data["labels"]["zone"] == "Asia/Tokyo"
