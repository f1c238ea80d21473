"""KPI dashboard: the lifecycle measures marketers judge nurturing by, as SQL aggregates over a date range.

Request-free (the UI, the API and the benchmark call the same functions). Every measure is one or two
grouped queries; Python only reshapes the few grouped rows (sources x stages, months x sources), never
loops over contacts. Works on SQLite and PostgreSQL: the few date operations that differ are small
compiled functions below. Days and months are the account's (DateRange.zone): the range's bounds are
converted to UTC instants in Python, so the stored UTC columns are compared as they are (indexes serve
them); only the month grouping converts each conversion time in SQL. Exactly what each number means is
in docs/kpi.md.

One job over ~600 lines: the KPI measures, one function per measure.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from redis import Redis
from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from campaigns.audience.segments import SegmentError, compile_rules, not_suppressed
from campaigns.db import now_utc
from campaigns.models import (
    Contact,
    ContactStatus,
    Enrollment,
    Event,
    Hit,
    HitClass,
    HitKind,
    Link,
    Segment,
    Send,
    SendStatus,
    Sequence,
    StageChange,
    Template,
    TemplateVersion,
)
from campaigns.spreadsheet import to_csv
from campaigns.sql_functions import at_least_zero, days_between, earliest, minus_days, month_of
from campaigns.timezones import zone
from campaigns.users import get_account

# Lifecycle order. cold/warm/hot are all "lead" for the funnel: the score bands before MQL.
STAGE_RANK = {"cold": 0, "warm": 0, "hot": 0, "mql": 1, "sql": 2, "customer": 3}
FUNNEL = ("lead", "mql", "sql", "customer")
CONVERSION_STAGES = ("mql", "sql", "customer")
STAGES = ("cold", "warm", "hot", "mql", "sql", "customer")
DEFAULT_DAYS = 90
PRESETS = (30, 90, 365)
MAX_SPAN_DAYS = 3660  # ten years: the month axis stays readable and the queries bounded
MAX_LOOKBACK_DAYS = 365
MAX_SEGMENTS = 100
CACHE_SECONDS = 120  # how stale a page view may be; the Refresh link recomputes
MAX_ROWS = 25  # rows of the "what precedes conversions" rankings
NO_SOURCE = ""  # contacts without a source are grouped under the empty string (the UI shows "(none)")
UTC_ZONE = ZoneInfo("UTC")


def account_zone(session: Session) -> ZoneInfo:
    """The account's time zone, UTC if unset or unknown, in which the API counts days and months."""
    return zone(get_account(session).timezone)


class RangeError(ValueError):
    """A date range that cannot be used; the message says why (shown to users, returned by the API)."""

    def __init__(self, message: str, field: str = "from") -> None:
        super().__init__(message)
        self.field = field  # the parameter to blame: "from" or "to"


@dataclass(frozen=True)
class DateRange:
    """Whole days in `zone`, both ends included: [first 00:00, last + 1 day 00:00) local, as UTC instants."""

    first: date
    last: date
    zone: ZoneInfo = UTC_ZONE

    @property
    def since(self) -> datetime:
        return datetime.combine(self.first, time(), tzinfo=self.zone).astimezone(UTC)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(), tzinfo=self.zone).astimezone(UTC)

    @property
    def zone_name(self) -> str:
        return self.zone.key

    @property
    def offset_seconds(self) -> int:
        """The zone's UTC offset at the range's end: SQLite's one fixed offset for the month grouping."""
        offset = (self.until - timedelta(microseconds=1)).astimezone(self.zone).utcoffset()
        return int(offset.total_seconds()) if offset is not None else 0

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def months(self) -> list[str]:
        """Every month the range touches, "YYYY-MM", oldest first (the chart axis, zero months included)."""
        out, y, m = [], self.first.year, self.first.month
        while (y, m) <= (self.last.year, self.last.month):
            out.append(f"{y:04d}-{m:02d}")
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return out

    @classmethod
    def last_days(cls, days: int, today: date | None = None, zone: ZoneInfo = UTC_ZONE) -> DateRange:
        """The `days` days ending today in `zone`, today included."""
        end = today or today_in(zone)
        return cls(end - timedelta(days=days - 1), end, zone)

    @classmethod
    def parse(cls, first: str | None, last: str | None, today: date | None = None,
              default_days: int = DEFAULT_DAYS, zone: ZoneInfo = UTC_ZONE) -> DateRange:
        """Build a range of days in `zone` from two YYYY-MM-DD texts (either may be empty); raises RangeError."""
        end = _parse_day(last, "to") if last else (today or today_in(zone))
        start = _parse_day(first, "from") if first else end - timedelta(days=default_days - 1)
        if start > end:
            raise RangeError("'from' must not be after 'to'")
        if (end - start).days + 1 > MAX_SPAN_DAYS:
            raise RangeError(f"the range may span at most {MAX_SPAN_DAYS} days", "from")
        return cls(start, end, zone)


def today_in(zone: ZoneInfo) -> date:
    """Today's date in a time zone (the end of the default range and of the presets)."""
    return now_utc().astimezone(zone).date()


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _parse_day(text: str, name: str) -> date:
    text = text.strip()
    if not _DAY.fullmatch(text):
        raise RangeError(f"'{name}' must be a date like 2026-04-01", name)
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise RangeError(f"'{name}' must be a date like 2026-04-01", name) from None
    if not 1970 <= day.year <= 2999:
        raise RangeError(f"'{name}' must be between 1970 and 2999", name)
    return day


# ------------------------------------------------------------------ building blocks
def _rank(column: Any) -> ColumnElement[int]:
    return case(
        (column == "mql", 1), (column == "sql", 2), (column == "customer", 3), else_=0
    )


def _stages_from(stage: str) -> list[str]:
    if stage not in CONVERSION_STAGES:
        raise ValueError(f"stage must be one of {', '.join(CONVERSION_STAGES)}")
    return [s for s in CONVERSION_STAGES if STAGE_RANK[s] >= STAGE_RANK[stage]]


def first_reached(stage: str, rng: DateRange | None = None, cte: bool = False) -> Any:
    """Subquery (contact_id, at): each contact's first recorded move into `stage` or a later stage.

    Restricted to conversions inside the range when one is given (the HAVING keeps "first" honest:
    a contact whose first move was before the range is not a conversion in the range).
    """
    at = func.min(StageChange.changed_at)
    q = (select(StageChange.contact_id.label("contact_id"), at.label("at"))
         .where(StageChange.to_stage.in_(_stages_from(stage)))
         .group_by(StageChange.contact_id))
    if rng is not None:
        q = q.having(and_(at >= rng.since, at < rng.until))
    return q.cte("conv") if cte else q.subquery("conv")


def _in(column: Any, rng: DateRange) -> ColumnElement[bool]:
    return and_(column >= rng.since, column < rng.until)


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# ------------------------------------------------------------------ contacts and the funnel
def lifecycle(session: Session, rng: DateRange) -> dict[str, Any]:
    """Contacts created in the range by source and by stage, and their funnel lead -> MQL -> SQL -> customer.

    "Reached" is the later of the current stage and every recorded move (a demoted SQL still counts
    as reached SQL). Two grouped queries: (source, current stage) over the contacts created in the
    range, and (current rank, furthest recorded rank) over only those of them with a recorded move
    beyond their current stage, so the cost of the second follows stage_changes, not contacts.
    """
    stage = type_coerce(Contact.stage, String)
    grouped = session.execute(
        select(Contact.source, stage, func.count()).where(_in(Contact.created_at, rng))
        .group_by(Contact.source, stage)
    ).all()
    moved = (select(StageChange.contact_id.label("contact_id"),
                    func.max(_rank(StageChange.to_stage)).label("rank"))
             .where(StageChange.to_stage.in_(CONVERSION_STAGES))
             .group_by(StageChange.contact_id)
             .subquery("moved"))
    # Group by the columns of a subquery: PostgreSQL would not match GROUP BY expressions whose
    # literals are separate bind parameters to the same expressions in the SELECT list.
    ahead = (select(_rank(stage).label("current"), moved.c.rank.label("furthest"))
             .select_from(moved).join(Contact, Contact.id == moved.c.contact_id)
             .where(_in(Contact.created_at, rng), moved.c.rank > _rank(stage))
             .subquery("ahead"))
    promoted = session.execute(
        select(ahead.c.current, ahead.c.furthest, func.count()).group_by(ahead.c.current, ahead.c.furthest)
    ).all()
    by_source: dict[str, int] = {}
    by_stage = dict.fromkeys(STAGES, 0)
    at_least = [0, 0, 0, 0]
    for source, current_stage, n in grouped:  # a few dozen grouped rows, not contacts
        by_source[source or NO_SOURCE] = by_source.get(source or NO_SOURCE, 0) + n
        by_stage[current_stage] = by_stage.get(current_stage, 0) + n
        for k in range(STAGE_RANK.get(current_stage, 0) + 1):
            at_least[k] += n
    for current, furthest, n in promoted:  # contacts whose recorded moves went further than their stage
        for k in range(int(current) + 1, int(furthest) + 1):
            at_least[k] += n
    total = at_least[0]
    funnel = []
    for i, name in enumerate(FUNNEL):
        funnel.append({
            "stage": name, "contacts": at_least[i],
            "step_rate": None if i == 0 else _rate(at_least[i], at_least[i - 1]),
            "overall_rate": _rate(at_least[i], total),
        })
    return {
        "total": total,
        "by_source": [{"source": s, "contacts": n, "share": _rate(n, total)}
                      for s, n in sorted(by_source.items(), key=lambda kv: (-kv[1], kv[0]))],
        "by_stage": [{"stage": s, "contacts": n, "share": _rate(n, total)} for s, n in by_stage.items()],
        "funnel": funnel,
    }


def segment_counts(session: Session, rng: DateRange) -> list[dict[str, Any]]:
    """Per saved segment: members now (as segments.count_segment counts) and those created in the range.

    All segments are counted in one pass over contacts (a CASE per segment), not one query each.
    """
    # archived segments leave the KPI table as they leave every list (campaigns.audience.archive)
    segments = list(session.scalars(select(Segment).where(Segment.archived_at.is_(None))
                                    .order_by(Segment.name, Segment.id).limit(MAX_SEGMENTS)))
    out: list[dict[str, Any]] = []
    compiled: list[tuple[dict[str, Any], ColumnElement[bool]]] = []
    for seg in segments:
        row: dict[str, Any] = {"id": seg.id, "name": seg.name, "members": None, "new_in_range": None,
                               "error": ""}
        out.append(row)
        try:
            compiled.append((row, compile_rules(seg.rules)))
        except SegmentError as err:
            row["error"] = str(err)
    # Grouped by "created in the range": each rule is evaluated once per contact, members now are
    # the sum of both groups and the new members the "true" group.
    new = case((_in(Contact.created_at, rng), 1), else_=0).label("new")
    for start in range(0, len(compiled), 25):
        chunk = compiled[start:start + 25]
        groups = session.execute(
            select(new, *[func.count(case((cond, 1))) for _row, cond in chunk])
            .where(Contact.status == ContactStatus.ACTIVE, not_suppressed())
            .group_by(new)
        ).all()
        for i, (row, _cond) in enumerate(chunk):
            row["members"] = sum(int(g[i + 1]) for g in groups)
            row["new_in_range"] = sum(int(g[i + 1]) for g in groups if g[0] == 1)
    return out


# ------------------------------------------------------------------ MQLs and time to MQL
def conversion_figures(session: Session, rng: DateRange, stage: str = "mql") -> tuple[dict[str, Any], dict[str, Any]]:
    """Conversions to `stage` in the range per month and source, and days from first touch to them.

    One statement: the converters and their spans are a CTE that PostgreSQL computes once for the
    per-month counts, the per-source figures and the overall figures (UNION ALL, told apart by `kind`).
    First touch is the contact's creation, or its earliest event when that is earlier (history
    imported with the contact); negative spans (a stage move dated before the contact existed) count as 0.
    """
    conv = first_reached(stage, rng)
    first_event = (select(func.min(Event.occurred_at)).where(Event.contact_id == conv.c.contact_id)
                   .correlate(conv).scalar_subquery())
    spans = (select(Contact.source.label("source"), month_of(conv.c.at, rng.zone_name, rng.offset_seconds).label("month"),
                    at_least_zero(days_between(conv.c.at, earliest(Contact.created_at, first_event))).label("days"))
             .select_from(conv).join(Contact, Contact.id == conv.c.contact_id)
             .cte("spans"))
    no_text, no_number = cast(null(), String), cast(null(), Float)

    def ranked(partition: bool) -> Any:
        part = spans.c.source if partition else None
        return select(
            spans.c.source, spans.c.days,
            func.row_number().over(partition_by=part, order_by=spans.c.days).label("rn"),
            func.count().over(partition_by=part).label("n"),
        ).subquery("by_source" if partition else "overall")

    def figures(r: Any) -> list[Any]:
        # The median is the middle row (or the mean of the two middle rows): positions (n+1)/2 and
        # (n+2)/2 in integer division, which both databases do for integers.
        middle = or_(r.c.rn == (r.c.n + 1) // 2, r.c.rn == (r.c.n + 2) // 2)
        return [func.count(), cast(func.avg(r.c.days), Float), cast(func.avg(case((middle, r.c.days))), Float),
                cast(func.min(r.c.days), Float), cast(func.max(r.c.days), Float)]

    per, whole = ranked(True), ranked(False)
    rows = session.execute(union_all(
        select(literal("m", String).label("kind"), spans.c.month, spans.c.source, func.count(),
               no_number, no_number, no_number, no_number).group_by(spans.c.month, spans.c.source),
        select(literal("s", String), no_text, per.c.source, *figures(per)).group_by(per.c.source),
        select(literal("a", String), no_text, no_text, *figures(whole)),
    )).all()

    # reshape the grouped rows (months x sources, a row per source): no per-contact work here
    months = rng.months()
    sources = sorted({(r[2] or NO_SOURCE) for r in rows if r[0] == "m"})
    grid = {src: dict.fromkeys(months, 0) for src in sources}
    for _kind, month, src, n, *_rest in (r for r in rows if r[0] == "m"):
        grid[src or NO_SOURCE][month] = grid[src or NO_SOURCE].get(month, 0) + int(n)
    per_month = {m: sum(grid[src][m] for src in sources) for m in months}
    totals = {src: sum(grid[src].values()) for src in sources}
    by_month = {
        "stage": stage, "months": months, "total": sum(per_month.values()),
        "per_month": [{"month": m, "conversions": per_month[m]} for m in months],
        "per_source": [{"source": src, "conversions": totals[src]}
                       for src in sorted(sources, key=lambda x: (-totals[x], x))],
        "series": [{"source": src, "values": [grid[src][m] for m in months]} for src in sources],
    }

    def shape(n: Any, avg: Any, median: Any, lo: Any, hi: Any) -> dict[str, Any]:
        def num(v: Any) -> float | None:
            return None if v is None else round(float(v), 4)
        return {"contacts": int(n), "avg_days": num(avg), "median_days": num(median),
                "min_days": num(lo), "max_days": num(hi)}

    per_source = [{"source": r[2] or NO_SOURCE, **shape(*r[3:])} for r in rows if r[0] == "s"]
    per_source.sort(key=lambda r: (-r["contacts"], r["source"]))
    overall = next(shape(*r[3:]) for r in rows if r[0] == "a")
    return by_month, {"stage": stage, "overall": overall, "per_source": per_source}


def conversions_by_month(session: Session, rng: DateRange, stage: str = "mql") -> dict[str, Any]:
    """First conversions to `stage` (or later) per UTC month and per source, in the range."""
    return conversion_figures(session, rng, stage)[0]


def time_to_conversion(session: Session, rng: DateRange, stage: str = "mql") -> dict[str, Any]:
    """Days from first touch to the first conversion to `stage`, per source and overall: count, average, median."""
    return conversion_figures(session, rng, stage)[1]


# ------------------------------------------------------------------ what precedes conversions
def preceding(session: Session, rng: DateRange, stage: str = "mql", days: int = 30,
              limit: int = MAX_ROWS) -> dict[str, Any]:
    """Templates received and links clicked (by people) in the `days` before each conversion in the range.

    Ranked by converting contacts (a contact counts once per template or link however many mails or
    clicks), with the share of all converters. The window is [conversion - days, conversion]: the
    click that pushed a score over the threshold happens at the conversion instant. One statement:
    the converters are a CTE shared by their count, the template ranking and the link ranking.
    """
    if not 1 <= days <= MAX_LOOKBACK_DAYS:
        raise ValueError(f"days must be between 1 and {MAX_LOOKBACK_DAYS}")
    conv = first_reached(stage, rng, cte=True)
    since = minus_days(conv.c.at, literal(days, Integer))
    people = func.count(func.distinct(conv.c.contact_id))
    no_text = cast(null(), String)
    templates = (
        select(Template.id.label("tid"), Template.name.label("name"), no_text.label("url"), people.label("n"))
        .select_from(conv)
        .join(Send, and_(Send.contact_id == conv.c.contact_id, Send.status == SendStatus.SENT,
                         Send.sent_at >= since, Send.sent_at <= conv.c.at))
        .join(TemplateVersion, TemplateVersion.id == Send.template_version_id)
        .join(Template, Template.id == TemplateVersion.template_id)
        .group_by(Template.id, Template.name)
        .order_by(people.desc(), Template.name, Template.id)
        .limit(limit)
        .subquery("top_templates")
    )
    links = (
        select(Template.id.label("tid"), Template.name.label("name"), Link.url.label("url"), people.label("n"))
        .select_from(conv)
        .join(Hit, and_(Hit.contact_id == conv.c.contact_id, Hit.kind == HitKind.CLICK,
                        Hit.classification == HitClass.HUMAN, Hit.link_id.isnot(None),
                        Hit.occurred_at >= since, Hit.occurred_at <= conv.c.at))
        .join(Link, and_(Link.id == Hit.link_id, Link.honeypot.is_(False)))
        .join(TemplateVersion, TemplateVersion.id == Link.template_version_id)
        .join(Template, Template.id == TemplateVersion.template_id)
        .group_by(Template.id, Template.name, Link.url)
        .order_by(people.desc(), Template.name, Link.url)
        .limit(limit)
        .subquery("top_links")
    )
    rows = session.execute(union_all(
        select(literal("c", String).label("kind"), cast(null(), Integer), no_text, no_text, func.count())
        .select_from(conv),
        select(literal("t", String), templates.c.tid, templates.c.name, templates.c.url, templates.c.n),
        select(literal("l", String), links.c.tid, links.c.name, links.c.url, links.c.n),
    )).all()
    converters = int(next(r[4] for r in rows if r[0] == "c"))

    def ranked(kind: str) -> list[Any]:
        return sorted((r for r in rows if r[0] == kind), key=lambda r: (-int(r[4]), r[2], r[3] or "", r[1]))

    return {
        "stage": stage, "days": days, "converters": converters,
        "templates": [{"template_id": tid, "template": name, "contacts": int(n), "share": _rate(int(n), converters)}
                      for _k, tid, name, _url, n in ranked("t")],
        "links": [{"template_id": tid, "template": name, "url": url, "contacts": int(n),
                   "share": _rate(int(n), converters)} for _k, tid, name, url, n in ranked("l")],
    }


# ------------------------------------------------------------------ sequence goals
def goal_rates(session: Session, rng: DateRange) -> list[dict[str, Any]]:
    """Per sequence with a goal event: contacts enrolled in the range, those with the goal event after
    enrolling (and before the range ends), and the rate."""
    reached = exists().where(
        Event.contact_id == Enrollment.contact_id, Event.name == Sequence.goal_event,
        Event.occurred_at >= Enrollment.enrolled_at, Event.occurred_at < rng.until,
    )
    per_enrolment = (
        select(Sequence.id.label("sequence_id"), Enrollment.contact_id.label("contact_id"),
               case((reached, Enrollment.contact_id)).label("goal_contact"))
        .select_from(Enrollment).join(Sequence, Sequence.id == Enrollment.sequence_id)
        .where(Sequence.goal_event != "", _in(Enrollment.enrolled_at, rng))
        .subquery("per_enrolment")
    )
    counts = {sid: (int(e), int(g)) for sid, e, g in session.execute(
        select(per_enrolment.c.sequence_id, func.count(func.distinct(per_enrolment.c.contact_id)),
               func.count(func.distinct(per_enrolment.c.goal_contact)))
        .group_by(per_enrolment.c.sequence_id)
    ).all()}
    out = []
    for seq in session.execute(
        select(Sequence.id, Sequence.name, Sequence.goal_event).where(Sequence.goal_event != "")
        .order_by(Sequence.name, Sequence.id)
    ).all():
        enrolled, goal = counts.get(seq.id, (0, 0))
        out.append({"sequence_id": seq.id, "sequence": seq.name, "goal_event": seq.goal_event,
                    "enrolled": enrolled, "reached_goal": goal, "rate": _rate(goal, enrolled)})
    out.sort(key=lambda r: (-r["enrolled"], r["sequence"]))
    return out


# ------------------------------------------------------------------ the whole dashboard
class _Ready:
    def __init__(self, value: Any) -> None:
        self.value = value

    def result(self) -> Any:
        return self.value


def _beside(session: Session, fn: Any, *args: Any) -> Any:
    """Start fn(session, *args) on a second PostgreSQL connection in a thread; .result() waits for it.

    The segment pass reads every contact whatever the range: on its own connection it runs on another
    core while the range's measures run on this one. SQLite (one writer, tests) runs it inline.
    """
    bind = session.get_bind()
    if bind.dialect.name != "postgresql" or not isinstance(bind, Engine):
        return _Ready(fn(session, *args))

    def run() -> Any:
        with Session(bind=bind) as other:
            return fn(other, *args)

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kpi")
    try:
        return pool.submit(run)
    finally:
        pool.shutdown(wait=False)  # the thread ends with its one task


def dashboard(session: Session, rng: DateRange, stage: str = "mql", days: int = 30) -> dict[str, Any]:
    """Every measure of the KPI page for one range (the UI, the API and the bench share it)."""
    _stages_from(stage)
    segments = _beside(session, segment_counts, rng)
    mqls, time_to_mql = conversion_figures(session, rng, "mql")
    return {
        "range": {"from": rng.first.isoformat(), "to": rng.last.isoformat(), "days": rng.days,
                  "time_zone": rng.zone_name},
        "contacts": lifecycle(session, rng),
        "segments": segments.result(),
        "mqls": mqls,
        "time_to_mql": time_to_mql,
        "preceding": preceding(session, rng, stage, days),
        "goals": goal_rates(session, rng),
    }


def cached_dashboard(session: Session, cache: Redis, rng: DateRange, stage: str = "mql", days: int = 30,
                     fresh: bool = False, ttl: int = CACHE_SECONDS) -> tuple[dict[str, Any], datetime]:
    """The dashboard and when it was computed, from Redis if computed in the last `ttl` seconds.

    Views and the API: a marketer flipping between presets, or exporting after looking, does not
    re-run a dozen aggregates over a million contacts; `fresh` recomputes (the page's Refresh link).
    """
    key = f"nurture:kpi:{rng.first.isoformat()}:{rng.last.isoformat()}:{rng.zone_name}:{stage}:{days}"
    if not fresh:
        raw = cache.get(key)
        if raw is not None:
            stored = json.loads(raw)
            return stored["data"], datetime.fromisoformat(stored["at"])
    at = now_utc()
    data = dashboard(session, rng, stage, days)
    cache.set(key, json.dumps({"data": data, "at": at.isoformat()}), ex=ttl)
    return data, at


# ------------------------------------------------------------------ CSV
def _pct(v: float | None) -> str:
    return "" if v is None else f"{v * 100:.2f}%"


CSV_TABLES = ("sources", "stages", "segments", "funnel", "mqls", "time_to_mql", "templates", "links", "goals")


def table_data(session: Session, rng: DateRange, table: str, stage: str = "mql", days: int = 30) -> dict[str, Any]:
    """Only the measures one CSV table needs (an export should not pay for the whole dashboard)."""
    if table not in CSV_TABLES:
        raise ValueError(f"unknown table {table!r}")
    _stages_from(stage)
    if table in ("sources", "stages", "funnel"):
        return {"contacts": lifecycle(session, rng)}
    if table == "segments":
        return {"segments": segment_counts(session, rng)}
    if table in ("mqls", "time_to_mql"):
        mqls, time_to_mql = conversion_figures(session, rng, "mql")
        return {"mqls": mqls, "time_to_mql": time_to_mql}
    if table in ("templates", "links"):
        return {"preceding": preceding(session, rng, stage, days)}
    return {"goals": goal_rates(session, rng)}


def export_csv(data: dict[str, Any], table: str) -> str:
    """One table of the dashboard as CSV (cells made formula-safe by reports.to_csv)."""
    c, p = data.get("contacts", {}), data.get("preceding", {})
    if table == "sources":
        return to_csv(["source", "contacts", "share"],
                      ([r["source"], r["contacts"], _pct(r["share"])] for r in c["by_source"]))
    if table == "stages":
        return to_csv(["stage", "contacts", "share"],
                      ([r["stage"], r["contacts"], _pct(r["share"])] for r in c["by_stage"]))
    if table == "segments":
        return to_csv(["segment", "members", "new_in_range", "error"],
                      ([r["name"], r["members"], r["new_in_range"], r["error"]] for r in data["segments"]))
    if table == "funnel":
        return to_csv(["stage", "contacts", "step_rate", "overall_rate"],
                      ([r["stage"], r["contacts"], _pct(r["step_rate"]), _pct(r["overall_rate"])]
                       for r in c["funnel"]))
    if table == "mqls":
        m = data["mqls"]
        return to_csv(["month", *[s["source"] for s in m["series"]], "total"],
                      ([month, *[s["values"][i] for s in m["series"]], m["per_month"][i]["conversions"]]
                       for i, month in enumerate(m["months"])))
    if table == "time_to_mql":
        t = data["time_to_mql"]
        rows = [["(all)", *_spans(t["overall"])], *([r["source"], *_spans(r)] for r in t["per_source"])]
        return to_csv(["source", "contacts", "avg_days", "median_days", "min_days", "max_days"], rows)
    if table == "templates":
        return to_csv(["template", "converting_contacts", "share_of_converters"],
                      ([r["template"], r["contacts"], _pct(r["share"])] for r in p["templates"]))
    if table == "links":
        return to_csv(["template", "url", "converting_contacts", "share_of_converters"],
                      ([r["template"], r["url"], r["contacts"], _pct(r["share"])] for r in p["links"]))
    if table == "goals":
        return to_csv(["sequence", "goal_event", "enrolled", "reached_goal", "rate"],
                      ([r["sequence"], r["goal_event"], r["enrolled"], r["reached_goal"], _pct(r["rate"])]
                       for r in data["goals"]))
    raise ValueError(f"unknown table {table!r}")


def _spans(r: dict[str, Any]) -> list[Any]:
    return [r["contacts"], r["avg_days"], r["median_days"], r["min_days"], r["max_days"]]
