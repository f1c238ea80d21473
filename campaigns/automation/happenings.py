"""What happened, matched to journeys by id cursors (the engine's first step each tick).

Sources, each read past its cursor in journey_cursors and matched in ONE transaction with the cursor's move,
so a crash replays nothing and skips nothing:
- events (the API, forms as `form_submitted` {form_id}, tracking's unsubscribes): waiting walks at a
  wait_for of that event (name and `where` properties) or form move on by "happened"; entry triggers of
  live journeys start walks (events older than sequences.TRIGGER_MAX_AGE start nothing, as for
  sequences); goals convert; exit events end walks;
- tracking hits, HUMAN only (machine opens, privacy proxies and scanners never count): waiting walks at a
  wait_for of an open or click of one of their own mails (and a given link URL) move on;
- stage changes: wait_for a stage, entry, goal and exit by stage;
- website visits, HUMAN only and of known contacts: waiting walks at a wait_for of a visit to a page matching
  a pattern move on; entry triggers "visited <pattern>" start walks (one per visit, as for events).
Periodic, at most once a minute: segment and list entry, segment exits and goals; hourly: date triggers.
Every entry trigger starts its walks through campaigns.journeys.walk_entry (`enrol_version`), the one place
walks start at a journey's start node, with the same rules as the canvas and the API.

Late commits: on PostgreSQL a row with a lower id can commit after one with a higher id. The cursor moves
to the highest id seen, and the ids it stepped over that were not visible yet are kept as "gap" rows of the
cursor table (name `events:gap:<id>`); each pass reads the gaps again, so a late row is matched once when it
appears, and a gap that stays empty for GAP_TTL (a rolled back insert) is dropped. No row is read twice.

A walk is moved only where it still stands where it was read (walks.write_moves compare-and-set); on
PostgreSQL the walks are locked first, so a due runner holding one makes this wait, then skip it.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import delete, exists, func, literal, select
from sqlalchemy.orm import Session

from campaigns import timezones
from campaigns.audience.segments import compile_rules, json_text, segment_contact_ids
from campaigns.audience.web_conditions import human_visit, pattern_matches
from campaigns.automation.nodes import local_moment, parse_day
from campaigns.automation.walks import (
    CONVERTED,
    EXITED,
    Plan,
    Walk,
    cancel_queued_sends,
    load_plans,
    lock_walks,
    write_moves,
)
from campaigns.db import dialect_insert
from campaigns.journeys import walk_entry
from campaigns.journeys.sequences import TRIGGER_MAX_AGE
from campaigns.models import (
    Contact,
    ContactListMember,
    Event,
    Hit,
    HitKind,
    Journey,
    JourneyCursor,
    JourneyEnrolment,
    JourneySegmentMember,
    JourneyStatus,
    JourneyVersion,
    Link,
    Segment,
    Send,
    StageChange,
    WebVisit,
)
from campaigns.models.tracking import HitClass
from campaigns.runtime import Services, is_outage
from campaigns.sql_functions import among
from campaigns.users import get_account

log = logging.getLogger("nurture.journeys")

READ_LIMIT = 50_000  # rows of one source per pass: a burst is worked off over a few ticks
GAP_TTL = timedelta(minutes=10)  # an id not visible for this long was rolled back
PERIODIC_KEY = "nurture:journeys:periodic"
PERIODIC_EVERY = 60  # seconds: segments and lists
DATES_KEY = "nurture:journeys:dates"
DATES_EVERY = 3600  # seconds: date triggers
FORM_EVENT = "form_submitted"


def run(svc: Services, now: datetime) -> Counter[str]:
    """Match every source once (engine.tick)."""
    counts: Counter[str] = Counter()
    with svc.db.begin() as session:
        plans = _current_plans(session)
    for name, source in (("events", _match_events), ("hits", _match_hits), ("stages", _match_stages),
                         ("visits", _match_visits)):
        counts.update(_guarded(name, partial(_with_cursor, svc, name, source, plans, now)))
    live = [plan for plan in plans.values() if plan.live]  # nobody enters a paused journey
    if live and _once_every(svc, PERIODIC_KEY, PERIODIC_EVERY):
        for plan in live:
            counts.update(_guarded(f"journey {plan.journey_id}", partial(_periodic, svc, plan, now)))
    if live and _once_every(svc, DATES_KEY, DATES_EVERY):
        for plan in live:
            counts.update(_guarded(f"journey {plan.journey_id}", partial(_dates, svc, plan, now)))
    return counts


def _guarded(what: str, job: Callable[[], Counter[str]]) -> Counter[str]:
    try:
        return job()
    except Exception as exc:
        if is_outage(exc):
            raise
        log.error("journeys: matching %s failed; the rest goes on", what, exc_info=exc)
        return Counter({"happenings_failed": 1})


def _once_every(svc: Services, key: str, seconds: int) -> bool:
    return bool(svc.redis.set(key, "1", nx=True, ex=seconds))


def _current_plans(session: Session) -> dict[int, Plan]:
    """The published plans of live and paused journeys by journey id (`Plan.live` tells them apart).

    A paused journey holds its walks where they are (the due runner skips it) and nobody enters it, but what
    happens meanwhile is not lost: a walk waiting for an event, an open or click, a stage or a visit that
    happens during the pause is moved by "happened" into the next node, which runs once the journey is
    resumed; goals and exit conditions met during the pause end walks as they would have. The cursors move
    on either way, so nothing is read twice."""
    current = dict(session.execute(
        select(Journey.id, Journey.live_version_id)
        .where(Journey.status.in_((JourneyStatus.LIVE, JourneyStatus.PAUSED)), Journey.live_version_id.is_not(None))
    ).all())
    return {p.journey_id: p for p in load_plans(session, [v for v in current.values() if v is not None]).values()}


# ------------------------------------------------------------------ cursors
_TABLES: dict[str, Any] = {"events": Event.id, "hits": Hit.id, "stages": StageChange.id, "visits": WebVisit.id}


def _with_cursor(svc: Services, name: str, source: Callable[..., Counter[str]], plans: dict[int, Plan],
                 now: datetime) -> Counter[str]:
    """Read the source's new ids (past the cursor, and the gaps), match them, move the cursor: one
    transaction."""
    column = _TABLES[name]
    with svc.db.begin() as session:
        if svc.db.dialect == "sqlite":
            conn = session.connection()
            if not conn.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
                conn.exec_driver_sql("BEGIN IMMEDIATE")  # the cursor and the walks it moves, under one lock
        query = select(JourneyCursor).where(JourneyCursor.name == name)
        if svc.db.dialect == "postgresql":
            query = query.with_for_update()
        cursor = session.scalar(query)
        top = int(session.scalar(select(func.max(column))) or 0)
        if cursor is None:  # the first pass starts at the present: history starts nothing
            session.execute(dialect_insert(session, JourneyCursor).values(name=name, last_id=top, updated_at=now)
                            .on_conflict_do_nothing())
            return Counter()
        low = int(cursor.last_id)
        high = min(top, low + READ_LIMIT)
        prefix = f"{name}:gap:"
        gaps = {int(r.name[len(prefix):]): r for r in session.scalars(
            select(JourneyCursor).where(JourneyCursor.name.startswith(prefix)))}
        found: set[int] = set()
        if high > low:
            found.update(int(i) for i in session.scalars(select(column).where(column > low, column <= high)))
        if gaps:
            found.update(int(i) for i in session.scalars(select(column).where(among(session, column, sorted(gaps)))))
        counts = source(session, sorted(found), plans, now) if found else Counter()
        # the cursor moves with the matches; ids stepped over that were not visible yet become gaps
        for gap_id, row in gaps.items():
            if gap_id in found or row.updated_at < now - GAP_TTL:
                session.delete(row)
        new_gaps = [i for i in range(low + 1, high + 1) if i not in found]
        if new_gaps and len(new_gaps) <= 10_000:
            session.execute(dialect_insert(session, JourneyCursor).values(
                [{"name": f"{prefix}{i}", "last_id": i, "updated_at": now} for i in new_gaps]).on_conflict_do_nothing())
        cursor.last_id = high
        cursor.updated_at = now
        return counts


# ------------------------------------------------------------------ matching
def _matches(where: dict[str, Any] | None, properties: Any) -> bool:
    if not where:
        return True
    if not isinstance(properties, dict):
        return False
    for key, wanted in where.items():
        value = properties.get(key)
        if value is None or _text(value) != _text(wanted):
            return False
    return True


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip().lower()


def _event_fits(spec: dict[str, Any] | None, name: str, properties: Any) -> bool:
    """Does an event satisfy a happening spec of kind event or form (wait_for, goal, entry)?"""
    if not spec:
        return False
    if spec.get("kind") == "event":
        return bool(spec.get("name") == name and _matches(spec.get("where"), properties))
    if spec.get("kind") == "form":
        return name == FORM_EVENT and isinstance(properties, dict) and \
            str(properties.get("form_id")) == str(spec.get("form_id"))
    return False


def _move_waiting(session: Session, plans: dict[int, Plan], hits: dict[int, str], now: datetime,
                  counts: Counter[str]) -> None:
    """Move the walks in `hits` (walk id -> detail) by "happened", where they still wait."""
    if not hits:
        return
    walks = lock_walks(session, sorted(hits), waiting=True)
    moved: list[Walk] = []
    for w in walks:
        plan = _plan(session, plans, w.journey_id, w.version_id, w.test)
        if plan is None:
            continue
        w.waiting = False
        w.leave(plan, "happened", now, detail=hits[w.id])
        moved.append(w)
    counts["happened"] += len(write_moves(session, moved, strict=False))


def _end_walks(session: Session, plans: dict[int, Plan], ends: dict[tuple[int, int], tuple[str, str]],
               now: datetime, counts: Counter[str]) -> None:
    """End the active walks of (journey, contact) pairs: (status, reason) each (goals and exits)."""
    if not ends:
        return
    contacts = sorted({c for _, c in ends})
    ids = list(session.scalars(select(JourneyEnrolment.id).where(
        among(session, JourneyEnrolment.contact_id, contacts), JourneyEnrolment.status == "active",
        JourneyEnrolment.journey_id.in_(sorted({j for j, _ in ends})))))
    finished: list[Walk] = []
    for w in lock_walks(session, ids):
        end = ends.get((w.journey_id, w.contact_id))
        if end is None:
            continue
        status, reason = end
        w.finish(status, reason, now, exit="goal" if status == CONVERTED else "exit")
        finished.append(w)
    written = write_moves(session, finished, strict=False)
    cancel_queued_sends(session, [w for w in finished if w.id in written])
    for w in finished:
        if w.id in written:
            counts["converted" if w.status == CONVERTED else "exited"] += 1


def _match_events(session: Session, ids: list[int], plans: dict[int, Plan], now: datetime) -> Counter[str]:
    counts: Counter[str] = Counter()
    rows = session.execute(select(Event.id, Event.contact_id, Event.name, Event.properties, Event.created_at,
                                  Event.occurred_at).where(among(session, Event.id, ids)).order_by(Event.id)).all()
    ends: dict[tuple[int, int], tuple[str, str]] = {}
    for plan in plans.values():
        goal = plan.settings.get("goal")
        exit_events = set((plan.settings.get("exit") or {}).get("events") or [])
        for _eid, contact_id, name, props, _created, _occurred in rows:
            if name in exit_events:
                ends.setdefault((plan.journey_id, contact_id), (EXITED, f"event: {name}"))
            elif _event_fits(goal, name, props):
                ends.setdefault((plan.journey_id, contact_id), (CONVERTED, f"goal: {name}"))
    _end_walks(session, plans, ends, now, counts)

    # waiting walks of these contacts (the partial index ix_journey_enrolments_waiting)
    by_contact: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        by_contact[row.contact_id].append(row)
    hits: dict[int, str] = {}
    for wid, contact_id, entered, until in _waiting_for(session, plans, by_contact):
        for _eid, _cid, name, props, created, _occurred in by_contact[contact_id]:
            if created >= entered and _event_fits(until, name, props):
                hits[wid] = f"event {name}"[:200]
                break
    _move_waiting(session, plans, hits, now, counts)

    # entry triggers: one enrolment per (journey, event)
    fresh = [r for r in rows if r.occurred_at >= now - TRIGGER_MAX_AGE]
    for plan in plans.values():
        for trigger in plan.settings.get("entry") or [] if plan.live else []:
            if trigger.get("kind") not in ("event", "form"):
                continue
            for eid, contact_id, name, props, _created, _occurred in fresh:
                if _event_fits(trigger, name, props):
                    counts["enrolled"] += len(_enrol(
                        session, plan, [contact_id], now, source=f"event:{eid}",
                        context=props if isinstance(props, dict) else {}, once_per_source=True))
    return counts


def _enrol(session: Session, plan: Plan, contact_ids: Iterable[int], now: datetime, *, source: str,
           context: dict[str, Any] | None = None, once_per_source: bool = False) -> list[int]:
    """Start walks of these contacts at the plan's start node by an entry trigger: the one rule of
    campaigns.journeys.walk_entry (active, unsuppressed contacts; no second active walk; re-entry by the
    version's settings), with `once_per_source` for triggers a late commit could show twice."""
    return walk_entry.enrol_version(session, plan.journey_id, plan.version_id, plan.graph.start, contact_ids,
                                    source=source, reentry=bool(plan.settings.get("reentry", False)), now=now,
                                    context=context, once_per_source=once_per_source)


_version_plans: dict[int, Plan] = {}  # published versions are frozen: kept for the process's life


def _plan(session: Session, plans: dict[int, Plan], journey_id: int, version_id: int, test: bool) -> Plan | None:
    """The plan a walk walks: its journey must be live, or the walk a test walk (a draft's snapshot)."""
    live = plans.get(journey_id)
    if live is None and not test:
        return None
    if live is not None and live.version_id == version_id:
        return live
    other = _version_plans.get(version_id)
    if other is None:
        other = load_plans(session, [version_id]).get(version_id)
        if other is None:
            return None
        _version_plans[version_id] = other
    return other


def _node(session: Session, plans: dict[int, Plan], journey_id: int, version_id: int, key: str,
          test: bool) -> Any:
    """The node a waiting walk stands at, in the version it walks (usually the live one)."""
    plan = _plan(session, plans, journey_id, version_id, test)
    return None if plan is None else plan.node(key)


def _waiting_for(session: Session, plans: dict[int, Plan], contact_ids: Iterable[int]
                 ) -> Iterator[tuple[int, int, datetime, dict[str, Any]]]:
    """The waiting walks of these contacts that stand at a wait_for node (the partial index
    ix_journey_enrolments_waiting): (walk id, contact id, when it entered the node, the node's `until`).
    The one read behind matching events, stage changes and visits to the walks that wait for them."""
    for wid, jid, vid, key, entered, contact_id, test in session.execute(
        select(JourneyEnrolment.id, JourneyEnrolment.journey_id, JourneyEnrolment.version_id,
               JourneyEnrolment.node_key, JourneyEnrolment.node_entered_at, JourneyEnrolment.contact_id,
               JourneyEnrolment.test)
        .where(JourneyEnrolment.waiting.is_(True), among(session, JourneyEnrolment.contact_id, sorted(contact_ids)))
    ):
        node = _node(session, plans, jid, vid, key, test)
        if node is not None and node.type == "wait_for":
            yield wid, contact_id, entered, node.data.get("until") or {}


def _match_hits(session: Session, ids: list[int], plans: dict[int, Plan], now: datetime) -> Counter[str]:
    counts: Counter[str] = Counter()
    # Only human hits of journey mails whose walk is waiting: the rest of the traffic costs nothing more.
    rows = session.execute(
        select(JourneyEnrolment.id, JourneyEnrolment.journey_id, JourneyEnrolment.version_id,
               JourneyEnrolment.node_key, Send.node_key, Hit.kind, Link.url, JourneyEnrolment.test)
        .join(Send, Send.id == Hit.send_id)
        .join(JourneyEnrolment, JourneyEnrolment.id == Send.journey_enrolment_id)
        .outerjoin(Link, Link.id == Hit.link_id)
        .where(among(session, Hit.id, ids), Hit.classification == HitClass.HUMAN,
               Send.journey_enrolment_id.is_not(None), JourneyEnrolment.waiting.is_(True))
    ).all()
    hits: dict[int, str] = {}
    for wid, jid, vid, key, mail_node, kind, url, test in rows:
        node = _node(session, plans, jid, vid, key, test)
        if node is None or node.type != "wait_for":
            continue
        until = node.data.get("until") or {}
        if until.get("node") != mail_node:
            continue
        if until.get("kind") == "open" and str(kind) in (HitKind.OPEN.value, HitKind.CLICK.value):
            hits[wid] = "opened"
        elif until.get("kind") == "click" and str(kind) == HitKind.CLICK.value and \
                (not until.get("url") or until.get("url") == url):
            hits[wid] = "clicked"
    _move_waiting(session, plans, hits, now, counts)
    return counts


def _match_stages(session: Session, ids: list[int], plans: dict[int, Plan], now: datetime) -> Counter[str]:
    counts: Counter[str] = Counter()
    rows = session.execute(select(StageChange.contact_id, StageChange.to_stage, StageChange.id)
                           .where(among(session, StageChange.id, ids)).order_by(StageChange.id)).all()
    ends: dict[tuple[int, int], tuple[str, str]] = {}
    for plan in plans.values():
        goal = plan.settings.get("goal") or {}
        exit_stages = set((plan.settings.get("exit") or {}).get("stages") or [])
        for contact_id, stage, _sid in rows:
            if stage in exit_stages:
                ends.setdefault((plan.journey_id, contact_id), (EXITED, f"stage: {stage}"))
            elif goal.get("kind") == "stage" and goal.get("stage") == stage:
                ends.setdefault((plan.journey_id, contact_id), (CONVERTED, f"goal: stage {stage}"))
    _end_walks(session, plans, ends, now, counts)
    stages: dict[int, set[str]] = defaultdict(set)
    for contact_id, stage, _sid in rows:
        stages[contact_id].add(stage)
    hits: dict[int, str] = {}
    for wid, contact_id, _entered, until in _waiting_for(session, plans, stages):
        if until.get("kind") == "stage" and until.get("stage") in stages[contact_id]:
            hits[wid] = f"stage {until['stage']}"
    _move_waiting(session, plans, hits, now, counts)
    for plan in plans.values():
        for trigger in plan.settings.get("entry") or [] if plan.live else []:
            if trigger.get("kind") != "stage":
                continue
            for contact_id, stage, sid in rows:
                if stage == trigger.get("stage"):
                    counts["enrolled"] += len(_enrol(session, plan, [contact_id], now, source=f"stage:{sid}",
                                                    once_per_source=True))
    return counts


def _match_visits(session: Session, ids: list[int], plans: dict[int, Plan], now: datetime) -> Counter[str]:
    """People's visits of known contacts: waits for a visit to a page, and "visited <pattern>" entry triggers."""
    counts: Counter[str] = Counter()
    rows = session.execute(select(WebVisit.id, WebVisit.contact_id, WebVisit.url, WebVisit.path,
                                  WebVisit.recorded_at, WebVisit.occurred_at)
                           .where(among(session, WebVisit.id, ids), WebVisit.contact_id.is_not(None), human_visit())
                           .order_by(WebVisit.id)).all()
    if not rows:
        return counts
    by_contact: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        by_contact[row.contact_id].append(row)
    hits: dict[int, str] = {}
    for wid, contact_id, entered, until in _waiting_for(session, plans, by_contact):
        if until.get("kind") != "visit":
            continue
        for row in by_contact[contact_id]:
            if row.recorded_at >= entered and pattern_matches(until["page"], row.url, row.path):
                hits[wid] = f"visited {row.path}"[:200]
                break
    _move_waiting(session, plans, hits, now, counts)
    fresh = [r for r in rows if r.occurred_at >= now - TRIGGER_MAX_AGE]
    for plan in plans.values():
        for trigger in plan.settings.get("entry") or [] if plan.live else []:
            if trigger.get("kind") != "visit":
                continue
            for row in fresh:
                if pattern_matches(trigger["page"], row.url, row.path):
                    counts["enrolled"] += len(_enrol(session, plan, [row.contact_id], now, source=f"visit:{row.id}",
                                                    once_per_source=True))
    return counts


# ------------------------------------------------------------------ periodic: segments, lists, dates
def _periodic(svc: Services, plan: Plan, now: datetime) -> Counter[str]:
    """Segment and list entry, segment exit and segment goal of one journey (its own transaction)."""
    counts: Counter[str] = Counter()
    with svc.db.begin() as session:
        ever = exists().where(JourneyEnrolment.journey_id == plan.journey_id,
                              JourneyEnrolment.contact_id == Contact.id)
        for trigger in plan.settings.get("entry") or []:
            if trigger.get("kind") == "segment":
                segment = session.get(Segment, int(trigger["segment_id"]))
                if segment is None:
                    continue
                matching = segment_contact_ids(segment.rules or {}, now)
                if plan.settings.get("reentry"):
                    ids = _segment_entrants(session, plan.journey_id, segment.id, matching)
                else:  # entering the segment: contacts in it who never walked this journey
                    ids = list(session.scalars(matching.where(~ever)))
                counts["enrolled"] += len(_enrol(session, plan, ids, now, source=f"segment:{segment.id}"))
            elif trigger.get("kind") == "list":
                since = session.scalar(select(func.min(JourneyVersion.published_at))
                                       .where(JourneyVersion.journey_id == plan.journey_id))
                later = exists().where(JourneyEnrolment.journey_id == plan.journey_id,
                                       JourneyEnrolment.contact_id == ContactListMember.contact_id,
                                       JourneyEnrolment.enrolled_at >= ContactListMember.added_at)
                query = select(ContactListMember.contact_id).where(
                    ContactListMember.list_id == int(trigger["list_id"]), ~later)
                if since is not None:
                    query = query.where(ContactListMember.added_at >= since)
                ids = list(session.scalars(query))
                counts["enrolled"] += len(_enrol(session, plan, ids, now, source=f"list:{trigger['list_id']}"))
        ends: dict[tuple[int, int], tuple[str, str]] = {}
        exit_rule = plan.settings.get("exit") or {}
        if exit_rule.get("segment_id"):
            segment = session.get(Segment, int(exit_rule["segment_id"]))
            if segment is not None:
                inside = Contact.id.in_(segment_contact_ids(segment.rules or {}, now))
                when = exit_rule.get("segment_when") or "left"
                matched = select(JourneyEnrolment.contact_id).join(Contact, Contact.id == JourneyEnrolment.contact_id) \
                    .where(JourneyEnrolment.journey_id == plan.journey_id, JourneyEnrolment.status == "active",
                           inside if when == "in" else ~inside)
                for contact_id in session.scalars(matched):
                    ends[(plan.journey_id, contact_id)] = (EXITED, f"segment {when}: {segment.name}")
        goal = plan.settings.get("goal") or {}
        if goal.get("kind") == "segment":
            segment = session.get(Segment, int(goal["segment_id"]))
            if segment is not None:
                rules = compile_rules(segment.rules or {}, now)
                for contact_id in session.scalars(
                    select(JourneyEnrolment.contact_id).join(Contact, Contact.id == JourneyEnrolment.contact_id)
                    .where(JourneyEnrolment.journey_id == plan.journey_id, JourneyEnrolment.status == "active", rules)
                ):
                    ends.setdefault((plan.journey_id, contact_id), (CONVERTED, f"goal: segment {segment.name}"))
        _end_walks(session, {plan.journey_id: plan}, ends, now, counts)
    return counts


def _segment_entrants(session: Session, journey_id: int, segment_id: int, matching: Any) -> list[int]:
    """Contacts who entered the segment since its last evaluation for this journey (re-entry allowed): not in
    the snapshot journey_segment_members, which is then replaced by who matches now. A contact who stays in
    the segment enters once; one who leaves and comes back enters again (and walks again if it has no
    active walk: walk_entry decides)."""
    members = JourneySegmentMember
    mine = (members.journey_id == journey_id) & (members.segment_id == segment_id)
    session.execute(delete(members).where(mine, members.contact_id.not_in(matching)))
    run_id = uuid.uuid4().hex
    session.execute(dialect_insert(session, JourneySegmentMember).from_select(
        ["journey_id", "segment_id", "contact_id", "run_id"],
        select(literal(journey_id), literal(segment_id), Contact.id, literal(run_id)).where(
            Contact.id.in_(matching), ~exists().where(mine, members.contact_id == Contact.id)),
    ).on_conflict_do_nothing())
    return list(session.scalars(select(members.contact_id).where(mine, members.run_id == run_id)))


def _dates(svc: Services, plan: Plan, now: datetime) -> Counter[str]:
    """Date triggers (N days before / after a date, at an hour in the contact's zone): contacts whose moment
    fell since the last check start a walk. The date is a contact attribute (once per date) or a property of
    an event (`event` names it; without it any event with that property): once per event, the walk carrying
    the event's properties as its context (the day before the seminar a contact registered for)."""
    counts: Counter[str] = Counter()
    triggers = [t for t in plan.settings.get("entry") or []
                if t.get("kind") == "date" and (t.get("attribute") or t.get("event_property"))]
    if not triggers:
        return counts
    with svc.db.begin() as session:
        name = f"date:{plan.journey_id}"
        cursor = session.get(JourneyCursor, name)
        if cursor is None:
            session.add(JourneyCursor(name=name, last_id=int(now.timestamp()), updated_at=now))
            return counts
        since = datetime.fromtimestamp(cursor.last_id, tz=now.tzinfo)
        account_zone = get_account(session).timezone
        for trigger in triggers:
            offset, hour = int(trigger.get("offset_days", 0)), int(trigger.get("hour", 9))
            first = (since - timedelta(days=offset + 2)).date()
            days = [(first + timedelta(days=i)).isoformat() for i in range((now - since).days + 5)][:400]

            def fell(raw: Any, zone_name: str | None, offset: int = offset, hour: int = hour) -> str | None:
                """The date's day when its moment fell in (since, now], else None."""
                day = parse_day(raw)
                if day is None:
                    return None
                moment = local_moment(day + timedelta(days=offset), hour, timezones.zone(zone_name, account_zone))
                return day.isoformat() if since < moment <= now else None

            if trigger.get("attribute"):
                key = str(trigger["attribute"])
                value = json_text(Contact.attributes, literal(key), literal(f'$."{key}"'))
                ids: dict[str, list[int]] = defaultdict(list)
                for contact_id, zone_name, raw in session.execute(select(Contact.id, Contact.timezone, value).where(
                        func.substr(value, 1, 10).in_(days))):
                    when = fell(raw, zone_name)
                    if when is not None:
                        ids[when].append(contact_id)
                for when, contact_ids in ids.items():
                    counts["enrolled"] += len(_enrol(session, plan, contact_ids, now, source=f"date:{key}:{when}",
                                                    once_per_source=True))
                continue
            key = str(trigger["event_property"])
            value = json_text(Event.properties, literal(key), literal(f'$."{key}"'))
            query = select(Event.id, Event.contact_id, Contact.timezone, value, Event.properties) \
                .join(Contact, Contact.id == Event.contact_id).where(func.substr(value, 1, 10).in_(days))
            if trigger.get("event"):
                query = query.where(Event.name == str(trigger["event"]))
            for event_id, contact_id, zone_name, raw, props in session.execute(query.order_by(Event.id)):
                if fell(raw, zone_name) is not None:
                    counts["enrolled"] += len(_enrol(
                        session, plan, [contact_id], now, source=f"date:{key}:{event_id}", once_per_source=True,
                        context=props if isinstance(props, dict) else {}))
        cursor.last_id = int(now.timestamp())
        cursor.updated_at = now
    return counts
