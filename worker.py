"""RQ worker and scheduler entry points, built on the same app factory as the web app.

    python worker.py worker      # an RQ worker on the nurture queue
    python worker.py scheduler   # the scheduler loop (due steps, broadcasts, reconciliation)
    python worker.py hit-writer  # moves buffered tracking hits from Redis into the database
    python worker.py outbox      # the development SMTP outbox (when no SMTP_HOST is configured)
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from typing import Any

from campaigns import scheduler
from campaigns.delivery.outbox import run_outbox_server
from campaigns.engagement.hit_writer import run_writer
from campaigns.health import warn_about_redis, warn_about_settings
from campaigns.rq_workers import NurtureForkWorker, NurtureSimpleWorker
from campaigns.runtime import log_loop_failure, services
from campaigns.scoring import engine
from wsgi import create_app

log = logging.getLogger("nurture.worker")


def run_worker(burst: bool = False, overrides: dict[str, Any] | None = None) -> None:
    """Run an RQ worker inside the app context (jobs run in this process; see below)."""

    app = create_app(overrides)
    with app.app_context():
        svc = services()

        warn_about_redis(svc.redis)

        warn_about_settings(svc.settings)
        # Sending keeps a pool of SMTP connections and compiled templates per process; a forking worker
        # would rebuild both for every job (bench/bench_sending.py measures the difference), so jobs run
        # in this process unless NURTURE_WORKER_CLASS=fork asks for a work horse per job.

        fork = os.environ.get("NURTURE_WORKER_CLASS", "simple") == "fork"
        worker_class = NurtureForkWorker if fork else NurtureSimpleWorker
        worker = worker_class([svc.queue], connection=svc.redis)
        worker.work(burst=burst, logging_level="INFO", with_scheduler=True)


def run_scheduler(interval: float = 2.0, overrides: dict[str, Any] | None = None, once: bool = False) -> None:
    """Run the scheduler tick every `interval` seconds until SIGTERM/SIGINT."""

    app = create_app(overrides)
    stopping = False

    def _stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with app.app_context():
        svc = services()

        warn_about_redis(svc.redis)  # the scheduler enqueues into the same Redis the workers read
        while not stopping:
            started = time.monotonic()
            try:
                summary = scheduler.tick(svc)
                if any(summary.values()):
                    log.info("tick: %s", summary)
            except Exception as exc:  # the loop must survive a database or Redis hiccup; the next tick retries
                log_loop_failure(log, "scheduler tick failed", exc)
            try:  # lead scoring in the same loop, off the API and tracking request paths
                scored = engine.run_scoring(svc)
                if scored:
                    log.info("scoring: %s", scored)
            except Exception as exc:
                log_loop_failure(log, "scoring step failed", exc)
            if once:
                break
            time.sleep(max(0.0, interval - (time.monotonic() - started)))


def run_hit_writer(overrides: dict[str, Any] | None = None) -> None:
    """Run the buffered tracking-hit writer until SIGTERM/SIGINT."""

    app = create_app(overrides)
    # The writer is a batch job behind a buffer; on a shared host the tracking endpoints' CPU matters
    # more (latency of every open and click). Lowered priority: under load it yields, then catches up.
    # 8, measured (docs/benchmarks.md): at 10 a saturated host left the writer a 5 s backlog of clicks;
    # at 5 it kept up but took a quarter of the click endpoint's throughput.
    niceness = int(os.environ.get("HIT_WRITER_NICE", "8"))
    if niceness > 0:
        os.nice(niceness)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with app.app_context():
        run_writer(services(), stop)


def run_outbox(overrides: dict[str, Any] | None = None) -> None:
    """Run the development SMTP outbox that stores mail for the UI instead of delivering it."""

    app = create_app(overrides)
    with app.app_context():
        svc = services()
        run_outbox_server(svc, "127.0.0.1", svc.settings.outbox_port)


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    command = argv[1] if len(argv) > 1 else "worker"
    if command == "worker":
        run_worker(burst="--burst" in argv)
    elif command == "scheduler":
        run_scheduler()
    elif command == "hit-writer":
        run_hit_writer()
    elif command == "outbox":
        run_outbox()
    else:
        raise SystemExit(f"unknown command {command!r}: use worker, scheduler, hit-writer or outbox")


if __name__ == "__main__":
    main(sys.argv)
