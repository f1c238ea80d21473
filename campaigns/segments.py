"""Segments: a JSON rule tree compiled to one SQL query over contacts (SQLite and PostgreSQL).

A rule tree is ``{"all": [...]}`` or ``{"any": [...]}`` whose items are conditions or nested groups.
A condition is ``{"field": "company", "op": "contains", "value": "acme"}``. Text comparisons
(eq, neq, in, contains, starts_with) ignore ASCII case; gt/lt compare numbers (a custom attribute
only matches when it holds a JSON number); ``exists`` means "has a non-empty value" (value false
inverts it); ``neq`` also matches contacts without a value.

Other kinds of condition (e.g. behaviour: "opened a mail in the last 30 days") plug in through
`register_condition(key, builder)`: a condition dict carrying that key is compiled by the builder.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Numeric,
    Select,
    String,
    and_,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from campaigns.models import Contact, ContactStatus, Stage, Suppression

TEXT_FIELDS = {
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
NUMBER_FIELDS = {"score": Contact.score}
TEXT_OPS = {"eq", "neq", "contains", "starts_with", "in", "exists"}
NUMBER_OPS = {"eq", "neq", "gt", "lt", "in", "exists"}
ALL_OPS = TEXT_OPS | NUMBER_OPS
MAX_DEPTH = 6
MAX_CONDITIONS = 200
# Attribute keys end up inside a JSON path: keep them to characters that need no quoting rules.
ATTRIBUTE_KEY = re.compile(r"^[^\"\\$.\[\]\x00-\x1f]{1,100}$")


class SegmentError(ValueError):
    """A rule tree that cannot be compiled; the message says which part and why (shown to users)."""


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


def _parts(element: FunctionElement[Any], compiler: Any, kw: dict[str, Any]) -> list[str]:
    return [compiler.process(c, **kw) for c in element.clauses]


@compiles(json_text, "postgresql")
def _json_text_pg(element: json_text, compiler: Any, **kw: Any) -> str:
    col, key, _path = _parts(element, compiler, kw)
    return f"({col} ->> {key})"


@compiles(json_text, "sqlite")
def _json_text_sqlite(element: json_text, compiler: Any, **kw: Any) -> str:
    col, _key, p = _parts(element, compiler, kw)
    # json_extract returns 1/0 for booleans and native numbers; spell them like PostgreSQL's ->> does.
    return (
        f"(CASE json_type({col}, {p}) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
        f"WHEN 'null' THEN NULL ELSE CAST(json_extract({col}, {p}) AS TEXT) END)"
    )


@compiles(json_number, "postgresql")
def _json_number_pg(element: json_number, compiler: Any, **kw: Any) -> str:
    col, key, _path = _parts(element, compiler, kw)
    return f"(CASE WHEN jsonb_typeof({col} -> {key}) = 'number' THEN ({col} ->> {key})::numeric END)"


@compiles(json_number, "sqlite")
def _json_number_sqlite(element: json_number, compiler: Any, **kw: Any) -> str:
    col, _key, p = _parts(element, compiler, kw)
    return f"(CASE WHEN json_type({col}, {p}) IN ('integer', 'real') THEN json_extract({col}, {p}) END)"


def _attr_text(key: str) -> ColumnElement[Any]:
    return json_text(Contact.attributes, literal(key), literal(f'$."{key}"'))


def _attr_number(key: str) -> ColumnElement[Any]:
    return json_number(Contact.attributes, literal(key), literal(f'$."{key}"'))


# ------------------------------------------------------------------ compiling conditions
ConditionBuilder = Callable[[dict[str, Any]], ColumnElement[bool]]
_EXTRA_BUILDERS: dict[str, ConditionBuilder] = {}


def register_condition(key: str, builder: ConditionBuilder) -> None:
    """Teach the compiler a new kind of condition: dicts carrying `key` go to `builder` (later issues)."""
    _EXTRA_BUILDERS[key] = builder


def _ascii_lower(text: str) -> str:
    # SQLite's lower() folds ASCII only; fold the same way so both databases agree.
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _scalar_text(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise SegmentError(f"{where}: value must be text or a number")


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise SegmentError(f"{where}: value must be a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise SegmentError(f"{where}: value must be a number") from None


def _text_condition(expr: ColumnElement[Any], op: str, value: Any, where: str) -> ColumnElement[bool]:
    lowered = func.lower(expr)
    if op == "exists":
        has = and_(expr.is_not(None), expr != "")
        return has if value in (None, True, "true", 1) else not_(has)
    if op == "in":
        if not isinstance(value, list) or not value:
            raise SegmentError(f"{where}: 'in' needs a non-empty list")
        if len(value) > 1000:
            raise SegmentError(f"{where}: at most 1000 values")
        return lowered.in_([_ascii_lower(_scalar_text(v, where)) for v in value])
    text = _ascii_lower(_scalar_text(value, where))
    if op == "eq":
        return lowered == text
    if op == "neq":
        return or_(expr.is_(None), lowered != text)
    if op == "contains":
        return lowered.contains(text, autoescape=True)
    if op == "starts_with":
        return lowered.startswith(text, autoescape=True)
    raise SegmentError(f"{where}: operator {op!r} does not apply to text")


def _number_condition(expr: ColumnElement[Any], op: str, value: Any, where: str) -> ColumnElement[bool]:
    if op == "exists":
        return expr.is_not(None) if value in (None, True, "true", 1) else expr.is_(None)
    if op == "in":
        if not isinstance(value, list) or not value:
            raise SegmentError(f"{where}: 'in' needs a non-empty list")
        return expr.in_([_number(v, where) for v in value])
    number = _number(value, where)
    if op == "eq":
        return expr == number
    if op == "neq":
        return or_(expr.is_(None), expr != number)
    if op == "gt":
        return expr > number
    if op == "lt":
        return expr < number
    raise SegmentError(f"{where}: operator {op!r} does not apply to numbers")


def _condition(cond: dict[str, Any], where: str) -> ColumnElement[bool]:
    for key, builder in _EXTRA_BUILDERS.items():
        if key in cond:
            return builder(cond)
    field = cond.get("field")
    op = cond.get("op")
    value = cond.get("value")
    if not isinstance(field, str) or not field:
        raise SegmentError(f"{where}: a condition needs a 'field'")
    if op not in ALL_OPS:
        raise SegmentError(f"{where}: unknown operator {op!r} (use one of {', '.join(sorted(ALL_OPS))})")
    if field.startswith("attributes."):
        key = field[len("attributes."):]
        if not ATTRIBUTE_KEY.match(key):
            raise SegmentError(f"{where}: invalid attribute name {key!r}")
        if op in ("gt", "lt"):
            return _number_condition(_attr_number(key), op, value, where)
        return _text_condition(_attr_text(key), op, value, where)
    if field in NUMBER_FIELDS:
        return _number_condition(NUMBER_FIELDS[field], op, value, where)
    if field in TEXT_FIELDS:
        if field == "stage" and op in ("eq", "neq") and _ascii_lower(str(value)) not in set(Stage):
            raise SegmentError(f"{where}: unknown stage {value!r}")
        return _text_condition(TEXT_FIELDS[field], op, value, where)
    raise SegmentError(f"{where}: unknown field {field!r}")


def _group(node: Any, where: str, depth: int, budget: list[int]) -> ColumnElement[bool]:
    if not isinstance(node, dict):
        raise SegmentError(f"{where}: expected an object")
    if "all" in node or "any" in node:
        if depth > MAX_DEPTH:
            raise SegmentError(f"{where}: groups nested too deeply (max {MAX_DEPTH})")
        kind = "all" if "all" in node else "any"
        items = node[kind]
        if not isinstance(items, list):
            raise SegmentError(f"{where}.{kind}: expected a list")
        parts = [_group(item, f"{where}.{kind}[{i}]", depth + 1, budget) for i, item in enumerate(items)]
        if kind == "all":
            return and_(true(), *parts)
        return or_(false(), *parts)
    budget[0] += 1
    if budget[0] > MAX_CONDITIONS:
        raise SegmentError(f"at most {MAX_CONDITIONS} conditions")
    return _condition(node, where)


def compile_rules(rules: dict[str, Any] | None) -> ColumnElement[bool]:
    """The WHERE clause of a rule tree; raises SegmentError with a readable reason (views, API)."""
    if not rules:
        return true()
    return _group(rules, "rules", 0, [0])


def validate_rules(rules: Any) -> None:
    """Raise SegmentError if the rule tree cannot be compiled (segment forms and the API)."""
    if not isinstance(rules, dict):
        raise SegmentError("rules must be an object like {\"all\": [...]}")
    if rules and "all" not in rules and "any" not in rules:
        raise SegmentError("rules must start with \"all\" or \"any\"")
    compile_rules(rules)


def not_suppressed() -> ColumnElement[bool]:
    """Contacts whose address is not on the suppression list (segments, audiences)."""
    return ~exists().where(Suppression.email == Contact.email)


def segment_contact_ids(rules: dict[str, Any] | None) -> Select[tuple[int]]:
    """Select the ids of active, unsuppressed contacts matching a rule tree (broadcasts, enrolment)."""
    return select(Contact.id).where(
        Contact.status == ContactStatus.ACTIVE, not_suppressed(), compile_rules(rules)
    )


def count_segment(session: Session, rules: dict[str, Any] | None) -> int:
    """How many contacts a rule tree selects now (segment pages' live count, broadcast forms)."""
    sub = segment_contact_ids(rules).subquery()
    return int(session.scalar(select(func.count()).select_from(sub)) or 0)
