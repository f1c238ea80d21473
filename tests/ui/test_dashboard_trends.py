"""The dashboard's weekly trends (campaigns.insights.trends) are kept a minute in Redis: a second view within it
shows the same figures and the time they were counted (account zone), a new count after the minute or in another
zone; the figures equal counting the rows. Run on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert

from campaigns.insights import trends
from campaigns.models import Contact
from campaigns.users import get_account


def _this_week_leads(html: str) -> int:
    table = html[html.index('data-testid="trend-table"'):]
    last = re.findall(r"<tr><td>[^<]*</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td></tr>",
                      table)[-1]
    return int(last[3])  # sent, opens, clicks, leads, MQLs: this week's new leads


def _add_leads(services: Any, n: int, start: int) -> None:
    with services.db.begin() as s:
        s.execute(insert(Contact), [{"email": f"l{start + i}@acme.test", "created_at": datetime.now(UTC)}
                                    for i in range(n)])


def test_trends_are_kept_a_minute_with_their_time(ui: Any, services: Any) -> None:
    with services.db.begin() as s:
        get_account(s).timezone = "Asia/Tokyo"
    _add_leads(services, 3, 0)
    html = ui.get("/").get_data(as_text=True)
    assert _this_week_leads(html) == 3
    counted = re.search(r'data-testid="trends-counted-at">([^<]*)<', html)
    assert counted and "Counted at" in counted.group(1)
    now_tokyo = datetime.now(ZoneInfo("Asia/Tokyo"))
    assert f"{now_tokyo.year}" in counted.group(1) and "UTC" not in counted.group(1)
    _add_leads(services, 2, 10)
    assert _this_week_leads(ui.get("/").get_data(as_text=True)) == 3  # within the minute: the kept figures
    ja = ui.get("/", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    stamp = re.search(r'data-testid="trends-counted-at">([^<]*)<', ja)
    assert stamp and "集計" in stamp.group(1) and "Counted" not in stamp.group(1)
    # the minute over (the key expires): counted again
    for key in services.redis.scan_iter("nurture:dashboard:trends:*"):
        services.redis.delete(key)
    assert _this_week_leads(ui.get("/").get_data(as_text=True)) == 5
    # another zone has other week bounds: its own figures, never the Tokyo ones
    with services.db.begin() as s:
        get_account(s).timezone = "America/New_York"
        _, series, _at = trends.weekly_series(s, services.redis, datetime.now(UTC), ZoneInfo("America/New_York"))
        assert sum(series["leads"]) == 5


def test_the_series_equal_counting_the_rows(services: Any) -> None:
    now = datetime(2026, 12, 9, 3, 0, tzinfo=UTC)  # a Wednesday
    zone = ZoneInfo("Asia/Tokyo")
    starts = trends.week_starts(now, zone)
    with services.db.begin() as s:
        times = [now - timedelta(days=d, hours=h) for d in range(0, 100, 3) for h in (0, 5, 13)]
        s.execute(insert(Contact), [{"email": f"t{i}@acme.test", "created_at": t} for i, t in enumerate(times)])
    with services.db.begin() as s:
        _, series, at = trends.weekly_series(s, services.redis, now, zone)
    assert at == now
    expected = [sum(1 for t in times if starts[i] <= t < starts[i + 1]) for i in range(trends.WEEKS)]
    assert series["leads"] == expected and sum(expected) > 0
    with services.db.begin() as s:  # from the cache: the same figures and the first count's time
        assert trends.weekly_series(s, services.redis, now + timedelta(seconds=30), zone)[1:] == (series, now)
