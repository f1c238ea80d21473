"""Website visits as segment conditions, and the one page-pattern rule every visit feature uses.

The page pattern (segments, scoring's "page visit" rule, journeys' "visited" trigger / wait / branch, the
recent-visitors filter, the reports) is written the way a marketer copies it from the address bar:
- starting with "/": the page's path ("/pricing", "/case-studies/*"), on any allowed site;
- with "://": the whole address, query included ("https://example.com/pricing*");
- otherwise a host and path ("example.com/pricing*", "*.example.com/*"), any scheme.
`*` stands for any run of characters; without a `*` the page itself, a trailing "/" ignored ("/pricing"
is /pricing and /pricing/). Letter case is ignored (ASCII). `*` alone is any page.
`pattern_clause` is the SQL form (a path pattern over web_visits.path_key, which ix_web_visits_human_page of
migration 0019 holds; an address pattern over lower(url)),
`pattern_matches` the same rule in Python (the journeys matcher reads a batch of visits already loaded).

Conditions (registered with campaigns.audience.segments and .describe on import of campaigns.audience):
- ``{"visited": "/pricing*", "at_least": 2, "within_days": 30}``: at least `at_least` (default 1) page
  views matching the pattern, within the last N days (none: any time);
- ``{"utm_source": "newsletter", "within_days": 30}``: arrived through a link tagged utm_source=newsletter;
- ``{"organisation": "Acme", "op": "eq" | "contains"}``: a visit came from that company's network (the
  organisation found for the visitor's IP in IP_ORG_DATABASE).
Only HUMAN visits count (bots and prefetchers are classified like mail hits and never match), and only
visits attached to a contact (an identified visitor's anonymous history is attached at identification).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Date,
    and_,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.compiler import compiles

from campaigns.audience import describe
from campaigns.audience.segments import MAX_DAYS, SegmentError, register_condition
from campaigns.db import UTCDateTime
from campaigns.i18n import format_number, translate_in
from campaigns.models import Contact, WebVisit
from campaigns.models.tracking import HitClass
from campaigns.models.web import PAGE_KEY_LENGTH, RECENT_VISITS, WebVisitDay, WebVisitTotal
from campaigns.sql_functions import ascii_lower_text

MAX_PATTERN = 500
MAX_VISITS = 1000
_BAD_PATTERN = re.compile(r"[\s\x00-\x1f\x7f]")


class PatternError(ValueError):
    """A page pattern that cannot be used; the message is an English msgid (scoring, journeys, filters)."""


def clean_pattern(value: Any) -> str:
    """The pattern as stored (trimmed), or PatternError: empty, too long, spaces or control characters."""
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > MAX_PATTERN or _BAD_PATTERN.search(text):
        raise PatternError("enter a page pattern such as /pricing* (at most 500 characters, no spaces)")
    return text


def _target(pattern: str) -> tuple[str, list[str]]:
    """("path" | "url", the lower-cased patterns over that column, any of which matches): a pattern without
    `*` is the page with and without its trailing slash; a host without a scheme takes any scheme."""
    lowered = ascii_lower_text(pattern)
    column = "path" if lowered.startswith("/") else "url"
    if column == "url" and "://" not in lowered:
        lowered = "*://" + lowered
    if "*" in pattern:
        return column, [lowered]
    bare = lowered.rstrip("/")
    if not bare or bare.endswith(":/"):  # "/" itself, "https://example.com/"
        return column, [lowered]
    return column, [bare, bare + "/"]


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")


def is_any_page(pattern: str) -> bool:
    """Whether a pattern matches every page ("*", "*://*")."""
    return _target(pattern)[1][0] in ("*", "*://*")


def pattern_clause(pattern: str, visit: Any = WebVisit) -> ColumnElement[bool]:
    """The WHERE clause "this visit's page matches `pattern`" over web_visits (or an alias of it)."""
    column, texts = _target(pattern)
    if is_any_page(pattern):
        return true()
    if column == "url":
        expr = func.lower(visit.url)
        if not any("*" in t for t in texts):
            return expr.in_(texts)
        return or_(*(expr.like(_like(t), escape="\\") for t in texts))
    if all("*" not in t and len(t) < PAGE_KEY_LENGTH for t in texts):
        return visit.path_key.in_(texts)  # "/pricing" and "/pricing/": one index scan (= ANY), not a bitmap OR
    return or_(*(_path_clause(t, visit) for t in texts))


def _path_clause(text: str, visit: Any) -> ColumnElement[bool]:
    """One lower-cased path pattern over the page key (the path's first PAGE_KEY_LENGTH characters, lower-cased,
    in ix_web_visits_human_page). A page ("/pricing") or a prefix ("/case-studies/*") shorter than the key is
    decided by the key alone, so PostgreSQL reads only the index; a star inside or a longer text narrows by the
    key's prefix and checks the whole path (from the table)."""
    key = visit.path_key
    star = text.find("*")
    if star < 0:
        if len(text) < PAGE_KEY_LENGTH:  # equal keys shorter than the limit are equal whole paths
            return key == text
        return and_(key == text[:PAGE_KEY_LENGTH], func.lower(visit.path) == text)
    prefix = text[:star]
    if star == len(text) - 1 and len(prefix) <= PAGE_KEY_LENGTH:  # "prefix*": the key's first characters decide
        return key.like(_like(prefix) + "%", escape="\\")
    return and_(key.like(_like(prefix[:PAGE_KEY_LENGTH]) + "%", escape="\\"),
                func.lower(visit.path).like(_like(text), escape="\\"))


def pattern_matches(pattern: str, url: str, path: str) -> bool:
    """The same rule as `pattern_clause`, for a visit already read (journeys' matcher)."""
    column, texts = _target(pattern)
    value = ascii_lower_text(path if column == "path" else url)
    for text in texts:
        regex = ".*".join(re.escape(part) for part in text.split("*"))
        if re.fullmatch(regex, value, re.DOTALL) is not None:
            return True
    return False


def human_visit() -> ColumnElement[bool]:
    """People only: the classification as a literal, so the planner can use the partial indexes."""
    return WebVisit.classification == literal_column(f"'{HitClass.HUMAN.value}'")


# ------------------------------------------------------------------ segment conditions
def _keys(cond: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(cond) - allowed
    if unknown:
        raise SegmentError("%(where)s: unknown key(s) %(keys)s in a website condition", where=where,
                           keys=", ".join(sorted(unknown)))


def _since_time(cond: dict[str, Any], where: str, now: datetime) -> datetime | None:
    days = cond.get("within_days")
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise SegmentError("%(where)s: within_days must be a whole number from 1 to %(max)s", where=where, max=MAX_DAYS)
    return now - timedelta(days=days)


def _since(cond: dict[str, Any], where: str, now: datetime) -> Any:
    since = _since_time(cond, where, now)
    return None if since is None else literal(since, UTCDateTime())


def _text_value(cond: dict[str, Any], key: str, where: str, message: str) -> str:
    value = cond.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise SegmentError(message, where=where)
    return ascii_lower_text(value.strip())


def _visits(where_clauses: list[Any]) -> Any:
    return select(WebVisit.contact_id).where(WebVisit.contact_id.is_not(None), human_visit(), *where_clauses)


def _contacts_with(where_clauses: list[Any], at_least: int) -> ColumnElement[bool]:
    if at_least <= 1:
        # one matching visit is enough: EXISTS on (contact_id, ...) stops at the first
        return _visits([WebVisit.contact_id == Contact.id, *where_clauses]).exists()
    # "at least K": the matching visits grouped once (a hash of the few contacts), not a count per contact
    counted = _visits(where_clauses).group_by(WebVisit.contact_id).having(func.count() >= at_least)
    return _AmongOnce(Contact.id, counted)


def _any_page(at_least: int, since: datetime | None) -> ColumnElement[bool]:
    """"Visited any page at least K times [within N days]" from the roll-ups (models.web.WebVisitTotal and
    WebVisitDay, kept by triggers), counting exactly what the visits would: all time is the contact's total; a
    period, for K up to RECENT_VISITS, is "the K-th latest visit is within it" (one row per contact); a larger K
    sums the daily roll-up's whole UTC days after the one `since` falls in, plus that first day's visits from
    `since` on, counted from web_visits (one day of visits, by ix_web_visits_time)."""
    if since is None:
        return Contact.id.in_(select(WebVisitTotal.contact_id).where(WebVisitTotal.visits >= at_least))
    since = since.astimezone(UTC)
    if at_least <= RECENT_VISITS:
        return Contact.id.in_(select(WebVisitTotal.contact_id).where(_RecentSince(at_least, since)))
    first_day = since.date()
    next_midnight = datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC) + timedelta(days=1)
    days = (select(WebVisitDay.contact_id.label("contact_id"), WebVisitDay.visits.label("visits"))
            .where(WebVisitDay.day > literal(first_day, Date())))
    first = (_visits([WebVisit.occurred_at >= literal(since, UTCDateTime()),
                      WebVisit.occurred_at < literal(next_midnight, UTCDateTime())])
             .add_columns(literal_column("1").label("visits")))
    both = union_all(days, first).subquery("visit_days")
    counted = select(both.c.contact_id).group_by(both.c.contact_id).having(func.sum(both.c.visits) >= at_least)
    return _AmongOnce(Contact.id, counted)


class _RecentSince(ColumnElement[bool]):
    """web_visit_totals' K-th latest visit time is at or after `since`: `recent[K]` of the timestamp array on
    PostgreSQL, the (K-1)th element of the JSON array on SQLite (stored times compare as text there)."""

    inherit_cache = False
    type = Boolean()

    def __init__(self, k: int, since: datetime) -> None:
        self.k = k
        self.since = since


@compiles(_RecentSince)
def _recent_since(element: _RecentSince, compiler: Any, **kw: Any) -> str:
    since = compiler.process(literal(element.since, UTCDateTime()), **kw)
    return f"json_extract(web_visit_totals.recent, '$[{element.k - 1}]') >= {since}"


@compiles(_RecentSince, "postgresql")
def _recent_since_pg(element: _RecentSince, compiler: Any, **kw: Any) -> str:
    since = compiler.process(literal(element.since, UTCDateTime()), **kw)
    return f"web_visit_totals.recent[{element.k}] >= {since}"


class _AmongOnce(ColumnElement[bool]):
    """`column IN (query)`; on PostgreSQL `column = ANY(ARRAY(query))`, an InitPlan: the query runs once and its
    few ids are looked up by primary key. As an IN, a parallel plan hashed the grouped visits in every worker
    (three times the 300,000-entry scan and its aggregate for "visited /pricing at least 3 times") and scanned
    all contacts to probe the hash (docs/benchmarks.md). Meant for queries that leave a few contacts ("at
    least K visits"), not for a large share of them."""

    inherit_cache = False
    type = Boolean()

    def __init__(self, column: Any, query: Any) -> None:
        self.column = column
        self.query = query


@compiles(_AmongOnce)
def _among_once(element: _AmongOnce, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.column.in_(element.query), **kw))


@compiles(_AmongOnce, "postgresql")
def _among_once_pg(element: _AmongOnce, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    return f"{column} = ANY(ARRAY{compiler.process(element.query.scalar_subquery(), **kw)})"


def visit_condition(cond: dict[str, Any], where: str, now: datetime) -> ColumnElement[bool]:
    """{"visited": pattern, "at_least": K, "within_days": N}."""
    _keys(cond, {"visited", "at_least", "within_days"}, where)
    try:
        pattern = clean_pattern(cond.get("visited"))
    except PatternError:
        raise SegmentError("%(where)s: enter a page pattern such as /pricing* (at most 500 characters, no spaces)",
                           where=where) from None
    at_least = cond.get("at_least", 1)
    if isinstance(at_least, bool) or not isinstance(at_least, int) or not 1 <= at_least <= MAX_VISITS:
        raise SegmentError("%(where)s: the number of visits must be a whole number from 1 to %(max)s", where=where,
                           max=MAX_VISITS)
    since_time = _since_time(cond, where, now)
    if is_any_page(pattern):
        return _any_page(at_least, since_time)
    clauses: list[Any] = [pattern_clause(pattern)]
    since = _since(cond, where, now)
    if since is not None:
        clauses.append(WebVisit.occurred_at >= since)
    return _contacts_with(clauses, at_least)


def utm_condition(cond: dict[str, Any], where: str, now: datetime) -> ColumnElement[bool]:
    """{"utm_source": "newsletter", "within_days": N}: ASCII case ignored."""
    _keys(cond, {"utm_source", "within_days"}, where)
    source = _text_value(cond, "utm_source", where, "%(where)s: enter a utm_source value (at most 200 characters)")
    # utm_source <> '' spelled as in ix_web_visits_human_utm's predicate, so the planner may use that index
    clauses: list[Any] = [func.lower(WebVisit.utm_source) == source, WebVisit.utm_source != literal_column("''")]
    since = _since(cond, where, now)
    if since is not None:
        clauses.append(WebVisit.occurred_at >= since)
    return _contacts_with(clauses, 1)


def organisation_condition(cond: dict[str, Any], where: str, now: datetime) -> ColumnElement[bool]:
    """{"organisation": "Acme", "op": "eq" | "contains"}."""
    _keys(cond, {"organisation", "op"}, where)
    name = _text_value(cond, "organisation", where, "%(where)s: enter a company name (at most 200 characters)")
    op = cond.get("op", "eq")
    lowered = func.lower(WebVisit.organisation)
    clause: ColumnElement[bool]
    if op == "eq":
        clause = lowered == name
    elif op == "contains":
        clause = lowered.contains(name, autoescape=True)
    else:
        raise SegmentError("%(where)s: a company condition is 'is' or 'contains'", where=where)
    return _contacts_with([clause], 1)


# ------------------------------------------------------------------ the same conditions in words
def _t(lang: str, msgid: str, /, **params: Any) -> str:
    return translate_in(lang, msgid, **params)


def _within(sentence: str, cond: dict[str, Any], lang: str) -> str:
    days = cond.get("within_days")
    if days is None:
        return sentence
    return _t(lang, "%(condition)s %(days)s", condition=sentence, days=describe.days_phrase(days, lang))


def _visit_sentence(cond: dict[str, Any], lang: str) -> str:
    pattern = str(cond.get("visited") or "")
    n = cond.get("at_least", 1)
    count = format_number(n, locale=lang) if isinstance(n, int) and not isinstance(n, bool) else "?"
    quoted = describe.quoted(lang, pattern)
    if pattern.strip() in ("*", "*://*"):
        text = (_t(lang, "visited the website") if n == 1
                else _t(lang, "visited the website at least %(count)s times", count=count))
    elif n == 1:
        text = _t(lang, "visited a page matching %(pattern)s", pattern=quoted)
    else:
        text = _t(lang, "visited pages matching %(pattern)s at least %(count)s times", pattern=quoted, count=count)
    return _within(text, cond, lang)


def _utm_sentence(cond: dict[str, Any], lang: str) -> str:
    text = _t(lang, "came from utm_source %(source)s", source=describe.quoted(lang, cond.get("utm_source") or ""))
    return _within(text, cond, lang)


def _organisation_sentence(cond: dict[str, Any], lang: str) -> str:
    template = ("visited from a company whose name contains %(name)s" if cond.get("op") == "contains"
                else "visited from the company %(name)s")
    return _t(lang, template, name=describe.quoted(lang, cond.get("organisation") or ""))


def _blank(key: str) -> Any:
    return lambda cond: not isinstance(cond.get(key), str) or not cond[key].strip()


# The editor's extra words (segments.js reads them from the vocabulary's labels).
EDITOR_WORDS = {
    "visitPattern": "Page address (* matches anything)",
    "visitHint": "/pricing* or https://example.com/case-studies/*",
    "visitAtLeast": "at least %(n)s times",
    "utmSource": "utm_source value",
    "organisation": "Company name",
}


def register() -> None:
    """Teach the segment compiler and the describer the website conditions (campaigns.audience on import)."""
    register_condition("visited", visit_condition)
    register_condition("utm_source", utm_condition)
    register_condition("organisation", organisation_condition)
    describe.register_kind(describe.ConditionKind(
        kind="visit", key="visited", word="Website visit", sentence=_visit_sentence,
        label=lambda cond, lang: _t(lang, "Website visit"), blank=_blank("visited"), words=EDITOR_WORDS))
    describe.register_kind(describe.ConditionKind(
        kind="utm", key="utm_source", word="Came from (utm_source)", sentence=_utm_sentence,
        label=lambda cond, lang: _t(lang, "Came from (utm_source)"), blank=_blank("utm_source"), words={}))
    describe.register_kind(describe.ConditionKind(
        kind="organisation", key="organisation", word="Visitor's company", sentence=_organisation_sentence,
        label=lambda cond, lang: _t(lang, "Visitor's company"), blank=_blank("organisation"), words={}))


register()
