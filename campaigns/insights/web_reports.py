"""Website visits for marketers: who is on the site now, which pages known leads read, what clickers did next.

- `recent_visitors(session, since, pattern, who, before, limit)`: visitors with people's visits since
  `since` (optionally only visits to pages matching `pattern`), newest last visit first, known (the
  contact) and anonymous (the company found for their IP, when IP_ORG_DATABASE is configured), each with
  its number of visits and its latest pages; keyset pages by (last visit, visitor id). The recent-visitors page.
- `top_pages_by_stage(session, since, per_stage)`: the pages known leads visit most, per lifecycle stage
  (visits and distinct contacts). The website report.
- `visits_after_click(session, broadcast_id | node, hours)`: for one mail, the people who clicked it and the
  pages they visited within `hours` after their first click (contacts and visits per page). The website
  report, per broadcast or journey mail.
- `mail_choices(session)`: the mails that report can show: sent broadcasts, and the mail nodes of published
  journeys (one entry per send node, named by the journey and the node or its template).
Only HUMAN visits count (bots and prefetchers never do). Request-free; times are UTC (views convert).
The page-pattern rule is campaigns.audience.web_conditions'.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from campaigns.audience.web_conditions import human_visit, pattern_clause
from campaigns.models import (
    Broadcast,
    BroadcastStatus,
    Contact,
    Hit,
    HitClass,
    HitKind,
    Journey,
    JourneyVersion,
    Send,
    Stage,
    Template,
    WebVisit,
    WebVisitor,
)

PAGE_SIZE = 50
PAGES_SHOWN = 3  # latest pages listed per visitor
WHO = ("all", "known", "anonymous")


@dataclass
class VisitorRow:
    """One visitor of the recent-visitors page."""

    visitor_id: int
    last_at: datetime
    visits: int
    contact_id: int | None = None
    email: str = ""
    name: str = ""
    company: str = ""  # the contact's own company field
    organisation: str = ""  # found for the visitor's IP
    pages: list[tuple[str, str]] = field(default_factory=list)  # (title or path, path), newest first


@dataclass
class VisitorPage:
    rows: list[VisitorRow]
    next_cursor: str | None  # "<micros>.<visitor id>" of the last row when there is more


def _cursor(token: str | None) -> tuple[datetime, int] | None:
    if not token or len(token) > 40:
        return None
    parts = token.split(".")
    if len(parts) != 2 or not all(p.isascii() and p.isdigit() for p in parts) or int(parts[0]) > 253402300799 * 10**6:
        return None
    return datetime.fromtimestamp(int(parts[0]) / 10**6, UTC), int(parts[1])


def _token(at: datetime, visitor_id: int) -> str:
    aware = at if at.tzinfo else at.replace(tzinfo=UTC)
    delta = aware - datetime(1970, 1, 1, tzinfo=UTC)
    return f"{(delta.days * 86400 + delta.seconds) * 10**6 + delta.microseconds}.{visitor_id}"


def recent_visitors(session: Session, since: datetime, *, pattern: str | None = None, who: str = "all",
                    before: str | None = None, limit: int = PAGE_SIZE) -> VisitorPage:
    """One page of visitors, newest last visit first (the recent-visitors page)."""
    clauses: list[Any] = [human_visit(), WebVisit.occurred_at >= since]
    if pattern:
        clauses.append(pattern_clause(pattern))
    if who == "known":
        clauses.append(WebVisit.contact_id.is_not(None))
    elif who == "anonymous":
        clauses.append(WebVisit.contact_id.is_(None))
    last_at = func.max(WebVisit.occurred_at)
    query = (select(WebVisit.visitor_id, last_at.label("last_at"), func.count().label("visits"))
             .where(*clauses).group_by(WebVisit.visitor_id))
    cursor = _cursor(before)
    if cursor is not None:
        at, vid = cursor
        query = query.having(or_(last_at < at, and_(last_at == at, WebVisit.visitor_id < vid)))
    rows = session.execute(query.order_by(last_at.desc(), WebVisit.visitor_id.desc()).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    ids = [r.visitor_id for r in rows]
    if not ids:
        return VisitorPage([], None)
    visitors = {v.id: v for v in session.scalars(select(WebVisitor).where(WebVisitor.id.in_(ids)))}
    contact_ids = {v.contact_id for v in visitors.values() if v.contact_id}
    contacts = {c.id: c for c in session.scalars(select(Contact).where(Contact.id.in_(contact_ids)))} \
        if contact_ids else {}
    # the latest pages of each visitor on the page: a few rows each (row_number over the visitor's visits)
    ranked = (select(WebVisit.visitor_id, WebVisit.title, WebVisit.path,
                     func.row_number().over(partition_by=WebVisit.visitor_id,
                                            order_by=(WebVisit.occurred_at.desc(), WebVisit.id.desc())).label("rn"))
              .where(WebVisit.visitor_id.in_(ids), *clauses).subquery())
    pages: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for vid, title, path, _rn in session.execute(select(ranked).where(ranked.c.rn <= PAGES_SHOWN * 3)
                                                 .order_by(ranked.c.visitor_id, ranked.c.rn)):
        shown = (title.strip() or path or "/", path or "/")
        if shown not in pages[vid] and len(pages[vid]) < PAGES_SHOWN:
            pages[vid].append(shown)
    out = []
    for r in rows:
        visitor = visitors.get(r.visitor_id)
        row = VisitorRow(r.visitor_id, r.last_at, int(r.visits), pages=pages.get(r.visitor_id, []))
        if visitor is not None:
            row.organisation = visitor.organisation
            contact = contacts.get(visitor.contact_id) if visitor.contact_id else None
            if contact is not None:
                row.contact_id, row.email, row.company = contact.id, contact.email, contact.company
                row.name = " ".join(p for p in (contact.last_name, contact.first_name) if p)
        out.append(row)
    return VisitorPage(out, _token(rows[-1].last_at, rows[-1].visitor_id) if more else None)


@dataclass
class PageCount:
    path: str
    title: str
    visits: int
    contacts: int


def top_pages_by_stage(session: Session, since: datetime, per_stage: int = 10) -> dict[str, list[PageCount]]:
    """{stage value: the most visited pages of known leads in that stage}, every stage present (the report)."""
    counts = (
        select(Contact.stage.label("stage"), WebVisit.path.label("path"), func.max(WebVisit.title).label("title"),
               func.count().label("visits"), func.count(func.distinct(WebVisit.contact_id)).label("contacts"))
        .join(Contact, Contact.id == WebVisit.contact_id)
        .where(human_visit(), WebVisit.contact_id.is_not(None), WebVisit.occurred_at >= since)
        .group_by(Contact.stage, WebVisit.path)
        .subquery()
    )
    ranked = select(counts, func.row_number().over(
        partition_by=counts.c.stage, order_by=(counts.c.visits.desc(), counts.c.contacts.desc(), counts.c.path)
    ).label("rn")).subquery()
    out: dict[str, list[PageCount]] = {s.value: [] for s in Stage}
    for stage, path, title, visits, contacts, _rn in session.execute(
        select(ranked).where(ranked.c.rn <= per_stage).order_by(ranked.c.stage, ranked.c.rn)
    ):
        out.setdefault(str(stage), []).append(PageCount(path or "/", title or "", int(visits), int(contacts)))
    return out


@dataclass
class AfterClick:
    clickers: int  # people who clicked the mail
    visitors: int  # of them, how many visited the site within the window
    pages: list[PageCount]


def visits_after_click(session: Session, *, broadcast_id: int | None = None, journey_id: int | None = None,
                       node_key: str | None = None, hours: int = 24, limit: int = 20) -> AfterClick:
    """The pages people visited within `hours` after their first human click on a mail: a broadcast, or one
    send node of a journey (journey_id and node_key)."""
    sends = select(Send.id)
    if broadcast_id is not None:
        sends = sends.where(Send.broadcast_id == broadcast_id)
    elif journey_id is not None and node_key:
        from campaigns.models import JourneyEnrolment

        sends = sends.join(JourneyEnrolment, JourneyEnrolment.id == Send.journey_enrolment_id).where(
            JourneyEnrolment.journey_id == journey_id, Send.node_key == node_key)
    else:
        return AfterClick(0, 0, [])
    first: dict[int, datetime] = {cid: at for cid, at in session.execute(
        select(Hit.contact_id, func.min(Hit.occurred_at))
        .where(Hit.send_id.in_(sends), Hit.kind == HitKind.CLICK, Hit.classification == HitClass.HUMAN,
               Hit.contact_id.is_not(None))
        .group_by(Hit.contact_id))}
    if not first:
        return AfterClick(0, 0, [])
    window = timedelta(hours=hours)
    per_page: dict[str, dict[str, Any]] = {}
    seen: set[int] = set()
    ids = sorted(first)
    for start in range(0, len(ids), 5000):
        chunk = ids[start:start + 5000]
        low = min(first[c] for c in chunk)
        high = max(first[c] for c in chunk) + window
        for contact_id, path, title, at in session.execute(
            select(WebVisit.contact_id, WebVisit.path, WebVisit.title, WebVisit.occurred_at)
            .where(WebVisit.contact_id.in_(chunk), human_visit(), WebVisit.occurred_at >= low,
                   WebVisit.occurred_at <= high)
        ):
            if contact_id is None:  # not possible (the IN above), but the column is nullable
                continue
            clicked = first[contact_id]
            if at.tzinfo is None and clicked.tzinfo is not None:
                at = at.replace(tzinfo=clicked.tzinfo)
            if not clicked <= at <= clicked + window:
                continue
            seen.add(contact_id)
            entry = per_page.setdefault(path or "/", {"title": title or "", "visits": 0, "contacts": set()})
            entry["visits"] += 1
            entry["contacts"].add(contact_id)
    pages = sorted((PageCount(p, e["title"], e["visits"], len(e["contacts"])) for p, e in per_page.items()),
                   key=lambda pc: (-pc.contacts, -pc.visits, pc.path))
    return AfterClick(len(first), len(seen), pages[:limit])


@dataclass
class MailChoice:
    """One mail of the website report's "visits after a mail's click" picker."""

    value: str  # "b:<broadcast id>" or "j:<journey id>:<node key>" (the picker's value, the ?mail= parameter)
    label: str  # the broadcast's name; for a journey mail, the node's name or its template's name
    group: str = ""  # the journey's name (journey mails are grouped under it); "" for broadcasts
    broadcast_id: int | None = None
    journey_id: int | None = None
    node_key: str | None = None


def mail_choices(session: Session, limit: int = 100) -> list[MailChoice]:
    """Sent broadcasts (newest first), then the send nodes of published journeys (newest journey first, nodes in
    graph order) from each journey's live version. The website report's picker."""
    out = [MailChoice(f"b:{bid}", name, broadcast_id=bid) for bid, name in session.execute(
        select(Broadcast.id, Broadcast.name).where(Broadcast.status == BroadcastStatus.SENT)
        .order_by(Broadcast.id.desc()).limit(limit))]
    journeys = session.execute(
        select(Journey.id, Journey.name, JourneyVersion.graph)
        .join(JourneyVersion, JourneyVersion.id == Journey.live_version_id)
        .order_by(Journey.id.desc()).limit(limit)).all()
    nodes: list[tuple[int, str, str, str, Any]] = []
    for journey_id, journey_name, graph in journeys:
        for node in (graph or {}).get("nodes", []) if isinstance(graph, dict) else []:
            if isinstance(node, dict) and node.get("type") == "send" and node.get("id"):
                nodes.append((journey_id, journey_name, str(node["id"]), str(node.get("name") or "").strip(),
                              node.get("template_id")))
    template_ids = {t for *_rest, t in nodes if isinstance(t, int) and not isinstance(t, bool)}
    templates: dict[int, str] = {tid: name for tid, name in session.execute(
        select(Template.id, Template.name).where(Template.id.in_(template_ids)))} if template_ids else {}
    for journey_id, journey_name, key, name, template_id in nodes[:limit]:
        label = name or templates.get(template_id, "") or key
        out.append(MailChoice(f"j:{journey_id}:{key}", label, journey_name, journey_id=journey_id, node_key=key))
    return out
