"""Segments: a JSON rule tree compiled to one SQL query over contacts (SQLite and PostgreSQL).

A rule tree is ``{"all": [...]}`` or ``{"any": [...]}`` whose items are conditions or nested groups.
A condition is ``{"field": "company", "op": "contains", "value": "acme"}``. Text comparisons
(eq, neq, in, contains, starts_with) ignore ASCII case; gt/lt compare numbers (a custom attribute
only matches when it holds a JSON number); ``exists`` means "has a non-empty value" (value false
inverts it); ``neq`` also matches contacts without a value.

Numbers also take ``between`` (``"value": [low, high]``, inclusive: a score range). ``stage`` compares the
stored value directly (no lower()), so an index on it can serve ``in``.

Behaviour and membership conditions, each an EXISTS / NOT EXISTS subquery correlated on the contact:
- ``{"event": "webinar_attended", "occurred": true, "within_days": 30, "property": "topic",
  "value": "AI"}``: an event by name (occurred false = no such event), optionally recent, optionally with
  one property equal to a value (ASCII case ignored, like attribute ``eq``);
- ``{"engagement": "opened" | "clicked" | "not_opened" | "not_clicked", "broadcast_id": 3}`` (or
  ``"step_id"``, or neither = any mail; optional ``within_days``): HUMAN hits only (machine opens and
  scanner clicks never count); a click implies an open; "not_*" means the mail was delivered to the
  contact and it has no such hit;
- ``{"list_id": 5, "member": true}``: on a static list (member false = not on it).
See docs/segments.md. Other kinds of condition plug in through `register_condition(key, builder)`.

`broadcast_audience` (the scheduler's broadcast planner, the A/B set-up) is the one query of who a
broadcast reaches. Static lists are campaigns.audience.lists; segment triggers and exits
campaigns.audience.segment_triggers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Numeric,
    Select,
    String,
    and_,
    false,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from campaigns.db import UTCDateTime, now_utc
from campaigns.leads.contacts import ATTRIBUTE_KEY
from campaigns.models import (
    Broadcast,
    Contact,
    ContactList,
    ContactListMember,
    ContactStatus,
    Event,
    Hit,
    HitClass,
    HitKind,
    Segment,
    Send,
    SendStatus,
    Stage,
    Step,
)
from campaigns.models import sends as seq
from campaigns.models.contacts import address_suppressed
from campaigns.sql_functions import ascii_lower_text, compiled_args
from campaigns.text import TextError, check_json
from campaigns.users import get_account

TEXT_FIELDS: dict[str, Any] = {
    "email": Contact.email,
    "first_name": Contact.first_name,
    "last_name": Contact.last_name,
    "company": Contact.company,
    "job_title": Contact.job_title,
    "source": Contact.source,
    # stored through a StrEnum type: compare as plain text so partial values bind cleanly
    "stage": type_coerce(Contact.stage, String),
    "timezone": Contact.timezone,
    "consent_method": Contact.consent_method,
}
NUMBER_FIELDS: dict[str, Any] = {"score": Contact.score}
TEXT_OPS = {"eq", "neq", "contains", "starts_with", "in", "exists"}
NUMBER_OPS = {"eq", "neq", "gt", "lt", "in", "exists", "between"}
ALL_OPS = TEXT_OPS | NUMBER_OPS
MAX_DEPTH = 6
MAX_CONDITIONS = 200
MAX_DAYS = 3650
ENGAGEMENTS = ("opened", "clicked", "not_opened", "not_clicked")


log = logging.getLogger("nurture.segments")


class SegmentError(ValueError):
    """A rule tree that cannot be compiled; the message says which part and why (shown to users).

    `template` and `params` let the UI translate it: `_(exc.template, **exc.params)` (English text is the
    key, Japanese in campaigns/translations/segments.py); str(exc) is the English message."""

    def __init__(self, template: str, **params: Any) -> None:
        self.template = template
        self.params = params
        super().__init__(template % params if params else template)

    def translated(self, gettext: Callable[..., str]) -> str:
        """The message in the UI's language (views pass campaigns.i18n.gettext)."""
        return gettext(self.template, **self.params)


# ------------------------------------------------------------------ JSON attribute access
# Each takes (column, key, json_path): PostgreSQL uses the key with ->>, SQLite the path with json_*().
class json_text(FunctionElement[str]):
    """The text form of a custom attribute (NULL when missing), the same on SQLite and PostgreSQL."""

    type = String()
    inherit_cache = True
    name = "json_text"


class json_number(FunctionElement[Any]):
    """A custom attribute as a number when it holds a JSON number, else NULL."""

    type = Numeric()
    inherit_cache = True
    name = "json_number"


@compiles(json_text, "postgresql")
def _json_text_pg(element: json_text, compiler: Any, **kw: Any) -> str:
    col, key, _path = compiled_args(element, compiler, kw)
    return f"({col} ->> {key})"


@compiles(json_text, "sqlite")
def _json_text_sqlite(element: json_text, compiler: Any, **kw: Any) -> str:
    col, _key, p = compiled_args(element, compiler, kw)
    # json_extract returns 1/0 for booleans and native numbers; spell them like PostgreSQL's ->> does.
    return (
        f"(CASE json_type({col}, {p}) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
        f"WHEN 'null' THEN NULL ELSE CAST(json_extract({col}, {p}) AS TEXT) END)"
    )


@compiles(json_number, "postgresql")
def _json_number_pg(element: json_number, compiler: Any, **kw: Any) -> str:
    col, key, _path = compiled_args(element, compiler, kw)
    return f"(CASE WHEN jsonb_typeof({col} -> {key}) = 'number' THEN ({col} ->> {key})::numeric END)"


@compiles(json_number, "sqlite")
def _json_number_sqlite(element: json_number, compiler: Any, **kw: Any) -> str:
    col, _key, p = compiled_args(element, compiler, kw)
    return f"(CASE WHEN json_type({col}, {p}) IN ('integer', 'real') THEN json_extract({col}, {p}) END)"


def _attr_text(key: str) -> ColumnElement[Any]:
    return json_text(Contact.attributes, literal(key), literal(f'$."{key}"'))


def _attr_number(key: str) -> ColumnElement[Any]:
    return json_number(Contact.attributes, literal(key), literal(f'$."{key}"'))


# ------------------------------------------------------------------ compiling conditions
# (condition, its path for errors, the "now" that "within N days" counts back from) -> the WHERE clause
ConditionBuilder = Callable[[dict[str, Any], str, datetime], ColumnElement[bool]]
_EXTRA_BUILDERS: dict[str, ConditionBuilder] = {}


def register_condition(key: str, builder: ConditionBuilder) -> None:
    """Teach the compiler a new kind of condition: dicts carrying `key` go to `builder` (website visits:
    campaigns.audience.web_conditions). The builder raises SegmentError naming `where` for bad input."""
    _EXTRA_BUILDERS[key] = builder


def _scalar_text(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise SegmentError("%(where)s: value must be text or a number", where=where)


def _number(value: Any, where: str) -> float | int:
    if isinstance(value, bool):
        raise SegmentError("%(where)s: value must be a number", where=where)
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise SegmentError("%(where)s: value must be a number", where=where) from None
    if number != number or number in (float("inf"), float("-inf")):
        raise SegmentError("%(where)s: value must be a finite number", where=where)
    # Whole numbers bind as integers: "score >= 50.0" would make PostgreSQL cast the column to double
    # precision, lose its statistics and plan as if almost no contact matched (a 40x slower plan seen).
    if number.is_integer() and abs(number) < 2**53:
        return int(number)
    return number


def _text_condition(expr: ColumnElement[Any], op: str, value: Any, where: str) -> ColumnElement[bool]:
    lowered = func.lower(expr)
    if op == "exists":
        has = and_(expr.is_not(None), expr != "")
        return has if value in (None, True, "true", 1) else not_(has)
    if op == "in":
        if not isinstance(value, list) or not value:
            raise SegmentError("%(where)s: 'in' needs a non-empty list", where=where)
        if len(value) > 1000:
            raise SegmentError("%(where)s: at most 1000 values", where=where)
        return lowered.in_([ascii_lower_text(_scalar_text(v, where)) for v in value])
    text = ascii_lower_text(_scalar_text(value, where))
    if op == "eq":
        return lowered == text
    if op == "neq":
        return or_(expr.is_(None), lowered != text)
    if op == "contains":
        return lowered.contains(text, autoescape=True)
    if op == "starts_with":
        return lowered.startswith(text, autoescape=True)
    raise SegmentError("%(where)s: operator %(op)s does not apply to text", where=where, op=repr(op))


def _number_condition(expr: ColumnElement[Any], op: str, value: Any, where: str) -> ColumnElement[bool]:
    if op == "exists":
        return expr.is_not(None) if value in (None, True, "true", 1) else expr.is_(None)
    if op == "in":
        if not isinstance(value, list) or not value:
            raise SegmentError("%(where)s: 'in' needs a non-empty list", where=where)
        return expr.in_([_number(v, where) for v in value])
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            raise SegmentError("%(where)s: 'between' needs [low, high]", where=where)
        low, high = _number(value[0], where), _number(value[1], where)
        if low > high:
            raise SegmentError("%(where)s: 'between' needs low <= high", where=where)
        return expr.between(low, high)
    number = _number(value, where)
    if op == "eq":
        return expr == number
    if op == "neq":
        return or_(expr.is_(None), expr != number)
    if op == "gt":
        return expr > number
    if op == "lt":
        return expr < number
    raise SegmentError("%(where)s: operator %(op)s does not apply to numbers", where=where, op=repr(op))


@dataclass
class _Context:
    now: datetime
    budget: int = 0
    # ids the rule tree refers to, so validate_rules can say which ones do not exist
    refs: dict[str, set[int]] = field(default_factory=lambda: {"list": set(), "broadcast": set(), "step": set()})


def _stage_condition(op: str, value: Any, where: str) -> ColumnElement[bool] | None:
    """Stage values are lower-case enum values: compare the column itself so an index can serve it."""
    valid = {s.value for s in Stage}
    if op in ("eq", "neq"):
        stage = ascii_lower_text(str(value))
        if stage not in valid:
            raise SegmentError("%(where)s: unknown stage %(value)s", where=where, value=repr(value))
        return Contact.stage == stage if op == "eq" else Contact.stage != stage
    if op == "in":
        if not isinstance(value, list) or not value:
            raise SegmentError("%(where)s: 'in' needs a non-empty list", where=where)
        stages = {ascii_lower_text(_scalar_text(v, where)) for v in value}
        unknown = stages - valid
        if unknown:
            raise SegmentError("%(where)s: unknown stage %(stage)s", where=where, stage=repr(sorted(unknown)[0]))
        return Contact.stage.in_(sorted(stages))
    return None  # contains, starts_with, exists: the generic text comparison


def _positive_id(cond: dict[str, Any], key: str, where: str) -> int:
    value = cond.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2**63 - 1:
        raise SegmentError("%(where)s: %(key)s must be a positive whole number", where=where, key=key)
    return value


def _since(cond: dict[str, Any], ctx: _Context, where: str) -> Any:
    """The bound "now - within_days" (None when the condition has no time limit)."""
    days = cond.get("within_days")
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise SegmentError("%(where)s: within_days must be a whole number from 1 to %(max)s", where=where, max=MAX_DAYS)
    return literal(ctx.now - timedelta(days=days), UTCDateTime())


def _flag(cond: dict[str, Any], key: str, where: str) -> bool:
    value = cond.get(key, True)
    if not isinstance(value, bool):
        raise SegmentError("%(where)s: %(key)s must be true or false", where=where, key=key)
    return value


def _event_condition(cond: dict[str, Any], ctx: _Context, where: str) -> ColumnElement[bool]:
    name = cond.get("event")
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise SegmentError("%(where)s: event must be an event name (at most 100 characters)", where=where)
    unknown = set(cond) - {"event", "occurred", "within_days", "property", "value"}
    if unknown:
        raise SegmentError("%(where)s: unknown key(s) %(keys)s in an event condition", where=where, keys=', '.join(sorted(unknown)))
    occurred = _flag(cond, "occurred", where)
    probe = select(literal(1)).select_from(Event).where(Event.contact_id == Contact.id, Event.name == name.strip())
    since = _since(cond, ctx, where)
    if since is not None:
        probe = probe.where(Event.occurred_at >= since)
    prop = cond.get("property")
    if prop is not None:
        if not isinstance(prop, str) or not ATTRIBUTE_KEY.match(prop):
            raise SegmentError("%(where)s: invalid property name %(prop)s", where=where, prop=repr(prop))
        wanted = ascii_lower_text(_scalar_text(cond.get("value"), where))
        text = json_text(Event.properties, literal(prop), literal(f'$."{prop}"'))
        probe = probe.where(func.lower(text) == wanted)
    found = probe.exists()
    return found if occurred else ~found


def _engagement_condition(cond: dict[str, Any], ctx: _Context, where: str) -> ColumnElement[bool]:
    kind = cond.get("engagement")
    if kind not in ENGAGEMENTS:
        raise SegmentError("%(where)s: engagement must be one of %(kinds)s", where=where, kinds=', '.join(ENGAGEMENTS))
    unknown = set(cond) - {"engagement", "broadcast_id", "step_id", "within_days"}
    if unknown:
        raise SegmentError("%(where)s: unknown key(s) %(keys)s in an engagement condition", where=where, keys=', '.join(sorted(unknown)))
    if "broadcast_id" in cond and "step_id" in cond:
        raise SegmentError("%(where)s: give a broadcast_id or a step_id, not both", where=where)
    target: ColumnElement[bool] | None = None
    if "broadcast_id" in cond:
        broadcast_id = _positive_id(cond, "broadcast_id", where)
        ctx.refs["broadcast"].add(broadcast_id)
        target = Send.broadcast_id == broadcast_id
    elif "step_id" in cond:
        step_id = _positive_id(cond, "step_id", where)
        ctx.refs["step"].add(step_id)
        target = Send.step_id == step_id
    since = _since(cond, ctx, where)
    # A click implies the mail was opened (images blocked): "opened" counts human opens and clicks.
    kinds = [HitKind.CLICK] if kind.endswith("clicked") else [HitKind.OPEN, HitKind.CLICK]
    # The classification as a literal (a planner can match literals against partial index predicates).
    human = Hit.classification == literal_column(f"'{HitClass.HUMAN.value}'")
    hit = select(literal(1)).select_from(Hit).where(Hit.contact_id == Contact.id, human, Hit.kind.in_(kinds))
    if target is not None:
        hit = hit.join(Send, Send.id == Hit.send_id).where(target)
    if since is not None:
        hit = hit.where(Hit.occurred_at >= since)
    if not kind.startswith("not_"):
        return hit.exists()
    # "Did not open": the mail reached the contact, and no human open (or click) followed.
    delivered = (
        select(literal(1)).select_from(Send).where(Send.contact_id == Contact.id, Send.status == SendStatus.SENT)
    )
    if target is not None:
        delivered = delivered.where(target)
    if since is not None:
        delivered = delivered.where(Send.sent_at >= since)
    return and_(delivered.exists(), ~hit.exists())


def _list_condition(cond: dict[str, Any], ctx: _Context, where: str) -> ColumnElement[bool]:
    list_id = _positive_id(cond, "list_id", where)
    unknown = set(cond) - {"list_id", "member"}
    if unknown:
        raise SegmentError("%(where)s: unknown key(s) %(keys)s in a list condition", where=where, keys=', '.join(sorted(unknown)))
    ctx.refs["list"].add(list_id)
    found = (
        select(literal(1))
        .where(ContactListMember.contact_id == Contact.id, ContactListMember.list_id == list_id)
        .exists()
    )
    return found if _flag(cond, "member", where) else ~found


def _condition(cond: dict[str, Any], where: str, ctx: _Context) -> ColumnElement[bool]:
    if "event" in cond:
        return _event_condition(cond, ctx, where)
    if "engagement" in cond:
        return _engagement_condition(cond, ctx, where)
    if "list_id" in cond:
        return _list_condition(cond, ctx, where)
    for key, builder in _EXTRA_BUILDERS.items():
        if key in cond:
            return builder(cond, where, ctx.now)
    field = cond.get("field")
    op = cond.get("op")
    value = cond.get("value")
    if not isinstance(field, str) or not field:
        raise SegmentError("%(where)s: a condition needs a 'field'", where=where)
    if op not in ALL_OPS:
        raise SegmentError("%(where)s: unknown operator %(op)s (use one of %(ops)s)", where=where, op=repr(op), ops=', '.join(sorted(ALL_OPS)))
    if field.startswith("attributes."):
        key = field[len("attributes."):]
        if not ATTRIBUTE_KEY.match(key):
            raise SegmentError("%(where)s: invalid attribute name %(key)s", where=where, key=repr(key))
        if op in ("gt", "lt", "between"):
            return _number_condition(_attr_number(key), op, value, where)
        return _text_condition(_attr_text(key), op, value, where)
    if field in NUMBER_FIELDS:
        return _number_condition(NUMBER_FIELDS[field], op, value, where)
    if field in TEXT_FIELDS:
        if field == "stage":
            direct = _stage_condition(op, value, where)
            if direct is not None:
                return direct
        return _text_condition(TEXT_FIELDS[field], op, value, where)
    raise SegmentError("%(where)s: unknown field %(field)s", where=where, field=repr(field))


def _group(node: Any, where: str, depth: int, ctx: _Context) -> ColumnElement[bool]:
    if not isinstance(node, dict):
        raise SegmentError("%(where)s: expected an object", where=where)
    if "all" in node or "any" in node:
        if depth > MAX_DEPTH:
            raise SegmentError("%(where)s: groups nested too deeply (max %(max)s)", where=where, max=MAX_DEPTH)
        kind = "all" if "all" in node else "any"
        items = node[kind]
        if not isinstance(items, list):
            raise SegmentError("%(where)s.%(kind)s: expected a list", where=where, kind=kind)
        parts = [_group(item, f"{where}.{kind}[{i}]", depth + 1, ctx) for i, item in enumerate(items)]
        if kind == "all":
            return and_(true(), *parts)
        return or_(false(), *parts)
    ctx.budget += 1
    if ctx.budget > MAX_CONDITIONS:
        raise SegmentError("at most %(max)s conditions", max=MAX_CONDITIONS)
    return _condition(node, where, ctx)


def _compile(rules: dict[str, Any] | None, now: datetime | None) -> tuple[ColumnElement[bool], _Context]:
    ctx = _Context(now=now or now_utc())
    if not rules:
        return true(), ctx
    # The text rule (campaigns.text) on every value and key: a NUL cannot go into PostgreSQL and a broken
    # character cannot be bound by SQLite, so such a tree, even one stored before the rule, is refused here
    # with its reason instead of failing inside the database (the broadcast planner, pages, counts).
    try:
        check_json(rules, "rules")
    except TextError as exc:
        if exc.reason == "invalid Unicode":
            raise SegmentError("one of the conditions holds a broken character (invalid Unicode) at %(where)s",
                               where=exc.what) from None
        raise SegmentError("one of the conditions holds text that cannot be used (%(problem)s)",
                           problem=str(exc)) from None
    return _group(rules, "rules", 0, ctx), ctx


def compile_rules(rules: dict[str, Any] | None, now: datetime | None = None) -> ColumnElement[bool]:
    """The WHERE clause of a rule tree ("within N days" counts back from `now`); raises SegmentError
    with a readable reason (views, API)."""
    return _compile(rules, now)[0]


def validate_rules(rules: Any, session: Session | None = None) -> None:
    """Raise SegmentError if the rule tree cannot be compiled, or (given a session) names a list,
    broadcast or sequence step that does not exist (segment forms, the live count and the API)."""
    if not isinstance(rules, dict):
        raise SegmentError("rules must be an object like {\"all\": [...]}")
    if rules and "all" not in rules and "any" not in rules:
        raise SegmentError("rules must start with \"all\" or \"any\"")
    _, ctx = _compile(rules, None)
    if session is None:
        return
    for what, model in (("list", ContactList), ("broadcast", Broadcast), ("step", Step)):
        wanted = ctx.refs[what]
        if not wanted:
            continue
        found = set(session.scalars(select(model.id).where(model.id.in_(sorted(wanted)))))
        missing = sorted(wanted - found)
        if missing:
            template = {
                "list": "rules: list %(id)s does not exist",
                "broadcast": "rules: broadcast %(id)s does not exist",
                "step": "rules: sequence step %(id)s does not exist",
            }[what]
            raise SegmentError(template, id=missing[0])


def not_suppressed() -> ColumnElement[bool]:
    """Contacts whose address, in any letter case, is not on the suppression list (segments, audiences)."""
    return ~address_suppressed()


def segment_contact_ids(rules: dict[str, Any] | None, now: datetime | None = None) -> Select[Any]:
    """Select the ids of active, unsuppressed contacts matching a rule tree (broadcasts, enrolment)."""
    return select(Contact.id).where(
        Contact.status == ContactStatus.ACTIVE, not_suppressed(), compile_rules(rules, now)
    )


def count_segment(session: Session, rules: dict[str, Any] | None, now: datetime | None = None) -> int:
    """How many contacts a rule tree selects now (segment pages' live count, broadcast forms)."""
    sub = segment_contact_ids(rules, now).subquery()
    return int(session.scalar(select(func.count()).select_from(sub)) or 0)


def sample_segment(
    session: Session, rules: dict[str, Any] | None, limit: int = 10, now: datetime | None = None
) -> list[Contact]:
    """The newest `limit` contacts a rule tree selects (the live preview next to the count)."""
    ids = segment_contact_ids(rules, now).order_by(Contact.id.desc()).limit(limit).subquery()
    return list(session.scalars(select(Contact).where(Contact.id.in_(select(ids.c.id))).order_by(Contact.id.desc())))


def insert_count(session: Session, stmt: Any, key: Any) -> int:
    """Run an INSERT .. SELECT and count the rows it wrote (PostgreSQL reports no rowcount for it)."""
    if session.get_bind().dialect.name == "postgresql":
        written = stmt.returning(key).cte("written")
        return int(session.scalar(select(func.count()).select_from(written)) or 0)
    return int(session.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]


# ------------------------------------------------------------------ broadcasts
def _segment_ids_query(session: Session, segment_id: int) -> Any:
    """The segment's contact-id query, or None when the segment is gone."""
    segment = session.get(Segment, segment_id)
    if segment is None:
        return None
    return segment_contact_ids(segment.rules or {})


def broadcast_audience(session: Session, broadcast: Broadcast, now: datetime) -> Any:
    """The contact ids a broadcast goes to: active, not suppressed, in its segment (all when none),
    and under the frequency cap. None when the segment cannot be evaluated (planner, previews)."""
    conditions: list[Any] = [
        Contact.status == ContactStatus.ACTIVE,
        ~address_suppressed(),
    ]
    if broadcast.segment_id is not None:
        segment_ids = _segment_ids_query(session, broadcast.segment_id)
        if segment_ids is None:
            return None
        conditions.append(Contact.id.in_(segment_ids))
    account = get_account(session)
    if account.freq_cap_count > 0 and account.freq_cap_days > 0:
        capped = (
            select(Send.contact_id)
            .where(Send.created_at > now - timedelta(days=account.freq_cap_days),
                   Send.status.in_(seq.COUNTED_STATUSES))
            .group_by(Send.contact_id)
            .having(func.count() >= account.freq_cap_count)
        )
        conditions.append(Contact.id.not_in(capped))
    return select(Contact.id).where(*conditions)
