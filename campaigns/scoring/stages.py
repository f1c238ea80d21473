"""Lifecycle stages: the stage a score reaches, stage changes written with their cause, counts per stage."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from campaigns.models import (
    Contact,
    ScoringSettings,
    Stage,
    StageChange,
)
from campaigns.scoring.rules import core_table
from campaigns.sql_functions import among

SCORE_STAGES = (Stage.COLD, Stage.WARM, Stage.HOT)  # moved by the score in both directions

SALES_STAGES = (Stage.SQL, Stage.CUSTOMER)  # set by sales (UI) or the API

STAGE_ORDER = [s.value for s in Stage]


# ------------------------------------------------------------------ the scoring step
@dataclass
class ScoringResult:
    """What one run did; counts["deliveries"] hand-overs wait for `webhooks.enqueue_due` after the commit."""

    counts: Counter[str] = field(default_factory=Counter)


def score_stage(score: int, settings: ScoringSettings) -> Stage:
    """The stage a score alone gives: cold, warm or hot."""
    if score >= settings.hot_at:
        return Stage.HOT
    if score >= settings.warm_at:
        return Stage.WARM
    return Stage.COLD


def stage_path(current: Stage, score: int, settings: ScoringSettings, mql_rule: str | None) -> list[tuple[Stage, str, str]]:
    """The moves (stage, cause, detail) the score and MQL rules give a contact now at `current`."""
    if current in (Stage.MQL, Stage.SQL, Stage.CUSTOMER):
        return []  # milestones: the score never moves a contact back out of them
    moves: list[tuple[Stage, str, str]] = []
    target = score_stage(score, settings)
    if target is not current:
        threshold = {Stage.HOT: settings.hot_at, Stage.WARM: settings.warm_at}.get(target)
        detail = f"score {score}" + (f" >= {threshold}" if threshold is not None else f" < {settings.warm_at}")
        moves.append((target, "score_threshold", detail))
    if mql_rule:
        moves.append((Stage.MQL, "rule", mql_rule))
    elif target is Stage.HOT and settings.mql_when_hot:
        moves.append((Stage.MQL, "score_threshold", f"hot lead (score {score} >= {settings.hot_at})"))
    return moves


def write_stage_changes(session: Session, changes: list[dict[str, Any]], result: ScoringResult) -> None:
    final: dict[str, list[int]] = defaultdict(list)
    last: dict[int, str] = {}
    for change in changes:
        last[change["contact_id"]] = change["to_stage"]
    for contact_id, stage in last.items():
        final[stage].append(contact_id)
    session.execute(insert(core_table(StageChange)), changes)
    for stage, ids in final.items():  # one UPDATE per stage, not one per contact
        for start in range(0, len(ids), 5000):
            session.execute(
                update(Contact).where(among(session, Contact.id, ids[start:start + 5000])).values(stage=Stage(stage))
                .execution_options(synchronize_session=False)
            )
    result.counts["stage_changes"] += len(changes)


def stage_counts(session: Session) -> dict[str, int]:
    """Contacts per stage (the scoring page's summary)."""
    return {str(stage): n for stage, n in session.execute(select(Contact.stage, func.count()).group_by(Contact.stage))}
