"""The audit log: who did what to which object, and when; never any personal data of the object itself.

Written by actions the law or an operator may ask about later (a contact's erasure under the APPI or
the GDPR: campaigns.leads.erase). `detail` holds counts and codes only, so the log itself never becomes
a copy of what was erased.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from campaigns.db import Base, JSONType, UTCDateTime, now_utc

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit key.
_BigIntKey = BigInteger().with_variant(Integer(), "sqlite")


class AuditEntry(Base):
    """One audited action: `actor` is "user:<email>", "api-key:<id>" or "cli"; the object by type and id."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(_BigIntKey, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    actor: Mapped[str] = mapped_column(String(300))
    action: Mapped[str] = mapped_column(String(50))  # contact_erased, ...
    object_type: Mapped[str] = mapped_column(String(50))  # contact, ...
    object_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # counts and codes, nothing personal


Index("ix_audit_log_object", AuditEntry.object_type, AuditEntry.object_id)
Index("ix_audit_log_at", AuditEntry.at)
