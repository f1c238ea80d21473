"""Crash safety of a journey: a real `python worker.py worker` SIGKILLed while it delivers a journey's mails
(the first mail and, past the branch the same engine pass ran, the branch's mail), restarted, with the
scheduler's duties ticking meanwhile. Every contact gets the first mail and the mail of its branch; a copy delivered twice (in flight at the kill) is flagged in the ledger; the
ledger holds one row per (walk, node); every walk ends on its branch's path. SQLite (a file) or PostgreSQL,
whichever DATABASE_URL selects. (The scheduler SIGKILLed mid-branch is tests/automation/test_engine_faults.)"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from campaigns.delivery import sending
from campaigns.models import Contact, JourneyEnrolment, Send
from tests.automation.engine_helpers import branch_journey, enrol, path, tick, walk
from tests.fault_helpers import app_env, received_by_rcpt, sigkill, start_process, status_counts

# the slow SMTP server (the kill lands with mails in flight) and the short send lease of the broadcast case
from tests.faults.test_crash import app_overrides, smtp_server  # noqa: F401

CONTACTS = 400


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_sigkill_of_a_worker_mid_journey_delivers_each_walks_mails(services: Any, smtp_server: Any,  # noqa: F811
                                                                  tmp_path: Path) -> None:
    jid, ids = branch_journey(services, CONTACTS)
    enrol(services, jid, ids)
    counts = tick(services)  # one pass: the first mail, the branch, the branch's mail, all enqueued
    assert counts.get("enqueued") == 2 * CONTACTS and counts.get("node_branch") == CONTACTS, counts

    log = tmp_path / "worker.log"
    worker = start_process("worker", app_env(services, smtp_port=smtp_server.port), log)
    try:
        deadline = time.monotonic() + 90
        while sum(received_by_rcpt(smtp_server).values()) < 100 and time.monotonic() < deadline:
            assert worker.poll() is None, log.read_text()[-3000:]
            time.sleep(0.005)
    finally:
        sigkill(worker)
    at_kill = status_counts(services)
    assert at_kill["sent"] < 2 * CONTACTS, "the worker finished before the kill: nothing was tested"

    worker = start_process("worker", app_env(services, smtp_port=smtp_server.port), log)
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            assert worker.poll() is None, log.read_text()[-3000:]
            if status_counts(services)["sent"] == 2 * CONTACTS:
                break
            tick(services)  # the scheduler's journeys duty goes on meanwhile (nothing is planned twice)
            if services.queue.count == 0:
                sending.requeue_stale(services)  # stale claims and forgotten rows go back on the queue
            time.sleep(0.5)
    finally:
        sigkill(worker)

    counts = status_counts(services)
    assert counts["sent"] == 2 * CONTACTS, (counts, log.read_text()[-3000:])
    with services.db.factory() as s:
        per_node = s.execute(select(Send.journey_enrolment_id, Send.node_key, func.count())
                             .group_by(Send.journey_enrolment_id, Send.node_key)).all()
        flagged = set(s.scalars(select(Contact.email).join(Send, Send.contact_id == Contact.id)
                                .where(Send.possible_duplicate.is_(True))))
        big = {c.id for c in s.scalars(select(Contact)) if c.attributes.get("employees", 0) > 100}
    assert {n for _, _, n in per_node} == {1} and len(per_node) == 2 * CONTACTS  # the ledger: once per node
    received = received_by_rcpt(smtp_server)
    assert set(received) == {f"c{i}@example.jp" for i in range(CONTACTS)}
    assert all(n >= 2 for n in received.values())  # the first mail and the branch's, each at least once
    twice = {rcpt for rcpt, n in received.items() if n > 2}
    assert twice <= flagged, twice - flagged  # every copy delivered twice is flagged
    for contact_id in ids:
        w = walk(services, jid, contact_id)
        assert w.status == "completed"
        assert [n for n, _ in path(services, w.id)] == ["mail", "which", "big_mail" if contact_id in big else "small_mail"]
    with services.db.factory() as s:
        assert s.scalar(select(func.count()).select_from(JourneyEnrolment)) == CONTACTS
    print(f"at kill: {dict(at_kill)}; delivered twice: {len(twice)}; flagged: {len(flagged)}; "
          f"received: {Counter(received.values())}")
