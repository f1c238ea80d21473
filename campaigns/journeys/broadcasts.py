"""Broadcasts: create, schedule, reschedule, duplicate, cancel and delete one-off campaigns (the audience
is planned by the scheduler).

Every change of state locks the broadcast's row first (SELECT .. FOR UPDATE on PostgreSQL), the row the
scheduler locks as it starts a broadcast (scheduler._plan_broadcast): a reschedule or a cancel that races
the start waits for it and then sees "sending", so it never rewinds a broadcast whose sends exist."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from campaigns.archive import COPY_PATTERN, copy_name
from campaigns.compliance import require_sender_identity
from campaigns.db import now_utc
from campaigns.journeys.sequences import clean_name
from campaigns.models import (
    ABTest,
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


PAST_TIME = "the scheduled time is in the past: choose a future time, or send now"
SCHEDULABLE = (BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED, BroadcastStatus.FAILED)


def _refuse_past(when: datetime | None, now: datetime) -> None:
    """A broadcast time well in the past is a typo (a year, a month) or a stale draft, not "send now":
    sending at once to the whole audience would be the costliest reading of it."""
    if when is not None and when < now - PAST_GRACE:
        raise ValueError(PAST_TIME)


def schedule_problem(session: Session, broadcast: Broadcast, scheduled_at: datetime | None) -> str | None:
    """Why schedule_broadcast would refuse this broadcast and time (English, the UI translates), or None:
    the views ask before they show a confirmation, so the user never confirms what cannot happen."""
    if broadcast.status not in SCHEDULABLE:
        return f"a {broadcast.status} broadcast cannot be scheduled"
    template = session.get(Template, broadcast.template_id)
    if template is None or template.current_version_id is None:
        return "the broadcast's template has no saved version yet"
    try:
        require_sender_identity(get_account(session))
        _refuse_past(scheduled_at, now_utc())
    except ValueError as exc:
        return str(exc)
    return None


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


def _lock(session: Session, broadcast: Broadcast) -> None:
    """Re-read the broadcast under a row lock, so its status is the one the scheduler left."""
    session.flush()
    session.refresh(broadcast, with_for_update=True)


def schedule_broadcast(session: Session, broadcast: Broadcast, scheduled_at: datetime | None = None) -> Broadcast:
    """Schedule a draft (or reschedule a scheduled, or a failed) broadcast for `scheduled_at` (default: its
    stored time, else now); the scheduler sends it when due (UI, API). Raises ValueError when it cannot go.
    A failed broadcast sent nothing (the scheduler's planning rolled back), so it may go again."""
    _lock(session, broadcast)
    if broadcast.status not in SCHEDULABLE:
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
    _lock(session, broadcast)
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


def reschedule_broadcast(session: Session, broadcast: Broadcast, scheduled_at: datetime) -> Broadcast:
    """Move a scheduled broadcast that has not started to another time (UI, API). A time more than
    PAST_GRACE ago is refused, as when scheduling; raises ValueError once the broadcast has started."""
    _lock(session, broadcast)
    if broadcast.status is not BroadcastStatus.SCHEDULED:
        raise ValueError(f"only a scheduled broadcast can be rescheduled (this one is {broadcast.status})")
    if scheduled_at.tzinfo is None:
        raise ValueError("scheduled_at must carry a time zone")
    now = now_utc()
    _refuse_past(scheduled_at, now)
    broadcast.scheduled_at = max(now, scheduled_at)
    session.flush()
    return broadcast


def duplicate_broadcast(session: Session, broadcast: Broadcast, pattern: str = COPY_PATTERN) -> Broadcast:
    """A new draft with the same template and audience, no time and no history (UI, API), named by
    `pattern` ("%(name)s (copy)", translated by the caller; campaigns.archive.copy_name). Its A/B test,
    if any, is not copied: set one up on the copy."""
    # The audience's segment may be gone or archived since: the copy keeps it; scheduling checks it.
    return create_broadcast(session, copy_name(broadcast.name, pattern), broadcast.template_id, broadcast.segment_id)


def deletable(session: Session, broadcast: Broadcast) -> bool:
    """Whether the broadcast never mailed anyone: a draft, or one cancelled or failed before any send was
    written. A broadcast with sends keeps its history and report (duplicate it instead)."""
    if broadcast.status not in (BroadcastStatus.DRAFT, BroadcastStatus.CANCELLED, BroadcastStatus.FAILED):
        return False
    if broadcast.started_at is not None:  # an A/B test's send-time part may have started before any send row
        return False
    return not session.scalar(select(exists().where(Send.broadcast_id == broadcast.id)))


def delete_broadcast(session: Session, broadcast: Broadcast) -> None:
    """Delete a broadcast that never mailed anyone, with its A/B test setup (UI, API); raises ValueError
    for any other."""
    _lock(session, broadcast)
    if not deletable(session, broadcast):
        raise ValueError("only a broadcast that sent nothing (a draft, or cancelled before it started) can be deleted")
    # Explicit, not left to ON DELETE CASCADE: SQLite enforces foreign keys only when asked to.
    for test in session.scalars(select(ABTest).where(ABTest.broadcast_id == broadcast.id)):
        session.delete(test)
    session.delete(broadcast)
    session.flush()
