"""Hit writer benchmark: the cost of storing one batch of clicks (campaigns.engagement.hit_writer.process_batch)
on PostgreSQL, for mails that already have stored clicks, as after a few rounds of bench_tracking.

What runs: one broadcast of --sends delivered sends with 3 links (bench_tracking's setup); --history
clicks per mail stored first, through the writer itself; then --batches batches of --batch new clicks
on random mails, each processed and rolled back (so every batch meets the same history). Each click
batch re-reads the stored clicks of its mails (the burst and honeypot rules look at them all).
Printed: wall and CPU seconds of the writer per batch, and the time of each kind of SQL statement.

Reproduce (from the repository root; needs PostgreSQL and Redis):
    .venv/bin/python bench/bench_hit_writer.py
    .venv/bin/python bench/bench_hit_writer.py --pg-url postgresql://postgres@127.0.0.1:5432/bench_track --history 6
"""

from __future__ import annotations

import argparse
import collections
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import add_keep_db, use_database  # noqa: E402
from bench.bench_tracking import setup  # noqa: E402

UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
      "Safari/537.36")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/bench_track")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--sends", type=int, default=20000)
    parser.add_argument("--history", type=int, default=6, help="stored clicks per mail before the timed batches")
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--batches", type=int, default=5)
    add_keep_db(parser)
    args = parser.parse_args()

    import sqlalchemy as sa
    from sqlalchemy import event

    from campaigns.engagement.hit_buffer import make_entry
    from campaigns.engagement.hit_writer import process_batch
    from campaigns.models.tracking import HitKind

    use_database(args.pg_url, args.keep_db)
    app, _pixels, _clicks = setup(args.pg_url, args.redis_url, args.sends)
    svc = app.extensions["nurture"]
    with svc.db.engine.connect() as conn:
        sends = [r[0] for r in conn.execute(sa.text("SELECT id FROM sends ORDER BY id"))]
        links = [r[0] for r in conn.execute(sa.text("SELECT id FROM links ORDER BY id"))]
    rng = random.Random(1)
    link_of = {s: rng.choice(links) for s in sends}  # one link per mail, as bench_tracking's tokens

    def entries(send_ids: list[int]) -> list[dict[bytes, bytes]]:
        return [{k.encode(): v.encode() for k, v in
                 make_entry(svc, HitKind.CLICK, s, link_of[s], UA, "127.0.0.1").items()} for s in send_ids]

    t = time.perf_counter()
    history = [s for s in sends for _ in range(args.history)]
    rng.shuffle(history)
    for i in range(0, len(history), 5000):
        with svc.db.begin() as session:
            process_batch(session, entries(history[i : i + 5000]))
    with svc.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE tracking_hits"))
    print(f"# {args.sends} mails, {len(history)} stored clicks ({args.history} per mail) in "
          f"{time.perf_counter() - t:.1f} s; timed batches of {args.batch} new clicks, each rolled back")

    sql: collections.Counter[str] = collections.Counter()

    @event.listens_for(svc.db.engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        conn.info["started"] = time.perf_counter()

    @event.listens_for(svc.db.engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        sql[" ".join(statement.split())[:70]] += time.perf_counter() - conn.info["started"]

    walls, cpus = [], []
    for _ in range(args.batches):
        batch = entries([rng.choice(sends) for _ in range(args.batch)])
        session = svc.db.factory()
        w, c = time.perf_counter(), time.process_time()
        process_batch(session, batch)  # the COPY of new hits is not a cursor execute: it is in the rest
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
        session.rollback()
        session.close()
    walls.sort()
    cpus.sort()
    med = args.batches // 2
    print(f"per batch of {args.batch}: wall median {walls[med]:.3f} s (min {walls[0]:.3f}), writer CPU median "
          f"{cpus[med]:.3f} s  ->  {args.batch / walls[med]:,.0f} clicks/s for one writer on an idle machine")
    print("SQL statements, seconds per batch (median batch's share not separated: total / batches):")
    for statement, seconds in sql.most_common(6):
        print(f"  {seconds / args.batches:7.3f}  {statement}")
    print("reproduce: .venv/bin/python bench/bench_hit_writer.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
