"""Crash safety: SIGKILL a real `python worker.py worker` in the middle of 2,000 sends, restart it, let
the scheduler's reconciliation (sending.requeue_stale) re-enqueue what the queue forgot, and check that
every contact got the mail and that every duplicate is flagged in the ledger. Runs on SQLite (a file)
and on PostgreSQL, whichever DATABASE_URL selects."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from campaigns import queueing
from campaigns.db import now_utc
from campaigns.delivery import sending
from campaigns.models import Send
from tests.conftest import SmtpHandler, SmtpServer
from tests.factories import make_contacts
from tests.fault_helpers import app_env, sigkill, start_process, status_counts
from tests.sending_helpers import make_version, plan_sends, setup_account

TOTAL = 2000
LEASE = 4  # seconds; short so the test does not wait five minutes for the stale claims


class SlowHandler(SmtpHandler):
    """Takes a little time per message, like a real relay, so the kill lands with mails in flight."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(0.002)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def smtp_server() -> Any:
    server = SmtpServer()
    from aiosmtpd.controller import Controller

    server.handler = SlowHandler()
    server.controller = Controller(server.handler, hostname="127.0.0.1", port=server.port)
    server.controller.start()
    yield server
    server.controller.stop()


@pytest.fixture
def app_overrides(app_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**app_overrides, "send_lease_seconds": LEASE}


def _start_worker(services: Any, smtp_port: int, log: Path) -> subprocess.Popen[bytes]:
    return start_process("worker", app_env(services, smtp_port=smtp_port), log)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_sigkill_mid_batch_then_restart_delivers_everything_with_flagged_duplicates(
    services: Any, smtp_server: Any, tmp_path: Path
) -> None:
    with services.db.begin() as s:
        setup_account(s)
        version = make_version(s)
        contacts = make_contacts(s, TOTAL)
        ids = plan_sends(s, version, contacts)
        s.execute(update(Send).values(enqueued_at=now_utc()))  # as the scheduler marks what it enqueued
    queueing.enqueue_deliveries(services.queue, ids, batch_size=200)
    log = tmp_path / "worker.log"

    worker = _start_worker(services, smtp_server.port, log)
    try:
        deadline = time.monotonic() + 90
        while len(smtp_server.messages) < 500 and time.monotonic() < deadline:
            assert worker.poll() is None, log.read_text()[-3000:]
            time.sleep(0.005)
        assert len(smtp_server.messages) >= 500, log.read_text()[-3000:]
    finally:
        sigkill(worker)
    at_kill = status_counts(services)
    print(f"killed after {time.monotonic() - deadline + 90:.1f}s")
    assert at_kill["sent"] < TOTAL, "the worker finished before the kill: nothing was tested"
    assert at_kill["sending"] > 0, f"no send was in flight at the kill: {at_kill}"

    worker = _start_worker(services, smtp_server.port, log)
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            assert worker.poll() is None, log.read_text()[-3000:]
            counts = status_counts(services)
            if counts["sent"] == TOTAL:
                break
            if services.queue.count == 0:
                # What a scheduler tick does: stale claims and forgotten queued rows go back on the queue.
                sending.requeue_stale(services)
            time.sleep(0.5)
    finally:
        sigkill(worker)

    print(f"recovered after {time.monotonic() - deadline + 150:.1f}s")
    counts = status_counts(services)
    assert counts["sent"] == TOTAL, (counts, log.read_text()[-3000:])
    received = Counter(rcpt for m in smtp_server.messages for rcpt in m.rcpt_tos)
    emails = {c.email for c in contacts}
    assert set(received) == emails  # every contact got the step
    with services.db.begin() as s:
        flagged = set(s.scalars(select(Send.contact_id).where(Send.possible_duplicate.is_(True))))
        by_contact = dict(s.execute(select(Send.contact_id, Send.id)).all())
    duplicates = sum(n - 1 for n in received.values())
    assert duplicates <= len(flagged), (duplicates, len(flagged))
    email_to_contact = {c.email: c.id for c in contacts}
    duplicated = {email_to_contact[e] for e, n in received.items() if n > 1}
    assert duplicated <= flagged  # each duplicate is flagged in the ledger
    # Duplicates are bounded by what was in flight at the kill: at most two groups per worker.
    assert len(flagged) <= 2 * max(sending.GROUP_SIZE, services.settings.smtp_connections) + 1
    assert len(by_contact) == TOTAL
    print(f"at kill: {dict(at_kill)}; duplicates delivered: {duplicates}; flagged: {len(flagged)}")
