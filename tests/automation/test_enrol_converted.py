"""Enrolling into a converted sequence (migration 0012) enrols into its journey: a scoring trigger, the contact
list's bulk enrol and a form's own sequences start journey walks (campaigns.journeys.walk_entry), which the
real engine, run by the scheduler tick, mails exactly once through the real SMTP sink. A paused journey takes
nobody. The pickers offer converted sequences as their journeys. SQLite and PostgreSQL.

The converted database is made the way migration 0012 leaves it (a sequence with status "converted", a live
journey with journeys.sequence_id and the linear graph of its steps, campaigns.automation.linear), built
through the services rather than by running the migration, which tests/automation/test_sequence_conversion.py
covers.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from campaigns import bulk, scheduler
from campaigns.audience import segment_triggers
from campaigns.automation import service as journeys
from campaigns.automation.linear import linear_graph, linear_settings
from campaigns.db import now_utc
from campaigns.journeys import sequences as seq
from campaigns.journeys import walk_entry
from campaigns.leads import forms
from campaigns.models import (
    Contact,
    Enrollment,
    Journey,
    JourneyEnrolment,
    Sequence,
    SequenceStatus,
)
from campaigns.scoring import triggers
from tests.conftest import run_jobs
from tests.factories import make_contact
from tests.sending_helpers import make_version, setup_account

CONSENT = "メール受信に同意します。配信はいつでも停止できます。"
FIELDS = {"last_name": "山田", "first_name": "太郎", "company": "サンプル株式会社", "consent": "1"}


def _converted(s: Any, name: str = "Onboarding", form_ids: list[int] | None = None) -> tuple[int, int]:
    """A sequence converted as 0012 leaves it: (sequence id, live journey id)."""
    setup_account(s)
    template_id = make_version(s, subject=f"{name}: welcome", name=f"{name}-1").template_id
    sequence = seq.create_sequence(s, name, steps=[{"template_id": template_id, "delay_minutes": 0}])
    steps = [{"id": st.id, "template_id": st.template_id, "delay_minutes": st.delay_minutes} for st in
             seq.live_steps(s, sequence.id)]
    settings = linear_settings({c: getattr(sequence, c) for c in (
        "trigger_events", "trigger_segment_id", "allow_reentry", "goal_event", "exit_events", "exit_stages",
        "exit_segment_id", "exit_segment_when")}, form_ids)
    journey = journeys.create_journey(s, f"{name} journey", graph=linear_graph(steps), settings=settings)
    journeys.publish(s, journey)
    journey.sequence_id = sequence.id
    sequence.status = SequenceStatus.CONVERTED
    s.flush()
    return sequence.id, journey.id


def _mails(smtp_server: Any) -> list[tuple[str, str]]:
    return sorted((str(m.message["To"]).split("<")[-1].rstrip(">"), str(m.message["Subject"]))
                  for m in smtp_server.messages)


def _run_engine(app: Any) -> None:
    """Two scheduler ticks (the second must send nothing new), each followed by the worker's jobs."""
    svc = app.extensions["nurture"]
    for minutes in (1, 3):
        scheduler.tick(svc, now=now_utc() + timedelta(minutes=minutes), lock=False)
        run_jobs(app)


def _walks(s: Any, journey_id: int) -> list[tuple[str, str]]:
    return sorted((s.get(Contact, w.contact_id).email, w.source) for w in s.scalars(
        select(JourneyEnrolment).where(JourneyEnrolment.journey_id == journey_id)))


def test_a_scoring_trigger_enrols_into_the_journey_and_the_engine_mails_once(app, services, smtp_server) -> None:
    with services.db.begin() as s:
        sequence_id, journey_id = _converted(s)
        trigger = triggers.create_trigger(s, {"name": "MQL nurture", "when": "stage", "stage": "mql",
                                              "action": "enroll", "sequence_id": str(sequence_id), "active": True})
        trigger_id = trigger.id
        ann = make_contact(s, "ann@example.jp", first_name="Ann")
        make_contact(s, "ben@example.jp", first_name="Ben")  # not an MQL: not enrolled
        triggers.set_stage(s, ann, "mql", "sales")
    with services.db.begin() as s:
        # the trigger names the journey now (a converted sequence's id is stored as its journey, migration 0022)
        assert (trigger.journey_id, trigger.sequence_id) == (journey_id, None)
        assert _walks(s, journey_id) == [("ann@example.jp", f"trigger:{trigger_id}")]
        assert s.scalar(select(Enrollment.id)) is None  # nothing on the old side
        walk = s.scalar(select(JourneyEnrolment))
        # the path: the start node, where the walk is (the log has no row for it until it leaves), and why
        assert [(p["node"], p["left_at"], p["detail"]) for p in journeys.contact_path(s, walk)] == [
            (walk.node_key, None, f"entered: trigger:{trigger_id}")]
    _run_engine(app)
    assert _mails(smtp_server) == [("ann@example.jp", "Onboarding: welcome")]
    with services.db.begin() as s:  # the trigger fires again (stage set again): no second walk while one is active
        ann = s.scalar(select(Contact).where(Contact.email == "ann@example.jp"))
        assert seq.enroll_contact(s, ann, s.get(Sequence, sequence_id)) is None
    _run_engine(app)
    assert _mails(smtp_server) == [("ann@example.jp", "Onboarding: welcome")]


def test_bulk_enrol_into_a_converted_sequence_or_its_journey_and_a_paused_one_takes_nobody(
        app, services, smtp_server) -> None:
    with services.db.begin() as s:
        sequence_id, journey_id = _converted(s)
        ids = [make_contact(s, f"c{i}@example.jp", first_name=f"C{i}").id for i in range(3)]
        # the picker: the converted sequence appears as its journey, by the journey's key
        choices = walk_entry.enrol_choices(s)
        assert [(c.name, c.key) for c in choices] == [("Onboarding journey", f"journey:{journey_id}")]
        assert bulk.check(s, "enrol", {"enrol_target": f"sequence:{sequence_id}"}) == {"journey_id": journey_id}
        params = bulk.check(s, "enrol", {"enrol_target": choices[0].key})
        assert params == {"journey_id": journey_id}
        assert bulk.run(s, "enrol", params, ids[:2]) == 2
        # the old path, a sequence id held somewhere: enroll_segment enrols into the journey too
        assert seq.enroll_segment(s, s.get(Sequence, sequence_id), ids) == 1
        # a segment's enrolment (the sequence page's job, queued before the upgrade): every active contact
        make_contact(s, "c3@example.jp", first_name="C3")
        assert segment_triggers.enroll_matching(s, s.get(Sequence, sequence_id), {}) == 1
    _run_engine(app)
    assert _mails(smtp_server) == [(f"c{i}@example.jp", "Onboarding: welcome") for i in range(4)]
    with services.db.begin() as s:
        journey = s.get(Journey, journey_id)
        journeys.pause(s, journey)
        late = make_contact(s, "late@example.jp").id
        assert seq.enroll_segment(s, s.get(Sequence, sequence_id), [late]) == 0
        assert walk_entry.refusal(s, journey) == f"journey {journey_id} is paused"
        try:
            bulk.check(s, "enrol", {"enrol_target": f"journey:{journey_id}"})
        except bulk.BulkError as exc:
            assert str(exc) == "Only a live journey can take new contacts."
        else:  # pragma: no cover
            raise AssertionError("a paused journey was accepted")
        assert walk_entry.enrol_choices(s) == []
        assert [c.status for c in walk_entry.target_choices(s)] == ["paused"]
        assert s.scalar(select(JourneyEnrolment.id).where(JourneyEnrolment.contact_id == late)) is None


def test_bulk_enrol_from_the_contact_list_page(app, services, smtp_server, ui) -> None:
    with services.db.begin() as s:
        _sequence_id, journey_id = _converted(s)
        ids = [make_contact(s, f"p{i}@example.jp", first_name=f"P{i}").id for i in range(2)]
    page = ui.get("/contacts/").get_data(as_text=True)
    assert f'<option value="journey:{journey_id}">Onboarding journey</option>' in page
    form = {"action": "enrol", "scope": "selected", "ids": [str(i) for i in ids],
            "enrol_target": f"journey:{journey_id}", "confirm_step": "confirmed", "confirm_count": "2"}
    assert ui.post("/contacts/bulk", form, page="/contacts/").status_code == 302
    _run_engine(app)
    assert _mails(smtp_server) == [("p0@example.jp", "Onboarding: welcome"), ("p1@example.jp", "Onboarding: welcome")]


def test_a_form_submission_enrols_into_the_converted_sequences_journey(app, services, smtp_server, client) -> None:
    with services.db.begin() as s:
        sequence_id, journey_id = _converted(s)
        form = forms.create_form(s, forms.FormInput(name="Seminar", slug="seminar", consent_text=CONSENT,
                                                    sequence_ids=[sequence_id]))
        form_id = form.id
        # the builder offers the converted sequence as its journey, and the form stores the journey
        assert [(c.sequence_id, c.name, c.journey_id) for c in walk_entry.target_choices(s)] == [
            (sequence_id, "Onboarding journey", journey_id)]
        assert (form.journey_ids, form.sequence_ids) == ([journey_id], [])
    response = client.post("/f/seminar", data={**FIELDS, "email": "dai@example.jp"})
    assert response.status_code in (200, 302, 303)
    with services.db.begin() as s:
        assert _walks(s, journey_id) == [("dai@example.jp", f"form:{form_id}")]
    _run_engine(app)
    assert _mails(smtp_server) == [("dai@example.jp", "Onboarding: welcome")]
    with services.db.begin() as s:  # submitted again: the active walk keeps the contact from entering twice
        forms.submit_form(services, s, s.get(forms.Form, form_id), {**FIELDS, "email": "dai@example.jp"})
    _run_engine(app)
    assert _mails(smtp_server) == [("dai@example.jp", "Onboarding: welcome")]


def test_a_form_the_journey_already_lets_in_is_left_to_the_journey(app, services, smtp_server, client) -> None:
    """0012 made a form entry for every form that enrolled into a sequence: the form's own enrolment stands
    aside, and the engine's entry trigger lets the contact in once."""
    with services.db.begin() as s:
        form = forms.create_form(s, forms.FormInput(name="Webinar", slug="webinar", consent_text=CONSENT))
        sequence_id, journey_id = _converted(s, form_ids=[form.id])
        form.sequence_ids = [sequence_id]
        assert walk_entry.enters_on_form(s, s.get(Journey, journey_id), form.id)
    _run_engine(app)  # the engine's first pass starts its event cursor at the present
    assert client.post("/f/webinar", data={**FIELDS, "email": "eri@example.jp"}).status_code in (200, 302, 303)
    with services.db.begin() as s:
        assert _walks(s, journey_id) == []  # not by the form's own enrolment
    _run_engine(app)
    with services.db.begin() as s:
        assert [email for email, _source in _walks(s, journey_id)] == ["eri@example.jp"]
    assert _mails(smtp_server) == [("eri@example.jp", "Onboarding: welcome")]


def test_a_scoring_trigger_that_exits_a_converted_sequence_ends_the_walk(app, services, smtp_server) -> None:
    with services.db.begin() as s:
        sequence_id, journey_id = _converted(s)
        triggers.create_trigger(s, {"name": "SQL stops nurture", "when": "stage", "stage": "sql", "action": "exit",
                                    "sequence_id": str(sequence_id), "active": True})
        fay = make_contact(s, "fay@example.jp", first_name="Fay")
        assert seq.enroll_contact(s, fay, s.get(Sequence, sequence_id)) is not None
        triggers.set_stage(s, fay, "sql", "sales")
    with services.db.begin() as s:
        walk = s.scalar(select(JourneyEnrolment).where(JourneyEnrolment.journey_id == journey_id))
        assert (walk.status, walk.exit_reason) == ("exited", "trigger: SQL stops nurture")
    _run_engine(app)
    assert _mails(smtp_server) == []

