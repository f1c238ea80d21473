"""Tracking data: every open/click hit (durable, classified) and the hourly roll-ups reports read.

Hits are written in batches by the buffered writer (campaigns.engagement.hit_writer), never by the request
that served the pixel. Roll-ups are maintained by the same transaction, so a report for a campaign
with millions of hits sums a few hundred rows instead of scanning the hits.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from campaigns.db import Base, StrEnumType, UTCDateTime, now_utc
from campaigns.models.sends import Send

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit key (hits grow forever).
BigIntKey = BigInteger().with_variant(Integer(), "sqlite")


class HitKind(enum.StrEnum):
    OPEN = "open"
    CLICK = "click"


class HitClass(enum.StrEnum):
    HUMAN = "human"
    MACHINE_OPEN = "machine_open"  # image proxies prefetching (Apple MPP, ...), not a person reading
    SCANNER = "scanner"  # security gateways and bots following links (Safe Links, Proofpoint, ...)


class Hit(Base):
    """One open or click as received by a tracking endpoint, with its classification and reason."""

    __tablename__ = "tracking_hits"

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    # Made by the endpoint before buffering; UNIQUE so a redelivered buffer entry is written once.
    event_id: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[HitKind] = mapped_column(StrEnumType(HitKind, 10))
    send_id: Mapped[int] = mapped_column(ForeignKey("sends.id", ondelete="CASCADE"))
    # No foreign keys on contact_id and link_id (migration 0002): each one cost every inserted hit a
    # row-locking lookup. A contact's hits go with its sends (send_id cascades); a link belongs to the
    # send's template version, which cannot be deleted while sends use it.
    contact_id: Mapped[int] = mapped_column(Integer)
    link_id: Mapped[int | None] = mapped_column(Integer)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    user_agent: Mapped[str] = mapped_column(String(512), default="")
    # Truncated (/24, /48) or keyed hash, per settings.ip_privacy; never the raw address unless "none".
    ip: Mapped[str] = mapped_column(String(64), default="")
    # Known network the raw address belonged to (apple, microsoft, proofpoint, ...), found before the
    # address was truncated or hashed, so classification can be recomputed later.
    network: Mapped[str] = mapped_column(String(20), default="")
    classification: Mapped[HitClass] = mapped_column(StrEnumType(HitClass))
    reason: Mapped[str] = mapped_column(String(40), default="")


# A mail's hits by kind and class: the hit writer reads a mail's stored clicks, and the earliest human
# open and click, per batch (the latter from the index alone); A/B and report queries join on send_id.
Index("ix_tracking_hits_send_kind", Hit.send_id, Hit.kind, Hit.classification, Hit.occurred_at)
Index("ix_tracking_hits_contact_time", Hit.contact_id, Hit.occurred_at)
Index("ix_tracking_hits_link", Hit.link_id)


class RollupScope(enum.StrEnum):
    BROADCAST = "b"
    STEP = "s"


class EngagementRollup(Base):
    """Hourly counters per campaign scope (broadcast or sequence step), A/B variant and link.

    link_id 0 means the whole mail. Metrics: open_<class>, click_<class> (raw hits), unique_open
    (sends with a human open, or a human click: a click implies an open), implied_open (of those,
    the ones known only from a click), unique_click, unsubscribe, complaint.
    """

    __tablename__ = "engagement_rollups"

    scope: Mapped[RollupScope] = mapped_column(StrEnumType(RollupScope, 1), primary_key=True)
    scope_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    variant: Mapped[str] = mapped_column(String(20), primary_key=True, default="")
    link_id: Mapped[int] = mapped_column(Integer, primary_key=True, default=0)
    bucket: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)  # start of the UTC hour
    metric: Mapped[str] = mapped_column(String(24), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


# Delivered / bounced per campaign (and A/B variant) come from the send ledger; these make those
# counts index-only scans. Partial: a step send is never counted by broadcast, nor a broadcast send by
# step, so neither pays for the other's index (the step index also serves the steps foreign key).
Index("ix_sends_broadcast_status_variant", Send.broadcast_id, Send.status, Send.variant,
      postgresql_where=Send.broadcast_id.isnot(None), sqlite_where=Send.broadcast_id.isnot(None))
Index("ix_sends_step_status_variant", Send.step_id, Send.status, Send.variant,
      postgresql_where=Send.step_id.isnot(None), sqlite_where=Send.step_id.isnot(None))
