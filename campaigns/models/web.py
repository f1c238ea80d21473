"""Website behaviour: visitors of the marketer's own sites (anonymous until identified) and their page views.

The tracking snippet (served by the tracking app) sends page views to the collection endpoint, which
buffers them like mail hits (one XADD on the request path); the hit writer stores them here in batches.
A visitor is a random first-party id kept by the browser; it becomes known (contact_id set) when it
arrives through a tracked mail click or submits a Nurture form, and its earlier anonymous visits are then
attached to the contact within a look-back window.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String, Text, func, literal_column
from sqlalchemy.orm import Mapped, mapped_column

from campaigns.db import Base, StrEnumType, UTCDateTime, now_utc
from campaigns.models.tracking import BigIntKey, HitClass

VISITOR_KEY_LENGTH = 32  # the snippet's random id: 128 bits as hex


class WebTrackingSettings(Base):
    """How the snippet behaves and which sites may send visits; a single row (id=1), edited on Settings ->
    Website tracking, read (cached a few seconds) by the collection endpoint and the click redirect."""

    __tablename__ = "web_tracking_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Host names, one per line; ".example.com" also allows every subdomain. No host: nothing is collected.
    allowed_domains: Mapped[str] = mapped_column(Text, default="")
    consent_required: Mapped[bool] = mapped_column(Boolean, default=False)  # nothing until nurture.consent(true)
    honour_gpc: Mapped[bool] = mapped_column(Boolean, default=True)  # a Global Privacy Control signal = nothing sent
    lookback_days: Mapped[int] = mapped_column(Integer, default=30)  # anonymous history attached at identification


class WebVisitor(Base):
    __tablename__ = "web_visitors"

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    visitor_key: Mapped[str] = mapped_column(String(VISITOR_KEY_LENGTH), unique=True)
    # No foreign key (as tracking_hits.contact_id): set once at identification, checked by the writer.
    contact_id: Mapped[int | None] = mapped_column(Integer)
    identified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    identified_by: Mapped[str] = mapped_column(String(20), default="")  # "mail_click", "form"
    organisation: Mapped[str] = mapped_column(String(200), default="")  # from IP_ORG_DATABASE, if configured
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)


Index("ix_web_visitors_contact", WebVisitor.contact_id)
Index("ix_web_visitors_last_seen", WebVisitor.last_seen_at)


class WebVisit(Base):
    """One page view, classified like mail hits (people vs bots and prefetchers)."""

    __tablename__ = "web_visits"

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(32), unique=True)  # made by the endpoint; a redelivery is written once
    visitor_id: Mapped[int] = mapped_column(Integer)
    contact_id: Mapped[int | None] = mapped_column(Integer)  # copied from the visitor when known (and back-filled)
    url: Mapped[str] = mapped_column(Text, default="")
    host: Mapped[str] = mapped_column(String(253), default="")
    path: Mapped[str] = mapped_column(String(2000), default="")
    title: Mapped[str] = mapped_column(String(500), default="")
    referrer: Mapped[str] = mapped_column(Text, default="")
    utm_source: Mapped[str] = mapped_column(String(200), default="")
    utm_medium: Mapped[str] = mapped_column(String(200), default="")
    utm_campaign: Mapped[str] = mapped_column(String(200), default="")
    duration_seconds: Mapped[int | None] = mapped_column(Integer)  # time on page, when the snippet could tell
    organisation: Mapped[str] = mapped_column(String(200), default="")
    user_agent: Mapped[str] = mapped_column(String(512), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")  # truncated or hashed as tracking hits' IPs
    classification: Mapped[HitClass] = mapped_column(StrEnumType(HitClass))
    reason: Mapped[str] = mapped_column(String(40), default="")
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)


# A contact's visits in time order (timeline, segments "visited ... within N days", scoring).
Index("ix_web_visits_contact_time", WebVisit.contact_id, WebVisit.occurred_at)
# Attaching a visitor's anonymous history at identification; the recent-visitors page.
Index("ix_web_visits_visitor_time", WebVisit.visitor_id, WebVisit.occurred_at)
Index("ix_web_visits_time", WebVisit.occurred_at)
# Segments "visited /pricing* at least twice in 30 days", scoring's page rules, the reports: the people's
# known visits by lower-cased path (a LIKE prefix is a range of it), then time; the contact is in the index
# so PostgreSQL answers from it alone (migration 0015; docs/benchmarks.md).
Index(
    "ix_web_visits_human_path", func.lower(WebVisit.path).label("path_lower"), WebVisit.occurred_at,
    postgresql_ops={"path_lower": "text_pattern_ops"}, postgresql_include=["contact_id"],
    postgresql_where=(WebVisit.classification == literal_column("'human'")) & WebVisit.contact_id.isnot(None),
    sqlite_where=(WebVisit.classification == literal_column("'human'")) & WebVisit.contact_id.isnot(None),
)
