"""RQ worker and scheduler entry points, built on the same app factory as the web app.

    python worker.py worker      # an RQ worker on the nurture queue
    python worker.py scheduler   # the scheduler loop (due steps, broadcasts, reconciliation)
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from typing import Any

from rq import Worker

from wsgi import create_app

log = logging.getLogger("nurture.worker")


def run_worker(burst: bool = False, overrides: dict[str, Any] | None = None) -> None:
    """Run an RQ worker inside the app context (forked work horses inherit it)."""
    from campaigns.runtime import services

    app = create_app(overrides)
    with app.app_context():
        svc = services()
        from campaigns.health import warn_about_redis

        warn_about_redis(svc.redis)
        worker = Worker([svc.queue], connection=svc.redis)
        worker.work(burst=burst, logging_level="INFO", with_scheduler=True)


def run_scheduler(interval: float = 2.0, overrides: dict[str, Any] | None = None, once: bool = False) -> None:
    """Run the scheduler tick every `interval` seconds until SIGTERM/SIGINT."""
    from campaigns import scheduler
    from campaigns.runtime import services

    app = create_app(overrides)
    stopping = False

    def _stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with app.app_context():
        svc = services()
        while not stopping:
            started = time.monotonic()
            try:
                summary = scheduler.tick(svc)
                if any(summary.values()):
                    log.info("tick: %s", summary)
            except Exception:  # the loop must survive a database or Redis hiccup; the next tick retries
                log.exception("scheduler tick failed")
            if once:
                break
            time.sleep(max(0.0, interval - (time.monotonic() - started)))


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    command = argv[1] if len(argv) > 1 else "worker"
    if command == "worker":
        run_worker(burst="--burst" in argv)
    elif command == "scheduler":
        run_scheduler()
    else:
        raise SystemExit(f"unknown command {command!r}: use 'worker' or 'scheduler'")


if __name__ == "__main__":
    main(sys.argv)
