"""Report benchmark: a broadcast with 1,000,000 sends and 3,000,000 hits; how long its report takes.

Data are generated in PostgreSQL with generate_series (30 days of hits: human opens and clicks, Apple
MPP opens, scanner clicks), and the hourly roll-ups are built from the hits by an independent SQL
aggregation (the same numbers the writer maintains). The script checks that the report's unique
counts equal a direct count over the hits table, then times, after a warm-up, the median of 7 runs:
  service   campaigns.insights.reports.broadcast_report + hourly and daily timeseries (what the page needs)
  page      GET /reports/broadcasts/<id> (logged in, full HTML render) + GET .../series.json
  naive     the same unique counts straight from the hits table (what roll-ups avoid)

Reproduce (from the repository root; needs PostgreSQL and Redis):
    .venv/bin/python bench/bench_reports.py                # 1,000,000 sends, 3,000,000 hits
    .venv/bin/python bench/bench_reports.py --sends 100000 --hits 300000
Options: --pg-url (default postgresql://postgres@127.0.0.1:5432/bench_h6), --redis-url (default DB 6).
Target (issue 3): the report renders in under 300 ms.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import add_keep_db, add_template, median_ms, reset_database, use_database  # noqa: E402


def bulk_insert_sql(table: Any, n: int, overrides: dict[str, str]) -> str:
    """INSERT ... SELECT over generate_series(1, n) AS g, filling columns from the model's defaults."""
    import sqlalchemy as sa

    cols, exprs = [], []
    for col in table.columns:
        if col.primary_key and col.name not in overrides:
            continue
        if col.name in overrides:
            expr = overrides[col.name]
        elif col.default is not None and col.default.is_scalar:
            value = col.default.arg
            expr = "'" + str(value.value if hasattr(value, "value") else value).replace("'", "''") + "'"
            if isinstance(value, bool):
                expr = "true" if value else "false"
        elif col.default is not None and col.default.is_callable:
            name = getattr(col.default.arg, "__name__", "") or getattr(getattr(col.default.arg, "__wrapped__", None), "__name__", "")
            if "now" in name:
                expr = "now()"
            elif isinstance(col.type, sa.JSON) or "JSON" in type(col.type).__name__:
                expr = "'{}'" if "dict" in name else "'[]'"
            else:
                expr = "'{}'" if "dict" in name else "'[]'" if "list" in name else "NULL"
        elif col.nullable:
            continue
        else:
            raise SystemExit(f"no value for {table.name}.{col.name}")
        cols.append(col.name)
        exprs.append(expr)
    return f"INSERT INTO {table.name} ({', '.join(cols)}) SELECT {', '.join(exprs)} FROM generate_series(1, {n}) AS g"


def build(svc: Any, sends: int, hits: int) -> dict[str, Any]:
    import sqlalchemy as sa

    from campaigns.models import Broadcast, BroadcastStatus, Contact, Link, Send
    from campaigns.models.tracking import Hit

    reset_database(svc.db)
    with svc.db.begin() as s:
        template, version = add_template(s)
        s.add_all([Link(template_version_id=version.id, position=i, url=f"https://example.com/{i}") for i in range(1, 6)])
        s.add(Link(template_version_id=version.id, position=6, url="https://example.com/hp", honeypot=True))
        broadcast = Broadcast(name="bench", template_id=template.id, status=BroadcastStatus.SENDING)  # 1% still queued
        s.add(broadcast)
        s.flush()
        bid, vid = broadcast.id, version.id
    t0 = time.monotonic()
    with svc.db.engine.begin() as conn:
        conn.execute(sa.text(bulk_insert_sql(Contact.__table__, sends, {"email": "'c' || g || '@example.jp'"})))
        conn.execute(sa.text(bulk_insert_sql(Send.__table__, sends, {
            "contact_id": "g", "broadcast_id": str(bid), "template_version_id": str(vid),
            # 97% delivered, 2% bounced, 1% still queued
            "status": "CASE WHEN g % 100 < 97 THEN 'sent' WHEN g % 100 < 99 THEN 'failed' ELSE 'queued' END",
            "sent_at": "CASE WHEN g % 100 < 97 THEN timestamptz '2026-10-01 00:00+00' ELSE NULL END",
        })))
        # Hits over 30 days: per hit h, send = hash of h; kind/class mix: 55% human opens, 20% Apple MPP,
        # 15% human clicks, 10% scanner clicks (within seconds of delivery).
        conn.execute(sa.text(bulk_insert_sql(Hit.__table__, hits, {
            "event_id": "md5(g::text)",
            "send_id": "1 + ((g::bigint * 2654435761) % " + str(sends) + ")",
            "contact_id": "1 + ((g::bigint * 2654435761) % " + str(sends) + ")",
            "kind": "CASE WHEN g % 20 < 15 THEN 'open' ELSE 'click' END",
            "classification": "CASE WHEN g % 20 < 11 THEN 'human' WHEN g % 20 < 15 THEN 'machine_open' "
                              "WHEN g % 20 < 18 THEN 'human' ELSE 'scanner' END",
            "reason": "CASE WHEN g % 20 BETWEEN 11 AND 14 THEN 'apple_mpp' WHEN g % 20 >= 18 THEN 'click_at_delivery' "
                      "ELSE '' END",
            "link_id": "CASE WHEN g % 20 < 15 THEN NULL ELSE (SELECT min(id) FROM links) + (g % 5) END",
            "occurred_at": "timestamptz '2026-10-01 00:00+00' + ((g % 720) * interval '1 hour') "
                           "+ ((g % 3600) * interval '1 second')",
            "recorded_at": "now()",
            "user_agent": "'Mozilla/5.0'", "ip": "'203.0.113.0'", "network": "''",
        })))
        # Roll-ups, built independently of the writer: raw counts per hour and class...
        conn.execute(sa.text(f"""
            INSERT INTO engagement_rollups (scope, scope_id, variant, link_id, bucket, metric, count)
            SELECT 'b', {bid}, '', 0, date_trunc('hour', occurred_at), kind || '_' || classification, count(*)
            FROM tracking_hits GROUP BY 5, 6
            UNION ALL
            SELECT 'b', {bid}, '', link_id, date_trunc('hour', occurred_at), 'click_' || classification, count(*)
            FROM tracking_hits WHERE kind = 'click' GROUP BY 4, 5, 6"""))
        # ...and unique opens/clicks at each send's first human open (or click) and first human click.
        conn.execute(sa.text(f"""
            INSERT INTO engagement_rollups (scope, scope_id, variant, link_id, bucket, metric, count)
            SELECT 'b', {bid}, '', 0, date_trunc('hour', first_any), 'unique_open', count(*) FROM (
              SELECT send_id, min(occurred_at) AS first_any FROM tracking_hits WHERE classification = 'human'
              GROUP BY send_id) t GROUP BY 5
            UNION ALL
            SELECT 'b', {bid}, '', 0, date_trunc('hour', first_click), 'implied_open', count(*) FROM (
              SELECT send_id, min(occurred_at) AS first_click FROM tracking_hits WHERE classification = 'human'
              GROUP BY send_id HAVING bool_and(kind = 'click')) t GROUP BY 5
            UNION ALL
            SELECT 'b', {bid}, '', 0, date_trunc('hour', first_click), 'unique_click', count(*) FROM (
              SELECT send_id, min(occurred_at) AS first_click FROM tracking_hits
              WHERE classification = 'human' AND kind = 'click' GROUP BY send_id) t GROUP BY 5
            UNION ALL
            SELECT 'b', {bid}, '', link_id, date_trunc('hour', first_click), 'unique_click', count(*) FROM (
              SELECT send_id, link_id, min(occurred_at) AS first_click FROM tracking_hits
              WHERE classification = 'human' AND kind = 'click' GROUP BY send_id, link_id) t GROUP BY 4, 5"""))
    with svc.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    return {"broadcast_id": bid, "build_s": time.monotonic() - t0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/bench_h6")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/6")
    parser.add_argument("--sends", type=int, default=1_000_000)
    parser.add_argument("--hits", type=int, default=3_000_000)
    parser.add_argument("--reuse", action="store_true", help="keep the data of the previous run (skip the build)")
    add_keep_db(parser)
    args = parser.parse_args()

    import os

    import sqlalchemy as sa

    from campaigns.insights.reports import broadcast_report, timeseries
    from campaigns.models.tracking import RollupScope
    from campaigns.users import create_user
    from wsgi import create_app

    use_database(args.pg_url, args.keep_db, reuse=args.reuse)
    app = create_app({"database_url": args.pg_url, "redis_url": args.redis_url, "secret_key": "bench",
                      "WTF_CSRF_ENABLED": False})
    svc = app.extensions["nurture"]
    if args.reuse:
        info = {"broadcast_id": 1, "build_s": 0.0}
    else:
        info = build(svc, args.sends, args.hits)
        with svc.db.begin() as s:
            create_user(s, "bench@example.jp", "bench password 123", "Bench")
    bid = info["broadcast_id"]
    ledger_key = f"nurture:report:ledger:b:{bid}"

    def service(cold: bool = False) -> Any:
        if cold:
            svc.redis.delete(ledger_key)  # as on the first view, or a minute after the last one
        with svc.db.factory() as s:
            report = broadcast_report(s, bid, cache=svc.redis)
            timeseries(s, RollupScope.BROADCAST, [bid], "hour")
            timeseries(s, RollupScope.BROADCAST, [bid], "day")
            return report["summary"]

    client = app.test_client()
    client.post("/login", data={"email": "bench@example.jp", "password": "bench password 123"})

    def page() -> int:
        html = client.get(f"/reports/broadcasts/{bid}")
        series = client.get(f"/reports/broadcasts/{bid}/series.json?granularity=hour")
        assert html.status_code == 200 and series.status_code == 200, (html.status_code, series.status_code)
        return len(series.get_json()["labels"])

    def naive() -> tuple[int, int]:
        with svc.db.engine.connect() as conn:
            opens = conn.scalar(sa.text("SELECT count(DISTINCT send_id) FROM tracking_hits WHERE classification = 'human'"))
            clicks = conn.scalar(sa.text(
                "SELECT count(DISTINCT send_id) FROM tracking_hits WHERE classification = 'human' AND kind = 'click'"))
            return int(opens), int(clicks)

    cold_ms, summary = median_ms(lambda: service(cold=True))
    service_ms, _ = median_ms(service)
    svc.redis.delete(ledger_key)
    page_ms, buckets = median_ms(page)
    svc.redis.delete(ledger_key)
    page_cold_ms, _ = median_ms(lambda: (svc.redis.delete(ledger_key), page())[1])
    naive_ms, (opens, clicks) = median_ms(naive, runs=3)

    from campaigns.db import now_utc
    from campaigns.insights.reports import refresh_live_ledgers

    def recount() -> int:
        with svc.db.factory() as s:
            return refresh_live_ledgers(s, svc.redis, now_utc())

    with svc.db.begin() as s:  # data of an older run may say "sent": 1% of its sends are still queued
        s.execute(sa.text("UPDATE broadcasts SET status = 'sending' WHERE id = :b"), {"b": bid})
    svc.redis.delete(ledger_key)
    recount_ms, scopes = median_ms(recount, runs=3)
    after_recount_ms, _ = median_ms(page)
    assert (summary.unique_opens, summary.unique_clicks) == (opens, clicks), (summary, opens, clicks)
    with svc.db.engine.connect() as conn:
        counts = {t: conn.scalar(sa.text(f"SELECT count(*) FROM {t}")) for t in ("sends", "tracking_hits",
                                                                                  "engagement_rollups")}
    print(f"\nPostgreSQL {args.pg_url.rsplit('/', 1)[1]}: {counts['sends']:,} sends, {counts['tracking_hits']:,} hits, "
          f"{counts['engagement_rollups']:,} roll-up rows (built in {info['build_s']:.0f} s); "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"report: delivered {summary.delivered:,}, bounced {summary.bounced:,}, unique human opens "
          f"{summary.unique_opens:,} (= direct count), unique human clicks {summary.unique_clicks:,} (= direct count), "
          f"{buckets} hourly buckets")
    print(f"{'what':<48} {'median ms':>10}")
    print(f"{'service, warm: broadcast_report + hourly + daily':<48} {service_ms:>10.1f}")
    print(f"{'service, cold: + ledger count (cache expired)':<48} {cold_ms:>10.1f}")
    print(f"{'page, warm: GET report HTML + series.json':<48} {page_ms:>10.1f}")
    print(f"{'page, cold: same, ledger count not cached':<48} {page_cold_ms:>10.1f}")
    print(f"{'naive: unique counts from the hits table':<48} {naive_ms:>10.1f}")
    print(f"{'scheduler recount of live campaigns (background)':<48} {recount_ms:>10.1f}  ({scopes} scope(s))")
    print(f"{'page right after that recount':<48} {after_recount_ms:>10.1f}")
    print(f"\nreproduce: .venv/bin/python bench/bench_reports.py --sends {args.sends} --hits {args.hits}"
          + (" --reuse" if args.reuse else ""))


if __name__ == "__main__":
    main()
