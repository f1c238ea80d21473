"""Segment triggers and exits: contacts entering a segment join a sequence; leaving one ends it (scheduler, at most once a minute)."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Select,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session

from campaigns.audience.segments import SegmentError, insert_count, not_suppressed, segment_contact_ids
from campaigns.db import UTCDateTime, dialect_insert, now_utc
from campaigns.journeys.sequences import enrol_converted, exit_enrollments, first_due_at
from campaigns.models import (
    Contact,
    ContactStatus,
    Enrollment,
    EnrollmentStatus,
    Segment,
    SegmentExitWhen,
    SegmentTriggerMember,
    Sequence,
    SequenceStatus,
)
from campaigns.runtime import is_outage

log = logging.getLogger(__name__)

# ------------------------------------------------------------------ segments as triggers and exits
SEGMENT_EVERY = 60  # seconds between evaluations by the scheduler: each one evaluates whole segments

SEGMENT_KEY = "nurture:scheduler:segment-triggers"


def enroll_matching(
    session: Session, sequence: Sequence, rules: dict[str, Any] | None, *, now: datetime | None = None,
    source_event: str = "manual", ids: Select[Any] | None = None,
) -> int:
    """Enrol every contact a rule tree selects in one INSERT .. SELECT (manual enrolment of a segment, the
    background job for large ones, segment triggers). Suppressed and inactive contacts never; contacts
    with an active enrolment never; contacts enrolled before only when the sequence allows re-entry.
    `ids` replaces the rule tree's selection (segment triggers pass this run's entrants). A converted
    sequence enrols into its journey instead (journeys.sequences.enrol_converted; 0 unless it is live)."""

    now = now or now_utc()
    if sequence.status == SequenceStatus.CONVERTED:
        chosen_ids = ids if ids is not None else segment_contact_ids(rules, now)
        return len(enrol_converted(session, sequence, chosen_ids, source_event, now))
    due = first_due_at(session, sequence.id, now)
    chosen = ids if ids is not None else segment_contact_ids(rules, now)
    previous = select(func.max(Enrollment.cycle)).where(
        Enrollment.contact_id == Contact.id, Enrollment.sequence_id == sequence.id
    ).scalar_subquery()
    conditions = [
        Contact.id.in_(chosen),
        Contact.status == ContactStatus.ACTIVE,
        not_suppressed(),
        ~exists().where(
            Enrollment.contact_id == Contact.id, Enrollment.sequence_id == sequence.id,
            Enrollment.status == EnrollmentStatus.ACTIVE,
        ),
    ]
    if not sequence.allow_reentry:
        conditions.append(
            ~exists().where(Enrollment.contact_id == Contact.id, Enrollment.sequence_id == sequence.id)
        )
    query = select(
        Contact.id, literal(sequence.id), func.coalesce(previous, 0) + 1,
        literal(EnrollmentStatus.ACTIVE.value), literal(1), literal(due, UTCDateTime()),
        literal(source_event[:100]), literal(""), literal(now, UTCDateTime()),
    ).where(*conditions)
    stmt = dialect_insert(session, Enrollment).from_select(
        ["contact_id", "sequence_id", "cycle", "status", "next_position", "next_due_at", "source_event",
         "exit_reason", "enrolled_at"], query,
    ).on_conflict_do_nothing()
    return insert_count(session, stmt, Enrollment.id)


def evaluate_trigger(session: Session, sequence: Sequence, segment: Segment, now: datetime) -> int:
    """Enrol the contacts that entered the sequence's trigger segment since the last evaluation, and
    replace the snapshot of who matches (run_segment_triggers). Returns how many were enrolled."""
    matching = segment_contact_ids(segment.rules or {}, now)
    # Contacts who left the segment: dropped from the snapshot, so coming back counts as entering again.
    session.execute(
        delete(SegmentTriggerMember).where(
            SegmentTriggerMember.sequence_id == sequence.id, SegmentTriggerMember.contact_id.not_in(matching)
        )
    )
    run_id = uuid.uuid4().hex
    entrants = select(literal(sequence.id), Contact.id, literal(now, UTCDateTime()), literal(run_id)).where(
        Contact.id.in_(matching),
        ~exists().where(
            SegmentTriggerMember.sequence_id == sequence.id, SegmentTriggerMember.contact_id == Contact.id
        ),
    )
    session.execute(
        dialect_insert(session, SegmentTriggerMember).from_select(
            ["sequence_id", "contact_id", "since", "run_id"], entrants
        ).on_conflict_do_nothing()
    )
    this_run = select(SegmentTriggerMember.contact_id).where(
        SegmentTriggerMember.sequence_id == sequence.id, SegmentTriggerMember.run_id == run_id
    )
    return enroll_matching(session, sequence, None, now=now, source_event=f"segment:{segment.id}", ids=this_run)


def evaluate_exit(session: Session, sequence: Sequence, segment: Segment, now: datetime) -> int:
    """End the sequence's active enrolments whose contact left (or is in) its exit segment."""

    matching = segment_contact_ids(segment.rules or {}, now)
    in_segment = Enrollment.contact_id.in_(matching)
    leaving = in_segment if sequence.exit_segment_when == SegmentExitWhen.IN else ~in_segment
    ids = list(session.scalars(
        select(Enrollment.id).where(
            Enrollment.sequence_id == sequence.id, Enrollment.status == EnrollmentStatus.ACTIVE, leaving
        )
    ))
    word = "in" if sequence.exit_segment_when == SegmentExitWhen.IN else "left"
    return exit_enrollments(session, ids, f"segment {word}: {segment.name}"[:200])


def run_segment_triggers(db: Any, now: datetime | None = None) -> Counter[str]:
    """Evaluate every active sequence's trigger and exit segments, one transaction per sequence
    (the scheduler tick, at most once per SEGMENT_EVERY seconds). Returns counts for the log."""
    now = now or now_utc()
    counts: Counter[str] = Counter()
    with db.begin() as s:
        sequences = s.execute(
            select(Sequence.id, Sequence.trigger_segment_id, Sequence.exit_segment_id).where(
                Sequence.status == SequenceStatus.ACTIVE,
                or_(Sequence.trigger_segment_id.is_not(None), Sequence.exit_segment_id.is_not(None)),
            )
        ).all()
    for sequence_id, trigger_id, exit_id in sequences:
        done: Counter[str] = Counter()
        try:
            with db.begin() as s:
                sequence = s.get(Sequence, sequence_id)
                if sequence is None:
                    continue
                if exit_id is not None and (segment := s.get(Segment, exit_id)) is not None:
                    done["segment_exited"] += evaluate_exit(s, sequence, segment, now)
                if trigger_id is not None and (segment := s.get(Segment, trigger_id)) is not None:
                    done["segment_enrolled"] += evaluate_trigger(s, sequence, segment, now)
        except SegmentError as exc:  # a saved rule tree that no longer compiles or breaks the text rule: skip, say why
            log.warning("sequence %s: segment cannot be evaluated: %s", sequence_id, exc)
            done = Counter({"segment_errors": 1})
        except Exception as exc:
            if is_outage(exc):
                raise
            # one sequence's data must not stop the others' triggers (the tick logs and carries on the same way)
            log.error("sequence %s: segment trigger failed", sequence_id, exc_info=exc)
            done = Counter({"segment_errors": 1})
        counts.update(done)
    return counts
