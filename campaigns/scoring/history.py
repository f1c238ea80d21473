"""Score history: a contact's score entries, stage timeline and score series for charts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    select,
)
from sqlalchemy.orm import Session

from campaigns.db import now_utc
from campaigns.models import (
    ScoreEntry,
    ScoringRule,
    StageChange,
)
from campaigns.scoring.rules import get_settings, round_points


def score_history(session: Session, contact_id: int, limit: int = 200) -> list[dict[str, Any]]:
    """A contact's ledger, newest first, with the rule names and a running total (contact page, API)."""
    rows = session.execute(
        select(ScoreEntry, ScoringRule.name, ScoringRule.kind)
        .outerjoin(ScoringRule, ScoringRule.id == ScoreEntry.rule_id)
        .where(ScoreEntry.contact_id == contact_id)
        .order_by(ScoreEntry.occurred_at.desc(), ScoreEntry.id.desc())
        .limit(limit)
    ).all()
    # An entry without a rule (a journey's add_score node) names its cause instead, kind "journey".
    return [{
        "id": e.id, "rule_id": e.rule_id, "rule": name if name is not None else e.cause,
        "kind": str(kind) if kind is not None else e.source, "points": e.points, "source": e.source,
        "source_ref": e.source_ref, "occurred_at": e.occurred_at,
    } for e, name, kind in rows]


def stage_timeline(session: Session, contact_id: int) -> list[StageChange]:
    """A contact's stage changes, oldest first (contact page, API)."""
    return list(session.scalars(
        select(StageChange).where(StageChange.contact_id == contact_id).order_by(StageChange.changed_at, StageChange.id)
    ))


def score_series(session: Session, contact_id: int, now: datetime | None = None, days: int = 90) -> list[tuple[str, int]]:
    """The decayed score at the end of each day of the last `days` days (the contact page's chart)."""
    now = now or now_utc()
    settings = get_settings(session)
    entries = session.execute(
        select(ScoreEntry.points, ScoreEntry.occurred_at).where(ScoreEntry.contact_id == contact_id)
    ).all()
    series = []
    for back in range(days - 1, -1, -1):
        at = now - timedelta(days=back)
        total = 0.0
        for points, occurred in entries:
            if occurred > at:
                continue
            age = (at - occurred).total_seconds() / 86400
            total += points * (0.5 ** (age / settings.half_life_days) if settings.half_life_days > 0 else 1)
        series.append((at.date().isoformat(), round_points(total)))
    return series
