"""The hit writer's website branch: page views, time-on-page updates and identifications, stored in batches.

Contract. The collection endpoint (campaigns.engagement.web_collect) and the form view put entries on the
hit stream beside mail hits; `process_batch` (campaigns.engagement.hit_writer) hands the website ones here,
in the same transaction, so they are stored exactly once like hits (event ids are UNIQUE; a redelivered
entry is skipped). Entry kinds ("k"):
- "visit": one page view of a visitor (its random key "v"), classified here like a mail click (user agent
  rules, CrawlerDetect, known networks) plus the snippet's and the request's own signals ("x": webdriver,
  prefetch): a visit that is not a person's is stored with its class and reason, never counted by readers
  that want people (classification = human). A visit carrying "s" (a send id, from the mail link's signed
  `_nid`) identifies its visitor as that send's contact, if the visit is a person's.
- "visit_end": the time on page of a stored (or same-batch) visit, from the snippet's leave beacon.
- "identify": a Nurture form submitted on the site names the visitor's contact ("c").

Visitors are upserted (first and last seen, organisation). On identification the visitor's contact is
set, and its earlier anonymous visits within the look-back ("lb" days, the setting in force when the
entry was made) get the contact too; visits already attached to another contact keep it. Every later
visit of the visitor is stored with the contact. Readers (segments, scoring, timeline) read web_visits
with contact_id set and classification 'human'.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import Table, and_, bindparam, select, text, update
from sqlalchemy.orm import Session

from campaigns.engagement.classify import classify_hit
from campaigns.engagement.classify_data import ClassificationData
from campaigns.models import Send
from campaigns.models.tracking import HitClass, HitKind
from campaigns.models.web import VISITOR_KEY_LENGTH, WebVisit, WebVisitor
from campaigns.sql_functions import among

log = logging.getLogger("nurture.hits")

VISIT, VISIT_END, IDENTIFY = "visit", "visit_end", "identify"
_KINDS = {VISIT, VISIT_END, IDENTIFY}
_KINDS_BYTES = {k.encode() for k in _KINDS}
IDENTIFIER_PARAM = "_nid"  # the click redirect's signed identifier; never stored in a visit's URL
MAX_DURATION_SECONDS = 4 * 3600  # a tab left open overnight is not four hours of reading
_VERDICT_OF_FLAG = {  # the snippet's and the request's signals, strongest first
    "webdriver": (HitClass.SCANNER, "automated_browser"),
    "prefetch": (HitClass.MACHINE_OPEN, "prefetch"),
    "prerender": (HitClass.MACHINE_OPEN, "prerender"),
}


def is_web_entry(entry: Mapping[Any, Any]) -> bool:
    """Whether a stream entry is a website one (hit_writer.process_batch routes it here)."""
    kind = entry.get(b"k", entry.get("k"))
    return kind in _KINDS_BYTES if isinstance(kind, bytes) else kind in _KINDS


@dataclass
class _Entry:
    kind: str
    event_id: str
    visitor_key: str
    occurred_at: datetime
    fields: dict[str, str]


@dataclass
class _VisitorState:
    id: int
    contact_id: int | None
    last_seen_at: datetime | None
    organisation: str
    changed: bool = False
    identified_at: datetime | None = None
    identified_by: str = ""
    backfills: list[tuple[int, datetime]] = field(default_factory=list)  # (contact, visits since)


def _decode(raw: Mapping[Any, Any]) -> _Entry | None:
    fields = {
        (k.decode() if isinstance(k, bytes) else str(k)): (v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v))
        for k, v in raw.items()
    }
    try:
        occurred = datetime.fromtimestamp(float(fields.get("t", "")), UTC)
    except (ValueError, OverflowError, OSError):
        return None
    kind, event_id, key = fields.get("k", ""), fields.get("e", ""), fields.get("v", "")
    if kind not in _KINDS or not event_id or len(event_id) > 32 or len(key) != VISITOR_KEY_LENGTH:
        return None
    # NUL cannot be stored in PostgreSQL text; what the page sent is the visitor's, never a reason to stop.
    return _Entry(kind, event_id, key, occurred, {k: v.replace("\x00", "") for k, v in fields.items()})


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return 0


def page_parts(url: str) -> tuple[str, str, str, dict[str, str]]:
    """(url without the identifier, host, path, utm values) of a visited page's address."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(k == IDENTIFIER_PARAM for k, _v in query):
        query = [(k, v) for k, v in query if k != IDENTIFIER_PARAM]
        url = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))
    utm = {k[4:]: v[:200] for k, v in query if k in ("utm_source", "utm_medium", "utm_campaign")}
    return url, (parts.hostname or "")[:253], (parts.path or "/")[:2000], utm


def _verdict(entry: _Entry, data: ClassificationData | None) -> tuple[HitClass, str]:
    flags = set(entry.fields.get("x", "").split(","))
    for flag, verdict in _VERDICT_OF_FLAG.items():
        if flag in flags:
            return verdict
    # A page view is a browser following a link: judged as a click without a delivery time.
    found = classify_hit(HitKind.CLICK, entry.fields.get("ua", ""), entry.fields.get("n", ""), None, data)
    return found.classification, found.reason


def process_web_batch(session: Session, raw_entries: Sequence[Mapping[Any, Any]],
                      data: ClassificationData | None = None) -> int:
    """Store a batch of website entries idempotently (hit_writer.process_batch calls it; the caller
    commits); returns how many visits were new."""
    entries: list[_Entry] = []
    seen: set[str] = set()
    for raw in raw_entries:
        entry = _decode(raw)
        if entry is None:
            log.warning("dropping malformed website entry %r", dict(raw))
        elif entry.kind == VISIT_END:  # its event id names the visit it updates
            entries.append(entry)
        elif entry.event_id not in seen:
            seen.add(entry.event_id)
            entries.append(entry)
    conn = session.connection()
    visit_ids = [e.event_id for e in entries if e.kind == VISIT]
    stored: set[str] = set()
    for i in range(0, len(visit_ids), 1000):
        stored.update(conn.execute(select(WebVisit.event_id).where(among(session, WebVisit.event_id,
                                                                          visit_ids[i : i + 1000]))).scalars())
    entries = [e for e in entries if not (e.kind == VISIT and e.event_id in stored)]
    if not entries:
        return 0
    entries.sort(key=lambda e: e.occurred_at)  # stable: a batch's order is kept for equal times

    visitors = _visitors(session, entries)
    send_ids = sorted({_int(e.fields.get("s", "")) for e in entries if e.kind == VISIT} - {0})
    contact_of_send: dict[int, int] = {}
    for i in range(0, len(send_ids), 1000):
        for send_id, contact_id in conn.execute(select(Send.id, Send.contact_id).where(
                among(session, Send.id, send_ids[i : i + 1000]))):
            contact_of_send[send_id] = contact_id

    inserts: list[dict[str, Any]] = []
    by_event: dict[str, dict[str, Any]] = {}
    ends: list[dict[str, Any]] = []
    now = datetime.now(UTC)
    for entry in entries:
        state = visitors.get(entry.visitor_key)
        if state is None:
            continue  # the end of a visit whose visitor was never stored
        lookback = timedelta(days=max(0, _int(entry.fields.get("lb", "0"))))
        if entry.kind == IDENTIFY:
            _identify(state, _int(entry.fields.get("c", "")), "form", entry.occurred_at, lookback)
        elif entry.kind == VISIT_END:
            seconds = min(max(_int(entry.fields.get("d", "")), 0), MAX_DURATION_SECONDS)
            if entry.event_id in by_event:
                by_event[entry.event_id]["duration_seconds"] = seconds
            else:
                ends.append({"event": entry.event_id, "visitor": state.id, "seconds": seconds})
        else:
            classification, reason = _verdict(entry, data)
            human = classification == HitClass.HUMAN
            send_contact = contact_of_send.get(_int(entry.fields.get("s", "")))
            if send_contact and human:  # a scanner's browser following the mail link names nobody
                _identify(state, send_contact, "mail_click", entry.occurred_at, lookback)
            organisation = entry.fields.get("o", "")[:200]
            if human and (state.last_seen_at is None or entry.occurred_at > state.last_seen_at):
                state.last_seen_at, state.changed = entry.occurred_at, True
            if organisation and organisation != state.organisation:
                state.organisation, state.changed = organisation, True
            url, host, path, utm = page_parts(entry.fields.get("u", ""))
            row = {
                "event_id": entry.event_id, "visitor_id": state.id, "contact_id": state.contact_id,
                "url": url[:2000], "host": host, "path": path, "title": entry.fields.get("ti", "")[:500],
                "referrer": entry.fields.get("r", "")[:2000], "utm_source": utm.get("source", ""),
                "utm_medium": utm.get("medium", ""), "utm_campaign": utm.get("campaign", ""),
                "duration_seconds": None, "organisation": organisation,
                "user_agent": entry.fields.get("ua", "")[:512], "ip": entry.fields.get("ip", "")[:64],
                "classification": classification, "reason": reason[:40], "occurred_at": entry.occurred_at,
                "recorded_at": now,
            }
            inserts.append(row)
            by_event[entry.event_id] = row
    visits = cast(Table, WebVisit.__table__)
    _insert_visits(session, inserts)
    if ends:
        conn.execute(update(visits).where(and_(visits.c.event_id == bindparam("event"),
                                               visits.c.visitor_id == bindparam("visitor")))
                     .values(duration_seconds=bindparam("seconds")), ends)
    _save_visitors(session, visitors)
    return len(inserts)


_VISIT_COLUMNS = ["event_id", "visitor_id", "contact_id", "url", "host", "path", "title", "referrer", "utm_source",
                  "utm_medium", "utm_campaign", "duration_seconds", "organisation", "user_agent", "ip", "classification",
                  "reason", "occurred_at", "recorded_at"]


def _insert_visits(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert the batch's visits: COPY on PostgreSQL (as the mail hits: several times cheaper per row than
    executemany), executemany elsewhere."""
    if not rows:
        return
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        conn.execute(cast(Table, WebVisit.__table__).insert(), rows)
        return
    raw: Any = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy(f"COPY web_visits ({', '.join(_VISIT_COLUMNS)}) FROM STDIN") as copy:
        for r in rows:
            copy.write_row([str(r[c]) if c == "classification" else r[c] for c in _VISIT_COLUMNS])


def _identify(state: _VisitorState, contact_id: int, by: str, at: datetime, lookback: timedelta) -> None:
    """Name the visitor's contact from now on; its anonymous visits since `at - lookback` follow."""
    if not contact_id or contact_id == state.contact_id:
        return
    state.contact_id, state.identified_at, state.identified_by, state.changed = contact_id, at, by, True
    state.backfills.append((contact_id, at - lookback))


def _visitors(session: Session, entries: list[_Entry]) -> dict[str, _VisitorState]:
    """The batch's visitors, created when a visit or an identification names a new one."""
    conn = session.connection()
    keys = sorted({e.visitor_key for e in entries})
    found: dict[str, _VisitorState] = {}

    def load(chunk: list[str]) -> None:
        for row in conn.execute(select(WebVisitor.id, WebVisitor.visitor_key, WebVisitor.contact_id,
                                       WebVisitor.last_seen_at, WebVisitor.organisation)
                                .where(among(session, WebVisitor.visitor_key, chunk))):
            last = row.last_seen_at if row.last_seen_at is None or row.last_seen_at.tzinfo else \
                row.last_seen_at.replace(tzinfo=UTC)
            found[row.visitor_key] = _VisitorState(row.id, row.contact_id, last, row.organisation)

    for i in range(0, len(keys), 1000):
        load(keys[i : i + 1000])
    first_at: dict[str, datetime] = {}
    for e in entries:
        if e.kind != VISIT_END and e.visitor_key not in found:
            first_at.setdefault(e.visitor_key, e.occurred_at)
    if first_at:
        table = cast(Table, WebVisitor.__table__)
        rows = [{"visitor_key": key, "contact_id": None, "identified_at": None, "identified_by": "",
                 "organisation": "", "first_seen_at": at, "last_seen_at": at} for key, at in first_at.items()]
        dialect = conn.dialect.name
        if dialect in ("postgresql", "sqlite"):
            # A direct store (Redis down) may run beside the writer: a key inserted meanwhile is kept.
            insert: Any
            if dialect == "postgresql":
                from sqlalchemy.dialects.postgresql import insert
            else:
                from sqlalchemy.dialects.sqlite import insert
            conn.execute(insert(table).on_conflict_do_nothing(index_elements=["visitor_key"]), rows)
        else:
            conn.execute(table.insert(), rows)
        new_keys = sorted(first_at)
        for i in range(0, len(new_keys), 1000):
            load(new_keys[i : i + 1000])
        for key in new_keys:
            if key in found:
                found[key].last_seen_at = None  # its visits of this batch set it (people's only)
    return found


def _save_visitors(session: Session, visitors: dict[str, _VisitorState]) -> None:
    conn = session.connection()
    visitor_table = cast(Table, WebVisitor.__table__)
    changed = [s for s in visitors.values() if s.changed]
    identified = [s for s in changed if s.identified_at is not None]
    plain = [s for s in changed if s.identified_at is None]
    timed = [{"visitor": s.id, "last": s.last_seen_at, "org": s.organisation} for s in plain if s.last_seen_at]
    if timed and conn.dialect.name == "postgresql":
        # One statement for the batch's visitors (thousands after a busy minute), not one per visitor.
        conn.execute(text(
            "UPDATE web_visitors AS w SET last_seen_at = v.last, organisation = v.org "
            "FROM unnest(CAST(:ids AS bigint[]), CAST(:lasts AS timestamptz[]), CAST(:orgs AS text[])) AS v(id, last, org) "
            "WHERE w.id = v.id"), {"ids": [t["visitor"] for t in timed], "lasts": [t["last"] for t in timed],
                                   "orgs": [t["org"] for t in timed]})
    elif timed:
        conn.execute(update(visitor_table).where(visitor_table.c.id == bindparam("visitor"))
                     .values(last_seen_at=bindparam("last"), organisation=bindparam("org")), timed)
    untimed = [{"visitor": s.id, "org": s.organisation} for s in plain if not s.last_seen_at]
    if untimed:
        conn.execute(update(visitor_table).where(visitor_table.c.id == bindparam("visitor"))
                     .values(organisation=bindparam("org")), untimed)
    for s in identified:
        values: dict[str, Any] = {"contact_id": s.contact_id, "identified_at": s.identified_at,
                                  "identified_by": s.identified_by, "organisation": s.organisation}
        if s.last_seen_at is not None:
            values["last_seen_at"] = s.last_seen_at
        conn.execute(update(visitor_table).where(visitor_table.c.id == s.id).values(**values))
        visits = cast(Table, WebVisit.__table__)
        for contact_id, since in s.backfills:
            conn.execute(update(visits).where(visits.c.visitor_id == s.id, visits.c.contact_id.is_(None),
                                              visits.c.occurred_at >= since).values(contact_id=contact_id))
