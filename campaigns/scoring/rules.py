"""Scoring rules and settings: validation, create and update, counts."""

from __future__ import annotations

import math
import re
from typing import Any

from sqlalchemy import (
    Table,
    func,
    select,
)
from sqlalchemy.orm import Session

from campaigns.audience.web_conditions import PatternError, clean_pattern
from campaigns.db import Base, dialect_insert
from campaigns.models import (
    HitKind,
    RuleKind,
    ScoreEntry,
    ScoringRule,
    ScoringSettings,
)

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

_EVENT_NAME = re.compile(r"^[^\x00-\x1f\x7f\s](?:[^\x00-\x1f\x7f]*[^\x00-\x1f\x7f\s])?$")

WEBHOOK_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$", re.IGNORECASE)


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
    warm, hot = clean_int(warm_at, "warm threshold", 0, 1_000_000), clean_int(hot_at, "hot threshold", 1, 1_000_000)
    if hot <= warm:
        raise ScoringError("the hot threshold must be above the warm threshold")
    settings = get_settings(session)
    settings.warm_at, settings.hot_at = warm, hot
    settings.half_life_days = clean_int(half_life_days, "half-life", 0, 3650)
    settings.mql_when_hot = bool(mql_when_hot)
    settings.last_decay_at = None  # forces the full refresh on the next run
    session.flush()
    return settings


def clean_int(value: Any, what: str, low: int, high: int) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise ScoringError(f"{what} must be a whole number") from None
    if not low <= number <= high:
        raise ScoringError(f"{what} must be between {low} and {high}")
    return number


def clean_line(value: Any, what: str, max_length: int, required: bool = False) -> str:
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
        "name": clean_line(fields.get("name"), "name", 200, required=True),
        "kind": kind,
        "points": clean_int(fields.get("points"), "points", -MAX_POINTS, MAX_POINTS),
        "daily_cap": clean_int(fields.get("daily_cap") or 0, "daily cap", 0, MAX_CAP),
        "event_name": clean_line(fields.get("event_name"), "event name", 100),
        "property_key": clean_line(fields.get("property_key"), "property", 100),
        "property_value": clean_line(fields.get("property_value"), "property value", 500),
        "link_url": clean_line(fields.get("link_url"), "link URL", 2000),
        "inactivity_days": clean_int(fields.get("inactivity_days") or 0, "inactivity days", 0, MAX_IDLE_DAYS),
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
    if kind is RuleKind.PAGE_VISIT:
        out["link_url"] = clean_page_pattern(fields.get("page_pattern") or fields.get("link_url"))
    elif kind is not RuleKind.LINK_CLICK:
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
    if out["property_key"] and (kind in HIT_KINDS or kind in (RuleKind.INACTIVITY, RuleKind.PAGE_VISIT)):
        raise ScoringError("only event rules can filter by a property")
    return out


def clean_page_pattern(value: Any) -> str:
    """A page-visit rule's page pattern (/pricing*, https://example.com/case-studies/*), or ScoringError."""
    try:
        return clean_pattern(value)
    except PatternError:
        raise ScoringError("a page visit rule needs the page: a path such as /pricing* or a full address "
                           "(at most 500 characters, no spaces; * matches anything)") from None


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


def _rule_fields(rule: ScoringRule) -> dict[str, Any]:
    return {c: getattr(rule, c) for c in (
        "name", "kind", "points", "daily_cap", "event_name", "property_key", "property_value", "link_url",
        "inactivity_days", "sets_mql", "active")}


def core_table(model: Any) -> Table:
    # Core inserts of plain dicts: the ORM's bulk path costs more per row than the database does.
    return Base.metadata.tables[model.__tablename__]


def round_points(value: float | None) -> int:
    # The same rounding as _rounded, for the chart computed in Python.
    v = round(float(value or 0.0), 6)
    return int(math.floor(v + 0.5)) if v >= 0 else -int(math.floor(0.5 - v))


def rule_counts(session: Session) -> dict[int, int]:
    """Ledger entries per rule (the rules list)."""
    return {rid: n for rid, n in session.execute(  # journey points have no rule
        select(ScoreEntry.rule_id, func.count()).where(ScoreEntry.rule_id.is_not(None)).group_by(ScoreEntry.rule_id))
        if rid is not None}
