"""The contact list's filter, sort and keyset pages: who the list shows and who a bulk action reaches.

Contract (others code against it):
- ContactFilter: the filters of the contact list (search words, stage, score range, source, status, list,
  segment, created and last-activity date ranges in the account's zone, one custom attribute).
  `ContactFilter.parse(args, zone)` -> (filter, problems) from a query-string mapping (bad values are
  dropped and named in `problems`); `as_args()` gives the mapping back (links, background jobs).
- conditions(session, flt) -> the WHERE clauses of a filter (raises FilterError for a gone segment)
- SORTS: the sortable columns; page(session, flt, sort, descending, cursor, size) -> Page
- matching_ids(session, flt) -> a SELECT of the ids of every matching contact (bulk actions)

Pages are keyset pages: ORDER BY the sort column(s) then id, and the next page starts after the last
row's values (the cursor), so page 1,000 costs what page 1 does and rows added meanwhile are neither
skipped nor repeated. Each sort column has an index ending in id (campaigns.models.contacts). A
nullable column (last activity) pages through its values first, then through its NULLs by id: each
part is one index range. Search matches contacts.search_text (campaigns.search_text) with LIKE, served
by a trigram index on PostgreSQL: a word of three characters or more anywhere, a shorter one at the start
of a field (佐藤 finds 佐藤一郎 and 佐藤 in a company's name at its start, not 加佐藤).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, bindparam, exists, func, or_, select, text, tuple_
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from campaigns.audience.segments import SegmentError, compile_rules
from campaigns.db import UTCDateTime
from campaigns.leads.contacts import ATTRIBUTE_KEY
from campaigns.models import Contact, ContactListMember, ContactStatus, Segment, Stage
from campaigns.params import parse_id
from campaigns.search_text import SEPARATOR, search_words

MAX_SCORE = 1_000_000_000


class FilterError(ValueError):
    """A filter that cannot be applied (its segment is gone or no longer compiles); the message is shown."""


@dataclass
class ContactFilter:
    """What the contact list is narrowed to; empty fields filter nothing."""

    q: str = ""
    stage: str = ""
    score_min: int | None = None
    score_max: int | None = None
    source: str = ""
    status: str = ""
    list_id: int | None = None
    segment_id: int | None = None
    created_from: str = ""  # dates "YYYY-MM-DD" in the account's zone, both ends inclusive
    created_to: str = ""
    active_from: str = ""
    active_to: str = ""
    attr_key: str = ""
    attr_value: str = ""
    zone: str = field(default="UTC", compare=False)

    @classmethod
    def parse(cls, args: Mapping[str, Any], zone: ZoneInfo | str = "UTC") -> tuple[ContactFilter, list[str]]:
        """A filter from query-string values (the list page, bulk forms, the background job). Values that
        cannot be used are left out and named in the problems (English, to be translated by the caller)."""
        flt = cls(zone=str(zone))
        problems: list[str] = []

        def text(name: str, limit: int = 200) -> str:
            value = args.get(name)
            return str(value).strip()[:limit] if value is not None else ""

        flt.q = text("q")
        stage = text("stage").lower()
        if stage:
            if stage in set(Stage):
                flt.stage = stage
            else:
                problems.append("stage")
        status = text("status").lower()
        if status:
            if status in set(ContactStatus):
                flt.status = status
            else:
                problems.append("status")
        flt.source = text("source", 100)
        for name in ("score_min", "score_max"):
            raw = text(name, 20)
            if raw:
                try:
                    number = int(raw.replace("−", "-"))
                    if not raw.lstrip("-−").isascii() or abs(number) > MAX_SCORE:
                        raise ValueError
                    setattr(flt, name, number)
                except ValueError:
                    problems.append(name)
        for name in ("list_id", "segment_id"):
            raw = text(name, 20)
            if raw:
                value = parse_id(raw)
                if value is None:
                    problems.append(name)
                setattr(flt, name, value)
        for name in ("created_from", "created_to", "active_from", "active_to"):
            raw = text(name, 20)
            if raw:
                try:
                    date.fromisoformat(raw)
                    setattr(flt, name, raw)
                except ValueError:
                    problems.append(name)
        key = text("attr_key", 100)
        if key:
            if ATTRIBUTE_KEY.match(key):
                flt.attr_key, flt.attr_value = key, text("attr_value")
            else:
                problems.append("attr_key")
        return flt, problems

    def as_args(self) -> dict[str, str]:
        """The filter as query-string values (links that keep it, the background job's arguments)."""
        out = {}
        for key, value in asdict(self).items():
            if key != "zone" and value not in ("", None):
                out[key] = str(value)
        return out

    def is_empty(self) -> bool:
        return not self.as_args()

    def _zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.zone)
        except (KeyError, ValueError):
            return ZoneInfo("UTC")

    def day_start(self, day: str) -> datetime:
        """00:00 of a date in the filter's zone, as UTC."""
        return datetime.combine(date.fromisoformat(day), time(), self._zone()).astimezone(UTC)


def conditions(session: Session, flt: ContactFilter) -> list[ColumnElement[bool]]:
    """The WHERE clauses of a filter (the list page, counts, bulk actions)."""
    where: list[ColumnElement[bool]] = []
    for word in search_words(flt.q):
        if len(word) >= 3:
            where.append(Contact.search_text.contains(word, autoescape=True))
        else:
            # One or two characters hold no trigram: matched at the start of a field (a family name, a given
            # name, a company, a job title, an address), the one place the trigram index can find them, by
            # the padded trigram of a word's start. Anywhere would read every row (8 s at 1,000,000).
            where.append(or_(Contact.search_text.startswith(word, autoescape=True),
                             Contact.search_text.contains(SEPARATOR + word, autoescape=True)))
    if flt.stage:
        where.append(Contact.stage == Stage(flt.stage))
    if flt.status:
        where.append(Contact.status == ContactStatus(flt.status))
    if flt.source:
        where.append(Contact.source == flt.source)
    if flt.score_min is not None:
        where.append(Contact.score >= flt.score_min)
    if flt.score_max is not None:
        where.append(Contact.score <= flt.score_max)
    if flt.list_id is not None:
        where.append(exists().where(ContactListMember.list_id == flt.list_id,
                                    ContactListMember.contact_id == Contact.id))
    if flt.segment_id is not None:
        segment = session.get(Segment, flt.segment_id)
        if segment is None:
            raise FilterError("This segment no longer exists.")
        try:
            where.append(compile_rules(segment.rules or {}))
        except SegmentError as exc:
            raise FilterError(str(exc)) from None
    for column, start, end in ((Contact.created_at, flt.created_from, flt.created_to),
                               (Contact.last_activity_at, flt.active_from, flt.active_to)):
        if start:
            where.append(column >= flt.day_start(start))
        if end:  # inclusive: before the next day's 00:00
            where.append(column < flt.day_start((date.fromisoformat(end) + timedelta(days=1)).isoformat()))
    if flt.attr_key:
        # the segments' own attribute rule: equal ignoring ASCII case; an empty value means "has no value"
        rule = ({"field": f"attributes.{flt.attr_key}", "op": "eq", "value": flt.attr_value} if flt.attr_value
                else {"field": f"attributes.{flt.attr_key}", "op": "exists", "value": False})
        where.append(compile_rules({"all": [rule]}))
    return where


def matching_ids(session: Session, flt: ContactFilter) -> Select[Any]:
    """SELECT contacts.id of every contact the filter matches (bulk actions on the whole filter)."""
    return select(Contact.id).where(*conditions(session, flt))


# ------------------------------------------------------------------ sorts and keyset pages
@dataclass(frozen=True)
class Sort:
    """A sortable column of the list: the columns it orders by (id is always added last)."""

    key: str
    columns: tuple[Any, ...]
    nullable: bool = False  # the first column may be NULL (sorted after every value, either direction)
    default_descending: bool = False


SORTS: dict[str, Sort] = {s.key: s for s in (
    Sort("created", (Contact.created_at,), default_descending=True),
    Sort("email", (Contact.email,)),
    Sort("name", (Contact.last_name, Contact.first_name)),
    Sort("company", (Contact.company,)),
    Sort("job_title", (Contact.job_title,)),
    Sort("source", (Contact.source,)),
    Sort("stage", (Contact.stage,)),
    Sort("score", (Contact.score,), default_descending=True),
    Sort("status", (Contact.status,)),
    Sort("activity", (Contact.last_activity_at,), nullable=True, default_descending=True),
)}


@dataclass
class Page:
    """One page of the list: its contacts and the cursor of the next page (None: this is the last)."""

    contacts: list[Contact]
    next_cursor: str | None


def _values(contact: Contact, sort: Sort) -> list[Any]:
    values = []
    for column in sort.columns:
        value = getattr(contact, column.key)
        if isinstance(value, datetime):
            value = value.astimezone(UTC).isoformat() if value.tzinfo else value.replace(tzinfo=UTC).isoformat()
        elif hasattr(value, "value"):  # a StrEnum
            value = value.value
        values.append(value)
    return [*values, contact.id]


def encode_cursor(values: list[Any]) -> str:
    """A page cursor as URL-safe text (the last row's sort values and id)."""
    return base64.urlsafe_b64encode(json.dumps(values, ensure_ascii=False).encode()).decode().rstrip("=")


def decode_cursor(raw: str | None, sort: Sort) -> list[Any] | None:
    """The values of a cursor, or None when it is missing or does not fit the sort (then: first page)."""
    if not raw or len(raw) > 2000:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(values, list) or len(values) != len(sort.columns) + 1:
        return None
    if not isinstance(values[-1], int) or isinstance(values[-1], bool) or parse_id(str(values[-1])) is None:
        return None
    out: list[Any] = []
    for column, value in zip(sort.columns, values[:-1], strict=False):
        enum_cls = getattr(column.type, "enum_cls", None)
        python_type = (str if enum_cls is not None else datetime if isinstance(column.type, UTCDateTime)
                       else column.type.python_type)
        if enum_cls is not None and value not in set(enum_cls):
            return None
        if value is None:
            if not sort.nullable:
                return None
            out.append(None)
        elif python_type is datetime:
            try:
                out.append(datetime.fromisoformat(str(value)))
            except ValueError:
                return None
        elif python_type is int:
            if not isinstance(value, int) or isinstance(value, bool) or abs(value) > 2**62:
                return None
            out.append(value)
        else:
            if not isinstance(value, str) or len(value) > 300:
                return None
            out.append(value)
    return [*out, values[-1]]


def _after(sort: Sort, values: list[Any], descending: bool) -> ColumnElement[bool]:
    """Rows after the cursor in this order: (columns, id) beyond the cursor's values."""
    columns = [*sort.columns, Contact.id]
    params = [bindparam(None, v, type_=c.type) for c, v in zip(columns, values, strict=True)]
    left, right = tuple_(*columns), tuple_(*params)
    return left < right if descending else left > right


WALK_BUDGET_MS = 60  # PostgreSQL: how long a search may walk the sort's index before the other plan runs
WALK_FIRST = True  # tests turn it off to check that the other plan pages the same


def _search_rows(session: Session, stmt: Select[Any], columns: list[Any], descending: bool, limit: int,
                 searching: bool) -> list[Contact]:
    """The first `limit` rows of `stmt` ordered by `columns` then id.

    A search on PostgreSQL has two plans and the planner cannot tell which is fast: walking the sort's
    index and testing each row stops after one page when matches are common (4 ms for a family name
    over 1,000,000 contacts), but reads most of the table when they sit at the far end of that order
    (4.7 s); sorting what the trigram index finds is fast for rare words and slow for common ones
    (0.6 s for 100,000 matches). So the walk runs first with WALK_BUDGET_MS, in a savepoint; if it is
    cancelled, the same query ordered by expressions (COALESCE of one column, which no index serves)
    makes PostgreSQL sort the trigram index's matches instead."""

    def ordered(wrap: bool) -> Select[Any]:
        keys = [func.coalesce(c) if wrap else c for c in (*columns, Contact.id)]
        return stmt.order_by(*(k.desc() if descending else k.asc() for k in keys)).limit(limit)

    if not searching or session.get_bind().dialect.name != "postgresql":
        return list(session.scalars(ordered(False)))
    if not WALK_FIRST:
        return list(session.scalars(ordered(True)))
    try:
        with session.begin_nested():
            previous = session.scalar(text("SELECT current_setting('statement_timeout')"))
            session.execute(text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": str(WALK_BUDGET_MS)})
            rows = list(session.scalars(ordered(False)))
            session.execute(text("SELECT set_config('statement_timeout', :v, true)"), {"v": previous})
        return rows
    except OperationalError as exc:
        if "statement timeout" not in str(exc.orig):
            raise
    return list(session.scalars(ordered(True)))


def page(session: Session, flt: ContactFilter, sort: Sort, descending: bool, cursor: list[Any] | None,
         size: int = 50) -> Page:
    """One keyset page of the filtered list in this order, starting after `cursor` (the list page)."""
    where = conditions(session, flt)
    searching = bool(search_words(flt.q))
    rows: list[Contact] = []
    in_nulls = sort.nullable and cursor is not None and cursor[0] is None
    if not in_nulls:
        part = [*where]
        if sort.nullable:
            part.append(sort.columns[0].is_not(None))
        if cursor is not None:
            part.append(_after(sort, cursor, descending))
        rows = _search_rows(session, select(Contact).where(*part), list(sort.columns), descending, size + 1,
                            searching)
    if sort.nullable and len(rows) <= size:
        # then the contacts without a value, by id in the same direction
        part = [*where, sort.columns[0].is_(None)]
        if in_nulls and cursor is not None:
            part.append(Contact.id < cursor[-1] if descending else Contact.id > cursor[-1])
        rows += _search_rows(session, select(Contact).where(*part), [], descending, size + 1 - len(rows), searching)
    next_cursor = encode_cursor(_values(rows[size - 1], sort)) if len(rows) > size else None
    return Page(rows[:size], next_cursor)


def count_matching(session: Session, flt: ContactFilter) -> int:
    """How many contacts the filter matches (bulk actions' confirmation)."""
    return int(session.scalar(select(func.count()).select_from(Contact).where(*conditions(session, flt))) or 0)


def clean_all(values: Any) -> list[int]:
    """Selected contact ids from a form (ASCII digits within the id column), unique, in order."""
    seen: dict[int, None] = {}
    for raw in values or ():
        value = parse_id(str(raw))
        if value is not None:
            seen.setdefault(value, None)
    return list(seen)

