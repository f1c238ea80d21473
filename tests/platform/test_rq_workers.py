"""The worker classes shut down promptly: the pub/sub listener thread never holds a worker's exit.

Each shutdown runs in a helper thread and must finish well inside the listener's 60 s wait; a worker
that stalls fails here instead of holding a deploy for a minute.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import pytest
from redis import Redis
from rq import Queue

from campaigns.rq_workers import NurtureForkWorker, NurtureSimpleWorker
from tests.fault_helpers import app_env, start_process, stop, tail, wait_until

LIMIT = 15.0  # far above the 1 s bounded join, far below the listener's 60 s wait


def catches_sigterm(pid: int) -> bool:
    """True once the process has a handler for SIGTERM (Linux: SigCgt in /proc/<pid>/status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    caught = next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught, 16) & (1 << (signal.SIGTERM - 1)))


def _shut_down_in_thread(worker: NurtureSimpleWorker) -> threading.Thread:
    done = threading.Thread(target=worker.unsubscribe, name="test-unsubscribe", daemon=True)
    done.start()
    return done


@pytest.mark.parametrize("worker_class", [NurtureSimpleWorker, NurtureForkWorker])
def test_listener_thread_ends_with_the_shutdown(redis_conn: Redis, worker_class: type) -> None:
    # The race this guards against is timing-dependent: repeat the shutdown enough times that the
    # listener reads the unsubscribe reply at every possible moment relative to the stop.
    for _ in range(20):
        worker = worker_class([Queue("nurture-test", connection=redis_conn)], connection=redis_conn)
        worker.subscribe()
        assert wait_until(lambda w=worker: w.pubsub.subscribed, 5)
        listener = worker.pubsub_thread
        shutdown = _shut_down_in_thread(worker)
        assert wait_until(lambda s=shutdown: not s.is_alive(), LIMIT), "unsubscribe() stalled"
        assert wait_until(lambda t=listener: not t.is_alive(), 5), "the listener thread outlived the shutdown"
        assert not worker.pubsub.subscribed


def test_shutdown_is_bounded_when_the_listener_already_saw_its_channel_go(redis_conn: Redis) -> None:
    # The losing interleaving made certain: the listener has read an unsubscribe reply and gone back to
    # waiting for a subscription (60 s) before the shutdown starts. RQ's own order then waits it out.
    worker = NurtureSimpleWorker([Queue("nurture-test", connection=redis_conn)], connection=redis_conn)
    worker.subscribe()
    assert wait_until(lambda: worker.pubsub.subscribed, 5)
    worker.pubsub.unsubscribe()
    assert wait_until(lambda: not worker.pubsub.subscribed, 5)  # the listener handled the reply
    shutdown = _shut_down_in_thread(worker)
    assert wait_until(lambda: not shutdown.is_alive(), LIMIT), "unsubscribe() waited for the listener's timeout"
    assert worker.pubsub_thread is not None and worker.pubsub_thread.daemon  # a leftover cannot hold the exit
    # The listener is still in its 60 s wait: end it here, so no thread of this test outlives it.
    worker.pubsub_thread.stop()
    worker.pubsub.close()
    worker.pubsub_thread.join(10)


def test_worker_process_stops_promptly_on_sigterm(services: Any, tmp_path: Path) -> None:
    """A deploy's SIGTERM: `worker.py worker` finishes its warm shutdown and exits 0, every time."""
    env = app_env(services)
    for attempt in range(4):  # the stall was a race (about 1 exit in 4 on the benchmark): try several
        log = tmp_path / f"worker{attempt}.log"
        proc = start_process("worker", env, log)
        try:
            # A SIGTERM before RQ installs its handler would kill the worker outright: wait until the
            # process catches SIGTERM (the kernel's SigCgt mask; RQ's maintenance log lines depend on
            # locks other workers may hold, so they cannot tell this)
            assert wait_until(lambda p=proc: catches_sigterm(p.pid), 60), tail(log)
            proc.send_signal(signal.SIGTERM)
            assert wait_until(lambda p=proc: p.poll() is not None, LIMIT), "the worker did not exit:\n" + tail(log)
            assert proc.returncode == 0, tail(log)
            assert "unsubscribing from channel" in log.read_text()
        finally:
            stop(proc)
