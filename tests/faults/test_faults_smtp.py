"""Faults at the SMTP server: 421/451 for a while then recovery; a server that accepts TCP and never
answers; one 5xx in the middle of a pipelined batch. Jobs run through a real RQ SimpleWorker (run_jobs)
against aiosmtpd; outcomes are read from the mailbox and the ledger."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import pytest
from rq.job import Job
from sqlalchemy import select, update

from campaigns import db, queueing
from campaigns.delivery import sending
from campaigns.models import Contact, ContactStatus, Send, SendStatus, Suppression
from tests.conftest import run_jobs
from tests.fault_helpers import (
    FaultyHandler,
    FaultyServer,
    SilentServer,
    message_ids_by_rcpt,
    received_by_rcpt,
    status_counts,
)
from tests.sending_helpers import standard_setup

TOTAL = 400  # two jobs of 200


@pytest.fixture
def smtp_server() -> Any:
    server = FaultyServer()
    server.controller.start()
    yield server
    server.controller.stop()


def _rows(services: Any) -> dict[int, Send]:
    with services.db.begin() as s:
        return {r.id: r for r in s.scalars(select(Send))}


def _release_retries(services: Any) -> list[float]:
    """Move every job RQ scheduled for a retry onto the queue now; returns how far ahead each was due (s)."""
    registry = services.queue.scheduled_job_registry
    delays = []
    for job_id in registry.get_job_ids():
        job = Job.fetch(job_id, connection=services.redis)
        due = registry.get_scheduled_time(job)
        delays.append(due.timestamp() - time.time())
        registry.remove(job)
        services.queue.enqueue_job(job)
    return delays


def _age_ledger(services: Any, seconds: float) -> None:
    """Controlled clock for the reconciler: the ledger's enqueue times as if `seconds` had passed."""
    from datetime import timedelta

    with services.db.begin() as s:
        for send in s.scalars(select(Send).where(Send.enqueued_at.isnot(None))):
            send.enqueued_at = send.enqueued_at - timedelta(seconds=seconds)


@pytest.mark.parametrize("fault", ["421 4.3.2 Service not available, closing transmission channel",
                                   "451 4.3.0 Temporary local problem, try again later"],
                         ids=["421", "451"])
def test_server_refusing_for_a_while_then_recovering_delivers_everything_once(
    app: Any, services: Any, smtp_server: Any, fault: str
) -> None:
    _, _, ids = standard_setup(services, count=TOTAL)
    with services.db.begin() as s:
        s.execute(update(Send).values(enqueued_at=db.now_utc()))
    smtp_server.handler.fault = fault
    queueing.enqueue_deliveries(services.queue, ids, batch_size=200)
    # The outage: 421 lasts longer than RQ's retries and MAX_ATTEMPTS together (the reconciler takes
    # over when RQ gives up); 451 lasts three rounds.
    rounds = sending.MAX_ATTEMPTS + 2 if fault.startswith("421") else 3
    delays: list[list[float]] = []
    for _ in range(rounds):
        run_jobs(app)
        counts = status_counts(services)
        assert counts["sent"] == 0 and not smtp_server.messages  # nothing marked sent that was not accepted
        assert counts["queued"] == TOTAL, counts  # every send waits for a retry, none given up
        released = _release_retries(services)
        if released:
            delays.append(released)
        else:  # RQ's retries are used up: what the scheduler's reconciler does after a lease
            _age_ledger(services, services.settings.send_lease_seconds + 1)
            assert sending.requeue_stale(services) == TOTAL
    answered = smtp_server.handler.faults_answered
    assert answered > 0
    firsts = [min(d) for d in delays]
    # Backoff: within one cycle of RQ's retries each is scheduled later than the one before
    # (queueing.DELIVERY.retry: 10, 30, 60, 300, 900 s); the reconciler's re-enqueue starts a new cycle.
    cycle = firsts[: queueing.DELIVERY.retry.max]
    assert cycle[0] > 5 and all(b > a for a, b in zip(cycle, cycle[1:], strict=False)), firsts

    smtp_server.handler.fault = None  # the server recovers
    _release_retries(services)
    run_jobs(app)
    if status_counts(services)["sent"] < TOTAL:  # a job already given up by RQ: the reconciler's turn
        _age_ledger(services, services.settings.send_lease_seconds + 1)
        sending.requeue_stale(services)
        run_jobs(app)
    received = received_by_rcpt(smtp_server)
    assert sorted(received) == sorted(f"lead{i}@example.com" for i in range(TOTAL))
    assert set(received.values()) == {1}  # each exactly once
    rows = _rows(services)
    assert all(r.status == SendStatus.SENT and not r.possible_duplicate for r in rows.values())
    attempts = Counter(r.attempts for r in rows.values())
    print(f"\n{fault[:3]}: {rounds} rounds of refusals ({answered} refusals answered); retry delays (s) "
          f"{[round(f) for f in firsts]}; attempts per send after recovery {dict(sorted(attempts.items()))}")
    if fault.startswith("421"):
        # The server never took the mail: those rounds are not counted against the send.
        assert max(attempts) == 1


def test_server_that_never_answers_times_out_and_the_retry_delivers(
    app_overrides: dict[str, Any], redis_conn: Any
) -> None:
    from tests.conftest import free_port, truncate_all
    from wsgi import create_app

    port = free_port()
    app = create_app({**app_overrides, "smtp_port": port, "smtp_timeout": 1.0})
    svc = app.extensions["nurture"]
    truncate_all(svc.db)
    silent = SilentServer(port)
    try:
        _, _, ids = standard_setup(svc, count=TOTAL)
        queueing.enqueue_deliveries(svc.queue, ids, batch_size=200)
        run_jobs(app)
        counts = status_counts(svc)
        assert counts["queued"] == TOTAL and counts["sent"] == 0, counts
        rows = _rows(svc)
        assert all(r.claimed_at is None and not r.possible_duplicate for r in rows.values())
        assert {r.attempts for r in rows.values()} == {0}  # the server never saw one
        assert "cannot connect" in next(r.error for r in rows.values() if r.error) or any(
            "unreachable" in r.error for r in rows.values())
        # Only the pool's first attempts waited for the timeout; the mails behind them failed at once.
        connections = silent.connections
        assert connections <= 2 * svc.settings.smtp_connections, connections
        failed = svc.queue.failed_job_registry.count
        scheduled = len(svc.queue.scheduled_job_registry.get_job_ids())
        assert failed == 0 and scheduled == 2  # both jobs are waiting for RQ's retry
    finally:
        silent.close()
    server = FaultyServer(port=port)  # the relay comes back on the same port
    server.controller.start()
    try:
        _release_retries(svc)
        run_jobs(app)
        received = received_by_rcpt(server)
        assert len(received) == TOTAL and set(received.values()) == {1}
        assert status_counts(svc)["sent"] == TOTAL
        print(f"\nsilent server: {connections} connections attempted for {TOTAL} mails, then all delivered once")
    finally:
        server.controller.stop()
        svc.db.dispose()


def test_one_5xx_in_the_middle_of_a_pipelined_batch(app: Any, services: Any, smtp_server: Any) -> None:
    _, contact_ids, ids = standard_setup(services, count=200)
    bad, refused = "lead100@example.com", "lead150@example.com"
    smtp_server.handler.rcpt_codes[bad] = "550 5.1.1 <lead100@example.com>: Recipient address rejected"
    smtp_server.handler.data_codes[refused] = "554 5.7.1 Message content rejected"
    queueing.enqueue_deliveries(services.queue, ids, batch_size=200)
    run_jobs(app)
    # Once more, as a crash-recovery sweep would: nothing goes twice, the bounced address is not retried.
    assert sending.deliver_batch(services, ids).get("sent", 0) == 0
    received = received_by_rcpt(smtp_server)
    others = {f"lead{i}@example.com" for i in range(200)} - {bad, refused}
    assert set(received) == others and set(received.values()) == {1}
    rows = _rows(services)
    by_email = {f"lead{i}@example.com": ids[i] for i in range(200)}
    assert rows[by_email[bad]].status == SendStatus.FAILED and "550" in rows[by_email[bad]].error
    assert rows[by_email[refused]].status == SendStatus.FAILED and "554" in rows[by_email[refused]].error
    assert sum(r.status == SendStatus.SENT for r in rows.values()) == 198
    with services.db.begin() as s:
        suppressed = set(s.scalars(select(Suppression.email)))
        assert suppressed == {bad}  # the rejected address; a refused message is not the address's fault
        assert s.get(Contact, contact_ids[100]).status == ContactStatus.BOUNCED
        assert s.get(Contact, contact_ids[150]).status == ContactStatus.ACTIVE


class HangingHandler(FaultyHandler):
    """Takes the message, then sits on its reply while `hang` is set (a relay stuck writing to disk);
    a message it sat on counts as received once released."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.hung = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not self.release.is_set():
            self.hung += 1
            await self.release.wait()
        return await super().handle_DATA(server, session, envelope)


def test_server_hanging_after_the_message_costs_one_timeout_per_connection_and_flags_what_it_may_have_taken(
    app_overrides: dict[str, Any], redis_conn: Any
) -> None:
    from aiosmtpd.controller import Controller

    from tests.conftest import free_port, truncate_all
    from wsgi import create_app

    server = FaultyServer(port=free_port())
    server.handler = HangingHandler()
    server.controller = Controller(server.handler, hostname="127.0.0.1", port=server.port)
    server.controller.start()
    app = create_app({**app_overrides, "smtp_port": server.port, "smtp_timeout": 1.0})
    svc = app.extensions["nurture"]
    truncate_all(svc.db)
    try:
        _, _, ids = standard_setup(svc, count=TOTAL)
        queueing.enqueue_deliveries(svc.queue, ids, batch_size=200)
        run_jobs(app)
        rows = _rows(svc)
        flagged = {i for i, r in rows.items() if r.possible_duplicate}
        hung = server.handler.hung
        assert status_counts(svc)["queued"] == TOTAL and not server.messages
        # Only the message each connection had sent when the server stopped answering may have been
        # taken: flagged. The mails waiting behind them failed at once instead of each sending its
        # body into the void and waiting out a timeout.
        assert 0 < len(flagged) <= hung <= 2 * 2 * svc.settings.smtp_connections, (len(flagged), hung)
        loop = server.controller.loop
        loop.call_soon_threadsafe(server.handler.release.set)  # the relay wakes up and keeps what it sat on
        _release_retries(svc)
        run_jobs(app)
        received = received_by_rcpt(server)
        assert set(received) == {f"lead{i}@example.com" for i in range(TOTAL)}
        twice = {ids[int(e[4:].split("@")[0])] for e, n in received.items() if n > 1}
        assert twice <= flagged  # a second copy only where the ledger says "possible duplicate"
        ids_of = message_ids_by_rcpt(server, {e for e, n in received.items() if n > 1})
        assert all(len(set(v)) == 1 for v in ids_of.values())  # both copies carry one Message-ID
        assert status_counts(svc)["sent"] == TOTAL
        print(f"\nhanging server: {hung} messages sat on, {len(flagged)} flagged, {len(twice)} received twice; "
              f"{TOTAL} delivered after it recovered")
    finally:
        server.controller.stop()
        svc.db.dispose()
