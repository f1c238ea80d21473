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
4. triggers on a stage or a score threshold enrol in or exit a sequence in the same transaction, and
   queue hand-over deliveries (signed webhook, sales email) that RQ jobs send after the commit.

Machine opens and scanner clicks never reach the ledger: only hits classified human are read.
Hourly (and after a settings change) a full refresh applies decay to every scored contact and the
inactivity rules (N days without activity: "activity" is any ledger entry with positive points).
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from typing import cast as tcast

from sqlalchemy import (
    CursorResult,
    Float,
    Integer,
    Numeric,
    String,
    Table,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.orm import Session, aliased

from campaigns import sequences as sequences_service
from campaigns.db import Base, UTCDateTime, dialect_insert, now_utc
from campaigns.models import (
    Contact,
    DeliveryState,
    Enrollment,
    EnrollmentStatus,
    Event,
    Hit,
    HitClass,
    HitKind,
    Link,
    RuleKind,
    ScoreEntry,
    ScoreTrigger,
    ScoringRule,
    ScoringSettings,
    Sequence,
    Stage,
    StageChange,
    Suppression,
    TriggerAction,
    TriggerWhen,
    WebhookDelivery,
)
from campaigns.runtime import Services
from campaigns.sql_functions import among, ascii_lower, at_least_zero, days_between

log = logging.getLogger("nurture.scoring")

LOCK_KEY = "nurture:scoring:lock"
LOCK_TTL = 300
REFRESH_EVERY = timedelta(hours=1)  # decay of untouched contacts and inactivity rules
ANALYZE_AFTER = 10_000  # ledger rows written by one run
MAX_POINTS = 10_000
MAX_CAP = 1000
MAX_IDLE_DAYS = 3650

# Event names the built-in rule kinds count (custom_event rules name their own).
EVENT_KINDS = {
    RuleKind.FORM_SUBMITTED: "form_submitted",
    RuleKind.PAGE_VIEWED: "page_viewed",
    RuleKind.WEBINAR_ATTENDED: "webinar_attended",
    RuleKind.UNSUBSCRIBED: "unsubscribed",
}
# Bounces are read from the suppression list (reason hard_bounce), once per address: both the sender's
# 5xx at RCPT and a DSN put it there, while only the DSN path also records a "bounced" event.
HIT_KINDS = {RuleKind.HUMAN_OPEN: HitKind.OPEN, RuleKind.HUMAN_CLICK: HitKind.CLICK, RuleKind.LINK_CLICK: HitKind.CLICK}
SCORE_STAGES = (Stage.COLD, Stage.WARM, Stage.HOT)  # moved by the score in both directions
SALES_STAGES = (Stage.SQL, Stage.CUSTOMER)  # set by sales (UI) or the API
STAGE_ORDER = [s.value for s in Stage]
_EVENT_NAME = re.compile(r"^[^\x00-\x1f\x7f\s](?:[^\x00-\x1f\x7f]*[^\x00-\x1f\x7f\s])?$")
_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$", re.IGNORECASE)


class ScoringError(ValueError):
    """Invalid rule, settings or trigger input; the message says what to fix."""


# ------------------------------------------------------------------ settings and rules
def get_settings(session: Session, lock: bool = False) -> ScoringSettings:
    """The account's scoring settings and cursors (the single row, created on first use)."""
    query = select(ScoringSettings).where(ScoringSettings.id == 1)
    if lock and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    row = session.scalars(query).first()
    if row is None:
        session.execute(dialect_insert(session, ScoringSettings).values(id=1).on_conflict_do_nothing())
        row = session.scalars(query).one()
    return row


def update_settings(session: Session, *, warm_at: Any, hot_at: Any, half_life_days: Any, mql_when_hot: bool) -> ScoringSettings:
    """Change thresholds and decay (scoring UI); the next run refreshes every score with them."""
    warm, hot = _int(warm_at, "warm threshold", 0, 1_000_000), _int(hot_at, "hot threshold", 1, 1_000_000)
    if hot <= warm:
        raise ScoringError("the hot threshold must be above the warm threshold")
    settings = get_settings(session)
    settings.warm_at, settings.hot_at = warm, hot
    settings.half_life_days = _int(half_life_days, "half-life", 0, 3650)
    settings.mql_when_hot = bool(mql_when_hot)
    settings.last_decay_at = None  # forces the full refresh on the next run
    session.flush()
    return settings


def _int(value: Any, what: str, low: int, high: int) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise ScoringError(f"{what} must be a whole number") from None
    if not low <= number <= high:
        raise ScoringError(f"{what} must be between {low} and {high}")
    return number


def _line(value: Any, what: str, max_length: int, required: bool = False) -> str:
    text = "" if value is None else str(value).strip()
    if required and not text:
        raise ScoringError(f"{what} is required")
    if len(text) > max_length:
        raise ScoringError(f"{what} must have at most {max_length} characters")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise ScoringError(f"{what} must be a single line")
    return text


def clean_rule(fields: dict[str, Any]) -> dict[str, Any]:
    """Validate rule fields (UI form and API) into column values, or raise ScoringError."""
    try:
        kind = RuleKind(str(fields.get("kind", "")))
    except ValueError:
        raise ScoringError("kind must be one of: " + ", ".join(k.value for k in RuleKind)) from None
    out: dict[str, Any] = {
        "name": _line(fields.get("name"), "name", 200, required=True),
        "kind": kind,
        "points": _int(fields.get("points"), "points", -MAX_POINTS, MAX_POINTS),
        "daily_cap": _int(fields.get("daily_cap") or 0, "daily cap", 0, MAX_CAP),
        "event_name": _line(fields.get("event_name"), "event name", 100),
        "property_key": _line(fields.get("property_key"), "property", 100),
        "property_value": _line(fields.get("property_value"), "property value", 500),
        "link_url": _line(fields.get("link_url"), "link URL", 2000),
        "inactivity_days": _int(fields.get("inactivity_days") or 0, "inactivity days", 0, MAX_IDLE_DAYS),
        "sets_mql": bool(fields.get("sets_mql", False)),
        "active": bool(fields.get("active", True)),
    }
    if out["points"] == 0 and not out["sets_mql"]:
        raise ScoringError("points must not be 0 (unless the rule makes the contact an MQL)")
    if kind is RuleKind.CUSTOM_EVENT and not _EVENT_NAME.match(out["event_name"]):
        raise ScoringError("a custom event rule needs the event name")
    if kind is not RuleKind.CUSTOM_EVENT:
        out["event_name"] = ""
    if kind is RuleKind.LINK_CLICK and not out["link_url"]:
        raise ScoringError("a link rule needs the link URL (exact, or a prefix ending in *)")
    if kind is not RuleKind.LINK_CLICK:
        out["link_url"] = ""
    if kind is RuleKind.INACTIVITY:
        if out["inactivity_days"] < 1:
            raise ScoringError("an inactivity rule needs the number of days without activity")
        if out["points"] > 0:
            raise ScoringError("an inactivity rule takes points away: use a negative number")
        out["daily_cap"] = 0
    else:
        out["inactivity_days"] = 0
    if out["property_value"] and not out["property_key"]:
        raise ScoringError("a property value needs the property name")
    if out["property_key"] and (kind in HIT_KINDS or kind is RuleKind.INACTIVITY):
        raise ScoringError("only event rules can filter by a property")
    return out


def create_rule(session: Session, fields: dict[str, Any]) -> ScoringRule:
    """Add a scoring rule (UI, API); it scores activity recorded from now on (recompute for the past)."""
    rule = ScoringRule(**clean_rule(fields))
    session.add(rule)
    session.flush()
    return rule


def update_rule(session: Session, rule: ScoringRule, fields: dict[str, Any]) -> ScoringRule:
    """Change a rule; entries already in the ledger keep their points until a recompute."""
    for key, value in clean_rule({**_rule_fields(rule), **fields}).items():
        setattr(rule, key, value)
    session.flush()
    return rule


def delete_rule(session: Session, rule: ScoringRule, now: datetime | None = None) -> int:
    """Remove a rule and its ledger entries, then refresh the affected scores; returns contacts refreshed."""
    contact_ids = list(session.scalars(select(ScoreEntry.contact_id).where(ScoreEntry.rule_id == rule.id).distinct()))
    session.execute(delete(ScoreEntry).where(ScoreEntry.rule_id == rule.id))
    session.delete(rule)
    session.flush()
    result = ScoringResult()
    _refresh_scores(session, get_settings(session), now or now_utc(), contact_ids, result, cause="rule_removed")
    return len(contact_ids)


def _rule_fields(rule: ScoringRule) -> dict[str, Any]:
    return {c: getattr(rule, c) for c in (
        "name", "kind", "points", "daily_cap", "event_name", "property_key", "property_value", "link_url",
        "inactivity_days", "sets_mql", "active")}


# ------------------------------------------------------------------ the scoring step
@dataclass
class ScoringResult:
    """What one run did; counts["deliveries"] hand-overs wait for `webhooks.enqueue_due` after the commit."""

    counts: Counter[str] = field(default_factory=Counter)


def run_scoring(svc: Services, now: datetime | None = None, lock: bool = True) -> dict[str, int]:
    """Score everything recorded since the cursors, then enqueue hand-over deliveries (scheduler tick)."""
    from campaigns.webhooks import enqueue_due

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
    ranges = {
        "event": (settings.event_cursor_prev, hi_event),
        "hit": (settings.hit_cursor_prev, hi_hit),
        "bounce": (settings.bounce_cursor_prev, hi_bounce),
    }
    for rule in rules:
        if rule.kind is not RuleKind.INACTIVITY:
            _score_rule(session, rule, ranges, batch, now)
    settings.event_cursor_prev, settings.event_cursor = settings.event_cursor, hi_event
    settings.hit_cursor_prev, settings.hit_cursor = settings.hit_cursor, hi_hit
    settings.bounce_cursor_prev, settings.bounce_cursor = settings.bounce_cursor, hi_bounce

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
    session.execute(delete(ScoreEntry))
    settings.batch += 1
    batch = settings.batch
    hi = {
        "event": session.scalar(select(func.max(Event.id))) or 0,
        "hit": session.scalar(select(func.max(Hit.id))) or 0,
        "bounce": session.scalar(select(func.max(Suppression.id))) or 0,
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
    settings.last_decay_at = settings.last_run_at = now
    session.flush()
    _refresh_scores(session, settings, now, select(ScoreEntry.contact_id), result,
                    mql_rules=_mql_hits(session, batch), cause="recompute", fire=False)
    gone = sorted(set(scored_before) - set(session.scalars(select(ScoreEntry.contact_id).distinct())))
    if gone:  # no entries left under the current rules: back to 0
        _refresh_scores(session, settings, now, gone, result, cause="recompute", fire=False)
    return result


def _table(model: Any) -> Table:
    # Core inserts of plain dicts: the ORM's bulk path costs more per row than the database does.
    return Base.metadata.tables[model.__tablename__]


def _utc_day(session: Session, column: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)  # SQLite stores the UTC time as text


def _candidates(session: Session, rule: ScoringRule, ranges: dict[str, tuple[int, int]]) -> list[Any]:
    """SELECTs of (contact_id, source, source_ref, occurred_at, order_id) this rule may score."""
    selects: list[Any] = []
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
        session.execute(dialect_insert(session, _table(ScoreEntry)).on_conflict_do_nothing(), values)


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


def _round(value: float | None) -> int:
    # The same rounding as _rounded, for the chart computed in Python.
    v = round(float(value or 0.0), 6)
    return int(math.floor(v + 0.5)) if v >= 0 else -int(math.floor(0.5 - v))


def score_stage(score: int, settings: ScoringSettings) -> Stage:
    """The stage a score alone gives: cold, warm or hot."""
    if score >= settings.hot_at:
        return Stage.HOT
    if score >= settings.warm_at:
        return Stage.WARM
    return Stage.COLD


def _stage_path(current: Stage, score: int, settings: ScoringSettings, mql_rule: str | None) -> list[tuple[Stage, str, str]]:
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
            for to_stage, move_cause, detail in _stage_path(current, score, settings, mql_rules.get(contact_id)):
                down = STAGE_ORDER.index(to_stage.value) < STAGE_ORDER.index(current.value)
                if move_cause == "score_threshold" and (cause in ("recompute", "rule_removed") or
                                                        (cause == "decay" and down)):
                    move_cause = cause
                changes.append({"contact_id": contact_id, "from_stage": current.value, "to_stage": to_stage.value,
                                "cause": move_cause, "detail": detail, "changed_at": now})
                current = to_stage
        if changes:
            _write_stage_changes(session, changes, result)
        if fire:
            _fire(session, triggers, changes, crossed, now, result)
    session.expire_all()


def _write_stage_changes(session: Session, changes: list[dict[str, Any]], result: ScoringResult) -> None:
    final: dict[str, list[int]] = defaultdict(list)
    last: dict[int, str] = {}
    for change in changes:
        last[change["contact_id"]] = change["to_stage"]
    for contact_id, stage in last.items():
        final[stage].append(contact_id)
    session.execute(insert(_table(StageChange)), changes)
    for stage, ids in final.items():  # one UPDATE per stage, not one per contact
        for start in range(0, len(ids), 5000):
            session.execute(
                update(Contact).where(among(session, Contact.id, ids[start:start + 5000])).values(stage=Stage(stage))
                .execution_options(synchronize_session=False)
            )
    result.counts["stage_changes"] += len(changes)


# ------------------------------------------------------------------ stages set by people
def set_stage(
    session: Session, contact: Contact, stage: Stage | str, cause: str, detail: str = "", now: datetime | None = None,
) -> ScoringResult:
    """Set a contact's stage by hand (sales in the UI: cause "sales"; the API: cause "api"), record it and
    fire the stage's triggers. Only MQL, SQL and customer may be set this way."""
    try:
        target = Stage(str(stage))
    except ValueError:
        raise ScoringError("stage must be one of: " + ", ".join(s.value for s in Stage)) from None
    if target not in (Stage.MQL, *SALES_STAGES):
        raise ScoringError("only mql, sql and customer can be set by hand; cold, warm and hot follow the score")
    result = ScoringResult()
    if contact.stage is target:
        return result
    now = now or now_utc()
    change = {"contact_id": contact.id, "from_stage": contact.stage.value, "to_stage": target.value,
              "cause": cause[:50], "detail": detail[:2000], "changed_at": now}
    session.add(StageChange(**change))
    contact.stage = target
    session.flush()
    result.counts["stage_changes"] += 1
    triggers = list(session.scalars(select(ScoreTrigger).where(ScoreTrigger.active.is_(True))))
    _fire(session, triggers, [change], [], now, result)
    return result


def score_history(session: Session, contact_id: int, limit: int = 200) -> list[dict[str, Any]]:
    """A contact's ledger, newest first, with the rule names and a running total (contact page, API)."""
    rows = session.execute(
        select(ScoreEntry, ScoringRule.name, ScoringRule.kind)
        .join(ScoringRule, ScoringRule.id == ScoreEntry.rule_id)
        .where(ScoreEntry.contact_id == contact_id)
        .order_by(ScoreEntry.occurred_at.desc(), ScoreEntry.id.desc())
        .limit(limit)
    ).all()
    return [{
        "id": e.id, "rule_id": e.rule_id, "rule": name, "kind": str(kind), "points": e.points, "source": e.source,
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
        series.append((at.date().isoformat(), _round(total)))
    return series


# ------------------------------------------------------------------ triggers
def clean_trigger(session: Session, fields: dict[str, Any]) -> dict[str, Any]:
    """Validate trigger fields (UI form, API) into column values, or raise ScoringError."""
    try:
        when = TriggerWhen(str(fields.get("when", "")))
        action = TriggerAction(str(fields.get("action", "")))
    except ValueError:
        raise ScoringError("choose when the trigger fires and what it does") from None
    out: dict[str, Any] = {
        "name": _line(fields.get("name"), "name", 200, required=True), "when": when, "action": action,
        "stage": "", "score_at": 0, "sequence_id": None, "email_to": "", "webhook_url": "",
        "active": bool(fields.get("active", True)),
    }
    if when is TriggerWhen.STAGE:
        stage = str(fields.get("stage") or "")
        if stage not in STAGE_ORDER:
            raise ScoringError("choose the stage that fires the trigger")
        out["stage"] = stage
    else:
        out["score_at"] = _int(fields.get("score_at"), "score threshold", 1, 1_000_000)
    if action in (TriggerAction.ENROLL, TriggerAction.EXIT):
        raw = fields.get("sequence_id")
        try:
            sequence_id = int(str(raw))
        except (TypeError, ValueError):
            sequence_id = 0
        if not sequence_id or session.get(Sequence, sequence_id) is None:
            raise ScoringError("choose the sequence")
        out["sequence_id"] = sequence_id
    elif action is TriggerAction.EMAIL:
        from campaigns.sending import is_valid_address

        address = _line(fields.get("email_to"), "sales address", 254, required=True)
        if not is_valid_address(address):
            raise ScoringError(f"{address!r} is not a valid email address")
        out["email_to"] = address
    else:
        url = _line(fields.get("webhook_url"), "webhook URL", 2000, required=True)
        if not _URL.match(url):
            raise ScoringError("the webhook URL must start with http:// or https://")
        out["webhook_url"] = url
    return out


def create_trigger(session: Session, fields: dict[str, Any]) -> ScoreTrigger:
    """Add a trigger (UI, API); webhook triggers get their signing secret here."""
    from campaigns.webhooks import new_secret

    trigger = ScoreTrigger(**clean_trigger(session, fields))
    if trigger.action is TriggerAction.WEBHOOK:
        trigger.webhook_secret = new_secret()
    session.add(trigger)
    session.flush()
    return trigger


def update_trigger(session: Session, trigger: ScoreTrigger, fields: dict[str, Any]) -> ScoreTrigger:
    """Change a trigger; a webhook trigger keeps its secret (or gets one when it becomes a webhook)."""
    from campaigns.webhooks import new_secret

    for key, value in clean_trigger(session, fields).items():
        setattr(trigger, key, value)
    if trigger.action is TriggerAction.WEBHOOK and not trigger.webhook_secret:
        trigger.webhook_secret = new_secret()
    session.flush()
    return trigger


def _fire(
    session: Session, triggers: list[ScoreTrigger], changes: list[dict[str, Any]],
    crossed: list[tuple[int, ScoreTrigger, int]], now: datetime, result: ScoringResult,
) -> None:
    """Run the triggers of these stage changes and score crossings (same transaction as the change)."""
    from campaigns.webhooks import delivery_row

    by_stage: dict[str, list[ScoreTrigger]] = defaultdict(list)
    for trigger in triggers:
        if trigger.when is TriggerWhen.STAGE:
            by_stage[trigger.stage].append(trigger)
    firings: list[tuple[ScoreTrigger, int, dict[str, Any]]] = []
    for change in changes:
        for trigger in by_stage.get(change["to_stage"], []):
            firings.append((trigger, change["contact_id"], {
                "type": "contact.stage_changed",
                "stage_change": {"from": change["from_stage"], "to": change["to_stage"], "cause": change["cause"],
                                 "detail": change["detail"], "changed_at": now.isoformat()},
            }))
    for contact_id, trigger, score in crossed:
        firings.append((trigger, contact_id, {"type": "contact.score_reached", "threshold": trigger.score_at,
                                              "score": score}))
    if not firings:
        return
    session.expire_all()  # scores and stages were just written with set-based UPDATEs
    wanted = sorted({f[1] for f in firings})
    contacts: dict[int, Contact] = {}
    for start in range(0, len(wanted), 5000):
        chunk = wanted[start:start + 5000]
        contacts.update((c.id, c) for c in session.scalars(select(Contact).where(among(session, Contact.id, chunk))))
    deliveries: list[dict[str, Any]] = []
    exits: dict[tuple[int, str], list[int]] = defaultdict(list)
    for trigger, contact_id, event in firings:
        contact = contacts.get(contact_id)
        if contact is None:
            continue
        result.counts[f"trigger_{trigger.action.value}"] += 1
        if trigger.action is TriggerAction.ENROLL and trigger.sequence_id:
            sequence = session.get(Sequence, trigger.sequence_id)
            if sequence is not None and sequence_enrollable(sequence):
                sequences_service.enroll_contact(session, contact, sequence, source_event=f"trigger:{trigger.id}", now=now)
        elif trigger.action is TriggerAction.EXIT and trigger.sequence_id:
            exits[(trigger.sequence_id, f"trigger: {trigger.name}"[:200])].append(contact.id)
        elif trigger.action in (TriggerAction.EMAIL, TriggerAction.WEBHOOK):
            deliveries.append(delivery_row(trigger, contact, event, now))
    for (sequence_id, reason), contact_ids in exits.items():
        enrollment_ids = list(session.scalars(select(Enrollment.id).where(
            Enrollment.sequence_id == sequence_id, among(session, Enrollment.contact_id, contact_ids),
            Enrollment.status == EnrollmentStatus.ACTIVE)))
        sequences_service.exit_enrollments(session, enrollment_ids, reason)
    if deliveries:  # sent by enqueue_due after the commit, which finds them by state
        session.execute(insert(_table(WebhookDelivery)), deliveries)
        result.counts["deliveries"] += len(deliveries)


def sequence_enrollable(sequence: Sequence) -> bool:
    """Triggers enrol only into active sequences (a paused or draft one would hold the contact silently)."""
    return str(sequence.status) == "active"


def pending_deliveries(session: Session) -> int:
    """How many hand-over deliveries wait to be sent or retried (scoring page)."""
    return session.scalar(select(func.count()).select_from(WebhookDelivery).where(
        WebhookDelivery.state.in_((DeliveryState.PENDING, DeliveryState.RETRYING)))) or 0


def rule_counts(session: Session) -> dict[int, int]:
    """Ledger entries per rule (the rules list)."""
    return {rid: n for rid, n in session.execute(
        select(ScoreEntry.rule_id, func.count()).group_by(ScoreEntry.rule_id))}


def stage_counts(session: Session) -> dict[str, int]:
    """Contacts per stage (the scoring page's summary)."""
    return {str(stage): n for stage, n in session.execute(select(Contact.stage, func.count()).group_by(Contact.stage))}


__all__ = [
    "ScoringError", "ScoringResult", "clean_rule", "create_rule", "create_trigger", "decayed_scores",
    "delete_rule", "get_settings", "recompute", "run_scoring", "score_history", "score_new", "score_series",
    "score_stage", "set_stage", "stage_timeline", "update_rule", "update_settings", "update_trigger",
]
