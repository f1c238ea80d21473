"""Lead scoring: points per activity, decay, lifecycle stages and the hand-over triggers.

The flow, run by the scheduler (`run_scoring`, every tick) and never by the API or tracking requests:
1. every active rule turns new events, human hits and hard bounces (ids past the stored cursors) into
   ledger rows (`ScoreEntry`) with ONE `INSERT .. SELECT .. ON CONFLICT DO NOTHING` per rule; the
   UNIQUE (rule, source, source_ref) key makes a re-run or an overlapping range count nothing twice,
   and the daily cap is a window function over the candidates plus what the ledger already holds;
2. the scores of the contacts that got entries are recomputed from their ledger in one query:
   score = round(sum(points * 0.5 ** (age in days / half-life))), so points lose half their weight per
   half-life (a contact without activity sees its score halve every half-life). A sum is order-free, so
   a recompute from the whole history gives the same numbers as the increments did;
3. stages follow the score (cold / warm / hot, MQL when hot or when an MQL rule fires); MQL, SQL and
   customer are never moved down by score. Every move is a `StageChange` row with its cause;
4. triggers on a stage or a score threshold start or leave a journey in the same transaction, and
   queue hand-over deliveries (signed webhook, sales email) that RQ jobs send after the commit.

Machine opens and scanner clicks never reach the ledger: only hits classified human are read.
Hourly (and after a settings change) a full refresh applies decay to every scored contact and the
inactivity rules (N days without activity: "activity" is any ledger entry with positive points).

This module is the engine (ledger, decay, recompute, the run); the rest of the package holds rules and
settings (rules.py), stages (stages.py), triggers (triggers.py), charts (history.py) and the hand-over
(handover.py).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from typing import cast as tcast

from sqlalchemy import (
    CursorResult,
    Float,
    Integer,
    Numeric,
    String,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.orm import Session, aliased

from campaigns.db import UTCDateTime, dialect_insert, now_utc
from campaigns.leads.activity import note_activity
from campaigns.models import (
    Contact,
    Event,
    Hit,
    HitClass,
    Link,
    RuleKind,
    ScoreEntry,
    ScoreTrigger,
    ScoringRule,
    ScoringSettings,
    Stage,
    Suppression,
    TriggerWhen,
    WebVisit,
)
from campaigns.runtime import Services
from campaigns.scoring.handover import enqueue_due
from campaigns.scoring.rules import EVENT_KINDS, HIT_KINDS, core_table, get_settings
from campaigns.scoring.stages import (
    SCORE_STAGES,
    STAGE_ORDER,
    ScoringResult,
    stage_path,
    write_stage_changes,
)
from campaigns.scoring.triggers import fire_triggers
from campaigns.scoring.visits import visit_candidates
from campaigns.sql_functions import among, ascii_lower, at_least_zero, days_between

log = logging.getLogger("nurture.scoring")

LOCK_KEY = "nurture:scoring:lock"
LOCK_TTL = 300
REFRESH_EVERY = timedelta(hours=1)  # decay of untouched contacts and inactivity rules
ANALYZE_AFTER = 10_000  # ledger rows written by one run


def delete_rule(session: Session, rule: ScoringRule, now: datetime | None = None) -> int:
    """Remove a rule and its ledger entries, then refresh the affected scores; returns contacts refreshed."""
    contact_ids = list(session.scalars(select(ScoreEntry.contact_id).where(ScoreEntry.rule_id == rule.id).distinct()))
    session.execute(delete(ScoreEntry).where(ScoreEntry.rule_id == rule.id))
    session.delete(rule)
    session.flush()
    result = ScoringResult()
    _refresh_scores(session, get_settings(session), now or now_utc(), contact_ids, result, cause="rule_removed")
    return len(contact_ids)


def run_scoring(svc: Services, now: datetime | None = None, lock: bool = True) -> dict[str, int]:
    """Score everything recorded since the cursors, then enqueue hand-over deliveries (scheduler tick)."""

    guard = None
    if lock:
        guard = svc.redis.lock(LOCK_KEY, timeout=LOCK_TTL)
        if not guard.acquire(blocking=False):
            return {"scoring_skipped": 1}
    try:
        now = now or now_utc()
        with svc.db.begin() as session:
            result = score_new(session, now)
        counts = dict(result.counts)
        counts["deliveries_enqueued"] = enqueue_due(svc, now)
        return {k: v for k, v in counts.items() if v}
    finally:
        if guard is not None:
            try:
                guard.release()
            except Exception:  # expired during a very long run; nothing to release
                log.warning("scoring lock expired before the run ended")


def score_new(session: Session, now: datetime) -> ScoringResult:
    """Score new events, human hits and bounces in one transaction (run_scoring, tests, bench)."""
    result = ScoringResult()
    settings = get_settings(session, lock=True)
    rules = list(session.scalars(select(ScoringRule).where(ScoringRule.active.is_(True)).order_by(ScoringRule.id)))
    settings.batch += 1
    batch = settings.batch
    hi_event = session.scalar(select(func.max(Event.id))) or 0
    hi_hit = session.scalar(select(func.max(Hit.id))) or 0
    hi_bounce = session.scalar(select(func.max(Suppression.id))) or 0
    hi_visit = session.scalar(select(func.max(WebVisit.id))) or 0
    ranges = {
        "event": (settings.event_cursor_prev, hi_event),
        "hit": (settings.hit_cursor_prev, hi_hit),
        "bounce": (settings.bounce_cursor_prev, hi_bounce),
        "visit": (settings.visit_cursor_prev, hi_visit),
    }
    for rule in rules:
        if rule.kind is not RuleKind.INACTIVITY:
            _score_rule(session, rule, ranges, batch, now)
    note_activity(session, ranges["event"], ranges["hit"])  # contacts.last_activity_at for the contact list
    settings.event_cursor_prev, settings.event_cursor = settings.event_cursor, hi_event
    settings.hit_cursor_prev, settings.hit_cursor = settings.hit_cursor, hi_hit
    settings.bounce_cursor_prev, settings.bounce_cursor = settings.bounce_cursor, hi_bounce
    settings.visit_cursor_prev, settings.visit_cursor = settings.visit_cursor, hi_visit

    # Entries written without a rule since the last run (a journey's add_score node, batch 0) join this run.
    session.execute(update(ScoreEntry).where(ScoreEntry.batch == 0, ScoreEntry.rule_id.is_(None))
                    .values(batch=batch).execution_options(synchronize_session=False))
    full = settings.last_decay_at is None or now - settings.last_decay_at >= REFRESH_EVERY
    if full:
        for rule in rules:
            if rule.kind is RuleKind.INACTIVITY:
                _score_inactivity(session, rule, batch, now)
        settings.last_decay_at = now
        touched: Any = select(ScoreEntry.contact_id)  # every scored contact: decay moves them all
    else:
        touched = select(ScoreEntry.contact_id).where(ScoreEntry.batch == batch)
    mql_rules = _mql_hits(session, batch)
    result.counts["entries"] = _batch_size(session, batch)
    _analyze_if_large(session, result.counts["entries"])
    settings.last_run_at = now
    session.flush()
    _refresh_scores(session, settings, now, touched, result, mql_rules=mql_rules, cause="decay" if full else "score")
    return result


def recompute(session: Session, now: datetime | None = None) -> ScoringResult:
    """Rebuild the whole ledger and every score from the event and hit history with the current rules
    (after rule changes; tests compare it with the incremental runs). Triggers do not fire for it."""
    now = now or now_utc()
    result = ScoringResult()
    settings = get_settings(session, lock=True)
    scored_before = list(session.scalars(select(ScoreEntry.contact_id).distinct()))
    # Entries without a rule (journey points) are facts, not derived from the history by rules: kept.
    session.execute(delete(ScoreEntry).where(ScoreEntry.rule_id.is_not(None)))
    settings.batch += 1
    batch = settings.batch
    hi = {
        "event": session.scalar(select(func.max(Event.id))) or 0,
        "hit": session.scalar(select(func.max(Hit.id))) or 0,
        "bounce": session.scalar(select(func.max(Suppression.id))) or 0,
        "visit": session.scalar(select(func.max(WebVisit.id))) or 0,
    }
    ranges = {name: (0, top) for name, top in hi.items()}
    rules = list(session.scalars(select(ScoringRule).where(ScoringRule.active.is_(True)).order_by(ScoringRule.id)))
    for rule in rules:
        if rule.kind is not RuleKind.INACTIVITY:
            _score_rule(session, rule, ranges, batch, now)
    for rule in rules:
        if rule.kind is RuleKind.INACTIVITY:
            _score_inactivity(session, rule, batch, now)
    result.counts["entries"] = _batch_size(session, batch)
    _analyze_if_large(session, result.counts["entries"])
    settings.event_cursor = settings.event_cursor_prev = hi["event"]
    settings.hit_cursor = settings.hit_cursor_prev = hi["hit"]
    settings.bounce_cursor = settings.bounce_cursor_prev = hi["bounce"]
    settings.visit_cursor = settings.visit_cursor_prev = hi["visit"]
    settings.last_decay_at = settings.last_run_at = now
    session.flush()
    _refresh_scores(session, settings, now, select(ScoreEntry.contact_id), result,
                    mql_rules=_mql_hits(session, batch), cause="recompute", fire=False)
    gone = sorted(set(scored_before) - set(session.scalars(select(ScoreEntry.contact_id).distinct())))
    if gone:  # no entries left under the current rules: back to 0
        _refresh_scores(session, settings, now, gone, result, cause="recompute", fire=False)
    return result


def _utc_day(session: Session, column: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)  # SQLite stores the UTC time as text


def _candidates(session: Session, rule: ScoringRule, ranges: dict[str, tuple[int, int]]) -> list[Any]:
    """SELECTs of (contact_id, source, source_ref, occurred_at, order_id) this rule may score."""
    selects: list[Any] = []
    if rule.kind is RuleKind.PAGE_VISIT:
        return visit_candidates(rule, ranges["visit"])
    if rule.kind in HIT_KINDS:
        lo, hi = ranges["hit"]
        if hi <= lo:
            return []
        query = select(
            Hit.contact_id.label("contact_id"), literal("hit", String).label("source"),
            cast(Hit.id, String).label("source_ref"), Hit.occurred_at.label("occurred_at"), Hit.id.label("order_id"),
        ).where(
            Hit.id > lo, Hit.id <= hi, Hit.kind == HIT_KINDS[rule.kind],
            # The one place non-human hits are kept out: machine opens and scanner clicks score nothing.
            Hit.classification == HitClass.HUMAN,
        )
        if rule.kind is RuleKind.LINK_CLICK:
            query = query.join(Link, Link.id == Hit.link_id)
            if rule.link_url.endswith("*"):
                prefix = rule.link_url[:-1]
                query = query.where(func.substr(Link.url, 1, len(prefix)) == prefix)
            else:
                query = query.where(Link.url == rule.link_url)
        return [query]
    name = rule.event_name if rule.kind is RuleKind.CUSTOM_EVENT else EVENT_KINDS.get(rule.kind)
    if name:
        lo, hi = ranges["event"]
        if hi > lo:
            query = select(
                Event.contact_id.label("contact_id"), literal("event", String).label("source"),
                cast(Event.id, String).label("source_ref"), Event.occurred_at.label("occurred_at"),
                Event.id.label("order_id"),
            ).where(Event.id > lo, Event.id <= hi, Event.name == name)
            if rule.property_key:
                value = Event.properties[rule.property_key].as_string()
                query = query.where(value == rule.property_value if rule.property_value else value.isnot(None))
            selects.append(query)
    if rule.kind is RuleKind.BOUNCED:
        lo, hi = ranges["bounce"]
        if hi > lo:
            selects.append(select(
                Contact.id.label("contact_id"), literal("bounce", String).label("source"),
                cast(Suppression.id, String).label("source_ref"), Suppression.created_at.label("occurred_at"),
                Suppression.id.label("order_id"),
            # every case-variant contact of the bounced address (ix_contacts_email_folded finds them)
            ).join(Contact, ascii_lower(Contact.email) == Suppression.email).where(
                Suppression.id > lo, Suppression.id <= hi, Suppression.reason == "hard_bounce"))
    return selects


def _score_rule(session: Session, rule: ScoringRule, ranges: dict[str, tuple[int, int]], batch: int, now: datetime) -> None:
    """Write this rule's ledger entries for the candidate rows with one INSERT .. SELECT per source."""
    for query in _candidates(session, rule, ranges):
        cand = query.subquery("cand")
        # Sources already in the ledger (the re-read range) neither score again nor use up the cap.
        fresh = select(cand).where(~exists().where(
            ScoreEntry.rule_id == rule.id, ScoreEntry.source == cand.c.source,
            ScoreEntry.source_ref == cand.c.source_ref,
        ))
        if rule.daily_cap > 0:
            inner = fresh.subquery("fresh")
            day = _utc_day(session, inner.c.occurred_at)
            ranked = select(
                inner, day.label("day"),
                func.row_number().over(
                    partition_by=(inner.c.contact_id, day), order_by=(inner.c.occurred_at, inner.c.order_id)
                ).label("rn"),
            ).subquery("ranked")
            # What the ledger already holds for these contacts under this rule, per UTC day (one grouped
            # read joined to the candidates, not a count per candidate).
            entry_day = _utc_day(session, ScoreEntry.occurred_at)
            existing = (
                select(ScoreEntry.contact_id.label("cid"), entry_day.label("day"), func.count().label("n"))
                .where(ScoreEntry.rule_id == rule.id, ScoreEntry.contact_id.in_(select(inner.c.contact_id)))
                .group_by(ScoreEntry.contact_id, entry_day)
                .subquery("existing")
            )
            rows = (
                select(ranked.c.contact_id, ranked.c.source, ranked.c.source_ref, ranked.c.occurred_at)
                .outerjoin(existing, and_(existing.c.cid == ranked.c.contact_id, existing.c.day == ranked.c.day))
                .where(ranked.c.rn + func.coalesce(existing.c.n, 0) <= rule.daily_cap)
            )
        else:
            inner = fresh.subquery("fresh")
            # SQLite needs a WHERE in INSERT .. SELECT .. ON CONFLICT (a parsing ambiguity).
            rows = select(inner.c.contact_id, inner.c.source, inner.c.source_ref, inner.c.occurred_at).where(true())
        source = rows.subquery("rows")
        final = select(
            source.c.contact_id, literal(rule.id, Integer), literal(rule.points, Integer), source.c.source,
            source.c.source_ref, source.c.occurred_at, literal(now, UTCDateTime), literal(batch, Integer),
        ).where(true())
        stmt = dialect_insert(session, ScoreEntry).from_select(
            ["contact_id", "rule_id", "points", "source", "source_ref", "occurred_at", "created_at", "batch"], final,
        ).on_conflict_do_nothing()
        session.execute(stmt)


def _score_inactivity(session: Session, rule: ScoringRule, batch: int, now: datetime) -> None:
    """Penalise each idle period of `inactivity_days` once: a gap between two activities (or between the
    last activity and now) at least that long gives one entry dated where the gap reached the limit.

    Activity is any ledger entry with positive points; the entry's key is the contact and the gap's start,
    so the hourly run and a recompute find the same periods."""
    idle = timedelta(days=rule.inactivity_days)
    rows = session.execute(
        select(ScoreEntry.contact_id, ScoreEntry.occurred_at)
        .where(ScoreEntry.points > 0, ScoreEntry.source.in_(("event", "hit")), ScoreEntry.occurred_at <= now)
        .order_by(ScoreEntry.contact_id, ScoreEntry.occurred_at)
    ).all()
    values: list[dict[str, Any]] = []
    for i, (contact_id, started) in enumerate(rows):
        following = rows[i + 1] if i + 1 < len(rows) and rows[i + 1][0] == contact_id else None
        until = following[1] if following is not None else now
        if until - started >= idle:
            values.append({
                "contact_id": contact_id, "rule_id": rule.id, "points": rule.points, "source": "idle",
                "source_ref": f"{contact_id}:{int(started.timestamp())}", "occurred_at": started + idle,
                "created_at": now, "batch": batch,
            })
    if values:
        session.execute(dialect_insert(session, core_table(ScoreEntry)).on_conflict_do_nothing(), values)


def _analyze_if_large(session: Session, written: int) -> None:
    # After a large batch the planner still believes the ledger is small and picks a nested-loop
    # anti-join for the next run's re-read; fresh statistics (a sample, ~0.1 s) give it a hash join.
    if written >= ANALYZE_AFTER and session.get_bind().dialect.name == "postgresql":
        session.execute(text("ANALYZE score_entries"))


def _batch_size(session: Session, batch: int) -> int:
    # Counted afterwards: drivers do not all report a rowcount for INSERT .. SELECT .. ON CONFLICT.
    return session.scalar(select(func.count()).select_from(ScoreEntry).where(ScoreEntry.batch == batch)) or 0


def _mql_hits(session: Session, batch: int) -> dict[int, str]:
    """Contacts that an MQL rule scored in this batch, with the rule's name (the stage change's detail)."""
    return {
        contact_id: name for contact_id, name in session.execute(
            select(ScoreEntry.contact_id, ScoringRule.name)
            .join(ScoringRule, ScoringRule.id == ScoreEntry.rule_id)
            .where(ScoreEntry.batch == batch, ScoringRule.sets_mql.is_(True))
        )
    }


def _weighted(settings: ScoringSettings, now: datetime) -> Any:
    """SQL for one ledger entry's decayed points: points * 0.5 ** (age_days / half_life)."""
    if settings.half_life_days <= 0:
        return cast(ScoreEntry.points, Float)
    age = at_least_zero(days_between(literal(now, UTCDateTime), ScoreEntry.occurred_at))
    return ScoreEntry.points * func.power(0.5, age / float(settings.half_life_days))


def _rounded(session: Session, value: Any) -> Any:
    # First to 6 decimals, so a sum whose float error depends on the order rows were added in rounds the
    # same every time; then half away from zero on both databases (PostgreSQL's round(double) goes to even).
    if session.get_bind().dialect.name == "postgresql":
        value = cast(value, Numeric)
    value = func.round(value, 6)
    return cast(case((value >= 0, func.floor(value + 0.5)), else_=-func.floor(0.5 - value)), Integer)


def decayed_scores(session: Session, settings: ScoringSettings, now: datetime, scope: Any) -> Any:
    """A subquery (id, new) of the decayed, rounded score of every contact whose id is in `scope`."""
    target = aliased(Contact)
    total = func.coalesce(func.sum(_weighted(settings, now)), 0.0)
    return (
        select(target.id.label("id"), _rounded(session, total).label("new"))
        .select_from(target)
        .outerjoin(ScoreEntry, and_(ScoreEntry.contact_id == target.id,
                                    ScoreEntry.occurred_at <= literal(now, UTCDateTime)))
        .where(among(session, target.id, scope))
        .group_by(target.id)
        .subquery("decayed")
    )


def _scopes(scope: Any) -> list[Any]:
    """A SELECT of contact ids stays one scope; a list of ids becomes chunks (bound-parameter limits)."""
    if isinstance(scope, list):
        ids = sorted(set(scope))
        return [ids[i:i + 5000] for i in range(0, len(ids), 5000)]
    return [scope]


def _refresh_scores(
    session: Session, settings: ScoringSettings, now: datetime, scope: Any, result: ScoringResult,
    *, mql_rules: dict[int, str] | None = None, cause: str = "score", fire: bool = True,
) -> None:
    """Recompute the scores of the contacts in `scope` (a SELECT of ids, or a list) from the ledger with one
    UPDATE .. FROM, then move the stages of the few contacts whose stage no longer fits, record the moves
    and fire the triggers."""
    mql_rules = mql_rules or {}
    triggers = list(session.scalars(select(ScoreTrigger).where(ScoreTrigger.active.is_(True)))) if fire else []
    score_triggers = [t for t in triggers if t.when is TriggerWhen.SCORE]
    stage_col = cast(Contact.stage, String)
    score_values = [s.value for s in SCORE_STAGES]
    fits = case((Contact.score >= settings.hot_at, "hot"), (Contact.score >= settings.warm_at, "warm"), else_="cold")
    for part in _scopes(scope):
        decayed = decayed_scores(session, settings, now, part)
        crossed: list[tuple[int, ScoreTrigger, int]] = []
        if score_triggers:  # read before the UPDATE: a crossing needs the old score
            for contact_id, old, new in session.execute(
                select(Contact.id, Contact.score, decayed.c.new).join(decayed, decayed.c.id == Contact.id)
                .where(or_(*(and_(Contact.score < t.score_at, decayed.c.new >= t.score_at) for t in score_triggers)))
            ):
                crossed += [(contact_id, t, new) for t in score_triggers if old < t.score_at <= new]
        changed = tcast(CursorResult[Any], session.execute(
            update(Contact).where(Contact.id == decayed.c.id, Contact.score != decayed.c.new)
            .values(score=decayed.c.new, updated_at=now).execution_options(synchronize_session=False)
        )).rowcount
        result.counts["scores_changed"] += max(0, changed or 0)
        in_scope = among(session, Contact.id, part)
        rule_ids = [cid for cid in mql_rules if not isinstance(part, list) or cid in set(part)]
        misfits = or_(
            and_(stage_col.in_(score_values), stage_col != fits),
            and_(literal(settings.mql_when_hot), stage_col.in_(score_values), Contact.score >= settings.hot_at),
            *([and_(stage_col.in_(score_values), among(session, Contact.id, rule_ids))] if rule_ids else []),
        )
        changes: list[dict[str, Any]] = []
        for contact_id, score, stage in session.execute(
            select(Contact.id, Contact.score, stage_col).where(in_scope, misfits)
        ):
            current = Stage(stage)
            for to_stage, move_cause, detail in stage_path(current, score, settings, mql_rules.get(contact_id)):
                down = STAGE_ORDER.index(to_stage.value) < STAGE_ORDER.index(current.value)
                if move_cause == "score_threshold" and (cause in ("recompute", "rule_removed") or
                                                        (cause == "decay" and down)):
                    move_cause = cause
                changes.append({"contact_id": contact_id, "from_stage": current.value, "to_stage": to_stage.value,
                                "cause": move_cause, "detail": detail, "changed_at": now})
                current = to_stage
        if changes:
            write_stage_changes(session, changes, result)
        if fire:
            fire_triggers(session, triggers, changes, crossed, now, result)
    session.expire_all()


