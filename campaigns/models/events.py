"""Events about contacts: from the API (whitepaper downloaded, ...) and from tracking (opens, clicks)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from campaigns.db import Base, JSONType, UTCDateTime, now_utc


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    properties: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    source: Mapped[str] = mapped_column(String(50), default="api")
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)


Index("ix_events_contact_time", Event.contact_id, Event.occurred_at)
Index("ix_events_name_time", Event.name, Event.occurred_at)
