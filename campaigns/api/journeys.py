"""Journeys as JSON graphs: list, create, read, update the draft, publish a version (with moves for removed
nodes), pause, resume, archive, duplicate, enrol, test, per-node statistics and a contact's path.

Every change goes through campaigns.automation.service; a graph or settings that break a rule answer 422
`invalid_graph` whose message names the node (`node "n3" (branch): ...`) and whose details carry it as
`node`; a state the journey refuses (publish an archived one, enrol into a draft) answers 422 `rejected`.
The graph's JSON Schema (campaigns.automation.graph.GRAPH_SCHEMA) is in the OpenAPI document as
`JourneyGraph`; request bodies take the graph as an object and leave its rules to the validator, so a
bad graph gets the one sentence that names its node rather than a list of schema paths.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import g
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.api.core import ApiError, db_session, get_or_404, iso, keyset_page, operation
from campaigns.api.schemas import (
    ID,
    INT,
    PAGING,
    SCHEMAS,
    STR,
    Schema,
    line,
    multiline,
    name,
    object_schema,
    ref,
)
from campaigns.audience.segments import count_segment
from campaigns.automation import service
from campaigns.automation.graph import GRAPH_SCHEMA, SETTINGS_SCHEMA, GraphError
from campaigns.automation.report import journey_stats
from campaigns.models import Contact, Journey, JourneyEnrolment, JourneyStatus, JourneyVersion, Segment
from campaigns.queueing import enqueue_journey_segment_enrolment
from campaigns.runtime import services

MAX_ENROL_IDS = 1000

_GRAPH_IN: Schema = {"type": "object", "description": "A JourneyGraph. Its rules (references, reachability, loops, "
                     "split sums) are checked by the graph validator: a 422 `invalid_graph` names the node."}
_SETTINGS_IN: Schema = {"type": "object", "description": "JourneySettings; checked like the graph."}
_STATUS: Schema = {"enum": [s.value for s in JourneyStatus]}
_WHEN: Schema = {"type": ["string", "null"], "format": "date-time"}
_NODE_MAP: Schema = {"type": "object", "additionalProperties": {"type": "string", "maxLength": 40}, "maxProperties": 200}

# The journeys API's schemas join the one registry (campaigns.api.schemas.SCHEMAS) that validates bodies and
# feeds the OpenAPI document; they live here beside the routes that use them.
SCHEMAS.update({
    "JourneyGraph": GRAPH_SCHEMA,
    "JourneySettings": SETTINGS_SCHEMA,
    "JourneyInput": {
        "type": "object", "required": ["name"], "additionalProperties": False,
        "properties": {"name": name(200), "description": multiline(5000), "graph": _GRAPH_IN,
                       "settings": _SETTINGS_IN},
    },
    "JourneyUpdate": {
        "type": "object", "additionalProperties": False, "minProperties": 1,
        "description": "Edits the draft; live walks are untouched until POST /journeys/{id}/publish.",
        "properties": {"name": name(200), "description": multiline(5000), "graph": _GRAPH_IN,
                       "settings": _SETTINGS_IN},
    },
    "JourneyPublish": {
        "type": "object", "additionalProperties": False,
        "properties": {"moves": {**_NODE_MAP, "description": "Where contacts at each removed node go: a node id of "
                                 "the new graph, or \"exit\". Needed for every removed node that has contacts."}},
    },
    "JourneyDuplicate": {"type": "object", "additionalProperties": False, "properties": {"name": name(200)}},
    "JourneyEnrolInput": {
        "type": "object", "additionalProperties": False, "minProperties": 1, "maxProperties": 1,
        "description": "Either contact_ids (up to 1000) or segment_id.",
        "properties": {"contact_ids": {"type": "array", "items": ID, "minItems": 1, "maxItems": MAX_ENROL_IDS},
                       "segment_id": ID},
    },
    "JourneyTestInput": {
        "type": "object", "required": ["email"], "additionalProperties": False,
        "properties": {"email": line(254, 3)},
    },
    "JourneyVersionInfo": object_schema({
        "id": INT, "number": INT, "published_at": STR, "published_by": STR, "moves": _NODE_MAP,
        "graph": ref("JourneyGraph"),
    }),
    "Journey": object_schema({
        "id": INT, "name": STR, "description": STR, "status": _STATUS, "graph": ref("JourneyGraph"),
        "settings": ref("JourneySettings"), "live_version": {"oneOf": [ref("JourneyVersionInfo"), {"type": "null"}]},
        "active_walks": INT, "created_at": STR, "updated_at": STR,
    }),
    "JourneySummary": object_schema({
        "id": INT, "name": STR, "status": _STATUS, "live_version_number": {"type": ["integer", "null"]},
        "updated_at": STR,
    }),
    "JourneyPage": {
        "type": "object", "required": ["data", "next_after"],
        "properties": {"data": {"type": "array", "items": ref("JourneySummary")},
                       "next_after": {"type": ["integer", "null"]}},
    },
    "JourneyImpact": object_schema({
        "removed": {"type": "object", "additionalProperties": INT,
                    "description": "Active contacts at each node the draft removes: these need a move to publish."},
    }),
    "JourneyEnrolled": object_schema({
        "enrolled": {"type": ["integer", "null"], "description": "Walks started (null when queued)."},
        "queued": {"type": "boolean", "description": "True when a large segment is enrolled by a background job."},
    }),
    "JourneyTestStarted": object_schema({"enrolment_id": INT, "contact_id": INT, "version_id": INT}),
    "JourneyStats": {"type": "object", "description": "Per-node counts, exits and split statistics "
                     "(campaigns.automation.report.journey_stats)."},
    "JourneyPath": object_schema({
        "journey_id": INT, "contact_id": INT,
        "walks": {"type": "array", "items": object_schema({
            "enrolment_id": INT, "cycle": INT, "status": STR, "node": STR, "test": {"type": "boolean"},
            "exit_reason": STR, "enrolled_at": STR, "finished_at": _WHEN,
            "path": {"type": "array", "items": object_schema({
                "node": STR, "type": STR, "name": STR, "visit": INT, "version_id": INT, "entered_at": STR,
                "left_at": _WHEN, "exit": STR, "detail": STR})},
        })},
    }),
})


# ------------------------------------------------------------------ helpers
def _refused(exc: ValueError) -> ApiError:
    """The service refused: 422 invalid_graph naming the node, or rejected with the reason."""
    if isinstance(exc, GraphError):
        details = {"node": exc.node} if exc.node else {}
        return ApiError(422, "invalid_graph", str(exc), details)
    return ApiError(422, "rejected", str(exc))


def _get(session: Session, journey_id: int) -> Journey:
    return get_or_404(session, Journey, journey_id, "journey")


def _version_json(version: JourneyVersion | None) -> dict[str, Any] | None:
    if version is None:
        return None
    return {"id": version.id, "number": version.number, "published_at": iso(version.published_at),
            "published_by": version.published_by, "moves": version.moves or {}, "graph": version.graph}


def journey_json(session: Session, journey: Journey) -> dict[str, Any]:
    """A journey with its draft graph, settings, live version and active walks (read, create, update)."""
    active = session.scalar(select(func.count()).select_from(JourneyEnrolment).where(
        JourneyEnrolment.journey_id == journey.id, JourneyEnrolment.status == "active",
        JourneyEnrolment.test.is_(False)))
    return {
        "id": journey.id, "name": journey.name, "description": journey.description, "status": journey.status.value,
        "graph": journey.draft_graph, "settings": journey.settings,
        "live_version": _version_json(service.live_version(session, journey)), "active_walks": int(active or 0),
        "created_at": iso(journey.created_at), "updated_at": iso(journey.updated_at),
    }


def _summary(session: Session) -> Any:
    def serialize(journey: Journey) -> dict[str, Any]:
        version = service.live_version(session, journey)
        return {"id": journey.id, "name": journey.name, "status": journey.status.value,
                "live_version_number": version.number if version else None, "updated_at": iso(journey.updated_at)}
    return serialize


def _change(journey_id: int, apply: Any) -> ResponseReturnValue:
    session = db_session()
    journey = _get(session, journey_id)
    try:
        apply(session, journey)
    except ValueError as exc:
        session.rollback()
        raise _refused(exc) from None
    session.commit()
    return journey_json(session, journey)


# ------------------------------------------------------------------ routes
@operation(
    "/journeys", "GET", tag="journeys", summary="List journeys", query=PAGING,
    responses={200: ("A page of journeys", "JourneyPage")},
)
def list_journeys(query: dict[str, Any]) -> ResponseReturnValue:
    """Journeys in id order with their status and live version number."""
    session = db_session()
    return keyset_page(session, select(Journey), Journey.id, query, _summary(session))


@operation(
    "/journeys", "POST", tag="journeys", body="JourneyInput", summary="Create a draft journey",
    responses={201: ("Created (status draft)", "Journey"), 422: ("A bad graph or settings; the node named", "Error")},
)
def create_journey(body: dict[str, Any]) -> ResponseReturnValue:
    """Create a draft; publish it with POST /journeys/{id}/publish."""
    session = db_session()
    try:
        journey = service.create_journey(session, body["name"], body.get("description", ""), body.get("graph"),
                                         body.get("settings"))
    except ValueError as exc:
        session.rollback()
        raise _refused(exc) from None
    session.commit()
    return journey_json(session, journey), 201


@operation(
    "/journeys/{journey_id}", "GET", tag="journeys", summary="Read a journey: draft graph, settings, live version",
    responses={200: ("The journey", "Journey")},
)
def get_journey(journey_id: int) -> ResponseReturnValue:
    """One journey; `graph` is the draft, `live_version.graph` what contacts walk."""
    session = db_session()
    return journey_json(session, _get(session, journey_id))


@operation(
    "/journeys/{journey_id}", "PUT", tag="journeys", body="JourneyUpdate", summary="Edit a journey's draft",
    description="Fields not given stay as they are. The graph and settings are the draft: contacts keep walking "
    "the live version until POST /journeys/{id}/publish makes the draft a new version.",
    responses={200: ("The journey", "Journey"), 422: ("A bad graph or settings; the node named", "Error")},
)
def update_journey(journey_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """Apply the given fields to the draft through the journey service."""
    return _change(journey_id, lambda s, j: service.update_draft(
        s, j, graph=body.get("graph"), settings=body.get("settings"), name=body.get("name"),
        description=body.get("description")))


@operation(
    "/journeys/{journey_id}/impact", "GET", tag="journeys", summary="Contacts at nodes the draft removes",
    description="Before publishing: how many active contacts wait at each node the draft no longer has. Each "
    "such node needs a move in POST /journeys/{id}/publish.",
    responses={200: ("Removed nodes with contacts", "JourneyImpact")},
)
def journey_impact(journey_id: int) -> ResponseReturnValue:
    """{removed: {node: contacts}} for the current draft."""
    session = db_session()
    journey = _get(session, journey_id)
    return {"removed": service.publish_impact(session, journey, journey.draft_graph or {})}


@operation(
    "/journeys/{journey_id}/publish", "POST", tag="journeys", body="JourneyPublish",
    summary="Publish the draft as a new version",
    description="Freezes the draft. Contacts at nodes that still exist carry on; contacts at removed nodes go "
    "where `moves` says (a node id or \"exit\"); a removed node with contacts and no move is refused (422, "
    "with the count). Nothing already sent is sent again. A draft journey goes live; a paused one stays paused.",
    responses={200: ("The journey with its new live version", "Journey"),
               422: ("A bad graph, or removed nodes without a move", "Error")},
)
def publish_journey(journey_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """Publish through the journey service; the API key's id is recorded as the publisher."""
    by = f"api key {getattr(g, 'api_key_id', '')}".strip()
    return _change(journey_id, lambda s, j: service.publish(s, j, moves=body.get("moves"), published_by=by))


@operation(
    "/journeys/{journey_id}/pause", "POST", tag="journeys", summary="Pause a live journey",
    description="Nobody enters and nobody moves until it is resumed; positions are kept.",
    responses={200: ("The paused journey", "Journey"), 422: ("Refused; the reason", "Error")},
)
def pause_journey(journey_id: int) -> ResponseReturnValue:
    """Stop entries and moves."""
    return _change(journey_id, service.pause)


@operation(
    "/journeys/{journey_id}/resume", "POST", tag="journeys", summary="Resume a paused journey",
    responses={200: ("The live journey", "Journey"), 422: ("Refused; the reason", "Error")},
)
def resume_journey(journey_id: int) -> ResponseReturnValue:
    """Let a paused journey run again."""
    return _change(journey_id, service.resume)


@operation(
    "/journeys/{journey_id}/archive", "POST", tag="journeys", summary="Archive a journey",
    description="Its active contacts exit with reason \"archived\"; history and statistics are kept.",
    responses={200: ("The archived journey", "Journey")},
)
def archive_journey(journey_id: int) -> ResponseReturnValue:
    """End the journey and its walks."""
    return _change(journey_id, service.archive)


@operation(
    "/journeys/{journey_id}/duplicate", "POST", tag="journeys", body="JourneyDuplicate",
    summary="Copy a journey as a new draft",
    responses={201: ("The copy (status draft)", "Journey")},
)
def duplicate_journey(journey_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """A draft with the same graph and settings, no contacts."""
    session = db_session()
    journey = _get(session, journey_id)
    try:
        clone = service.duplicate(session, journey, body.get("name"))
    except ValueError as exc:
        session.rollback()
        raise _refused(exc) from None
    session.commit()
    return journey_json(session, clone), 201


@operation(
    "/journeys/{journey_id}/enrol", "POST", tag="journeys", body="JourneyEnrolInput",
    summary="Enrol contacts or a segment in a live journey",
    description="Unsubscribed, bounced and suppressed contacts never enter; a contact already walking does "
    "not enter twice; one that walked before enters again only if the journey allows re-entry (so a retried "
    "request enrols nobody twice). A segment of more than 5,000 contacts is enrolled by a background job (202).",
    responses={200: ("Walks started", "JourneyEnrolled"), 202: ("Queued (large segment)", "JourneyEnrolled"),
               422: ("Refused; the reason", "Error")},
)
def enrol_journey(journey_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """Start walks at the start node, due now."""
    session = db_session()
    journey = _get(session, journey_id)
    try:
        if "segment_id" in body:
            segment = get_or_404(session, Segment, body["segment_id"], "segment")
            if journey.status != JourneyStatus.LIVE:
                raise service.JourneyError("contacts can only be enrolled in a live journey (this one is "
                                           "%(status)s)", status=journey.status.value)
            if count_segment(session, segment.rules or {}) > service.INLINE_SEGMENT_LIMIT:
                session.rollback()
                enqueue_journey_segment_enrolment(services().queue, journey.id, segment.id)
                return {"enrolled": None, "queued": True}, 202
            enrolled = service.enrol_segment(session, journey, segment.id, source="api")
        else:
            enrolled = service.enrol_contacts(session, journey, body["contact_ids"], "api")
    except ValueError as exc:
        session.rollback()
        raise _refused(exc) from None
    session.commit()
    return {"enrolled": enrolled, "queued": False}


@operation(
    "/journeys/{journey_id}/test", "POST", tag="journeys", body="JourneyTestInput",
    summary="Walk the draft with one address, waits shortened",
    description="The address (your own) walks a snapshot of the draft in which every wait and every wait-for "
    "timeout is one minute. The contact is created if needed; a previous test of the same address ends first. "
    "Test walks are left out of the statistics.",
    responses={201: ("The test walk", "JourneyTestStarted"), 422: ("Refused; the reason", "Error")},
)
def start_journey_test(journey_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """Start a test walk."""
    session = db_session()
    journey = _get(session, journey_id)
    try:
        walk = service.start_test(session, journey, body["email"])
    except ValueError as exc:
        session.rollback()
        raise _refused(exc) from None
    session.commit()
    return {"enrolment_id": walk.id, "contact_id": walk.contact_id, "version_id": walk.version_id}, 201


@operation(
    "/journeys/{journey_id}/stats", "GET", tag="journeys", summary="Per-node statistics",
    description="Contacts at each node now, how many passed, each exit's count, human open / click rates of "
    "mail nodes and split paths compared on their goal. Test walks are left out.",
    responses={200: ("The statistics", "JourneyStats")},
)
def journey_statistics(journey_id: int) -> ResponseReturnValue:
    """campaigns.automation.report.journey_stats as JSON."""
    session = db_session()
    return _jsonable(journey_stats(session, _get(session, journey_id)))


def _jsonable(value: Any) -> Any:
    """Timestamps as ISO text, tuples as lists, everything else as is (the report's own types)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return iso(value)
    return value


@operation(
    "/journeys/{journey_id}/contacts/{contact_id}/path", "GET", tag="journeys", summary="A contact's path",
    description="Every walk of the contact through the journey (newest first) and each node it entered: when, "
    "which visit, when it left and by which exit.",
    responses={200: ("The walks and their paths", "JourneyPath")},
)
def contact_path(journey_id: int, contact_id: int) -> ResponseReturnValue:
    """The path log of one contact in one journey."""
    session = db_session()
    journey = _get(session, journey_id)
    get_or_404(session, Contact, contact_id, "contact")
    walks = []
    for walk in service.walks_of_contact(session, journey, contact_id):
        path = [{**step, "entered_at": iso(step["entered_at"]), "left_at": iso(step["left_at"])}
                for step in service.contact_path(session, walk)]
        walks.append({"enrolment_id": walk.id, "cycle": walk.cycle, "status": walk.status.value,
                      "node": walk.node_key, "test": walk.test, "exit_reason": walk.exit_reason,
                      "enrolled_at": iso(walk.enrolled_at), "finished_at": iso(walk.finished_at), "path": path})
    return {"journey_id": journey.id, "contact_id": contact_id, "walks": walks}
