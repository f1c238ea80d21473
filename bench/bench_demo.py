"""Demo seeding benchmark: `nurture run`'s first start (campaigns.demo.seed_demo with its 90 days of history,
campaigns.demo_history) on a fresh SQLite file and a fresh PostgreSQL database, wall time of the one call.

Reproduce (from the repository root; needs Redis, and PostgreSQL for the second figure):
    .venv/bin/python bench/bench_demo.py                 # both databases, 3 runs each, the median
    .venv/bin/python bench/bench_demo.py --sqlite-only
Options: --pg-url (default postgresql://postgres@127.0.0.1:5432/bench_demo), --redis-url (default DB 5), --runs.
Target (issue 19): under 30 s.
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

from bench._common import add_keep_db, reset_database, use_database, use_temp_dir  # noqa: E402


def _seed_once(url: str, redis_url: str, fresh: Any) -> tuple[float, dict[str, int], str]:
    import sqlalchemy as sa

    from campaigns.demo import seed_demo
    from campaigns.models import Contact, Hit, Send
    from wsgi import create_app

    app = create_app({"database_url": url, "redis_url": redis_url, "secret_key": "bench"})
    svc = app.extensions["nurture"]
    fresh(svc.db)
    t0 = time.perf_counter()
    summary = seed_demo(svc)
    took = time.perf_counter() - t0
    with svc.db.begin() as s:
        counts = {str(k): int(n) for k, n in s.execute(sa.select(Contact.stage, sa.func.count()).group_by(Contact.stage))}
        counts["sends"] = int(s.scalar(sa.select(sa.func.count()).select_from(Send)) or 0)
        counts["hits"] = int(s.scalar(sa.select(sa.func.count()).select_from(Hit)) or 0)
    svc.db.engine.dispose()
    return took, counts, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/bench_demo")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/5")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sqlite-only", action="store_true")
    add_keep_db(parser)
    args = parser.parse_args()

    from campaigns.models import create_all

    folder = use_temp_dir("bench_demo_", args.keep_db)
    targets: list[tuple[str, str, Any]] = []
    for run in range(args.runs):
        targets.append(("sqlite", f"sqlite:///{folder}/demo{run}.db", create_all))
    if not args.sqlite_only:
        use_database(args.pg_url, args.keep_db)
        targets += [("postgresql", args.pg_url, reset_database)] * args.runs
    times: dict[str, list[float]] = {}
    for name, url, fresh in targets:
        took, counts, summary = _seed_once(url, args.redis_url, fresh)
        times.setdefault(name, []).append(took)
        print(f"{name:<11} {took:6.2f} s  {counts}")
    print(f"# {summary}")
    for name, values in times.items():
        print(f"seed_demo on {name}: median {statistics.median(values):.2f} s of {len(values)} runs "
              f"(min {min(values):.2f}, max {max(values):.2f})")
    print("# command: .venv/bin/python bench/bench_demo.py" + (" --sqlite-only" if args.sqlite_only else ""))


if __name__ == "__main__":
    main()
