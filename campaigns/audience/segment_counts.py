"""How many contacts each saved segment holds, as the segments list shows them: counted ahead and kept in Redis.

A segment is never stored as members (docs/segments.md): its size is a count query, up to a second at
1,000,000 contacts, so a list of many segments counted on every view took many seconds. The scheduler's
"segment counts" duty (`refresh_due`, every tick) recounts the segments whose count is older than
REFRESH_SECONDS, oldest first, for at most TICK_BUDGET_SECONDS a tick (the tick also plans sends); the list
reads the stored counts with the time each was counted (`cached_counts`), counts on the spot only those it
lacks within PAGE_BUDGET_SECONDS, and shows the rest as not counted yet. "Recount" counts one segment now
(`count_now`); "Recount all" makes every count due (`request_refresh`) for the next ticks.

Honest invalidation: a stored count carries a fingerprint of the rules it was counted for; a segment edited since
(its rules changed) is not shown the old count. A count is a snapshot: contacts move in and out between counts,
which is why the time is shown beside it. Redis down: every count is made on the spot (as before).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.audience.segments import SegmentError, count_segment
from campaigns.models import Segment

REFRESH_SECONDS = 600  # the scheduler's recount of every segment
CACHE_SECONDS = 3 * 24 * 3600  # a count outlives a stopped scheduler a while, labelled with its time
PAGE_BUDGET_SECONDS = 1.5  # counting missing counts on a page view stops after this much
TICK_BUDGET_SECONDS = 2.0  # the scheduler's recounting per tick stops after this much
REQUESTED_KEY = "nurture:segment-counts:requested"  # Recount all: counts made before this time are due


@dataclass(frozen=True)
class SegmentCount:
    """A segment's count as the list shows it: counted (count, counted_at), invalid (its rules cannot be
    counted: its page says why), or not counted yet (pending)."""

    count: int | None = None
    counted_at: datetime | None = None
    invalid: bool = False

    @property
    def pending(self) -> bool:
        return not self.invalid and self.counted_at is None


def _key(segment_id: int) -> str:
    return f"nurture:segment-count:{segment_id}"


def _fingerprint(rules: Any) -> str:
    return hashlib.sha256(json.dumps(rules, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _count(session: Session, segment: Segment, now: datetime) -> SegmentCount:
    try:
        return SegmentCount(count_segment(session, segment.rules, now), now)
    except SegmentError:
        return SegmentCount(None, now, invalid=True)


def _store(cache: Redis, segment: Segment, found: SegmentCount) -> None:
    value = json.dumps({"rules": _fingerprint(segment.rules), "count": found.count, "invalid": found.invalid,
                        "at": found.counted_at.timestamp() if found.counted_at else None})
    cache.set(_key(segment.id), value, ex=CACHE_SECONDS)


def _read(raw: Any, segment: Segment) -> SegmentCount | None:
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        if data.get("rules") != _fingerprint(segment.rules) or data.get("at") is None:
            return None  # counted for rules the segment no longer has
        return SegmentCount(data.get("count"), datetime.fromtimestamp(float(data["at"]), UTC),
                            invalid=bool(data.get("invalid")))
    except (ValueError, TypeError, AttributeError):
        return None


def count_now(session: Session, cache: Redis | None, segment: Segment, now: datetime) -> SegmentCount:
    """Count one segment and keep the count (the list's Recount button)."""
    found = _count(session, segment, now)
    if cache is not None:
        try:
            _store(cache, segment, found)
        except RedisError:
            pass
    return found


def cached_counts(session: Session, cache: Redis | None, segments: Sequence[Segment], now: datetime,
                  budget: float = PAGE_BUDGET_SECONDS) -> dict[int, SegmentCount]:
    """The segments list's counts: stored ones, and the missing ones counted while `budget` seconds last."""
    stored: list[Any] = [None] * len(segments)
    if cache is not None and segments:
        try:
            stored = list(cache.mget([_key(seg.id) for seg in segments]))
        except RedisError:
            cache = None
    out: dict[int, SegmentCount] = {}
    started = time.monotonic()
    for seg, raw in zip(segments, stored, strict=True):
        found = _read(raw, seg)
        if found is None and (cache is None or time.monotonic() - started < budget):
            found = count_now(session, cache, seg, now)
        out[seg.id] = found or SegmentCount()
    return out


def refresh_due(session: Session, cache: Redis, now: datetime, budget: float = TICK_BUDGET_SECONDS) -> int:
    """Recount the unarchived segments whose count is missing, stale (REFRESH_SECONDS) or older than a Recount
    all, oldest first, while `budget` seconds last (the scheduler's "segment counts" duty); returns how many."""
    segments = list(session.scalars(select(Segment).where(Segment.archived_at.is_(None)).order_by(Segment.id)))
    if not segments:
        return 0
    *stored, requested = cache.mget([*(_key(seg.id) for seg in segments), REQUESTED_KEY])
    due_before = now.timestamp() - REFRESH_SECONDS
    if requested is not None:
        due_before = max(due_before, float(requested))
    due: list[tuple[float, Segment]] = []
    for seg, raw in zip(segments, stored, strict=True):
        found = _read(raw, seg)
        at = found.counted_at.timestamp() if found is not None and found.counted_at else 0.0
        if at <= due_before:
            due.append((at, seg))
    started = time.monotonic()
    counted = 0
    for _at, seg in sorted(due, key=lambda pair: pair[0]):
        if time.monotonic() - started >= budget:
            break
        _store(cache, seg, _count(session, seg, now))
        counted += 1
    return counted


def request_refresh(cache: Redis, now: datetime) -> None:
    """Make every count due for the scheduler's next ticks (the list's Recount all button)."""
    cache.set(REQUESTED_KEY, str(now.timestamp()), ex=CACHE_SECONDS)
