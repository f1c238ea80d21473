"""Sequences as linear journeys: the one rule that turns a sequence's steps and settings into a journey graph
and settings (docs/journeys.md, "From sequences to journeys").

Who calls it: activating a sequence (`activate_sequence`: the sequence builder's "Activate" and the API's
POST /sequences/{id}/activate turn a draft sequence into a live linear journey here, the only way a sequence
starts to run), the sequence view of the API (campaigns.api.sequences reads a converted sequence's steps back
from its journey with `steps_from_graph`), the demo data (campaigns.demo) and the tests. Migration 0012
(migrations/versions/0012_sequences_become_journeys.py) applies the same rule in plain code of its own,
because a migration must not import the application's changing modules; tests/automation/
test_sequence_conversion.py checks that both give the same graph.

The graph, per live step in position order (node ids derived from the step id, so the ledger key
(walk, node, visit) of a converted send is (enrolment, "step-<id>", 1) and stays valid for every later
version):

- `step-<id>-delay`: a `wait` of the step's delay in minutes (only when the delay is above 0);
- `step-<id>-window`: a `wait` until the step's send window opens in the contact's zone (only when the
  step has one; a sequence window without days means every day, without hours the whole day);
- `step-<id>`: the `send` of the step's template.

Each node's `next` leads to the following one; the last send's `next` has no edge, so the walk completes
there, as an enrolment completed after its last step. A sequence without live steps becomes a graph of a
single `end` node named `end`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.automation import service
from campaigns.experiments.journeys import adopt_step_tests
from campaigns.journeys import walk_entry
from campaigns.journeys.sequences import live_steps, sequence_problems
from campaigns.models import Form, Journey, JourneyStatus, Sequence, SequenceStatus

SEQUENCE_STATUS_TO_JOURNEY = {"draft": "draft", "active": "live", "paused": "paused"}
END_NODE = "end"


def send_node(step_id: int) -> str:
    """The send node id of a sequence step (the ledger's node_key of its sends)."""
    return f"step-{step_id}"


def delay_node(step_id: int) -> str:
    """The wait node of a step's delay."""
    return f"step-{step_id}-delay"


def window_node(step_id: int) -> str:
    """The wait node of a step's send window."""
    return f"step-{step_id}-window"


def has_window(step: dict[str, Any]) -> bool:
    """Does the step restrict its send to weekdays or hours?"""
    return bool(step.get("window_days")) or step.get("window_start_hour") is not None \
        or step.get("window_end_hour") is not None


def window_of(step: dict[str, Any]) -> dict[str, Any]:
    """The step's send window as a journey wait window (every day / the whole day where the step says none)."""
    start = step.get("window_start_hour")
    end = step.get("window_end_hour")
    return {"days": "".join(sorted(step.get("window_days") or "1234567")),
            "start_hour": 0 if start is None else int(start), "end_hour": 24 if end is None else int(end)}


def step_node_ids(step: dict[str, Any]) -> list[str]:
    """The nodes one step becomes, in order (delay, window, send; the first two only when needed)."""
    ids = []
    if int(step.get("delay_minutes") or 0) > 0:
        ids.append(delay_node(int(step["id"])))
    if has_window(step):
        ids.append(window_node(int(step["id"])))
    ids.append(send_node(int(step["id"])))
    return ids


def linear_graph(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The journey graph of these steps (dicts with id, template_id, delay_minutes, window_days,
    window_start_hour, window_end_hour), in the order given."""
    nodes: list[dict[str, Any]] = []
    for step in steps:
        step_id = int(step["id"])
        delay = int(step.get("delay_minutes") or 0)
        if delay > 0:
            nodes.append({"id": delay_node(step_id), "type": "wait", "wait": {"minutes": delay}})
        if has_window(step):
            nodes.append({"id": window_node(step_id), "type": "wait", "wait": {"window": window_of(step)}})
        nodes.append({"id": send_node(step_id), "type": "send", "template_id": int(step["template_id"])})
    if not nodes:
        return {"start": END_NODE, "nodes": [{"id": END_NODE, "type": "end"}], "edges": [], "layout": {}}
    edges = [{"from": a["id"], "exit": "next", "to": b["id"]} for a, b in zip(nodes, nodes[1:], strict=False)]
    return {"start": nodes[0]["id"], "nodes": nodes, "edges": edges, "layout": {}}


def linear_settings(sequence: dict[str, Any], form_ids: list[int] | None = None) -> dict[str, Any]:
    """The journey settings of a sequence (a dict of its columns): event entry triggers, its trigger segment
    and the forms that enrolled into it as entry; re-entry; the goal event; exit events, stages and segment
    ("left" becomes the journey's "out")."""
    entry: list[dict[str, Any]] = [{"kind": "event", "name": name} for name in sequence.get("trigger_events") or []]
    if sequence.get("trigger_segment_id"):
        entry.append({"kind": "segment", "segment_id": int(sequence["trigger_segment_id"])})
    entry.extend({"kind": "form", "form_id": int(f)} for f in sorted(set(form_ids or [])))
    goal = {"kind": "event", "name": sequence["goal_event"]} if sequence.get("goal_event") else None
    when = "in" if sequence.get("exit_segment_when") == "in" else "out"
    return {
        "entry": entry, "reentry": bool(sequence.get("allow_reentry")), "goal": goal,
        "exit": {"events": list(sequence.get("exit_events") or []), "stages": list(sequence.get("exit_stages") or []),
                 "segment_id": int(sequence["exit_segment_id"]) if sequence.get("exit_segment_id") else None,
                 "segment_when": when},
        "max_visits": 3,
    }


def steps_from_graph(graph: dict[str, Any]) -> list[dict[str, Any]]:
    """A linear journey's graph read back as sequence steps, in walking order (the sequence API's view): each
    send node is a step; the wait nodes before it give its delay and window. Nodes of other types (a journey
    edited on the canvas) are skipped; `step_id` is set where the node id is a converted step's."""
    nodes = {str(n["id"]): n for n in graph.get("nodes") or []}
    edges = {(str(e["from"]), str(e["exit"])): str(e["to"]) for e in graph.get("edges") or []}
    steps: list[dict[str, Any]] = []
    pending: dict[str, Any] = {"delay_minutes": 0, "window_days": "", "window_start_hour": None,
                               "window_end_hour": None}
    key, seen = str(graph.get("start") or ""), set()
    while key in nodes and key not in seen:
        seen.add(key)
        node = nodes[key]
        wait = node.get("wait") or {}
        if node.get("type") == "wait" and "minutes" in wait:
            pending["delay_minutes"] += int(wait["minutes"])
        elif node.get("type") == "wait" and "window" in wait:
            window = wait["window"]
            pending.update(window_days=str(window.get("days") or ""), window_start_hour=window.get("start_hour"),
                           window_end_hour=window.get("end_hour"))
        elif node.get("type") == "send":
            step_id = int(key[5:]) if key.startswith("step-") and key[5:].isdigit() else None
            steps.append({"node": key, "step_id": step_id, "template_id": int(node["template_id"]), **pending})
            pending = {"delay_minutes": 0, "window_days": "", "window_start_hour": None, "window_end_hour": None}
        key = edges.get((key, "next"), "")
    return steps


# ------------------------------------------------------------------ activation: a sequence starts as a journey
SETTING_COLUMNS = ("trigger_events", "trigger_segment_id", "allow_reentry", "goal_event", "exit_events",
                   "exit_stages", "exit_segment_id", "exit_segment_when")


class SequenceRunsAsJourney(ValueError):
    """A change asked of a sequence that runs as a journey; `journey_id` names where to make it (the API's
    422 and the builder's redirect say so)."""

    def __init__(self, journey_id: int, what: str) -> None:
        self.journey_id = journey_id
        super().__init__(f"this sequence runs as a journey now (journey {journey_id}): {what} there "
                         f"(/api/v1/journeys/{journey_id}, or the journey canvas)")


def sequence_forms(session: Session, sequence_id: int) -> list[int]:
    """Ids of the forms whose submissions enrol into this sequence (they become the journey's form entries)."""
    return [int(f.id) for f in session.scalars(select(Form)) if sequence_id in [int(i) for i in f.sequence_ids or []]]


def activate_sequence(session: Session, sequence: Sequence, published_by: str = "") -> Journey:
    """Start a sequence: it becomes a live linear journey (the rule above, as migration 0012 applies it),
    published as version 1 through the journey service, and the sequence takes the status `converted`
    (the builder's "Activate", the API's activate). A sequence already running as a journey: a paused
    journey is resumed, a live one is returned as it is. Raises ValueError with the reasons it cannot run
    (no steps, a template without a saved version, the sender identity missing); the caller commits."""
    if sequence.status == SequenceStatus.CONVERTED:
        journey = walk_entry.journey_of_sequence(session, sequence.id)
        if journey is None or journey.status == JourneyStatus.ARCHIVED:
            raise ValueError("this sequence ran as a journey that is archived now; duplicate the journey")
        if journey.status == JourneyStatus.PAUSED:
            service.resume(session, journey)
        return journey
    problems = sequence_problems(session, sequence)
    if problems:
        raise ValueError("; ".join(problems))
    steps = [{"id": st.id, "template_id": st.template_id, "delay_minutes": st.delay_minutes,
              "window_days": st.window_days, "window_start_hour": st.window_start_hour,
              "window_end_hour": st.window_end_hour} for st in live_steps(session, sequence.id)]
    columns = {c: getattr(sequence, c) for c in SETTING_COLUMNS}
    columns["exit_segment_when"] = str(columns["exit_segment_when"] or "left")
    journey = service.create_journey(session, sequence.name, sequence.description or "",
                                     graph=linear_graph(steps),
                                     settings=linear_settings(columns, sequence_forms(session, sequence.id)))
    journey.sequence_id = sequence.id
    journey.public_name = sequence.public_name  # what recipients read on the preference page
    # its steps' running A/B tests go on at their send nodes (the graph carries them; publish keeps them)
    journey.draft_graph = adopt_step_tests(session, journey.id, sequence.id, journey.draft_graph)
    service.publish(session, journey, published_by=published_by or f"sequence {sequence.id} activated")
    sequence.status = SequenceStatus.CONVERTED
    session.flush()
    return journey


def pause_sequence(session: Session, sequence: Sequence) -> Journey:
    """Pause the journey a sequence runs as (the API's pause; the builder pauses on the journey canvas).
    A sequence that never ran (a draft) has nothing to pause: ValueError saying so."""
    if sequence.status != SequenceStatus.CONVERTED:
        raise ValueError("this sequence is a draft: it is not running, so there is nothing to pause")
    journey = walk_entry.journey_of_sequence(session, sequence.id)
    if journey is None or journey.status == JourneyStatus.ARCHIVED:
        raise ValueError("this sequence ran as a journey that is archived now")
    if journey.status == JourneyStatus.LIVE:
        service.pause(session, journey)
    return journey
