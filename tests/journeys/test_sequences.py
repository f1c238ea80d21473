"""Sequences as a service: building and validation, activation as a linear journey, enrolment and re-entry
(walks of that journey), events, exits and goals (the journey engine at the scheduler tick), broadcasts, and
the pure rules of when a mail may go (send windows in time zones, the frequency cap)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from campaigns import scheduler
from campaigns.automation.linear import activate_sequence, linear_graph, pause_sequence
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
    update_sequence,
)
from campaigns.journeys.walk_entry import journey_of_sequence
from campaigns.models import (
    Broadcast,
    BroadcastStatus,
    Contact,
    ContactStatus,
    Enrollment,
    Event,
    JourneyEnrolment,
    JourneyEnrolmentStatus,
    JourneyStatus,
    JourneyVersion,
    Send,
    SendStatus,
    SequenceStatus,
    Step,
    Suppression,
    Template,
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
            activate_sequence(s, empty)
        draft_template = make_template(s, "draft", with_version=False)
        sequence = create_sequence(s, "s", steps=[{"template_id": draft_template.id}])
        with pytest.raises(ValueError, match="step 1: its template has no saved version"):
            activate_sequence(s, sequence)
        assert sequence.status == SequenceStatus.DRAFT and journey_of_sequence(s, sequence.id) is None
        with pytest.raises(ValueError, match="draft"):
            pause_sequence(s, sequence)  # a draft is not running


def test_activation_publishes_a_live_linear_journey_paused_and_resumed_through_the_sequence(services):
    with services.db.begin() as s:
        good = make_template(s, "good")
        sequence = create_sequence(s, "Onboarding", steps=[
            {"template_id": good.id}, {"template_id": good.id, "delay_minutes": 1440, "window_days": "12345",
                                       "window_start_hour": 9, "window_end_hour": 18}],
            trigger_events=["whitepaper"], exit_events=["stop"], goal_event="demo", allow_reentry=True)
        journey = activate_sequence(s, sequence, published_by="test")
        steps = [{"id": st.id, "template_id": st.template_id, "delay_minutes": st.delay_minutes,
                  "window_days": st.window_days, "window_start_hour": st.window_start_hour,
                  "window_end_hour": st.window_end_hour} for st in live_steps(s, sequence.id)]
        assert sequence.status == SequenceStatus.CONVERTED
        assert (journey.sequence_id, journey.name, journey.status) == (sequence.id, "Onboarding", JourneyStatus.LIVE)
        version = s.get(JourneyVersion, journey.live_version_id)
        assert version.number == 1 and version.graph == linear_graph(steps)  # the one rule (migration 0012's)
        assert version.settings["entry"] == [{"kind": "event", "name": "whitepaper"}]
        assert version.settings["goal"] == {"kind": "event", "name": "demo"} and version.settings["reentry"] is True
        assert version.settings["exit"]["events"] == ["stop"]
        assert journey_of_sequence(s, sequence.id).id == journey.id
        with pytest.raises(ValueError, match="runs as a journey"):
            update_sequence(s, sequence, name="x")
        assert pause_sequence(s, sequence).status == JourneyStatus.PAUSED
        assert activate_sequence(s, sequence).id == journey.id and journey.status == JourneyStatus.LIVE
        assert s.scalar(select(JourneyVersion.id).where(JourneyVersion.journey_id == journey.id,
                                                        JourneyVersion.number == 2)) is None


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
def _walks(s, contact_id, sequence=None):
    query = select(JourneyEnrolment).where(JourneyEnrolment.contact_id == contact_id).order_by(JourneyEnrolment.id)
    if sequence is not None:
        query = query.where(JourneyEnrolment.journey_id == journey_of_sequence(s, sequence.id).id)
    return list(s.scalars(query))


def test_enrolment_once_unless_reentry_and_never_for_inactive_or_suppressed(services):
    with services.db.begin() as s:
        template = make_template(s)
        once = make_sequence(s, [{"template_id": template.id, "delay_minutes": 30}], name="once")
        again = make_sequence(s, [{"template_id": template.id}], name="again", allow_reentry=True)
        alice = make_contact(s, "alice@example.com")
        now = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
        first = enroll_contact(s, alice, once, now=now)
        assert first is not None and first.cycle == 1 and first.journey_id == journey_of_sequence(s, once.id).id
        assert (first.node_key, first.due_at) == (f"step-{live_steps(s, once.id)[0].id}-delay", now)
        assert enroll_contact(s, alice, once) is None  # already active
        first.status = JourneyEnrolmentStatus.COMPLETED
        s.flush()
        assert enroll_contact(s, alice, once) is None  # finished, re-entry not allowed

        e1 = enroll_contact(s, alice, again)
        assert enroll_contact(s, alice, again) is None  # active: re-entry means after finishing
        e1.status = JourneyEnrolmentStatus.EXITED
        s.flush()
        e2 = enroll_contact(s, alice, again)
        assert e2 is not None and e2.cycle == 2

        bob = make_contact(s, "bob@example.com", status=ContactStatus.UNSUBSCRIBED)
        carol = make_contact(s, "carol@example.com")
        s.add(Suppression(email="carol@example.com", reason="manual"))
        s.flush()
        assert enroll_contact(s, bob, again) is None
        assert enroll_contact(s, carol, again) is None
        assert s.scalar(select(Enrollment.id)) is None  # the old planner's rows: none made


def test_a_draft_sequence_takes_nobody(services):
    with services.db.begin() as s:
        template = make_template(s)
        draft = make_sequence(s, [{"template_id": template.id}], name="draft", active=False)
        lead = make_contact(s, "lead@example.com")
        assert enroll_contact(s, lead, draft) is None
        assert enroll_segment(s, draft, [lead.id]) == 0
        assert _walks(s, lead.id) == [] and s.scalar(select(Enrollment.id)) is None


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
        walking = s.scalars(select(JourneyEnrolment.contact_id)).all()
        assert sorted(walking) == sorted(c.id for c in contacts[2:])


# ------------------------------------------------------------------ events and exits (the journey engine)
def test_trigger_event_enrols_only_in_active_sequences(services):
    with services.db.begin() as s:
        template = make_template(s)
        wp = make_sequence(s, [{"template_id": template.id, "delay_minutes": 60}], name="wp",
                           trigger_events=["whitepaper_downloaded"])
        make_sequence(s, [{"template_id": template.id}], name="draft", active=False,
                      trigger_events=["whitepaper_downloaded"])
        make_sequence(s, [{"template_id": template.id}], name="other", trigger_events=["webinar"])
        lead = make_contact(s, "lead@example.com")
    scheduler.tick(services, lock=False)  # the engine's event cursor starts at its first pass (history starts nothing)
    with services.db.begin() as s:
        lead = s.get(Contact, lead.id)
        event = record_event(s, lead, "whitepaper_downloaded", {"title": "ROI guide"})
        assert s.get(Event, event.id).properties == {"title": "ROI guide"}
        lead_id, wp_id = lead.id, wp.id
    scheduler.tick(services, lock=False)
    with services.db.begin() as s:
        walks = _walks(s, lead_id)
        assert [w.journey_id for w in walks] == [journey_of_sequence(s, wp_id).id]
        record_event(s, s.get(Contact, lead_id), "whitepaper_downloaded")  # again: no second walk
        with pytest.raises(ValueError):
            record_event(s, lead, "")
        with pytest.raises(ValueError, match="time zone"):
            record_event(s, lead, "x", occurred_at=datetime(2026, 1, 1))
    scheduler.tick(services, lock=False)
    with services.db.begin() as s:
        assert len(_walks(s, lead_id)) == 1


def _walking(services, *sequences_and_fields):
    """A lead walking each given sequence (one delayed step each, so it waits), after one tick."""
    with services.db.begin() as s:
        template = make_template(s)
        lead = make_contact(s, "lead@example.com")
        ids = []
        for name, fields in sequences_and_fields:
            sequence = make_sequence(s, [{"template_id": template.id, "delay_minutes": 60}], name=name, **fields)
            enroll_contact(s, lead, sequence)
            ids.append(sequence.id)
        lead_id = lead.id
    scheduler.tick(services, lock=False)
    return lead_id, ids


def _walk_of(s, contact_id, sequence_id):
    return s.scalars(select(JourneyEnrolment).where(
        JourneyEnrolment.contact_id == contact_id,
        JourneyEnrolment.journey_id == journey_of_sequence(s, sequence_id).id)).one()


def test_exit_event_ends_the_walk(services):
    lead_id, (nurture, other) = _walking(services, ("nurture", {"exit_events": ["demo_booked"]}), ("other", {}))
    with services.db.begin() as s:
        record_event(s, s.get(Contact, lead_id), "demo_booked")
    scheduler.tick(services, lock=False)
    with services.db.begin() as s:
        ended, kept = _walk_of(s, lead_id, nurture), _walk_of(s, lead_id, other)
        assert (ended.status, ended.exit_reason) == (JourneyEnrolmentStatus.EXITED, "event: demo_booked")
        assert ended.finished_at is not None and ended.due_at is None
        assert kept.status == JourneyEnrolmentStatus.ACTIVE


def test_goal_event_completes_the_walk_as_converted(services):
    lead_id, (sequence,) = _walking(services, ("goal", {"goal_event": "trial_started"}))
    with services.db.begin() as s:
        record_event(s, s.get(Contact, lead_id), "trial_started")
    scheduler.tick(services, lock=False)
    with services.db.begin() as s:
        walk = _walk_of(s, lead_id, sequence)
        assert (walk.status, walk.exit_reason) == (JourneyEnrolmentStatus.CONVERTED, "goal: trial_started")


def test_exit_contact_cancels_queued_but_not_delivered_sends(services):
    lead_id, (a, b) = _walking(services, ("a", {}), ("b", {}))
    with services.db.begin() as s:
        tv = s.get(Template, s.scalar(select(Step.template_id).limit(1))).current_version_id
        wa, wb = _walk_of(s, lead_id, a), _walk_of(s, lead_id, b)
        sent = Send(contact_id=lead_id, journey_enrolment_id=wa.id, node_key="x", visit=1,
                    template_version_id=tv, status=SendStatus.SENT)
        queued_b = Send(contact_id=lead_id, journey_enrolment_id=wb.id, node_key="x", visit=1,
                        template_version_id=tv, status=SendStatus.QUEUED)
        s.add_all([sent, queued_b])
        s.flush()
        assert exit_contact(s, lead_id, "unsubscribed:one", sequence_id=a) == 1
        s.expire_all()
        assert wa.status == JourneyEnrolmentStatus.EXITED and wb.status == JourneyEnrolmentStatus.ACTIVE
        assert s.get(Send, sent.id).status == SendStatus.SENT
        assert exit_contact(s, lead_id, "unsubscribed") == 1
        assert exit_contact(s, lead_id, "unsubscribed") == 0
        s.expire_all()
        assert s.get(Send, queued_b.id).status == SendStatus.CANCELLED
        assert wb.exit_reason == "unsubscribed"


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
