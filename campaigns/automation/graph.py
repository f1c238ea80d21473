"""The graph rules: a journey's JSON graph and settings checked and turned into a typed view.

`validate_graph(session, graph)` is the one gate every graph passes (the service before a draft is saved
or a version published, the API, the canvas's live validation): it returns a `Graph` (nodes by id, exits
per node, `next(node, exit)`), or raises `GraphError` with an English sentence naming the node
(`node "n3" (branch): exit "maybe" does not exist ...`). `validate_settings(session, settings)` does the
same for entry triggers, re-entry, goal, exit conditions and the visit limit, and returns them with
their defaults filled in. The format is docs/journeys.md; `GRAPH_SCHEMA` is its JSON Schema for the
OpenAPI document (the schema says the shape, this module the rules a schema cannot: references to rows,
reachability, cycles, sums).

Why these rules: a walk must always know where to go (edges name existing nodes and real exits, one edge
per exit; an exit without an edge ends the walk, as an `end` node does), every node must be reachable (a
node nobody can reach is a mistake the marketer wants to hear about), and a loop must pass through a
`wait` or `wait_for` node, so a contact cannot spin through zero-time nodes within one tick. Referenced
rows are checked here so that a publish never freezes a graph the engine cannot run; a row archived
later is the engine's concern (it settles that walk with a reason).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.audience.segments import SegmentError, validate_rules
from campaigns.audience.web_conditions import PatternError, clean_pattern
from campaigns.leads.contacts import ATTRIBUTE_KEY
from campaigns.models import ContactList, Form, Journey, ScoreTrigger, Segment, Stage, Template
from campaigns.text import TextError, check_json, check_text

# ------------------------------------------------------------------ limits
MAX_NODES = 200  # a canvas people can still read; the engine batches per (version, node)
MAX_EDGES = 1000
MAX_BRANCHES = 20  # branch conditions on one node (plus "else")
MAX_PATHS = 10  # split paths
MAX_ENTRY = 20  # entry triggers of one journey
MAX_WHERE = 20  # property filters of one event condition
MAX_GRAPH_BYTES = 512 * 1024  # the whole graph as JSON, layout included
MAX_NAME = 200  # node names, branch labels
MAX_VALUE = 1000  # a set_attribute value
MAX_URL = 2000
MAX_MINUTES = 5 * 366 * 24 * 60  # five years: anything longer is a typo, not a plan
MAX_OFFSET_DAYS = 3650
MAX_POINTS = 10000
MAX_VISITS = 100  # times one contact may enter one node (loops)
MAX_AB_VARIANTS = 5  # A..E, as every A/B test (campaigns.models.ab.VARIANT_KEYS)
AB_METRICS = ("open", "click", "click_to_open", "goal")  # campaigns.models.ABMetric: human engagement only
AB_WINNER = ("auto", "manual")  # auto: new walks get the winner once decided; manual: the marketer picks
DEFAULT_MAX_VISITS = 3
MAX_EVENT_NAME = 100  # Event.name
NODE_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")  # also branch and split path keys (they become exits)

NODE_TYPES = ("send", "wait", "wait_for", "branch", "split", "action", "end")
PAUSING_TYPES = frozenset({"wait", "wait_for"})  # a loop must pass through one of these
UNTIL_KINDS = ("event", "open", "click", "form", "stage")
WAIT_KINDS = (*UNTIL_KINDS, "visit")  # wait_for also waits for a visit to a page (website tracking)
GOAL_KINDS = ("event", "form", "stage", "segment")
ENTRY_KINDS = ("event", "form", "segment", "list", "stage", "date", "visit")
ACTION_KINDS = ("set_attribute", "add_to_list", "remove_from_list", "add_score", "set_stage", "notify_sales",
                "webhook", "enrol_journey", "suppress")
SUPPRESS_REASONS = ("sunset",)  # campaigns.suppression: a reason a journey may suppress for
PREVIOUS_MAIL = ("opened", "clicked")
_FIELDS: dict[str, set[str]] = {  # each node type's fields, besides id, type and name
    "send": {"template_id", "ab"},
    "wait": {"wait"},
    "wait_for": {"until", "timeout"},
    "branch": {"branches"},
    "split": {"paths", "goal"},
    "action": {"action"},
    "end": set(),
}
_COMMON = {"id", "type", "name"}
WEEKDAYS = "1234567"  # ISO weekdays: 1 = Monday ... 7 = Sunday


class GraphError(ValueError):
    """A graph or settings that break a rule; the English sentence names the node (shown to users).

    `node` is the node's id (None for the graph as a whole or the settings); `template` and `params`
    let the UI translate it: `_(exc.template, **exc.params)` (English text is the key, Japanese in
    campaigns/translations/journeys_core.py). `as_json()` is the API's 422 body."""

    def __init__(self, template: str, node: str | None = None, node_type: str = "", **params: Any) -> None:
        self.node = node
        if node is not None:
            template = 'node "%(node)s" (%(node_type)s): ' + template
            params = {"node": node, "node_type": node_type or "unknown type", **params}
        self.template = template
        self.params = params
        super().__init__(template % params if params else template)

    def translated(self, gettext: Callable[..., str]) -> str:
        """The message in the UI's language (views pass campaigns.i18n.gettext); the node type in words."""
        params = dict(self.params)
        if "node_type" in params:
            params["node_type"] = gettext(params["node_type"])
        return gettext(self.template, **params)

    def as_json(self) -> dict[str, Any]:
        """{"error": sentence, "node": id or null}: the API's 422 reason."""
        return {"error": str(self), "node": self.node}


# ------------------------------------------------------------------ the typed view
@dataclass(frozen=True)
class Node:
    """One node: its id, type, normalised fields (the JSON object as stored) and its exits in order."""

    id: str
    type: str
    data: dict[str, Any]
    exits: tuple[str, ...]

    @property
    def name(self) -> str:
        return str(self.data.get("name", ""))


@dataclass(frozen=True)
class Graph:
    """A validated graph: what the engine walks and the canvas draws. `as_json()` is what is stored."""

    start: str
    nodes: dict[str, Node]
    edges: dict[tuple[str, str], str]  # (from node, exit) -> to node
    layout: dict[str, Any] = field(default_factory=dict)

    def next(self, node_id: str, exit: str) -> str | None:
        """The node an exit leads to; None when the exit has no edge (the walk completes there)."""
        return self.edges.get((node_id, exit))

    def exits(self, node_id: str) -> tuple[str, ...]:
        """A node's exits, in order (branch keys then "else"; split path keys; "next"; ...)."""
        return self.nodes[node_id].exits

    def open_exits(self) -> list[tuple[str, str]]:
        """(node, exit) pairs with no edge: allowed (the walk ends there), shown by the canvas as a hint."""
        return [(n.id, e) for n in self.nodes.values() for e in n.exits if (n.id, e) not in self.edges]

    def of_type(self, node_type: str) -> list[Node]:
        """The nodes of one type, in graph order (the service's wait shortening, the report)."""
        return [n for n in self.nodes.values() if n.type == node_type]

    def as_json(self) -> dict[str, Any]:
        """The normalised JSON (docs/journeys.md): what draft_graph and JourneyVersion.graph hold."""
        return {
            "start": self.start,
            "nodes": [dict(n.data) for n in self.nodes.values()],
            "edges": [{"from": f, "exit": e, "to": t} for (f, e), t in self.edges.items()],
            "layout": self.layout,
        }


EMPTY_GRAPH: dict[str, Any] = {"start": "", "nodes": [], "edges": [], "layout": {}}


# ------------------------------------------------------------------ small checks
class _Refs:
    """Row ids a graph or settings refer to, checked in one query per table at the end."""

    def __init__(self) -> None:
        self.wanted: dict[str, dict[int, tuple[str | None, str]]] = {}

    def add(self, what: str, row_id: int, node: str | None, node_type: str) -> None:
        self.wanted.setdefault(what, {}).setdefault(row_id, (node, node_type))


_REF_MODELS: dict[str, Any] = {
    "template": Template, "list": ContactList, "form": Form, "segment": Segment, "journey": Journey,
    "trigger": ScoreTrigger,
}
_ARCHIVABLE = {"template", "list", "form", "segment"}


def _check_refs(session: Session | None, refs: _Refs, journey_id: int | None) -> None:
    if session is None:
        return
    for what, wanted in refs.wanted.items():
        model = _REF_MODELS[what]
        columns = [model.id, model.archived_at] if what in _ARCHIVABLE else [model.id]
        rows = {r[0]: r for r in session.execute(select(*columns).where(model.id.in_(sorted(wanted))))}
        for row_id, (node, node_type) in sorted(wanted.items()):
            if row_id not in rows:
                raise GraphError(f"{what} %(id)s does not exist", node, node_type, id=row_id)
            if what in _ARCHIVABLE and rows[row_id][1] is not None:
                raise GraphError(f"{what} %(id)s is archived", node, node_type, id=row_id)
            if what == "journey" and row_id == journey_id:
                raise GraphError("a journey cannot enrol contacts in itself", node, node_type)


class _Where:
    """Where an error belongs: a node (id and type) or a part of the settings (node None)."""

    def __init__(self, node: str | None = None, node_type: str = "") -> None:
        self.node = node
        self.node_type = node_type

    def error(self, template: str, **params: Any) -> GraphError:
        return GraphError(template, self.node, self.node_type, **params)


def _object(value: Any, what: str, at: _Where, allowed: Iterable[str], required: Iterable[str] = ()) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise at.error("%(what)s must be an object", what=what)
    allowed = set(allowed)
    unknown = sorted(k for k in value if k not in allowed)
    if unknown:
        raise at.error('%(what)s has an unknown field "%(field)s"', what=what, field=str(unknown[0])[:60])
    for key in required:
        if key not in value:
            raise at.error('%(what)s needs "%(field)s"', what=what, field=key)
    return value


def _int(value: Any, what: str, at: _Where, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise at.error("%(what)s must be a whole number", what=what)
    if not low <= value <= high:
        raise at.error("%(what)s must be between %(low)s and %(high)s", what=what, low=low, high=high)
    return value


def _id(value: Any, what: str, at: _Where) -> int:
    return _int(value, what, at, 1, 2**31 - 1)


def _text(value: Any, what: str, at: _Where, max_length: int, *, empty: bool = False) -> str:
    if not isinstance(value, str):
        raise at.error("%(what)s must be a text", what=what)
    value = value.strip()
    if not value and not empty:
        raise at.error("%(what)s must not be empty", what=what)
    if len(value) > max_length:
        raise at.error("%(what)s is too long (at most %(max)s characters)", what=what, max=max_length)
    try:
        check_text(value, what)
    except TextError as exc:
        raise at.error("%(what)s: %(reason)s", what=what, reason=exc.reason) from None
    return value


def _key(value: Any, what: str, at: _Where) -> str:
    if not isinstance(value, str) or not NODE_ID.match(value):
        raise at.error("%(what)s must be 1 to 40 letters, digits, \"-\" or \"_\"", what=what)
    return value


def _stage(value: Any, what: str, at: _Where) -> str:
    valid = [s.value for s in Stage]
    if value not in valid:
        raise at.error("%(what)s must be one of %(valid)s", what=what, valid=", ".join(valid))
    return str(value)


def _scalar(value: Any, what: str, at: _Where) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    return _text(value, what, at, MAX_VALUE, empty=True)


def _minutes(value: Any, what: str, at: _Where) -> dict[str, int]:
    obj = _object(value, what, at, {"minutes"}, {"minutes"})
    return {"minutes": _int(obj["minutes"], f"{what}.minutes", at, 1, MAX_MINUTES)}


def _where(value: Any, what: str, at: _Where) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise at.error("%(what)s must be an object of property: value", what=what)
    if len(value) > MAX_WHERE:
        raise at.error("%(what)s has more than %(max)s properties", what=what, max=MAX_WHERE)
    out: dict[str, Any] = {}
    for key, val in value.items():
        key = _text(key, f"{what} property name", at, 100)
        out[key] = _scalar(val, f"{what}.{key}", at)
    return out


def _happening(value: Any, what: str, at: _Where, kinds: tuple[str, ...], refs: _Refs) -> dict[str, Any]:
    """An event, open, click, form, stage (or segment, for goals): wait_for's `until`, goals, split goals."""
    if not isinstance(value, dict) or value.get("kind") not in kinds:
        raise at.error("%(what)s must have a kind: one of %(kinds)s", what=what, kinds=", ".join(kinds))
    kind = value["kind"]
    if kind == "event":
        obj = _object(value, what, at, {"kind", "name", "where"}, {"name"})
        out: dict[str, Any] = {"kind": kind, "name": _text(obj["name"], f"{what}.name", at, MAX_EVENT_NAME)}
        if obj.get("where"):
            out["where"] = _where(obj["where"], f"{what}.where", at)
        return out
    if kind in ("open", "click"):
        obj = _object(value, what, at, {"kind", "node", "url"} if kind == "click" else {"kind", "node"}, {"node"})
        out = {"kind": kind, "node": _key(obj["node"], f"{what}.node", at)}
        if obj.get("url"):
            out["url"] = _url(obj["url"], f"{what}.url", at)
        return out
    if kind == "form":
        obj = _object(value, what, at, {"kind", "form_id"}, {"form_id"})
        form_id = _id(obj["form_id"], f"{what}.form_id", at)
        refs.add("form", form_id, at.node, at.node_type)
        return {"kind": kind, "form_id": form_id}
    if kind == "stage":
        obj = _object(value, what, at, {"kind", "stage"}, {"stage"})
        return {"kind": kind, "stage": _stage(obj["stage"], f"{what}.stage", at)}
    if kind == "visit":  # a person's visit to a page matching the pattern (audience.web_conditions)
        obj = _object(value, what, at, {"kind", "page"}, {"page"})
        try:
            return {"kind": kind, "page": clean_pattern(obj["page"])}
        except PatternError:
            raise at.error("%(what)s.page: enter a page pattern such as /pricing* (at most 500 characters, no spaces)",
                           what=what) from None
    obj = _object(value, what, at, {"kind", "segment_id"}, {"segment_id"})  # segment (goals only)
    segment_id = _id(obj["segment_id"], f"{what}.segment_id", at)
    refs.add("segment", segment_id, at.node, at.node_type)
    return {"kind": kind, "segment_id": segment_id}


def _url(value: Any, what: str, at: _Where) -> str:
    url = _text(value, what, at, MAX_URL)
    if not re.match(r"^https?://[^\s/?#]+", url, re.IGNORECASE):
        raise at.error("%(what)s must be an http:// or https:// address", what=what)
    return url


# ------------------------------------------------------------------ node types
def _send(node: dict[str, Any], at: _Where, refs: _Refs) -> dict[str, Any]:
    if "template_id" not in node:
        raise at.error('needs "template_id" (the mail to send)')
    template_id = _id(node["template_id"], "template_id", at)
    refs.add("template", template_id, at.node, at.node_type)
    out: dict[str, Any] = {"template_id": template_id}
    if node.get("ab") is not None:
        out["ab"] = _ab(node["ab"], template_id, at, refs)
    return out


def _ab(raw: Any, template_id: int, at: _Where, refs: _Refs) -> dict[str, Any]:
    """A send node's A/B test: variant A is the node's own template, each variant a share of new walks."""
    obj = _object(raw, "ab", at, {"variants", "metric", "goal_event", "goal_days", "days", "per_variant",
                                  "window_hours", "winner"}, {"variants"})
    variants = obj["variants"]
    if not isinstance(variants, list) or len(variants) < 2:
        raise at.error("an A/B test needs at least two variants")
    if len(variants) > MAX_AB_VARIANTS:
        raise at.error("an A/B test has at most %(max)s variants", max=MAX_AB_VARIANTS)
    out, seen, total = [], set(), 0
    for i, item in enumerate(variants):
        what = f"variant {'ABCDE'[i]}"
        v = _object(item, what, at, {"template_id", "percent", "label"}, {"template_id", "percent"})
        tid = _id(v["template_id"], f"{what} template_id", at)
        if i == 0 and tid != template_id:
            raise at.error("variant A is the node's own mail: its template must be the node's template")
        if tid in seen:
            raise at.error("variant %(variant)s sends the same template as an earlier variant; variants must differ",
                           variant="ABCDE"[i])
        seen.add(tid)
        refs.add("template", tid, at.node, at.node_type)
        percent = _int(v["percent"], f"{what} percent", at, 1, 99)
        total += percent
        entry: dict[str, Any] = {"template_id": tid, "percent": percent}
        if v.get("label"):
            entry["label"] = _text(v["label"], f"{what} label", at, MAX_NAME, empty=True)
        out.append(entry)
    if total != 100:
        raise at.error("the A/B variants' percentages add up to %(total)s, not 100", total=total)
    metric = obj.get("metric", "open")
    if metric not in AB_METRICS:
        raise at.error("ab.metric must be one of %(valid)s", valid=", ".join(AB_METRICS))
    result: dict[str, Any] = {
        "variants": out, "metric": metric,
        "days": _int(obj.get("days", 14), "ab.days", at, 1, 365),
        "per_variant": _int(obj.get("per_variant", 0), "ab.per_variant", at, 0, 10_000_000),
        "window_hours": _int(obj.get("window_hours", 24), "ab.window_hours", at, 1, 24 * 30),
        "winner": obj.get("winner", "auto"),
    }
    if result["winner"] not in AB_WINNER:
        raise at.error("ab.winner must be one of %(valid)s", valid=", ".join(AB_WINNER))
    if metric == "goal":
        result["goal_event"] = _text(obj.get("goal_event", ""), "ab.goal_event", at, MAX_EVENT_NAME)
        result["goal_days"] = _int(obj.get("goal_days", 7), "ab.goal_days", at, 1, 90)
    return result


def _wait(node: dict[str, Any], at: _Where, refs: _Refs) -> dict[str, Any]:
    raw = node.get("wait")
    if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in ("minutes", "window", "date"):
        raise at.error('"wait" must be one of {"minutes": N}, {"window": {...}} or {"date": {...}}')
    kind, value = next(iter(raw.items()))
    if kind == "minutes":
        return {"wait": {"minutes": _int(value, "wait.minutes", at, 1, MAX_MINUTES)}}
    if kind == "window":
        obj = _object(value, "wait.window", at, {"days", "start_hour", "end_hour"}, {"days", "start_hour", "end_hour"})
        days = obj["days"]
        if not isinstance(days, str) or not days or any(d not in WEEKDAYS for d in days) or len(set(days)) != len(days):
            raise at.error("wait.window.days must list weekdays as digits 1 (Monday) to 7 (Sunday), e.g. \"12345\"")
        start = _int(obj["start_hour"], "wait.window.start_hour", at, 0, 23)
        end = _int(obj["end_hour"], "wait.window.end_hour", at, 1, 24)
        # end before start is an overnight window (22 to 6: from 22:00 to 06:00), as sequence windows were
        if end == start:
            raise at.error("wait.window.end_hour must differ from start_hour")
        return {"wait": {"window": {"days": "".join(sorted(days)), "start_hour": start, "end_hour": end}}}
    obj = _object(value, "wait.date", at, {"attribute", "event_property", "offset_days", "hour"})
    if ("attribute" in obj) == ("event_property" in obj):
        raise at.error('wait.date needs one of "attribute" or "event_property"')
    source = "attribute" if "attribute" in obj else "event_property"
    name = _text(obj[source], f"wait.date.{source}", at, 100)
    if not ATTRIBUTE_KEY.match(name):
        raise at.error("wait.date.%(source)s is not a valid attribute name", source=source)
    date = {source: name, "offset_days": _int(obj.get("offset_days", 0), "wait.date.offset_days", at,
                                              -MAX_OFFSET_DAYS, MAX_OFFSET_DAYS),
            "hour": _int(obj.get("hour", 9), "wait.date.hour", at, 0, 23)}
    return {"wait": {"date": date}}


def _wait_for(node: dict[str, Any], at: _Where, refs: _Refs) -> dict[str, Any]:
    if "until" not in node:
        raise at.error('needs "until" (what to wait for)')
    if "timeout" not in node:
        raise at.error('needs "timeout" (how long to wait at most)')
    return {"until": _happening(node["until"], "until", at, WAIT_KINDS, refs),
            "timeout": _minutes(node["timeout"], "timeout", at)}


def _branch(node: dict[str, Any], at: _Where, refs: _Refs, session: Session | None) -> dict[str, Any]:
    branches = node.get("branches")
    if not isinstance(branches, list) or not branches:
        raise at.error("a branch needs at least one condition besides \"else\"")
    if len(branches) > MAX_BRANCHES:
        raise at.error("a branch has at most %(max)s conditions", max=MAX_BRANCHES)
    out, keys = [], set()
    for i, raw in enumerate(branches, 1):
        what = f"branch {i}"
        obj = _object(raw, what, at, {"key", "label", "condition"}, {"key", "condition"})
        key = _key(obj["key"], f"{what} key", at)
        if key == "else":
            raise at.error('"else" is the branch\'s own last exit; choose another key for %(what)s', what=what)
        if key in keys:
            raise at.error('two branches have the key "%(key)s"', key=key)
        keys.add(key)
        cond = obj["condition"]
        if isinstance(cond, dict) and set(cond) == {"previous_mail"}:
            if cond["previous_mail"] not in PREVIOUS_MAIL:
                raise at.error('%(what)s: previous_mail must be "opened" or "clicked"', what=what)
            condition: dict[str, Any] = {"previous_mail": cond["previous_mail"]}
        elif isinstance(cond, dict) and set(cond) == {"rules"}:
            try:
                validate_rules(check_json(cond["rules"], f"{what} rules"), session)
            except SegmentError as exc:
                raise at.error("%(what)s: %(reason)s", what=what, reason=str(exc)) from None
            except TextError as exc:
                raise at.error("%(what)s: %(reason)s", what=what, reason=str(exc)) from None
            condition = {"rules": cond["rules"]}
        else:
            raise at.error('%(what)s: the condition must be {"rules": ...} or {"previous_mail": ...}', what=what)
        item = {"key": key, "label": _text(obj.get("label", ""), f"{what} label", at, MAX_NAME, empty=True),
                "condition": condition}
        out.append(item)
    return {"branches": out}


def _split(node: dict[str, Any], at: _Where, refs: _Refs) -> dict[str, Any]:
    paths = node.get("paths")
    if not isinstance(paths, list) or len(paths) < 2:
        raise at.error("a split needs at least two paths")
    if len(paths) > MAX_PATHS:
        raise at.error("a split has at most %(max)s paths", max=MAX_PATHS)
    out, keys, total = [], set(), 0
    for i, raw in enumerate(paths, 1):
        what = f"path {i}"
        obj = _object(raw, what, at, {"key", "percent"}, {"key", "percent"})
        key = _key(obj["key"], f"{what} key", at)
        if key in keys:
            raise at.error('two paths have the key "%(key)s"', key=key)
        keys.add(key)
        percent = _int(obj["percent"], f"{what} percent", at, 1, 100)
        total += percent
        out.append({"key": key, "percent": percent})
    if total != 100:
        raise at.error("the split's percentages add up to %(total)s, not 100", total=total)
    result: dict[str, Any] = {"paths": out}
    if node.get("goal") is not None:
        result["goal"] = _happening(node["goal"], "goal", at, UNTIL_KINDS, refs)
    return result


def _action(node: dict[str, Any], at: _Where, refs: _Refs) -> dict[str, Any]:
    raw = node.get("action")
    if not isinstance(raw, dict) or raw.get("kind") not in ACTION_KINDS:
        raise at.error("action must have a kind: one of %(kinds)s", kinds=", ".join(ACTION_KINDS))
    kind = raw["kind"]
    if kind == "set_attribute":
        obj = _object(raw, "action", at, {"kind", "key", "value"}, {"key", "value"})
        key = _text(obj["key"], "action.key", at, 100)
        if not ATTRIBUTE_KEY.match(key):
            raise at.error("action.key is not a valid attribute name")
        return {"action": {"kind": kind, "key": key, "value": _scalar(obj["value"], "action.value", at)}}
    if kind in ("add_to_list", "remove_from_list"):
        obj = _object(raw, "action", at, {"kind", "list_id"}, {"list_id"})
        list_id = _id(obj["list_id"], "action.list_id", at)
        refs.add("list", list_id, at.node, at.node_type)
        return {"action": {"kind": kind, "list_id": list_id}}
    if kind == "add_score":
        obj = _object(raw, "action", at, {"kind", "points"}, {"points"})
        points = _int(obj["points"], "action.points", at, -MAX_POINTS, MAX_POINTS)
        if points == 0:
            raise at.error("action.points must not be 0")
        return {"action": {"kind": kind, "points": points}}
    if kind == "set_stage":
        obj = _object(raw, "action", at, {"kind", "stage"}, {"stage"})
        return {"action": {"kind": kind, "stage": _stage(obj["stage"], "action.stage", at)}}
    if kind == "notify_sales":
        obj = _object(raw, "action", at, {"kind", "trigger_id"}, {"trigger_id"})
        trigger_id = _id(obj["trigger_id"], "action.trigger_id", at)
        refs.add("trigger", trigger_id, at.node, at.node_type)
        return {"action": {"kind": kind, "trigger_id": trigger_id}}
    if kind == "webhook":
        obj = _object(raw, "action", at, {"kind", "url"}, {"url"})
        return {"action": {"kind": kind, "url": _url(obj["url"], "action.url", at)}}
    if kind == "suppress":
        obj = _object(raw, "action", at, {"kind", "reason"})
        reason = obj.get("reason", "sunset")
        if reason not in SUPPRESS_REASONS:
            raise at.error("action.reason must be one of %(valid)s", valid=", ".join(SUPPRESS_REASONS))
        return {"action": {"kind": kind, "reason": reason}}
    obj = _object(raw, "action", at, {"kind", "journey_id"}, {"journey_id"})  # enrol_journey
    journey_id = _id(obj["journey_id"], "action.journey_id", at)
    refs.add("journey", journey_id, at.node, at.node_type)
    return {"action": {"kind": kind, "journey_id": journey_id}}


def _exits(node_type: str, data: dict[str, Any]) -> tuple[str, ...]:
    if node_type in ("send", "wait", "action"):
        return ("next",)
    if node_type == "wait_for":
        return ("happened", "timeout")
    if node_type == "branch":
        return (*(b["key"] for b in data["branches"]), "else")
    if node_type == "split":
        return tuple(p["key"] for p in data["paths"])
    return ()


def _node(raw: Any, index: int, session: Session | None, refs: _Refs) -> Node:
    if not isinstance(raw, dict):
        raise GraphError("node %(index)s must be an object", index=index)
    node_id = raw.get("id")
    if not isinstance(node_id, str) or not NODE_ID.match(node_id):
        raise GraphError("node %(index)s: its id must be 1 to 40 letters, digits, \"-\" or \"_\"", index=index)
    node_type = raw.get("type")
    if node_type not in NODE_TYPES:
        raise GraphError("unknown node type %(type)s (known: %(known)s)", node_id,
                         type=json.dumps(node_type)[:60], known=", ".join(NODE_TYPES))
    at = _Where(node_id, node_type)
    allowed = _COMMON | _FIELDS[node_type]
    unknown = sorted(str(k) for k in raw if k not in allowed)
    if unknown:
        raise at.error('unknown field "%(field)s"', field=unknown[0][:60])
    data: dict[str, Any] = {"id": node_id, "type": node_type}
    if raw.get("name"):
        data["name"] = _text(raw["name"], "name", at, MAX_NAME, empty=True)
    if node_type == "send":
        data.update(_send(raw, at, refs))
    elif node_type == "wait":
        data.update(_wait(raw, at, refs))
    elif node_type == "wait_for":
        data.update(_wait_for(raw, at, refs))
    elif node_type == "branch":
        data.update(_branch(raw, at, refs, session))
    elif node_type == "split":
        data.update(_split(raw, at, refs))
    elif node_type == "action":
        data.update(_action(raw, at, refs))
    return Node(node_id, node_type, data, _exits(node_type, data))


# ------------------------------------------------------------------ the graph
def _size(value: Any) -> int:
    try:
        return len(json.dumps(value, ensure_ascii=False, allow_nan=False))
    except (TypeError, ValueError):
        raise GraphError("the graph must be plain JSON (objects, lists, texts, numbers)") from None


def validate_graph(session: Session | None, graph: Any, *, journey_id: int | None = None,
                   allow_empty: bool = False) -> Graph:
    """Check a journey graph against every rule of docs/journeys.md and return its typed view; raise
    GraphError naming the node (the service before saving a draft or publishing, the API, the canvas).
    `journey_id` is the journey the graph belongs to (it may not enrol into itself); `allow_empty`
    accepts a graph with no nodes yet (a draft just created). With no session the references to rows
    (templates, lists, ...) are not checked: the engine reading a published version trusts it, since a
    row archived after the publish must not make the version unreadable."""
    if not isinstance(graph, dict):
        raise GraphError("the graph must be an object with start, nodes and edges")
    unknown = sorted(str(k) for k in graph if k not in ("start", "nodes", "edges", "layout"))
    if unknown:
        raise GraphError('the graph has an unknown field "%(field)s"', field=unknown[0][:60])
    if _size(graph) > MAX_GRAPH_BYTES:
        raise GraphError("the graph is too large (at most %(max)s KB as JSON)", max=MAX_GRAPH_BYTES // 1024)
    try:
        check_json(graph, "graph")
    except TextError as exc:
        raise GraphError("%(reason)s", reason=str(exc)) from None
    nodes_raw = graph.get("nodes", [])
    edges_raw = graph.get("edges", [])
    layout = graph.get("layout", {})
    if not isinstance(nodes_raw, list):
        raise GraphError("nodes must be a list")
    if not isinstance(edges_raw, list):
        raise GraphError("edges must be a list")
    if not isinstance(layout, dict):
        raise GraphError("layout must be an object")
    if not nodes_raw:
        if allow_empty and not edges_raw:
            return Graph("", {}, {}, layout)
        raise GraphError("the journey has no nodes yet")
    if len(nodes_raw) > MAX_NODES:
        raise GraphError("a journey has at most %(max)s nodes (this one has %(count)s)",
                         max=MAX_NODES, count=len(nodes_raw))
    if len(edges_raw) > MAX_EDGES:
        raise GraphError("a journey has at most %(max)s connections", max=MAX_EDGES)

    refs = _Refs()
    nodes: dict[str, Node] = {}
    for index, raw in enumerate(nodes_raw, 1):
        node = _node(raw, index, session, refs)
        if node.id in nodes:
            raise GraphError("two nodes have this id", node.id, node.type)
        nodes[node.id] = node

    start = graph.get("start")
    if not isinstance(start, str) or not start:
        raise GraphError("the graph has no start node (\"start\" must name a node)")
    if start not in nodes:
        raise GraphError('the start node "%(start)s" does not exist', start=start[:60])

    edges: dict[tuple[str, str], str] = {}
    for index, raw in enumerate(edges_raw, 1):
        if not isinstance(raw, dict) or set(raw) != {"from", "exit", "to"}:
            raise GraphError('connection %(index)s must be {"from": node, "exit": exit, "to": node}', index=index)
        source, exit, target = raw["from"], raw["exit"], raw["to"]
        if not isinstance(source, str) or source not in nodes:
            raise GraphError("connection %(index)s starts at a node that does not exist (%(id)s)",
                             index=index, id=json.dumps(source)[:60])
        node = nodes[source]
        if not isinstance(exit, str) or exit not in node.exits:
            have = ", ".join(node.exits) or "none: the journey ends here"
            raise GraphError('exit %(exit)s does not exist (exits: %(exits)s)', node.id, node.type,
                             exit=json.dumps(exit)[:60], exits=have)
        if not isinstance(target, str) or target not in nodes:
            raise GraphError('exit "%(exit)s" leads to a node that does not exist (%(id)s)', node.id, node.type,
                             exit=exit, id=json.dumps(target)[:60])
        if (source, exit) in edges:
            raise GraphError('exit "%(exit)s" has two connections (to "%(a)s" and "%(b)s")', node.id, node.type,
                             exit=exit, a=edges[(source, exit)], b=target)
        edges[(source, exit)] = target

    # open / click waits name a send node of this graph (its mail is the one watched)
    for node in nodes.values():
        for key in ("until", "goal"):
            happening = node.data.get(key)
            if isinstance(happening, dict) and happening.get("kind") in ("open", "click"):
                watched = nodes.get(happening["node"])
                if watched is None or watched.type != "send":
                    raise GraphError('%(key)s: "%(watched)s" is not a send node of this journey', node.id, node.type,
                                     key=key, watched=happening["node"])

    _check_reachable(start, nodes, edges)
    _check_cycles(nodes, edges)
    _check_refs(session, refs, journey_id)
    return Graph(start, nodes, edges, layout)


def _check_reachable(start: str, nodes: dict[str, Node], edges: dict[tuple[str, str], str]) -> None:
    seen, todo = {start}, [start]
    while todo:
        current = todo.pop()
        for exit in nodes[current].exits:
            target = edges.get((current, exit))
            if target is not None and target not in seen:
                seen.add(target)
                todo.append(target)
    for node in nodes.values():
        if node.id not in seen:
            raise GraphError("no path from the start reaches this node", node.id, node.type)


def _check_cycles(nodes: dict[str, Node], edges: dict[tuple[str, str], str]) -> None:
    """A cycle among nodes that take no time (everything but wait / wait_for) would spin a contact
    through the graph within one tick: find one by depth-first search over those nodes only."""
    successors: dict[str, list[str]] = {n: [] for n in nodes}
    for (source, _), target in edges.items():
        if nodes[source].type not in PAUSING_TYPES and nodes[target].type not in PAUSING_TYPES:
            successors[source].append(target)
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for root in nodes:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(successors[root]))]
        while stack:
            current, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[current] = 2
                stack.pop()
            elif state.get(child) == 1:
                node = nodes[child]
                raise GraphError("this node is on a loop that passes through no wait; add a wait or a "
                                 "wait for to the loop", node.id, node.type)
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(successors[child])))


def graph_problem(session: Session | None, graph: Any, **kwargs: Any) -> GraphError | None:
    """The first rule a graph breaks, or None (the canvas's live validation)."""
    try:
        validate_graph(session, graph, **kwargs)
    except GraphError as exc:
        return exc
    return None


# ------------------------------------------------------------------ settings
_SETTINGS_KEYS = {"entry", "reentry", "goal", "exit", "max_visits"}


def validate_settings(session: Session, settings: Any) -> dict[str, Any]:
    """Check a journey's settings (docs/journeys.md) and return them normalised, defaults filled in;
    raise GraphError (node None) saying which setting (the service, the API, the canvas)."""
    if settings is None:
        settings = {}
    at = _Where()
    obj = _object(settings, "settings", at, _SETTINGS_KEYS)
    refs = _Refs()
    entry_raw = obj.get("entry", [])
    if not isinstance(entry_raw, list):
        raise at.error("settings.entry must be a list of triggers")
    if len(entry_raw) > MAX_ENTRY:
        raise at.error("settings.entry has at most %(max)s triggers", max=MAX_ENTRY)
    entry = [_entry(raw, f"entry trigger {i}", at, refs) for i, raw in enumerate(entry_raw, 1)]
    reentry = obj.get("reentry", False)
    if not isinstance(reentry, bool):
        raise at.error("settings.reentry must be true or false")
    goal = None
    if obj.get("goal") is not None:
        goal = _happening(obj["goal"], "settings.goal", at, GOAL_KINDS, refs)
    exit_ = _exit(obj.get("exit") or {}, at, refs)
    max_visits = _int(obj.get("max_visits", DEFAULT_MAX_VISITS), "settings.max_visits", at, 1, MAX_VISITS)
    _check_refs(session, refs, None)
    return {"entry": entry, "reentry": reentry, "goal": goal, "exit": exit_, "max_visits": max_visits}


def _entry(raw: Any, what: str, at: _Where, refs: _Refs) -> dict[str, Any]:
    if not isinstance(raw, dict) or raw.get("kind") not in ENTRY_KINDS:
        raise at.error("%(what)s must have a kind: one of %(kinds)s", what=what, kinds=", ".join(ENTRY_KINDS))
    kind = raw["kind"]
    if kind in ("event", "form", "stage", "visit"):
        return _happening(raw, what, at, (kind,), refs)
    if kind == "segment":
        obj = _object(raw, what, at, {"kind", "segment_id"}, {"segment_id"})
        segment_id = _id(obj["segment_id"], f"{what}.segment_id", at)
        refs.add("segment", segment_id, None, "")
        return {"kind": kind, "segment_id": segment_id}
    if kind == "list":
        obj = _object(raw, what, at, {"kind", "list_id"}, {"list_id"})
        list_id = _id(obj["list_id"], f"{what}.list_id", at)
        refs.add("list", list_id, None, "")
        return {"kind": kind, "list_id": list_id}
    obj = _object(raw, what, at, {"kind", "attribute", "event_property", "event", "offset_days", "hour"})  # date
    if ("attribute" in obj) == ("event_property" in obj):
        raise at.error('%(what)s needs one of "attribute" or "event_property"', what=what)
    source = "attribute" if "attribute" in obj else "event_property"
    name = _text(obj[source], f"{what}.{source}", at, 100)
    if not ATTRIBUTE_KEY.match(name):
        raise at.error("%(what)s: %(name)s is not a valid attribute name", what=what, name=json.dumps(name))
    # The event whose property holds the date (optional: without it, any event carrying the property).
    event = {"event": _text(obj["event"], f"{what}.event", at, MAX_EVENT_NAME)} \
        if source == "event_property" and obj.get("event") else {}
    return {"kind": kind, source: name, **event,
            "offset_days": _int(obj.get("offset_days", 0), f"{what}.offset_days", at, -MAX_OFFSET_DAYS,
                                MAX_OFFSET_DAYS),
            "hour": _int(obj.get("hour", 9), f"{what}.hour", at, 0, 23)}


def _exit(raw: Any, at: _Where, refs: _Refs) -> dict[str, Any]:
    obj = _object(raw, "settings.exit", at, {"events", "stages", "segment_id", "segment_when"})
    events, stages = obj.get("events") or [], obj.get("stages") or []
    if not isinstance(events, list) or len(events) > MAX_ENTRY:
        raise at.error("settings.exit.events must be a list of at most %(max)s event names", max=MAX_ENTRY)
    if not isinstance(stages, list):
        raise at.error("settings.exit.stages must be a list of stages")
    names = list(dict.fromkeys(_text(e, "settings.exit.events", at, MAX_EVENT_NAME) for e in events))
    stage_list = list(dict.fromkeys(_stage(s, "settings.exit.stages", at) for s in stages))
    segment_id = obj.get("segment_id")
    if segment_id is not None:
        segment_id = _id(segment_id, "settings.exit.segment_id", at)
        refs.add("segment", segment_id, None, "")
    when = obj.get("segment_when", "in")
    if when not in ("in", "out"):
        raise at.error('settings.exit.segment_when must be "in" or "out"')
    return {"events": names, "stages": stage_list, "segment_id": segment_id, "segment_when": when}


# ------------------------------------------------------------------ JSON Schema (OpenAPI)
_ID_SCHEMA = {"type": "string", "pattern": NODE_ID.pattern}
_POSITIVE = {"type": "integer", "minimum": 1}
_MINUTES = {"type": "object", "required": ["minutes"], "additionalProperties": False,
            "properties": {"minutes": {"type": "integer", "minimum": 1, "maximum": MAX_MINUTES}}}
_HAPPENING = {
    "type": "object", "required": ["kind"],
    "description": "event (name, where), open / click of a send node's mail (node, url), form (form_id), "
                   "stage (stage), visit (page: a page pattern such as /pricing*; waits and entry triggers); "
                   "goals may also be a segment (segment_id)",
    "properties": {
        "kind": {"enum": [*WAIT_KINDS, "segment"]}, "page": {"type": "string", "maxLength": 500},
        "name": {"type": "string", "maxLength": MAX_EVENT_NAME},
        "where": {"type": "object", "maxProperties": MAX_WHERE},
        "node": _ID_SCHEMA, "url": {"type": "string", "maxLength": MAX_URL},
        "form_id": _POSITIVE, "segment_id": _POSITIVE, "stage": {"enum": [s.value for s in Stage]},
    },
    "additionalProperties": False,
}


_AB_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["variants"], "additionalProperties": False,
    "description": "An A/B test of this mail: variant A is the node's own template; each variant takes a share of "
                   "new walks (percent, summing to 100), one mail per walk with the variant recorded on the send. "
                   "Decided with the A/B statistics at the planned horizon (days, or per_variant sends each, then "
                   "window_hours of engagement); winner auto sends the winner to later walks.",
    "properties": {
        "variants": {"type": "array", "minItems": 2, "maxItems": MAX_AB_VARIANTS, "items": {
            "type": "object", "required": ["template_id", "percent"], "additionalProperties": False,
            "properties": {"template_id": _POSITIVE, "percent": {"type": "integer", "minimum": 1, "maximum": 99},
                           "label": {"type": "string", "maxLength": MAX_NAME}}}},
        "metric": {"enum": list(AB_METRICS)},
        "goal_event": {"type": "string", "maxLength": MAX_EVENT_NAME},
        "goal_days": {"type": "integer", "minimum": 1, "maximum": 90},
        "days": {"type": "integer", "minimum": 1, "maximum": 365},
        "per_variant": {"type": "integer", "minimum": 0, "maximum": 10_000_000},
        "window_hours": {"type": "integer", "minimum": 1, "maximum": 24 * 30},
        "winner": {"enum": list(AB_WINNER)},
    },
}


def _node_schema(node_type: str, required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object", "title": node_type, "required": ["id", "type", *required], "additionalProperties": False,
        "properties": {"id": _ID_SCHEMA, "type": {"const": node_type},
                       "name": {"type": "string", "maxLength": MAX_NAME}, **properties},
    }


GRAPH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "JourneyGraph",
    "description": "A journey's graph (docs/journeys.md). The API also checks what a schema cannot: references "
                   "to templates, lists, forms, segments, journeys and triggers, reachability from the start, "
                   "loops without a wait, split percentages adding up to 100.",
    "required": ["start", "nodes", "edges"],
    "additionalProperties": False,
    "properties": {
        # "" only in an empty draft (EMPTY_GRAPH: a journey just created); validate_graph refuses it on save
        "start": {"anyOf": [_ID_SCHEMA, {"type": "string", "maxLength": 0}]},
        "nodes": {"type": "array", "maxItems": MAX_NODES, "items": {"oneOf": [
            _node_schema("send", ["template_id"], {"template_id": _POSITIVE, "ab": _AB_SCHEMA}),
            _node_schema("wait", ["wait"], {"wait": {
                "type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": False,
                "properties": {
                    "minutes": {"type": "integer", "minimum": 1, "maximum": MAX_MINUTES},
                    "window": {"type": "object", "required": ["days", "start_hour", "end_hour"],
                               "additionalProperties": False, "properties": {
                                   "days": {"type": "string", "pattern": "^[1-7]{1,7}$"},
                                   "start_hour": {"type": "integer", "minimum": 0, "maximum": 23},
                                   "end_hour": {"type": "integer", "minimum": 1, "maximum": 24}}},
                    "date": {"type": "object", "additionalProperties": False, "properties": {
                        "attribute": {"type": "string"}, "event_property": {"type": "string"},
                        "offset_days": {"type": "integer", "minimum": -MAX_OFFSET_DAYS, "maximum": MAX_OFFSET_DAYS},
                        "hour": {"type": "integer", "minimum": 0, "maximum": 23}}},
                }}}),
            _node_schema("wait_for", ["until", "timeout"], {"until": _HAPPENING, "timeout": _MINUTES}),
            _node_schema("branch", ["branches"], {"branches": {
                "type": "array", "minItems": 1, "maxItems": MAX_BRANCHES, "items": {
                    "type": "object", "required": ["key", "condition"], "additionalProperties": False,
                    "properties": {"key": _ID_SCHEMA, "label": {"type": "string", "maxLength": MAX_NAME},
                                   "condition": {"oneOf": [
                                       {"type": "object", "required": ["rules"], "additionalProperties": False,
                                        "properties": {"rules": {"type": "object",
                                                                 "description": "segment rules (docs/segments.md)"}}},
                                       {"type": "object", "required": ["previous_mail"],
                                        "additionalProperties": False,
                                        "properties": {"previous_mail": {"enum": list(PREVIOUS_MAIL)}}}]}}}}}),
            _node_schema("split", ["paths"], {"paths": {
                "type": "array", "minItems": 2, "maxItems": MAX_PATHS, "items": {
                    "type": "object", "required": ["key", "percent"], "additionalProperties": False,
                    "properties": {"key": _ID_SCHEMA, "percent": {"type": "integer", "minimum": 1, "maximum": 100}}}},
                "goal": _HAPPENING}),
            _node_schema("action", ["action"], {"action": {
                "type": "object", "required": ["kind"], "properties": {
                    "kind": {"enum": list(ACTION_KINDS)}, "key": {"type": "string", "maxLength": 100},
                    "value": {"type": ["string", "number", "boolean", "null"]}, "list_id": _POSITIVE,
                    "points": {"type": "integer", "minimum": -MAX_POINTS, "maximum": MAX_POINTS},
                    "stage": {"enum": [s.value for s in Stage]}, "trigger_id": _POSITIVE,
                    "url": {"type": "string", "maxLength": MAX_URL}, "journey_id": _POSITIVE,
                    "reason": {"enum": list(SUPPRESS_REASONS)}},
                "additionalProperties": False}}),
            _node_schema("end", [], {}),
        ]}},
        "edges": {"type": "array", "maxItems": MAX_EDGES, "items": {
            "type": "object", "required": ["from", "exit", "to"], "additionalProperties": False,
            "properties": {"from": _ID_SCHEMA, "exit": _ID_SCHEMA, "to": _ID_SCHEMA}}},
        "layout": {"type": "object", "description": "free for the canvas; ignored by the engine"},
    },
}

SETTINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "JourneySettings",
    "additionalProperties": False,
    "properties": {
        "entry": {"type": "array", "maxItems": MAX_ENTRY, "items": {
            "type": "object", "required": ["kind"], "properties": {"kind": {"enum": list(ENTRY_KINDS)}}}},
        "reentry": {"type": "boolean"},
        "goal": {"oneOf": [_HAPPENING, {"type": "null"}]},
        "exit": {"type": "object", "additionalProperties": False, "properties": {
            "events": {"type": "array", "items": {"type": "string"}},
            "stages": {"type": "array", "items": {"enum": [s.value for s in Stage]}},
            "segment_id": {"oneOf": [_POSITIVE, {"type": "null"}]},
            "segment_when": {"enum": ["in", "out"]}}},
        "max_visits": {"type": "integer", "minimum": 1, "maximum": MAX_VISITS},
    },
}
