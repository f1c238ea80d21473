"""`nurture run`: start the whole service on one machine (web, worker, scheduler, dev outbox, hit writer).

A small process supervisor for the quick start and single-host installs: it migrates the database,
seeds demo data on first start, starts each part as a child process, restarts a child that dies,
and stops them all on SIGINT/SIGTERM. Production runs the same commands under systemd instead
(docs/operations.md).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from redis import Redis
from redis.exceptions import RedisError

from campaigns.config import ROOT, Settings


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = field(default=0.0)

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv, cwd=ROOT)
        self.started_at = time.monotonic()
        print(f"[nurture] started {self.name} (pid {self.process.pid})", flush=True)


def _redis_reachable(url: str) -> bool:
    try:
        return bool(Redis.from_url(url, socket_connect_timeout=1).ping())
    except RedisError:
        return False


def _ensure_redis(settings: Settings) -> Child | None:
    """Start a local Redis when none answers at REDIS_URL (embedded default for the quick start)."""
    if _redis_reachable(settings.redis_url):
        return None
    data_dir = ROOT / "instance" / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    child = Child("redis", ["redis-server", "--bind", "127.0.0.1", "--port", "6379", "--dir", str(data_dir),
                            "--appendonly", "yes", "--maxmemory-policy", "noeviction"])
    child.start()
    for _ in range(50):
        if _redis_reachable(settings.redis_url):
            break
        time.sleep(0.1)
    return child


def run_all(port: int = 8000, demo: bool = True) -> int:
    """Run every part of the service until interrupted; returns the exit code (CLI `nurture run`)."""
    settings = Settings.from_env()
    py = sys.executable
    children: list[Child] = []
    redis_child = _ensure_redis(settings)
    if redis_child:
        children.append(redis_child)

    for step in (["init-db"], ["seed-demo"] if demo else []):
        if step and subprocess.run([py, "-m", "campaigns.cli", *step], cwd=ROOT).returncode != 0:
            print(f"[nurture] '{step[0]}' failed (see above); not starting", flush=True)
            for child in children:
                if child.process:
                    child.process.terminate()
            return 1

    gunicorn = [py, "-m", "gunicorn", "wsgi:create_app()", "--bind", f"127.0.0.1:{port}",
                "--workers", str(max(2, os.cpu_count() or 2)), "--threads", "4", "--access-logfile", "-"]
    children += [
        Child("web", gunicorn),
        Child("worker", [py, "worker.py", "worker"]),
        Child("scheduler", [py, "worker.py", "scheduler"]),
        Child("hit-writer", [py, "worker.py", "hit-writer"]),
    ]
    if settings.uses_outbox:
        children.append(Child("outbox", [py, "worker.py", "outbox"]))
    for child in children:
        if child.process is None:
            child.start()
    print(f"[nurture] web UI on http://127.0.0.1:{port}  (Ctrl-C stops everything)", flush=True)
    if settings.uses_outbox:
        print(f"[nurture] no SMTP_HOST set: mail goes to the development outbox "
              f"(127.0.0.1:{settings.outbox_port}), shown at http://127.0.0.1:{port}/outbox/", flush=True)

    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    while not stopping:
        time.sleep(0.5)
        for child in children:
            assert child.process is not None
            if child.process.poll() is not None and not stopping:
                code = child.process.returncode
                # Back off when a child keeps dying right after start (e.g. a port in use).
                if time.monotonic() - child.started_at < 5:
                    time.sleep(min(30, 2 ** min(child.restarts, 5)))
                child.restarts += 1
                print(f"[nurture] {child.name} exited with {code}; restarting", flush=True)
                child.start()
    for child in reversed(children):
        if child.process and child.process.poll() is None:
            child.process.terminate()
    deadline = time.monotonic() + 15
    for child in children:
        if child.process:
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
    return 0
