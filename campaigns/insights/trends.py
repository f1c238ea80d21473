"""The dashboard's weekly trends: mails sent, human opens and clicks, new leads and new MQLs, week by week.

Weeks are Monday to Sunday in the account's zone; `week_starts` gives their bounds as UTC instants, and each
series is one grouped query (a CASE maps a timestamp to its week, so the same SQL runs on SQLite and
PostgreSQL and the time columns' indexes serve the range: sends by ix_sends_sent_at, migration 0025).

The five queries read a quarter of a year of sends and hits (a quarter of a second and more at millions of
sends), and the dashboard is every user's landing page: `weekly_series` keeps the figures in Redis for
CACHE_SECONDS, keyed by the zone and the weeks' bounds, so a new week or another zone is never served old
bounds. The figures are then up to CACHE_SECONDS old (the page says when they were counted); a Redis that
cannot be reached means counting on every view, as before.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from campaigns.models import Contact, Hit, HitClass, HitKind, Send, SendStatus, StageChange

WEEKS = 13
CACHE_SECONDS = 60
SERIES = ("sent", "opens", "clicks", "leads", "mqls")


def week_starts(now: datetime, zone: ZoneInfo) -> list[datetime]:
    """The UTC instants of the last WEEKS Mondays 00:00 in `zone`, oldest first, and the next one."""
    today = now.astimezone(zone).date()
    monday = today - timedelta(days=today.weekday())
    days = [monday - timedelta(weeks=WEEKS - 1 - i) for i in range(WEEKS + 1)]
    return [datetime.combine(d, time(), tzinfo=zone).astimezone(UTC) for d in days]


def _weekly(session: Session, column: Any, starts: list[datetime], *where: Any) -> list[int]:
    """How many rows fall in each week: one grouped query, a CASE from the timestamp to the week's index."""
    week = case(*((column < starts[i + 1], i) for i in range(WEEKS)), else_=WEEKS)
    out = [0] * WEEKS
    for index, n in session.execute(
        select(week, func.count()).where(column >= starts[0], column < starts[-1], *where).group_by(week)
    ):
        if 0 <= int(index) < WEEKS:
            out[int(index)] = int(n)
    return out


def count_series(session: Session, starts: list[datetime]) -> dict[str, list[int]]:
    """The five weekly series, counted now."""
    return {
        "sent": _weekly(session, Send.sent_at, starts, Send.status == SendStatus.SENT),
        "opens": _weekly(session, Hit.occurred_at, starts, Hit.kind == HitKind.OPEN,
                         Hit.classification == HitClass.HUMAN),
        "clicks": _weekly(session, Hit.occurred_at, starts, Hit.kind == HitKind.CLICK,
                          Hit.classification == HitClass.HUMAN),
        "leads": _weekly(session, Contact.created_at, starts),
        "mqls": _weekly(session, StageChange.changed_at, starts, StageChange.to_stage == "mql"),
    }


def _key(zone: ZoneInfo, starts: list[datetime]) -> str:
    return f"nurture:dashboard:trends:{zone.key}:{int(starts[0].timestamp())}"


def weekly_series(session: Session, cache: Redis | None, now: datetime,
                  zone: ZoneInfo) -> tuple[list[datetime], dict[str, list[int]], datetime]:
    """(week starts, the series, when they were counted): from the cache when counted within CACHE_SECONDS."""
    starts = week_starts(now, zone)
    key = _key(zone, starts)
    if cache is not None:
        try:
            raw = cache.get(key)
        except RedisError:
            raw, cache = None, None
        if raw is not None:
            try:
                data = json.loads(raw)
                series = {name: [int(n) for n in data["series"][name]] for name in SERIES}
                return starts, series, datetime.fromtimestamp(float(data["at"]), UTC)
            except (ValueError, KeyError, TypeError):
                pass  # unreadable: counted again below
    series = count_series(session, starts)
    if cache is not None:
        try:
            cache.set(key, json.dumps({"series": series, "at": now.timestamp()}), ex=CACHE_SECONDS)
        except RedisError:
            pass
    return starts, series, now
