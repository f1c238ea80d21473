"""Journeys: versioned graphs of nodes that contacts enter and walk, and the record of every step they took.

A journey's structure is a JSON graph (the format is docs/journeys.md, validated by
campaigns.automation.graph); a published graph is frozen in a JourneyVersion, so a contact's position
(`node_key`) always means a node of the version it walks. The send ledger (campaigns.models.sends) keeps
one row per (journey enrolment, node, visit) under a UNIQUE index: whatever races, a mail node sends at
most once per visit.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from campaigns.db import Base, JSONType, StrEnumType, UTCDateTime, now_utc

NODE_KEY_LENGTH = 40  # node ids in the graph JSON ("n1", "wait-3", ...)


class JourneyStatus(enum.StrEnum):
    DRAFT = "draft"  # never published; only the draft graph exists
    LIVE = "live"  # published: triggers enrol, the engine walks
    PAUSED = "paused"  # nobody enters, nobody moves; positions are kept
    ARCHIVED = "archived"  # ended: active enrolments exited, history and reports kept


class Journey(Base):
    __tablename__ = "journeys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    # What recipients see (the preference page); the name above is internal. Empty: a neutral wording.
    public_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    status: Mapped[JourneyStatus] = mapped_column(StrEnumType(JourneyStatus), default=JourneyStatus.DRAFT)
    # The graph being edited (docs/journeys.md); publishing freezes a copy in a JourneyVersion.
    draft_graph: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # The published version contacts walk (None until the first publish). No foreign key: the two tables
    # point at each other, and versions are never deleted.
    live_version_id: Mapped[int | None] = mapped_column(Integer)
    # Journey-level settings (docs/journeys.md): entry triggers, re-entry, goal, exit conditions, the
    # per-contact visit limit of a node. Kept as JSON beside the graph and versioned with it on publish.
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Signs the journey's webhook nodes' calls (campaigns.scoring.handover.sign); made on first use.
    webhook_secret: Mapped[str] = mapped_column(String(100), default="", server_default="")
    # Set when a sequence was converted into this journey (the sequence API shows it as a linear journey).
    sequence_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc, onupdate=now_utc)


class JourneyVersion(Base):
    """A published graph, frozen. `moves` records where contacts at removed nodes were sent."""

    __tablename__ = "journey_versions"
    __table_args__ = (UniqueConstraint("journey_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    journey_id: Mapped[int] = mapped_column(ForeignKey("journeys.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    graph: Mapped[dict[str, Any]] = mapped_column(JSONType)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    moves: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # {removed node: target or "exit"}
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    published_by: Mapped[str] = mapped_column(String(254), default="")


class JourneyEnrolmentStatus(enum.StrEnum):
    ACTIVE = "active"
    CONVERTED = "converted"  # reached the goal
    COMPLETED = "completed"  # walked to an end of the graph
    EXITED = "exited"  # an exit condition, an unsubscribe or bounce, an archive, a removed node sent to exit


class JourneyEnrolment(Base):
    """One contact's walk through one journey (one per cycle when re-entry is allowed)."""

    __tablename__ = "journey_enrolments"
    __table_args__ = (UniqueConstraint("contact_id", "journey_id", "cycle"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    journey_id: Mapped[int] = mapped_column(ForeignKey("journeys.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    cycle: Mapped[int] = mapped_column(Integer, default=1)
    version_id: Mapped[int] = mapped_column(Integer)  # the JourneyVersion whose graph node_key belongs to
    status: Mapped[JourneyEnrolmentStatus] = mapped_column(
        StrEnumType(JourneyEnrolmentStatus), default=JourneyEnrolmentStatus.ACTIVE
    )
    # Where the contact is: the node it is at, since when, and when the engine next looks at it
    # (now for a node to run, the end of a wait, a wait-for's timeout; None = nothing due).
    node_key: Mapped[str] = mapped_column(String(NODE_KEY_LENGTH))
    node_entered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # How many times the contact has entered the current node (loops run through waits, up to a limit);
    # the send ledger's UNIQUE (enrolment, node, visit) is what makes each visit's mail go at most once.
    visit: Mapped[int] = mapped_column(Integer, default=1)
    visits: Mapped[dict[str, int]] = mapped_column(JSONType, default=dict)  # node key -> times entered
    # True while at a wait-for node: the engine matches new events / opens / clicks against these rows.
    waiting: Mapped[bool] = mapped_column(Boolean, default=False)
    # The last mail this walk sent ("opened / clicked the previous mail" conditions and waits).
    last_send_id: Mapped[int | None] = mapped_column(Integer)
    # What started the walk: the trigger kind and its data (an event's properties, for waits and dates).
    source: Mapped[str] = mapped_column(String(100), default="")
    context: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    test: Mapped[bool] = mapped_column(Boolean, default=False)  # a test walk: waits shortened
    exit_reason: Mapped[str] = mapped_column(String(200), default="")
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# "Active walks due by now, oldest first": a partial index over active rows only, so the lookup costs the
# number of due rows, not the table size (the same shape as ix_enrollments_due).
Index(
    "ix_journey_enrolments_due",
    JourneyEnrolment.due_at,
    JourneyEnrolment.id,
    postgresql_where=JourneyEnrolment.status == "active",
    sqlite_where=JourneyEnrolment.status == "active",
)
# New events, opens and clicks are matched to the walks waiting for them by contact.
Index(
    "ix_journey_enrolments_waiting",
    JourneyEnrolment.contact_id,
    postgresql_where=JourneyEnrolment.waiting.is_(True),
    sqlite_where=JourneyEnrolment.waiting.is_(True),
)
# Contacts at each node now (the canvas's counts).
Index("ix_journey_enrolments_node", JourneyEnrolment.journey_id, JourneyEnrolment.node_key, JourneyEnrolment.status)


class JourneyStep(Base):
    """The path log: a contact entered a node (at, visit) and left it by an exit (left_at, exit)."""

    __tablename__ = "journey_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    journey_id: Mapped[int] = mapped_column(Integer)  # denormalised for per-node counts without a join
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("journey_enrolments.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(Integer)
    node_key: Mapped[str] = mapped_column(String(NODE_KEY_LENGTH))
    visit: Mapped[int] = mapped_column(Integer, default=1)
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    exit: Mapped[str] = mapped_column(String(NODE_KEY_LENGTH), default="")  # "next", "yes", "timeout", path key...
    detail: Mapped[str] = mapped_column(String(200), default="")  # e.g. the split path, the branch matched


Index("ix_journey_steps_enrolment", JourneyStep.enrolment_id, JourneyStep.id)
Index("ix_journey_steps_node", JourneyStep.journey_id, JourneyStep.node_key, JourneyStep.exit)


class JourneyCursor(Base):
    """How far the engine has read a source of happenings (events, tracking hits, form submissions, stage
    changes) when matching them to waiting walks, entry triggers and goals: the last id it has handled.
    Kept in the database, not in Redis, so a flushed cache neither replays nor skips anything."""

    __tablename__ = "journey_cursors"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    # BigInteger: tracking hit ids are 64-bit (date triggers keep a Unix time here).
    last_id: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc, onupdate=now_utc)


class JourneySegmentMember(Base):
    """Contacts in a journey's trigger segment at its last evaluation, for journeys that allow re-entry: the
    next evaluation starts walks only for contacts not in here (entering the segment), so a contact who left
    the segment and came back walks again; one who stays in it does not loop (as segment_trigger_members
    does for sequences)."""

    __tablename__ = "journey_segment_members"

    journey_id: Mapped[int] = mapped_column(ForeignKey("journeys.id", ondelete="CASCADE"), primary_key=True)
    segment_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(32), default="")  # the evaluation that added the row
