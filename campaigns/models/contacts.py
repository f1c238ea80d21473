"""Contacts, the suppression list, segments and CSV import jobs."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import DDL, BigInteger, Boolean, Exists, Index, Integer, String, Text, event, exists
from sqlalchemy.orm import Mapped, mapped_column

from campaigns.db import Base, JSONType, StrEnumType, UTCDateTime, now_utc
from campaigns.names import display_name
from campaigns.search_text import contact_search_text
from campaigns.sql_functions import ascii_lower


class ContactStatus(enum.StrEnum):
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    PENDING = "pending"  # double opt-in not confirmed yet: no marketing mail until then


class Stage(enum.StrEnum):
    COLD = "cold"
    WARM = "warm"
    HOT = "hot"
    MQL = "mql"
    SQL = "sql"
    CUSTOMER = "customer"


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # normalised: trimmed, domain lower-cased
    first_name: Mapped[str] = mapped_column(String(200), default="")
    last_name: Mapped[str] = mapped_column(String(200), default="")
    company: Mapped[str] = mapped_column(String(200), default="")
    job_title: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(100), default="")  # ix_contacts_source_id (below)
    timezone: Mapped[str | None] = mapped_column(String(64))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[ContactStatus] = mapped_column(StrEnumType(ContactStatus), default=ContactStatus.ACTIVE)
    stage: Mapped[Stage] = mapped_column(StrEnumType(Stage), default=Stage.COLD)
    score: Mapped[int] = mapped_column(Integer, default=0)
    # Consent record (Japan's Act on Specified Electronic Mail): when, how, which form or wording.
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consent_method: Mapped[str] = mapped_column(String(50), default="")
    consent_source: Mapped[str] = mapped_column(String(200), default="")
    consent_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc, onupdate=now_utc)
    # The searchable fields folded by campaigns.search_text: kept by _keep_search_text on ORM writes, by the
    # column default on Core inserts that leave it out, and by the CSV import's bulk paths.
    search_text: Mapped[str] = mapped_column(Text, default=lambda context: _search_text_of(context))
    # The latest event about the contact (campaigns.leads.activity, after each scoring run); None = none yet.
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def name(self) -> str:
        return display_name(self.first_name, self.last_name)


def _search_text_of(context: Any) -> str:
    """The search column's default for an INSERT that does not give it (Core and bulk inserts)."""
    row = context.get_current_parameters()
    return contact_search_text(*(row.get(k) for k in ("email", "first_name", "last_name", "company", "job_title")))


@event.listens_for(Contact, "before_insert")
@event.listens_for(Contact, "before_update")
def _keep_search_text(mapper: Any, connection: Any, contact: Contact) -> None:
    """Every ORM write of a contact (forms, API, upserts, the demo, tests) stores its folded search text."""
    contact.search_text = contact_search_text(
        contact.email, contact.first_name, contact.last_name, contact.company, contact.job_title)


class Suppression(Base):
    """Addresses no send may ever reach, whatever their contact row says.

    Case-insensitive on the whole address (one mailbox at every real provider), while contacts keep
    the local part's case: `email` is the normalised address with A-Z folded (`ascii_lower`), and
    matches every contact whose `ascii_lower(Contact.email)` equals it."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # normalised, then ASCII-lower-cased
    reason: Mapped[str] = mapped_column(String(50))  # unsubscribed, hard_bounce, complaint, manual
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)


def address_suppressed() -> Exists:
    """EXISTS, correlated to Contact: its address, in any letter case, is on the suppression list. Keys are
    stored folded, so the suppressions' unique index serves the probe (sending, planning, enrolment,
    segments and audiences all ask this one question)."""
    return exists().where(Suppression.email == ascii_lower(Contact.email))


class Segment(Base):
    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    rules: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Archived (campaigns.archive): out of lists and pickers, history and reports kept; NULL = live.
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc, onupdate=now_utc)


class ImportStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ImportJob(Base):
    __tablename__ = "import_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(String(500))
    options: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[ImportStatus] = mapped_column(StrEnumType(ImportStatus), default=ImportStatus.PENDING)
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)  # already in the database, mode "skip"
    duplicates: Mapped[int] = mapped_column(Integer, default=0)  # repeated in the file: merged or ignored
    failed: Mapped[int] = mapped_column(Integer, default=0)  # bad rows (all counted; the first ones listed)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    # The first rows repeating an address met earlier in the file (line, email, first line, merged or not).
    repeats: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    # Progress is measured in bytes: counting rows first would mean reading a large file twice.
    bytes_total: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_done: Mapped[int] = mapped_column(BigInteger, default=0)
    encoding: Mapped[str] = mapped_column(String(20), default="")
    message: Mapped[str] = mapped_column(Text, default="")  # why a whole import failed (bad file, ...)
    # The file is ours (an upload) and is deleted when the import ends; a CLI import reads the user's own.
    owns_file: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # last progress commit
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def percent(self) -> int:
        """Progress for the UI, 0-100."""
        if self.status == ImportStatus.DONE:
            return 100
        if not self.bytes_total:
            return 0
        return min(99, int(100 * self.bytes_done / self.bytes_total))


Index("ix_contacts_created_id", Contact.created_at, Contact.id)
# Suppressing an address finds every case-variant contact of it (bounces, unsubscribes, scoring's
# bounce rule) through this index rather than a pass over all contacts.
Index("ix_contacts_email_folded", ascii_lower(Contact.email))
# KPI dashboard: contacts created in a range by source and stage (and their ids, for the funnel's
# join with stage moves) as an index-only scan, not a pass over the whole (wide) table.
Index("ix_contacts_created_kpi", Contact.created_at, Contact.source, Contact.stage, Contact.id)
# The contact list (campaigns.audience.contact_filter): each sortable column with id as the tie-break,
# so a keyset page is one index range whatever the sort; filters by stage, source and status use the
# leading column. The search column has a trigram index on PostgreSQL (migration 0008; SQLite scans).
Index("ix_contacts_score_id", Contact.score, Contact.id)
Index("ix_contacts_stage_id", Contact.stage, Contact.id)
Index("ix_contacts_status_id", Contact.status, Contact.id)
Index("ix_contacts_activity_id", Contact.last_activity_at, Contact.id)
Index("ix_contacts_name_id", Contact.last_name, Contact.first_name, Contact.id)
Index("ix_contacts_company_id", Contact.company, Contact.id)
Index("ix_contacts_job_title_id", Contact.job_title, Contact.id)
Index("ix_contacts_source_id", Contact.source, Contact.id)
# Search: a trigram index on PostgreSQL serves LIKE '%word%' (pg_trgm, created before the table); SQLite
# has no trigram index, so there it is a plain index of the same name (the schema compares equal).
Index("ix_contacts_search_trgm", Contact.search_text,
      postgresql_using="gin", postgresql_ops={"search_text": "gin_trgm_ops"})
event.listen(Contact.__table__, "before_create",
             DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm").execute_if(dialect="postgresql"))
