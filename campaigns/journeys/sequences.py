"""Step-mail sequences: building them, enrolment into the journey a sequence runs as, exits, events, and
send windows.

A sequence is a linear journey (docs/journeys.md, "From sequences to journeys"). It is built here as a draft
(steps and settings, the builder and the API); activating it turns it into a live journey through the one
conversion rule (campaigns.automation.linear.activate_sequence, above this package), and from then on it
has the status `converted` and the journey engine runs it: its walks, mails, waits and exits are the
journey's. Nothing here plans mail any more; the Enrollment rows of the old planner stay as history.

Who calls what:
- the UI and the API build sequences (create_sequence, update_sequence; sequence_problems says why one
  cannot be activated yet) and enrol contacts (enroll_contact, enroll_segment: into the journey the sequence
  runs as; a draft sequence takes nobody, the reason logged);
- the API's event endpoint calls record_event, which stores the event (the journey engine reads it for its
  entry triggers, goals and exits);
- unsubscribes and bounces call exit_contact (journey walks);
- the journey engine's send and wait nodes use next_window_opening and next_allowed_by_cap from here, so
  the rules of "when may this mail go" live in one module.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from campaigns.compliance import sender_problems
from campaigns.db import now_utc
from campaigns.journeys import walk_entry
from campaigns.models import (
    Contact,
    Enrollment,
    EnrollmentStatus,
    Event,
    Journey,
    JourneyEnrolment,
    JourneyEnrolmentStatus,
    Segment,
    SegmentExitWhen,
    Send,
    SendStatus,
    Sequence,
    SequenceStatus,
    Stage,
    Step,
    Template,
)
from campaigns.text import check_text
from campaigns.users import get_account

log = logging.getLogger(__name__)

MAX_DELAY_MINUTES = 5 * 366 * 24 * 60  # five years: anything longer is a typo, not a plan
MAX_NAME_LENGTH = 100  # Event.name and the JSON lists hold event names of this length
# An event name as the API (its JSON schema) and the builder accept it: any text without control
# characters or surrounding blanks ("whitepaper_downloaded", "Demo booked", "資料ダウンロード").
EVENT_NAME_PATTERN = r"^[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?$"
_STEP_KEYS = {"id", "template_id", "delay_minutes", "window_days", "window_start_hour", "window_end_hour"}
_SEQUENCE_FIELDS = {
    "name", "description", "trigger_events", "exit_events", "exit_stages", "allow_reentry", "goal_event",
    "trigger_segment_id", "exit_segment_id", "exit_segment_when",
}


# ------------------------------------------------------------------ validation helpers
def clean_name(value: Any, what: str, max_length: int = 200) -> str:
    """A name stripped and checked: not empty, at most max_length, and one line by the text rule (sequences,
    broadcasts)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty text")
    value = value.strip()
    if len(value) > max_length:
        raise ValueError(f"{what} must be at most {max_length} characters")
    return check_text(value, what)  # the one text rule (campaigns.text): raises TextError, a ValueError


def _clean_event_names(values: Any, what: str) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ValueError(f"{what} must be a list of event names")
    names: list[str] = []
    for raw in values:
        name = clean_name(raw, f"each of {what}", MAX_NAME_LENGTH)
        if name not in names:
            names.append(name)
    return names


def _clean_stages(values: Any) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ValueError("exit_stages must be a list of stages")
    valid = {s.value for s in Stage}
    stages: list[str] = []
    for raw in values:
        if raw not in valid:
            raise ValueError(f"unknown stage {raw!r} in exit_stages (valid: {', '.join(sorted(valid))})")
        if raw not in stages:
            stages.append(str(raw))
    return stages


def _int_or_none(value: Any, what: str, low: int, high: int) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a whole number")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a whole number") from None
    if number != value and not isinstance(value, str):
        raise ValueError(f"{what} must be a whole number")
    if not low <= number <= high:
        raise ValueError(f"{what} must be between {low} and {high}")
    return number


def _clean_step(session: Session, raw: Any, index: int) -> dict[str, Any]:
    """Validate one step dict from the UI or the API; raises ValueError naming the step."""
    label = f"step {index}"
    if not isinstance(raw, dict):
        raise ValueError(f"{label} must be an object")
    unknown = set(raw) - _STEP_KEYS
    if unknown:
        raise ValueError(f"{label}: unknown field(s) {', '.join(sorted(unknown))}")
    template_id = _int_or_none(raw.get("template_id"), f"{label}: template_id", 1, 2**63 - 1)
    if template_id is None or session.get(Template, template_id) is None:
        raise ValueError(f"{label}: template {raw.get('template_id')!r} does not exist")
    delay = _int_or_none(raw.get("delay_minutes", 0), f"{label}: delay_minutes", 0, MAX_DELAY_MINUTES) or 0
    days = raw.get("window_days") or ""
    if not isinstance(days, str) or any(c not in "1234567" for c in days) or len(set(days)) != len(days):
        raise ValueError(f"{label}: window_days must be ISO weekday digits 1-7 (Monday=1), e.g. '12345'")
    start = _int_or_none(raw.get("window_start_hour"), f"{label}: window_start_hour", 0, 23)
    end = _int_or_none(raw.get("window_end_hour"), f"{label}: window_end_hour", 1, 24)
    if start is not None and end is not None and start == end:
        raise ValueError(f"{label}: the send window starts and ends at the same hour")
    step_id = _int_or_none(raw.get("id"), f"{label}: id", 1, 2**63 - 1)
    return {
        "id": step_id, "template_id": template_id, "delay_minutes": delay,
        "window_days": "".join(sorted(days)), "window_start_hour": start, "window_end_hour": end,
    }


def _apply_fields(sequence: Sequence, fields: dict[str, Any]) -> None:
    unknown = set(fields) - _SEQUENCE_FIELDS
    if unknown:
        raise ValueError(f"unknown sequence field(s): {', '.join(sorted(unknown))}")
    if "name" in fields:
        sequence.name = clean_name(fields["name"], "name")
    if "description" in fields:
        description = fields["description"] or ""
        if not isinstance(description, str):
            raise ValueError("description must be text")
        sequence.description = description
    if "trigger_events" in fields:
        sequence.trigger_events = _clean_event_names(fields["trigger_events"], "trigger_events")
    if "exit_events" in fields:
        sequence.exit_events = _clean_event_names(fields["exit_events"], "exit_events")
    if "exit_stages" in fields:
        sequence.exit_stages = _clean_stages(fields["exit_stages"])
    if "allow_reentry" in fields:
        if not isinstance(fields["allow_reentry"], bool):
            raise ValueError("allow_reentry must be true or false")
        sequence.allow_reentry = fields["allow_reentry"]
    if "goal_event" in fields:
        goal = fields["goal_event"] or ""
        sequence.goal_event = clean_name(goal, "goal_event", MAX_NAME_LENGTH) if goal else ""
    # Segment trigger and exit (evaluated by campaigns.audience.segment_triggers.run_segment_triggers); existence is
    # checked by _check_segments, which has the session.
    for key in ("trigger_segment_id", "exit_segment_id"):
        if key in fields:
            setattr(sequence, key, _int_or_none(fields[key], key, 1, 2**63 - 1))
    if "exit_segment_when" in fields:
        try:
            sequence.exit_segment_when = SegmentExitWhen(fields["exit_segment_when"] or "left")
        except ValueError:
            raise ValueError("exit_segment_when must be 'left' or 'in'") from None


def _check_segments(session: Session, sequence: Sequence) -> None:
    with session.no_autoflush:  # the unchecked id must not reach the database (foreign key) first
        for key in ("trigger_segment_id", "exit_segment_id"):
            segment_id = getattr(sequence, key)
            if segment_id is not None and session.get(Segment, segment_id) is None:
                raise ValueError(f"{key}: segment {segment_id} does not exist")


# ------------------------------------------------------------------ building sequences
def live_steps(session: Session, sequence_id: int) -> list[Step]:
    """The sequence's steps that are not deleted, in order (builder views, the planner)."""
    return list(
        session.scalars(
            select(Step)
            .where(Step.sequence_id == sequence_id, Step.deleted.is_(False))
            .order_by(Step.position, Step.id)
        )
    )


def create_sequence(
    session: Session,
    name: str,
    *,
    steps: list[dict[str, Any]],
    trigger_events: Iterable[str] = (),
    exit_events: Iterable[str] = (),
    exit_stages: Iterable[str] = (),
    allow_reentry: bool = False,
    goal_event: str = "",
    description: str = "",
    trigger_segment_id: int | None = None,
    exit_segment_id: int | None = None,
    exit_segment_when: str = "left",
) -> Sequence:
    """Create a draft sequence with its steps (UI builder, API POST /sequences); raises ValueError."""
    sequence = Sequence(status=SequenceStatus.DRAFT)
    _apply_fields(sequence, {
        "trigger_segment_id": trigger_segment_id, "exit_segment_id": exit_segment_id,
        "exit_segment_when": exit_segment_when,
        "name": name, "description": description, "trigger_events": list(trigger_events),
        "exit_events": list(exit_events), "exit_stages": list(exit_stages),
        "allow_reentry": allow_reentry, "goal_event": goal_event,
    })
    _check_segments(session, sequence)
    cleaned = [_clean_step(session, raw, i) for i, raw in enumerate(steps or [], start=1)]
    if any(c["id"] is not None for c in cleaned):
        raise ValueError("a new sequence's steps cannot carry ids")
    session.add(sequence)
    session.flush()
    for position, step in enumerate(cleaned, start=1):
        step.pop("id")
        session.add(Step(sequence_id=sequence.id, position=position, **step))
    session.flush()
    session.expire(sequence, ["steps"])
    return sequence


def update_sequence(
    session: Session, sequence: Sequence, *, steps: list[dict[str, Any]] | None = None, **fields: Any
) -> Sequence:
    """Edit a draft sequence (UI builder, API PUT): steps with an id are updated, new ones added, missing
    ones soft-deleted; positions follow the given order. A sequence that runs as a journey is edited there."""
    if sequence.status == SequenceStatus.CONVERTED:
        raise ValueError("this sequence runs as a journey now; edit the journey")
    _apply_fields(sequence, fields)
    _check_segments(session, sequence)
    if steps is not None:
        cleaned = [_clean_step(session, raw, i) for i, raw in enumerate(steps, start=1)]
        existing = {s.id: s for s in live_steps(session, sequence.id)}
        seen: set[int] = set()
        for position, data in enumerate(cleaned, start=1):
            step_id = data.pop("id")
            if step_id is None:
                session.add(Step(sequence_id=sequence.id, position=position, **data))
                continue
            step = existing.get(step_id)
            if step is None or step_id in seen:
                raise ValueError(f"step {position}: step id {step_id} is not a step of this sequence")
            seen.add(step_id)
            step.position = position
            for key, value in data.items():
                setattr(step, key, value)
        for step_id, step in existing.items():
            if step_id not in seen:
                step.deleted = True
        session.flush()
        session.expire(sequence, ["steps"])
    sequence.updated_at = now_utc()
    session.flush()
    return sequence


def sequence_problems(session: Session, sequence: Sequence) -> list[str]:
    """Why this sequence cannot be activated (empty list when it can); shown by the builder view."""

    steps = live_steps(session, sequence.id)
    if not steps:
        return ["a sequence needs at least one step before it can be activated"]
    problems = [f"fill in Settings first: {p}" for p in sender_problems(get_account(session))]
    for step in steps:
        template = session.get(Template, step.template_id)
        if template is None or template.current_version_id is None:
            problems.append(f"step {step.position}: its template has no saved version yet")
    return problems


# ------------------------------------------------------------------ enrolment
def enroll_contact(
    session: Session, contact: Contact, sequence: Sequence, source_event: str = "", now: datetime | None = None
) -> JourneyEnrolment | None:
    """Enrol one contact (manual enrolment, scoring triggers, forms) into the journey the sequence runs as
    (journeys.walk_entry: the journey's own re-entry setting), returning the walk; None, with the reason
    logged, when the contact may not enter, the journey is not live, or the sequence is a draft (it takes
    nobody until it is activated)."""
    now = now or now_utc()
    walks = enrol_converted(session, sequence, [contact.id], source_event or "sequence", now)
    return session.get(JourneyEnrolment, walks[0]) if walks else None


def enroll_segment(
    session: Session, sequence: Sequence, contact_ids: Iterable[int], *, now: datetime | None = None
) -> int:
    """Enrol the selected contacts (the contact list's bulk enrol) into the journey the sequence runs as;
    returns how many walks started (0, with the reason logged, for a draft sequence or a journey that is
    not live). Inactive, suppressed and already-walking contacts (without re-entry) are skipped."""
    ids = sorted({int(i) for i in contact_ids})
    return len(enrol_converted(session, sequence, ids, "manual", now or now_utc()))


def not_running(sequence: Sequence) -> str:
    """Why a sequence takes nobody by itself ("" once it runs as a journey): the reason callers log."""
    if sequence.status == SequenceStatus.CONVERTED:
        return ""
    return f"sequence {sequence.id} is a draft (not activated): it takes nobody until it is activated"


def enrol_converted(session: Session, sequence: Sequence, contact_ids: list[int] | Select[Any], source: str,
                    now: datetime) -> list[int]:
    """Walks started in the journey a sequence runs as (contact ids or a SELECT of them); [] with the reason
    logged when it takes nobody now (a draft sequence, no journey, paused, archived). enroll_contact,
    enroll_segment and audience.segment_triggers.enroll_matching call it."""
    if not_running(sequence):
        log.info("%s: contacts not enrolled", not_running(sequence))
        return []
    journey = walk_entry.journey_of_sequence(session, sequence.id)
    reason = walk_entry.refusal(session, journey)
    if journey is None or reason:
        log.info("sequence %s runs as a journey that takes nobody now (%s): contacts not enrolled",
                 sequence.id, reason)
        return []
    return walk_entry.enrol_live(session, journey, contact_ids, f"sequence {sequence.id}: {source}", now=now)


# ------------------------------------------------------------------ exits and events
def exit_enrollments(session: Session, enrollment_ids: list[int], reason: str,
                     status: EnrollmentStatus = EnrollmentStatus.EXITED) -> int:
    """Finish the given active enrolments and cancel their queued sends (exit_contact, record_event)."""
    if not enrollment_ids:
        return 0
    now = now_utc()
    done = 0
    for start in range(0, len(enrollment_ids), 1000):
        chunk = enrollment_ids[start : start + 1000]
        # Update the enrolments first: on PostgreSQL this waits for a planner holding them, so the
        # send cancellation below then sees the sends that planner wrote.
        exited = session.scalars(
            update(Enrollment)
            .where(Enrollment.id.in_(chunk), Enrollment.status == EnrollmentStatus.ACTIVE)
            .values(status=status, exit_reason=reason[:200], finished_at=now, next_due_at=None)
            .returning(Enrollment.id)
            .execution_options(synchronize_session=False)
        ).all()
        if exited:
            session.execute(
                update(Send)
                .where(Send.enrollment_id.in_(exited), Send.status == SendStatus.QUEUED)
                .values(status=SendStatus.CANCELLED, error=f"enrolment ended: {reason}"[:500])
                .execution_options(synchronize_session=False)
            )
        done += len(exited)
    session.expire_all()
    return done


def exit_contact(session: Session, contact_id: int, reason: str, sequence_id: int | None = None,
                 journey_id: int | None = None) -> int:
    """Exit a contact's active journey walks (all, those of the journey a sequence runs as, or one journey's)
    and cancel their queued sends; called by unsubscribe (all, one sequence or one journey: the preference
    page), bounces and complaints. Returns the walks exited."""
    return _exit_walks(session, contact_id, reason, sequence_id, journey_id)


def _exit_walks(session: Session, contact_id: int, reason: str, sequence_id: int | None,
                journey_id: int | None = None) -> int:
    """End a contact's active journey walks now (all, or those of the journey a sequence became), with the
    path log closed and queued mails cancelled. The engine would end them at their next mail anyway (it
    checks the contact's status there); ending them here also covers a per-sequence unsubscribe, which
    leaves the contact active. A walk the engine holds in a chunk: on PostgreSQL this UPDATE waits for the
    chunk, or the chunk's compare-and-set misses and it rolls back (walks.LostRace), so it moves once."""
    query = select(JourneyEnrolment.id).where(
        JourneyEnrolment.contact_id == contact_id, JourneyEnrolment.status == JourneyEnrolmentStatus.ACTIVE)
    if sequence_id is not None:
        query = query.where(JourneyEnrolment.journey_id.in_(
            select(Journey.id).where(Journey.sequence_id == sequence_id)))
    if journey_id is not None:
        query = query.where(JourneyEnrolment.journey_id == journey_id)
    now = now_utc()
    # Lock the walks first (PostgreSQL; the engine's chunk holding one finishes first), then write the path
    # log's row of the node each is at, left now, then end them: the log row is the position ended.
    ids = list(session.scalars(query.order_by(JourneyEnrolment.id).with_for_update()))
    if not ids:
        return 0
    walk_entry.log_left(session, ids, "exit", reason, now)
    ended = list(session.scalars(
        update(JourneyEnrolment)
        .where(JourneyEnrolment.id.in_(ids), JourneyEnrolment.status == JourneyEnrolmentStatus.ACTIVE)
        .values(status=JourneyEnrolmentStatus.EXITED, exit_reason=reason[:200], finished_at=now, due_at=None,
                waiting=False)
        .returning(JourneyEnrolment.id)
        .execution_options(synchronize_session=False)
    ))
    if ended:
        session.execute(
            update(Send).where(Send.journey_enrolment_id.in_(ended), Send.status == SendStatus.QUEUED)
            .values(status=SendStatus.CANCELLED, error=f"journey walk ended: {reason}"[:500])
            .execution_options(synchronize_session=False))
        session.expire_all()
    return len(ended)


TRIGGER_MAX_AGE = timedelta(hours=24)  # an event older than this starts no sequence (back-fills)


def record_event(
    session: Session,
    contact: Contact,
    name: str,
    properties: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
    source: str = "api",
) -> Event:
    """Store an event about a contact (API events, tracking, forms). What it starts, ends or completes is the
    journey engine's (entry triggers, exits and goals by event name, read from the events at its tick)."""
    name = clean_name(name, "event name", MAX_NAME_LENGTH)
    if properties is not None and not isinstance(properties, dict):
        raise ValueError("event properties must be an object")
    if occurred_at is not None and occurred_at.tzinfo is None:
        raise ValueError("occurred_at must carry a time zone")
    now = now_utc()
    event = Event(
        contact_id=contact.id, name=name, properties=properties or {}, source=source[:50],
        occurred_at=occurred_at or now, created_at=now,
    )
    session.add(event)
    session.flush()
    return event


def _hour_intervals(start: int | None, end: int | None) -> list[tuple[int, int]]:
    if start is None and end is None:
        return [(0, 24)]
    start = 0 if start is None else start
    end = 24 if end is None else end
    if start < end:
        return [(start, end)]
    return [(0, end), (start, 24)]  # an overnight window such as 22-6


def _local_moment(day: date, hour: int, tz: ZoneInfo) -> datetime:
    if hour >= 24:
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    # In a DST gap zoneinfo maps the missing wall time forward, which is what a window start wants.
    return datetime.combine(day, time(hour), tzinfo=tz)


def next_window_opening(
    when: datetime, tz: ZoneInfo, days: str = "", start_hour: int | None = None, end_hour: int | None = None
) -> datetime:
    """The earliest moment >= `when` inside the send window (ISO weekdays `days`, hours [start, end) in
    `tz`); `when` itself if it is inside. Used by the planner for every step it plans."""
    if not days and start_hour is None and end_hour is None:
        return when
    allowed = {int(d) for d in days} if days else set(range(1, 8))
    intervals = _hour_intervals(start_hour, end_hour)
    local_day = when.astimezone(tz).date()
    for offset in range(0, 9):
        day = local_day + timedelta(days=offset)
        if day.isoweekday() not in allowed:
            continue
        for low, high in intervals:
            opens, closes = _local_moment(day, low, tz), _local_moment(day, high, tz)
            if when < closes:
                return max(when, opens).astimezone(when.tzinfo)
    return when  # unreachable with a valid window (every week has an allowed day)


def next_allowed_by_cap(recent: list[datetime], cap_count: int, cap_days: int) -> datetime | None:
    """When the frequency cap lets one more mail go, given the contact's counted send times in the last
    `cap_days`; None when it may go now. Used by the planner."""
    if cap_count <= 0 or cap_days <= 0 or len(recent) < cap_count:
        return None
    ordered = sorted(recent)
    # After the (n - cap + 1)-th newest of them ages out of the window, one slot is free again.
    return ordered[len(ordered) - cap_count] + timedelta(days=cap_days)


"""Sends that count towards the frequency cap: planned or delivered marketing mail."""
