"""Broadcasts: create, schedule and cancel one-off campaigns (the audience is planned by the scheduler)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from campaigns.compliance import require_sender_identity
from campaigns.db import now_utc
from campaigns.journeys.sequences import clean_name
from campaigns.models import (
    Broadcast,
    BroadcastStatus,
    Segment,
    Send,
    SendStatus,
    Template,
)
from campaigns.users import get_account

# ------------------------------------------------------------------ broadcasts
PAST_GRACE = timedelta(minutes=5)  # a "send at" this far in the past still means now (form filling, clock skew)


def _refuse_past(when: datetime | None, now: datetime) -> None:
    """A broadcast time well in the past is a typo (a year, a month) or a stale draft, not "send now":
    sending at once to the whole audience would be the costliest reading of it."""
    if when is not None and when < now - PAST_GRACE:
        raise ValueError("the scheduled time is in the past: choose a future time, or send now")


def create_broadcast(
    session: Session, name: str, template_id: int, segment_id: int | None = None,
    scheduled_at: datetime | None = None,
) -> Broadcast:
    """Create a draft broadcast (UI, API); schedule_broadcast makes it go. Raises ValueError on bad input."""
    name = clean_name(name, "name")
    if session.get(Template, template_id) is None:
        raise ValueError(f"template {template_id!r} does not exist")
    if segment_id is not None and session.get(Segment, segment_id) is None:
        raise ValueError(f"segment {segment_id!r} does not exist")
    if scheduled_at is not None and scheduled_at.tzinfo is None:
        raise ValueError("scheduled_at must carry a time zone")
    _refuse_past(scheduled_at, now_utc())
    broadcast = Broadcast(
        name=name, template_id=template_id, segment_id=segment_id, status=BroadcastStatus.DRAFT,
        scheduled_at=scheduled_at, options={},
    )
    session.add(broadcast)
    session.flush()
    return broadcast


def schedule_broadcast(session: Session, broadcast: Broadcast, scheduled_at: datetime | None = None) -> Broadcast:
    """Schedule a draft (or reschedule a scheduled, or a failed) broadcast for `scheduled_at` (default: its
    stored time, else now); the scheduler sends it when due (UI, API). Raises ValueError when it cannot go.
    A failed broadcast sent nothing (the scheduler's planning rolled back), so it may go again."""
    if broadcast.status not in (BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED, BroadcastStatus.FAILED):
        raise ValueError(f"a {broadcast.status} broadcast cannot be scheduled")

    require_sender_identity(get_account(session))
    template = session.get(Template, broadcast.template_id)
    if template is None or template.current_version_id is None:
        raise ValueError("the broadcast's template has no saved version yet")
    when = scheduled_at or broadcast.scheduled_at
    if when is not None and when.tzinfo is None:
        raise ValueError("scheduled_at must carry a time zone")
    now = now_utc()
    _refuse_past(when, now)
    # A time seconds ago (the form took a moment to submit) means "now".
    broadcast.scheduled_at = now if when is None or when < now else when
    broadcast.status = BroadcastStatus.SCHEDULED
    broadcast.failure_reason = ""
    broadcast.finished_at = None
    options = dict(broadcast.options or {})
    options.pop("cancel_reason", None)
    broadcast.options = options
    session.flush()
    return broadcast


def cancel_broadcast(session: Session, broadcast: Broadcast, reason: str = "cancelled by a user") -> int:
    """Cancel a draft, scheduled or sending broadcast (UI, API); queued sends are cancelled too.
    Returns the number of sends cancelled; raises ValueError for a finished broadcast."""
    if broadcast.status in (BroadcastStatus.SENT, BroadcastStatus.CANCELLED):
        raise ValueError(f"a {broadcast.status} broadcast cannot be cancelled")
    result = session.execute(
        update(Send)
        .where(Send.broadcast_id == broadcast.id, Send.status == SendStatus.QUEUED)
        .values(status=SendStatus.CANCELLED, error="broadcast cancelled")
        .execution_options(synchronize_session=False)
    )
    broadcast.status = BroadcastStatus.CANCELLED
    broadcast.finished_at = now_utc()
    broadcast.options = {**(broadcast.options or {}), "cancel_reason": reason}
    session.flush()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
