"""The scheduler tick: plan due sequence steps and broadcasts into the send ledger, then enqueue them.

`worker.run_scheduler` calls `tick(svc)` every few seconds. One tick:
1. plans due steps: active enrolments of active sequences whose next_due_at has passed (sequences made
   since migration 0012: the ones it converted have the status "converted" and run as journeys, duty 4), read in
   chunks through the partial index ix_enrollments_due, each chunk in its own short transaction;
   send windows, the frequency cap and exit conditions decide per enrolment whether a Send row is
   written now or the enrolment waits (its next_due_at moves to the next allowed moment);
2. plans due broadcasts with one INSERT .. SELECT per broadcast;
3. enqueues the new sends' ids (jobs of sending.job_size ids) right AFTER each planning
   transaction commits. The rows are written with enqueued_at already set (a second UPDATE of every
   planned row would cost more than planning it); if the process dies between commit and enqueue,
   campaigns.delivery.sending.requeue_stale, called here every REQUEUE_EVERY seconds, re-enqueues queued rows
   whose enqueued_at is older than the send lease. Rows someone wrote without enqueued_at are swept
   up and enqueued too.

Two schedulers at once: a Redis lock per tick keeps the second one idle (no wasted work). Without
it (lock=False) they still never plan a send twice: an enrolment is advanced only where it is still
active with the due time the planner read (on PostgreSQL the UPDATE takes the row lock; a second
planner's UPDATE waits, then finds the row changed and skips it), sends are inserted only for the
enrolments actually advanced, and the ledger is UNIQUE per (enrolment, step) with ON CONFLICT DO
NOTHING as the last guard. On SQLite each chunk holds the write lock from before its read.

One bad object never stalls the rest: each duty runs on its own (one that fails is logged and the next
runs; an outage of Redis or the database, runtime.is_outage, still ends the tick once, to be retried).
Inside the duties each broadcast has its own transaction and one that cannot be planned is marked failed
with a reason the marketer reads on its page; a chunk of due enrolments that fails is written again in
halves, under savepoints, down to the one enrolment, which is exited with its reason; A/B tests
(experiments.decision.tick) and stalled imports are settled one by one the same way.

One job over ~800 lines: planning due sends into the ledger, per tick, with the duties that must run
in the same locked tick (broadcasts, A/B sends, requeues, import restarts); each duty is its own function.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from redis.exceptions import LockError
from sqlalchemy import (
    Integer,
    String,
    bindparam,
    delete,
    exists,
    func,
    literal,
    literal_column,
    select,
    text,
    tuple_,
    type_coerce,
    update,
)
from sqlalchemy.orm import Session

from campaigns import queueing, timezones
from campaigns.audience import segment_counts, segment_triggers
from campaigns.audience.segments import SegmentError, broadcast_audience
from campaigns.automation import engine as journey_engine
from campaigns.db import UTCDateTime, dialect_insert, now_utc
from campaigns.delivery import sending
from campaigns.experiments import assignment, decision
from campaigns.insights import reports
from campaigns.journeys import sequences as journeys_sequences
from campaigns.leads.imports import recover_stalled_imports
from campaigns.models import (
    Broadcast,
    BroadcastStatus,
    Contact,
    ContactStatus,
    Enrollment,
    EnrollmentStatus,
    Segment,
    Send,
    SendStatus,
    Sequence,
    SequenceStatus,
    Step,
    Suppression,
    Template,
    sends,
)
from campaigns.models.api import IDEMPOTENCY_TTL, IdempotencyKey
from campaigns.runtime import Services, is_outage
from campaigns.sql_functions import among, ascii_lower, pg_array
from campaigns.text import storable
from campaigns.users import get_account

log = logging.getLogger("nurture.scheduler")

DUE_CHUNK = 5000  # enrolments per planning transaction: big enough for bulk SQL, short enough for locks
SQLITE_DUE_CHUNK = 1000  # SQLite caps bound parameters per statement
PLANNER_THREADS = 2  # PostgreSQL only; see plan_due_steps
ENQUEUE_CHUNK = 20000
LOCK_KEY = "nurture:scheduler:lock"
LOCK_TTL = 60  # seconds; refreshed after every chunk, so only a dead scheduler lets it lapse
REQUEUE_KEY = "nurture:scheduler:requeue-stale"
REQUEUE_EVERY = 30  # seconds between calls of sending.requeue_stale
MISSING_VERSION_RETRY = timedelta(hours=1)

# Plain strings for the hot loop: enum member lookups cost more than the comparisons themselves.
_ACTIVE, _EXITED, _COMPLETED = (str(s.value) for s in (
    EnrollmentStatus.ACTIVE, EnrollmentStatus.EXITED, EnrollmentStatus.COMPLETED))
_CONTACT_ACTIVE = str(ContactStatus.ACTIVE.value)

# The partial index ix_enrollments_due holds active rows only. The predicate is written as a literal,
# not a bound parameter, so PostgreSQL can match it against the index predicate in every plan.
_ENROLLMENT_ACTIVE = Enrollment.status == literal_column("'active'")


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
            ("segment triggers", lambda: run_segment_triggers(svc, when)),
            ("sequence steps", lambda: plan_due_steps(svc, when, keepalive=keepalive)),
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
            # still runs, so a broken broadcast cannot stop sequences, A/B decisions, enqueuing or requeues.
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


def run_segment_triggers(svc: Services, now: datetime) -> Counter[str]:
    """At most once per SEGMENT_EVERY seconds, enrol and exit by segment (segment_triggers, whole-segment
    queries: one transaction per sequence)."""
    if not once_every(svc, segment_triggers.SEGMENT_KEY, segment_triggers.SEGMENT_EVERY):
        return Counter()
    return segment_triggers.run_segment_triggers(svc.db, now)


# ------------------------------------------------------------------ sequence steps
@dataclass(frozen=True)
class _StepInfo:
    id: int
    position: int
    delay: timedelta
    window_days: str
    start_hour: int | None
    end_hour: int | None
    version_id: int | None

    @property
    def windowed(self) -> bool:
        return bool(self.window_days) or self.start_hour is not None or self.end_hour is not None


@dataclass(frozen=True)
class _SequenceInfo:
    id: int
    steps: list[_StepInfo]
    exit_stages: frozenset[str]


def _active_sequences(session: Session) -> dict[int, _SequenceInfo]:
    rows = session.execute(
        select(Sequence.id, Sequence.exit_stages, Step, Template.current_version_id)
        .join(Step, (Step.sequence_id == Sequence.id) & Step.deleted.is_(False))
        .join(Template, Template.id == Step.template_id)
        .where(Sequence.status == SequenceStatus.ACTIVE)
        .order_by(Sequence.id, Step.position, Step.id)
    ).all()
    steps: dict[int, list[_StepInfo]] = defaultdict(list)
    stages: dict[int, frozenset[str]] = {}
    for sequence_id, exit_stages, step, version_id in rows:
        stages[sequence_id] = frozenset(exit_stages or ())
        steps[sequence_id].append(_StepInfo(
            step.id, step.position, timedelta(minutes=step.delay_minutes), step.window_days or "",
            step.window_start_hour, step.window_end_hour, version_id,
        ))
    # An active sequence whose steps were all removed still needs its enrolments finished.
    for sequence_id, exit_stages in session.execute(
        select(Sequence.id, Sequence.exit_stages).where(Sequence.status == SequenceStatus.ACTIVE)
    ):
        stages.setdefault(sequence_id, frozenset(exit_stages or ()))
    return {sid: _SequenceInfo(sid, steps.get(sid, []), stages[sid]) for sid in stages}


def _enqueue(svc: Services, send_ids: list[int]) -> int:
    """Enqueue planned sends as delivery jobs (sending.enqueue_sends); returns the job count."""

    return sending.enqueue_sends(svc, send_ids)


def _due_query(sequence_ids: list[int], now: datetime, after: tuple[datetime, int] | None, limit: int) -> Any:
    query = (
        select(
            Enrollment.id, Enrollment.contact_id, Enrollment.sequence_id, Enrollment.next_due_at,
            Enrollment.next_position, Enrollment.last_step_id, Enrollment.last_planned_at,
            Enrollment.enrolled_at,
            # Read as plain text: the planner compares them to strings; no enum construction per row.
            type_coerce(Contact.status, String).label("status"), Contact.timezone,
            type_coerce(Contact.stage, String).label("stage"),
            Suppression.id.label("suppression_id"),
        )
        .join(Contact, Contact.id == Enrollment.contact_id)
        # case-insensitive on the whole address: keys are stored folded, the unique index serves the probe
        .outerjoin(Suppression, Suppression.email == ascii_lower(Contact.email))
        .where(_ENROLLMENT_ACTIVE, Enrollment.next_due_at <= now, Enrollment.sequence_id.in_(sequence_ids))
        .order_by(Enrollment.next_due_at, Enrollment.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(
            tuple_(Enrollment.next_due_at, Enrollment.id)
            > tuple_(literal(after[0], UTCDateTime()), literal(after[1], Integer()))
        )
    return query


def find_due(session: Session, now: datetime, limit: int = 1000) -> list[int]:
    """Ids of up to `limit` due enrolments of active sequences, oldest first (planner; benchmark)."""
    sequence_ids = list(session.scalars(select(Sequence.id).where(Sequence.status == SequenceStatus.ACTIVE)))
    if not sequence_ids:
        return []
    return [row.id for row in session.execute(_due_query(sequence_ids, now, None, limit))]


@dataclass(frozen=True)
class _Chunk:
    rows: list[Any]
    sequences: dict[int, _SequenceInfo]
    account_timezone: str
    cap_count: int
    cap_days: int


def _read_chunk(session: Session, now: datetime, after: tuple[datetime, int] | None, limit: int) -> _Chunk | None:
    sequences = _active_sequences(session)
    if not sequences:
        return None
    # Core execution on the session's connection: plain rows, without the ORM's per-row loading cost.
    rows = list(session.connection().execute(_due_query(list(sequences), now, after, limit)).all())
    account = get_account(session)
    return _Chunk(rows, sequences, account.timezone, account.freq_cap_count, account.freq_cap_days)


def plan_due_steps(svc: Services, now: datetime, keepalive: Any = None) -> Counter[str]:
    """Plan every due step chunk by chunk and enqueue each chunk's sends right after its commit
    (called by tick).

    PostgreSQL: this thread reads chunks of due rows (keyset order, no locks) and PLANNER_THREADS
    threads write them, each chunk in its own transaction, so the database writes one chunk while the
    next is read and prepared. A writer updates the enrolments first, only where they are still active
    with the due time that was read, and inserts sends only for the rows it updated: a concurrent
    exit, edit or second scheduler either happened before (the row is skipped) or waits for the row
    lock and then sees the committed sends. SQLite: one thread; each chunk takes the write lock
    before reading (BEGIN IMMEDIATE), so it reads what no one else can change until it commits."""
    if svc.db.dialect == "sqlite":
        return _plan_serial(svc, now, SQLITE_DUE_CHUNK, keepalive)
    counts: Counter[str] = Counter()
    after: tuple[datetime, int] | None = None
    with ThreadPoolExecutor(PLANNER_THREADS, thread_name_prefix="planner") as pool:
        in_flight: set[Future[tuple[Counter[str], list[int]]]] = set()
        while True:
            with svc.db.begin() as session:
                chunk = _read_chunk(session, now, after, DUE_CHUNK)
            if chunk is None or not chunk.rows:
                break
            in_flight.add(pool.submit(_write_chunk_in_transaction, svc, chunk, now))
            while len(in_flight) >= PLANNER_THREADS:
                done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                _collect(svc, done, counts)
            if keepalive is not None:
                keepalive()  # the Redis lock's token is thread-local: refresh it from this thread
            if len(chunk.rows) < DUE_CHUNK:
                break
            last = chunk.rows[-1]
            after = (last.next_due_at, last.id)
        done, _ = wait(in_flight)
        _collect(svc, done, counts)
    return counts


def _write_chunk_in_transaction(svc: Services, chunk: _Chunk, now: datetime) -> tuple[Counter[str], list[int]]:
    with svc.db.begin() as session:
        return _write_isolated(session, chunk, now)


def _write_isolated(session: Session, chunk: _Chunk, now: datetime) -> tuple[Counter[str], list[int]]:
    """Write a chunk under a savepoint; if it fails, write each half the same way, down to single
    enrolments, so a failure that belongs to one enrolment exits that one with the reason and plans
    the rest (chunk writers). Costs nothing while chunks succeed; a broken chunk costs ~2n savepoints."""
    try:
        with session.begin_nested():
            return _write_chunk(session, chunk, now)
    except Exception as exc:
        if is_outage(exc):
            raise
        if len(chunk.rows) == 1:
            log.error("enrolment %s could not be planned; it is exited with the reason", chunk.rows[0].id,
                      exc_info=exc)
            _fail_enrollment(session, chunk.rows[0], now)
            return Counter({"enrollments_failed": 1}), []
        half = len(chunk.rows) // 2
        first = _write_isolated(session, replace(chunk, rows=chunk.rows[:half]), now)
        second = _write_isolated(session, replace(chunk, rows=chunk.rows[half:]), now)
        return first[0] + second[0], first[1] + second[1]


ENROLLMENT_FAILED = "failed: the next mail could not be planned (an unexpected error, logged for the administrator)"


def _fail_enrollment(session: Session, row: Any, now: datetime) -> None:
    """Exit one enrolment whose planning fails on its own, with the reason shown on the contact page;
    only if it is still active with the due time that was read (like every planner write)."""
    session.execute(
        update(Enrollment)
        .where(Enrollment.id == row.id, _ENROLLMENT_ACTIVE, Enrollment.next_due_at == row.next_due_at)
        .values(status=EnrollmentStatus.EXITED, exit_reason=ENROLLMENT_FAILED[:200], finished_at=now,
                next_due_at=None)
        .execution_options(synchronize_session=False)
    )


def _collect(svc: Services, done: set[Future[tuple[Counter[str], list[int]]]], counts: Counter[str]) -> None:
    for future in done:
        chunk_counts, send_ids = future.result()
        counts.update(chunk_counts)
        if send_ids:
            counts["jobs"] += _enqueue(svc, send_ids)
            counts["enqueued"] += len(send_ids)


def _plan_serial(svc: Services, now: datetime, limit: int, keepalive: Any) -> Counter[str]:
    counts: Counter[str] = Counter()
    after: tuple[datetime, int] | None = None
    while True:
        with svc.db.begin() as session:
            # Take SQLite's write lock before reading: the chunk is planned from rows nobody else can
            # change (an exit, an edit, another scheduler) until this transaction commits.
            conn = session.connection()
            if not conn.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            chunk = _read_chunk(session, now, after, limit)
            if chunk is None or not chunk.rows:
                return counts
            chunk_counts, send_ids = _write_isolated(session, chunk, now)
        counts.update(chunk_counts)
        if send_ids:
            counts["jobs"] += _enqueue(svc, send_ids)
            counts["enqueued"] += len(send_ids)
        if keepalive is not None:
            keepalive()
        if len(chunk.rows) < limit:
            return counts
        last = chunk.rows[-1]
        after = (last.next_due_at, last.id)


def _write_chunk(session: Session, chunk: _Chunk, now: datetime) -> tuple[Counter[str], list[int]]:
    """Decide and write one chunk of due enrolments; returns counts and the new send ids."""
    counts: Counter[str] = Counter()
    rows, sequences = chunk.rows, chunk.sequences
    cap_count, cap_days = chunk.cap_count, chunk.cap_days
    conn = session.connection()
    enrollment_ids = [r.id for r in rows]
    contact_ids = sorted({r.contact_id for r in rows})

    ledger: dict[int | None, set[int | None]] = defaultdict(set)
    for enrollment_id, step_id in conn.execute(
        select(Send.enrollment_id, Send.step_id).where(among(session, Send.enrollment_id, enrollment_ids))
    ).all():
        ledger[enrollment_id].add(step_id)
    recent: dict[int, list[datetime]] = defaultdict(list)
    if cap_count > 0 and cap_days > 0:
        for contact_id, created_at in conn.execute(
            select(Send.contact_id, Send.created_at).where(
                among(session, Send.contact_id, contact_ids),
                Send.created_at > now - timedelta(days=cap_days),
                Send.status.in_(sends.COUNTED_STATUSES),
            )
        ).all():
            recent[contact_id].append(created_at)

    new_sends: dict[int, dict[str, Any]] = {}  # enrollment id -> the send to write for it
    states: list[dict[str, Any]] = []  # the enrolments' new state
    zones: dict[str | None, ZoneInfo] = {}
    for (eid, contact_id, sequence_id, due_at, next_position, last_step_id, last_planned_at, enrolled_at,
         status, timezone, stage, suppression_id) in rows:
        state = {
            "id": eid, "seen": due_at, "status": _ACTIVE,
            "next_due_at": due_at, "next_position": next_position, "last_step_id": last_step_id,
            "last_planned_at": last_planned_at, "exit_reason": "", "finished_at": None, "planned": False,
        }
        states.append(state)
        info = sequences[sequence_id]
        if status != _CONTACT_ACTIVE or suppression_id is not None:
            reason = str(status) if status != _CONTACT_ACTIVE else "suppressed"
            state.update(status=_EXITED, exit_reason=reason, finished_at=now, next_due_at=None)
            counts["exited"] += 1
            continue
        if stage in info.exit_stages:
            state.update(status=_EXITED, exit_reason=f"stage:{stage}", finished_at=now, next_due_at=None)
            counts["exited"] += 1
            continue
        done = ledger.get(eid, set())
        pending = [s for s in info.steps if s.id not in done]
        if not pending:
            state.update(status=_COMPLETED, finished_at=now, next_due_at=None)
            counts["completed"] += 1
            continue
        step = pending[0]
        base = last_planned_at or enrolled_at
        due = base + step.delay
        tz = zones.get(timezone) or zones.setdefault(timezone, timezones.zone(timezone, chunk.account_timezone))
        opening = due if due > now else now
        if step.windowed:
            opening = journeys_sequences.next_window_opening(opening, tz, step.window_days, step.start_hour, step.end_hour)
        if opening > now:
            # Not due yet (the sequence was edited) or outside the send window: wait for the opening.
            state.update(next_due_at=opening, next_position=step.position)
            counts["deferred_window" if due <= now else "rescheduled"] += 1
            continue
        allowed = journeys_sequences.next_allowed_by_cap(recent.get(contact_id, []), cap_count, cap_days)
        if allowed is not None and allowed > now:
            state.update(
                next_due_at=journeys_sequences.next_window_opening(
                    allowed, tz, step.window_days, step.start_hour, step.end_hour),
                next_position=step.position,
            )
            counts["deferred_cap"] += 1
            continue
        if step.version_id is None:
            # The template lost its current version: try again later rather than send nothing forever.
            state.update(next_due_at=now + MISSING_VERSION_RETRY)
            counts["deferred_no_version"] += 1
            continue
        new_sends[eid] = {
            "contact_id": contact_id, "enrollment_id": eid, "step_id": step.id,
            "template_version_id": step.version_id,
        }
        recent[contact_id].append(now)  # a second enrolment of this contact in this chunk sees it
        following = pending[1:]
        if following:
            nxt = following[0]
            state.update(next_due_at=now + nxt.delay, next_position=nxt.position,
                         last_step_id=step.id, last_planned_at=now, planned=True)
        else:
            state.update(status=_COMPLETED, next_due_at=None, next_position=step.position + 1,
                         last_step_id=step.id, last_planned_at=now, finished_at=now, planned=True)
            counts["completed"] += 1

    updated = _apply_updates(session, states, now)
    lost = [s for s in states if s["id"] not in updated]
    for state in lost:
        # Changed since it was read (an exit, an edit, another scheduler): leave it to the next tick.
        new_sends.pop(state["id"], None)
        if state["status"] == _COMPLETED:
            counts["completed"] -= 1
        elif state["status"] == _EXITED:
            counts["exited"] -= 1
    counts["skipped_changed"] += len(lost)
    inserted = _insert_sends(session, list(new_sends.values()), now)
    counts["planned"] += len(inserted)
    counts["conflicts"] += len(new_sends) - len(inserted)
    return Counter({k: v for k, v in counts.items() if v > 0}), [sid for sid, _ in inserted]


def _insert_sends(session: Session, rows: list[dict[str, Any]], now: datetime) -> list[tuple[int, int]]:
    """Insert Send rows ON CONFLICT DO NOTHING; returns (send id, enrollment id) of those inserted.

    enqueued_at is written here, with the planning time, and the ids are enqueued right after the
    commit: marking 100,000 rows in a second UPDATE would rewrite every index entry of each row
    (enqueued_at is indexed), which costs more than planning them. A crash between the commit and
    the enqueue leaves queued rows with an old enqueued_at, which sending.requeue_stale re-enqueues."""
    if not rows:
        return []
    rows = assignment.split_step_rows(session, rows)  # A/B-tested steps: each row's variant and version
    if session.get_bind().dialect.name == "postgresql":
        # unnest() of arrays: one statement and four parameters for thousands of rows.
        result = session.execute(
            text(
                "INSERT INTO sends (contact_id, enrollment_id, step_id, template_version_id, variant, status,"
                " attempts, possible_duplicate, error, created_at, enqueued_at)"
                " SELECT c, e, s, v, a, 'queued', 0, false, '', :now, :now"
                " FROM unnest(CAST(:c AS integer[]), CAST(:e AS integer[]), CAST(:s AS integer[]),"
                " CAST(:v AS integer[]), CAST(:a AS varchar[])) AS t(c, e, s, v, a)"
                " ON CONFLICT DO NOTHING RETURNING id, enrollment_id"
            ),
            {
                "now": now,
                "c": pg_array([r["contact_id"] for r in rows]),
                "e": pg_array([r["enrollment_id"] for r in rows]),
                "s": pg_array([r["step_id"] for r in rows]),
                "v": pg_array([r["template_version_id"] for r in rows]),
                "a": pg_array([r["variant"] for r in rows]),
            },
        )
        return [(int(a), int(b)) for a, b in result]
    values = [
        {**r, "status": SendStatus.QUEUED, "attempts": 0, "possible_duplicate": False,
         "error": "", "created_at": now, "enqueued_at": now}
        for r in rows
    ]
    out: list[tuple[int, int]] = []
    for start in range(0, len(values), 500):  # 11 columns each: under SQLite's parameter limit
        stmt = (
            dialect_insert(session, Send).values(values[start : start + 500])
            .on_conflict_do_nothing().returning(Send.id, Send.enrollment_id)
        )
        out.extend((int(a), int(b)) for a, b in session.execute(stmt))
    return out


_UPDATE_FIELDS = ("status", "next_due_at", "next_position", "last_step_id", "last_planned_at", "exit_reason",
                  "finished_at")


def _apply_updates(session: Session, states: list[dict[str, Any]], now: datetime) -> set[int]:
    """Write the enrolments' new state where each is still active with the due time that was read;
    returns the ids written (the rest changed meanwhile and are left alone)."""
    if not states:
        return set()
    if session.get_bind().dialect.name == "postgresql":
        result = session.execute(
            text(
                "UPDATE enrollments AS e SET status = u.status, next_due_at = u.next_due_at,"
                " next_position = u.next_position, last_step_id = u.last_step_id,"
                " last_planned_at = CASE WHEN u.planned THEN CAST(:now AS timestamptz) ELSE e.last_planned_at END,"
                " exit_reason = u.exit_reason,"
                " finished_at = CASE WHEN u.status = 'active' THEN NULL ELSE CAST(:now AS timestamptz) END"
                " FROM unnest(CAST(:id AS integer[]), CAST(:seen AS timestamptz[]), CAST(:status AS varchar[]),"
                " CAST(:due AS timestamptz[]), CAST(:pos AS integer[]), CAST(:step AS integer[]),"
                " CAST(:planned AS boolean[]), CAST(:reason AS varchar[]))"
                " AS u(id, seen, status, next_due_at, next_position, last_step_id, planned, exit_reason)"
                " WHERE e.id = u.id AND e.status = 'active' AND e.next_due_at = u.seen"
                " RETURNING e.id"
            ),
            {
                "now": now,
                "id": pg_array([st["id"] for st in states]),
                "seen": pg_array([st["seen"] for st in states]),
                "status": pg_array([st["status"] for st in states]),
                "due": pg_array([st["next_due_at"] for st in states]),
                "pos": pg_array([st["next_position"] for st in states]),
                "step": pg_array([st["last_step_id"] for st in states]),
                "planned": pg_array([st["planned"] for st in states]),
                "reason": pg_array([st["exit_reason"] for st in states]),
            },
        )
        return {int(i) for (i,) in result}
    # SQLite: the chunk holds the write lock since before it read the rows (BEGIN IMMEDIATE), so the
    # conditions below always hold; they stay as a guard.
    table = Enrollment.__table__
    stmt = (
        update(table)  # type: ignore[arg-type]
        .where(
            table.c.id == bindparam("b_id"),
            table.c.status == EnrollmentStatus.ACTIVE,
            table.c.next_due_at == bindparam("b_seen", type_=table.c.next_due_at.type),
        )
        .values({name: bindparam(f"b_{name}", type_=table.c[name].type) for name in _UPDATE_FIELDS})
    )
    keys = ("id", "seen", *_UPDATE_FIELDS)
    session.execute(stmt, [{f"b_{k}": st[k] for k in keys} for st in states])
    return {st["id"] for st in states}


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
                # Marked now and enqueued right after the commit (see _insert_sends for why).
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
