"""One-off broadcasts: create, read (with send counts), list, schedule, cancel."""

from __future__ import annotations

from typing import Any

from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.api.core import ApiError, db_session, get_or_404, keyset_page, operation, parse_datetime
from campaigns.api.schemas import PAGING
from campaigns.api.serialize import broadcast_json, broadcast_send_counts
from campaigns.journeys import broadcasts as sequences_service
from campaigns.models import Broadcast, Segment, Template


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
