"""Journeys as the marketer handles them: create, edit the draft, publish as a new version, pause,
resume, archive, duplicate, enrol contacts, test, and read a contact's path.

Who calls what: the canvas (campaigns.views.journeys) and the API (campaigns.api.journeys) call every
function here; the worker runs `enrol_segment` for large segments (jobs.enrol_journey_segment). All
functions are request-free and leave the commit to their caller; errors are JourneyError or
GraphError (both ValueError) with English sentences the UI translates.

Publishing (docs/journeys.md, "Versions"): the draft is validated and frozen in a JourneyVersion; walks at
nodes that still exist carry on at the new version (same node id, same visit, same due time), walks at
removed nodes go where the publisher chose (`moves`: a node id, or "exit"). `publish_impact` counts
those walks first, so the editor shows how many are affected, and a publish that would leave a removed
node with contacts and no chosen move is refused. Nothing already sent is sent again: the ledger key is
(walk, node id, visit); a walk that carries on keeps its node and visit, and a walk moved to a node it
has already entered re-enters that node's last visit (its mail there, if any, is already in the ledger).

Enrolment is one INSERT .. SELECT per chunk (the suppression and re-entry rules in SQL, so a million-row
segment costs a few statements). Walks start at the start node, due now; the engine runs them at its next
tick (the path log gets the start node's row when the walk leaves it). That core is campaigns.journeys.walk_entry,
shared with the layers below this package (scoring triggers, bulk enrol and forms enrol into a converted
sequence's journey through journeys.sequences); here are the checks that raise JourneyError.

A test walk (`start_test`) walks a snapshot of the draft in which every wait and every wait-for timeout
is one minute (TEST_WAIT_MINUTES): a JourneyVersion with a number below 1, never live, so the marketer
sees the whole path in minutes without publishing. Test walks are flagged (`test`), kept out of re-entry
and out of the report.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, select, update
from sqlalchemy.orm import Session

from campaigns.addresses import normalize_email
from campaigns.audience.segments import segment_contact_ids
from campaigns.automation.graph import EMPTY_GRAPH, Graph, GraphError, validate_graph, validate_settings
from campaigns.db import now_utc
from campaigns.experiments.journeys import sync_node_tests
from campaigns.journeys import walk_entry
from campaigns.leads.contacts import contact_by_email
from campaigns.models import (
    Contact,
    Journey,
    JourneyEnrolment,
    JourneyEnrolmentStatus,
    JourneyStatus,
    JourneyStep,
    JourneyVersion,
    Segment,
)
from campaigns.text import TextError, check_text

MAX_NAME = 200
MAX_DESCRIPTION = 5000
CHUNK = walk_entry.CHUNK  # contact ids per INSERT .. SELECT (bind-parameter limits of both databases)
INLINE_SEGMENT_LIMIT = 5000  # larger segments are enrolled by a background job (the API and canvas ask)
TEST_WAIT_MINUTES = 1  # every wait and wait-for timeout of a test walk
EXIT = "exit"  # a move target: end the walk
ARCHIVED = "archived"  # exit reason of walks ended by archiving their journey


class JourneyError(ValueError):
    """A request the journey's state refuses (publish an archived journey, enrol into a draft, ...).

    `template` and `params` let the UI translate it (Japanese in campaigns/translations/journeys_core.py)."""

    def __init__(self, template: str, **params: Any) -> None:
        self.template = template
        self.params = params
        super().__init__(template % params if params else template)

    def translated(self, gettext: Callable[..., str]) -> str:
        """The message in the UI's language (views pass campaigns.i18n.gettext)."""
        return gettext(self.template, **self.params)


# ------------------------------------------------------------------ building
def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise JourneyError("the journey needs a name")
    value = value.strip()
    if len(value) > MAX_NAME:
        raise JourneyError("the name is too long (at most %(max)s characters)", max=MAX_NAME)
    return check_text(value, "name")


def _description(value: Any) -> str:
    if not isinstance(value, str):
        raise JourneyError("the description must be a text")
    if len(value) > MAX_DESCRIPTION:
        raise JourneyError("the description is too long (at most %(max)s characters)", max=MAX_DESCRIPTION)
    return check_text(value.strip(), "description", multiline=True)


def create_journey(session: Session, name: str, description: str = "", graph: dict[str, Any] | None = None,
                   settings: dict[str, Any] | None = None) -> Journey:
    """Create a draft journey (the canvas's "new journey", the API); an absent graph starts empty."""
    journey = Journey(name=_name(name), description=_description(description), status=JourneyStatus.DRAFT,
                      draft_graph=copy.deepcopy(EMPTY_GRAPH), settings=validate_settings(session, settings))
    session.add(journey)
    session.flush()
    if graph is not None:
        journey.draft_graph = validate_graph(session, graph, journey_id=journey.id, allow_empty=True).as_json()
    return journey


def update_draft(session: Session, journey: Journey, *, graph: dict[str, Any] | None = None,
                 settings: dict[str, Any] | None = None, name: str | None = None,
                 description: str | None = None) -> Journey:
    """Replace the draft's graph, settings, name or description (what is given), each validated; live
    walks are untouched until `publish` (canvas saves, the API's update)."""
    if journey.status == JourneyStatus.ARCHIVED:
        raise JourneyError("an archived journey cannot be edited; duplicate it instead")
    if name is not None:
        journey.name = _name(name)
    if description is not None:
        journey.description = _description(description)
    if graph is not None:
        journey.draft_graph = validate_graph(session, graph, journey_id=journey.id, allow_empty=True).as_json()
    if settings is not None:
        journey.settings = validate_settings(session, settings)
    journey.updated_at = now_utc()
    return journey


def duplicate(session: Session, journey: Journey, name: str | None = None) -> Journey:
    """A draft copy of a journey's draft graph and settings, with no walks and no versions (canvas, API)."""
    copy_name = name if name is not None else f"{journey.name} (copy)"[:MAX_NAME]
    clone = Journey(name=_name(copy_name), description=journey.description, status=JourneyStatus.DRAFT,
                    draft_graph=copy.deepcopy(journey.draft_graph or EMPTY_GRAPH),
                    settings=copy.deepcopy(journey.settings or {}))
    session.add(clone)
    session.flush()
    return clone


# ------------------------------------------------------------------ versions
def live_version(session: Session, journey: Journey) -> JourneyVersion | None:
    """The version contacts walk now (None before the first publish)."""
    return session.get(JourneyVersion, journey.live_version_id) if journey.live_version_id else None


def version_graph(session: Session, version_id: int) -> Graph | None:
    """The typed graph of a stored version, trusted as published (no reference checks); None if gone."""
    version = session.get(JourneyVersion, version_id)
    if version is None:
        return None
    return _trusted_graph(version.graph)


def _trusted_graph(raw: dict[str, Any]) -> Graph:
    """A stored graph as a Graph, its references not re-checked (a template archived since the publish
    must not make a version unreadable)."""
    return validate_graph(None, raw)


def publish_impact(session: Session, journey: Journey, new_graph: dict[str, Any] | Graph) -> dict[str, int]:
    """{node id: active walks there} for the nodes the new graph removes, only those with walks (the
    editor's "N contacts are at removed nodes", and publish's check). Test walks are left out: they walk
    their own snapshot of the draft, which a publish does not change."""
    kept = set(new_graph.nodes if isinstance(new_graph, Graph) else
                {n.get("id") for n in new_graph.get("nodes", []) if isinstance(n, dict)})
    rows = session.execute(
        select(JourneyEnrolment.node_key, func.count())
        .where(_active(journey), JourneyEnrolment.test.is_(False))
        .group_by(JourneyEnrolment.node_key)
    ).all()
    return {node: int(count) for node, count in sorted(rows) if node not in kept}


def publish(session: Session, journey: Journey, moves: dict[str, str] | None = None, published_by: str = "",
            now: datetime | None = None) -> JourneyVersion:
    """Freeze the draft as the journey's new live version and move the walks onto it (canvas, API).
    `moves` maps each removed node that still has contacts to a node of the new graph or "exit"; a draft
    journey goes live, a paused one stays paused."""
    if journey.status == JourneyStatus.ARCHIVED:
        raise JourneyError("an archived journey cannot be published; duplicate it instead")
    now = now or now_utc()
    moves = dict(moves or {})
    # Lock the journey row: two publishes of one journey at once would both take the next number.
    session.execute(select(Journey.id).where(Journey.id == journey.id).with_for_update())
    graph = validate_graph(session, journey.draft_graph, journey_id=journey.id)
    settings = validate_settings(session, journey.settings)
    impact = publish_impact(session, journey, graph)
    for node, target in moves.items():
        if node in graph.nodes:
            raise JourneyError('node "%(node)s" is not removed by this version; only removed nodes can be moved',
                               node=node)
        if target != EXIT and target not in graph.nodes:
            raise JourneyError('contacts at node "%(node)s" cannot move to "%(target)s": no such node in the '
                               'new version', node=node, target=str(target)[:60])
    unplaced = sorted(node for node in impact if node not in moves)
    if unplaced:
        raise JourneyError('%(count)s contacts are at node "%(node)s", which this version removes: choose a '
                           'node for them, or "exit"', count=impact[unplaced[0]], node=unplaced[0])

    number = (session.scalar(select(func.max(JourneyVersion.number)).where(JourneyVersion.journey_id == journey.id))
              or 0)
    old = live_version(session, journey)
    version = JourneyVersion(journey_id=journey.id, number=max(number, 0) + 1, graph=graph.as_json(),
                             settings=settings, moves={n: t for n, t in moves.items() if n in impact},
                             published_at=now, published_by=published_by[:254])
    session.add(version)
    session.flush()
    _carry_on(session, journey, version, graph, old, now)
    for node, target in sorted(moves.items()):
        if node in impact:
            _move(session, journey, version, node, target, graph, now)
    journey.live_version_id = version.id
    journey.settings = settings
    sync_node_tests(session, journey.id, graph, now)  # send nodes' A/B tests follow the published set-up
    if journey.status == JourneyStatus.DRAFT:
        journey.status = JourneyStatus.LIVE
    journey.updated_at = now
    return version


def _active(journey: Journey) -> Any:
    return and_(JourneyEnrolment.journey_id == journey.id, JourneyEnrolment.status == JourneyEnrolmentStatus.ACTIVE)


def _carry_on(session: Session, journey: Journey, version: JourneyVersion, graph: Graph,
              old: JourneyVersion | None, now: datetime) -> None:
    """Walks at nodes that still exist: same node, visit and due time, on the new version. A node whose
    type changed under the same id starts afresh (due now, not waiting): its old state meant something
    else. Test walks on a test snapshot stay on it."""
    old_types = {n["id"]: n["type"] for n in (old.graph.get("nodes", []) if old else [])}
    same = [n.id for n in graph.nodes.values() if old_types.get(n.id, n.type) == n.type]
    changed = [n.id for n in graph.nodes.values() if n.id in old_types and old_types[n.id] != n.type]
    live = _active(journey), JourneyEnrolment.test.is_(False)
    for start in range(0, len(same), CHUNK):
        session.execute(update(JourneyEnrolment).where(*live, JourneyEnrolment.node_key.in_(same[start:start + CHUNK]))
                        .values(version_id=version.id))
    if changed:
        session.execute(update(JourneyEnrolment).where(*live, JourneyEnrolment.node_key.in_(changed))
                        .values(version_id=version.id, due_at=now, waiting=False))


def _close_steps(session: Session, enrolment_ids: Select[Any], exit: str, detail: str, now: datetime) -> None:
    """The path log's row of the node each of these walks is at, left now (before the walks are changed)."""
    walk_entry.log_left(session, enrolment_ids, exit, detail, now)


def _move(session: Session, journey: Journey, version: JourneyVersion, node: str, target: str, graph: Graph,
          now: datetime) -> None:
    """Walks at a removed node: to `target` (due now) or out ("exit"), the path log saying why."""
    at_node = select(JourneyEnrolment.id).where(_active(journey), JourneyEnrolment.test.is_(False),
                                                JourneyEnrolment.node_key == node)
    ids = list(session.scalars(at_node))
    if target == EXIT:
        _close_steps(session, at_node, "removed", f"version {version.number}: node removed, walk ended", now)
        for start in range(0, len(ids), CHUNK):
            session.execute(update(JourneyEnrolment).where(JourneyEnrolment.id.in_(ids[start:start + CHUNK]))
                            .values(status=JourneyEnrolmentStatus.EXITED, exit_reason=f"node {node} removed",
                                    due_at=None, waiting=False, finished_at=now, version_id=version.id))
        return
    _close_steps(session, at_node, "moved", f"version {version.number}: moved to {target}", now)
    for start in range(0, len(ids), CHUNK):
        walks = session.scalars(select(JourneyEnrolment).where(JourneyEnrolment.id.in_(ids[start:start + CHUNK])))
        for walk in walks:
            visits = dict(walk.visits or {})
            # A node entered before is re-entered at its last visit: its mail, if any, is in the ledger.
            visit = int(visits.get(target) or 1)
            visits[target] = visit
            walk.version_id, walk.node_key, walk.visit, walk.visits = version.id, target, visit, visits
            walk.node_entered_at, walk.due_at, walk.waiting = now, now, False
    session.flush()


# ------------------------------------------------------------------ status
def pause(session: Session, journey: Journey) -> Journey:
    """Stop a live journey: nobody enters, nobody moves; positions kept (canvas, API)."""
    if journey.status != JourneyStatus.LIVE:
        raise JourneyError("only a live journey can be paused")
    journey.status = JourneyStatus.PAUSED
    return journey


def resume(session: Session, journey: Journey) -> Journey:
    """Let a paused journey run again; walks whose waits ended meanwhile move at the next tick."""
    if journey.status != JourneyStatus.PAUSED:
        raise JourneyError("only a paused journey can be resumed")
    journey.status = JourneyStatus.LIVE
    return journey


def archive(session: Session, journey: Journey, now: datetime | None = None) -> int:
    """End a journey: its active walks exit with reason "archived", history and reports are kept; returns
    how many walks ended (canvas, API)."""
    now = now or now_utc()
    active = select(JourneyEnrolment.id).where(_active(journey))
    _close_steps(session, active, ARCHIVED, "journey archived", now)
    ended = len(session.execute(
        update(JourneyEnrolment).where(_active(journey)).values(
            status=JourneyEnrolmentStatus.EXITED, exit_reason=ARCHIVED, due_at=None, waiting=False, finished_at=now)
        .returning(JourneyEnrolment.id)
    ).all())
    journey.status = JourneyStatus.ARCHIVED
    journey.updated_at = now
    return ended


# ------------------------------------------------------------------ enrolment
def _eligible_walks(session: Session, journey: Journey, version: JourneyVersion, chosen: Any, *, source: str,
                    context: dict[str, Any], test: bool, reentry: bool, now: datetime) -> list[int]:
    """INSERT .. SELECT the walks of the chosen contacts that may enter; returns their ids (the rules and
    the SQL live in campaigns.journeys.walk_entry, which the sequence-side callers share)."""
    return walk_entry.start_walks(session, journey, version, chosen, source=source, context=context, test=test,
                                  reentry=reentry, now=now)


def _enrolling_version(session: Session, journey: Journey) -> JourneyVersion:
    if journey.status != JourneyStatus.LIVE:
        raise JourneyError("contacts can only be enrolled in a live journey (this one is %(status)s)",
                           status=journey.status.value)
    version = live_version(session, journey)
    if version is None:  # pragma: no cover - a live journey always has a version
        raise JourneyError("the journey has no published version")
    return version


def _clean_context(context: dict[str, Any] | None) -> dict[str, Any]:
    if context is None:
        return {}
    if not isinstance(context, dict):
        raise JourneyError("the context must be an object")
    return context


def enrol_contacts(session: Session, journey: Journey, contact_ids: Iterable[int], source: str,
                   context: dict[str, Any] | None = None, test: bool = False, now: datetime | None = None) -> int:
    """Start walks for the given contacts at the start node, due now; returns how many started (the
    canvas, the API, the engine's entry triggers). Inactive (unsubscribed, bounced) and suppressed
    contacts never enter; a contact with an active walk never enters twice; one that walked before
    enters again only if the journey's settings allow re-entry."""
    now = now or now_utc()
    version = _enrolling_version(session, journey) if not test else _test_version(session, journey, now)
    ids = sorted({int(i) for i in contact_ids})
    reentry = walk_entry.reentry_allowed(journey)
    started = 0
    for first in range(0, len(ids), CHUNK):
        started += len(_eligible_walks(session, journey, version, ids[first:first + CHUNK], source=source,
                                       context=_clean_context(context), test=test, reentry=reentry, now=now))
    return started


def enrol_segment(session: Session, journey: Journey, segment_id: int, source: str = "segment",
                  now: datetime | None = None) -> int:
    """Enrol every active, unsuppressed contact of a segment, set-based (the API and canvas for small
    segments, jobs.enrol_journey_segment for large ones); returns how many walks started."""
    now = now or now_utc()
    version = _enrolling_version(session, journey)
    segment = session.get(Segment, segment_id)
    if segment is None:
        raise JourneyError("segment %(id)s does not exist", id=segment_id)
    chosen = segment_contact_ids(segment.rules or {}, now)
    reentry = walk_entry.reentry_allowed(journey)
    return len(_eligible_walks(session, journey, version, chosen, source=f"{source}:{segment_id}"[:100], context={},
                               test=False, reentry=reentry, now=now))


# ------------------------------------------------------------------ tests
def shortened(graph: dict[str, Any], minutes: int = TEST_WAIT_MINUTES) -> dict[str, Any]:
    """The graph with every wait and every wait-for timeout set to `minutes` (test walks)."""
    out = copy.deepcopy(graph)
    for node in out.get("nodes", []):
        if node.get("type") == "wait":
            node["wait"] = {"minutes": minutes}
        elif node.get("type") == "wait_for":
            node["timeout"] = {"minutes": minutes}
    return out


def _test_version(session: Session, journey: Journey, now: datetime) -> JourneyVersion:
    """A snapshot of the draft with waits shortened, numbered 0, -1, -2, ... (never live)."""
    if journey.status == JourneyStatus.ARCHIVED:
        raise JourneyError("an archived journey cannot be tested; duplicate it instead")
    graph = validate_graph(session, journey.draft_graph, journey_id=journey.id)
    lowest = session.scalar(select(func.min(JourneyVersion.number)).where(JourneyVersion.journey_id == journey.id))
    version = JourneyVersion(journey_id=journey.id, number=(1 if lowest is None else min(lowest, 1)) - 1,
                             graph=shortened(graph.as_json()), settings=dict(journey.settings or {}),
                             moves={}, published_at=now, published_by="test")
    session.add(version)
    session.flush()
    return version


def start_test(session: Session, journey: Journey, email: str, now: datetime | None = None) -> JourneyEnrolment:
    """Walk the draft with one contact, the marketer's own address, waits shortened to a minute (the
    canvas's "test", the API). The contact is created if the address is not one yet; a previous test
    walk of the same contact ends first. Raises JourneyError when the address cannot receive mail."""
    now = now or now_utc()
    address = normalize_email(email)
    if not address:
        raise JourneyError("%(email)s is not a valid email address", email=str(email)[:254])
    contact = contact_by_email(session, address)
    if contact is None:
        contact = Contact(email=address, source="journey test", attributes={})
        session.add(contact)
        session.flush()
    previous = select(JourneyEnrolment.id).where(_active(journey), JourneyEnrolment.contact_id == contact.id,
                                                 JourneyEnrolment.test.is_(True))
    _close_steps(session, previous, "test_restarted", "a new test started", now)
    session.execute(update(JourneyEnrolment).where(JourneyEnrolment.id.in_(previous)).values(
        status=JourneyEnrolmentStatus.EXITED, exit_reason="test restarted", due_at=None, waiting=False,
        finished_at=now), execution_options={"synchronize_session": False})
    version = _test_version(session, journey, now)
    ids = _eligible_walks(session, journey, version, [contact.id], source="test", context={}, test=True,
                          reentry=True, now=now)
    if not ids:
        raise JourneyError("%(email)s is unsubscribed, bounced or suppressed, so it cannot receive the test",
                           email=contact.email)
    walk = session.get(JourneyEnrolment, ids[0])
    assert walk is not None
    return walk


# ------------------------------------------------------------------ the path
def contact_path(session: Session, enrolment: JourneyEnrolment) -> list[dict[str, Any]]:
    """The nodes one walk entered, oldest first: node id, its type and name in the version walked then,
    visit, entered / left times, exit taken and detail (the contact page, the API, the canvas). The path log
    holds the nodes left; an active walk's current node comes from the walk itself (left_at None, exit "").
    The first node's detail, when leaving it said nothing, is what started the walk ("entered: <source>")."""
    steps: list[Any] = list(session.scalars(select(JourneyStep).where(JourneyStep.enrolment_id == enrolment.id)
                                            .order_by(JourneyStep.id)))
    if enrolment.status == JourneyEnrolmentStatus.ACTIVE:
        steps.append(JourneyStep(journey_id=enrolment.journey_id, enrolment_id=enrolment.id,
                                 version_id=enrolment.version_id, node_key=enrolment.node_key, visit=enrolment.visit,
                                 entered_at=enrolment.node_entered_at, left_at=None, exit="", detail=""))
    graphs: dict[int, dict[str, dict[str, Any]]] = {}
    for version_id in {s.version_id for s in steps}:
        version = session.get(JourneyVersion, version_id)
        graphs[version_id] = {n["id"]: n for n in (version.graph.get("nodes", []) if version else [])}
    path = []
    for index, step in enumerate(steps):
        node = graphs.get(step.version_id, {}).get(step.node_key, {})
        detail = step.detail or (f"entered: {enrolment.source}"[:200] if index == 0 and enrolment.source else "")
        path.append({
            "node": step.node_key, "type": node.get("type", ""), "name": node.get("name", ""), "visit": step.visit,
            "version_id": step.version_id, "entered_at": step.entered_at, "left_at": step.left_at,
            "exit": step.exit, "detail": detail,
        })
    return path


def walks_of_contact(session: Session, journey: Journey, contact_id: int) -> list[JourneyEnrolment]:
    """A contact's walks through a journey, newest cycle first (the API's path endpoint)."""
    return list(session.scalars(select(JourneyEnrolment).where(
        JourneyEnrolment.journey_id == journey.id, JourneyEnrolment.contact_id == contact_id)
        .order_by(JourneyEnrolment.cycle.desc())))


__all__ = [
    "ARCHIVED", "EXIT", "INLINE_SEGMENT_LIMIT", "TEST_WAIT_MINUTES", "GraphError", "JourneyError", "TextError",
    "archive", "contact_path", "create_journey", "duplicate", "enrol_contacts", "enrol_segment", "live_version",
    "pause", "publish", "publish_impact", "resume", "shortened", "start_test", "update_draft", "version_graph",
    "walks_of_contact",
]
