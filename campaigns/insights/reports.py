"""Report queries: per broadcast, sequence and step; per link; over time; funnel; contact timeline; CSV.

Engagement numbers come from the hourly roll-ups the hit writer maintains (campaigns.models.tracking),
delivered/bounced from the send ledger through (campaign, status) indexes, so a report costs the
same for a thousand sends as for a million. Called by the reports UI (campaigns.views.reports).

One job over ~600 lines: the report queries, one function per view of the numbers.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from campaigns.models import (
    Broadcast,
    BroadcastStatus,
    Contact,
    Enrollment,
    Event,
    Link,
    Send,
    SendStatus,
    SequenceStatus,
    Step,
    Template,
    TemplateVersion,
)
from campaigns.models.sequences import Sequence as SequenceModel
from campaigns.models.tracking import EngagementRollup, Hit, RollupScope
from campaigns.spreadsheet import to_csv

HIT_CLASSES = ("human", "machine_open", "scanner")
SERIES_METRICS = ("unique_open", "unique_click", "open_human", "click_human", "open_machine_open",
                  "open_scanner", "click_scanner")


@dataclass
class Summary:
    """The headline numbers of one campaign scope (a broadcast, a step, a whole sequence, a variant)."""

    sends: int = 0
    delivered: int = 0
    bounced: int = 0
    queued: int = 0
    unique_opens: int = 0
    implied_opens: int = 0
    unique_clicks: int = 0
    unsubscribes: int = 0
    complaints: int = 0
    raw: dict[str, int] = field(default_factory=dict)  # open_<class> / click_<class> hit counts

    @property
    def open_rate(self) -> float | None:
        return self.unique_opens / self.delivered if self.delivered else None

    @property
    def click_rate(self) -> float | None:
        return self.unique_clicks / self.delivered if self.delivered else None

    @property
    def click_to_open_rate(self) -> float | None:
        return self.unique_clicks / self.unique_opens if self.unique_opens else None

    @property
    def machine_opens(self) -> int:
        return self.raw.get("open_machine_open", 0) + self.raw.get("open_scanner", 0)

    @property
    def scanner_clicks(self) -> int:
        return self.raw.get("click_scanner", 0) + self.raw.get("click_machine_open", 0)

    def add(self, other: Summary) -> None:
        for name in ("sends", "delivered", "bounced", "queued", "unique_opens", "implied_opens", "unique_clicks",
                     "unsubscribes", "complaints"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for k, v in other.raw.items():
            self.raw[k] = self.raw.get(k, 0) + v

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(open_rate=self.open_rate, click_rate=self.click_rate, click_to_open_rate=self.click_to_open_rate,
                   machine_opens=self.machine_opens, scanner_clicks=self.scanner_clicks)
        return out


_METRIC_FIELDS = {
    "unique_open": "unique_opens", "implied_open": "implied_opens", "unique_click": "unique_clicks",
    "unsubscribe": "unsubscribes", "complaint": "complaints",
}


def _apply_metric(summary: Summary, metric: str, count: int) -> None:
    if metric in _METRIC_FIELDS:
        name = _METRIC_FIELDS[metric]
        setattr(summary, name, getattr(summary, name) + count)
    else:
        summary.raw[metric] = summary.raw.get(metric, 0) + count


def _ledger(session: Session, column: Any, ids: Sequence[int], by_variant: bool = False) -> dict[Any, Summary]:
    """Sends per scope id (and variant) by status, from the (campaign, status) index."""
    out: dict[Any, Summary] = defaultdict(Summary)
    if not ids:
        return out
    cols = [column, Send.status] + ([Send.variant] if by_variant else [])
    for row in session.execute(select(*cols, func.count()).where(column.in_(ids)).group_by(*cols)):
        key = (row[0], row[2]) if by_variant else row[0]
        s = out[key]
        status, count = row[1], int(row[-1])
        s.sends += count
        if status == SendStatus.SENT:
            s.delivered += count
        elif status == SendStatus.FAILED:
            s.bounced += count
        elif status in (SendStatus.QUEUED, SendStatus.SENDING):
            s.queued += count
    return out


def _rollups(session: Session, scope: RollupScope, ids: Sequence[int], into: dict[Any, Summary],
             by_variant: bool = False) -> None:
    if not ids:
        return
    cols = [EngagementRollup.scope_id, EngagementRollup.metric] + ([EngagementRollup.variant] if by_variant else [])
    rows = session.execute(
        select(*cols, func.sum(EngagementRollup.count))
        .where(EngagementRollup.scope == scope, EngagementRollup.scope_id.in_(ids), EngagementRollup.link_id == 0)
        .group_by(*cols)
    )
    for row in rows:
        key = (row[0], row[2]) if by_variant else row[0]
        _apply_metric(into[key], str(row[1]), int(row[-1] or 0))  # type: ignore[arg-type]


LEDGER_CACHE_SECONDS = 900
LEDGER_REFRESH_SECONDS = 30  # how often the scheduler recounts the ledger of live campaigns
LIVE_AFTER_FINISH = timedelta(days=2)  # late bounces still move a finished broadcast's counts
_LEDGER_FIELDS = ("sends", "delivered", "bounced", "queued")


def _ledger_key(scope: RollupScope, scope_id: int) -> str:
    return f"nurture:report:ledger:{scope.value}:{scope_id}"


def _ledger_column(scope: RollupScope) -> Any:
    return Send.broadcast_id if scope == RollupScope.BROADCAST else Send.step_id


def _store_ledger(cache: Redis, scope: RollupScope, ids: Sequence[int], fresh: dict[Any, Summary]) -> None:
    by_id: dict[int, dict[str, list[int]]] = {i: {} for i in ids}
    for (scope_id, variant), summary in fresh.items():
        by_id[scope_id][variant] = [getattr(summary, f) for f in _LEDGER_FIELDS]
    pipe = cache.pipeline(transaction=False)
    for scope_id, data in by_id.items():
        pipe.set(_ledger_key(scope, scope_id), json.dumps(data), ex=LEDGER_CACHE_SECONDS)
    pipe.execute()


def _ledger_cached(session: Session, scope: RollupScope, ids: Sequence[int],
                   cache: Redis | None) -> dict[Any, Summary]:
    """Ledger counts per (scope id, variant), from Redis when there.

    Counting a million-send campaign's ledger scans a million index entries (about a second on a
    busy 2-core machine), too slow for a page view. The scheduler recounts live campaigns every
    LEDGER_REFRESH_SECONDS (refresh_live_ledgers), so their reports read counts at most that old;
    a campaign nobody touched for days is counted on its first view and kept LEDGER_CACHE_SECONDS.
    Engagement numbers (roll-ups) are always live.
    """
    column = _ledger_column(scope)
    if cache is None or not ids:
        return _ledger(session, column, ids, by_variant=True)
    try:
        cached = cache.mget([_ledger_key(scope, i) for i in ids])
    except RedisError:
        return _ledger(session, column, ids, by_variant=True)
    out: dict[Any, Summary] = defaultdict(Summary)
    missing = []
    for scope_id, raw in zip(ids, cached, strict=True):
        if raw is None:
            missing.append(scope_id)
            continue
        for variant, counts in json.loads(raw).items():
            out[(scope_id, variant)] = Summary(**dict(zip(_LEDGER_FIELDS, counts, strict=True)))
    if missing:
        fresh = _ledger(session, column, missing, by_variant=True)
        out.update(fresh)
        try:
            _store_ledger(cache, scope, missing, fresh)
        except RedisError:
            pass
    return out


def live_scopes(session: Session, now: datetime) -> dict[RollupScope, list[int]]:
    """Campaigns whose delivery counts may still change: broadcasts scheduled, sending, paused or
    finished within LIVE_AFTER_FINISH, and the steps of active or paused sequences."""
    broadcasts = session.scalars(select(Broadcast.id).where(or_(
        Broadcast.status.in_([BroadcastStatus.SCHEDULED, BroadcastStatus.SENDING, BroadcastStatus.PAUSED]),
        Broadcast.finished_at > now - LIVE_AFTER_FINISH,
    )))
    steps = session.scalars(
        select(Step.id).join(SequenceModel, SequenceModel.id == Step.sequence_id)
        .where(SequenceModel.status.in_([SequenceStatus.ACTIVE, SequenceStatus.PAUSED]))
    )
    return {RollupScope.BROADCAST: sorted(broadcasts), RollupScope.STEP: sorted(steps)}


def refresh_live_ledgers(session: Session, cache: Redis, now: datetime) -> int:
    """Recount the ledger of every live campaign into the report cache (scheduler tick); returns scopes."""
    refreshed = 0
    for scope, ids in live_scopes(session, now).items():
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            _store_ledger(cache, scope, chunk, _ledger(session, _ledger_column(scope), chunk, by_variant=True))
            refreshed += len(chunk)
    return refreshed


def _split(session: Session, scope: RollupScope, ids: Sequence[int],
           cache: Redis | None = None) -> dict[tuple[int, str], Summary]:
    """Summaries per (scope id, A/B variant): ledger counts (cached) plus the live roll-ups."""
    out = _ledger_cached(session, scope, ids, cache)
    _rollups(session, scope, ids, out, by_variant=True)
    return out


def summaries(session: Session, scope: RollupScope, ids: Sequence[int],
              cache: Redis | None = None) -> dict[int, Summary]:
    """Summary per broadcast id or per step id (index page, reports, A/B); `cache` as in _ledger_cached."""
    totals: dict[int, Summary] = {i: Summary() for i in ids}
    for (scope_id, _variant), s in _split(session, scope, ids, cache).items():
        totals[scope_id].add(s)
    return totals


def variant_summaries(session: Session, scope: RollupScope, scope_id: int,
                      cache: Redis | None = None) -> dict[str, Summary]:
    """Summary per A/B variant of one broadcast or step ('' when not split)."""
    return {variant: s for (_sid, variant), s in sorted(_split(session, scope, [scope_id], cache).items(),
                                                         key=lambda kv: kv[0][1])}


@dataclass
class LinkRow:
    link_id: int
    position: int
    url: str
    label: str
    honeypot: bool
    human_clicks: int = 0
    unique_clicks: int = 0
    scanner_clicks: int = 0
    mail: str = ""  # the template and version the link is in ("Welcome v2"): a sequence has several


def link_report(session: Session, scope: RollupScope, ids: Sequence[int], version_ids: Iterable[int] = ()) -> list[LinkRow]:
    """Clicks per link (human, unique human, scanner): links of the given versions plus any clicked."""
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    if ids:
        for link_id, metric, total in session.execute(
            select(EngagementRollup.link_id, EngagementRollup.metric, func.sum(EngagementRollup.count))
            .where(EngagementRollup.scope == scope, EngagementRollup.scope_id.in_(ids), EngagementRollup.link_id != 0)
            .group_by(EngagementRollup.link_id, EngagementRollup.metric)
        ):
            counts[link_id][metric] += int(total or 0)
    wanted = set(counts)
    links = session.execute(
        select(Link, Template.name, TemplateVersion.version)
        .join(TemplateVersion, TemplateVersion.id == Link.template_version_id)
        .join(Template, Template.id == TemplateVersion.template_id)
        .where((Link.id.in_(wanted)) | (Link.template_version_id.in_(list(version_ids))))
        .order_by(Link.template_version_id, Link.position)
    ).all()
    out = []
    for link, template_name, version in links:
        if not link.tracked and link.id not in counts:
            continue
        c = counts.get(link.id, {})
        out.append(LinkRow(
            link.id, link.position, link.url, link.label, link.honeypot,
            human_clicks=c.get("click_human", 0), unique_clicks=c.get("unique_click", 0),
            scanner_clicks=c.get("click_scanner", 0) + c.get("click_machine_open", 0),
            mail=f"{template_name} v{version}",
        ))
    return out


def timeseries(session: Session, scope: RollupScope, ids: Sequence[int], granularity: str = "hour",
               metrics: Sequence[str] = SERIES_METRICS, limit_buckets: int = 24 * 62,
               zone: tzinfo = UTC) -> dict[str, Any]:
    """Opens and clicks over time per hour or day in `zone` (the account's), gaps filled with zeros; charts, CSV.

    Rollups are UTC hours. An hour is labelled with its local time, a day is the local day its hours
    fall in: the few hundred grouped rows are converted here, exactly for every zone (DST included).
    """
    if granularity not in ("hour", "day"):
        raise ValueError("granularity must be 'hour' or 'day'")
    hours: dict[datetime, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    if ids:
        for bucket, metric, total in session.execute(
            select(EngagementRollup.bucket, EngagementRollup.metric, func.sum(EngagementRollup.count))
            .where(EngagementRollup.scope == scope, EngagementRollup.scope_id.in_(ids), EngagementRollup.link_id == 0,
                   EngagementRollup.metric.in_(list(metrics)))
            .group_by(EngagementRollup.bucket, EngagementRollup.metric)
        ):
            hours[bucket.astimezone(UTC)][metric] += int(total or 0)
    if granularity == "day":
        days: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for hour, counts in hours.items():
            day = hour.astimezone(zone).date()
            for metric, n in counts.items():
                days[day][metric] += n
        return {"granularity": granularity, **_filled(days, timedelta(days=1), limit_buckets, metrics, str)}
    # Hours step in UTC (a local clock repeats or skips an hour at DST changes); "%H:%M" because some
    # zones are half an hour off UTC.
    return {"granularity": granularity,
            **_filled(hours, timedelta(hours=1), limit_buckets, metrics,
                      lambda t: t.astimezone(zone).strftime("%Y-%m-%d %H:%M"))}


def _filled(raw: dict[Any, dict[str, int]], step: timedelta, limit_buckets: int, metrics: Sequence[str],
            label: Any) -> dict[str, Any]:
    """Labels and per-metric values for every bucket from the first to the last, gaps as zeros."""
    keys: list[Any] = []
    if raw:
        start, end = min(raw), max(raw)
        if (end - start) / step >= limit_buckets:  # keep the most recent part of very long campaigns
            start = end - step * (limit_buckets - 1)
        t = start
        while t <= end:
            keys.append(t)
            t += step
    return {
        "labels": [label(t) for t in keys],
        "series": {m: [raw.get(t, {}).get(m, 0) for t in keys] for m in metrics},
    }


def _version_ids_of_template(session: Session, template_id: int) -> list[int]:
    return list(session.scalars(select(TemplateVersion.id).where(TemplateVersion.template_id == template_id)))


def broadcast_report(session: Session, broadcast_id: int, cache: Redis | None = None) -> dict[str, Any] | None:
    """Everything the broadcast report page shows; None if the broadcast does not exist."""
    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is None:
        return None
    scope = RollupScope.BROADCAST
    variants = variant_summaries(session, scope, broadcast_id, cache)
    total = Summary()
    for s in variants.values():
        total.add(s)
    return {
        "broadcast": broadcast,
        "summary": total,
        "variants": variants,
        "links": link_report(session, scope, [broadcast_id], _version_ids_of_template(session, broadcast.template_id)),
    }


@dataclass
class FunnelStage:
    label: str
    contacts: int
    position: int | None = None


def funnel(session: Session, sequence: SequenceModel, steps: Sequence[Step]) -> list[FunnelStage]:
    """Enrolled -> received step 1 -> step 2 -> ... -> goal event (distinct contacts at each stage)."""
    stages = [FunnelStage("enrolled", int(session.scalar(
        select(func.count(func.distinct(Enrollment.contact_id))).where(Enrollment.sequence_id == sequence.id)
    ) or 0))]
    step_ids = [s.id for s in steps]
    received: dict[int, int] = {}
    if step_ids:
        received = dict(session.execute(  # type: ignore[arg-type]  # rows of (step id, count)
            select(Send.step_id, func.count(func.distinct(Send.contact_id)))
            .where(Send.step_id.in_(step_ids), Send.status == SendStatus.SENT)
            .group_by(Send.step_id)
        ).all())
    for s in steps:
        stages.append(FunnelStage("step", int(received.get(s.id, 0)), s.position))
    if sequence.goal_event:
        reached = session.scalar(
            select(func.count(func.distinct(Enrollment.contact_id)))
            .select_from(Enrollment)
            .join(Event, and_(Event.contact_id == Enrollment.contact_id, Event.name == sequence.goal_event,
                              Event.occurred_at >= Enrollment.enrolled_at))
            .where(Enrollment.sequence_id == sequence.id)
        )
        stages.append(FunnelStage("goal", int(reached or 0)))
    return stages


def sequence_report(session: Session, sequence_id: int, cache: Redis | None = None) -> dict[str, Any] | None:
    """The sequence report: per-step summaries, their total, links, and the funnel; None if missing."""
    sequence = session.get(SequenceModel, sequence_id)
    if sequence is None:
        return None
    steps = list(session.scalars(
        select(Step).where(Step.sequence_id == sequence_id).order_by(Step.position, Step.id)
    ))
    # Deleted steps stay in the report when they sent something: history does not vanish with an edit.
    per_step = summaries(session, RollupScope.STEP, [s.id for s in steps], cache)
    steps = [s for s in steps if not s.deleted or per_step[s.id].sends]
    total = Summary()
    for s in steps:
        total.add(per_step[s.id])
    template_ids = {s.template_id for s in steps}
    version_ids = list(session.scalars(select(TemplateVersion.id).where(TemplateVersion.template_id.in_(template_ids))))
    names = dict(session.execute(select(Template.id, Template.name).where(Template.id.in_(template_ids))).all())
    return {
        "sequence": sequence,
        "steps": [{"step": s, "template": names.get(s.template_id, ""), "summary": per_step[s.id]} for s in steps],
        "summary": total,
        "links": link_report(session, RollupScope.STEP, [s.id for s in steps], version_ids),
        "funnel": funnel(session, sequence, [s for s in steps if not s.deleted]),
    }


@dataclass
class TimelineItem:
    at: datetime
    kind: str  # send, open, click, event
    title: str
    detail: str = ""
    classification: str = ""


def contact_timeline(session: Session, contact_id: int, limit: int = 300) -> tuple[Contact | None, list[TimelineItem]]:
    """A contact's sends, opens, clicks and events, newest first (contact report page)."""
    contact = session.get(Contact, contact_id)
    if contact is None:
        return None, []
    items: list[TimelineItem] = []
    sends = session.execute(
        select(Send.id, Send.status, Send.sent_at, Send.created_at, Send.broadcast_id, Send.step_id, Send.error,
               TemplateVersion.subject, Template.name)
        .join(TemplateVersion, TemplateVersion.id == Send.template_version_id)
        .join(Template, Template.id == TemplateVersion.template_id)
        .where(Send.contact_id == contact_id)
        .order_by(Send.id.desc()).limit(limit)
    ).all()
    for s in sends:
        where = f"broadcast #{s.broadcast_id}" if s.broadcast_id else f"step #{s.step_id}" if s.step_id else "test"
        items.append(TimelineItem(s.sent_at or s.created_at, "send", s.name, f"{s.status.value} · {where}"))
    hits = session.execute(
        select(Hit.kind, Hit.occurred_at, Hit.classification, Hit.reason, Hit.user_agent, Link.url)
        .outerjoin(Link, Link.id == Hit.link_id)
        .where(Hit.contact_id == contact_id)
        .order_by(Hit.occurred_at.desc()).limit(limit)
    ).all()
    for h in hits:
        detail = h.url or ""
        if h.reason:
            detail = f"{detail} ({h.reason})".strip()
        items.append(TimelineItem(h.occurred_at, h.kind.value, h.kind.value, detail, h.classification.value))
    for e in session.execute(
        select(Event.name, Event.occurred_at, Event.source).where(Event.contact_id == contact_id)
        .order_by(Event.occurred_at.desc()).limit(limit)
    ):
        items.append(TimelineItem(e.occurred_at, "event", e.name, e.source))
    items.sort(key=lambda i: i.at, reverse=True)
    return contact, items[:limit]


def overview(session: Session, limit: int = 50, cache: Redis | None = None) -> dict[str, Any]:
    """Recent broadcasts and all sequences with their headline numbers (the reports index)."""
    broadcasts = list(session.scalars(select(Broadcast).order_by(Broadcast.id.desc()).limit(limit)))
    sequences = list(session.scalars(select(SequenceModel).order_by(SequenceModel.name).limit(limit)))
    b_sum = summaries(session, RollupScope.BROADCAST, [b.id for b in broadcasts], cache)
    step_rows = session.execute(select(Step.id, Step.sequence_id).where(
        Step.sequence_id.in_([s.id for s in sequences]))).all()
    s_sum = summaries(session, RollupScope.STEP, [r.id for r in step_rows], cache)
    seq_totals: dict[int, Summary] = defaultdict(Summary)
    for r in step_rows:
        seq_totals[r.sequence_id].add(s_sum[r.id])
    return {
        "broadcasts": [(b, b_sum[b.id]) for b in broadcasts],
        "sequences": [(s, seq_totals[s.id]) for s in sequences],
    }


# ------------------------------------------------------------------ CSV
# csv_safe and to_csv live in the platform (campaigns.spreadsheet): every CSV Nurture hands out uses them.


def _rate(v: float | None) -> str:
    return "" if v is None else f"{v * 100:.2f}%"


SUMMARY_HEADER = ["name", "sends", "delivered", "bounced", "unique_human_opens", "opens_implied_by_click",
                  "unique_human_clicks", "open_rate", "click_rate", "click_to_open_rate", "unsubscribes", "complaints",
                  "human_opens_raw", "machine_opens", "scanner_opens", "human_clicks_raw", "scanner_clicks"]


def summary_row(name: str, s: Summary) -> list[Any]:
    """One CSV row of a summary (report exports)."""
    return [name, s.sends, s.delivered, s.bounced, s.unique_opens, s.implied_opens, s.unique_clicks,
            _rate(s.open_rate), _rate(s.click_rate), _rate(s.click_to_open_rate), s.unsubscribes, s.complaints,
            s.raw.get("open_human", 0), s.raw.get("open_machine_open", 0), s.raw.get("open_scanner", 0),
            s.raw.get("click_human", 0), s.scanner_clicks]


def export_csv(report: dict[str, Any], part: str, series: dict[str, Any] | None = None) -> str:
    """CSV of one part of a broadcast or sequence report: summary, links or series."""
    if part == "links":
        return to_csv(["mail", "position", "url", "label", "honeypot", "human_clicks", "unique_human_clicks",
                       "scanner_clicks"],
                      [[r.mail, r.position, r.url, r.label, r.honeypot, r.human_clicks, r.unique_clicks,
                        r.scanner_clicks] for r in report["links"]])
    if part == "series":
        assert series is not None
        metrics = list(series["series"])
        return to_csv(["bucket", *metrics],
                      [[label, *(series["series"][m][i] for m in metrics)] for i, label in enumerate(series["labels"])])
    if part != "summary":
        raise ValueError("unknown export part")
    if "broadcast" in report:
        rows = [summary_row(report["broadcast"].name, report["summary"])]
        rows += [summary_row(f"variant {v}", s) for v, s in report["variants"].items() if v]
    else:
        rows = [summary_row(report["sequence"].name, report["summary"])]
        rows += [summary_row(f"step {r['step'].position}: {r['template']}", r["summary"]) for r in report["steps"]]
    return to_csv(SUMMARY_HEADER, rows)


def scope_filter(scope: RollupScope, ids: Sequence[int]) -> ColumnElement[bool]:
    """The roll-up rows of a scope (helper for other report consumers such as A/B decisions)."""
    return and_(EngagementRollup.scope == scope, EngagementRollup.scope_id.in_(list(ids)))


# ------------------------------------------------------------------ JSON (reports UI and the API)
def broadcast_json(report: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of broadcast_report (UI .json route and GET /api/v1/reports/broadcasts/{id})."""
    b = report["broadcast"]
    return {
        "broadcast": {"id": b.id, "name": b.name},
        "summary": report["summary"].as_dict(),
        "variants": {k: v.as_dict() for k, v in report["variants"].items()},
        "links": [vars(r) for r in report["links"]],
    }


def sequence_json(report: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of sequence_report (UI .json route and GET /api/v1/reports/sequences/{id})."""
    seq = report["sequence"]
    return {
        "sequence": {"id": seq.id, "name": seq.name, "goal_event": seq.goal_event},
        "summary": report["summary"].as_dict(),
        "steps": [{"step_id": r["step"].id, "position": r["step"].position, "template": r["template"],
                   "summary": r["summary"].as_dict()} for r in report["steps"]],
        "links": [vars(r) for r in report["links"]],
        "funnel": [vars(f) for f in report["funnel"]],
    }


def timeline_json(contact: Contact, items: Sequence[TimelineItem]) -> dict[str, Any]:
    """The JSON form of contact_timeline (GET /api/v1/reports/contacts/{id}/timeline)."""
    return {
        "contact": {"id": contact.id, "email": contact.email},
        "items": [{"at": i.at.isoformat(), "kind": i.kind, "title": i.title, "detail": i.detail,
                   "classification": i.classification} for i in items],
    }
