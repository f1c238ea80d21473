"""Website behaviour: visitors of the marketer's own sites (anonymous until identified) and their page views.

The tracking snippet (served by the tracking app) sends page views to the collection endpoint, which
buffers them like mail hits (one XADD on the request path); the hit writer stores them here in batches.
A visitor is a random first-party id kept by the browser; it becomes known (contact_id set) when it
arrives through a tracked mail click or submits a Nurture form, and its earlier anonymous visits are then
attached to the contact within a look-back window.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Computed, Index, Integer, String, Text, func, literal_column
from sqlalchemy.orm import Mapped, mapped_column

from campaigns.db import Base, StrEnumType, UTCDateTime, now_utc
from campaigns.models.tracking import BigIntKey, HitClass

VISITOR_KEY_LENGTH = 32  # the snippet's random id: 128 bits as hex
# The page key's length: the lower-cased path's first characters (campaigns.audience.web_conditions reads it).
PAGE_KEY_LENGTH = 500


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
    # The page key the path indexes hold: the lower-cased path, its first PAGE_KEY_LENGTH characters, computed
    # by the database. A plain column (not an index expression) so PostgreSQL can answer a page pattern from
    # the index alone, and bounded so a very long path still fits in a btree entry (migration 0019).
    path_key: Mapped[str | None] = mapped_column(
        Text, Computed(f"lower(substr(path, 1, {PAGE_KEY_LENGTH}))", persisted=True))
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
# known visits by page key (a LIKE prefix is a range of it), then time, the contact in the index: PostgreSQL
# answers "visited <pattern> [in N days]" from the index alone (migration 0019; docs/benchmarks.md).
_KNOWN_PEOPLE = (WebVisit.classification == literal_column("'human'")) & WebVisit.contact_id.isnot(None)
Index(
    "ix_web_visits_human_page", WebVisit.path_key, WebVisit.occurred_at,
    postgresql_ops={"path_key": "text_pattern_ops"}, postgresql_include=["contact_id"],
    postgresql_where=_KNOWN_PEOPLE, sqlite_where=_KNOWN_PEOPLE,
)
# Segments "came from utm_source X": only the visits that carry a utm_source; the raw value is included so
# the lower-cased comparison is answered from the index (an expression needs its column there).
_TAGGED = _KNOWN_PEOPLE & (WebVisit.utm_source != literal_column("''"))
Index(
    "ix_web_visits_human_utm", func.lower(WebVisit.utm_source).label("utm_lower"), WebVisit.occurred_at,
    postgresql_include=["contact_id", "utm_source"], postgresql_where=_TAGGED, sqlite_where=_TAGGED,
)
