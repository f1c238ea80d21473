"""Dashboard trends (issue 19): the 13 weekly series of campaigns.insights.trends over --sends sends on PostgreSQL,
with and without ix_sends_sent_at (migration 0025), and from the one-minute cache.

Data: one template version, --sends sends spread over the last 365 days (2% failed, the rest sent), generated
with generate_series, VACUUM ANALYZE. Timed (median of --runs after a warm-up): the "mails sent" series (the one
that reads sends), "sent in the last 7 days" (the dashboard's headline), all five series (count_series), and
weekly_series from the Redis cache. EXPLAIN of the sends series with --explain.

Reproduce (from the repository root; needs PostgreSQL and Redis):
    .venv/bin/python bench/bench_dashboard_trends.py                      # 3,000,000 sends
    .venv/bin/python bench/bench_dashboard_trends.py --sends 300000 --explain
Options: --pg-url (default postgresql://postgres@127.0.0.1:5432/bench_dashboard_trends), --redis-url (its own DB
index, flushed of the trends key only), --keep-db / --reuse.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import add_keep_db, reset_database, use_database  # noqa: E402


def build(db: Any, sends: int) -> None:
    import sqlalchemy as sa

    from bench.bench_reports import bulk_insert_sql
    from campaigns.models import Contact, Send, Template, TemplateVersion

    reset_database(db)
    text_columns = ("subject", "preheader", "from_name", "html_source", "text_source", "compiled_html", "compiled_text")
    with db.begin() as s:
        s.execute(sa.text(bulk_insert_sql(Contact.__table__, 1000, {
            "email": "'c' || g || '@example.jp'", "search_text": "''"})))
        s.execute(sa.text(bulk_insert_sql(Template.__table__, 1, {"name": "'t'"})))
        s.execute(sa.text(bulk_insert_sql(TemplateVersion.__table__, 1, {
            "template_id": "(SELECT min(id) FROM templates)", "version": "1", "created_at": "now()",
            **{c: "''" for c in text_columns}})))
        at = "now() - (g::bigint * 104729 % (365 * 86400)) * interval '1 second'"
        s.execute(sa.text(bulk_insert_sql(Send.__table__, sends, {
            "contact_id": "1 + (g % 1000)", "template_version_id": "(SELECT min(id) FROM template_versions)",
            "status": "CASE WHEN g % 50 = 0 THEN 'failed' ELSE 'sent' END", "sent_at": at, "created_at": at})))
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))


def timed(runs: int, fn: Any) -> tuple[float, float]:
    fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/bench_dashboard_trends")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/6")
    parser.add_argument("--sends", type=int, default=3_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--explain", action="store_true")
    add_keep_db(parser)
    args = parser.parse_args()

    import sqlalchemy as sa
    from redis import Redis

    from campaigns.db import Database
    from campaigns.insights import trends
    from campaigns.models import Send, SendStatus

    use_database(args.pg_url, args.keep_db, reuse=args.reuse)
    db = Database(args.pg_url)
    if not args.reuse:
        print(f"generating {args.sends:,} sends ...", flush=True)
        started = time.perf_counter()
        build(db, args.sends)
        print(f"  generated and analysed in {time.perf_counter() - started:.0f} s", flush=True)
    zone = ZoneInfo("Asia/Tokyo")
    now = datetime.now(UTC)
    starts = trends.week_starts(now, zone)
    since = now - timedelta(days=7)

    def sent_series() -> None:
        with db.begin() as s:
            trends._weekly(s, Send.sent_at, starts, Send.status == SendStatus.SENT)

    def sent_7d() -> None:
        with db.begin() as s:
            s.scalar(sa.select(sa.func.count()).where(Send.status == SendStatus.SENT, Send.sent_at >= since))

    def all_series() -> None:
        with db.begin() as s:
            trends.count_series(s, starts)

    print(f"{args.sends:,} sends; median of {args.runs} after a warm-up")
    for label, ddl in (("without ix_sends_sent_at", "DROP INDEX IF EXISTS ix_sends_sent_at"),
                       ("with ix_sends_sent_at", "CREATE INDEX IF NOT EXISTS ix_sends_sent_at ON sends (sent_at) "
                                                 "INCLUDE (status)")):
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text(ddl))
            conn.execute(sa.text("VACUUM ANALYZE sends"))
        for name, fn in (("mails sent, 13 weeks", sent_series), ("sent in the last 7 days", sent_7d),
                         ("all five series", all_series)):
            ms, worst = timed(args.runs, fn)
            print(f"  {label:26s} {name:25s} {ms:8.1f} ms  max {worst:8.1f} ms")
        if args.explain:
            week = sa.case(*((Send.sent_at < starts[i + 1], i) for i in range(trends.WEEKS)), else_=trends.WEEKS)
            query = (sa.select(week, sa.func.count()).where(Send.sent_at >= starts[0], Send.sent_at < starts[-1],
                                                            Send.status == SendStatus.SENT).group_by(week))
            compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
            with db.begin() as s:
                for (line,) in s.execute(sa.text(f"EXPLAIN (ANALYZE) {compiled}")):
                    if "Group Key" not in line:
                        print("      " + line)
    cache = Redis.from_url(args.redis_url)
    for key in cache.scan_iter("nurture:dashboard:trends:*"):
        cache.delete(key)

    def cached() -> None:
        with db.begin() as s:
            trends.weekly_series(s, cache, now, zone)

    ms, worst = timed(args.runs, cached)
    print(f"  {'from the one-minute cache':26s} {'all five series':25s} {ms:8.1f} ms  max {worst:8.1f} ms")
    print("reproduce: .venv/bin/python bench/bench_dashboard_trends.py" +
          (f" --sends {args.sends}" if args.sends != 3_000_000 else ""))


if __name__ == "__main__":
    main()
