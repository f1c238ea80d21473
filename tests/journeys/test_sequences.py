"""Sequences as a service: building and validation, enrolment and re-entry, events, exits, broadcasts,
and the pure rules of when a mail may go (send windows in time zones, the frequency cap)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from campaigns.journeys.broadcasts import cancel_broadcast, create_broadcast, schedule_broadcast
from campaigns.journeys.sequences import (
    create_sequence,
    enroll_contact,
    enroll_segment,
    exit_contact,
    live_steps,
    next_allowed_by_cap,
    next_window_opening,
    record_event,
    set_sequence_status,
    update_sequence,
)
from campaigns.models import (
    Broadcast,
    BroadcastStatus,
    ContactStatus,
    Enrollment,
    EnrollmentStatus,
    Event,
    Send,
    SendStatus,
    SequenceStatus,
    Step,
    Suppression,
)
from tests.factories import make_contact, make_sequence, make_template

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")


# ------------------------------------------------------------------ send windows (pure)
def test_saturday_night_in_tokyo_waits_for_monday_morning():
    when = datetime(2026, 11, 21, 3, 0, tzinfo=TOKYO).astimezone(UTC)  # Saturday 03:00 JST
    opening = next_window_opening(when, TOKYO, "12345", 9, 18)
    assert opening == datetime(2026, 11, 23, 9, 0, tzinfo=TOKYO)
    assert opening.astimezone(TOKYO).isoweekday() == 1


def test_inside_the_window_goes_at_once_and_after_closing_waits_for_next_day():
    inside = datetime(2026, 11, 24, 17, 59, tzinfo=TOKYO).astimezone(UTC)  # Tuesday
    assert next_window_opening(inside, TOKYO, "12345", 9, 18) == inside
    closed = datetime(2026, 11, 24, 18, 0, tzinfo=TOKYO).astimezone(UTC)
    assert next_window_opening(closed, TOKYO, "12345", 9, 18) == datetime(2026, 11, 25, 9, 0, tzinfo=TOKYO)
    friday_evening = datetime(2026, 11, 27, 19, 0, tzinfo=TOKYO)
    assert next_window_opening(friday_evening, TOKYO, "12345", 9, 18) == datetime(2026, 11, 30, 9, tzinfo=TOKYO)


def test_window_days_only_hours_only_and_overnight_windows():
    sunday_3am = datetime(2026, 11, 22, 3, 0, tzinfo=TOKYO)
    assert next_window_opening(sunday_3am, TOKYO, "7", None, None) == sunday_3am
    assert next_window_opening(sunday_3am, TOKYO, "6", None, None) == datetime(2026, 11, 28, 0, 0, tzinfo=TOKYO)
    assert next_window_opening(sunday_3am, TOKYO, "", 10, None) == datetime(2026, 11, 22, 10, tzinfo=TOKYO)
    assert next_window_opening(sunday_3am, TOKYO, "", 22, 6) == sunday_3am  # overnight 22:00-06:00
    at_noon = datetime(2026, 11, 22, 12, 0, tzinfo=TOKYO)
    assert next_window_opening(at_noon, TOKYO, "", 22, 6) == datetime(2026, 11, 22, 22, tzinfo=TOKYO)
    assert next_window_opening(at_noon, TOKYO, "", None, None) == at_noon


def test_window_in_new_york_across_the_dst_change():
    # 2027-03-14 02:00 does not exist in New York; a 02:00 window start opens at 03:00 EDT.
    before = datetime(2027, 3, 14, 1, 30, tzinfo=NEW_YORK)
    opening = next_window_opening(before.astimezone(UTC), NEW_YORK, "", 2, 5)
    assert opening.astimezone(NEW_YORK).hour == 3
    assert opening > before
    # The same wall-clock window is a different UTC hour on either side of the change.
    winter = next_window_opening(datetime(2027, 3, 13, 0, 0, tzinfo=UTC), NEW_YORK, "", 9, 17)
    summer = next_window_opening(datetime(2027, 3, 15, 0, 0, tzinfo=UTC), NEW_YORK, "", 9, 17)
    assert (winter.astimezone(UTC).hour, summer.astimezone(UTC).hour) == (14, 13)


def test_frequency_cap_gives_the_moment_a_slot_frees():
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    times = [t0, t0 + timedelta(days=1), t0 + timedelta(days=2)]
    assert next_allowed_by_cap(times[:2], 3, 7) is None
    assert next_allowed_by_cap(times, 3, 7) == t0 + timedelta(days=7)
    assert next_allowed_by_cap(list(reversed(times)), 2, 7) == t0 + timedelta(days=8)
    assert next_allowed_by_cap(times, 0, 7) is None  # cap switched off


# ------------------------------------------------------------------ building sequences
def test_create_sequence_validates_steps_and_fields(services):
    with services.db.begin() as s:
        template = make_template(s)
        ok = {"template_id": template.id, "delay_minutes": 0}
        with pytest.raises(ValueError, match="template 999 does not exist"):
            create_sequence(s, "x", steps=[{"template_id": 999}])
        with pytest.raises(ValueError, match="window_days"):
            create_sequence(s, "x", steps=[{**ok, "window_days": "189"}])
        with pytest.raises(ValueError, match="same hour"):
            create_sequence(s, "x", steps=[{**ok, "window_start_hour": 9, "window_end_hour": 9}])
        with pytest.raises(ValueError, match="window_end_hour"):
            create_sequence(s, "x", steps=[{**ok, "window_end_hour": 25}])
        with pytest.raises(ValueError, match="delay_minutes"):
            create_sequence(s, "x", steps=[{**ok, "delay_minutes": -5}])
        with pytest.raises(ValueError, match="unknown stage"):
            create_sequence(s, "x", steps=[ok], exit_stages=["vip"])
        with pytest.raises(ValueError, match="name"):
            create_sequence(s, "  ", steps=[ok])
        with pytest.raises(ValueError, match="unknown field"):
            create_sequence(s, "x", steps=[{**ok, "subject": "?"}])
        sequence = create_sequence(
            s, " Follow-up ", steps=[ok, {**ok, "delay_minutes": 1440, "window_days": "51",
                                          "window_start_hour": 9, "window_end_hour": 18}],
            trigger_events=["whitepaper_downloaded"], exit_events=["demo_booked", "demo_booked"],
            exit_stages=["sql"],
        )
        assert sequence.name == "Follow-up" and sequence.status == SequenceStatus.DRAFT
        assert sequence.exit_events == ["demo_booked"]
        steps = live_steps(s, sequence.id)
        assert [(st.position, st.delay_minutes, st.window_days) for st in steps] == [(1, 0, ""), (2, 1440, "15")]


def test_activation_needs_steps_whose_templates_have_a_version(services):
    with services.db.begin() as s:
        empty = create_sequence(s, "empty", steps=[])
        with pytest.raises(ValueError, match="at least one step"):
            set_sequence_status(s, empty, "active")
        draft_template = make_template(s, "draft", with_version=False)
        sequence = create_sequence(s, "s", steps=[{"template_id": draft_template.id}])
        with pytest.raises(ValueError, match="step 1: its template has no saved version"):
            set_sequence_status(s, sequence, SequenceStatus.ACTIVE)
        with pytest.raises(ValueError, match="unknown sequence status"):
            set_sequence_status(s, sequence, "running")
        good = make_template(s, "good")
        update_sequence(s, sequence, steps=[{"template_id": good.id}])
        assert set_sequence_status(s, sequence, "active").status == SequenceStatus.ACTIVE
        assert set_sequence_status(s, sequence, "paused").status == SequenceStatus.PAUSED


def test_update_sequence_keeps_ids_soft_deletes_and_renumbers(services):
    with services.db.begin() as s:
        t1, t2 = make_template(s, "one"), make_template(s, "two")
        sequence = create_sequence(s, "s", steps=[{"template_id": t1.id}, {"template_id": t2.id},
                                                 {"template_id": t1.id, "delay_minutes": 60}])
        a, b, c = live_steps(s, sequence.id)
        update_sequence(s, sequence, name="renamed", steps=[
            {"id": c.id, "template_id": t2.id, "delay_minutes": 5},
            {"template_id": t1.id, "delay_minutes": 10},
            {"id": a.id, "template_id": t1.id},
        ])
        steps = live_steps(s, sequence.id)
        assert [st.id for st in steps][0::2] == [c.id, a.id]
        assert [(st.position, st.delay_minutes, st.template_id) for st in steps] == [
            (1, 5, t2.id), (2, 10, t1.id), (3, 0, t1.id)]
        assert s.get(Step, b.id).deleted is True
        assert sequence.name == "renamed"
        other = create_sequence(s, "other", steps=[{"template_id": t1.id}])
        foreign = live_steps(s, other.id)[0]
        with pytest.raises(ValueError, match="not a step of this sequence"):
            update_sequence(s, sequence, steps=[{"id": foreign.id, "template_id": t1.id}])
        with pytest.raises(ValueError, match="unknown sequence field"):
            update_sequence(s, sequence, status="active")


# ------------------------------------------------------------------ enrolment
def test_enrolment_once_unless_reentry_and_never_for_inactive_or_suppressed(services):
    with services.db.begin() as s:
        template = make_template(s)
        once = make_sequence(s, [{"template_id": template.id, "delay_minutes": 30}], name="once")
        again = make_sequence(s, [{"template_id": template.id}], name="again", allow_reentry=True)
        alice = make_contact(s, "alice@example.com")
        now = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
        first = enroll_contact(s, alice, once, now=now)
        assert first is not None and first.cycle == 1
        assert first.next_due_at == now + timedelta(minutes=30)
        assert enroll_contact(s, alice, once) is None  # already active
        first.status = EnrollmentStatus.COMPLETED
        s.flush()
        assert enroll_contact(s, alice, once) is None  # finished, re-entry not allowed

        e1 = enroll_contact(s, alice, again)
        assert enroll_contact(s, alice, again) is None  # active: re-entry means after finishing
        e1.status = EnrollmentStatus.EXITED
        s.flush()
        e2 = enroll_contact(s, alice, again)
        assert e2 is not None and e2.cycle == 2

        bob = make_contact(s, "bob@example.com", status=ContactStatus.UNSUBSCRIBED)
        carol = make_contact(s, "carol@example.com")
        s.add(Suppression(email="carol@example.com", reason="manual"))
        s.flush()
        assert enroll_contact(s, bob, again) is None
        assert enroll_contact(s, carol, again) is None


def test_enroll_segment_counts_only_new_eligible_enrolments(services):
    with services.db.begin() as s:
        template = make_template(s)
        sequence = make_sequence(s, [{"template_id": template.id}])
        contacts = [make_contact(s, f"c{i}@example.com") for i in range(6)]
        contacts[0].status = ContactStatus.BOUNCED
        s.add(Suppression(email="c1@example.com", reason="hard_bounce"))
        s.flush()
        assert enroll_contact(s, contacts[2], sequence) is not None
        ids = [c.id for c in contacts] + [contacts[3].id, 999999]
        assert enroll_segment(s, sequence, ids) == 3  # c3, c4, c5
        assert enroll_segment(s, sequence, ids) == 0
        enrolled = s.scalars(select(Enrollment.contact_id).where(Enrollment.sequence_id == sequence.id)).all()
        assert sorted(enrolled) == sorted(c.id for c in contacts[2:])


# ------------------------------------------------------------------ events and exits
def test_trigger_event_enrols_only_in_active_sequences(services):
    with services.db.begin() as s:
        template = make_template(s)
        wp = make_sequence(s, [{"template_id": template.id}], name="wp", trigger_events=["whitepaper_downloaded"])
        make_sequence(s, [{"template_id": template.id}], name="draft", active=False,
                      trigger_events=["whitepaper_downloaded"])
        make_sequence(s, [{"template_id": template.id}], name="other", trigger_events=["webinar"])
        lead = make_contact(s, "lead@example.com")
        event = record_event(s, lead, "whitepaper_downloaded", {"title": "ROI guide"})
        assert s.get(Event, event.id).properties == {"title": "ROI guide"}
        enrolments = s.scalars(select(Enrollment).where(Enrollment.contact_id == lead.id)).all()
        assert [(e.sequence_id, e.source_event) for e in enrolments] == [(wp.id, "whitepaper_downloaded")]
        record_event(s, lead, "whitepaper_downloaded")  # again: no second enrolment
        assert len(s.scalars(select(Enrollment).where(Enrollment.contact_id == lead.id)).all()) == 1
        with pytest.raises(ValueError):
            record_event(s, lead, "")
        with pytest.raises(ValueError, match="time zone"):
            record_event(s, lead, "x", occurred_at=datetime(2026, 1, 1))


def _queued_send(s, contact, enrollment, template, status=SendStatus.QUEUED):
    step = live_steps(s, enrollment.sequence_id)[0]
    send = Send(contact_id=contact.id, enrollment_id=enrollment.id, step_id=step.id,
                template_version_id=template.current_version_id, status=status)
    s.add(send)
    s.flush()
    return send


def test_exit_event_ends_the_enrolment_and_cancels_its_queued_send(services):
    with services.db.begin() as s:
        template = make_template(s)
        nurture = make_sequence(s, [{"template_id": template.id}], name="nurture", exit_events=["demo_booked"])
        other = make_sequence(s, [{"template_id": template.id}], name="other")
        lead = make_contact(s, "lead@example.com")
        e1, e2 = enroll_contact(s, lead, nurture), enroll_contact(s, lead, other)
        queued, kept = _queued_send(s, lead, e1, template), _queued_send(s, lead, e2, template)
        record_event(s, lead, "demo_booked")
        s.expire_all()
        assert (e1.status, e1.exit_reason) == (EnrollmentStatus.EXITED, "event:demo_booked")
        assert e1.next_due_at is None and e1.finished_at is not None
        assert s.get(Send, queued.id).status == SendStatus.CANCELLED
        assert e2.status == EnrollmentStatus.ACTIVE
        assert s.get(Send, kept.id).status == SendStatus.QUEUED


def test_goal_event_completes_the_enrolment(services):
    with services.db.begin() as s:
        template = make_template(s)
        sequence = make_sequence(s, [{"template_id": template.id}], goal_event="trial_started")
        lead = make_contact(s, "lead@example.com")
        enrolment = enroll_contact(s, lead, sequence)
        record_event(s, lead, "trial_started")
        s.expire_all()
        assert (enrolment.status, enrolment.exit_reason) == (EnrollmentStatus.COMPLETED, "goal:trial_started")


def test_exit_contact_cancels_queued_but_not_delivered_sends(services):
    with services.db.begin() as s:
        template = make_template(s)
        a = make_sequence(s, [{"template_id": template.id}], name="a")
        b = make_sequence(s, [{"template_id": template.id}], name="b")
        lead = make_contact(s, "lead@example.com")
        ea, eb = enroll_contact(s, lead, a), enroll_contact(s, lead, b)
        sent = _queued_send(s, lead, ea, template, status=SendStatus.SENT)
        queued_b = _queued_send(s, lead, eb, template)
        assert exit_contact(s, lead.id, "unsubscribed:one", sequence_id=a.id) == 1
        s.expire_all()
        assert ea.status == EnrollmentStatus.EXITED and eb.status == EnrollmentStatus.ACTIVE
        assert s.get(Send, sent.id).status == SendStatus.SENT
        assert exit_contact(s, lead.id, "unsubscribed") == 1
        assert exit_contact(s, lead.id, "unsubscribed") == 0
        s.expire_all()
        assert s.get(Send, queued_b.id).status == SendStatus.CANCELLED
        assert eb.exit_reason == "unsubscribed"


# ------------------------------------------------------------------ broadcasts
def test_broadcast_lifecycle_and_validation(services):
    with services.db.begin() as s:
        template = make_template(s)
        unsaved = make_template(s, "unsaved", with_version=False)
        with pytest.raises(ValueError, match="template 999"):
            create_broadcast(s, "b", 999)
        with pytest.raises(ValueError, match="segment 5"):
            create_broadcast(s, "b", template.id, segment_id=5)
        with pytest.raises(ValueError, match="time zone"):
            create_broadcast(s, "b", template.id, scheduled_at=datetime(2026, 12, 1, 9, 0))
        draft = create_broadcast(s, "no version", unsaved.id)
        with pytest.raises(ValueError, match="no saved version"):
            schedule_broadcast(s, draft)
        later = datetime(2030, 1, 1, tzinfo=UTC)
        broadcast = create_broadcast(s, "December news", template.id, scheduled_at=later)
        assert broadcast.status == BroadcastStatus.DRAFT
        schedule_broadcast(s, broadcast)
        assert (broadcast.status, broadcast.scheduled_at) == (BroadcastStatus.SCHEDULED, later)
        with pytest.raises(ValueError, match="in the past"):  # a typo'd year is not "send to everyone now"
            schedule_broadcast(s, broadcast, datetime(2020, 1, 1, tzinfo=UTC))
        assert (broadcast.status, broadcast.scheduled_at) == (BroadcastStatus.SCHEDULED, later)
        before = datetime.now(UTC)
        schedule_broadcast(s, broadcast, before - timedelta(seconds=30))  # a moment ago (the form) means now
        assert broadcast.scheduled_at >= before
        lead = make_contact(s, "lead@example.com")
        s.add(Send(contact_id=lead.id, broadcast_id=broadcast.id,
                   template_version_id=template.current_version_id))
        s.flush()
        assert cancel_broadcast(s, broadcast, "wrong list") == 1
        assert broadcast.status == BroadcastStatus.CANCELLED
        assert broadcast.options["cancel_reason"] == "wrong list"
        assert s.scalars(select(Send.status).where(Send.broadcast_id == broadcast.id)).all() == [
            SendStatus.CANCELLED]
        with pytest.raises(ValueError, match="cannot be cancelled"):
            cancel_broadcast(s, broadcast)
        with pytest.raises(ValueError, match="cannot be scheduled"):
            schedule_broadcast(s, broadcast)
        assert s.get(Broadcast, broadcast.id).status == BroadcastStatus.CANCELLED
