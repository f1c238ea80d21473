"""Migration 0026: sequences still running on the removed sequence planner (made after 0012, activated before
the planner went) become journeys with the same rule as 0012, their contacts continuing where they were:
nothing sent twice, the next step mailed by the journey engine in the scheduler tick. Drafts stay drafts.

The planner's state is written with the models (what it left: an active enrolment due at its next step, the
ledger row of the step it sent), the database is stamped at 0025 and upgraded through 0026. SQLite and
PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import select

from campaigns import scheduler
from campaigns.db import now_utc
from campaigns.journeys.sequences import create_sequence, live_steps
from campaigns.migrate import alembic_config, upgrade
from campaigns.models import (
    Enrollment,
    EnrollmentStatus,
    Journey,
    JourneyEnrolment,
    JourneyStatus,
    Send,
    SendStatus,
    Sequence,
    SequenceStatus,
)
from tests.conftest import run_jobs, seed_account
from tests.factories import make_contact
from tests.platform.test_migrations import _fresh_url
from tests.sending_helpers import make_version, setup_account

pytestmark = pytest.mark.filterwarnings("ignore:.*expression-based index")


@pytest.fixture
def migrated(tmp_path: Any, smtp_server: Any, redis_conn: Any, app_overrides: dict[str, Any]) -> Iterator[Any]:
    from wsgi import create_app

    url = _fresh_url(tmp_path)
    upgrade(url)
    app = create_app({**app_overrides, "database_url": url})
    seed_account(app.extensions["nurture"].db)
    yield app, url
    app.extensions["nurture"].db.dispose()


def test_a_sequence_running_on_the_planner_continues_as_a_journey(migrated, smtp_server) -> None:
    app, url = migrated
    svc = app.extensions["nurture"]
    now = now_utc()
    with svc.db.begin() as s:
        setup_account(s).freq_cap_count = 0
        one = make_version(s, subject="Mail 1", name="mail-1")
        two = make_version(s, subject="Mail 2", name="mail-2")
        running = create_sequence(s, "Running", steps=[{"template_id": one.template_id},
                                                       {"template_id": two.template_id, "delay_minutes": 60}],
                                  exit_events=["stop"])
        running.status = SequenceStatus.ACTIVE  # as the planner-era activation left it
        draft = create_sequence(s, "Draft", steps=[{"template_id": one.template_id}])
        ann = make_contact(s, "ann@example.jp", first_name="Ann")
        first, second = live_steps(s, running.id)
        # the planner sent step 1 two hours ago and set step 2 due one hour ago
        enrolment = Enrollment(contact_id=ann.id, sequence_id=running.id, cycle=1, status=EnrollmentStatus.ACTIVE,
                               next_position=2, next_due_at=now - timedelta(hours=1), last_step_id=first.id,
                               last_planned_at=now - timedelta(hours=2), enrolled_at=now - timedelta(hours=2))
        s.add(enrolment)
        s.flush()
        s.add(Send(contact_id=ann.id, enrollment_id=enrolment.id, step_id=first.id,
                   template_version_id=one.id, status=SendStatus.SENT, created_at=now - timedelta(hours=2),
                   sent_at=now - timedelta(hours=2)))
        ids = (running.id, draft.id, enrolment.id, second.id)
    svc.db.dispose()
    config = alembic_config(url)
    command.stamp(config, "0025")
    upgrade(url, "0026")
    command.stamp(config, "head")

    running_id, draft_id, enrolment_id, second_id = ids
    with svc.db.begin() as s:
        journey = s.scalar(select(Journey).where(Journey.sequence_id == running_id))
        assert journey is not None and journey.status == JourneyStatus.LIVE
        assert s.get(Sequence, running_id).status == SequenceStatus.CONVERTED
        assert s.get(Sequence, draft_id).status == SequenceStatus.DRAFT  # drafts convert when activated
        assert s.scalar(select(Journey).where(Journey.sequence_id == draft_id)) is None
        [walk] = s.scalars(select(JourneyEnrolment).where(JourneyEnrolment.journey_id == journey.id))
        assert (walk.status, walk.node_key) == ("active", f"step-{second_id}-delay")
        assert s.get(Enrollment, enrolment_id).status == EnrollmentStatus.EXITED
        [sent] = s.scalars(select(Send))
        assert (sent.journey_enrolment_id, sent.node_key, sent.visit) == (walk.id, f"step-{walks_first(s, running_id)}", 1)
    scheduler.tick(svc, lock=False)
    assert run_jobs(app) == 1
    scheduler.tick(svc, lock=False)  # nothing more: the walk completed
    assert run_jobs(app) == 0
    smtp_server.wait_for(1)
    assert sorted(str(m.message["Subject"]) for m in smtp_server.messages) == ["Mail 2"]  # step 1 not again


def walks_first(s: Any, sequence_id: int) -> int:
    return live_steps(s, sequence_id)[0].id
