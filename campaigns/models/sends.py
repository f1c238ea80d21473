"""The send ledger: one row per (enrolment, step), (journey walk, node, visit) or (broadcast, contact), UNIQUE,
so nothing goes twice."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from campaigns.db import Base, StrEnumType, UTCDateTime, now_utc


class SendStatus(enum.StrEnum):
    QUEUED = "queued"  # planned, waiting for a worker
    SENDING = "sending"  # claimed by a worker; if it stays here past the lease, it was in flight at a crash
    SENT = "sent"
    FAILED = "failed"  # permanent SMTP failure (5xx)
    SUPPRESSED = "suppressed"  # skipped at send time: suppressed address or inactive contact
    CANCELLED = "cancelled"  # e.g. the contact left the sequence before delivery


# Sends that count as mailed (or about to be) for caps and reports.
COUNTED_STATUSES = (SendStatus.QUEUED, SendStatus.SENDING, SendStatus.SENT)


class Send(Base):
    __tablename__ = "sends"
    # The ledger's uniqueness (one send per enrolment and step, one per broadcast and contact) lives in
    # partial unique indexes below: a step send has no broadcast and a broadcast send no enrolment, so
    # each row pays for the one index that can ever reject it, not for both.

    id: Mapped[int] = mapped_column(primary_key=True)
    # Lookups by contact use ix_sends_contact_sent (contact_id, sent_at); a second index on contact_id
    # alone would only cost every planned send one more index write.
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    enrollment_id: Mapped[int | None] = mapped_column(ForeignKey("enrollments.id", ondelete="CASCADE"))
    step_id: Mapped[int | None] = mapped_column(ForeignKey("steps.id"))  # see ix_sends_step_status_variant
    broadcast_id: Mapped[int | None] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"))
    # A journey's mail node: one send per (walk, node, visit) (uq_sends_journey_node_visit).
    journey_enrolment_id: Mapped[int | None] = mapped_column(
        ForeignKey("journey_enrolments.id", ondelete="CASCADE"))
    node_key: Mapped[str | None] = mapped_column(String(40))
    visit: Mapped[int | None] = mapped_column(Integer)
    template_version_id: Mapped[int] = mapped_column(ForeignKey("template_versions.id"))
    variant: Mapped[str] = mapped_column(String(20), default="")  # A/B variant key, if any
    status: Mapped[SendStatus] = mapped_column(StrEnumType(SendStatus), default=SendStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # True when a worker died while this send was in flight and it was delivered again (possible duplicate).
    possible_duplicate: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)



Index("ix_sends_status_enqueued", Send.status, Send.enqueued_at)
Index("uq_sends_enrollment_id_step_id", Send.enrollment_id, Send.step_id, unique=True,
      postgresql_where=Send.enrollment_id.isnot(None), sqlite_where=Send.enrollment_id.isnot(None))
Index("uq_sends_broadcast_id_contact_id", Send.broadcast_id, Send.contact_id, unique=True,
      postgresql_where=Send.broadcast_id.isnot(None), sqlite_where=Send.broadcast_id.isnot(None))
Index("uq_sends_journey_node_visit", Send.journey_enrolment_id, Send.node_key, Send.visit, unique=True,
      postgresql_where=Send.journey_enrolment_id.isnot(None), sqlite_where=Send.journey_enrolment_id.isnot(None))
Index("ix_sends_contact_sent", Send.contact_id, Send.sent_at)
# Mails sent in a period (the dashboard's weekly trend, "sent in the last 7 days"): a range of sent_at read from
# the index alone, the status included (migration 0025; bench/bench_dashboard_trends.py, docs/benchmarks.md).
Index("ix_sends_sent_at", Send.sent_at, postgresql_include=["status"])
# The scheduler asks "does this broadcast still have undelivered sends?" every tick: a partial index
# holds only pending broadcast sends, so the answer stays cheap for a broadcast of a million mails.
Index(
    "ix_sends_broadcast_pending",
    Send.broadcast_id,
    postgresql_where=Send.status.in_(["queued", "sending"]) & Send.broadcast_id.isnot(None),
    sqlite_where=Send.status.in_(["queued", "sending"]) & Send.broadcast_id.isnot(None),
)


class OutboxMessage(Base):
    """A mail caught by the built-in development SMTP server (like MailHog) instead of leaving the machine."""

    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    mail_from: Mapped[str] = mapped_column(String(254))
    recipients: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text, default="")
    raw: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc, index=True)
