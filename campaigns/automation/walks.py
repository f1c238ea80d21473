"""Walks in memory: where a contact is in a journey, how it moves (enter, leave, finish), and how a batch of
moves is written back: one compare-and-set UPDATE per batch and the path log (journey_steps).

Used by the engine (engine.py runs due walks, happenings.py moves waiting ones, converts and exits). Walks
start elsewhere, in one place: campaigns.journeys.walk_entry (the service, the entry triggers, the
enrol_journey action). The rules of moving live here once:

- entering a node sets `node_key`, `visit` (times this walk entered it, `visits` keeps the count per
  node), `node_entered_at = due_at = now` and `waiting = False`: every node does its work when the runner
  takes the walk (nodes.py). A wait node is "armed" once its end is set (`due_at > node_entered_at`), a
  wait_for node once `waiting` is set;
- a node entered more than the journey's `max_visits` times ends the walk (exited, with the reason);
- an exit with no edge completes the walk, like an `end` node;
- the path log (journey_steps) holds ONE row per node LEFT, written when the walk leaves it: node, visit,
  entered_at (the walk's node_entered_at), left_at, exit and detail. The node a walk is at now is not in the
  log: it is the walk's own (node_key, visit, node_entered_at), so a move costs one INSERT per node left and
  no UPDATE of the log (the earlier shape, a row inserted on entering and updated on leaving, was most of the
  due pass's writes). Readers join the two: report.py ("now" from the walks, "passed" and exits from the
  log plus the walks there now), service.contact_path (the log, then the current node from the walk).

`write_moves` writes the walks with ONE UPDATE that matches each row on (id, node_key, visit, version_id,
active) as it was read: a walk that something else moved meanwhile (an event, a timeout, a publish that moved
it to a new version while a tick read the old graph) is not written. Callers that locked the rows
first (the due runner) treat a miss as a lost race and roll the whole batch back (`LostRace`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from operator import attrgetter
from typing import Any

from sqlalchemy import String, Text, cast, func, insert, select, text, update
from sqlalchemy.orm import Session

from campaigns.automation.graph import Graph, Node
from campaigns.models import (
    Contact,
    Journey,
    JourneyEnrolment,
    JourneyEnrolmentStatus,
    JourneyStatus,
    JourneyStep,
    JourneyVersion,
    Send,
    SendStatus,
)
from campaigns.models.contacts import address_suppressed
from campaigns.sql_functions import among, pg_array

ACTIVE = JourneyEnrolmentStatus.ACTIVE.value
CONVERTED = JourneyEnrolmentStatus.CONVERTED.value
COMPLETED = JourneyEnrolmentStatus.COMPLETED.value
EXITED = JourneyEnrolmentStatus.EXITED.value
DEFAULT_MAX_VISITS = 3
REASON_LENGTH = 200
DETAIL_LENGTH = 200


class LostRace(RuntimeError):
    """A walk the batch had locked was moved by someone else: the batch is rolled back, nothing is written."""


# ------------------------------------------------------------------ published graphs
@dataclass(frozen=True)
class Plan:
    """A published version as the engine walks it: the graph and the settings frozen with it."""

    version_id: int
    journey_id: int
    journey_name: str
    graph: Graph
    settings: dict[str, Any]
    live: bool = True  # False when the journey is paused (happenings.py: held, nobody enters)

    @cached_property
    def max_visits(self) -> int:
        value = self.settings.get("max_visits", DEFAULT_MAX_VISITS)
        return value if isinstance(value, int) and value > 0 else DEFAULT_MAX_VISITS

    def node(self, key: str) -> Node | None:
        return self.graph.nodes.get(key)


def graph_of(raw: dict[str, Any]) -> Graph:
    """The typed view of a stored (already validated) graph, without the checks against the database: a
    published graph was validated when it was frozen, and the engine reads it every tick."""
    nodes: dict[str, Node] = {}
    for item in raw.get("nodes") or []:
        nodes[str(item["id"])] = Node(str(item["id"]), str(item["type"]), dict(item), _node_exits(item))
    edges = {(str(e["from"]), str(e["exit"])): str(e["to"]) for e in raw.get("edges") or []}
    return Graph(str(raw.get("start") or ""), nodes, edges, dict(raw.get("layout") or {}))


def _node_exits(node: dict[str, Any]) -> tuple[str, ...]:
    kind = node.get("type")
    if kind in ("send", "wait", "action"):
        return ("next",)
    if kind == "wait_for":
        return ("happened", "timeout")
    if kind == "branch":
        return (*(str(b["key"]) for b in node.get("branches") or []), "else")
    if kind == "split":
        return tuple(str(p["key"]) for p in node.get("paths") or [])
    return ()


def load_plans(session: Session, version_ids: Iterable[int]) -> dict[int, Plan]:
    """The plans of these versions (the runner loads each version once per tick)."""
    wanted = sorted(set(version_ids))
    if not wanted:
        return {}
    rows = session.execute(
        select(JourneyVersion.id, JourneyVersion.journey_id, JourneyVersion.graph, JourneyVersion.settings,
               Journey.name, Journey.status)
        .join(Journey, Journey.id == JourneyVersion.journey_id)
        .where(JourneyVersion.id.in_(wanted))
    ).all()
    return {vid: Plan(vid, jid, name, graph_of(graph or {}), dict(settings or {}), status != JourneyStatus.PAUSED)
            for vid, jid, graph, settings, name, status in rows}


def live_journeys(session: Session) -> dict[int, int]:
    """Live journeys: journey id -> live version id."""
    return {jid: vid for jid, vid in session.execute(
        select(Journey.id, Journey.live_version_id)
        .where(Journey.status == JourneyStatus.LIVE, Journey.live_version_id.is_not(None))
    ) if vid is not None}


# ------------------------------------------------------------------ a walk in memory
@dataclass
class Walk:
    """One walk as read for a batch, moved in memory, then written by write_moves."""

    id: int
    journey_id: int
    contact_id: int
    version_id: int
    node_key: str
    visit: int
    visits: dict[str, int]
    waiting: bool
    due_at: datetime | None
    node_entered_at: datetime
    last_send_id: int | None
    context_json: str  # the triggering event's properties as stored: decoded on first use (`context`)
    test: bool
    # the contact, as far as nodes need it (a date wait reads the one attribute it needs itself)
    contact_status: str = "active"
    timezone: str | None = None
    stage: str = ""
    suppressed: bool = False
    # the move
    status: str = ACTIVE
    exit_reason: str = ""
    finished_at: datetime | None = None
    seen_node: str = ""
    seen_visit: int = 0
    seen_version: int = 0
    at_node: bool = True  # False once the walk has left its node (a row in `steps`) and entered no other
    steps: list[dict[str, Any]] = field(default_factory=list)  # path log rows to insert: the nodes left
    rounds: int = 0

    def __post_init__(self) -> None:
        self.seen_node, self.seen_visit, self.seen_version = self.node_key, self.visit, self.version_id
        self._context: dict[str, Any] | None = None

    @property
    def context(self) -> dict[str, Any]:
        """The triggering event's properties (date waits, enrol_journey); most walks never ask."""
        if self._context is None:
            value = _loads(self.context_json)
            self._context = value if isinstance(value, dict) else {}
        return self._context

    @property
    def active(self) -> bool:
        return self.status == ACTIVE

    def _close(self, exit: str, detail: str, now: datetime) -> None:
        """Log the node the walk is at as left now (the path log's one row for it)."""
        if not self.at_node:
            return
        self.at_node = False
        self.steps.append({"journey_id": self.journey_id, "enrolment_id": self.id, "version_id": self.version_id,
                           "node_key": self.node_key, "visit": self.visit, "entered_at": self.node_entered_at,
                           "left_at": now, "exit": exit[:40], "detail": detail[:DETAIL_LENGTH]})

    def enter(self, plan: Plan, target: str, now: datetime) -> None:
        """Move into `target` (its work runs when the runner takes the walk), or end the walk when it has
        entered that node max_visits times already."""
        visit = int(self.visits.get(target, 0)) + 1
        if visit > plan.max_visits:
            self.finish(EXITED, f"loop limit: node {target} entered {plan.max_visits} times", now)
            return
        self.node_key, self.visit = target, visit
        self.visits = {**self.visits, target: visit}
        self.node_entered_at = self.due_at = now
        self.waiting = False
        self.at_node = True

    def leave(self, plan: Plan, exit: str, now: datetime, detail: str = "") -> None:
        """Leave the current node by `exit`: into the node its edge leads to, or complete the walk."""
        self._close(exit, detail, now)
        target = plan.graph.next(self.node_key, exit)
        if target is None or plan.node(target) is None:
            self._end(COMPLETED, "", now)
        else:
            self.enter(plan, target, now)

    def finish(self, status: str, reason: str, now: datetime, exit: str = "") -> None:
        """End the walk where it is (converted, completed or exited), closing its step with `exit`."""
        self._close(exit or status, reason, now)
        self._end(status, reason, now)

    def _end(self, status: str, reason: str, now: datetime) -> None:
        self.status, self.exit_reason, self.finished_at = status, reason[:REASON_LENGTH], now
        self.due_at, self.waiting = None, False

    _STATE = ("node_key", "visit", "visits", "waiting", "due_at", "node_entered_at", "last_send_id", "status",
              "exit_reason", "finished_at", "at_node")

    def snapshot(self) -> tuple[Any, ...]:
        """The walk's state before a group runs (the engine restores it if the group fails). Cheap: taken
        for every walk of every group; the values are never changed in place (rows and `visits` are
        replaced), so references are enough."""
        return (*_get_state(self), len(self.steps))

    def restore(self, state: tuple[Any, ...]) -> None:
        """Put back a snapshot: the moves the failed group made in memory are forgotten (its SQL was rolled
        back to the savepoint)."""
        *values, count = state
        for name, value in zip(self._STATE, values, strict=True):
            setattr(self, name, value)
        del self.steps[count:]

    def hold(self, until: datetime | None, waiting: bool | None = None) -> None:
        """Stay at the node until `until` (a wait's end, a deferred mail, a timeout)."""
        self.due_at = until
        if waiting is not None:
            self.waiting = waiting


_get_state = attrgetter(*Walk._STATE)


def walks_query(session: Session) -> Any:
    """SELECT of the walk columns with the contact's (status, zone, stage, suppressed).

    Only what every node needs: the JSON columns come as text (`visits` is decoded for every walk, cheaper
    than the driver's JSON loader; `context` only when a node asks), and the contact's attributes are not
    read at all (a date wait reads its one attribute). At 5,000 walks a chunk, JSON decoding was most of
    the read's time."""
    return (
        select(
            JourneyEnrolment.id, JourneyEnrolment.journey_id, JourneyEnrolment.contact_id,
            JourneyEnrolment.version_id, JourneyEnrolment.node_key, JourneyEnrolment.visit,
            cast(JourneyEnrolment.visits, Text), JourneyEnrolment.waiting, JourneyEnrolment.due_at,
            JourneyEnrolment.node_entered_at, JourneyEnrolment.last_send_id, cast(JourneyEnrolment.context, Text),
            JourneyEnrolment.test,
            # plain strings: the enum types' per-row conversion is not needed here
            cast(func.coalesce(Contact.status, "active"), String), Contact.timezone, cast(Contact.stage, String),
            address_suppressed(),
        )
        .join(Contact, Contact.id == JourneyEnrolment.contact_id)
    )


def _loads(raw: Any) -> Any:
    if raw is None or isinstance(raw, dict):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return None


def walk_from_row(row: Any) -> Walk:
    (wid, jid, cid, vid, node, visit, visits, waiting, due, entered, last_send, context, test,
     cstatus, tz, stage, suppressed) = row
    counts = _loads(visits)
    return Walk(
        id=wid, journey_id=jid, contact_id=cid, version_id=vid, node_key=node, visit=visit or 1,
        visits=counts if isinstance(counts, dict) else {}, waiting=bool(waiting), due_at=due,
        node_entered_at=entered, last_send_id=last_send, context_json=context or "{}", test=bool(test),
        contact_status=str(getattr(cstatus, "value", cstatus)), timezone=tz,
        stage=str(getattr(stage, "value", stage) or ""), suppressed=bool(suppressed),
    )


def lock_walks(session: Session, ids: list[int], *, waiting: bool | None = None) -> list[Walk]:
    """Read and lock (PostgreSQL: FOR UPDATE of the walk rows) these active walks (happenings)."""
    if not ids:
        return []
    query = walks_query(session).where(among(session, JourneyEnrolment.id, sorted(set(ids))),
                                       JourneyEnrolment.status == ACTIVE).order_by(JourneyEnrolment.id)
    if waiting is not None:
        query = query.where(JourneyEnrolment.waiting.is_(waiting))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=JourneyEnrolment)
    return [walk_from_row(r) for r in session.execute(query)]


# ------------------------------------------------------------------ writing a batch of moves
_PG_MOVE = (
    "UPDATE journey_enrolments AS e SET status = u.status, node_key = u.node_key, visit = u.visit,"
    " visits = CAST(u.visits AS jsonb), waiting = u.waiting, due_at = u.due_at, node_entered_at = u.entered,"
    " last_send_id = u.last_send_id, exit_reason = u.reason, finished_at = u.finished_at"
    " FROM unnest(CAST(:id AS integer[]), CAST(:seen_node AS varchar[]), CAST(:seen_visit AS integer[]),"
    " CAST(:seen_version AS integer[]), CAST(:status AS varchar[]), CAST(:node AS varchar[]), CAST(:visit AS integer[]), CAST(:visits AS text[]),"
    " CAST(:waiting AS boolean[]), CAST(:due AS timestamptz[]), CAST(:entered AS timestamptz[]),"
    " CAST(:last_send AS integer[]), CAST(:reason AS varchar[]), CAST(:finished AS timestamptz[]))"
    " AS u(id, seen_node, seen_visit, seen_version, status, node_key, visit, visits, waiting, due_at, entered, last_send_id,"
    " reason, finished_at)"
    " WHERE e.id = u.id AND e.node_key = u.seen_node AND e.visit = u.seen_visit AND e.version_id = u.seen_version"
    " AND e.status = 'active'"
    " RETURNING e.id"
)
_PG_STEPS = (
    "INSERT INTO journey_steps (journey_id, enrolment_id, version_id, node_key, visit, entered_at, left_at, exit,"
    " detail) SELECT * FROM unnest(CAST(:journey AS integer[]), CAST(:enrolment AS integer[]),"
    " CAST(:version AS integer[]), CAST(:node AS varchar[]), CAST(:visit AS integer[]),"
    " CAST(:entered AS timestamptz[]), CAST(:left_at AS timestamptz[]), CAST(:exit AS varchar[]),"
    " CAST(:detail AS varchar[]))"
)


def write_moves(session: Session, walks: list[Walk], *, strict: bool) -> set[int]:
    """Write the walks' new positions (compare-and-set on the position they were read at) and the path log's
    rows of the nodes they left (one INSERT); returns the ids written. `strict`: the rows were locked by this
    transaction, so a miss is a lost race and raises LostRace (the caller's transaction rolls back)."""
    if not walks:
        return set()
    written = _update_walks(session, walks)
    if strict and len(written) != len(walks):
        raise LostRace(f"{len(walks) - len(written)} walk(s) moved by someone else")
    steps = [s for w in walks if w.id in written for s in w.steps]
    if not steps:
        return written
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(_PG_STEPS), {
            key: pg_array([s[col] for s in steps]) for key, col in (
                ("journey", "journey_id"), ("enrolment", "enrolment_id"), ("version", "version_id"),
                ("node", "node_key"), ("visit", "visit"), ("entered", "entered_at"), ("left_at", "left_at"),
                ("exit", "exit"), ("detail", "detail"))
        })
        return written
    for start in range(0, len(steps), 500):
        session.execute(insert(JourneyStep), steps[start:start + 500])
    return written


def _visits_json(walks: list[Walk]) -> list[str]:
    """Each walk's `visits` as JSON text; a batch's walks share a few shapes, each encoded once."""
    spelled: dict[tuple[tuple[str, int], ...], str] = {}
    out = []
    for w in walks:
        key = tuple(w.visits.items())
        text_ = spelled.get(key)
        if text_ is None:
            text_ = spelled[key] = json.dumps(w.visits)
        out.append(text_)
    return out


def _update_walks(session: Session, walks: list[Walk]) -> set[int]:
    if session.get_bind().dialect.name == "postgresql":
        result = session.execute(text(_PG_MOVE), {
            "id": pg_array([w.id for w in walks]), "seen_node": pg_array([w.seen_node for w in walks]),
            "seen_visit": pg_array([w.seen_visit for w in walks]),
            "seen_version": pg_array([w.seen_version for w in walks]), "status": pg_array([w.status for w in walks]),
            "node": pg_array([w.node_key for w in walks]), "visit": pg_array([w.visit for w in walks]),
            "visits": pg_array(_visits_json(walks)),
            "waiting": pg_array([w.waiting for w in walks]), "due": pg_array([w.due_at for w in walks]),
            "entered": pg_array([w.node_entered_at for w in walks]),
            "last_send": pg_array([w.last_send_id for w in walks]),
            "reason": pg_array([w.exit_reason for w in walks]), "finished": pg_array([w.finished_at for w in walks]),
        })
        return {int(i) for (i,) in result}
    table = JourneyEnrolment.__table__
    written: set[int] = set()
    for w in walks:  # SQLite: the batch holds the write lock (BEGIN IMMEDIATE); rowcount per row is cheap
        result = session.execute(
            update(table).where(  # type: ignore[arg-type]
                table.c.id == w.id, table.c.node_key == w.seen_node, table.c.visit == w.seen_visit,
                table.c.version_id == w.seen_version, table.c.status == ACTIVE,
            ).values(status=w.status, node_key=w.node_key, visit=w.visit, visits=w.visits, waiting=w.waiting,
                     due_at=w.due_at, node_entered_at=w.node_entered_at, last_send_id=w.last_send_id,
                     exit_reason=w.exit_reason, finished_at=w.finished_at)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            written.add(w.id)
    return written


def cancel_queued_sends(session: Session, walks: list[Walk]) -> int:
    """Cancel the not yet delivered mails of walks that ended by a goal or an exit (as sequences do)."""
    ended = [w.id for w in walks if w.status in (EXITED, CONVERTED)]
    if not ended:
        return 0
    result = session.execute(
        update(Send).where(among(session, Send.journey_enrolment_id, ended), Send.status == SendStatus.QUEUED)
        .values(status=SendStatus.CANCELLED, error="journey walk ended")
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
