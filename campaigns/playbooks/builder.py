"""What a playbook installation writes, one object at a time, each through the service that owns it.

`Installation` is handed to a scenario (campaigns.playbooks.scenarios): it creates templates from the gallery,
segments, lists, forms, scoring rules, hand-over triggers, draft broadcasts and draft journeys, records each
as a `Piece` (kind, id, name) for the result page, and names every object with the installation's suffix, so
installing a playbook twice makes a second, independent copy ("… (2)") and never touches the first.

Everything is created switched off: journeys and broadcasts as drafts, forms inactive, rules and triggers
inactive. Nothing mails anyone or moves a score until the marketer has read and published it.

`Flow` writes a journey graph (docs/journeys.md) as a chain: `then()` appends a node after the last open exit,
`branch()` forks, so a scenario reads top to bottom like the journey it builds. The graph is checked by the
journey service (`validate_graph` through `create_journey`) like any graph a marketer draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.audience.lists import create_list
from campaigns.audience.segments import validate_rules
from campaigns.automation.service import create_journey
from campaigns.config import Settings
from campaigns.delivery import gallery
from campaigns.journeys.broadcasts import create_broadcast
from campaigns.leads.forms import FormInput, create_form, default_consent_text, default_fields
from campaigns.models import (
    Broadcast,
    ContactList,
    Form,
    FormStatus,
    Journey,
    ScoreTrigger,
    ScoringRule,
    Segment,
    Template,
)
from campaigns.scoring.rules import create_rule
from campaigns.scoring.triggers import create_trigger

MAX_COPIES = 100  # suffixes tried before giving up (a hundred installs of one playbook is a mistake)
DAY = 24 * 60  # minutes
WORKING_HOURS = {"window": {"days": "12345", "start_hour": 9, "end_hour": 18}}  # weekdays 9:00-18:00


class PlaybookError(ValueError):
    """An installation that cannot be done (unknown playbook, no free name); English, translated by the UI."""


@dataclass(frozen=True)
class Piece:
    """One object an installation created: what it is, its id and its name (the result page links each)."""

    kind: str  # template, segment, list, form, rule, trigger, broadcast, journey
    id: int
    name: str


_MODELS: dict[str, Any] = {
    "template": Template, "segment": Segment, "list": ContactList, "form": Form, "rule": ScoringRule,
    "trigger": ScoreTrigger, "broadcast": Broadcast, "journey": Journey,
}


def copy_suffix(session: Session, names: dict[str, list[str]]) -> str:
    """"" when none of the names is taken, else " (n)" with the smallest n that frees all of them: the
    second installation's objects are "… (2)" in every kind, so they read as one set."""
    for n in range(1, MAX_COPIES + 1):
        suffix = "" if n == 1 else f" ({n})"
        taken = False
        for kind, wanted in names.items():
            model = _MODELS.get(kind)
            if model is None or not wanted:
                continue
            found = session.scalar(select(model.id).where(model.name.in_([w + suffix for w in wanted])).limit(1))
            if found is not None:
                taken = True
                break
        if not taken:
            return suffix
    raise PlaybookError(f"this playbook is already installed {MAX_COPIES} times")


@dataclass
class Installation:
    """The objects one installation creates, in one language, with one name suffix (scenarios call it)."""

    session: Session
    settings: Settings
    language: str
    suffix: str = ""
    sales_email: str = ""
    pieces: list[Piece] = field(default_factory=list)

    def _named(self, name: str) -> str:
        return name + self.suffix

    def _keep(self, kind: str, obj: Any) -> Any:
        self.pieces.append(Piece(kind, int(obj.id), str(obj.name)))
        return obj

    def template(self, key: str, name: str) -> int:
        """A block mail from the gallery (the starter `key` in the installation's language)."""
        item = gallery.starter(key, self.language)
        if item is None:  # the data and the scenarios ship together: a test installs every playbook
            raise PlaybookError(f"the gallery has no mail {key!r}")
        return int(self._keep("template", gallery.create_from_starter(
            self.session, self.settings, item, self._named(name))).id)

    def segment(self, name: str, rules: dict[str, Any]) -> int:
        """A saved segment (the rules checked by the segment compiler, as the editor does)."""
        validate_rules(rules, self.session)
        segment = Segment(name=self._named(name), rules=rules)
        self.session.add(segment)
        self.session.flush()
        return int(self._keep("segment", segment).id)

    def contact_list(self, name: str, description: str) -> int:
        """A static list (names are unique: the suffix keeps a second installation's apart)."""
        return int(self._keep("list", create_list(self.session, self._named(name), description)).id)

    def form(self, name: str, title: str, description: str, submit_label: str, thank_you: str,
             source: str, extra_fields: list[dict[str, Any]] | None = None) -> int:
        """A hosted form, inactive until the marketer turns it on (its page answers "closed" until then)."""
        data = FormInput(
            name=self._named(name), title=title, description=description,
            fields=[*default_fields(), *(extra_fields or [])], submit_label=submit_label,
            consent_text=default_consent_text(self.session), source=source, thank_you_message=thank_you,
            status=FormStatus.INACTIVE,
        )
        return int(self._keep("form", create_form(self.session, data)).id)

    def form_name(self, form_id: int) -> str:
        """A form's stored name (scoring rules filter form submissions by it)."""
        return next(p.name for p in self.pieces if p.kind == "form" and p.id == form_id)

    def rule(self, **fields: Any) -> int:
        """A scoring rule, inactive (Scoring > Rules turns it on)."""
        fields["name"] = self._named(fields["name"])
        return int(self._keep("rule", create_rule(self.session, {**fields, "active": False})).id)

    def handover(self, name: str) -> int:
        """An inactive hand-over trigger that emails sales when a contact becomes an MQL; journeys' "notify
        sales" steps use it too (an inactive trigger still delivers when a journey asks it to)."""
        trigger = create_trigger(self.session, {
            "name": self._named(name), "when": "stage", "stage": "mql", "action": "email",
            "email_to": self.sales_email, "active": False,
        })
        return int(self._keep("trigger", trigger).id)

    def broadcast(self, name: str, template_id: int, segment_id: int) -> int:
        """A draft broadcast (nothing goes until it is scheduled through its confirmation)."""
        return int(self._keep("broadcast", create_broadcast(self.session, self._named(name), template_id,
                                                            segment_id)).id)

    def journey(self, name: str, description: str, flow: Flow, settings: dict[str, Any]) -> int:
        """A draft journey: the graph and settings validated by the journey service."""
        journey = create_journey(self.session, self._named(name), description, graph=flow.graph(),
                                 settings=settings)
        return int(self._keep("journey", journey).id)


@dataclass
class Flow:
    """A journey graph built in reading order: each `then` hangs a node on the open exits before it."""

    nodes: list[dict[str, Any]] = field(default_factory=list)
    edges: list[dict[str, str]] = field(default_factory=list)
    open_exits: list[tuple[str, str]] = field(default_factory=list)

    def _add(self, node: dict[str, Any]) -> str:
        node_id = f"n{len(self.nodes) + 1}"
        self.nodes.append({"id": node_id, **node})
        for source, exit_ in self.open_exits:
            self.edges.append({"from": source, "exit": exit_, "to": node_id})
        return node_id

    def then(self, node: dict[str, Any], exit_: str = "next") -> Flow:
        """Append a node after the open exits; its `exit_` becomes the open one (an end node closes the path)."""
        node_id = self._add(node)
        self.open_exits = [] if node["type"] == "end" else [(node_id, exit_)]
        return self

    def fork(self, node: dict[str, Any]) -> str:
        """Append a node with several exits (branch, wait for); `follow` then picks the exit to build on."""
        node_id = self._add(node)
        self.open_exits = []
        return node_id

    def follow(self, *exits: tuple[str, str]) -> Flow:
        """Build on these (node, exit) pairs next: one path, or several joining into the next node."""
        self.open_exits = list(exits)
        return self

    def send(self, template_id: int, name: str) -> Flow:
        return self.then({"type": "send", "template_id": template_id, "name": name})

    def wait_days(self, days: int, name: str, hours_name: str) -> Flow:
        """Wait `days`, then until working hours on a weekday (B2B mail is read at the desk)."""
        return (self.then({"type": "wait", "wait": {"minutes": days * DAY}, "name": name})
                .then({"type": "wait", "wait": WORKING_HOURS, "name": hours_name}))

    def end(self) -> Flow:
        return self.then({"type": "end"})

    def graph(self) -> dict[str, Any]:
        return {"start": self.nodes[0]["id"] if self.nodes else "", "nodes": self.nodes, "edges": self.edges,
                "layout": {}}
