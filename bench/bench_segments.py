"""Segment benchmark: counting three-condition segments over 1,000,000 contacts on PostgreSQL.

Data are generated in PostgreSQL with generate_series: contacts with an `industry` attribute, a stage, a
score and a job title; events over the last 90 days (a fifth of them "webinar_attended"); one broadcast
delivered to every contact with human and machine hits over 60 days; a static list of 50,000 contacts.
The script first checks each segment's count against a hand-written SQL count, then times
campaigns.audience.segments.count_segment (warm-up, then the median of 5 runs) for:
  event      industry = "IT" AND stage in (warm, hot) AND webinar_attended within 30 days
  clicked    industry = "IT" AND stage in (warm, hot) AND clicked (human) any mail within 30 days
  list       job_title contains "部長" AND score between 50 and 100 AND on the list
  not_opened industry = "IT" AND stage in (warm, hot) AND did not open the broadcast
and shows EXPLAIN ANALYZE of the first with --explain. It also prints the CPU time the database backend
spends on one count without parallel workers (from /proc), which other load on a shared machine does
not inflate.

Reproduce (from the repository root; needs PostgreSQL):
    .venv/bin/python bench/bench_segments.py                      # 1,000,000 contacts
    .venv/bin/python bench/bench_segments.py --contacts 100000 --explain
    .venv/bin/python bench/bench_segments.py --reuse              # time again without regenerating
Options: --pg-url (default postgresql://postgres@127.0.0.1:5432/bench_segments).
Target (issue 5): counting a three-condition segment over 1,000,000 contacts takes at most 1 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import add_keep_db, add_template, reset_database, use_database  # noqa: E402

TARGET_SECONDS = 1.0


def build(db: Any, n: int) -> dict[str, int]:
    """Fresh tables and generated data; returns the ids the rule trees refer to."""
    import sqlalchemy as sa

    from bench.bench_reports import bulk_insert_sql
    from campaigns.models import Broadcast, BroadcastStatus, Contact, ContactList, Event, Hit, Send

    reset_database(db)
    with db.begin() as s:
        template, version = add_template(s)
        broadcast = Broadcast(name="bench", template_id=template.id, status=BroadcastStatus.SENT)
        vip = ContactList(name="Expo visitors")
        s.add_all([broadcast, vip])
        s.flush()
        ids = {"version": version.id, "broadcast": broadcast.id, "list": vip.id}
    steps = [
        ("contacts", bulk_insert_sql(Contact.__table__, n, {
            "email": "'c' || g || '@example.jp'",
            "job_title": "(ARRAY['営業部長', 'Engineer', 'CTO', 'Marketing Manager', '課長', '技術部長'])[1 + g % 6]",
            "company": "'Company ' || (g % 5000)",
            "source": "(ARRAY['web', 'expo', 'csv', 'form'])[1 + g % 4]",
            "timezone": "(ARRAY['Asia/Tokyo', 'UTC', 'America/New_York'])[1 + g % 3]",
            "stage": "(ARRAY['cold', 'cold', 'warm', 'hot', 'mql', 'customer'])[1 + (g * 7) % 6]",
            "status": "CASE WHEN g % 50 = 0 THEN 'unsubscribed' ELSE 'active' END",
            "score": "(g * 13) % 120",
            "attributes": "jsonb_build_object('industry', (ARRAY['IT', 'Retail', '製造業', 'Finance', 'it'])[1 + (g / 3) % 5],"
                          " 'employees', (g % 2000))",
        })),
        # two events per contact over 90 days; a fifth of them webinar_attended
        ("events", bulk_insert_sql(Event.__table__, 2 * n, {
            "contact_id": f"1 + ((g::bigint * 2654435761) % 4294967296) % {n}",
            "name": "(ARRAY['webinar_attended', 'page_viewed', 'whitepaper_downloaded', 'page_viewed', 'form_submitted'])"
                    "[1 + g % 5]",
            "properties": "jsonb_build_object('topic', (ARRAY['AI', 'cloud', 'security'])[1 + g % 3])",
            "source": "'api'",
            "occurred_at": "now() - ((g * 37) % (90 * 24 * 60)) * interval '1 minute'",
        })),
        ("sends", bulk_insert_sql(Send.__table__, n, {
            "contact_id": "g", "broadcast_id": str(ids["broadcast"]), "template_version_id": str(ids["version"]),
            "status": "'sent'", "sent_at": "now() - interval '45 days'",
        })),
        # 600,000 hits per million sends over 60 days: human opens and clicks, Apple MPP opens, scanner clicks
        ("tracking_hits", bulk_insert_sql(Hit.__table__, int(0.6 * n), {
            "event_id": "'h' || g", "send_id": f"1 + ((g::bigint * 2246822519) % 4294967296) % {n}",
            "contact_id": f"1 + ((g::bigint * 2246822519) % 4294967296) % {n}",
            "kind": "(ARRAY['open', 'open', 'click', 'open', 'click'])[1 + g % 5]",
            "classification": "(ARRAY['human', 'human', 'human', 'machine_open', 'scanner'])[1 + g % 5]",
            "occurred_at": "now() - ((g * 31) % (60 * 24 * 60)) * interval '1 minute'",
        })),
        ("contact_list_members", f"INSERT INTO contact_list_members (list_id, contact_id, added_at)"
                                 f" SELECT {ids['list']}, g, now() FROM generate_series(1, {n}, 20) AS g"),
        ("suppressions", "INSERT INTO suppressions (email, reason, detail, created_at)"
                         f" SELECT 'c' || g || '@example.jp', 'manual', '', now() FROM generate_series(1, {n}, 97) AS g"),
    ]
    for table, sql in steps:
        started = time.perf_counter()
        with db.engine.begin() as conn:
            conn.execute(sa.text(sql))
        print(f"  generated {table:<22} {time.perf_counter() - started:6.1f} s", flush=True)
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        started = time.perf_counter()
        conn.execute(sa.text("VACUUM ANALYZE"))
        print(f"  vacuum analyze                {time.perf_counter() - started:6.1f} s", flush=True)
    return ids


def segments_of(ids: dict[str, Any]) -> dict[str, tuple[dict[str, Any], str]]:
    """(rule tree, the same count in hand-written SQL) per benchmark case."""
    base = ("c.status = 'active' AND NOT EXISTS (SELECT 1 FROM suppressions x WHERE x.email = c.email)"
            " AND lower(c.attributes ->> 'industry') = 'it' AND c.stage IN ('warm', 'hot')")
    it_warm = [{"field": "attributes.industry", "op": "eq", "value": "IT"},
               {"field": "stage", "op": "in", "value": ["warm", "hot"]}]
    return {
        "event": (
            {"all": [*it_warm, {"event": "webinar_attended", "within_days": 30}]},
            f"SELECT count(*) FROM contacts c WHERE {base} AND EXISTS (SELECT 1 FROM events e WHERE e.contact_id = c.id"
            " AND e.name = 'webinar_attended' AND e.occurred_at >= now() - interval '30 days')",
        ),
        "clicked": (
            {"all": [*it_warm, {"engagement": "clicked", "within_days": 30}]},
            f"SELECT count(*) FROM contacts c WHERE {base} AND EXISTS (SELECT 1 FROM tracking_hits h"
            " WHERE h.contact_id = c.id AND h.classification = 'human' AND h.kind = 'click'"
            " AND h.occurred_at >= now() - interval '30 days')",
        ),
        "list": (
            {"all": [{"field": "job_title", "op": "contains", "value": "部長"},
                     {"field": "score", "op": "between", "value": [50, 100]}, {"list_id": ids["list"]}]},
            "SELECT count(*) FROM contacts c WHERE c.status = 'active' AND NOT EXISTS (SELECT 1 FROM suppressions x"
            " WHERE x.email = c.email) AND c.job_title LIKE '%部長%' AND c.score BETWEEN 50 AND 100 AND EXISTS"
            f" (SELECT 1 FROM contact_list_members m WHERE m.contact_id = c.id AND m.list_id = {ids['list']})",
        ),
        "not_opened": (
            {"all": [*it_warm, {"engagement": "not_opened", "broadcast_id": ids["broadcast"]}]},
            f"SELECT count(*) FROM contacts c WHERE {base} AND EXISTS (SELECT 1 FROM sends d WHERE d.contact_id = c.id"
            f" AND d.status = 'sent' AND d.broadcast_id = {ids['broadcast']}) AND NOT EXISTS (SELECT 1 FROM"
            " tracking_hits h JOIN sends d2 ON d2.id = h.send_id WHERE h.contact_id = c.id AND h.classification ="
            f" 'human' AND h.kind IN ('open', 'click') AND d2.broadcast_id = {ids['broadcast']})",
        ),
    }


def _backend_cpu_seconds(session: Any, run: Any) -> float | None:
    """CPU seconds the PostgreSQL backend spends on `run` without parallel workers (one core), read from
    /proc: a figure that the other load on a shared machine does not inflate. None off-host."""
    import os

    import sqlalchemy as sa

    pid = session.scalar(sa.text("SELECT pg_backend_pid()"))
    stat = f"/proc/{pid}/stat"
    if not os.path.exists(stat):
        return None

    def ticks() -> int:
        with open(stat) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    session.execute(sa.text("SET LOCAL max_parallel_workers_per_gather = 0"))
    before = ticks()
    run()
    used = (ticks() - before) / os.sysconf("SC_CLK_TCK")
    session.execute(sa.text("RESET max_parallel_workers_per_gather"))
    return used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/bench_segments")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="keep the generated data of the last run")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the 'event' case")
    add_keep_db(parser)
    args = parser.parse_args()

    import sqlalchemy as sa

    from campaigns.audience.segments import count_segment, segment_contact_ids
    from campaigns.db import Database, now_utc
    from campaigns.models import Broadcast, ContactList

    use_database(args.pg_url, args.keep_db, reuse=args.reuse)
    db = Database(args.pg_url)
    ids: dict[str, Any]
    if args.reuse:
        with db.begin() as s:
            ids = {"broadcast": s.scalar(sa.select(Broadcast.id)), "list": s.scalar(sa.select(ContactList.id))}
            n = s.scalar(sa.text("SELECT count(*) FROM contacts"))
        print(f"reusing {n:,} contacts")
    else:
        print(f"generating {args.contacts:,} contacts ...", flush=True)
        ids = build(db, args.contacts)
        n = args.contacts
    now = now_utc()
    results = {}
    for name, (rules, reference_sql) in segments_of(ids).items():
        with db.begin() as s:
            # The reference counts use now() too: pin both to one instant (the bench runs for seconds).
            s.execute(sa.text("SET LOCAL TIME ZONE 'UTC'"))
            expected = s.scalar(sa.text(reference_sql.replace("now()", f"'{now.isoformat()}'::timestamptz")))
            got = count_segment(s, rules, now)
            if got != expected:
                raise SystemExit(f"{name}: count_segment says {got}, hand-written SQL says {expected}")
            count_segment(s, rules, now)  # warm-up
            times = []
            for _ in range(args.runs):
                started = time.perf_counter()
                count_segment(s, rules, now)
                times.append(time.perf_counter() - started)
            cpu = _backend_cpu_seconds(s, lambda rules=rules: count_segment(s, rules, now))
            results[name] = (got, statistics.median(times), max(times), cpu)
        if args.explain and name == "event":
            with db.begin() as s:
                query = sa.select(sa.func.count()).select_from(segment_contact_ids(rules, now).subquery())
                compiled = query.compile(db.engine, compile_kwargs={"render_postcompile": True})
                plan = s.connection().exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}", compiled.params)
                for (line,) in plan:
                    print("   ", line)

    print(f"\ncount_segment over {n:,} contacts (median of {args.runs} after a warm-up; PostgreSQL):")
    ok = True
    for name, (count, median, worst, cpu) in results.items():
        status = "PASS" if median <= TARGET_SECONDS else "FAIL"
        ok = ok and median <= TARGET_SECONDS
        one_core = f"{cpu * 1000:7.0f} ms" if cpu is not None else "      —"
        print(f"  {name:<11} {count:>9,} contacts  median {median * 1000:7.1f} ms  max {worst * 1000:7.1f} ms"
              f"  one-core CPU {one_core}  {status}")
    print(f"target: <= {TARGET_SECONDS:.0f} s per count  ->  {'PASS' if ok else 'FAIL'}")
    print("reproduce: .venv/bin/python bench/bench_segments.py" + (f" --contacts {n}" if n != 1_000_000 else ""))
    db.dispose()


if __name__ == "__main__":
    main()
