"""The journey engine: one pass per scheduler tick (campaigns.scheduler runs `tick` as a duty, before it
enqueues, so mails planned here go out in the same tick).

1. Happenings (happenings.py): new events, human hits and stage changes since the id cursors move waiting
   walks on by "happened" (due now), start walks for entry triggers, convert walks that reached a goal and
   exit walks that met an exit condition; periodic ones (segments, lists, dates) at their own pace.
2. Due walks: active walks of live journeys whose `due_at` has passed, read in keyset chunks through the
   partial index ix_journey_enrolments_due (in its order, no parallel plan: `read_due`) and locked by the
   chunk's transaction (PostgreSQL: FOR UPDATE
   SKIP LOCKED, so a second scheduler takes other rows; SQLite: the write lock from before the read).
   A chunk is grouped by (version, node) and each group runs as a batch (nodes.py). A walk that leaves a
   node enters the next one due now, and the chunk runs the next round, through zero-time nodes, up to
   CHAIN_LIMIT rounds. Then every walk is written with ONE compare-and-set UPDATE on (id, node_key, visit)
   (walks.write_moves), with its path log; the chunk commits and its new sends are enqueued.

Exactly once: a walk is moved only by the transaction that locked it, and written only where it still stands
where it was read; if not, the chunk rolls back whole (walks.LostRace) and the next tick runs it again. Mails
are ledger rows UNIQUE per (walk, node, visit) (ON CONFLICT DO NOTHING), so even a replay after a crash
between commit and enqueue sends nothing twice (sending.requeue_stale re-enqueues the rows).

One broken journey never stalls the rest: each (version, node) group runs under a savepoint; a group that
fails (a segment that no longer compiles, a gone hand-over trigger, a bug) is rolled back to it, logged,
its walks are left at that node and looked at again after BROKEN_RETRY, and that journey is skipped for the
rest of the tick. Nothing after a group failure is lost: the walks keep the moves they made before it.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, literal, literal_column, or_, text, tuple_
from sqlalchemy.orm import Session

from campaigns.automation import happenings
from campaigns.automation.batch import Batch
from campaigns.automation.nodes import run_node
from campaigns.automation.walks import (
    LostRace,
    Plan,
    Walk,
    live_journeys,
    load_plans,
    walk_from_row,
    walks_query,
    write_moves,
)
from campaigns.db import UTCDateTime
from campaigns.delivery import sending
from campaigns.models import JourneyEnrolment
from campaigns.runtime import Services, is_outage
from campaigns.scoring.handover import enqueue_due
from campaigns.users import get_account

log = logging.getLogger("nurture.journeys")

DUE_CHUNK = 5000  # walks per transaction (PostgreSQL)
SQLITE_DUE_CHUNK = 1000
THREADS = 2  # PostgreSQL: chunks run side by side, each in its own transaction
CHAIN_LIMIT = 50  # zero-time nodes one walk may pass in one tick (the validator forbids loops without waits)
CHAIN_PAUSE = timedelta(seconds=1)  # a walk past the chain limit goes on at the next tick
BROKEN_RETRY = timedelta(minutes=15)  # a journey whose data failed is looked at again after this

# The partial index ix_journey_enrolments_due holds active rows only: the predicate as a literal, so
# PostgreSQL matches it against the index predicate in every plan.
_ACTIVE = JourneyEnrolment.status == literal_column("'active'")


def tick(svc: Services, now: datetime, keepalive: Callable[[], Any] | None = None) -> Counter[str]:
    """Match what happened, then run every due walk (the scheduler's "journeys" duty); returns counts."""
    counts: Counter[str] = Counter()
    counts.update(happenings.run(svc, now))
    counts.update(run_due(svc, now, keepalive))
    return Counter({k: v for k, v in counts.items() if v})


# ------------------------------------------------------------------ due walks
class _Run:
    """One pass over the due walks: the keyset position shared by the chunk threads, and the journeys that
    failed in this pass (skipped from then on)."""

    def __init__(self, svc: Services, now: datetime, limit: int) -> None:
        self.svc, self.now, self.limit = svc, now, limit
        self.after: tuple[datetime, int] | None = None
        self.done = False
        self.broken: set[int] = set()
        self.plans: dict[int, Plan] = {}
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()


def run_due(svc: Services, now: datetime, keepalive: Callable[[], Any] | None = None) -> Counter[str]:
    """Run every walk due by `now`, chunk by chunk (tick; the benchmark)."""
    sqlite = svc.db.dialect == "sqlite"
    run = _Run(svc, now, SQLITE_DUE_CHUNK if sqlite else DUE_CHUNK)
    if sqlite:
        while _one_chunk(run):
            if keepalive is not None:
                keepalive()
        return run.counts
    with ThreadPoolExecutor(THREADS, thread_name_prefix="journeys") as pool:
        futures = [pool.submit(_chunks, run) for _ in range(THREADS)]
        # keepalive refreshes the scheduler's Redis lock, whose token is thread-local: call it from here
        while not all(f.done() for f in futures):
            for f in futures:
                try:
                    f.result(timeout=5)
                except TimeoutError:
                    break
            if keepalive is not None:
                keepalive()
        for f in futures:
            f.result()
    return run.counts


def _chunks(run: _Run) -> None:
    while _one_chunk(run):
        pass


def _due_query(session: Session, run: _Run, journeys: list[int], lock: bool = True) -> Any:
    """Due walks of these journeys (and test walks) with their contacts, in keyset order after run.after;
    locked for the chunk's transaction unless `lock` is False (the benchmark's "finding" figure)."""
    query = (
        walks_query(session)
        # live journeys' walks, and test walks (they walk a snapshot of a draft, which is never live)
        .where(_ACTIVE, JourneyEnrolment.due_at <= run.now,
               or_(JourneyEnrolment.journey_id.in_(journeys), JourneyEnrolment.test.is_(True)))
        .order_by(JourneyEnrolment.due_at, JourneyEnrolment.id)
        .limit(run.limit)
    )
    if run.after is not None:
        query = query.where(
            tuple_(JourneyEnrolment.due_at, JourneyEnrolment.id)
            > tuple_(literal(run.after[0], UTCDateTime()), literal(run.after[1], Integer())))
    if lock and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=JourneyEnrolment, skip_locked=True)
    return query


def read_due(session: Session, run: _Run, journeys: list[int], lock: bool = True) -> list[Any]:
    """The next chunk of due walks (`_due_query`). On PostgreSQL without parallel workers: with a large table
    the planner chose a parallel bitmap scan, a sort and a Gather Merge for these few thousand rows, whose
    worker start-up was most of the read (14.6 ms for 1,000 walks among 1,000,000 against 2.1 ms for the
    plain scan of ix_journey_enrolments_due in (due_at, id) order, which needs no sort); the setting is put
    back for the rest of the chunk's transaction."""
    if session.get_bind().dialect.name != "postgresql":
        return list(session.execute(_due_query(session, run, journeys, lock)).all())
    session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
    rows = list(session.execute(_due_query(session, run, journeys, lock)).all())
    session.execute(text("SET LOCAL max_parallel_workers_per_gather TO DEFAULT"))
    return rows


def _one_chunk(run: _Run) -> bool:
    """Claim, run and write one chunk in its own transaction; False when there is nothing more to do."""
    svc = run.svc
    batch: Batch | None = None
    try:
        with svc.db.begin() as session:
            conn = session.connection()
            if svc.db.dialect == "sqlite" and not conn.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
                conn.exec_driver_sql("BEGIN IMMEDIATE")  # read what nobody can change until this commits
            with run.lock:  # the keyset position moves as each thread claims its chunk
                if run.done:
                    return False
                journeys = sorted(set(live_journeys(session)) - run.broken) or [0]
                rows = read_due(session, run, journeys)
                if len(rows) < run.limit:
                    run.done = True
                if rows:
                    run.after = (rows[-1].due_at, rows[-1].id)
            if not rows:
                return False
            walks = [walk_from_row(r) for r in rows]
            batch = _run_chunk(run, session, walks)
            write_moves(session, walks, strict=True)
    except LostRace as exc:
        log.warning("journey walks changed under a chunk; it runs again next tick: %s", exc)
        with run.lock:
            run.counts["chunks_lost_race"] += 1
        return not run.done
    except Exception as exc:
        if is_outage(exc):
            raise
        log.error("a chunk of journey walks failed; it runs again next tick", exc_info=exc)
        with run.lock:
            run.counts["chunks_failed"] += 1
        return not run.done
    if batch is not None:
        if batch.send_ids:  # after the commit (sending.requeue_stale covers a crash in between)
            batch.counts["enqueued"] += len(batch.send_ids)
            batch.counts["jobs"] += sending.enqueue_sends(svc, sorted(batch.send_ids))
        if batch.deliveries:
            enqueue_due(svc, run.now)
        with run.lock:
            run.counts.update(batch.counts)
    return not run.done


def _run_chunk(run: _Run, session: Session, walks: list[Walk]) -> Batch:
    now = run.now
    account = get_account(session)
    batch = Batch(session, now, account.timezone, account.freq_cap_count, account.freq_cap_days)
    missing = {w.version_id for w in walks} - set(run.plans)
    if missing:
        loaded = load_plans(session, missing)
        with run.lock:
            run.plans.update(loaded)
    stopped: set[int] = set()  # walks of journeys that failed in this chunk: they stay where they are
    for _round in range(CHAIN_LIMIT):
        groups: dict[tuple[int, str], list[Walk]] = defaultdict(list)
        for w in walks:
            if w.active and w.id not in stopped and w.due_at is not None and w.due_at <= now:
                groups[(w.version_id, w.node_key)].append(w)
        if not groups:
            break
        for (version_id, key), group in sorted(groups.items()):
            plan = run.plans.get(version_id)
            journey_id = group[0].journey_id
            if plan is None or (journey_id in run.broken and not group[0].test):
                _stop(group, stopped, now)
                if plan is None:
                    _broken(run, journey_id, f"version {version_id} is missing")
                continue
            before = [w.snapshot() for w in group]
            counted = Counter(batch.counts)
            sent, delivered = len(batch.send_ids), batch.deliveries
            try:
                with session.begin_nested():
                    run_node(batch, plan, key, group)
            except Exception as exc:
                if is_outage(exc):
                    raise
                log.error("journey %s (%s), node %s: %s; its walks wait, the other journeys go on",
                          journey_id, plan.journey_name, key, exc, exc_info=exc)
                _broken(run, journey_id, str(exc))
                for w, state in zip(group, before, strict=True):
                    w.restore(state)
                batch.counts = counted
                del batch.send_ids[sent:]
                batch.deliveries = delivered
                batch.versions.clear()
                _stop(group, stopped, now)
                batch.counts["groups_failed"] += 1
    for w in walks:  # past the chain limit: on at the next tick
        if w.active and w.id not in stopped and w.due_at is not None and w.due_at <= now:
            w.hold(now + CHAIN_PAUSE)
            batch.counts["chain_paused"] += 1
    batch.counts["walks"] += len(walks)
    return batch


def _broken(run: _Run, journey_id: int, reason: str) -> None:
    with run.lock:
        run.broken.add(journey_id)


def _stop(group: list[Walk], stopped: set[int], now: datetime) -> None:
    for w in group:
        if w.active:
            w.hold(now + BROKEN_RETRY, waiting=w.waiting)
        stopped.add(w.id)
