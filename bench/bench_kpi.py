"""KPI dashboard benchmark: every query of the dashboard over 1,000,000 contacts and 200,000 stage changes.

Data are generated in PostgreSQL with generate_series (two years of contacts from 6 sources, 200,000
stage moves, 1,000,000 events, 1,000,000 sends of 20 templates, 300,000 classified clicks, 200,000
enrolments in 10 sequences, 5 saved segments of three conditions each). Then, after a warm-up, the
median of 5 runs of each measure of campaigns.insights.kpi, of the whole dashboard (what the page and the API
compute) and of the page itself (GET /kpi/, logged in, full HTML), for the 365-day and 90-day presets.

Reproduce (from the repository root; needs PostgreSQL and Redis):
    .venv/bin/python bench/bench_kpi.py                         # 1,000,000 contacts, 200,000 stage changes
    .venv/bin/python bench/bench_kpi.py --contacts 100000 --changes 20000
    .venv/bin/python bench/bench_kpi.py --reuse                 # keep the data of the previous run
Options: --pg-url (default postgresql://postgres@127.0.0.1:5432/bench_kpi), --redis-url (default DB 5).
Target (issue 5): the full dashboard in under 2 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import add_keep_db, reset_database, use_database  # noqa: E402
from bench.bench_reports import bulk_insert_sql  # noqa: E402

TODAY = date(2026, 11, 22)  # fixed, so every run measures the same rows
BASE = "timestamptz '2025-01-01 00:00+00'"
SOURCES = ["web", "seminar", "whitepaper", "referral", "展示会", ""]


def created(cid: str) -> str:
    """The creation time of contact `cid` (an SQL expression): the same formula the contacts were built with."""
    return f"({BASE} + (({cid}) % 700) * interval '1 day' + (({cid}) % 86400) * interval '1 second')"


def ensure_database(url: str) -> None:
    import sqlalchemy as sa

    name = sa.engine.make_url(url).database or ""
    admin = sa.create_engine(sa.engine.make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def build(svc: Any, contacts: int, changes: int) -> float:
    import sqlalchemy as sa

    from campaigns.models import (
        Contact,
        Enrollment,
        Event,
        Hit,
        Link,
        Segment,
        Send,
        Sequence,
        StageChange,
        Template,
        TemplateVersion,
    )

    reset_database(svc.db)
    n = contacts
    pick = f"(1 + ((g::bigint * 2654435761) % {n}))"  # a contact id spread over the table
    t0 = time.monotonic()
    source_case = "CASE g % 6 " + " ".join(f"WHEN {i} THEN '{s}'" for i, s in enumerate(SOURCES)) + " END"
    with svc.db.engine.begin() as conn:
        conn.execute(sa.text(bulk_insert_sql(Template.__table__, 20, {"name": "'Template ' || g"})))
        conn.execute(sa.text(bulk_insert_sql(TemplateVersion.__table__, 20, {
            "template_id": "g", "version": "1", "subject": "'s'"})))
        conn.execute(sa.text("UPDATE templates SET current_version_id = id"))
        conn.execute(sa.text(bulk_insert_sql(Link.__table__, 60, {
            "template_version_id": "1 + (g - 1) / 3", "position": "(g - 1) % 3",
            "url": "'https://acme.test/' || g", "honeypot": "(g % 3 = 0)"})))
        conn.execute(sa.text(bulk_insert_sql(Sequence.__table__, 10, {
            "name": "'Sequence ' || g",
            "goal_event": "CASE WHEN g % 2 = 0 THEN 'demo_booked' ELSE '' END"})))
        conn.execute(sa.text(bulk_insert_sql(Contact.__table__, n, {
            "email": "'c' || g || '@example.jp'",
            "source": source_case,
            "stage": "CASE WHEN g % 50 < 25 THEN 'cold' WHEN g % 50 < 35 THEN 'warm' WHEN g % 50 < 40 THEN 'hot' "
                     "WHEN g % 50 < 45 THEN 'mql' WHEN g % 50 < 48 THEN 'sql' ELSE 'customer' END",
            "status": "CASE WHEN g % 20 = 0 THEN 'unsubscribed' ELSE 'active' END",
            "score": "g % 100",
            "attributes": "jsonb_build_object('industry', CASE WHEN g % 3 = 0 THEN 'IT' ELSE 'Manufacturing' END)",
            "created_at": created("g"), "updated_at": created("g"),
        })))
        conn.execute(sa.text(bulk_insert_sql(StageChange.__table__, changes, {
            "contact_id": pick,
            "from_stage": "'hot'",
            "to_stage": "CASE WHEN g % 20 < 12 THEN 'mql' WHEN g % 20 < 17 THEN 'sql' WHEN g % 20 < 19 THEN 'customer' "
                        "ELSE 'hot' END",
            "cause": "'score_threshold'",
            "changed_at": f"{created(pick)} + (g % 60) * interval '1 day'",
        })))
        conn.execute(sa.text(bulk_insert_sql(Event.__table__, n, {
            "contact_id": pick,
            "name": "CASE g % 4 WHEN 0 THEN 'page_viewed' WHEN 1 THEN 'demo_booked' WHEN 2 THEN 'form_submitted' "
                    "ELSE 'webinar_attended' END",
            "occurred_at": f"{created(pick)} + ((g % 90) - 10) * interval '1 day'",
        })))
        conn.execute(sa.text(bulk_insert_sql(Send.__table__, n, {
            "contact_id": pick, "template_version_id": "1 + g % 20",
            "status": "CASE WHEN g % 100 < 97 THEN 'sent' ELSE 'failed' END",
            "sent_at": f"CASE WHEN g % 100 < 97 THEN {created(pick)} + (g % 60) * interval '1 day' END",
        })))
        # Clicks on the sends (send id = its g): the send's contact, one of its version's links.
        send = f"(1 + ((g::bigint * 48271) % {n}))"
        send_contact = f"(1 + (({send} * 2654435761) % {n}))"
        conn.execute(sa.text(bulk_insert_sql(Hit.__table__, min(300_000, n), {
            "event_id": "md5(g::text)", "kind": "'click'", "send_id": send, "contact_id": send_contact,
            "link_id": f"3 * ({send} % 20) + 1 + g % 3",
            "classification": "CASE WHEN g % 10 < 7 THEN 'human' WHEN g % 10 < 9 THEN 'scanner' ELSE 'machine_open' END",
            "occurred_at": f"{created(send_contact)} + ({send} % 60) * interval '1 day' + (g % 48) * interval '1 hour'",
            "recorded_at": "now()",
        })))
        enrolments = min(200_000, n // 5)
        conn.execute(sa.text(bulk_insert_sql(Enrollment.__table__, enrolments, {
            "contact_id": "g * 5", "sequence_id": "1 + g % 10", "cycle": "1",
            "enrolled_at": f"{created('g * 5')} + (g % 30) * interval '1 day'",
        })))
    with svc.db.begin() as s:
        for i, (field, value) in enumerate([("web", 40), ("seminar", 60), ("whitepaper", 20), ("referral", 70),
                                            ("展示会", 50)]):
            s.add(Segment(name=f"Segment {i + 1}", rules={"all": [
                {"field": "source", "op": "eq", "value": field},
                {"field": "score", "op": "gt", "value": value},
                {"field": "attributes.industry", "op": "eq", "value": "IT"},
            ]}))
    with svc.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    return time.monotonic() - t0


def median_ms(fn: Any, runs: int) -> tuple[float, Any]:
    result = fn()  # warm-up (and the value to print)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), result


def cpu_ms(svc: Any, rng: Any) -> dict[str, float]:
    """Database CPU time of each measure run one after the other on one connection (backend time from
    /proc, parallel workers off, so all of it is in that one process), plus this process's CPU.
    Unlike wall time it is barely moved by other load; the page runs the segment pass on a second
    connection at the same time as the rest."""
    import os

    import sqlalchemy as sa

    from campaigns.insights import kpi

    tick = os.sysconf("SC_CLK_TCK")

    def backend_cpu(pid: int) -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 1000 / tick  # utime + stime

    steps = {
        "lifecycle": lambda s: kpi.lifecycle(s, rng), "segments": lambda s: kpi.segment_counts(s, rng),
        "mqls+days": lambda s: kpi.conversion_figures(s, rng), "preceding": lambda s: kpi.preceding(s, rng),
        "goals": lambda s: kpi.goal_rates(s, rng),
    }
    out: dict[str, float] = {}
    with svc.db.factory() as s:
        s.execute(sa.text("SET max_parallel_workers_per_gather = 0"))
        pid = int(s.scalar(sa.text("SELECT pg_backend_pid()")))
        py0 = time.process_time()
        for name, step in steps.items():
            step(s)  # warm-up on this connection
            db0 = backend_cpu(pid)
            step(s)
            out[name] = backend_cpu(pid) - db0
        out["python (all, twice)"] = (time.process_time() - py0) * 1000
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/bench_kpi")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/5")
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--changes", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="keep the data of the previous run (skip the build)")
    add_keep_db(parser)
    args = parser.parse_args()

    import sqlalchemy as sa

    from campaigns.insights import kpi
    from campaigns.users import create_user
    from wsgi import create_app

    use_database(args.pg_url, args.keep_db, reuse=args.reuse)
    app = create_app({"database_url": args.pg_url, "redis_url": args.redis_url, "secret_key": "bench",
                      "WTF_CSRF_ENABLED": False})
    svc = app.extensions["nurture"]
    if not args.reuse:
        build_s = build(svc, args.contacts, args.changes)
        with svc.db.begin() as s:
            create_user(s, "bench@example.jp", "bench password 123", "Bench")
        print(f"built in {build_s:.1f} s")
    with svc.db.engine.connect() as conn:
        counts = {t: conn.scalar(sa.text(f"SELECT count(*) FROM {t}")) for t in
                  ["contacts", "stage_changes", "events", "sends", "tracking_hits", "enrollments", "segments"]}
    print("rows: " + ", ".join(f"{t} {c:,}" for t, c in counts.items()))

    client = app.test_client()
    client.post("/login", data={"email": "bench@example.jp", "password": "bench password 123"})
    total_ok = True
    for days in (365, 90):
        rng = kpi.DateRange.last_days(days, today=TODAY)
        print(f"\nrange {rng.first} .. {rng.last} ({days} days), median of {args.runs} runs after a warm-up")
        measures = {
            "lifecycle (by source, by stage, funnel)": lambda s, r=rng: kpi.lifecycle(s, r)["total"],
            "segments (5, one pass)": lambda s, r=rng: [x["members"] for x in kpi.segment_counts(s, r)],
            "MQLs per month/source + days to MQL": lambda s, r=rng: kpi.conversion_figures(s, r)[0]["total"],
            "templates/links before MQL (30 d)": lambda s, r=rng: kpi.preceding(s, r, "mql", 30)["converters"],
            "sequence goal rates": lambda s, r=rng: sum(g["enrolled"] for g in kpi.goal_rates(s, r)),
        }
        for name, fn in measures.items():
            def run(fn: Any = fn) -> Any:
                with svc.db.factory() as s:
                    return fn(s)
            ms, value = median_ms(run, args.runs)
            print(f"  {name:<42} {ms:8.1f} ms   ({value})")

        def whole(r: kpi.DateRange = rng) -> int:
            with svc.db.factory() as s:
                return kpi.dashboard(s, r)["contacts"]["total"]
        ms, _ = median_ms(whole, args.runs)
        cpu = cpu_ms(svc, rng)

        def page(r: kpi.DateRange = rng, refresh: bool = True) -> int:
            resp = client.get(f"/kpi/?from={r.first}&to={r.last}" + ("&refresh=1" if refresh else ""))
            assert resp.status_code == 200, resp.status_code
            return len(resp.data)
        page_ms, _ = median_ms(page, args.runs)
        warm_ms, _ = median_ms(lambda: page(refresh=False), args.runs)
        ok = page_ms < 2000
        total_ok &= ok
        print(f"  {'whole dashboard (kpi.dashboard)':<42} {ms:8.1f} ms")
        db_total = sum(v for k, v in cpu.items() if not k.startswith("python"))
        print(f"  {'  database CPU, one core, no parallel workers':<42} {db_total:8.1f} ms   ("
              + ", ".join(f"{k} {v:.0f}" for k, v in cpu.items()) + ")")
        print(f"  {'page GET /kpi/ computed (refresh=1)':<42} {page_ms:8.1f} ms   target < 2000 ms: {'PASS' if ok else 'FAIL'}")
        print(f"  {'page GET /kpi/ from the 2-minute cache':<42} {warm_ms:8.1f} ms")
    sized = counts["contacts"] != 1_000_000 or counts["stage_changes"] != 200_000
    print("\nreproduce: .venv/bin/python bench/bench_kpi.py"
          + (f" --contacts {counts['contacts']} --changes {counts['stage_changes']}" if sized else ""))
    print("PASS" if total_ok else "FAIL")


if __name__ == "__main__":
    main()
