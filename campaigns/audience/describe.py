"""A segment's rule tree in words: the sentence a marketer reads, each condition's name, and the compiler's
errors with the condition named instead of a JSON path.

`describe_rules(rules, lookups, lang)` -> "Job title contains “部長” and score is more than 50"
(役職が「部長」を含む、かつスコアが50より大きい): the segments list, and anything else that shows a tree
(journeys' branch conditions). `vocabulary(lang)` gives the segment editor the same words for its pickers
(fields, operators, units), so the editor and the sentence never disagree. `name_error(exc, rules, lang)`
turns "rules.all[1]: enter a value" into "Condition 2 (Job title contains): enter a value"; conditions are
numbered depth-first, as the editor numbers its rows.

Request-free: the language is an argument (`translate_in`), names of lists, broadcasts and steps come in
`lookups` (`load_lookups(session, rules)` reads them). Never raises on a malformed tree: a condition it
cannot read is "a condition that cannot be read", the compiler says why. English text is the msgid; the
Japanese is in campaigns/translations/segment_builder.py until it is folded into the catalog.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.audience.segments import SegmentError
from campaigns.i18n import CODE_WORDS, format_number, ngettext_in, translate_in
from campaigns.models import Broadcast, ContactList, Sequence, Stage, Step

Lookups = dict[str, dict[int, str]]  # {"lists": {id: name}, "broadcasts": {...}, "steps": {...}}

# The editor offers these fields in this order; every one is a word in CODE_WORDS (the catalog's msgids).
FIELDS = ("company", "job_title", "source", "stage", "score", "email", "first_name", "last_name", "timezone",
          "consent_method")
NUMBER_FIELDS = ("score",)
# Operators: the picker's words and the sentence. "exists" is two choices, has a value / is empty.
OPERATOR_WORDS = {
    "eq": "is", "neq": "is not", "contains": "contains", "starts_with": "starts with", "in": "is one of",
    "gt": "is more than", "lt": "is less than", "between": "is between", "exists": "has a value",
    "exists:false": "is empty",
}
_SENTENCES = {
    "eq": "%(field)s is %(value)s", "neq": "%(field)s is not %(value)s", "contains": "%(field)s contains %(value)s",
    "starts_with": "%(field)s starts with %(value)s", "in": "%(field)s is one of %(value)s",
    "gt": "%(field)s is more than %(value)s", "lt": "%(field)s is less than %(value)s",
    "between": "%(field)s is between %(low)s and %(high)s", "exists": "%(field)s has a value",
    "exists:false": "%(field)s is empty",
}
TEXT_OPERATORS = ("eq", "neq", "contains", "starts_with", "in", "exists", "exists:false")
NUMBER_OPERATORS = ("eq", "neq", "gt", "lt", "between", "in", "exists", "exists:false")
STAGE_OPERATORS = ("eq", "neq", "in")
ENGAGEMENT_WORDS = {"opened": "opened", "clicked": "clicked", "not_opened": "did not open",
                    "not_clicked": "did not click"}
_ENGAGEMENT_SENTENCES = {
    "opened": "opened %(target)s", "clicked": "clicked a link in %(target)s",
    "not_opened": "did not open %(target)s", "not_clicked": "did not click a link in %(target)s",
}
KIND_WORDS = {"attribute": "Contact field", "event": "Event", "engagement": "Email engagement", "list": "List"}

# The compiler's messages that name a key of the JSON, as the editor's words (the condition is named anyway).
_FRIENDLIER = {
    "%(where)s: within_days must be a whole number from 1 to %(max)s":
        "%(where)s: the number of days must be a whole number from 1 to %(max)s",
    "%(where)s: 'in' needs a non-empty list": "%(where)s: enter at least one value",
    "%(where)s: 'between' needs [low, high]": "%(where)s: enter the lowest and the highest value",
    "%(where)s: 'between' needs low <= high": "%(where)s: the lowest value must not be above the highest",
    "%(where)s: event must be an event name (at most 100 characters)":
        "%(where)s: enter the event's name (at most 100 characters)",
    "%(where)s: list_id must be a positive whole number": "%(where)s: choose a list",
    "%(where)s: a condition needs a 'field'": "%(where)s: choose a field",
}
_PATH_STEP = re.compile(r"\.(all|any)\[(\d+)\]")


def _t(lang: str, msgid: str, /, **params: Any) -> str:
    return translate_in(lang, msgid, **params)


def _quoted(lang: str, text: Any) -> str:
    return _t(lang, "“%(shown)s”", shown=str(text))


quoted = _quoted  # for kinds registered from other modules


@dataclass(frozen=True)
class ConditionKind:
    """A kind of condition another module adds (campaigns.audience.web_conditions): the JSON key that marks
    it, its name in the editor's kind picker (a msgid), its sentence and short label in a language, whether
    the editor left it blank, and extra editor words (msgids, merged into vocabulary()["labels"])."""

    kind: str
    key: str
    word: str
    sentence: Callable[[dict[str, Any], str], str]
    label: Callable[[dict[str, Any], str], str]
    blank: Callable[[dict[str, Any]], bool]
    words: dict[str, str] = field(default_factory=dict)


_EXTRA_KINDS: dict[str, ConditionKind] = {}


def register_kind(spec: ConditionKind) -> None:
    """Describe (and offer in the editor) a kind of condition the compiler learnt by register_condition."""
    _EXTRA_KINDS[spec.kind] = spec


def stage_word(stage: Any, lang: str) -> str:
    """A stage as the UI names it (MQL, SQL as acronyms; Cold, Warm ... as words), in `lang`."""
    value = str(stage).strip().lower()
    if value in ("mql", "sql"):
        return value.upper()
    return _t(lang, value.capitalize()) if value in {s.value for s in Stage} else str(stage)


def field_word(field: Any, lang: str, capital: bool = False) -> str:
    """A condition's field in words: 役職 for job_title, 'custom field “industry”' for attributes.industry."""
    name = str(field or "")
    if name.startswith("attributes."):
        return _t(lang, "custom field %(name)s", name=_quoted(lang, name[len("attributes."):]))
    if name not in CODE_WORDS:
        return _quoted(lang, name)
    words = _t(lang, CODE_WORDS[name])
    # inside an English sentence a field is a common noun ("and job title contains"); the sentence's first
    # letter is raised again by describe_rules, and labels (condition_label) keep the capital
    return words[:1].lower() + words[1:] if lang == "en" and not capital else words


def days_phrase(days: Any, lang: str) -> str:
    """'in the last 30 days' / '過去30日以内'."""
    n = days if isinstance(days, int) and not isinstance(days, bool) else 0
    return _t(lang, "in the last %(days)s", days=ngettext_in(lang, "1 day", "%(num)d days", n))


def _op_key(cond: dict[str, Any]) -> str:
    op = str(cond.get("op") or "")
    if op == "exists" and cond.get("value") in (False, "false", 0):
        return "exists:false"
    return op


def _kind(node: Any) -> str:
    if not isinstance(node, dict):
        return "unknown"
    if "all" in node or "any" in node:
        return "group"
    for kind, key in (("event", "event"), ("engagement", "engagement"), ("list", "list_id")):
        if key in node:
            return kind
    for spec in _EXTRA_KINDS.values():
        if spec.key in node:
            return spec.kind
    return "attribute" if "field" in node else "unknown"


def _value_text(field: str, value: Any, lang: str) -> str:
    if field == "stage":
        return stage_word(value, lang)
    if isinstance(value, bool):
        return _t(lang, "Yes") if value else _t(lang, "No")
    if isinstance(value, int | float):
        return format_number(value, locale=lang)
    return _quoted(lang, value)


def _attribute_sentence(cond: dict[str, Any], lang: str) -> str:
    field, op, value = str(cond.get("field") or ""), _op_key(cond), cond.get("value")
    words = field_word(field, lang)
    if op not in _SENTENCES:
        return _t(lang, "a condition that cannot be read")
    if op in ("exists", "exists:false"):
        return _t(lang, _SENTENCES[op], field=words)
    if op == "between":
        low, high = (list(value) + [None, None])[:2] if isinstance(value, list) else (None, None)
        return _t(lang, _SENTENCES[op], field=words, low=_value_text(field, low, lang),
                  high=_value_text(field, high, lang))
    if op == "in":
        items = value if isinstance(value, list) else [value]
        shown = _t(lang, ", ").join(_value_text(field, v, lang) for v in items)
        return _t(lang, _SENTENCES[op], field=words, value=shown)
    return _t(lang, _SENTENCES[op], field=words, value=_value_text(field, value, lang))


def _within(sentence: str, cond: dict[str, Any], lang: str) -> str:
    days = cond.get("within_days")
    if days is None:
        return sentence
    return _t(lang, "%(condition)s %(days)s", condition=sentence, days=days_phrase(days, lang))


def _event_sentence(cond: dict[str, Any], lang: str) -> str:
    name = _quoted(lang, cond.get("event") or "?")
    if cond.get("property"):
        name = _t(lang, "%(event)s with %(property)s equal to %(value)s", event=name,
                  property=_quoted(lang, cond["property"]), value=_quoted(lang, cond.get("value", "")))
    occurred = cond.get("occurred", True) is not False
    sentence = _t(lang, "event %(event)s happened" if occurred else "event %(event)s did not happen", event=name)
    return _within(sentence, cond, lang)


def _name_of(lookups: Lookups, what: str, ident: Any) -> str | None:
    name = lookups.get(what, {}).get(ident) if isinstance(ident, int) else None
    return None if name is None else str(name)


def _engagement_sentence(cond: dict[str, Any], lookups: Lookups, lang: str) -> str:
    kind = cond.get("engagement")
    if kind not in _ENGAGEMENT_SENTENCES:
        return _t(lang, "a condition that cannot be read")
    if "broadcast_id" in cond:
        name = _name_of(lookups, "broadcasts", cond["broadcast_id"])
        target = (_t(lang, "the broadcast %(name)s", name=_quoted(lang, name)) if name is not None
                  else _t(lang, "a broadcast that no longer exists (#%(id)s)", id=cond["broadcast_id"]))
    elif "step_id" in cond:
        name = _name_of(lookups, "steps", cond["step_id"])
        target = (_t(lang, "the sequence step %(name)s", name=_quoted(lang, name)) if name is not None
                  else _t(lang, "a sequence step that no longer exists (#%(id)s)", id=cond["step_id"]))
    else:
        target = _t(lang, "any mail")
    return _within(_t(lang, _ENGAGEMENT_SENTENCES[kind], target=target), cond, lang)


def _list_sentence(cond: dict[str, Any], lookups: Lookups, lang: str) -> str:
    name = _name_of(lookups, "lists", cond.get("list_id"))
    shown = _quoted(lang, name) if name is not None else _t(lang, "#%(id)s (no longer exists)", id=cond.get("list_id"))
    member = cond.get("member", True) is not False
    return _t(lang, "is on the list %(name)s" if member else "is not on the list %(name)s", name=shown)


def describe_condition(cond: Any, lookups: Lookups, lang: str) -> str:
    """One condition as a phrase ("job title contains “部長”")."""
    kind = _kind(cond)
    if kind == "attribute":
        return _attribute_sentence(cond, lang)
    if kind == "event":
        return _event_sentence(cond, lang)
    if kind == "engagement":
        return _engagement_sentence(cond, lookups, lang)
    if kind == "list":
        return _list_sentence(cond, lookups, lang)
    if kind in _EXTRA_KINDS:
        return _EXTRA_KINDS[kind].sentence(cond, lang)
    return _t(lang, "a condition that cannot be read")


def _describe(node: Any, lookups: Lookups, lang: str, nested: bool) -> str:
    if _kind(node) != "group":
        return describe_condition(node, lookups, lang)
    joiner = "all" if "all" in node else "any"
    items = node[joiner] if isinstance(node[joiner], list) else []
    parts = [_describe(item, lookups, lang, True) for item in items]
    if not parts:
        return _t(lang, "(no conditions)") if nested else _t(lang, "every contact (no conditions)")
    text = parts[0]
    for part in parts[1:]:
        text = _t(lang, "%(a)s and %(b)s" if joiner == "all" else "%(a)s or %(b)s", a=text, b=part)
    return _t(lang, "(%(group)s)", group=text) if nested and len(parts) > 1 else text


def describe_rules(rules: Any, lookups: Lookups | None, lang: str) -> str:
    """The whole tree as one sentence, nested groups in brackets (the segments list, journeys' branches)."""
    text = _t(lang, "every contact (no conditions)") if not rules else _describe(rules, lookups or {}, lang, False)
    return text[:1].upper() + text[1:]


# ------------------------------------------------------------------ names of conditions, errors
def conditions(rules: Any, path: str = "rules") -> Iterator[tuple[str, Any]]:
    """(path, condition) depth-first, in the order the editor numbers them ("rules.all[0].any[1]")."""
    if _kind(rules) == "group":
        joiner = "all" if "all" in rules else "any"
        items = rules[joiner] if isinstance(rules[joiner], list) else []
        for i, item in enumerate(items):
            yield from conditions(item, f"{path}.{joiner}[{i}]")
    elif path != "rules":
        yield path, rules


def condition_label(cond: Any, lang: str) -> str:
    """A condition's short name: "Job title contains", "Event “webinar”", "Email engagement: opened"."""
    kind = _kind(cond)
    if kind == "attribute":
        op = _op_key(cond)
        words = _t(lang, OPERATOR_WORDS[op]) if op in OPERATOR_WORDS else ""
        return _t(lang, "%(field)s %(op)s", field=field_word(cond.get("field"), lang, capital=True), op=words).strip()
    if kind == "event":
        name = cond.get("event")
        return _t(lang, "Event %(event)s", event=_quoted(lang, name)) if name else _t(lang, "Event")
    if kind == "engagement":
        kind_word = ENGAGEMENT_WORDS.get(cond.get("engagement", ""), "")
        return _t(lang, "%(kind)s: %(what)s", kind=_t(lang, "Email engagement"), what=_t(lang, kind_word) if kind_word else "?")
    if kind == "list":
        return _t(lang, "List")
    if kind in _EXTRA_KINDS:
        return _EXTRA_KINDS[kind].label(cond, lang)
    return _t(lang, "Condition")


def locate(rules: Any, where: str) -> tuple[int, Any] | None:
    """(number from 1, condition) of the condition at a compiler path; None for a group or a path not found."""
    for number, (path, cond) in enumerate(conditions(rules), start=1):
        if path == where:
            return number, cond
    return None


def name_error(exc: Any, rules: Any, lang: str) -> tuple[str, int | None]:
    """A SegmentError as the editor shows it: (message, condition number or None). "rules.all[1]: ..."
    becomes "Condition 2 (Job title contains): ..."; errors about the whole tree keep their own words."""
    template, params = exc.template, dict(exc.params)
    found = locate(rules, str(params.get("where", "")))
    if found is None:
        return translate_in(lang, template, **params), None
    number, cond = found
    params["where"] = _t(lang, "Condition %(n)s (%(name)s)", n=number, name=condition_label(cond, lang))
    return translate_in(lang, _FRIENDLIER.get(template, template), **params), number


def blank_values(rules: Any) -> Iterator[str]:
    """Paths of conditions the editor left without a value (a text to look for, an event's name), which the
    compiler would take literally ("contains ''" matches everyone)."""
    for path, cond in conditions(rules):
        kind = _kind(cond)
        if kind == "attribute" and _op_key(cond) not in ("exists", "exists:false"):
            value = cond.get("value")
            if value is None or (isinstance(value, str) and not value.strip()) or value == []:
                yield path
            elif isinstance(value, list) and any(v is None or (isinstance(v, str) and not v.strip()) for v in value):
                yield path
        elif kind == "event" and (not isinstance(cond.get("event"), str) or not cond["event"].strip()):
            yield path
        elif kind == "event" and cond.get("property") and not str(cond.get("value", "")).strip():
            yield path
        elif kind in _EXTRA_KINDS and _EXTRA_KINDS[kind].blank(cond):
            yield path


def require_values(rules: Any) -> None:
    """Raise SegmentError for the first condition left without a value (the segment form and its live count;
    the API keeps the compiler's literal reading)."""
    for path in blank_values(rules):
        raise SegmentError("%(where)s: enter a value", where=path)


# ------------------------------------------------------------------ names from the database, editor words
def _ids(rules: Any, key: str) -> set[int]:
    return {c[key] for _p, c in conditions(rules)
            if isinstance(c, dict) and isinstance(c.get(key), int) and not isinstance(c.get(key), bool)}


def load_lookups(session: Session, trees: list[Any]) -> Lookups:
    """The names of the lists, broadcasts and sequence steps the given rule trees name (one query each)."""
    wanted: dict[str, set[int]] = {"lists": set(), "broadcasts": set(), "steps": set()}
    for rules in trees:
        wanted["lists"] |= _ids(rules, "list_id")
        wanted["broadcasts"] |= _ids(rules, "broadcast_id")
        wanted["steps"] |= _ids(rules, "step_id")
    found: Lookups = {"lists": {}, "broadcasts": {}, "steps": {}}
    if wanted["lists"]:
        found["lists"] = {i: name for i, name in session.execute(
            select(ContactList.id, ContactList.name).where(ContactList.id.in_(sorted(wanted["lists"]))))}
    if wanted["broadcasts"]:
        found["broadcasts"] = {i: name for i, name in session.execute(
            select(Broadcast.id, Broadcast.name).where(Broadcast.id.in_(sorted(wanted["broadcasts"]))))}
    if wanted["steps"]:
        found["steps"] = {i: f"{name} #{position}" for i, name, position in session.execute(
            select(Step.id, Sequence.name, Step.position).join(Sequence, Sequence.id == Step.sequence_id)
            .where(Step.id.in_(sorted(wanted["steps"]))))}
    return found


def vocabulary(lang: str) -> dict[str, Any]:
    """The segment editor's words (segments.js): fields, operators by field type, stages, engagements,
    kinds of condition and the phrases it builds rows from, all in `lang`."""
    return {
        "fields": [[f, _t(lang, CODE_WORDS[f])] for f in FIELDS] + [["attributes.", _t(lang, "Custom field")]],
        "numberFields": list(NUMBER_FIELDS),
        "ops": {op: _t(lang, word) for op, word in OPERATOR_WORDS.items()},
        "textOps": list(TEXT_OPERATORS), "numberOps": list(NUMBER_OPERATORS), "stageOps": list(STAGE_OPERATORS),
        "stages": [[s.value, stage_word(s.value, lang)] for s in Stage],
        "engagements": [[k, _t(lang, w)] for k, w in ENGAGEMENT_WORDS.items()],
        "kinds": [[k, _t(lang, w)] for k, w in KIND_WORDS.items()]
        + [[spec.kind, _t(lang, spec.word)] for spec in _EXTRA_KINDS.values()],
        "labels": {**{k: _t(lang, w) for spec in _EXTRA_KINDS.values() for k, w in spec.words.items()},
            "groupAll": _t(lang, "all"), "groupAny": _t(lang, "any"),
            "groupHead": _t(lang, "Contacts matching %(choice)s of these conditions"),
            "subgroupHead": _t(lang, "A group matching %(choice)s of these conditions"),
            "and": _t(lang, "and"), "or": _t(lang, "or"),
            "condition": _t(lang, "Condition %(n)s"),
            "add": _t(lang, "Add condition"), "addGroup": _t(lang, "Add a group"),
            "remove": _t(lang, "Remove"), "removeGroup": _t(lang, "Remove group"),
            "withinDays": _t(lang, "in the last %(n)s days"), "anyTime": _t(lang, "leave empty for any time"),
            "happened": _t(lang, "happened"), "notHappened": _t(lang, "did not happen"),
            "eventName": _t(lang, "Event name"), "property": _t(lang, "Property (optional)"),
            "value": _t(lang, "Value"), "low": _t(lang, "Lowest value"), "high": _t(lang, "Highest value"),
            "commaHint": _t(lang, "separate values with commas"),
            "customField": _t(lang, "Custom field name"),
            "anyMail": _t(lang, "any mail"), "broadcast": _t(lang, "Broadcast"), "step": _t(lang, "Sequence step"),
            "onList": _t(lang, "is on the list"), "notOnList": _t(lang, "is not on the list"),
            "noLists": _t(lang, "No lists yet"), "empty": _t(lang, "No conditions: every contact matches."),
            "notEditable": _t(lang, "These rules can only be edited as JSON (Advanced)."),
            "field": _t(lang, "Field"), "operator": _t(lang, "Operator"), "kind": _t(lang, "Kind of condition"),
        },
    }
