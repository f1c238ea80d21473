"""Step-mail sequences, their steps, enrolments of contacts, and one-off broadcasts."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from campaigns.db import Base, JSONType, StrEnumType, UTCDateTime, now_utc
from campaigns.models.lists import SegmentExitWhen


class SequenceStatus(enum.StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    # Runs as a journey (journeys.sequence_id, migration 0012): nothing plans or enrols through the sequence.
    CONVERTED = "converted"


class Sequence(Base):
    __tablename__ = "sequences"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    # What recipients see (the preference page); the name above is internal. Empty: a neutral wording.
    public_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    status: Mapped[SequenceStatus] = mapped_column(StrEnumType(SequenceStatus), default=SequenceStatus.DRAFT)
    # Events that enrol a contact (e.g. "whitepaper_downloaded"); matched by name.
    trigger_events: Mapped[list[str]] = mapped_column(JSONType, default=list)
    allow_reentry: Mapped[bool] = mapped_column(Boolean, default=False)
    # Exit conditions: an event by name, or reaching one of these stages; unsubscribes/bounces always exit.
    exit_events: Mapped[list[str]] = mapped_column(JSONType, default=list)
    exit_stages: Mapped[list[str]] = mapped_column(JSONType, default=list)
    goal_event: Mapped[str] = mapped_column(String(100), default="")
    # Segment trigger and exit (campaigns.audience.segment_triggers.run_segment_triggers, at most once a minute): contacts
    # entering the trigger segment are enrolled; the exit segment ends enrolments when the contact has
    # left it ("left") or is in it ("in").
    trigger_segment_id: Mapped[int | None] = mapped_column(ForeignKey("segments.id", ondelete="SET NULL"))
    exit_segment_id: Mapped[int | None] = mapped_column(ForeignKey("segments.id", ondelete="SET NULL"))
    exit_segment_when: Mapped[SegmentExitWhen] = mapped_column(
        StrEnumType(SegmentExitWhen, 10), default=SegmentExitWhen.LEFT
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc, onupdate=now_utc)

    steps: Mapped[list[Step]] = relationship(
        back_populates="sequence",
        order_by="Step.position",
        primaryjoin="and_(Step.sequence_id == Sequence.id, Step.deleted == False)",  # noqa: E712
        viewonly=True,
    )


class Step(Base):
    """One mail of a sequence. Steps are never hard-deleted so the send ledger keeps its meaning."""

    __tablename__ = "steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    sequence_id: Mapped[int] = mapped_column(ForeignKey("sequences.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    delay_minutes: Mapped[int] = mapped_column(Integer, default=0)  # after the previous step (or enrolment)
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id"))
    # Send window in the contact's time zone (falls back to the account's): ISO weekdays 1-7, hours [start, end).
    window_days: Mapped[str] = mapped_column(String(7), default="")  # "" = any day, e.g. "12345"
    window_start_hour: Mapped[int | None] = mapped_column(Integer)
    window_end_hour: Mapped[int | None] = mapped_column(Integer)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)

    sequence: Mapped[Sequence] = relationship(back_populates="steps", foreign_keys=[sequence_id])


class EnrollmentStatus(enum.StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    EXITED = "exited"


class Enrollment(Base):
    __tablename__ = "enrollments"
    __table_args__ = (UniqueConstraint("contact_id", "sequence_id", "cycle"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # No separate index on contact_id: the UNIQUE (contact_id, sequence_id, cycle) index serves lookups by
    # contact, and every index costs the scheduler a write per planned step.
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    sequence_id: Mapped[int] = mapped_column(ForeignKey("sequences.id", ondelete="CASCADE"), index=True)
    cycle: Mapped[int] = mapped_column(Integer, default=1)  # > 1 only when re-entry is allowed
    status: Mapped[EnrollmentStatus] = mapped_column(
        StrEnumType(EnrollmentStatus), default=EnrollmentStatus.ACTIVE
    )
    # Position of the next step to send (1-based, for display), and when it is due (the scheduler's index).
    # Which step is next is decided from the send ledger (the first live step this enrolment has no send
    # for), so reordering an active sequence can neither resend nor skip a step.
    next_position: Mapped[int] = mapped_column(Integer, default=1)
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last step planned for this enrolment and when: the next step's delay counts from here.
    # No foreign key on purpose: steps are never deleted, and a key check on every planned step costs
    # the scheduler a lookup per row at 100,000 rows a tick.
    last_step_id: Mapped[int | None] = mapped_column(Integer)
    last_planned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    source_event: Mapped[str] = mapped_column(String(100), default="")
    exit_reason: Mapped[str] = mapped_column(String(200), default="")
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# The scheduler asks "active enrolments due by now, oldest first" constantly. A partial index on active
# rows only: finished enrolments (the bulk, over time) drop out of it, so the lookup cost depends on the
# number of due rows, not the table size. (next_due_at, id) serves the planner's keyset order.
Index(
    "ix_enrollments_due",
    Enrollment.next_due_at,
    Enrollment.id,
    postgresql_where=Enrollment.status == "active",
    sqlite_where=Enrollment.status == "active",
)


class BroadcastStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"  # stopped by itself (complaint rate, campaigns.delivery.bounces); resumable
    SENT = "sent"
    CANCELLED = "cancelled"
    FAILED = "failed"  # the scheduler could not plan it (failure_reason says why); nothing was sent


class Broadcast(Base):
    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id"))
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segments.id"))  # None = all active contacts
    status: Mapped[BroadcastStatus] = mapped_column(StrEnumType(BroadcastStatus), default=BroadcastStatus.DRAFT)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    options: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Why the scheduler marked it failed, in English words a marketer can act on (the UI translates it).
    failure_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
