"""Website collection benchmark: POST /w/collect (the snippet's page-view beacon) under gunicorn, against the
bare Flask GIF route with the same server settings, in the same run; then how long until every visit is in
the database.

What runs (all on this machine, 127.0.0.1):
  gunicorn 'bench.bare_gif:app'     a Flask app with one route returning a GIF (the ceiling)
  gunicorn 'wsgi:create_app()'      Nurture: origin check, JSON parse, buffer append, 204 (tracking/web.py)
  python worker.py hit-writer       the writer, storing visits (and upserting visitors) in PostgreSQL meanwhile
  wrk -t2 -cC -dDs --latency        beacons from an allowed Origin: V distinct visitors, each page view with its
                                    own id (a run nonce, the wrk thread and a counter), as sendBeacon posts them
The database count is polled after each run until it reaches the number of 204s wrk saw.

Reproduce (from the repository root; needs wrk, Redis, PostgreSQL; creates and drops its own database):
    .venv/bin/python bench/bench_web_collect.py
    .venv/bin/python bench/bench_web_collect.py --duration 10 --connections 32 --workers 4 --visitors 5000 --rounds 3
Targets (issue 18): recorded visits/s >= 70% of the bare route; p99 <= 25 ms; every visit in the DB <= 5 s after
the load ends.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import add_keep_db, refuse_shared_redis, reset_database, use_database  # noqa: E402
from bench.bench_tracking import LUA as GET_LUA  # noqa: E402
from bench.bench_tracking import (  # noqa: E402
    measure_drain,
    report,
    run_wrk,
    start_servers,
    stop_servers,
    wait_drained,
    warm_up,
)

SECRET = "bench-web-secret"
SITE = "https://www.example.jp"
POST_LUA = r"""
local nonce, visitors, counter = "", 1000, 0
local threads = {}
tid = 0  -- set per thread by setup()
setup = function(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
init = function(args)
  local n, v = args[1]:match("(%x+) (%d+)")
  nonce, visitors = n, tonumber(v)
  math.randomseed(os.time() * 1000 + math.floor(os.clock() * 1000000) + tid)
end
request = function()
  counter = counter + 1
  local page = string.format("%s%02x%014x", nonce, tid, counter)
  local visitor = string.format("%024x%08x", 0, math.random(visitors))
  local body = '{"k":"view","v":"' .. visitor .. '","p":"' .. page ..
    '","u":"__SITE__/pricing?utm_source=bench","t":"Pricing","r":"https://www.google.com/","n":"","w":0}'
  return wrk.format("POST", "/w/collect", {["Origin"] = "__SITE__", ["Content-Type"] = "text/plain;charset=UTF-8",
    ["User-Agent"] = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"},
    body)
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d %d %d %d %.3f %.3f %.3f\n", summary.requests, summary.duration,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status,
    summary.errors.timeout, latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
""".replace("__SITE__", SITE)


def setup(pg_url: str, redis_url: str) -> Any:
    """Fresh tables in the bench database and the site allowed."""
    from campaigns.models import WebTrackingSettings
    from wsgi import create_app

    refuse_shared_redis(redis_url)
    app = create_app({"database_url": pg_url, "redis_url": redis_url, "secret_key": SECRET})
    svc = app.extensions["nurture"]
    svc.redis.flushdb()
    reset_database(svc.db)
    with svc.db.begin() as s:
        s.add(WebTrackingSettings(id=1, allowed_domains="www.example.jp", consent_required=False, honour_gpc=True,
                                  lookback_days=30))
    return app


def count_visits(app: Any) -> int:
    import sqlalchemy as sa

    with app.extensions["nurture"].db.engine.connect() as conn:
        return int(conn.scalar(sa.text("SELECT count(*) FROM web_visits")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/bench_web_collect")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"])
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--visitors", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of bare and collect runs (median reported)")
    add_keep_db(parser)
    args = parser.parse_args()

    use_database(args.pg_url, args.keep_db)
    app = setup(args.pg_url, args.redis_url)
    tmp = Path(tempfile.mkdtemp(prefix="bench-web-"))
    (tmp / "paths.txt").write_text("\n".join(f"/{i}.gif" for i in range(1000)) + "\n")
    (tmp / "get.lua").write_text(GET_LUA)
    (tmp / "post.lua").write_text(POST_LUA)
    env = {**os.environ, "DATABASE_URL": args.pg_url, "REDIS_URL": args.redis_url, "SECRET_KEY": SECRET,
           "BASE_URL": "http://127.0.0.1", "PYTHONPATH": str(ROOT)}
    bare_port, app_port, procs = start_servers(args, env)

    def collect_run(duration: int | None = None, connections: int | None = None) -> dict[str, float]:
        # wrk passes the script's arguments after "--": a fresh nonce per run keeps page ids unique
        return run_wrk(app_port, f"{secrets.token_hex(4)} {args.visitors}", str(tmp / "post.lua"), args,
                       duration, connections)

    rounds: list[dict[str, dict[str, float]]] = []
    try:
        warm_up(lambda: run_wrk(bare_port, str(tmp / "paths.txt"), str(tmp / "get.lua"), args, duration=2, connections=8))
        warm_up(lambda: collect_run(duration=2, connections=8))
        wait_drained(app)  # the warm-up's visits are stored before counting starts
        time.sleep(1)
        before = count_visits(app)
        for _ in range(args.rounds):
            results = {"bare": run_wrk(bare_port, str(tmp / "paths.txt"), str(tmp / "get.lua"), args)}
            r = collect_run()
            before = measure_drain(r, lambda: count_visits(app), before)
            results["collect"] = r
            rounds.append(results)
    finally:
        stop_servers(procs)
    report(args, rounds, ("collect",), f"{args.visitors} visitors", "visit",
           f".venv/bin/python bench/bench_web_collect.py --visitors {args.visitors}")


if __name__ == "__main__":
    main()
