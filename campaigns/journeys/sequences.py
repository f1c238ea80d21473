"""Step-mail sequences: building them, enrolment, exit conditions, events, and send windows.

Who calls what:
- the UI and the API build sequences (create_sequence, update_sequence, set_sequence_status) and
  enrol contacts by hand (enroll_contact; large segments through queueing.enqueue_segment_enrolment);
  broadcasts are campaigns.journeys.broadcasts;
- the API's event endpoint calls record_event, which exits and enrols by event name;
- unsubscribes and bounces call exit_contact;
- the scheduler (campaigns.scheduler) plans what is due, using next_window_opening and
  next_allowed_by_cap from here, so the rules of "when may this mail go" live in one module.

Which step an enrolment gets next is decided from the send ledger, never from a stored position:
it is the first live step, in the sequence's current order, that this enrolment has no send for.
So editing an active sequence (reorder, add, remove steps) never resends a step (the ledger is
UNIQUE per enrolment and step) and never skips one that was still ahead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from campaigns.compliance import sender_problems
from campaigns.db import dialect_insert, now_utc
from campaigns.journeys import walk_entry
from campaigns.models import (
    Contact,
    ContactStatus,
    Enrollment,
    EnrollmentStatus,
    Event,
    Journey,
    JourneyEnrolment,
    JourneyEnrolmentStatus,
    JourneyStep,
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
from campaigns.models.contacts import address_suppressed
from campaigns.suppression import is_suppressed
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
    """Edit a sequence (UI builder, API PUT): steps with an id are updated, new ones added, missing
    ones soft-deleted; positions follow the given order. Safe on an active sequence: see the module doc."""
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
        # The next step of an active enrolment may now be another one with another delay: make every
        # active enrolment due at the earliest moment any step could be (its last send, or enrolment);
        # the planner then works out the real step and due time, deferring those that are not due yet.
        session.execute(
            update(Enrollment)
            .where(Enrollment.sequence_id == sequence.id, Enrollment.status == EnrollmentStatus.ACTIVE)
            .values(next_due_at=func.coalesce(Enrollment.last_planned_at, Enrollment.enrolled_at))
            .execution_options(synchronize_session=False)
        )
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


def set_sequence_status(session: Session, sequence: Sequence, status: SequenceStatus | str) -> Sequence:
    """Activate, pause or return a sequence to draft (UI, API); raises ValueError when it cannot run."""
    try:
        target = SequenceStatus(status)
    except ValueError:
        raise ValueError(f"unknown sequence status {status!r}") from None
    if sequence.status == SequenceStatus.CONVERTED or target == SequenceStatus.CONVERTED:
        # it runs as a journey now: its status is the journey's (pause / resume there)
        raise ValueError("this sequence runs as a journey now; change its status on the journey")
    if target == SequenceStatus.ACTIVE:
        problems = sequence_problems(session, sequence)
        if problems:
            raise ValueError("; ".join(problems))
    sequence.status = target
    sequence.updated_at = now_utc()
    session.flush()
    return sequence


# ------------------------------------------------------------------ enrolment
def first_due_at(session: Session, sequence_id: int, start: datetime) -> datetime:
    """When a fresh enrolment's first step is due: enrolment time plus the first live step's delay."""
    delay = session.scalar(
        select(Step.delay_minutes)
        .where(Step.sequence_id == sequence_id, Step.deleted.is_(False))
        .order_by(Step.position, Step.id)
        .limit(1)
    )
    return start + timedelta(minutes=delay or 0)


def enroll_contact(
    session: Session, contact: Contact, sequence: Sequence, source_event: str = "", now: datetime | None = None
) -> Enrollment | JourneyEnrolment | None:
    """Enrol one contact (manual enrolment, trigger events); None when already enrolled without re-entry,
    or when the contact is not active or is suppressed.

    A converted sequence (migration 0012) runs as its journey: the contact starts a walk there instead
    (journeys.walk_entry, the journey's own re-entry setting), and the walk is returned; None, with the
    reason logged, when that journey is not live (paused, archived) or the contact may not enter."""
    now = now or now_utc()
    if sequence.status == SequenceStatus.CONVERTED:
        walks = enrol_converted(session, sequence, [contact.id], source_event or "sequence", now)
        return session.get(JourneyEnrolment, walks[0]) if walks else None
    if contact.status != ContactStatus.ACTIVE or is_suppressed(session, contact.email):
        return None
    rows = session.execute(
        select(Enrollment.status, Enrollment.cycle).where(
            Enrollment.contact_id == contact.id, Enrollment.sequence_id == sequence.id
        )
    ).all()
    if any(status == EnrollmentStatus.ACTIVE for status, _ in rows):
        return None
    if rows and not sequence.allow_reentry:
        return None
    # Two requests enrolling the same contact at once: the UNIQUE (contact, sequence, cycle) lets one win,
    # and the other gets None (an INSERT .. ON CONFLICT DO NOTHING, so no savepoint is needed).
    inserted = session.execute(
        dialect_insert(session, Enrollment)
        .values(
            contact_id=contact.id,
            sequence_id=sequence.id,
            cycle=max((cycle for _, cycle in rows), default=0) + 1,
            status=EnrollmentStatus.ACTIVE,
            next_position=1,
            next_due_at=first_due_at(session, sequence.id, now),
            source_event=source_event[:MAX_NAME_LENGTH],
            exit_reason="",
            enrolled_at=now,
        )
        .on_conflict_do_nothing()
        .returning(Enrollment.id)
    ).scalar()
    return None if inserted is None else session.get(Enrollment, inserted)


def enroll_segment(
    session: Session, sequence: Sequence, contact_ids: Iterable[int], *, now: datetime | None = None
) -> int:
    """Enrol the selected contacts (manual enrolment of a selection or a segment's ids); returns how many
    were enrolled. Inactive, suppressed and already-enrolled contacts (without re-entry) are skipped.
    A converted sequence enrols into its journey instead (walks at the start node; 0, with the reason
    logged, when the journey is not live)."""
    ids = sorted({int(i) for i in contact_ids})
    now = now or now_utc()
    if sequence.status == SequenceStatus.CONVERTED:
        return len(enrol_converted(session, sequence, ids, "manual", now))
    due = first_due_at(session, sequence.id, now)
    enrolled = 0
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        eligible = set(
            session.scalars(
                select(Contact.id).where(
                    Contact.id.in_(chunk),
                    Contact.status == ContactStatus.ACTIVE,
                    ~address_suppressed(),
                )
            )
        )
        history: dict[int, tuple[int, bool]] = {}
        for contact_id, cycle, status in session.execute(
            select(Enrollment.contact_id, Enrollment.cycle, Enrollment.status).where(
                Enrollment.sequence_id == sequence.id, Enrollment.contact_id.in_(chunk)
            )
        ):
            top, active = history.get(contact_id, (0, False))
            history[contact_id] = (max(top, cycle), active or status == EnrollmentStatus.ACTIVE)
        rows = []
        for contact_id in chunk:
            if contact_id not in eligible:
                continue
            cycle, active = history.get(contact_id, (0, False))
            if active or (cycle and not sequence.allow_reentry):
                continue
            rows.append({
                "contact_id": contact_id, "sequence_id": sequence.id, "cycle": cycle + 1,
                "status": EnrollmentStatus.ACTIVE, "next_position": 1, "next_due_at": due,
                "source_event": "manual", "exit_reason": "", "enrolled_at": now,
            })
        if rows:
            stmt = dialect_insert(session, Enrollment).values(rows).on_conflict_do_nothing()
            result = session.execute(stmt.returning(Enrollment.id))
            enrolled += len(result.all())
    return enrolled


def enrol_converted(session: Session, sequence: Sequence, contact_ids: list[int] | Select[Any], source: str,
                    now: datetime) -> list[int]:
    """Walks started in the journey a converted sequence became (contact ids or a SELECT of them); [] with
    the reason logged when it takes nobody now (no journey, paused, archived). enroll_contact,
    enroll_segment and audience.segment_triggers.enroll_matching call it."""
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
    """Exit a contact's active enrolments and journey walks (all, or one sequence's: the journey it became,
    or one journey's walks only) and cancel their queued sends; called by unsubscribe (all, one sequence or
    one journey: the preference page), bounces and complaints. Returns enrolments and walks exited."""
    if journey_id is not None:
        return _exit_walks(session, contact_id, reason, None, journey_id)
    query = select(Enrollment.id).where(
        Enrollment.contact_id == contact_id, Enrollment.status == EnrollmentStatus.ACTIVE
    )
    if sequence_id is not None:
        query = query.where(Enrollment.sequence_id == sequence_id)
    return exit_enrollments(session, list(session.scalars(query)), reason) + _exit_walks(
        session, contact_id, reason, sequence_id)


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
    ended = list(session.scalars(
        update(JourneyEnrolment)
        .where(JourneyEnrolment.id.in_(query), JourneyEnrolment.status == JourneyEnrolmentStatus.ACTIVE)
        .values(status=JourneyEnrolmentStatus.EXITED, exit_reason=reason[:200], finished_at=now, due_at=None,
                waiting=False)
        .returning(JourneyEnrolment.id)
        .execution_options(synchronize_session=False)
    ))
    if ended:
        session.execute(
            update(JourneyStep).where(JourneyStep.enrolment_id.in_(ended), JourneyStep.left_at.is_(None))
            .values(left_at=now, exit="exit", detail=reason[:200]).execution_options(synchronize_session=False))
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
    """Store an event about a contact, end the enrolments it exits (exit events; goal events complete),
    and enrol the contact in active sequences it triggers (API events, tracking)."""
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

    active = session.execute(
        select(Enrollment.id, Sequence.exit_events, Sequence.goal_event)
        .join(Sequence, Sequence.id == Enrollment.sequence_id)
        .where(Enrollment.contact_id == contact.id, Enrollment.status == EnrollmentStatus.ACTIVE)
    ).all()
    exits = [eid for eid, exit_events, _ in active if name in (exit_events or [])]
    goals = [eid for eid, exit_events, goal in active if goal == name and eid not in exits]
    exit_enrollments(session, exits, f"event:{name}")
    # Reaching the goal is the point of the sequence: it ends as completed, not as an exit.
    exit_enrollments(session, goals, f"goal:{name}", status=EnrollmentStatus.COMPLETED)

    # A back-filled event (history sent through the API) is kept for scoring, segments and reports, and
    # it still ends enrolments (stopping mail is always safe), but it starts nothing: a whitepaper
    # downloaded last year is no reason to send "thanks for downloading" today.
    if event.occurred_at < now - TRIGGER_MAX_AGE:
        return event
    # Sequences are few (dozens): filtering their trigger lists in Python is portable and cheap.
    for sequence in session.scalars(select(Sequence).where(Sequence.status == SequenceStatus.ACTIVE)):
        if name in (sequence.trigger_events or []):
            enroll_contact(session, contact, sequence, source_event=name, now=now)
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
