"""Static contact lists (hand-picked members) and the segment snapshots that segment triggers diff against."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from campaigns.db import Base, UTCDateTime, now_utc
from campaigns.models.events import Event


class ContactList(Base):
    """A static list: contacts are added and removed by hand, by bulk from a segment, an import or the API."""

    __tablename__ = "contact_lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # Archived (campaigns.archive): out of lists and pickers, history and reports kept; NULL = live.
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc, onupdate=now_utc)


class ContactListMember(Base):
    """One contact on one list; the primary key (list, contact) makes adding twice a no-op."""

    __tablename__ = "contact_list_members"

    list_id: Mapped[int] = mapped_column(ForeignKey("contact_lists.id", ondelete="CASCADE"), primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)


# "Which lists is this contact on" (contact page, the segment EXISTS probe per contact).
Index("ix_contact_list_members_contact", ContactListMember.contact_id, ContactListMember.list_id)


class SegmentExitWhen(enum.StrEnum):
    """When a sequence's exit segment ends an enrolment."""

    LEFT = "left"  # the contact no longer matches the segment
    IN = "in"  # the contact matches the segment


class SegmentTriggerMember(Base):
    """Contacts that matched a sequence's trigger segment at the last evaluation: the next evaluation
    enrols only those not in here (contacts *entering* the segment), then replaces the snapshot."""

    __tablename__ = "segment_trigger_members"

    sequence_id: Mapped[int] = mapped_column(ForeignKey("sequences.id", ondelete="CASCADE"), primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    # The evaluation that added the row: that evaluation enrols exactly the rows carrying its id.
    run_id: Mapped[str] = mapped_column(String(32), default="")


# ------------------------------------------------------------------ indexes that serve segment conditions
# A segment count probes, per candidate contact, "has an event of this name since T" and "has a human
# hit since T": (contact_id, name, occurred_at) answers the first from the index alone; the hits' own
# (contact_id, occurred_at) index serves the second. A partial index of human hits was tried and dropped:
# with stale statistics PostgreSQL combined it (BitmapAnd) into the hit writer's per-send lookups and
# scanned every human hit per batch (92 ms instead of 5 ms; found by bench/soak.py). See docs/segments.md.
Index("ix_events_contact_name_time", Event.contact_id, Event.name, Event.occurred_at)
