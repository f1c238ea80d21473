"""The event browser's list: every event name seen, with its count, last time, sources and an example of
its properties; and the plain list of names the UI's event pickers offer.

Contract:
- `event_summary(session, redis)` -> [EventName], most recent first. One grouped query (name, count,
  max(occurred_at)) that PostgreSQL answers from ix_events_name_time (an index-only scan, no table rows),
  then, per name, the newest SAMPLE_ROWS rows of that name (the same index, backwards) for its sources and
  its newest non-empty properties. Names are few (dozens to hundreds); events may be millions, so the
  result is cached in redis for CACHE_SECONDS and `forget(redis)` drops it when the UI adds events (the
  test event, an activity, an event import), so the marketer sees their own event at once.
- `event_names(session, redis)` -> the names alone (GET /events/names.json, the pickers).
- Sources are those of the newest SAMPLE_ROWS events of a name: an old source that stopped sending is
  not listed (the page says "recent sources").
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.models import Event

log = logging.getLogger(__name__)

CACHE_KEY = "nurture:event_names:v1"
CACHE_SECONDS = 60
SAMPLE_ROWS = 200
MAX_NAMES = 500


@dataclass
class EventName:
    name: str
    count: int
    last_at: datetime
    sources: list[str] = field(default_factory=list)
    example: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "last_at": self.last_at.isoformat()}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> EventName:
        return cls(raw["name"], int(raw["count"]), datetime.fromisoformat(raw["last_at"]),
                   list(raw.get("sources") or []), dict(raw.get("example") or {}))


def _compute(session: Session) -> list[EventName]:
    last = func.max(Event.occurred_at)
    rows = session.execute(
        select(Event.name, func.count(), last).group_by(Event.name).order_by(last.desc()).limit(MAX_NAMES)
    ).all()
    out = []
    for name, count, last_at in rows:
        recent = session.execute(
            select(Event.source, Event.properties).where(Event.name == name)
            .order_by(Event.occurred_at.desc()).limit(SAMPLE_ROWS)
        ).all()
        sources = sorted({r.source for r in recent if r.source})
        example = next((dict(r.properties) for r in recent if r.properties), {})
        out.append(EventName(name, int(count), last_at, sources, example))
    return out


def event_summary(session: Session, redis: Redis | None = None) -> list[EventName]:
    """Every event name with count, last seen, recent sources and an example (the event browser)."""
    if redis is not None:
        try:
            cached = redis.get(CACHE_KEY)
            if cached:
                return [EventName.from_json(item) for item in json.loads(cached)]
        except (RedisError, ValueError, KeyError):
            log.warning("event name cache unreadable; computing", exc_info=True)
    names = _compute(session)
    if redis is not None:
        try:
            redis.set(CACHE_KEY, json.dumps([n.as_json() for n in names], default=str), ex=CACHE_SECONDS)
        except RedisError:
            log.warning("event name cache not written", exc_info=True)
    return names


def event_names(session: Session, redis: Redis | None = None) -> list[str]:
    """The names alone, alphabetically (the pickers' list)."""
    return sorted(n.name for n in event_summary(session, redis))


def forget(redis: Redis | None) -> None:
    """Drop the cached list after the UI recorded events (the next page computes it afresh)."""
    if redis is None:
        return
    try:
        redis.delete(CACHE_KEY)
    except RedisError:
        log.warning("event name cache not cleared", exc_info=True)
