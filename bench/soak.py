"""Soak: tracking load at half the benchmark's rate while a large broadcast sends, for N minutes.

What runs (all on this machine, 127.0.0.1), as production runs it:
  gunicorn 'wsgi:create_app()'     tracking endpoints (open pixel, click redirect)
  python worker.py scheduler       plans the broadcast, reconciles the queue
  python worker.py worker  (xW)    sends it
  python worker.py hit-writer      moves buffered hits to PostgreSQL
  a sink SMTP server (this file, --sink mode, its own process): PIPELINING, accepts everything, counts
  copies per recipient and Message-ID
  the load (this process): paced HTTP/1.1 keep-alive GETs, 70% opens and 30% clicks over 20,000 earlier
  sends, at --rate requests/s (default 700: half of the 1,403 pixel req/s bench_tracking.py measured on
  a quiet machine, docs/benchmarks.md)
Every --sample seconds it records the RSS of every process (gunicorn's workers included, from /proc).

At the end it reports: HTTP status classes (5xx counted), the RSS of each process over time and whether
it is flat (last third's median within 10% or 16 MB of the middle third's; the first third is warm-up), and whether
everything is accounted for: every 2xx/3xx response is a hit in the database, every send of the
broadcast is 'sent' in the ledger and was received exactly once by the sink (or is flagged).

Reproduce (repository root; needs Redis and PostgreSQL; uses the database bench_h7 and Redis DB 7):
    .venv/bin/python bench/soak.py                              # 10 minutes, 100,000 mails
    .venv/bin/python bench/soak.py --minutes 1 --mails 20000    # a quick proof run
Options: --rate, --mails, --workers, --web-workers, --sample, --pg-url, --redis-url, --drain-minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import (  # noqa: E402
    add_keep_db,
    free_port,
    refuse_shared_redis,
    reset_database,
    use_database,
    wait_port,
)

SECRET = "bench-soak-secret"
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
_MID = re.compile(rb"^Message-ID:\s*(\S+)", re.MULTILINE | re.IGNORECASE)


# ---------------------------------------------------------------- the sink SMTP server (--sink mode)
def run_sink(port: int, out: Path) -> None:
    """An SMTP sink with PIPELINING: 250 to everything; on SIGTERM writes its tallies to `out` as JSON."""
    copies: Counter[str] = Counter()
    mids: Counter[str] = Counter()
    totals = {"messages": 0, "connections": 0}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        totals["connections"] += 1
        writer.write(b"220 sink ESMTP\r\n")
        rcpts: list[str] = []
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                verb = line[:4].upper()
                if verb == b"EHLO":
                    writer.write(b"250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 52428800\r\n")
                elif verb == b"MAIL":
                    rcpts = []
                    writer.write(b"250 2.1.0 Ok\r\n")
                elif verb == b"RCPT":
                    rcpts.append(line[8:].strip().strip(b"<>").decode("ascii", "replace").lower())
                    writer.write(b"250 2.1.5 Ok\r\n")
                elif verb == b"DATA":
                    writer.write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    body = await reader.readuntil(b"\r\n.\r\n")
                    totals["messages"] += 1
                    for r in rcpts:
                        copies[r] += 1
                    m = _MID.search(body[:4096])
                    if m:
                        mids[m.group(1).decode("ascii", "replace")] += 1
                    writer.write(b"250 2.0.0 Ok: queued\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 2.0.0 Bye\r\n")
                    break
                elif verb in (b"RSET", b"NOOP", b"HELO"):
                    writer.write(b"250 Ok\r\n")
                else:
                    writer.write(b"502 5.5.2 Error: command not recognized\r\n")
                if not reader._buffer:  # type: ignore[attr-defined]  # answer pipelined commands together
                    await writer.drain()
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, limit=64 * 1024 * 1024, backlog=512)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        async with server:
            await stop.wait()
        out.write_text(json.dumps({
            **totals, "recipients": len(copies), "extra_copies": sum(n - 1 for n in copies.values()),
            "duplicate_message_ids": sum(1 for n in mids.values() if n > 1),
            "copies_by_recipient": dict(copies) if len(copies) <= 200_000 else {},
        }))

    asyncio.run(main())


# ---------------------------------------------------------------- set-up
def setup(args: argparse.Namespace) -> tuple[Any, list[str], int]:
    """Fresh tables; 20,000 earlier (sent) sends for the tracking load; `--mails` contacts and a broadcast
    to all of them scheduled now. Returns the app, the tracking paths and the broadcast id."""
    import sqlalchemy as sa

    from campaigns.db import now_utc
    from campaigns.delivery.rendering import create_template
    from campaigns.journeys.broadcasts import create_broadcast, schedule_broadcast
    from campaigns.models import Broadcast, BroadcastStatus, Contact, ContactStatus, Link, Send, SendStatus
    from campaigns.users import get_account
    from wsgi import create_app

    refuse_shared_redis(args.redis_url)
    app = create_app({"database_url": args.pg_url, "redis_url": args.redis_url, "secret_key": SECRET,
                      "base_url": "http://127.0.0.1"})
    svc = app.extensions["nurture"]
    svc.redis.flushdb()
    reset_database(svc.db)
    with svc.db.begin() as s:
        account = get_account(s)
        account.company_name, account.postal_address = "Nurture Soak", "1-1-1 Marunouchi, Tokyo"
        account.contact_info, account.from_email, account.from_name = "support@soak.test", "news@soak.test", "Soak"
        account.freq_cap_count = 0
        html = ("<html><body><h1>Hello {{ contact.first_name }}</h1><p>News of the month.</p>"
                '<p><a href="https://example.com/a">Read</a> <a href="https://example.com/b">More</a></p></body></html>')
        template = create_template(s, "soak", subject="News for {{ contact.first_name }}", html_source=html)
        version_id = template.current_version_id
        earlier = Broadcast(name="earlier", template_id=template.id, status=BroadcastStatus.SENT)
        s.add(earlier)
        s.flush()
        earlier_id = earlier.id
        link_ids = list(s.scalars(sa.select(Link.id).where(Link.template_version_id == version_id)))
        if not link_ids:
            links = [Link(template_version_id=version_id, position=i, url=f"https://example.com/{i}")
                     for i in range(1, 3)]
            s.add_all(links)
            s.flush()
            link_ids = [link.id for link in links]
    sent_at = now_utc() - timedelta(days=1)
    with svc.db.engine.begin() as conn:
        conn.execute(sa.insert(Contact.__table__), [{"email": f"old{i}@example.jp"} for i in range(20000)])
        old_ids = [r[0] for r in conn.execute(sa.text("SELECT id FROM contacts ORDER BY id"))]
        conn.execute(sa.insert(Send.__table__), [
            {"contact_id": c, "broadcast_id": earlier_id, "template_version_id": version_id,
             "status": SendStatus.SENT, "sent_at": sent_at} for c in old_ids])
        send_ids = [r[0] for r in conn.execute(sa.text("SELECT id FROM sends"))]
        conn.execute(sa.insert(Contact.__table__), [{"email": f"lead{i}@example.jp", "first_name": f"N{i}"}
                                                    for i in range(args.mails)])
    # The audience: the new contacts only (the earlier ones are unsubscribed from this list's point of view).
    with svc.db.begin() as s:
        s.execute(sa.update(Contact).where(Contact.email.like("old%")).values(status=ContactStatus.UNSUBSCRIBED))
        broadcast = create_broadcast(s, "Soak broadcast", template.id)
        schedule_broadcast(s, broadcast, now_utc())
        broadcast_id = broadcast.id
    rng = random.Random(7)
    paths = []
    for sid in send_ids:
        url = svc.urls.open_pixel(sid) if rng.random() < 0.7 else svc.urls.click(sid, rng.choice(link_ids))
        paths.append("/" + url.split("://", 1)[1].split("/", 1)[1])
    return app, paths, broadcast_id


# ---------------------------------------------------------------- the paced load
async def load(port: int, paths: list[str], rate: float, seconds: float, connections: int) -> Counter[str]:
    """GET `paths` at `rate` requests/s over keep-alive connections for `seconds`; tallies status classes."""
    tally: Counter[str] = Counter()
    start = time.monotonic()
    interval = connections / rate

    async def one(index: int) -> None:
        rng = random.Random(index)
        reader = writer = None
        n = 0
        while True:
            due = start + index * interval / connections + n * interval
            if due - start >= seconds or time.monotonic() - start >= seconds:
                break  # a server that cannot keep the pace does not stretch the soak: late requests are dropped
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.1:  # the server (or this client) cannot keep the pace
                tally["late_over_100ms"] += 1
            n += 1
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                assert reader is not None
                writer.write(f"GET {rng.choice(paths)} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {UA}\r\n\r\n".encode())
                async with asyncio.timeout(10):
                    status_line = await reader.readline()
                    length, close = 0, False
                    while True:
                        header = await reader.readline()
                        if header in (b"\r\n", b""):
                            break
                        name, _, value = header.partition(b":")
                        if name.lower() == b"content-length":
                            length = int(value)
                        elif name.lower() == b"connection" and b"close" in value.lower():
                            close = True
                    if length:
                        await reader.readexactly(length)
                code = int(status_line.split()[1])
                tally[f"{code // 100}xx"] += 1
                if close:
                    writer.close()
                    reader = writer = None
            except (OSError, TimeoutError, ValueError, IndexError, asyncio.IncompleteReadError) as exc:
                tally[f"error_{type(exc).__name__}"] += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    await asyncio.gather(*(one(i) for i in range(connections)))
    return tally


# ---------------------------------------------------------------- memory
def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out


def flat(series: list[float]) -> tuple[bool, float, float]:
    """(flat?, median of the middle third, median of the last third): the first third is warm-up (imports,
    connection pools, compiled templates, allocator arenas), growth after it is what a leak looks like."""
    third = max(1, len(series) // 3)
    middle, last = series[third : 2 * third] or series, series[-third:]
    first_m, last_m = statistics.median(middle), statistics.median(last)
    return (last_m - first_m) <= max(0.10 * first_m, 16.0), first_m, last_m


# ---------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=700.0, help="tracking requests per second")
    parser.add_argument("--mails", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2, help="send workers")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers (gthread, 8 threads)")
    parser.add_argument("--connections", type=int, default=16, help="HTTP keep-alive connections of the load")
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between RSS samples")
    parser.add_argument("--drain-minutes", type=float, default=15.0, help="how long to wait for the broadcast after")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/bench_h7")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    parser.add_argument("--sink", nargs=2, metavar=("PORT", "OUT"), help=argparse.SUPPRESS)
    add_keep_db(parser)
    args = parser.parse_args()
    if args.sink:
        run_sink(int(args.sink[0]), Path(args.sink[1]))
        return

    import sqlalchemy as sa

    use_database(args.pg_url, args.keep_db)
    t_setup = time.monotonic()
    app, paths, broadcast_id = setup(args)
    print(f"set-up: {args.mails} contacts, 20,000 earlier sends, {time.monotonic() - t_setup:.1f}s", flush=True)
    svc = app.extensions["nurture"]
    tmp = Path(tempfile.mkdtemp(prefix="soak-"))
    sink_port, web_port = free_port(), free_port()
    env = {**os.environ, "DATABASE_URL": args.pg_url, "REDIS_URL": args.redis_url, "SECRET_KEY": SECRET,
           "BASE_URL": "http://127.0.0.1", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(sink_port),
           "PYTHONPATH": str(ROOT)}
    log = (tmp / "processes.log").open("ab")

    def spawn(cmd: list[str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    procs: dict[str, subprocess.Popen[bytes]] = {"sink": spawn([sys.executable, __file__, "--sink", str(sink_port),
                                                                str(tmp / "sink.json")])}
    wait_port(sink_port)
    procs["web"] = spawn([str(ROOT / ".venv/bin/gunicorn"), "wsgi:create_app()", "-b", f"127.0.0.1:{web_port}",
                          "-w", str(args.web_workers), "-k", "gthread", "--threads", "8", "--log-level", "warning"])
    procs["hit-writer"] = spawn([sys.executable, "worker.py", "hit-writer"])
    procs["scheduler"] = spawn([sys.executable, "worker.py", "scheduler"])
    for i in range(args.workers):
        procs[f"worker{i + 1}"] = spawn([sys.executable, "worker.py", "worker"])
    wait_port(web_port)
    time.sleep(2)  # gunicorn's workers import the app after the port opens

    samples: dict[str, list[float]] = {name: [] for name in procs}
    progress: list[tuple[float, int, int]] = []

    def sample() -> None:
        for name, proc in procs.items():
            samples[name].append(rss_mb(proc.pid) + sum(rss_mb(c) for c in children(proc.pid)))
        with svc.db.engine.connect() as conn:
            sent = conn.scalar(sa.text("SELECT count(*) FROM sends WHERE broadcast_id = :b AND status = 'sent'"),
                               {"b": broadcast_id})
            hits = conn.scalar(sa.text("SELECT count(*) FROM tracking_hits"))
        progress.append((time.monotonic() - started, int(sent or 0), int(hits or 0)))

    async def sampler(until: float) -> None:
        while time.monotonic() < until:
            sample()
            await asyncio.sleep(args.sample)

    started = time.monotonic()
    seconds = args.minutes * 60

    async def run() -> Counter[str]:
        sampling = asyncio.create_task(sampler(started + seconds))
        tally = await load(web_port, paths, args.rate, seconds, args.connections)
        await sampling
        return tally

    try:
        tally = asyncio.run(run())
        load_end = time.monotonic()
        load_seconds = load_end - started
        print(f"load done: {dict(tally)}", flush=True)
        ok = tally["2xx"] + tally["3xx"]
        drain_deadline = time.monotonic() + args.drain_minutes * 60
        while time.monotonic() < drain_deadline:
            sample()
            _, sent, hits = progress[-1]
            if sent >= args.mails and hits >= ok and svc.redis.xlen("nurture:hits") == 0:
                break
            time.sleep(args.sample)
        drained = time.monotonic() - load_end
        crashed = {name: proc.poll() for name, proc in procs.items() if proc.poll() is not None}
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()

    sink = json.loads((tmp / "sink.json").read_text()) if (tmp / "sink.json").exists() else {}
    with svc.db.engine.connect() as conn:
        statuses = dict(conn.execute(sa.text(
            "SELECT status, count(*) FROM sends WHERE broadcast_id = :b GROUP BY status"), {"b": broadcast_id}).all())
        flagged = conn.scalar(sa.text("SELECT count(*) FROM sends WHERE broadcast_id = :b AND possible_duplicate"),
                              {"b": broadcast_id})
        hits = conn.scalar(sa.text("SELECT count(*) FROM tracking_hits"))
    copies = sink.get("copies_by_recipient", {})

    print(f"\nsoak: {args.minutes:g} min of tracking load at {args.rate:g} req/s ({args.connections} connections, "
          f"gunicorn -w {args.web_workers} -k gthread --threads 8) while a {args.mails:,}-mail broadcast sent with "
          f"{args.workers} workers to a sink; PostgreSQL {args.pg_url.rsplit('/', 1)[1]}; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} at the end")
    total = sum(v for k, v in tally.items() if k != "late_over_100ms")
    errors = sum(v for k, v in tally.items() if k.startswith("error_"))
    print(f"HTTP: {total:,} requests in {load_seconds:.0f} s = {total / load_seconds:.0f}/s; " + ", ".join(
        f"{k} {v:,}" for k, v in sorted(tally.items())) + f"; 5xx: {tally['5xx']}")
    # A request the client gave up on (timeout) may still have been served and stored: the database must
    # hold every answered hit and at most the requests sent.
    hits_ok = ok <= hits <= ok + errors
    print(f"hits: {ok:,} answered 2xx/3xx, {errors} client errors/timeouts, {hits:,} in the database -> "
          f"{'all accounted for' if hits_ok else 'MISMATCH'}"
          + (f" ({hits - ok} of the timed-out requests were served and stored)" if hits_ok and hits > ok else ""))
    missing = [f"lead{i}@example.jp" for i in range(args.mails) if copies and f"lead{i}@example.jp" not in copies]
    print(f"sends: ledger {statuses}; flagged possible duplicates {flagged}; sink received {sink.get('messages', 0):,} "
          f"messages for {sink.get('recipients', 0):,} recipients, {sink.get('extra_copies', 0)} extra copies, "
          f"{sink.get('duplicate_message_ids', 0)} repeated Message-IDs; missing {len(missing)}")
    accounted = (statuses.get("sent", 0) == args.mails and sink.get("recipients") == args.mails and not missing
                 and sink.get("extra_copies", 0) <= (flagged or 0))
    print(f"sends accounted for: {'yes' if accounted else 'NO'}; broadcast finished {drained:.0f}s after the load ended")
    began = next((t for t, sent, _ in progress if sent > 0), None)
    ended = next((t for t, sent, _ in progress if sent >= args.mails), None)
    if began is not None and ended is not None and ended > began:
        print(f"sending: first to last sample with mail sent {ended - began:.0f} s, "
              f"about {args.mails / (ended - began):.0f} mails/s (sampling every {args.sample:g} s)")
    print(f"\n{'process':<12} {'RSS MB over time (every ' + str(args.sample) + ' s, thinned)':<60} {'middle':>7} {'last':>7} flat")
    all_flat = True
    for name, series in samples.items():
        if not series:
            continue
        is_flat, first, last = flat(series)
        all_flat &= is_flat
        step = max(1, len(series) // 12)
        shown = " ".join(f"{v:.0f}" for v in series[::step])
        print(f"{name:<12} {shown:<60} {first:>7.1f} {last:>7.1f} {'yes' if is_flat else 'NO'}")
    print(f"memory flat in every process: {'yes' if all_flat else 'NO'}; processes that died: {crashed or 'none'}")
    print(f"\nreproduce: .venv/bin/python bench/soak.py --minutes {args.minutes:g} --rate {args.rate:g} "
          f"--mails {args.mails} --workers {args.workers} --web-workers {args.web_workers}; logs in {tmp}")


if __name__ == "__main__":
    main()
