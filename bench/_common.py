"""Helpers the benchmarks share: benchmark databases, loopback ports, /proc CPU figures, medians.

Imported as `bench._common` by scripts run as `.venv/bin/python bench/X.py` (each puts the repository root
on sys.path first); sqlalchemy and the app are imported lazily so a script's --help stays fast.

Every benchmark creates the databases it uses (a fresh machine has none) and drops them when it ends, unless
it is given --keep-db (use_database, use_temp_dir); --reuse then finds the data of that run.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_SQLITE = "sqlite:///"


def _admin_engine(url: str) -> tuple[Any, str]:
    """An AUTOCOMMIT engine on the server's `postgres` database, and the database name `url` names."""
    import sqlalchemy as sa

    parsed = sa.engine.make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    return sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT"), str(parsed.database)


def ensure_database(url: str) -> bool:
    """Create the benchmark database `url` names if it does not exist (PostgreSQL: CREATE DATABASE; SQLite:
    the file's folder); True when it had to be created."""
    if url.startswith(_SQLITE):
        path = Path(url[len(_SQLITE):])
        path.parent.mkdir(parents=True, exist_ok=True)
        return not path.exists()
    import sqlalchemy as sa

    admin, name = _admin_engine(url)
    try:
        with admin.connect() as conn:
            if conn.scalar(sa.text("select 1 from pg_database where datname = :n"), {"n": name}):
                return False
            conn.execute(sa.text(f'create database "{name}"'))
            return True
    finally:
        admin.dispose()


def drop_database(url: str) -> bool:
    """Drop a benchmark database: PostgreSQL DROP DATABASE ... WITH (FORCE), which also ends the run's own
    pooled connections, for names starting with 'bench' only; SQLite the file with its -wal/-shm/-journal.
    Returns whether it dropped (False: a database not named bench*, kept and said so)."""
    if url.startswith(_SQLITE):
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(url[len(_SQLITE):] + suffix).unlink(missing_ok=True)
        return True
    import sqlalchemy as sa

    admin, name = _admin_engine(url)
    if not name.startswith("bench"):
        admin.dispose()
        print(f"# database {name!r} kept: only databases named bench* are dropped", file=sys.stderr)
        return False
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))
    finally:
        admin.dispose()
    return True


def add_keep_db(parser: argparse.ArgumentParser) -> None:
    """The --keep-db option every benchmark that uses a database has."""
    parser.add_argument("--keep-db", action="store_true",
                        help="keep the benchmark's database(s) when it ends (default: drop them); --reuse needs it")


def use_database(url: str, keep: bool, reuse: bool = False) -> str:
    """Create the database `url` names for this run and drop it when the process exits, unless `keep`
    (--keep-db). With `reuse` (--reuse) the database must be one an earlier run kept. Returns `url`."""
    created = ensure_database(url)
    if reuse and created:
        drop_database(url)
        raise SystemExit(f"--reuse: {url} has no data of an earlier run (run once with --keep-db first)")
    if not keep:
        # At exit, after main's own clean-up (servers and workers stopped); messages go to stderr so that the
        # benchmark's output stays what it was.
        atexit.register(_drop_at_exit, url)
    return url


def _drop_at_exit(url: str) -> None:
    try:
        dropped = drop_database(url)
    except Exception as exc:  # the figures are printed already; say what is left behind
        print(f"# could not drop {url}: {exc}", file=sys.stderr)
        return
    if dropped:
        print(f"# dropped {url.rsplit('/', 1)[-1]} (--keep-db keeps it)", file=sys.stderr)


def use_temp_dir(prefix: str, keep: bool) -> Path:
    """A new folder for this run's files (SQLite databases, generated CSVs), removed when the process exits
    unless `keep` (--keep-db)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if not keep:
        atexit.register(shutil.rmtree, path, True)
    return path


def reset_database(db: Any) -> None:
    """Drop everything in a benchmark database (only one whose name starts with 'bench') and create the tables."""
    import sqlalchemy as sa

    from campaigns.models import create_all

    name = db.engine.url.database or ""
    if not name.startswith("bench"):
        raise SystemExit(f"refusing to reset database {name!r}: benchmark databases are named bench*")
    with db.engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    create_all(db)


def add_template(s: Any) -> tuple[Any, Any]:
    """A template named 'bench' with its version 1 (subject 's'), flushed so both have ids."""
    from campaigns.models import Template, TemplateVersion

    template = Template(name="bench")
    s.add(template)
    s.flush()
    version = TemplateVersion(template_id=template.id, version=1, subject="s")
    s.add(version)
    s.flush()
    return template, version


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 30) -> None:
    """Wait until something accepts connections on 127.0.0.1:`port`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def proc_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process on this machine, from /proc (OSError if gone)."""
    # The command name in field 2 may hold spaces or parentheses: split after its closing one.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def median_ms(fn: Callable[[], Any], runs: int = 7) -> tuple[float, Any]:
    """Median milliseconds of `runs` calls after one warm-up call, and the warm-up's result (to check)."""
    result = fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), result


def refuse_shared_redis(url: str) -> None:
    """Stop before a benchmark flushes Redis DB 0 or 15 (the ones other people's work uses)."""
    if url.rstrip("/").endswith(("/0", "/15")):
        raise SystemExit("refusing to flush Redis DB 0 or 15")


def _spin(iterations: int, out: Any) -> None:
    total = 0
    for i in range(iterations):
        total += i * i % 7
    out.put(total)


def machine_ceiling(iterations: int = 8_000_000) -> float:
    """How much this machine gives two processes over one, for pure Python with no I/O and nothing shared
    (the best two workers could do): the same loop in 1 process, 2 at once, 1 again; 2 / mean of the 1s."""
    import multiprocessing

    def rate(processes: int) -> float:
        out: Any = multiprocessing.Queue()
        procs = [multiprocessing.Process(target=_spin, args=(iterations, out)) for _ in range(processes)]
        started = time.perf_counter()
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join()
        return processes * iterations / (time.perf_counter() - started)

    before, both, after = rate(1), rate(2), rate(1)
    return both / ((before + after) / 2)


def timed(label: str, fn: Callable[[], Any]) -> Any:
    """Run fn, print how long it took under `label`, return its result (the benches' phase lines)."""
    started = time.perf_counter()
    result = fn()
    print(f"  {label}: {time.perf_counter() - started:.2f} s", flush=True)
    return result


def sql(svc: Any, statement: str, **params: Any) -> None:
    """One SQL statement in its own transaction (the benches' data loading)."""
    import sqlalchemy as sa

    with svc.db.engine.begin() as conn:
        conn.execute(sa.text(statement), params)
