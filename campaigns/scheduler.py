"""The scheduler tick: plan due broadcasts and journey mails into the send ledger, then enqueue them.

`worker.run_scheduler` calls `tick(svc)` every few seconds. One tick:
1. plans due broadcasts with one INSERT .. SELECT per broadcast;
2. settles A/B tests (experiments.decision.tick: it plans the winner's sends);
3. runs the journey engine (campaigns.automation.engine.tick): due walks move, waits end, sends are
   written into the ledger. Sequences are linear journeys (docs/journeys.md, "From sequences to
   journeys"), so their mails are planned there too; the sequence planner that used to run here is gone;
4. enqueues queued sends nobody enqueued yet (jobs of sending.job_size ids) right AFTER the planning
   transactions commit. A broadcast's rows are written with enqueued_at already set and enqueued right
   after its commit (a second UPDATE of every planned row would cost more than planning it); if the
   process dies between commit and enqueue, campaigns.delivery.sending.requeue_stale, called here every
   REQUEUE_EVERY seconds, re-enqueues queued rows whose enqueued_at is older than the send lease;
5. periodic duties that must run in the same locked tick: report counts, stalled imports, idempotency keys.

Two schedulers at once: a Redis lock per tick keeps the second one idle (no wasted work). Without it
(lock=False) they still never plan a send twice: a broadcast is taken under a row lock (skip locked), the
journey engine moves a walk only where it still stands where it was read, and the ledger is UNIQUE per
(broadcast, contact) and per (walk, node, visit) with ON CONFLICT DO NOTHING as the last guard.

One bad object never stalls the rest: each duty runs on its own (one that fails is logged and the next
runs; an outage of Redis or the database, runtime.is_outage, still ends the tick once, to be retried).
Inside the duties each broadcast has its own transaction and one that cannot be planned is marked failed
with a reason the marketer reads on its page; A/B tests (experiments.decision.tick) and stalled imports
are settled one by one the same way.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from redis.exceptions import LockError
from sqlalchemy import (
    delete,
    exists,
    func,
    literal,
    literal_column,
    select,
    update,
)
from sqlalchemy.orm import Session

from campaigns import queueing
from campaigns.audience import segment_counts
from campaigns.audience.segments import SegmentError, broadcast_audience
from campaigns.automation import engine as journey_engine
from campaigns.db import dialect_insert, now_utc
from campaigns.delivery import sending
from campaigns.experiments import assignment, decision
from campaigns.insights import reports
from campaigns.leads.imports import recover_stalled_imports
from campaigns.models import (
    Broadcast,
    BroadcastStatus,
    Segment,
    Send,
    SendStatus,
    Template,
)
from campaigns.models.api import IDEMPOTENCY_TTL, IdempotencyKey
from campaigns.runtime import Services, is_outage
from campaigns.sql_functions import among
from campaigns.text import storable

log = logging.getLogger("nurture.scheduler")

ENQUEUE_CHUNK = 20000
LOCK_KEY = "nurture:scheduler:lock"
LOCK_TTL = 60  # seconds; refreshed after every chunk, so only a dead scheduler lets it lapse
REQUEUE_KEY = "nurture:scheduler:requeue-stale"
REQUEUE_EVERY = 30  # seconds between calls of sending.requeue_stale

def tick(svc: Services, *, now: datetime | None = None, lock: bool = True) -> dict[str, int]:
    """One pass of planning and enqueueing (worker.run_scheduler, tests); returns counts for the log."""
    guard = None
    if lock:
        guard = svc.redis.lock(LOCK_KEY, timeout=LOCK_TTL)
        if not guard.acquire(blocking=False):
            return {"skipped": 1}
    try:
        keepalive = guard.reacquire if guard is not None else (lambda: True)
        when: datetime = now or now_utc()
        duties: list[tuple[str, Callable[[], Counter[str]]]] = [
            ("broadcasts", lambda: plan_broadcasts(svc, when)),
            ("A/B tests", lambda: decision.tick(svc, when)),  # before enqueueing: it plans A/B sends
            ("journeys", lambda: journey_engine.tick(svc, when, keepalive)),  # before enqueueing: it plans mails
            ("enqueueing", lambda: enqueue_planned(svc, keepalive=keepalive)),
            ("stale sends", lambda: requeue_stale(svc, when)),
            ("report counts", lambda: refresh_report_counts(svc, when)),
            ("segment counts", lambda: refresh_segment_counts(svc, when)),
            ("stalled imports", lambda: restart_stalled_imports(svc, when)),
            ("idempotency keys", lambda: prune_idempotency_keys(svc, when)),
        ]
        counts: Counter[str] = Counter()
        outage: BaseException | None = None
        for name, duty in duties:
            # Each duty on its own: one that fails (a bug, data it cannot handle) is logged and the next one
            # still runs, so a broken broadcast cannot stop journeys, A/B decisions, enqueuing or requeues.
            try:
                counts.update(duty())
            except LockError:
                raise  # the lock is gone (another scheduler holds it now): stop here, it runs the duties
            except Exception as exc:
                counts["duties_failed"] += 1
                if is_outage(exc):
                    outage = outage or exc  # Redis or the database: the other duties try anyway
                else:
                    log.error("scheduler duty %r failed; the other duties go on", name, exc_info=exc)
        if outage is not None:
            raise outage  # reported once by the loop (runtime.log_loop_failure); the next tick retries
        return dict(counts)
    finally:
        if guard is not None:
            try:
                guard.release()
            except LockError:  # it expired during a very long tick; nothing left to release
                log.warning("scheduler lock expired before the tick ended")


def _enqueue(svc: Services, send_ids: list[int]) -> int:
    """Enqueue planned sends as delivery jobs (sending.enqueue_sends); returns the job count."""

    return sending.enqueue_sends(svc, send_ids)


def plan_broadcasts(svc: Services, now: datetime) -> Counter[str]:
    """Write the sends of every due scheduled broadcast, each in its own transaction, and mark finished
    ones sent (called by tick). A broadcast that cannot be planned (its segment does not compile, its
    data breaks the query) is marked failed with the reason; the others go out in the same tick."""
    counts: Counter[str] = Counter()
    with svc.db.begin() as session:
        due = list(session.scalars(
            select(Broadcast.id)
            .where(Broadcast.status == BroadcastStatus.SCHEDULED, Broadcast.scheduled_at <= now)
            .order_by(Broadcast.scheduled_at, Broadcast.id)
        ))
    for broadcast_id in due:
        planned: Counter[str] = Counter()
        try:
            with svc.db.begin() as session:
                started = _plan_broadcast(svc, session, broadcast_id, now, planned)
        except Exception as exc:
            if is_outage(exc):
                raise  # not this broadcast's fault: it stays scheduled and the next tick tries again
            log.error("broadcast %s could not be planned; it is marked failed", broadcast_id, exc_info=exc)
            counts["broadcasts_failed"] += _fail_broadcast(svc, broadcast_id, now, exc)
            continue
        counts.update(planned)
        if started:
            _enqueue_broadcast(svc, broadcast_id, counts)  # after its commit
    with svc.db.begin() as session:
        counts["broadcasts_sent"] += _finish_broadcasts(session, now)
    return Counter({k: v for k, v in counts.items() if v})


def _plan_broadcast(svc: Services, session: Session, broadcast_id: int, now: datetime,
                    counts: Counter[str]) -> bool:
    """Plan one due broadcast (plan_broadcasts); True when its sends were written and are to be enqueued."""
    broadcast = session.scalar(
        select(Broadcast)
        .where(Broadcast.id == broadcast_id, Broadcast.status == BroadcastStatus.SCHEDULED,
               Broadcast.scheduled_at <= now)
        .with_for_update(skip_locked=True)
    )
    if broadcast is None:
        return False  # changed since it was listed (cancelled, another scheduler has it)
    assert broadcast.scheduled_at is not None
    max_late = timedelta(hours=svc.settings.max_lateness_hours)
    late = now - broadcast.scheduled_at
    if late > max_late:
        # Mail about a webinar that already happened does more harm than none: leave it to
        # the marketer, with the reason on the broadcast.
        _cancel(broadcast, now, f"not sent: {late.total_seconds() / 3600:.1f} hours late "
                                f"(the limit is {svc.settings.max_lateness_hours:g} hours)")
        counts["broadcasts_too_late"] += 1
        return False
    version_id = session.scalar(
        select(Template.current_version_id).where(Template.id == broadcast.template_id)
    )
    if version_id is None:
        _cancel(broadcast, now, "not sent: the template has no saved version")
        counts["broadcasts_cancelled"] += 1
        return False
    audience = broadcast_audience(session, broadcast, now)
    if audience is None:
        log.warning("broadcast %s waits: segments are not available", broadcast.id)
        counts["broadcasts_waiting"] += 1
        return False
    if assignment.start_broadcast_test(session, broadcast, audience, now, counts):
        return False  # only the test portion goes now; experiments.decision sends the rest after the decision
    ids = audience.subquery()
    stmt = (
        dialect_insert(session, Send)
        .from_select(
            ["contact_id", "broadcast_id", "template_version_id", "variant", "status", "attempts",
             "possible_duplicate", "error", "created_at", "enqueued_at"],
            select(
                ids.c.id, literal(broadcast.id), literal(version_id), literal(""),
                literal(SendStatus.QUEUED.value), literal(0), literal(False), literal(""),
                literal(now, type_=Send.__table__.c.created_at.type),
                # Marked now and enqueued right after the commit (see the module doc for why).
                literal(now, type_=Send.__table__.c.enqueued_at.type),
            ).where(literal(True)),  # SQLite needs a WHERE before ON CONFLICT in INSERT .. SELECT
        )
        .on_conflict_do_nothing()
    )
    session.execute(stmt)
    # rowcount of INSERT .. SELECT is not reported by every driver: count the ledger instead.
    planned = int(session.scalar(
        select(func.count()).select_from(Send).where(Send.broadcast_id == broadcast.id)) or 0)
    broadcast.status = BroadcastStatus.SENDING
    broadcast.started_at = now
    broadcast.options = {**(broadcast.options or {}), "planned": planned}
    counts["broadcast_sends"] += planned
    counts["broadcasts_started"] += 1
    return True


def _enqueue_broadcast(svc: Services, broadcast_id: int, counts: Counter[str]) -> None:
    # One read of the ids (ints; a million is a few tens of MB) instead of sorted pages over a table
    # whose index for this broadcast is not in id order.
    with svc.db.begin() as session:
        ids = sorted(session.scalars(
            select(Send.id).where(Send.broadcast_id == broadcast_id, Send.status == SendStatus.QUEUED)
        ))
    for start in range(0, len(ids), ENQUEUE_CHUNK):
        chunk = ids[start : start + ENQUEUE_CHUNK]
        counts["jobs"] += _enqueue(svc, chunk)
        counts["enqueued"] += len(chunk)


# The reasons a marketer reads on the broadcast (English keys; Japanese in translations/text_rule.py).
SEGMENT_FAILED = ("Its segment “%(segment)s” cannot be used: %(problem)s. Fix the segment, then schedule the "
                  "broadcast again.")
BROADCAST_FAILED = ("It could not be prepared because of an unexpected error, which has been logged for your "
                    "administrator. Nothing was sent; schedule it again once the error is fixed.")


def broadcast_failure_reason(session: Session, broadcast: Broadcast, exc: BaseException) -> str:
    """Why a broadcast could not be planned, in words for the marketer (English; the UI translates)."""
    if isinstance(exc, SegmentError):
        segment = session.get(Segment, broadcast.segment_id) if broadcast.segment_id is not None else None
        name = segment.name if segment is not None else str(broadcast.segment_id)
        return SEGMENT_FAILED % {"segment": name, "problem": str(exc)}
    return BROADCAST_FAILED


def _fail_broadcast(svc: Services, broadcast_id: int, now: datetime, exc: BaseException) -> int:
    """Mark a broadcast failed with the reason, if it is still scheduled; 1 if it was marked."""
    with svc.db.begin() as session:
        broadcast = session.scalar(
            select(Broadcast).where(Broadcast.id == broadcast_id, Broadcast.status == BroadcastStatus.SCHEDULED)
            .with_for_update()
        )
        if broadcast is None:
            return 0
        broadcast.status = BroadcastStatus.FAILED
        broadcast.finished_at = now
        broadcast.failure_reason = storable(broadcast_failure_reason(session, broadcast, exc))
        return 1


def _cancel(broadcast: Broadcast, now: datetime, reason: str) -> None:
    broadcast.status = BroadcastStatus.CANCELLED
    broadcast.finished_at = now
    broadcast.options = {**(broadcast.options or {}), "cancel_reason": reason}


def _finish_broadcasts(session: Session, now: datetime) -> int:
    # Literal statuses so PostgreSQL matches the partial index ix_sends_broadcast_pending in any plan.
    pending = exists().where(
        Send.broadcast_id == Broadcast.id,
        Send.status.in_([literal_column("'queued'"), literal_column("'sending'")]),
    )
    result = session.execute(
        update(Broadcast)
        .where(Broadcast.status == BroadcastStatus.SENDING, ~pending, ~assignment.holds_broadcast(Broadcast.id))
        .values(status=BroadcastStatus.SENT, finished_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# ------------------------------------------------------------------ enqueueing
def enqueue_planned(svc: Services, keepalive: Any = None) -> Counter[str]:
    """Enqueue queued sends that were never enqueued, in jobs of sending.job_size ids, then mark
    them enqueued (called by tick after the planning transactions committed)."""
    counts: Counter[str] = Counter()
    while True:
        with svc.db.begin() as session:
            ids = list(session.scalars(
                select(Send.id)
                .where(Send.status == SendStatus.QUEUED, Send.enqueued_at.is_(None))
                .limit(ENQUEUE_CHUNK)
            ))
        if not ids:
            break
        ids.sort()
        counts["jobs"] += _enqueue(svc, ids)
        # Marked after the enqueue: a crash in between enqueues them again next tick, and delivery is
        # idempotent, whereas marking first could strand them until the stale sweep.
        with svc.db.begin() as session:
            session.execute(
                update(Send)
                .where(among(session, Send.id, ids), Send.enqueued_at.is_(None))
                .values(enqueued_at=now_utc())
                .execution_options(synchronize_session=False)
            )
        counts["enqueued"] += len(ids)
        if keepalive is not None:
            keepalive()
        if len(ids) < ENQUEUE_CHUNK:
            break
    return counts


def once_every(svc: Services, key: str, seconds: float) -> bool:
    """True at most once per `seconds` across every scheduler sharing this Redis (periodic duties)."""
    return bool(svc.redis.set(key, "1", nx=True, ex=max(1, int(seconds))))


def requeue_stale(svc: Services, now: datetime) -> Counter[str]:
    """Every REQUEUE_EVERY seconds, hand sends stuck after a crash to campaigns.delivery.sending.requeue_stale."""

    # Every half lease at most: a claim left by a dead worker is picked up within 1.5 leases.
    if not once_every(svc, REQUEUE_KEY, min(REQUEUE_EVERY, svc.settings.send_lease_seconds // 2)):
        return Counter()
    return Counter({"requeued": sending.requeue_stale(svc, now)})


REPORTS_KEY = "nurture:scheduler:report-counts"


def refresh_report_counts(svc: Services, now: datetime) -> Counter[str]:
    """Every reports.LEDGER_REFRESH_SECONDS, recount live campaigns' delivery counts for the reports."""

    if not once_every(svc, REPORTS_KEY, reports.LEDGER_REFRESH_SECONDS):
        return Counter()
    with svc.db.begin() as session:
        return Counter({"report_scopes": reports.refresh_live_ledgers(session, svc.redis, now)})


def refresh_segment_counts(svc: Services, now: datetime) -> Counter[str]:
    """Every tick, recount the segments whose list count is due, a few seconds at most
    (campaigns.audience.segment_counts.refresh_due)."""
    with svc.db.begin() as session:
        counted = segment_counts.refresh_due(session, svc.redis, now)
    return Counter({"segment_counts": counted}) if counted else Counter()


IMPORTS_KEY = "nurture:scheduler:stalled-imports"
IMPORTS_EVERY = 60  # seconds


def restart_stalled_imports(svc: Services, now: datetime) -> Counter[str]:
    """Every IMPORTS_EVERY seconds, run again the CSV imports whose worker died (contacts.recover_stalled_imports)."""

    if not once_every(svc, IMPORTS_KEY, IMPORTS_EVERY):
        return Counter()
    with svc.db.begin() as session:
        again = recover_stalled_imports(session, now)
    for import_id in again:  # after the commit
        queueing.enqueue_import(svc.queue, import_id)
    return Counter({"imports_restarted": len(again)}) if again else Counter()


PRUNE_KEY = "nurture:scheduler:prune-idempotency"
PRUNE_EVERY = 3600  # seconds


def prune_idempotency_keys(svc: Services, now: datetime) -> Counter[str]:
    """Hourly, delete API idempotency records past their lifetime, a few thousand per statement."""

    if not once_every(svc, PRUNE_KEY, PRUNE_EVERY):
        return Counter()
    deleted = 0
    while True:
        with svc.db.begin() as session:
            ids = list(session.scalars(select(IdempotencyKey.id).where(
                IdempotencyKey.created_at < now - IDEMPOTENCY_TTL).limit(5000)))
            if ids:
                session.execute(delete(IdempotencyKey).where(IdempotencyKey.id.in_(ids)))
        deleted += len(ids)
        if len(ids) < 5000:
            return Counter({"idempotency_pruned": deleted}) if deleted else Counter()
