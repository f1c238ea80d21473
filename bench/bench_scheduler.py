"""Scheduler benchmark on PostgreSQL: find due enrolments at scale, then plan and enqueue 100,000.

    .venv/bin/python bench/bench_scheduler.py \
        --database-url postgresql://postgres@127.0.0.1:5432/bench_h2 --redis-url redis://127.0.0.1:6379/2

Targets (issue 2, "Benchmarks"):
- with 1,000,000 enrolments of which 100,000 are due, `scheduler.tick` plans and enqueues the
  100,000 in at most 10 s;
- finding 1,000 due enrolments among 1,000,000 takes at most 1.5x finding 1,000 among 10,000.

The database is recreated from the models (tables only; it refuses a database holding other tables);
data is generated server-side with INSERT .. SELECT over generate_series (no row crosses the wire).
Every enrolment is active (the worst case for the partial due index). RQ jobs go to a queue of the
benchmark's own name on the given Redis DB, which is emptied afterwards.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import add_keep_db, proc_cpu_seconds, sql, timed, use_database  # noqa: E402
from campaigns import scheduler
from campaigns.db import Base, now_utc
from campaigns.journeys.sequences import create_sequence, set_sequence_status
from campaigns.models import Send, Template, TemplateVersion, create_all
from campaigns.users import get_account

QUEUE = "bench_h2_scheduler"


def fresh_schema(svc: Any) -> None:
    inspector = sa.inspect(svc.db.engine)
    foreign = set(inspector.get_table_names()) - set(Base.metadata.tables) - {"alembic_version"}
    if foreign:
        raise SystemExit(f"refusing: the database holds other tables {sorted(foreign)[:5]}")
    with svc.db.engine.begin() as conn:
        for table in Base.metadata.tables:
            conn.execute(sa.text(f'DROP TABLE IF EXISTS "{table}" CASCADE'))
    create_all(svc.db)


def _server_version(svc: Any) -> str:
    with svc.db.engine.connect() as conn:
        return str(conn.scalar(sa.text("SHOW server_version")))


def analyze(svc: Any) -> None:
    with svc.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE contacts, enrollments, sends"))


def add_enrolments(svc: Any, sequence_id: int, first: int, last: int, due_every: int) -> None:
    """Enrol contacts first..last; every `due_every`-th one is due (0-60 min ago), the rest 1-30 days ahead."""
    sql(
        svc,
        "INSERT INTO enrollments (contact_id, sequence_id, cycle, status, next_position, next_due_at,"
        " source_event, exit_reason, enrolled_at)"
        " SELECT g, :seq, 1, 'active', 1,"
        "  CASE WHEN g % :every = 0 THEN now() - (g % 60) * interval '1 minute'"
        "       ELSE now() + (1 + g % 30) * interval '1 day' + (g % 1440) * interval '1 minute' END,"
        "  'bench', '', now() - interval '1 hour'"
        " FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS g",
        seq=sequence_id, every=due_every, first=first, last=last,
    )


def measure_find(svc: Any, runs: int) -> float:
    """Median seconds for the planner's due query (scheduler.find_due) returning 1,000 rows."""
    samples = []
    for _ in range(runs):
        with svc.db.factory() as session:
            started = time.perf_counter()
            found = scheduler.find_due(session, now_utc(), limit=1000)
            samples.append(time.perf_counter() - started)
            session.rollback()
        assert len(found) == 1000, len(found)
    return statistics.median(samples)


def backend_cpu(svc: Any) -> dict[int, float]:
    """CPU seconds used so far by each PostgreSQL backend serving this database (same machine, /proc)."""
    with svc.db.engine.connect() as conn:
        pids = conn.scalars(sa.text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()")).all()
    out: dict[int, float] = {}
    for pid in pids:
        try:
            out[pid] = proc_cpu_seconds(pid)
        except OSError:
            continue
    return out


def _enrolment_count(svc: Any) -> int:
    try:
        with svc.db.engine.connect() as conn:
            return int(conn.scalar(sa.text("SELECT count(*) FROM enrollments")) or 0)
    except sa.exc.DBAPIError:
        return 0


def reset(svc: Any, small: int, extra: int) -> None:
    """Put a previous full run's data back into its state before the tick (100,000 due)."""
    sql(svc, "TRUNCATE sends CASCADE")
    sql(
        svc,
        "UPDATE enrollments SET status = 'active', next_position = 1, last_step_id = NULL,"
        " last_planned_at = NULL, finished_at = NULL, exit_reason = '',"
        " next_due_at = CASE WHEN (id <= :small AND id % 10 = 0) OR (id > :small AND id <= :small + :extra)"
        "  THEN now() - (id % 60) * interval '1 minute'"
        "  ELSE now() + (1 + id % 30) * interval '1 day' END"
        " WHERE last_planned_at IS NOT NULL OR status <> 'active' OR next_due_at <= now()"
        "  OR (id <= :small AND id % 10 = 0) OR (id > :small AND id <= :small + :extra)",
        small=small, extra=extra,
    )


def generate(svc: Any, args: Any, total: int, small: int, extra: int) -> None:
    """Fresh schema and data; measures finding 1,000 due among 10,000 and among 1,000,000 on the way."""
    print("data:", flush=True)
    timed("schema", lambda: fresh_schema(svc))
    with svc.db.begin() as s:
        account = get_account(s)  # default frequency cap (3 per 7 days) stays on: its ledger lookup is part of the cost
        account.company_name, account.postal_address = "Nurture Bench", "1-1-1 Marunouchi, Tokyo"
        account.contact_info, account.from_email = "support@bench.test", "marketing@bench.test"
        template = Template(name="Bench")
        s.add(template)
        s.flush()
        version = TemplateVersion(template_id=template.id, version=1, subject="Hello {{ contact.first_name }}",
                                  html_source="<p>Hi</p>", compiled_html="<p>Hi</p>", compiled_text="Hi")
        s.add(version)
        s.flush()
        template.current_version_id = version.id
        s.flush()
        sequence = create_sequence(s, "Bench nurture", steps=[
            {"template_id": template.id, "delay_minutes": 0},
            {"template_id": template.id, "delay_minutes": 3 * 1440, "window_days": "12345",
             "window_start_hour": 9, "window_end_hour": 18},
        ])
        set_sequence_status(s, sequence, "active")
        sequence_id = sequence.id
    timed(f"{total:,} contacts (INSERT .. SELECT generate_series)", lambda: sql(
        svc,
        "INSERT INTO contacts (email, first_name, last_name, company, job_title, source, timezone, attributes,"
        " status, stage, score, consent_method, consent_source, consent_text, created_at, updated_at, search_text)"
        " SELECT 'lead' || g || '@bench.example.com', 'First' || g, 'Last', 'Acme', '', 'bench',"
        "  CASE g % 3 WHEN 0 THEN 'Asia/Tokyo' WHEN 1 THEN 'America/New_York' ELSE NULL END,"
        "  '{}'::jsonb, 'active', 'cold', 0, 'form', 'bench', '', now(), now(),"
        # the folded search column (campaigns.search_text) as it would read for these ASCII names
        "  'lead' || g || '@bench.example.com first' || g || 'last lastfirst' || g || ' acme'"
        " FROM generate_series(1, CAST(:n AS integer)) AS g", n=total))

    # Phase 1: 10,000 enrolments, 1,000 due.
    timed(f"{small:,} enrolments, 1,000 due", lambda: add_enrolments(svc, sequence_id, 1, small, 10))
    analyze(svc)
    find_small = measure_find(svc, args.find_runs)
    # Phase 2: 1,000,000 enrolments, still 1,000 due.
    timed(f"+{total - small:,} enrolments, none due", lambda: add_enrolments(
        svc, sequence_id, small + 1, total, total + 1))
    analyze(svc)
    find_large = measure_find(svc, args.find_runs)

    print(f"finding 1,000 due enrolments (median of {args.find_runs}, the planner's query):")
    print(f"  among {small:,}: {find_small * 1000:.2f} ms")
    print(f"  among {total:,}: {find_large * 1000:.2f} ms")
    ratio = find_large / find_small
    print(f"  ratio: {ratio:.2f}x (target <= 1.5x) {'OK' if ratio <= 1.5 else 'MISSED'}")

    # Phase 3: make 100,000 due in total, then one scheduler tick plans and enqueues them.
    timed(f"{extra:,} more enrolments made due", lambda: sql(
        svc,
        "UPDATE enrollments SET next_due_at = now() - (id % 60) * interval '1 minute'"
        " WHERE id IN (SELECT id FROM enrollments WHERE id > :small ORDER BY id LIMIT :n)",
        small=small, n=extra))
    analyze(svc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/bench_h2")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/2")
    parser.add_argument("--enrollments", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=100_000)
    parser.add_argument("--find-runs", type=int, default=25)
    parser.add_argument("--drop-send-fks", action="store_true",
                        help="experiment: drop the sends table's foreign keys in the bench database first, "
                             "to measure what their per-row checks cost")
    parser.add_argument("--reuse", action="store_true",
                        help="keep the data of a previous full run; reset it and time the tick only")
    add_keep_db(parser)
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        raise SystemExit("this benchmark is for PostgreSQL")

    from wsgi import create_app

    use_database(args.database_url, args.keep_db)  # its --reuse rebuilds what is missing
    app = create_app({"database_url": args.database_url, "redis_url": args.redis_url, "queue_name": QUEUE,
                      "secret_key": "bench", "base_url": "http://bench.test"})
    svc = app.extensions["nurture"]
    svc.queue.empty()
    total, small = args.enrollments, 10_000
    print(f"Scheduler benchmark: {total:,} enrolments, {args.due:,} due; PostgreSQL "
          f"{_server_version(svc)}; batch_size {svc.settings.batch_size}")

    extra = args.due - 1000
    reuse = args.reuse and _enrolment_count(svc) == total
    if reuse:
        print("data: reusing the previous run's rows", flush=True)
        timed("reset planned enrolments, delete sends", lambda: reset(svc, small, extra))
        analyze(svc)
    else:
        generate(svc, args, total, small, extra)

    if args.drop_send_fks:
        with svc.db.engine.begin() as conn:
            names = conn.scalars(sa.text(
                "SELECT conname FROM pg_constraint WHERE conrelid = 'sends'::regclass AND contype = 'f'")).all()
            for name in names:
                conn.execute(sa.text(f'ALTER TABLE sends DROP CONSTRAINT "{name}"'))
        print(f"  EXPERIMENT: dropped the sends foreign keys {sorted(names)}")

    phases: dict[str, float] = {}
    for name in ("plan_due_steps", "plan_broadcasts", "enqueue_planned", "requeue_stale"):
        original = getattr(scheduler, name)

        def wrapper(*a: Any, _f: Any = original, _n: str = name, **kw: Any) -> Any:
            started = time.perf_counter()
            try:
                return _f(*a, **kw)
            finally:
                phases[_n] = time.perf_counter() - started

        setattr(scheduler, name, wrapper)
    cpu_before, pg_before, load_before = time.process_time(), backend_cpu(svc), os.getloadavg()[0]
    started = time.perf_counter()
    counts = Counter(scheduler.tick(svc))
    elapsed = time.perf_counter() - started
    py_cpu = time.process_time() - cpu_before
    pg_after = backend_cpu(svc)
    pg_cpu = sum(v - pg_before.get(pid, 0.0) for pid, v in pg_after.items())
    with svc.db.begin() as s:
        sends = s.scalar(sa.select(sa.func.count()).select_from(Send))
        unenqueued = s.scalar(sa.select(sa.func.count()).where(Send.enqueued_at.is_(None)))
        due_left = s.scalar(sa.text("SELECT count(*) FROM enrollments WHERE status = 'active' AND next_due_at <= now()"))
    jobs_in_queue = svc.queue.count
    print(f"one scheduler tick with {args.due:,} due among {total:,}:")
    print(f"  planned {counts['planned']:,} sends, enqueued {counts['enqueued']:,} in {counts['jobs']:,} RQ jobs "
          f"({jobs_in_queue:,} in the queue); sends in ledger {sends:,}; not enqueued {unenqueued:,}; "
          f"still due {due_left:,}")
    for name, seconds in phases.items():
        print(f"  {name}: {seconds:.2f} s")
    print(f"  CPU used: scheduler process {py_cpu:.1f} s, PostgreSQL backends {pg_cpu:.1f} s "
          f"({scheduler.PLANNER_THREADS} planner threads); 1-min load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after, on {os.cpu_count()} CPUs")
    print(f"  total: {elapsed:.2f} s = {counts['planned'] / elapsed:,.0f} sends/s "
          f"(target <= 10 s) {'OK' if elapsed <= 10 and counts['planned'] == args.due else 'MISSED'}")
    svc.queue.empty()
    svc.redis.delete(scheduler.LOCK_KEY, scheduler.REQUEUE_KEY)
    print("reproduce: .venv/bin/python bench/bench_scheduler.py --database-url "
          f"{args.database_url} --redis-url {args.redis_url}")


if __name__ == "__main__":
    main()
