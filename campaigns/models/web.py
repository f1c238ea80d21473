"""Website behaviour: visitors of the marketer's own sites (anonymous until identified) and their page views.

The tracking snippet (served by the tracking app) sends page views to the collection endpoint, which
buffers them like mail hits (one XADD on the request path); the hit writer stores them here in batches.
A visitor is a random first-party id kept by the browser; it becomes known (contact_id set) when it
arrives through a tracked mail click or submits a Nurture form, and its earlier anonymous visits are then
attached to the contact within a look-back window.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    Boolean,
    Computed,
    Date,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    event,
    func,
    literal_column,
    text,
)
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


class WebVisitDay(Base):
    """A contact's people visits of one UTC day: "visited any page at least K times within N days" sums these
    instead of counting the period's visits (migration 0024; docs/benchmarks.md).

    Kept by the database itself (triggers on web_visits, ROLLUP_TRIGGERS below), so every writer of visits
    follows without knowing it: the hit writer's COPY, the attachment of an anonymous history when its visitor
    becomes known (an UPDATE of contact_id), the demo history, tests. A row may fall to 0 visits; readers sum.
    """

    __tablename__ = "web_visit_days"

    contact_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)  # the visit's UTC date
    visits: Mapped[int] = mapped_column(Integer, default=0)


# "within N days": the days after the first one, from the index alone (the contact and its count included).
Index("ix_web_visit_days_day", WebVisitDay.day, postgresql_include=["contact_id", "visits"])


RECENT_VISITS = 8  # how many of a contact's latest visit times web_visit_totals.recent keeps


class WebVisitTotal(Base):
    """A contact's people visits of all time, and the times of its RECENT_VISITS latest ones (newest first).

    "Visited any page at least K times" (no period) reads `visits`; "at least K times within N days" for K up
    to RECENT_VISITS is "the K-th latest visit is within N days", one row per contact, instead of counting the
    period's visits of every contact (the daily roll-up serves a larger K). Kept by the same triggers as
    WebVisitDay: new visits are merged into `recent`, a visit moved away or deleted makes it read again from
    web_visits (ix_web_visits_contact_time). An array of timestamps on PostgreSQL, a JSON array on SQLite."""

    __tablename__ = "web_visit_totals"

    contact_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    visits: Mapped[int] = mapped_column(Integer, default=0)
    recent: Mapped[Any] = mapped_column(Text().with_variant(ARRAY(DateTime(timezone=True)), "postgresql"),
                                        nullable=True)


# ------------------------------------------------------------------ the roll-ups' triggers
# Counted: what segments count (people's visits attached to a contact). Repeated as plain SQL in migration 0024.
_COUNTED = "classification = 'human' AND contact_id IS NOT NULL"

# PostgreSQL: statement triggers over the transition tables, so a COPY of a thousand visits is one grouped
# upsert per roll-up, not a thousand; rows in key order, so two writers' upserts cannot deadlock. An UPDATE
# (time on page, attachment) nets the old rows against the new; a net 0 (a duration) writes nothing.
_PG_DELTA = {
    "INSERT": f"SELECT contact_id, occurred_at, 1 AS n FROM new_rows WHERE {_COUNTED}",
    "DELETE": f"SELECT contact_id, occurred_at, -1 AS n FROM old_rows WHERE {_COUNTED}",
    "UPDATE": (f"SELECT contact_id, occurred_at, 1 AS n FROM new_rows WHERE {_COUNTED} UNION ALL "
               f"SELECT contact_id, occurred_at, -1 AS n FROM old_rows WHERE {_COUNTED}"),
}


# The latest visit times of a contact `t`, read from web_visits (after a visit moved away or was deleted).
_PG_RECENT = (f"ARRAY(SELECT v.occurred_at FROM web_visits v WHERE v.contact_id = t.contact_id "
              f"AND v.classification = 'human' ORDER BY v.occurred_at DESC LIMIT {RECENT_VISITS})")
# Contacts whose counted visits an UPDATE changed (a duration update changes none: nothing is read again).
_PG_CHANGED = {
    "DELETE": f"SELECT contact_id FROM old_rows WHERE {_COUNTED}",
    "UPDATE": ("SELECT x.contact_id FROM old_rows o JOIN new_rows n ON n.id = o.id, "
               "LATERAL (VALUES (o.contact_id, o.classification), (n.contact_id, n.classification)) AS x(contact_id, c) "
               "WHERE (o.contact_id, o.classification, o.occurred_at) IS DISTINCT FROM "
               "(n.contact_id, n.classification, n.occurred_at) AND x.c = 'human' AND x.contact_id IS NOT NULL"),
}


def _pg_function(op: str) -> str:
    delta = _PG_DELTA[op]
    if op == "INSERT":  # new visits: merged into the kept latest times, no read of web_visits
        totals = f"""
  INSERT INTO web_visit_totals AS t (contact_id, visits, recent)
    SELECT contact_id, count(*), (array_agg(occurred_at ORDER BY occurred_at DESC))[1:{RECENT_VISITS}]
    FROM new_rows WHERE {_COUNTED} GROUP BY 1 ORDER BY 1
    ON CONFLICT (contact_id) DO UPDATE SET visits = t.visits + EXCLUDED.visits,
      recent = ARRAY(SELECT x FROM unnest(t.recent || EXCLUDED.recent) AS x ORDER BY x DESC LIMIT {RECENT_VISITS});"""
    else:
        totals = f"""
  INSERT INTO web_visit_totals AS t (contact_id, visits)
    SELECT contact_id, sum(n) FROM ({delta}) AS delta GROUP BY 1 HAVING sum(n) <> 0 ORDER BY 1
    ON CONFLICT (contact_id) DO UPDATE SET visits = t.visits + EXCLUDED.visits;
  UPDATE web_visit_totals AS t SET recent = {_PG_RECENT}
    WHERE t.contact_id IN ({_PG_CHANGED[op]});"""
    return f"""
CREATE OR REPLACE FUNCTION web_visits_rollup_{op.lower()}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO web_visit_days AS d (contact_id, day, visits)
    SELECT contact_id, (occurred_at AT TIME ZONE 'UTC')::date, sum(n) FROM ({delta}) AS delta
    GROUP BY 1, 2 HAVING sum(n) <> 0 ORDER BY 1, 2
    ON CONFLICT (contact_id, day) DO UPDATE SET visits = d.visits + EXCLUDED.visits;{totals}
  RETURN NULL;
END $$"""


_PG_REFERENCING = {"INSERT": "NEW TABLE AS new_rows", "DELETE": "OLD TABLE AS old_rows",
                   "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows"}

PG_ROLLUP_DDL = [
    statement for op in ("INSERT", "UPDATE", "DELETE") for statement in (
        _pg_function(op),
        f"CREATE OR REPLACE TRIGGER web_visits_rollup_{op.lower()} AFTER {op} ON web_visits "
        f"REFERENCING {_PG_REFERENCING[op]} FOR EACH STATEMENT EXECUTE FUNCTION web_visits_rollup_{op.lower()}()",
    )
]


def _sqlite_add(row: str, sign: str) -> str:
    return (f"INSERT INTO web_visit_days (contact_id, day, visits) SELECT {row}.contact_id, date({row}.occurred_at), "
            f"{sign}1 WHERE {row}.classification = 'human' AND {row}.contact_id IS NOT NULL "
            f"ON CONFLICT (contact_id, day) DO UPDATE SET visits = visits {sign} 1; "
            f"INSERT INTO web_visit_totals (contact_id, visits) SELECT {row}.contact_id, {sign}1 "
            f"WHERE {row}.classification = 'human' AND {row}.contact_id IS NOT NULL "
            f"ON CONFLICT (contact_id) DO UPDATE SET visits = visits {sign} 1; "
            # the contact's latest times read again (a row trigger: one contact, by ix_web_visits_contact_time)
            f"UPDATE web_visit_totals SET recent = (SELECT json_group_array(occurred_at) FROM (SELECT occurred_at "
            f"FROM web_visits WHERE contact_id = {row}.contact_id AND classification = 'human' "
            f"ORDER BY occurred_at DESC LIMIT {RECENT_VISITS})) WHERE contact_id = {row}.contact_id;")


# SQLite: row triggers (no statement triggers there); an UPDATE only of the columns that decide the count.
SQLITE_ROLLUP_DDL = [
    f"CREATE TRIGGER IF NOT EXISTS web_visits_rollup_insert AFTER INSERT ON web_visits BEGIN {_sqlite_add('NEW', '+')} END",
    f"CREATE TRIGGER IF NOT EXISTS web_visits_rollup_delete AFTER DELETE ON web_visits BEGIN {_sqlite_add('OLD', '-')} END",
    "CREATE TRIGGER IF NOT EXISTS web_visits_rollup_update AFTER UPDATE OF contact_id, classification, occurred_at "
    f"ON web_visits BEGIN {_sqlite_add('OLD', '-')} {_sqlite_add('NEW', '+')} END",
]


@event.listens_for(Base.metadata, "after_create")
def _create_rollup_triggers(target: Any, connection: Any, **kw: Any) -> None:
    """The triggers, when the models' tables are created (tests, benchmarks; production: migration 0024).
    After every table (web_visits and the roll-ups), and repeatable: create_all on a partial schema re-runs it."""
    ddl = {"postgresql": PG_ROLLUP_DDL, "sqlite": SQLITE_ROLLUP_DDL}.get(connection.dialect.name, [])
    for statement in ddl:
        connection.execute(text(statement))
