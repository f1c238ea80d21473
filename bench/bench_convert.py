"""Converting sequence enrolments to journeys (migration 0012) on PostgreSQL.

    .venv/bin/python bench/bench_convert.py \
        --database-url postgresql://postgres@127.0.0.1:5432/bench_convert --enrolments 100000

Target (issue 17, "Benchmarks"): converting 100,000 sequence enrolments to journeys in the migration takes
under 60 s.

The database is created at 0012's predecessor (dropped at the end unless --keep-db) and loaded server-side
with INSERT .. SELECT over generate_series: 100,000 contacts, 10 sequences of 3 steps (the third with a send
window), one enrolment per contact spread over the sequences (60 % active after one or two mails, 30 %
completed after three, 10 % exited after one) and their ledger rows (150,000 sends). Then the
migration runs (`alembic upgrade 0012`, timed), and the result is checked: one walk per enrolment, every
sequence send re-keyed, no active enrolment left.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import add_keep_db, use_database  # noqa: E402
from campaigns.migrate import upgrade  # noqa: E402

SEQUENCES = 10
STEPS = 3

LOAD = [
    "INSERT INTO templates (name, created_at, updated_at) VALUES ('Bench', now(), now())",
    "INSERT INTO template_versions (template_id, version, subject, preheader, from_name, html_source, text_source,"
    " compiled_html, compiled_text, created_at) VALUES (1, 1, 's', '', '', '', '', '', '', now())",
    "UPDATE templates SET current_version_id = 1",
    "INSERT INTO contacts (email, first_name, last_name, company, job_title, source, attributes, status, stage, score,"
    " consent_method, consent_source, consent_text, created_at, updated_at)"
    " SELECT 'lead' || i || '@example.jp', '', '', '', '', '', '{}', 'active', 'cold', 0, '', '', '', now(), now()"
    " FROM generate_series(1, :n) AS i",
    "INSERT INTO sequences (name, description, status, trigger_events, allow_reentry, exit_events, exit_stages,"
    " goal_event, exit_segment_when, created_at, updated_at)"
    " SELECT 'Sequence ' || i, '', 'active', '[\"whitepaper\"]', false, '[\"stop\"]', '[\"customer\"]',"
    " 'demo_booked', 'left', now(), now() FROM generate_series(1, :sequences) AS i",
    "INSERT INTO steps (sequence_id, position, delay_minutes, template_id, window_days, window_start_hour,"
    " window_end_hour, deleted)"
    " SELECT s, p, CASE WHEN p = 1 THEN 0 ELSE 1440 * p END, 1, CASE WHEN p = 3 THEN '12345' ELSE '' END,"
    " CASE WHEN p = 3 THEN 9 END, CASE WHEN p = 3 THEN 18 END, false"
    " FROM generate_series(1, :sequences) AS s, generate_series(1, :steps) AS p",
    # kind by contact id: 0-5 active after one or two mails, 6-8 completed, 9 exited
    "INSERT INTO enrollments (contact_id, sequence_id, cycle, status, next_position, next_due_at, last_step_id,"
    " last_planned_at, source_event, exit_reason, enrolled_at, finished_at)"
    " SELECT i, 1 + i % :sequences, 1,"
    " CASE WHEN i % 10 < 6 THEN 'active' WHEN i % 10 < 9 THEN 'completed' ELSE 'exited' END,"
    " CASE WHEN i % 10 < 3 THEN 2 WHEN i % 10 < 6 THEN 3 ELSE 4 END,"
    " CASE WHEN i % 10 < 6 THEN now() + (i % 97) * interval '1 hour' END,"
    " (1 + i % :sequences - 1) * :steps + CASE WHEN i % 10 < 3 OR i % 10 = 9 THEN 1 WHEN i % 10 < 6 THEN 2 ELSE 3 END,"
    " now() - interval '1 day', 'whitepaper', CASE WHEN i % 10 = 9 THEN 'event:stop' ELSE '' END,"
    " now() - interval '3 days', CASE WHEN i % 10 >= 6 THEN now() END"
    " FROM generate_series(1, :n) AS i",
    "INSERT INTO sends (contact_id, enrollment_id, step_id, template_version_id, variant, status, attempts,"
    " possible_duplicate, error, created_at, sent_at)"
    " SELECT e.contact_id, e.id, st.id, 1, '', 'sent', 1, false, '', now() - interval '1 day', now() - interval '1 day'"
    " FROM enrollments e JOIN steps st ON st.sequence_id = e.sequence_id AND st.id <= e.last_step_id",
    "ANALYZE",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/bench_convert")
    parser.add_argument("--enrolments", type=int, default=100_000)
    add_keep_db(parser)
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        raise SystemExit("the conversion benchmark runs on PostgreSQL")
    if not str(sa.engine.make_url(args.database_url).database).startswith("bench"):
        raise SystemExit("the benchmark empties its database: give it one whose name starts with 'bench'")
    url = use_database(args.database_url, args.keep_db)
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    upgrade(url, "0011")
    started = time.perf_counter()
    with engine.begin() as conn:
        for statement in LOAD:
            conn.execute(sa.text(statement), {"n": args.enrolments, "sequences": SEQUENCES, "steps": STEPS})
        sends = conn.scalar(sa.text("SELECT count(*) FROM sends"))
        active = conn.scalar(sa.text("SELECT count(*) FROM enrollments WHERE status = 'active'"))
    print(f"loaded {args.enrolments:,} enrolments ({active:,} active) in {SEQUENCES} sequences and {sends:,} sends "
          f"in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    upgrade(url, "0012")
    took = time.perf_counter() - started
    with engine.begin() as conn:
        walks = conn.scalar(sa.text("SELECT count(*) FROM journey_enrolments"))
        rekeyed = conn.scalar(sa.text("SELECT count(*) FROM sends WHERE journey_enrolment_id = enrollment_id"))
        left = conn.scalar(sa.text("SELECT count(*) FROM enrollments WHERE status = 'active'"))
        live = conn.scalar(sa.text("SELECT count(*) FROM journey_enrolments WHERE status = 'active'"))
        steps = conn.scalar(sa.text("SELECT count(*) FROM journey_steps"))
    engine.dispose()
    assert walks == args.enrolments and rekeyed == sends and left == 0 and live == active, (walks, rekeyed, left, live)
    print(f"migration 0012: {args.enrolments:,} enrolments -> {walks:,} walks ({live:,} active), {rekeyed:,} sends "
          f"re-keyed, {steps:,} path-log rows in {took:.1f} s (target: under 60 s)")
    print("command: .venv/bin/python bench/bench_convert.py --database-url " + args.database_url
          + f" --enrolments {args.enrolments}")


if __name__ == "__main__":
    main()
