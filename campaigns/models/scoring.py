"""Lead lifecycle records shared by scoring, triggers and the KPI dashboard."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from campaigns.db import Base, UTCDateTime, now_utc


class StageChange(Base):
    """One move of a contact between lifecycle stages, with when and why (the stage timeline)."""

    __tablename__ = "stage_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    from_stage: Mapped[str] = mapped_column(String(20), default="")  # "" for the first record of a contact
    to_stage: Mapped[str] = mapped_column(String(20))
    cause: Mapped[str] = mapped_column(String(50))  # score_threshold, rule, sales, api, import, ...
    detail: Mapped[str] = mapped_column(Text, default="")
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)


Index("ix_stage_changes_contact_time", StageChange.contact_id, StageChange.changed_at)
Index("ix_stage_changes_stage_time", StageChange.to_stage, StageChange.changed_at)
