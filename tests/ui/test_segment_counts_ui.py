"""The segments list shows counts made ahead (campaigns.audience.segment_counts), each with the time it was counted
in the account's zone: a count is not made again on every view, Recount counts one segment now, an edited
segment is never shown its old count, Recount all makes the scheduler's next tick recount every segment, and a
page view with no time left shows "not counted yet". Run on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select

from campaigns.audience import segment_counts
from campaigns.models import Contact, Segment
from campaigns.scheduler import refresh_segment_counts
from campaigns.users import get_account

COUNTED = datetime(2026, 12, 7, 3, 5, tzinfo=UTC)  # 12:05 in Tokyo
RULES = {"all": [{"field": "company", "op": "eq", "value": "Acme"}]}


def _setup(services: Any, n: int) -> int:
    with services.db.begin() as s:
        get_account(s).timezone = "Asia/Tokyo"
        s.execute(insert(Contact), [{"email": f"a{i}@acme.test", "company": "Acme"} for i in range(n)])
        segment = Segment(name="Acme の人", rules=RULES)
        s.add(segment)
        s.flush()
        return segment.id


def _cell(html: str, segment_id: int) -> str:
    match = re.search(rf'data-testid="count-{segment_id}">(.*?)</td>', html, re.S)
    assert match, html
    return re.sub(r"<[^>]+>", " ", match.group(1))


def test_the_list_shows_the_counted_number_and_its_time(ui: Any, services: Any) -> None:
    seg = _setup(services, 3)
    assert refresh_segment_counts(services, COUNTED)["segment_counts"] == 1
    with services.db.begin() as s:  # two more people arrive after the count
        s.execute(insert(Contact), [{"email": f"b{i}@acme.test", "company": "Acme"} for i in range(2)])
    cell = _cell(ui.get("/contacts/segments").get_data(as_text=True), seg)
    assert " 3 " in cell and "counted at Dec 7, 2026, 12:05" in cell  # the stored count, in Tokyo time
    ja = ui.get("/contacts/segments", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    cell = _cell(ja, seg)
    assert "2026年12月7日 12:05" in cell and "集計" in cell and "counted" not in cell and "Recount" not in ja
    # Recount: this segment now
    resp = ui.post(f"/contacts/segments/{seg}/recount", page="/contacts/segments")
    assert resp.status_code == 302
    cell = _cell(ui.get("/contacts/segments").get_data(as_text=True), seg)
    assert " 5 " in cell and "12:05" not in cell
    # an edited segment is not shown the count of its old rules
    with services.db.begin() as s:
        s.get(Segment, seg).rules = {"all": [{"field": "email", "op": "starts_with", "value": "b"}]}
    assert " 2 " in _cell(ui.get("/contacts/segments").get_data(as_text=True), seg)


def test_recount_all_is_done_by_the_scheduler_and_a_busy_page_says_not_counted_yet(ui: Any, services: Any) -> None:
    seg = _setup(services, 4)
    now = datetime.now(UTC)
    assert refresh_segment_counts(services, now)["segment_counts"] == 1
    assert refresh_segment_counts(services, now) == {}  # nothing due a moment later
    with services.db.begin() as s:
        s.execute(insert(Contact), [{"email": "late@acme.test", "company": "Acme"}])
    assert ui.post("/contacts/segments/recount", page="/contacts/segments").status_code == 302
    assert " 4 " in _cell(ui.get("/contacts/segments").get_data(as_text=True), seg)  # not counted by the page
    assert refresh_segment_counts(services, datetime.now(UTC))["segment_counts"] == 1
    assert " 5 " in _cell(ui.get("/contacts/segments").get_data(as_text=True), seg)
    # never counted, and no time left on this view: shown as such, counted by a later view or tick
    services.redis.flushdb()
    with services.db.begin() as s:
        segments = list(s.scalars(select(Segment)))
        found = segment_counts.cached_counts(s, services.redis, segments, now, budget=0)
        assert found[seg].pending and found[seg].count is None
        found = segment_counts.cached_counts(s, services.redis, segments, now)
        assert found[seg].count == 5 and found[seg].counted_at == now
