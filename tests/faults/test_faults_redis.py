"""Fault: Redis restarted in the middle of a broadcast and of a tracking load.

A Redis server of our own (append-only file, fsync always) serves real `worker.py` processes: scheduler,
worker and hit-writer. Mid-send it is restarted:
- cleanly (SIGTERM, as `systemctl restart` does) while opens are being recorded: no send and no hit lost;
- with its data gone (a replica that was behind, a disk lost): the queue has forgotten every job, and the
  scheduler's reconciler (sending.requeue_stale) rebuilds it from the ledger; every recipient gets the
  mail, duplicates only among sends in flight at the restart, each flagged.
A worker that exits because Redis went away is restarted, as the process supervisor does."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from campaigns.db import now_utc
from campaigns.engagement.hit_buffer import record_hit
from campaigns.engagement.hit_writer import backlog
from campaigns.journeys.broadcasts import create_broadcast, schedule_broadcast
from campaigns.models import Contact, Send, SendStatus
from campaigns.models.tracking import Hit, HitKind
from campaigns.users import get_account
from tests.conftest import free_port, truncate_all
from tests.fault_helpers import (
    FaultyServer,
    OwnRedis,
    app_env,
    received_by_rcpt,
    start_process,
    status_counts,
    stop_all,
    tail,
    wait_until,
)
from tests.sending_helpers import make_version, setup_account

TOTAL = 2000
LEASE = 3
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


@pytest.fixture
def smtp_server() -> Any:
    server = FaultyServer(delay=0.001)
    server.controller.start()
    yield server
    server.controller.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Any:
    server = OwnRedis(tmp_path / "redis", port=free_port())
    server.start()
    yield server
    server.close()


@pytest.fixture
def svc(app_overrides: dict[str, Any], own_redis: Any, redis_conn: Any) -> Any:
    from wsgi import create_app

    app = create_app({**app_overrides, "redis_url": own_redis.url, "send_lease_seconds": LEASE})
    services = app.extensions["nurture"]
    truncate_all(services.db)
    yield services
    services.db.dispose()


class HitLoad(threading.Thread):
    """Records opens through the tracking hot path (events_buffer.record_hit) until stopped."""

    def __init__(self, services: Any, send_ids: list[int]) -> None:
        super().__init__(daemon=True)
        self.services, self.send_ids = services, send_ids
        self.kept = self.refused = 0
        self.halt = threading.Event()

    def run(self) -> None:
        i = 0
        while not self.halt.is_set():
            ok = record_hit(self.services, HitKind.OPEN, self.send_ids[i % len(self.send_ids)], 0, UA, "203.0.113.7")
            self.kept += ok
            self.refused += not ok
            i += 1
            time.sleep(0.002)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("lose_data", [False, True], ids=["clean-restart", "data-lost"])
def test_redis_restarted_mid_send_loses_nothing(
    svc: Any, own_redis: Any, smtp_server: Any, tmp_path: Path, lose_data: bool
) -> None:
    with svc.db.begin() as s:
        setup_account(s)
        get_account(s).freq_cap_count = 0
        version = make_version(s)
        s.execute(insert(Contact), [{"email": f"lead{i}@example.com", "first_name": f"N{i}", "attributes": {}}
                                    for i in range(TOTAL)])
        schedule_broadcast(s, create_broadcast(s, "News", version.template_id), now_utc())
    env = app_env(svc)
    log = tmp_path / "processes.log"
    procs = {role: start_process(role, env, log) for role in ("scheduler", "worker", "hit-writer")}
    worker_restarts = 0
    load: HitLoad | None = None

    def keep_workers() -> None:  # the supervisor's job: a process that exited is started again
        nonlocal worker_restarts
        for role, proc in procs.items():
            if proc.poll() is not None:
                procs[role] = start_process(role, env, log)
                worker_restarts += 1

    try:
        assert wait_until(lambda: len(smtp_server.messages) >= TOTAL // 5, 90, 0.01, keep_workers), tail(log)
        if not lose_data:
            with svc.db.begin() as s:
                load = HitLoad(svc, list(s.scalars(select(Send.id).where(Send.status == SendStatus.SENT).limit(200))))
            load.start()
            time.sleep(0.5)  # hits flowing before the restart
        own_redis.restart(lose_data=lose_data)
        with svc.db.begin() as s:
            in_flight = set(s.scalars(select(Send.id).where(Send.status == SendStatus.SENDING)))
        sent_at_restart = status_counts(svc)["sent"]
        if load is not None:
            time.sleep(0.5)  # and after it
            load.halt.set()
            load.join(10)
        assert sent_at_restart < TOTAL, "the broadcast finished before the restart: nothing was tested"
        assert wait_until(lambda: status_counts(svc)["sent"] == TOTAL, 120, 0.25, keep_workers), (
            status_counts(svc), tail(log))
        if load is not None:
            assert wait_until(lambda: _hits(svc) == load.kept and backlog(svc.redis) == 0, 60, 0.2, keep_workers)
    finally:
        if load is not None:
            load.halt.set()
        stop_all(list(procs.values()))

    received = received_by_rcpt(smtp_server)
    assert set(received) == {f"lead{i}@example.com" for i in range(TOTAL)}  # nobody missing
    with svc.db.begin() as s:
        send_of = dict(s.execute(select(Contact.email, Send.id).join(Send, Send.contact_id == Contact.id)).all())
        flagged = set(s.scalars(select(Send.id).where(Send.possible_duplicate.is_(True))))
    twice = {send_of[e] for e, n in received.items() if n > 1}
    assert twice <= flagged and flagged <= in_flight  # duplicates only among sends in flight, each flagged
    line = (f"\nRedis {'restarted with its data lost' if lose_data else 'restarted cleanly'} after {sent_at_restart} "
            f"of {TOTAL} sent; in flight: {len(in_flight)}; duplicates: {len(twice)}; processes restarted: "
            f"{worker_restarts}; re-enqueued by the reconciler: {_requeued(log)}")
    if lose_data:
        assert _requeued(log) > 0  # the queue forgot: the ledger put the jobs back
    if load is not None:
        assert load.refused == 0 and _hits(svc) == load.kept
        line += f"; hits recorded during the restart: {load.kept}, all in the database"
    print(line)


def _hits(svc: Any) -> int:
    with svc.db.begin() as s:
        return int(s.scalar(select(func.count()).select_from(Hit)))


def _requeued(log: Path) -> int:
    """Sends the scheduler's reconciler re-enqueued, from its log lines."""
    return sum(int(m) for m in re.findall(r"re-enqueued (\d+) stale sends", log.read_text(errors="replace")))
