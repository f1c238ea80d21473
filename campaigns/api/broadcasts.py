"""One-off broadcasts: create, read (with send counts), list, schedule, reschedule, duplicate, cancel, delete.

API calls are not interactive: they act at once, without the UI's confirmation step
(campaigns/views/confirm.py). A change the broadcast's state no longer allows (it has started, it sent
mail) answers 409 with the reason; a refused value (a time in the past) answers 422."""

from __future__ import annotations

from typing import Any

from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.api.archive import copy_pattern
from campaigns.api.core import ApiError, db_session, get_or_404, keyset_page, operation, parse_datetime
from campaigns.api.schemas import DATE_TIME, PAGING, SCHEMAS
from campaigns.api.serialize import broadcast_json, broadcast_send_counts
from campaigns.journeys import broadcasts as sequences_service
from campaigns.models import Broadcast, BroadcastStatus, Segment, Template

SCHEMAS.update({
    "BroadcastReschedule": {
        "type": "object", "required": ["scheduled_at"],
        "properties": {"scheduled_at": {**DATE_TIME, "description": "The new time, with a UTC offset."}},
        "additionalProperties": False,
    },
})


def _get(session: Session, object_id: int) -> Broadcast:
    return get_or_404(session, Broadcast, object_id, "broadcast")


def _rejected(exc: ValueError) -> ApiError:
    return ApiError(422, "rejected", str(exc), {"broadcast": str(exc)})


@operation(
    "/broadcasts", "POST", tag="broadcasts", body="BroadcastInput", summary="Create a draft broadcast",
    description="The audience is a segment (or every active contact). It goes out once scheduled.",
    responses={201: ("Created (status draft)", "Broadcast")},
)
def create_broadcast(body: dict[str, Any]) -> ResponseReturnValue:
    """Create a draft broadcast of a template to a segment."""
    session = db_session()
    details = {}
    if session.get(Template, body["template_id"]) is None:
        details["template_id"] = "no such template"
    if body.get("segment_id") is not None and session.get(Segment, body["segment_id"]) is None:
        details["segment_id"] = "no such segment"
    if details:
        raise ApiError(422, "validation_failed", "the request refers to missing objects", details)
    scheduled_at = parse_datetime(body["scheduled_at"]) if body.get("scheduled_at") else None
    try:
        broadcast = sequences_service.create_broadcast(
            session, body["name"], body["template_id"], body.get("segment_id"), scheduled_at
        )
    except ValueError as exc:
        session.rollback()
        raise _rejected(exc) from None
    session.commit()
    return broadcast_json(broadcast), 201


@operation(
    "/broadcasts", "GET", tag="broadcasts", summary="List broadcasts", query=PAGING,
    responses={200: ("A page of broadcasts", "BroadcastPage")},
)
def list_broadcasts(query: dict[str, Any]) -> ResponseReturnValue:
    """Broadcasts in id order (without send counts; read one for those)."""
    return keyset_page(db_session(), select(Broadcast), Broadcast.id, query, broadcast_json)


@operation(
    "/broadcasts/{broadcast_id}", "GET", tag="broadcasts", summary="Read a broadcast and its sends by status",
    responses={200: ("The broadcast", "Broadcast")},
)
def get_broadcast(broadcast_id: int) -> ResponseReturnValue:
    """One broadcast with counts of its sends per status."""
    session = db_session()
    broadcast = _get(session, broadcast_id)
    return broadcast_json(broadcast, broadcast_send_counts(session, broadcast.id))


@operation(
    "/broadcasts/{broadcast_id}/schedule", "POST", tag="broadcasts", body="BroadcastSchedule",
    summary="Schedule a broadcast",
    description="At `scheduled_at`, else its stored time, else now. A time more than 5 minutes in the past is "
                "refused (422), never read as now.",
    responses={200: ("The scheduled broadcast", "Broadcast")},
)
def schedule_broadcast(broadcast_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """Schedule (or reschedule) a draft or scheduled broadcast; the scheduler sends it when due."""
    session = db_session()
    broadcast = _get(session, broadcast_id)
    when = parse_datetime(body["scheduled_at"]) if body.get("scheduled_at") else None
    try:
        sequences_service.schedule_broadcast(session, broadcast, when)
    except ValueError as exc:
        session.rollback()
        raise _rejected(exc) from None
    session.commit()
    return broadcast_json(broadcast, broadcast_send_counts(session, broadcast.id))


@operation(
    "/broadcasts/{broadcast_id}/cancel", "POST", tag="broadcasts", summary="Cancel a broadcast",
    description="Sends still queued are cancelled; mails already delivered stay delivered.",
    responses={200: ("The cancelled broadcast", "Broadcast"), 422: ("Already sent or cancelled", "Error")},
)
def cancel_broadcast(broadcast_id: int) -> ResponseReturnValue:
    """Cancel a draft, scheduled or sending broadcast."""
    session = db_session()
    broadcast = _get(session, broadcast_id)
    try:
        sequences_service.cancel_broadcast(session, broadcast, reason="cancelled through the API")
    except ValueError as exc:
        session.rollback()
        raise _rejected(exc) from None
    session.commit()
    return broadcast_json(broadcast, broadcast_send_counts(session, broadcast.id))


@operation(
    "/broadcasts/{broadcast_id}/reschedule", "POST", tag="broadcasts", body="BroadcastReschedule",
    summary="Move a scheduled broadcast to another time",
    description="Only until it starts: a broadcast that is not scheduled answers 409 (not_scheduled). A time more "
                "than 5 minutes in the past is refused (422).",
    responses={200: ("The rescheduled broadcast", "Broadcast"), 409: ("Not scheduled (draft, started, finished)",
                                                                       "Error")},
)
def reschedule_broadcast(broadcast_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """Move a scheduled broadcast that has not started."""
    session = db_session()
    broadcast = _get(session, broadcast_id)
    when = parse_datetime(body["scheduled_at"])
    try:
        sequences_service.reschedule_broadcast(session, broadcast, when)
    except ValueError as exc:
        session.rollback()
        if broadcast.status is not BroadcastStatus.SCHEDULED:
            raise ApiError(409, "not_scheduled", str(exc), {"status": str(broadcast.status)}) from None
        raise _rejected(exc) from None
    session.commit()
    return broadcast_json(broadcast, broadcast_send_counts(session, broadcast.id))


@operation(
    "/broadcasts/{broadcast_id}/duplicate", "POST", tag="broadcasts", body="DuplicateInput",
    summary="Copy a broadcast as a new draft",
    description="Same template and audience, no time, no sends; an A/B test is not copied.",
    responses={201: ("The copy (status draft)", "Broadcast")},
)
def duplicate_broadcast(broadcast_id: int, body: dict[str, Any] | None) -> ResponseReturnValue:
    """A new draft from any broadcast, sent or not."""
    session = db_session()
    try:
        copy = sequences_service.duplicate_broadcast(session, _get(session, broadcast_id), copy_pattern(body))
    except ValueError as exc:
        session.rollback()
        raise _rejected(exc) from None
    session.commit()
    return broadcast_json(copy), 201


@operation(
    "/broadcasts/{broadcast_id}", "DELETE", tag="broadcasts", summary="Delete a broadcast that sent nothing",
    description="A draft, or one cancelled or failed before it started. One that mailed anyone keeps its history "
                "and report: 409 (has_history); duplicate it instead.",
    responses={200: ("Deleted", "Deleted"), 409: ("It sent mail, or is scheduled or running", "Error")},
)
def delete_broadcast(broadcast_id: int) -> ResponseReturnValue:
    """Delete a broadcast that never mailed anyone."""
    session = db_session()
    broadcast = _get(session, broadcast_id)
    try:
        sequences_service.delete_broadcast(session, broadcast)
    except ValueError as exc:
        session.rollback()
        raise ApiError(409, "has_history", str(exc), {"status": str(broadcast.status)}) from None
    session.commit()
    return {"deleted": True, "id": broadcast_id}
