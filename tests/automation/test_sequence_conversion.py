"""Sequences become journeys (migration 0012) with contacts mid-sequence: the sequences, enrolments and mails
are made by the sequence code itself (the real planner and the real sender), then the conversion runs and
the real journey engine, run by the scheduler tick, sends each contact exactly its next mail at its due time
and none it already had. SQLite and PostgreSQL.

0012 changes data only: the schema before and after it is the same. Later migrations add columns the models
use, so the data is made at the current schema, the database is stamped at 0012's predecessor and upgraded
through 0012 alone (what a deployment upgrading from 0011 runs), then stamped at head again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import select

from campaigns import scheduler
from campaigns.automation.graph import validate_graph, validate_settings
from campaigns.automation.linear import linear_graph, linear_settings, steps_from_graph
from campaigns.db import now_utc
from campaigns.journeys import sequences as seq
from campaigns.migrate import alembic_config, upgrade
from campaigns.models import (
    Contact,
    Enrollment,
    Journey,
    JourneyEnrolment,
    JourneyStep,
    JourneyVersion,
    Send,
    Sequence,
    SequenceStatus,
)
from tests.conftest import run_jobs, seed_account
from tests.factories import make_contact
from tests.platform.test_migrations import _fresh_url
from tests.sending_helpers import make_version, setup_account

pytestmark = pytest.mark.filterwarnings("ignore:.*expression-based index")

STEPS = [  # a window on every day 9-18 in the account's zone (Asia/Tokyo): UTC 0-9
    {"template_id": 0, "delay_minutes": 0},
    {"template_id": 0, "delay_minutes": 24 * 60},
    {"template_id": 0, "delay_minutes": 2 * 24 * 60, "window_days": "1234567", "window_start_hour": 9,
     "window_end_hour": 18},
]


@pytest.fixture
def migrated(tmp_path: Any, smtp_server: Any, redis_conn: Any, app_overrides: dict[str, Any]) -> Iterator[Any]:
    """An app on a database of its own (the test runs the conversion on it)."""
    from wsgi import create_app

    url = _fresh_url(tmp_path)
    upgrade(url)
    app = create_app({**app_overrides, "database_url": url})
    seed_account(app.extensions["nurture"].db)
    yield app, url
    app.extensions["nurture"].db.dispose()


def _to_subject(smtp_server: Any) -> list[tuple[str, str]]:
    out = []
    for m in smtp_server.messages:
        msg = m.message
        out.append((str(msg["To"]).split("<")[-1].rstrip(">"), str(msg["Subject"])))
    return sorted(out)


def test_sequences_mid_way_continue_as_journeys_with_nothing_sent_twice(migrated, smtp_server) -> None:
    app, url = migrated
    svc = app.extensions["nurture"]
    t0 = now_utc().replace(hour=1, minute=0, second=0, microsecond=0) + timedelta(days=1)  # 10:00 in Tokyo
    with svc.db.begin() as s:
        setup_account(s).freq_cap_count = 10  # ann gets four mails in four days; the cap is not under test here
        versions = [make_version(s, subject=f"Mail {i}", name=f"mail-{i}") for i in (1, 2, 3)]
        other = make_version(s, subject="Paused 1", name="paused-1")
        steps = [{**st, "template_id": v.template_id} for st, v in zip(STEPS, versions, strict=True)]
        live = seq.create_sequence(s, "Onboarding", steps=steps, trigger_events=["whitepaper"],
                                   exit_events=["stop"], goal_event="demo_booked", exit_stages=["customer"])
        paused = seq.create_sequence(s, "Paused one", steps=[{"template_id": other.template_id},
                                                             {**steps[1], "template_id": other.template_id}])
        seq.create_sequence(s, "Empty draft", steps=[])
        # what the sequence planner (removed since) left behind, written as it wrote it: sequences active and
        # paused, enrolments with their next due time, and the ledger rows of the mails it planned
        live.status, paused.status = SequenceStatus.ACTIVE, SequenceStatus.PAUSED
        contacts = {name: make_contact(s, f"{name}@example.jp", first_name=name)
                    for name in ("ann", "ben", "cho", "dai", "eri", "fox")}
        ids = {name: c.id for name, c in contacts.items()}
        live_id, paused_id = live.id, paused.id
        l1, l2, _l3 = seq.live_steps(s, live_id)
        p1 = seq.live_steps(s, paused_id)[0]
        s.get(Contact, ids["fox"]).stage = "customer"  # set directly: the planner would exit fox at its next due

        def enrolled(name: str, sequence_id: int, at: Any, mails: list[tuple[Any, Any, Any, str]], due: Any,
                     status: str = "active", reason: str = "") -> None:
            e = Enrollment(contact_id=ids[name], sequence_id=sequence_id, cycle=1, status=status,
                           next_position=len(mails) + 1, next_due_at=due if status == "active" else None,
                           last_step_id=mails[-1][0].id, last_planned_at=mails[-1][2], enrolled_at=at,
                           exit_reason=reason, finished_at=None if status == "active" else at + timedelta(hours=2))
            s.add(e)
            s.flush()
            for step, version, when, send_status in mails:
                s.add(Send(contact_id=ids[name], enrollment_id=e.id, step_id=step.id, template_version_id=version.id,
                           status=send_status, created_at=when, enqueued_at=None if send_status == "queued" else when,
                           sent_at=when if send_status == "sent" else None))

        day = timedelta(days=1)
        enrolled("ann", live_id, t0, [(l1, versions[0], t0, "sent")], t0 + timedelta(days=1, hours=10))
        enrolled("ann", paused_id, t0, [(p1, other, t0, "sent")], t0 + day)
        enrolled("ben", live_id, t0, [(l1, versions[0], t0, "sent"), (l2, versions[1], t0 + day, "sent")], t0 + 3 * day)
        enrolled("cho", live_id, t0 + timedelta(hours=1), [(l1, versions[0], t0 + timedelta(hours=1), "sent")],
                 t0 + timedelta(hours=1) + day)
        # dai's second mail is planned but not delivered when the upgrade runs (a queued ledger row)
        enrolled("dai", live_id, t0, [(l1, versions[0], t0, "sent"), (l2, versions[1], t0 + day, "queued")],
                 t0 + 3 * day)
        enrolled("eri", live_id, t0, [(l1, versions[0], t0, "sent")], None, "exited", "event:stop")
        enrolled("fox", live_id, t0, [(l1, versions[0], t0, "sent")], t0 + timedelta(days=1, hours=10))
    before: list[tuple[str, str]] = []  # the mails above went out before the upgrade: none again from here
    with svc.db.begin() as s:
        ledger_before = s.scalar(select(sa.func.count()).select_from(Send))

    svc.db.dispose()
    config = alembic_config(url)
    previous = ScriptDirectory.from_config(config).get_revision("0012").down_revision
    command.stamp(config, previous)
    upgrade(url, "0012")
    command.stamp(config, "0022")  # 0023 is data only too: the path log's open rows of current positions go
    upgrade(url, "0023")
    command.stamp(config, "head")

    with svc.db.begin() as s:
        journeys = {j.sequence_id: j for j in s.scalars(select(Journey))}
        assert set(journeys) == {live_id, paused_id, live_id + 2}
        journey = journeys[live_id]
        assert (journey.status, journeys[paused_id].status, journeys[live_id + 2].status) == ("live", "paused", "draft")
        version = s.get(JourneyVersion, journey.live_version_id)
        assert version.number == 1
        step_ids = [st.id for st in seq.live_steps(s, live_id)]
        assert [n["id"] for n in version.graph["nodes"]] == [
            f"step-{step_ids[0]}", f"step-{step_ids[1]}-delay", f"step-{step_ids[1]}",
            f"step-{step_ids[2]}-delay", f"step-{step_ids[2]}-window", f"step-{step_ids[2]}"]
        assert journey.settings["entry"] == [{"kind": "event", "name": "whitepaper"}]
        assert journey.settings["goal"] == {"kind": "event", "name": "demo_booked"}
        assert journey.settings["exit"]["events"] == ["stop"] and journey.settings["exit"]["stages"] == ["customer"]
        # the graph and settings are what the runtime rule makes, and both pass the validator
        runtime = linear_graph([{"id": st.id, "template_id": st.template_id, "delay_minutes": st.delay_minutes,
                                 "window_days": st.window_days, "window_start_hour": st.window_start_hour,
                                 "window_end_hour": st.window_end_hour} for st in seq.live_steps(s, live_id)])
        assert version.graph == runtime == validate_graph(s, runtime).as_json()
        assert validate_settings(s, journey.settings) == journey.settings
        old = s.get(Sequence, live_id)
        assert journey.settings == linear_settings({c: getattr(old, c) for c in (
            "trigger_events", "trigger_segment_id", "allow_reentry", "goal_event", "exit_events", "exit_stages",
            "exit_segment_id", "exit_segment_when")})
        assert [st["step_id"] for st in steps_from_graph(version.graph)] == step_ids
        walks = {(w.journey_id, w.contact_id): w for w in s.scalars(select(JourneyEnrolment))}
        ann, ben, cho, dai = (walks[(journey.id, ids[n])] for n in ("ann", "ben", "cho", "dai"))
        assert (ann.status, ann.node_key, ann.due_at) == ("active", f"step-{step_ids[1]}-delay",
                                                          t0 + timedelta(days=1, hours=10))
        assert (ben.status, ben.node_key) == ("active", f"step-{step_ids[2]}-delay")
        assert (dai.status, dai.node_key) == ("active", f"step-{step_ids[2]}-delay")  # its queued mail is sent
        assert walks[(journey.id, ids["eri"])].status == "exited"
        assert walks[(journey.id, ids["fox"])].exit_reason == "stage: customer"
        assert walks[(journeys[paused_id].id, ids["ann"])].node_key == f"step-{seq.live_steps(s, paused_id)[1].id}-delay"
        # the ledger re-keyed: every sequence send is its walk's send at the step's node, visit 1
        for send in s.scalars(select(Send)):
            assert (send.journey_enrolment_id, send.node_key, send.visit) == (
                send.enrollment_id, f"step-{send.step_id}", 1)
        assert s.scalar(select(sa.func.count()).select_from(Send)) == ledger_before
        # the path log: the mails sent (the nodes left); where each walk stands is the walk's own (above)
        path = [(st.node_key, st.exit) for st in s.scalars(
            select(JourneyStep).where(JourneyStep.enrolment_id == ben.id).order_by(JourneyStep.id))]
        assert path == [(f"step-{step_ids[0]}", "next"), (f"step-{step_ids[1]}", "next")]
        # the old side is inert
        assert not s.scalars(select(Enrollment).where(Enrollment.status == "active")).all()
        assert {str(q.status) for q in s.scalars(select(Sequence))} == {"converted"}

    # The journey engine from here, through the scheduler tick: dai's queued mail goes (once), nothing else yet
    scheduler.tick(svc, now=t0 + timedelta(days=1, minutes=1), lock=False)
    run_jobs(app)
    assert _to_subject(smtp_server) == sorted([*before, ("dai@example.jp", "Mail 2")])
    # cho's second mail one day after its first; ann's at its due time (10 hours later)
    scheduler.tick(svc, now=t0 + timedelta(days=1, hours=1, minutes=1), lock=False)
    run_jobs(app)
    assert _to_subject(smtp_server) == sorted([*before, ("dai@example.jp", "Mail 2"), ("cho@example.jp", "Mail 2")])
    scheduler.tick(svc, now=t0 + timedelta(days=1, hours=10, minutes=1), lock=False)
    run_jobs(app)
    after_two = sorted([*before, ("dai@example.jp", "Mail 2"), ("cho@example.jp", "Mail 2"),
                        ("ann@example.jp", "Mail 2")])
    assert _to_subject(smtp_server) == after_two
    # the third mail: two days after the second, and only inside its window (9-18 in Tokyo = 0-9 UTC).
    # ben's and dai's second were planned at t0 + 1 day (01:00 UTC): due t0 + 3 days 01:00, inside
    scheduler.tick(svc, now=t0 + timedelta(days=3, minutes=1), lock=False)
    run_jobs(app)
    after_ben = sorted([*after_two, ("ben@example.jp", "Mail 3"), ("dai@example.jp", "Mail 3")])
    assert _to_subject(smtp_server) == after_ben
    scheduler.tick(svc, now=t0 + timedelta(days=3, hours=1, minutes=2), lock=False)  # cho: 11:03 in Tokyo
    run_jobs(app)
    after_cho = sorted([*after_ben, ("cho@example.jp", "Mail 3")])
    assert _to_subject(smtp_server) == after_cho
    # ann's second went at 11:01 UTC: her third is due at 11:01 UTC two days on, 20:01 in Tokyo, outside
    # the window: it waits for the next opening, 09:00 in Tokyo the next morning (00:00 UTC)
    scheduler.tick(svc, now=t0 + timedelta(days=3, hours=10, minutes=2), lock=False)
    run_jobs(app)
    assert _to_subject(smtp_server) == after_cho
    with svc.db.begin() as s:
        waiting = s.get(JourneyEnrolment, ann.id)
        assert (waiting.node_key, waiting.due_at) == (f"step-{step_ids[2]}-window", t0 + timedelta(days=3, hours=23))
    scheduler.tick(svc, now=t0 + timedelta(days=3, hours=23, minutes=1), lock=False)
    run_jobs(app)
    final = sorted([*after_cho, ("ann@example.jp", "Mail 3")])
    assert _to_subject(smtp_server) == final
    # and again much later: every walk completed, nothing more; the paused journey's walk still waits
    scheduler.tick(svc, now=t0 + timedelta(days=9), lock=False)
    run_jobs(app)
    assert _to_subject(smtp_server) == final
    assert not [mail for mail in final if mail[1] in ("Mail 1", "Paused 1")]  # no first mail sent again
    with svc.db.begin() as s:
        statuses = Counter(str(w.status) for w in s.scalars(select(JourneyEnrolment).where(
            JourneyEnrolment.journey_id == journey.id)))
        assert statuses == Counter({"completed": 4, "exited": 2})
        paused_walk = s.scalar(select(JourneyEnrolment).where(JourneyEnrolment.journey_id == journeys[paused_id].id))
        assert paused_walk.status == "active"


def test_an_unsubscribe_from_a_converted_sequence_ends_its_journey_walk_and_cancels_its_queued_mail(
        services, session) -> None:
    from campaigns.automation import service

    setup_account(session)
    template = make_version(session, subject="Hello", name="hello").template_id
    other = make_version(session, subject="Other", name="other").template_id
    sequence = seq.create_sequence(session, "Old", steps=[{"template_id": template}])
    sequence.status = SequenceStatus.CONVERTED
    journeys = []
    for template_id, sequence_id in ((template, sequence.id), (other, None)):
        journey = service.create_journey(session, f"J{template_id}", graph=linear_graph(
            [{"id": template_id, "template_id": template_id, "delay_minutes": 60}]))
        journey.sequence_id = sequence_id
        service.publish(session, journey)
        journeys.append(journey)
    contact = make_contact(session, "kei@example.jp")
    for journey in journeys:
        service.enrol_contacts(session, journey, [contact.id], "manual")
    session.commit()
    # a converted sequence takes no enrolment the old way
    assert seq.enroll_contact(session, contact, sequence) is None
    with pytest.raises(ValueError, match="runs as a journey"):
        seq.update_sequence(session, sequence, name="Renamed")
    assert seq.exit_contact(session, contact.id, "unsubscribed from sequence", sequence_id=sequence.id) == 1
    session.commit()
    walks = {w.journey_id: w for w in session.scalars(select(JourneyEnrolment))}
    assert (walks[journeys[0].id].status, walks[journeys[0].id].exit_reason) == (
        "exited", "unsubscribed from sequence")
    assert walks[journeys[1].id].status == "active"  # only that sequence's journey
    # a bounce ends every walk
    assert seq.exit_contact(session, contact.id, "bounced") == 1
    session.commit()
    assert {str(w.status) for w in session.scalars(select(JourneyEnrolment))} == {"exited"}
    steps = session.scalars(select(JourneyStep).where(JourneyStep.left_at.is_(None))).all()
    assert steps == []


def test_the_demo_data_is_a_live_journey_whose_first_mails_go_through_the_engine(app, services) -> None:
    from campaigns.demo import demo_journey_id, seed_demo

    with services.db.begin() as s:
        s.execute(sa.delete(sa.table("account")))  # seed_demo fills the account itself
    assert "1 live journey (20 enrolled)" in seed_demo(services, contacts=30)
    assert seed_demo(services) == "demo data already present"
    journey_id = demo_journey_id(services)
    with services.db.begin() as s:
        journey = s.get(Journey, journey_id)
        assert journey.status == "live" and journey.sequence_id is None
        assert [t["kind"] for t in journey.settings["entry"]] == ["event", "form"]
        # its one sequence is a draft (the sequences list's example): nothing runs as a sequence
        assert {q.status for q in s.scalars(select(Sequence))} == {SequenceStatus.DRAFT}
    counts = scheduler.tick(services, lock=False)
    assert counts.get("planned") == 20
    with services.db.begin() as s:
        assert {w.node_key for w in s.scalars(select(JourneyEnrolment))} == {"three-days"}


def test_the_sequence_api_shows_a_converted_sequence_from_its_journey_and_sends_writes_there(
        client, api_key, services, session) -> None:
    from campaigns.automation import service

    headers = {"Authorization": f"Bearer {api_key}"}
    setup_account(session)
    template = make_version(session, subject="Hello", name="hello").template_id
    sequence = seq.create_sequence(session, "Old", steps=[{"template_id": template}], trigger_events=["signup"])
    step_id = seq.live_steps(session, sequence.id)[0].id
    sequence.status = SequenceStatus.CONVERTED
    graph = linear_graph([{"id": step_id, "template_id": template, "delay_minutes": 0},
                          {"id": step_id + 100, "template_id": template, "delay_minutes": 1440,
                           "window_days": "12345", "window_start_hour": 9, "window_end_hour": 18}])
    journey = service.create_journey(session, "Old", graph=graph, settings=linear_settings(
        {"trigger_events": ["signup"], "exit_events": ["stop"]}))
    journey.sequence_id = sequence.id
    service.publish(session, journey)
    contact = make_contact(session, "api@example.jp")
    service.enrol_contacts(session, journey, [contact.id], "api")
    session.commit()
    body = client.get(f"/api/v1/sequences/{sequence.id}", headers=headers).get_json()
    assert (body["status"], body["journey_id"], body["journey_status"]) == ("converted", journey.id, "live")
    assert body["trigger_events"] == ["signup"] and body["exit_events"] == ["stop"]
    assert body["enrollments"] == {"active": 1}
    assert [(st["id"], st["delay_minutes"], st["window_days"], st["window_start_hour"]) for st in body["steps"]] == [
        (step_id, 0, "", None), (step_id + 100, 1440, "12345", 9)]
    # edits go to the journey (a 422 naming it); pause and activate pause and resume the journey
    resp = client.put(f"/api/v1/sequences/{sequence.id}", headers=headers, json={"name": "New"})
    assert resp.status_code == 422 and "runs as a journey" in resp.get_json()["message"]
    assert resp.get_json()["details"]["journey_id"] == str(journey.id)
    paused = client.post(f"/api/v1/sequences/{sequence.id}/pause", headers=headers).get_json()
    assert paused["journey_status"] == "paused"
    resumed = client.post(f"/api/v1/sequences/{sequence.id}/activate", headers=headers).get_json()
    assert resumed["journey_status"] == "live" and resumed["journey_id"] == journey.id


def test_a_converted_sequence_s_pages_lead_to_its_journey(ui, services, session) -> None:
    from campaigns.automation import service

    setup_account(session)
    template = make_version(session, subject="Hello", name="hello").template_id
    sequence = seq.create_sequence(session, "Old onboarding", steps=[{"template_id": template}])
    step_id = seq.live_steps(session, sequence.id)[0].id
    sequence.status = SequenceStatus.CONVERTED
    journey = service.create_journey(session, "Old onboarding", graph=linear_graph(
        [{"id": step_id, "template_id": template}]))
    journey.sequence_id = sequence.id
    service.publish(session, journey)
    session.commit()
    for path in ("", "/edit"):
        resp = ui.get(f"/sequences/{sequence.id}{path}")
        assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/journeys/{journey.id}")
    listing = ui.get("/sequences/", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert f'href="/journeys/{journey.id}"' in listing and "シナリオとして実行中" in listing


def test_0012_downgrades_to_sequences_and_upgrades_again(tmp_path) -> None:
    url = _fresh_url(tmp_path)
    upgrade(url, "0011")
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    sql = [
        "INSERT INTO contacts (email, first_name, last_name, company, job_title, source, attributes, status, stage,"
        " score, consent_method, consent_source, consent_text, created_at, updated_at) VALUES ('a@example.jp', '',"
        " '', '', '', '', '{}', 'active', 'cold', 0, '', '', '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        "INSERT INTO templates (name, created_at, updated_at) VALUES ('T', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        "INSERT INTO template_versions (template_id, version, subject, preheader, from_name, html_source, text_source,"
        " compiled_html, compiled_text, created_at) VALUES (1, 1, 's', '', '', '', '', '', '', CURRENT_TIMESTAMP)",
        "INSERT INTO sequences (name, description, status, trigger_events, allow_reentry, exit_events, exit_stages,"
        " goal_event, exit_segment_when, created_at, updated_at) VALUES ('S', '', 'active', '[]', false, '[]', '[]',"
        " '', 'left', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        "INSERT INTO steps (sequence_id, position, delay_minutes, template_id, window_days, deleted)"
        " VALUES (1, 1, 0, 1, '', false), (1, 2, 60, 1, '', false)",
        "INSERT INTO enrollments (contact_id, sequence_id, cycle, status, next_position, next_due_at, last_step_id,"
        " last_planned_at, source_event, exit_reason, enrolled_at) VALUES (1, 1, 1, 'active', 2, :due, 1, :at, '',"
        " '', :at)",
        "INSERT INTO sends (contact_id, enrollment_id, step_id, template_version_id, variant, status, attempts,"
        " possible_duplicate, error, created_at) VALUES (1, 1, 1, 1, '', 'sent', 1, false, '', CURRENT_TIMESTAMP)",
    ]
    at = now_utc().replace(microsecond=0)
    with engine.begin() as conn:
        for statement in sql:
            conn.execute(sa.text(statement).bindparams(sa.bindparam("due", type_=sa.DateTime(timezone=True)),
                                                       sa.bindparam("at", type_=sa.DateTime(timezone=True)))
                         if ":due" in statement else sa.text(statement),
                         {"due": at + timedelta(hours=1), "at": at} if ":due" in statement else {})
    upgrade(url, "0012")
    walk = "SELECT id, status, node_key FROM journey_enrolments"
    with engine.begin() as conn:
        assert conn.execute(sa.text(walk)).all() == [(1, "active", f"step-{2}-delay")]
    command.downgrade(alembic_config(url), "0011")
    with engine.begin() as conn:
        assert conn.execute(sa.text("SELECT status, exit_reason FROM enrollments")).all() == [("active", "")]
        assert conn.execute(sa.text("SELECT status FROM sequences")).scalar() == "active"
        assert conn.execute(sa.text("SELECT count(*) FROM journeys")).scalar() == 0
        assert conn.execute(sa.text("SELECT journey_enrolment_id, node_key FROM sends")).all() == [(None, None)]
    upgrade(url, "0012")
    with engine.begin() as conn:
        assert conn.execute(sa.text(walk)).all() == [(1, "active", "step-2-delay")]
    engine.dispose()
