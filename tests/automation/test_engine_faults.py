"""The journey engine under faults: a scheduler SIGKILLed mid-branch, two engine passes at once, a new
version published while walks are on their way. Every contact gets each mail once."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from campaigns.automation import engine, service
from campaigns.db import now_utc
from campaigns.models import Journey, JourneyEnrolment, Send
from tests.automation.engine_helpers import branch_journey, enrol, path, publish, template, tick, walk
from tests.factories import make_contact
from tests.fault_helpers import ROOT, app_env, sigkill, wait_until

# A scheduler process that runs the engine and stops dead inside the branch, its chunk's transaction open
# (the mails before the branch inserted, the walks not yet written): SIGKILL lands there.
CHILD = """
import sys, time
from pathlib import Path
from campaigns.config import Settings
from campaigns.runtime import Services
from campaigns.automation import engine, nodes
from campaigns.db import now_utc

marker = Path(sys.argv[1])
original = nodes._RUNNERS["branch"]
def stuck(batch, plan, data, walks):
    original(batch, plan, data, walks)
    batch.session.flush()
    marker.write_text("in the branch")
    time.sleep(600)
nodes._RUNNERS["branch"] = stuck
svc = Services.build(Settings.from_env())
engine.tick(svc, now_utc())
"""


def _sends_per_walk(services: Any, journey_id: int) -> dict[tuple[int, str], int]:
    with services.db.factory() as s:
        rows = s.execute(select(Send.journey_enrolment_id, Send.node_key, func.count())
                         .join(JourneyEnrolment, JourneyEnrolment.id == Send.journey_enrolment_id)
                         .where(JourneyEnrolment.journey_id == journey_id)
                         .group_by(Send.journey_enrolment_id, Send.node_key)).all()
        return {(w, n): c for w, n, c in rows}


def test_sigkill_of_a_scheduler_mid_branch_then_the_next_tick(app, services, tmp_path):
    jid, ids = branch_journey(services)
    enrol(services, jid, ids)
    marker = tmp_path / "marker"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    log = (tmp_path / "child.log").open("wb")
    proc = subprocess.Popen([sys.executable, str(script), str(marker)], cwd=ROOT, env=app_env(services),
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        assert wait_until(marker.exists, 60), Path(tmp_path / "child.log").read_text()[-2000:]
    finally:
        sigkill(proc)
    # The killed chunk wrote nothing (its transaction died with it): the walks are where they were.
    assert _sends_per_walk(services, jid) == {}
    assert all(walk(services, jid, c).node_key == "mail" for c in ids)
    tick(services)
    sends = _sends_per_walk(services, jid)
    assert set(sends.values()) == {1} and len(sends) == 2 * len(ids)
    for contact_id in ids:
        w = walk(services, jid, contact_id)
        assert w.status == "completed"
        assert [n for n, _ in path(services, w.id)] in (["mail", "which", "big_mail"], ["mail", "which", "small_mail"])


def test_two_engine_passes_at_once_send_each_mail_once(app, services):
    jid, ids = branch_journey(services)
    enrol(services, jid, ids)
    now = now_utc()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            engine.tick(services, now)
        except BaseException as exc:  # noqa: BLE001  (reported by the assertion below)
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    tick(services)  # whatever one pass skipped (locked by the other), the next one finishes
    sends = _sends_per_walk(services, jid)
    assert set(sends.values()) == {1} and len(sends) == 2 * len(ids)


def test_publishing_a_new_version_resends_nothing(app, services):
    with services.db.begin() as s:
        tid = template(s)
        journey = publish(s, {
            "start": "first", "nodes": [
                {"id": "first", "type": "send", "template_id": tid},
                {"id": "pause", "type": "wait", "wait": {"minutes": 60}},
                {"id": "second", "type": "send", "template_id": tid}],
            "edges": [{"from": "first", "exit": "next", "to": "pause"}, {"from": "pause", "exit": "next", "to": "second"}]})
        jid = journey.id
        ids = [make_contact(s, f"v{i}@example.jp").id for i in range(3)]
    enrol(services, jid, ids)
    tick(services)
    with services.db.begin() as s:
        journey = s.get(Journey, jid)
        graph = dict(journey.draft_graph)
        graph["nodes"] = [*graph["nodes"], {"id": "third", "type": "send", "template_id": tid}]
        graph["edges"] = [*graph["edges"], {"from": "second", "exit": "next", "to": "third"}]
        service.update_draft(s, journey, graph=graph)
        service.publish(s, journey)
    tick(services)  # nothing due: the walks wait at "pause" on the new version
    time.sleep(0)
    with services.db.factory() as s:
        assert s.scalar(select(func.count()).select_from(Send)) == 3
    tick(services, now_utc() + __import__("datetime").timedelta(minutes=61))
    sends = _sends_per_walk(services, jid)
    assert set(sends.values()) == {1}
    assert sorted({n for _, n in sends}) == ["first", "second", "third"]
