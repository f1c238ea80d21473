"""Fault: worker processes SIGKILLed 5 times at random (seeded) moments during a 10,000-recipient broadcast.

Real processes as production runs them: one `python worker.py scheduler` (plans the broadcast, re-enqueues
what the queue forgot) and two `python worker.py worker`. At each kill the victim and its children get
SIGKILL and a new worker starts at once. Checked from the mailbox (aiosmtpd) and the ledger: nobody is
missing; every duplicate is a send that was in flight ('sending') at a kill, is flagged possible_duplicate,
and both copies carry the same Message-ID. Figures are printed (see docs/reliability.md)."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from campaigns.db import now_utc
from campaigns.delivery.mime import send_id_from_message_id
from campaigns.journeys.broadcasts import create_broadcast, schedule_broadcast
from campaigns.models import Broadcast, BroadcastStatus, Contact, Send, SendStatus
from campaigns.users import get_account
from tests.fault_helpers import (
    FaultyServer,
    app_env,
    message_ids_by_rcpt,
    received_by_rcpt,
    sigkill,
    start_process,
    status_counts,
    stop_all,
    tail,
    wait_until,
)
from tests.sending_helpers import make_version, setup_account

TOTAL = 10_000
KILLS = 5
WORKERS = 2
LEASE = 3  # seconds: a dead worker's claims are taken over after this (production: 300)
SEED = 20261122


@pytest.fixture
def smtp_server() -> Any:
    server = FaultyServer(delay=0.001)  # a little latency per mail, so kills land with mail in flight
    server.controller.start()
    yield server
    server.controller.stop()


@pytest.fixture
def app_overrides(app_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**app_overrides, "send_lease_seconds": LEASE}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_five_sigkills_during_a_10000_broadcast_lose_nobody_and_flag_every_duplicate(
    services: Any, smtp_server: Any, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    with services.db.begin() as s:
        setup_account(s)
        get_account(s).freq_cap_count = 0
        version = make_version(s, subject="News for {{ contact.first_name }}")
        s.execute(insert(Contact), [{"email": f"lead{i}@example.com", "first_name": f"N{i}", "attributes": {}}
                                    for i in range(TOTAL)])
        broadcast = create_broadcast(s, "November news", version.template_id)
        schedule_broadcast(s, broadcast, now_utc())
        broadcast_id = broadcast.id
    emails = {f"lead{i}@example.com" for i in range(TOTAL)}
    # Kill moments: after a random number of delivered mails each, spread over the broadcast.
    thresholds = sorted(rng.sample(range(TOTAL // 20, TOTAL * 17 // 20), KILLS))
    env = app_env(services)
    log = tmp_path / "processes.log"
    scheduler = start_process("scheduler", env, log)
    workers = [start_process("worker", env, log) for _ in range(WORKERS)]
    in_flight_at_kills: list[set[int]] = []
    started = time.monotonic()

    def alive() -> None:
        for proc in [scheduler, *workers]:
            assert proc.poll() is None, tail(log)

    try:
        for threshold in thresholds:
            assert wait_until(lambda t=threshold: len(smtp_server.messages) >= t, 120, 0.005, alive), tail(log)
            victim = rng.randrange(WORKERS)
            sigkill(workers[victim])
            with services.db.begin() as s:  # what the dead worker (and the live one) had in flight
                in_flight_at_kills.append(set(s.scalars(select(Send.id).where(Send.status == SendStatus.SENDING))))
            workers[victim] = start_process("worker", env, log)
        kills_done = time.monotonic()
        assert wait_until(lambda: status_counts(services)["sent"] == TOTAL, 180, 0.25, alive), (
            status_counts(services), tail(log))
        all_sent = time.monotonic()
        assert wait_until(lambda: _broadcast_status(services, broadcast_id) == BroadcastStatus.SENT, 30, 0.25)
    finally:
        stop_all([*workers, scheduler])
    elapsed = time.monotonic() - started

    received = received_by_rcpt(smtp_server)
    assert set(received) == emails, f"missing: {len(emails - set(received))}"  # 0 recipients missing
    with services.db.begin() as s:
        rows = {r.id: r for r in s.scalars(select(Send).where(Send.broadcast_id == broadcast_id))}
    assert len(rows) == TOTAL and all(r.status == SendStatus.SENT for r in rows.values())
    with services.db.begin() as s:
        send_of = dict(s.execute(select(Contact.email, Send.id).join(Send, Send.contact_id == Contact.id)).all())
        created = dict(s.execute(select(Send.id, Send.created_at).where(Send.broadcast_id == broadcast_id)).all())
    duplicated = {email: n for email, n in received.items() if n > 1}
    in_flight = set().union(*in_flight_at_kills)
    flagged = {sid for sid, r in rows.items() if r.possible_duplicate}
    ids = message_ids_by_rcpt(smtp_server, set(duplicated))
    for email in duplicated:
        sid = send_of[email]
        assert sid in in_flight, f"{email} got two copies but was not in flight at any kill"
        assert sid in flagged, f"{email} got two copies but the ledger does not flag it"
        assert len(set(ids[email])) == 1, ids[email]  # the same Message-ID on each copy: this send's
        assert send_id_from_message_id(ids[email][0], services.settings.secret_key, created.get) == sid
    extra = sum(n - 1 for n in received.values())
    assert extra <= sum(len(x) for x in in_flight_at_kills)
    assert flagged <= in_flight  # nothing else was re-claimed after an expired lease
    print(
        f"\n{TOTAL} recipients, {KILLS} SIGKILLs at {thresholds} mails; in flight at the kills: "
        f"{[len(x) for x in in_flight_at_kills]}; duplicate copies delivered: {extra}; flagged: {len(flagged)}; "
        f"total {elapsed:.1f}s, last kill to all sent {all_sent - kills_done:.1f}s"
    )


def _broadcast_status(services: Any, broadcast_id: int) -> Any:
    with services.db.begin() as s:
        return s.get(Broadcast, broadcast_id).status
