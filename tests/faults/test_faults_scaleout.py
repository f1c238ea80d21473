"""Fault-free but concurrent: the scale-out setup, two `worker.py scheduler` processes (failover pair)
and three `worker.py worker` processes at once, over a 3-step sequence and a broadcast. Every step and
the broadcast reach every contact exactly once (counted in the mailbox), and the ledger agrees."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from campaigns.db import now_utc
from campaigns.journeys.broadcasts import create_broadcast, schedule_broadcast
from campaigns.journeys.sequences import enroll_segment
from campaigns.models import Contact, JourneyEnrolment, JourneyEnrolmentStatus, Send, SendStatus
from campaigns.users import get_account
from tests.factories import make_sequence
from tests.fault_helpers import (
    FaultyServer,
    app_env,
    start_process,
    status_counts,
    stop_all,
    tail,
    wait_until,
)
from tests.sending_helpers import make_version, setup_account

CONTACTS = 200
STEPS = 3
_SUBJECT = re.compile(rb"^Subject: (.*?)\r?$", re.MULTILINE)


@pytest.fixture
def smtp_server() -> Any:
    server = FaultyServer(delay=0.001)
    server.controller.start()
    yield server
    server.controller.stop()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_schedulers_and_three_workers_send_every_step_exactly_once(
    services: Any, smtp_server: Any, tmp_path: Path
) -> None:
    with services.db.begin() as s:
        setup_account(s)
        get_account(s).freq_cap_count = 0
        versions = [make_version(s, name=f"step{n}", subject=f"Step {n}") for n in range(1, STEPS + 1)]
        sequence = make_sequence(s, [{"template_id": v.template_id, "delay_minutes": 0} for v in versions])
        s.execute(insert(Contact), [{"email": f"lead{i}@example.com", "attributes": {}} for i in range(CONTACTS)])
        assert enroll_segment(s, sequence, list(s.scalars(select(Contact.id)))) == CONTACTS
        news = make_version(s, name="news", subject="News")
        schedule_broadcast(s, create_broadcast(s, "News", news.template_id), now_utc())
    expected = CONTACTS * (STEPS + 1)
    env = app_env(services)
    log = tmp_path / "processes.log"
    procs = [start_process("scheduler", env, log) for _ in range(2)]
    procs += [start_process("worker", env, log) for _ in range(3)]

    def alive() -> None:
        for proc in procs:
            assert proc.poll() is None, tail(log)

    try:
        assert wait_until(lambda: status_counts(services)["sent"] == expected, 180, 0.25, alive), (
            status_counts(services), tail(log))
        assert wait_until(lambda: len(smtp_server.messages) >= expected, 10, 0.05)
        with services.db.begin() as s:
            done = s.scalar(select(func.count()).where(JourneyEnrolment.status == JourneyEnrolmentStatus.COMPLETED))
        assert done == CONTACTS
    finally:
        stop_all(procs)

    copies: Counter[tuple[str, str]] = Counter()
    for m in smtp_server.messages:
        subject = _SUBJECT.search(m.raw)
        for rcpt in m.rcpt_tos:
            copies[(rcpt, subject.group(1).decode() if subject else "")] += 1
    wanted = {(f"lead{i}@example.com", subj) for i in range(CONTACTS)
              for subj in [*(f"Step {n}" for n in range(1, STEPS + 1)), "News"]}
    assert set(copies) == wanted and set(copies.values()) == {1}
    with services.db.begin() as s:
        per_pair = s.execute(select(Send.journey_enrolment_id, Send.node_key, func.count())
                             .where(Send.journey_enrolment_id.isnot(None))
                             .group_by(Send.journey_enrolment_id, Send.node_key)).all()
        flagged = s.scalar(select(func.count()).where(Send.possible_duplicate.is_(True)))
    assert len(per_pair) == CONTACTS * STEPS and {n for *_, n in per_pair} == {1}
    assert flagged == 0 and status_counts(services) == {SendStatus.SENT.value: expected}
    ticks = len(re.findall(r"tick: ", log.read_text(errors="replace")))
    print(f"\n2 schedulers + 3 workers: {expected} mails ({CONTACTS} contacts x {STEPS} steps + broadcast), "
          f"each exactly once; {ticks} scheduler ticks did work")
