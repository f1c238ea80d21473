"""The scheduler tick against a real database and Redis: sequences' mails (a sequence runs as a linear
journey: the journey engine plans them in the tick) through send windows, time zones, the frequency cap,
exits, goals, re-entry and pause; broadcasts and lateness; enqueueing; and two scheduler processes at once
planning every send exactly once.

Planner tests that were about the sequence planner's own machinery went with it, each covered by a journey
test: editing a running sequence without resends (edits are journey versions now:
tests/automation/test_engine_faults.py::test_publishing_a_new_version_resends_nothing), removing every step
(a version whose walks' nodes are removed moves them: tests/automation/test_service.py), an exit between the
planner's read and write (tests/automation/test_engine_actions.py::
test_a_walk_moved_to_a_new_version_is_not_written_by_a_pass_that_read_the_old_one and
tests/automation/test_engine.py::test_an_event_and_a_timeout_racing_move_the_walk_once)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from campaigns import scheduler
from campaigns.automation.linear import activate_sequence, pause_sequence, send_node
from campaigns.delivery import sending
from campaigns.journeys.broadcasts import create_broadcast, schedule_broadcast
from campaigns.journeys.sequences import (
    enroll_contact,
    enroll_segment,
    exit_contact,
    live_steps,
    record_event,
)
from campaigns.models import (
    Broadcast,
    BroadcastStatus,
    Contact,
    ContactStatus,
    Journey,
    JourneyEnrolment,
    JourneyEnrolmentStatus,
    Send,
    SendStatus,
    Sequence,
    Stage,
    Suppression,
)
from campaigns.scoring.triggers import set_stage
from campaigns.users import get_account
from tests.factories import make_contact, make_sequence, make_template

TOKYO = ZoneInfo("Asia/Tokyo")
ROOT = Path(__file__).resolve().parents[2]


def sends_of(session: Any, **where: Any) -> list[Send]:
    """The ledger's rows in id order, optionally only those whose columns equal `where`."""
    query = select(Send).order_by(Send.id)
    for key, value in where.items():
        query = query.where(getattr(Send, key) == value)
    return list(session.scalars(query))


def _next_monday() -> datetime:
    """00:00 UTC (09:00 in Tokyo) of a Monday one to seven days from now: in the future, because
    schedule_broadcast reads a time in the past as "send now" by the real clock."""
    day = (datetime.now(UTC) + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return day + timedelta(days=(7 - day.weekday()) % 7)


T0 = _next_monday()  # Monday 09:00 in Tokyo


def queued_job_ids(services) -> list[int]:
    """Every send id in the RQ queue's deliver_batch jobs, in order."""
    ids: list[int] = []
    for job in services.queue.get_jobs():
        ids.extend(job.args[0])
    return ids


def walk(services, walk_id: int) -> JourneyEnrolment:
    with services.db.begin() as s:
        return s.get(JourneyEnrolment, walk_id)


def setup_sequence(services, steps, contacts=1, tz=None, enrolled_at=T0, **kw):
    """A template, an active sequence (a live linear journey) with `steps` (dicts without template_id) and
    contacts walking it, due at `enrolled_at`: (sequence id, walk ids by contact, step ids, template).
    The account's frequency cap is switched off: tests about the cap switch it on themselves."""
    with services.db.begin() as s:
        get_account(s).freq_cap_count = 0
        template = make_template(s)
        sequence = make_sequence(s, [{"template_id": template.id, **st} for st in steps], **kw)
        s.add_all([Contact(email=f"lead{i}@example.com", timezone=tz) for i in range(contacts)])
        s.flush()
        enroll_segment(s, sequence, s.scalars(select(Contact.id)).all(), now=enrolled_at)
        walks = s.scalars(select(JourneyEnrolment.id).order_by(JourneyEnrolment.contact_id)).all()
        return sequence.id, list(walks), [st.id for st in live_steps(s, sequence.id)], template


def nodes_sent(s, walk_id: int) -> list[str]:
    return [x.node_key for x in sends_of(s, journey_enrolment_id=walk_id)]


# ------------------------------------------------------------------ planning
def test_due_step_is_planned_enqueued_and_the_walk_advances(services):
    sequence_id, [wid], step_ids, template = setup_sequence(
        services, [{"delay_minutes": 0}, {"delay_minutes": 2 * 24 * 60}])
    counts = scheduler.tick(services, now=T0 + timedelta(minutes=1))
    assert counts["planned"] == 1 and counts["enqueued"] == 1 and counts["jobs"] == 1
    with services.db.begin() as s:
        [send] = sends_of(s)
        assert (send.journey_enrolment_id, send.node_key, send.status) == (wid, send_node(step_ids[0]),
                                                                            SendStatus.QUEUED)
        assert send.template_version_id == template.current_version_id
        assert send.enqueued_at is not None
    assert queued_job_ids(services) == [send.id]
    w = walk(services, wid)
    assert w.node_key == f"step-{step_ids[1]}-delay"
    assert w.due_at == T0 + timedelta(minutes=1) + timedelta(days=2)

    # Nothing is due until then; a second tick plans and enqueues nothing more.
    assert scheduler.tick(services, now=T0 + timedelta(days=1)).get("planned", 0) == 0
    assert queued_job_ids(services) == [send.id]
    counts = scheduler.tick(services, now=T0 + timedelta(days=2, minutes=1))
    assert counts["planned"] == 1
    w = walk(services, wid)
    assert w.status == JourneyEnrolmentStatus.COMPLETED and w.due_at is None
    with services.db.begin() as s:
        assert nodes_sent(s, wid) == [send_node(x) for x in step_ids]


def test_paused_sequence_plans_nothing_until_resumed(services):
    sequence_id, [wid], _, _ = setup_sequence(services, [{"delay_minutes": 0}])
    with services.db.begin() as s:
        pause_sequence(s, s.get(Sequence, sequence_id))
    assert scheduler.tick(services, now=T0 + timedelta(hours=1)).get("planned", 0) == 0
    with services.db.begin() as s:
        activate_sequence(s, s.get(Sequence, sequence_id))  # resumes its journey
    assert scheduler.tick(services, now=T0 + timedelta(hours=2))["planned"] == 1


def test_step_due_saturday_night_in_tokyo_goes_monday_nine(services):
    saturday_3am = datetime(2026, 11, 28, 3, 0, tzinfo=TOKYO)
    _, [wid], _, _ = setup_sequence(
        services, [{"delay_minutes": 0, "window_days": "12345", "window_start_hour": 9, "window_end_hour": 18}],
        tz="Asia/Tokyo", enrolled_at=saturday_3am.astimezone(UTC))
    counts = scheduler.tick(services, now=saturday_3am.astimezone(UTC))
    assert counts.get("planned", 0) == 0
    monday_nine = datetime(2026, 11, 30, 9, 0, tzinfo=TOKYO)
    assert walk(services, wid).due_at == monday_nine
    assert scheduler.tick(services, now=monday_nine - timedelta(seconds=1)).get("planned", 0) == 0
    assert scheduler.tick(services, now=monday_nine)["planned"] == 1


def test_contact_without_time_zone_uses_the_accounts(services):
    now = T0 + timedelta(days=1, hours=12)
    _, [wid], _, _ = setup_sequence(
        services, [{"delay_minutes": 0, "window_start_hour": 9, "window_end_hour": 17}], enrolled_at=now)
    with services.db.begin() as s:
        get_account(s).timezone = "America/New_York"
    # Tuesday 12:00 UTC = 07:00 or 08:00 in New York: waits until 09:00 there the same day.
    new_york = ZoneInfo("America/New_York")
    day = now.astimezone(new_york)
    scheduler.tick(services, now=now)
    assert walk(services, wid).due_at == datetime(day.year, day.month, day.day, 9, tzinfo=new_york)


def test_frequency_cap_defers_the_step_rather_than_dropping_it(services):
    now = T0 + timedelta(hours=1)
    _, [wid], step_ids, template = setup_sequence(services, [{"delay_minutes": 0}], enrolled_at=now)
    with services.db.begin() as s:
        account = get_account(s)
        account.freq_cap_count, account.freq_cap_days = 2, 7
        contact_id = s.get(JourneyEnrolment, wid).contact_id
        # Two marketing mails in the last week (broadcasts), one cancelled that does not count.
        for days_ago, status in ((6, SendStatus.SENT), (1, SendStatus.QUEUED), (0, SendStatus.CANCELLED)):
            b = create_broadcast(s, f"news {days_ago}", template.id)
            s.add(Send(contact_id=contact_id, broadcast_id=b.id, template_version_id=template.current_version_id,
                       status=status, created_at=now - timedelta(days=days_ago)))
    counts = scheduler.tick(services, now=now)
    assert counts.get("planned", 0) == 0 and counts["deferred_cap"] == 1
    frees_at = now - timedelta(days=6) + timedelta(days=7)
    assert walk(services, wid).due_at == frees_at
    assert scheduler.tick(services, now=frees_at - timedelta(minutes=1)).get("planned", 0) == 0
    assert scheduler.tick(services, now=frees_at)["planned"] == 1
    with services.db.begin() as s:
        assert nodes_sent(s, wid) == [send_node(x) for x in step_ids]


def test_a_cap_hold_ends_at_the_steps_window_not_outside_it(services):
    """The slot the cap frees (Sunday 03:00 in Tokyo) is outside the step's window (weekdays 9-18): the mail
    waits for Monday 09:00, as the sequence planner did, not the moment the cap frees."""
    monday_ten = datetime(2026, 11, 23, 10, 0, tzinfo=TOKYO)
    now = monday_ten.astimezone(UTC)
    _, [wid], step_ids, template = setup_sequence(
        services, [{"delay_minutes": 0, "window_days": "12345", "window_start_hour": 9, "window_end_hour": 18}],
        tz="Asia/Tokyo", enrolled_at=now)
    frees_at = datetime(2026, 11, 29, 3, 0, tzinfo=TOKYO)  # Sunday
    with services.db.begin() as s:
        account = get_account(s)
        account.freq_cap_count, account.freq_cap_days = 1, 7
        contact_id = s.get(JourneyEnrolment, wid).contact_id
        b = create_broadcast(s, "news", template.id)
        s.add(Send(contact_id=contact_id, broadcast_id=b.id, template_version_id=template.current_version_id,
                   status=SendStatus.SENT, created_at=(frees_at - timedelta(days=7)).astimezone(UTC)))
    scheduler.tick(services, now=now)  # the window wait opens at once (Monday 10:00 is inside)
    counts = scheduler.tick(services, now=now)
    assert counts.get("planned", 0) == 0
    monday_nine = datetime(2026, 11, 30, 9, 0, tzinfo=TOKYO)
    assert walk(services, wid).due_at == monday_nine
    assert scheduler.tick(services, now=frees_at.astimezone(UTC)).get("planned", 0) == 0
    assert scheduler.tick(services, now=monday_nine.astimezone(UTC))["planned"] == 1
    with services.db.begin() as s:
        assert nodes_sent(s, wid) == [send_node(x) for x in step_ids]


def test_cap_counts_sends_planned_in_the_same_tick_across_sequences(services):
    with services.db.begin() as s:
        account = get_account(s)
        account.freq_cap_count, account.freq_cap_days = 1, 7
        template = make_template(s)
        lead = make_contact(s, "lead@example.com")
        for name in ("a", "b"):
            enroll_contact(s, lead, make_sequence(s, [{"template_id": template.id}], name=name), now=T0)
    counts = scheduler.tick(services, now=T0)
    assert counts["planned"] == 1 and counts["deferred_cap"] == 1


def test_exit_event_after_first_step_stops_the_rest(services):
    _, [wid], step_ids, _ = setup_sequence(
        services, [{"delay_minutes": 0}, {"delay_minutes": 60}], exit_events=["demo_booked"])
    scheduler.tick(services, now=T0)
    with services.db.begin() as s:
        record_event(s, s.get(Contact, s.get(JourneyEnrolment, wid).contact_id), "demo_booked")
    assert scheduler.tick(services, now=T0 + timedelta(days=3)).get("planned", 0) == 0
    with services.db.begin() as s:
        assert nodes_sent(s, wid) == [send_node(step_ids[0])]
    w = walk(services, wid)
    assert (w.status, w.exit_reason) == (JourneyEnrolmentStatus.EXITED, "event: demo_booked")


def test_goal_event_converts_the_walk_and_stops_the_rest(services):
    _, [wid], step_ids, _ = setup_sequence(
        services, [{"delay_minutes": 0}, {"delay_minutes": 60}], goal_event="trial_started")
    scheduler.tick(services, now=T0)
    with services.db.begin() as s:
        record_event(s, s.get(Contact, s.get(JourneyEnrolment, wid).contact_id), "trial_started")
    assert scheduler.tick(services, now=T0 + timedelta(days=3)).get("planned", 0) == 0
    w = walk(services, wid)
    assert (w.status, w.exit_reason) == (JourneyEnrolmentStatus.CONVERTED, "goal: trial_started")


def test_unsubscribed_bounced_or_suppressed_contacts_exit_before_their_mail(services):
    _, wids, _, _ = setup_sequence(services, [{"delay_minutes": 0}], contacts=4)
    with services.db.begin() as s:
        contacts = [s.get(Contact, s.get(JourneyEnrolment, w).contact_id) for w in wids]
        contacts[0].status = ContactStatus.UNSUBSCRIBED
        contacts[1].status = ContactStatus.BOUNCED
        s.add(Suppression(email=contacts[2].email, reason="complaint"))
    counts = scheduler.tick(services, now=T0)
    assert counts["planned"] == 1 and counts["exited_unmailable"] == 3
    reasons = [walk(services, w).exit_reason for w in wids]
    assert reasons == ["unsubscribed", "bounced", "suppressed", ""]
    with services.db.begin() as s:
        assert [x.journey_enrolment_id for x in sends_of(s)] == [wids[3]]


def test_reaching_an_exit_stage_stops_the_rest(services):
    _, [wid], step_ids, _ = setup_sequence(services, [{"delay_minutes": 0}, {"delay_minutes": 60}],
                                           exit_stages=["sql"])
    scheduler.tick(services, now=T0)
    with services.db.begin() as s:
        set_stage(s, s.get(Contact, s.get(JourneyEnrolment, wid).contact_id), Stage.SQL, "sales")
    assert scheduler.tick(services, now=T0 + timedelta(days=1)).get("planned", 0) == 0
    w = walk(services, wid)
    assert (w.status, w.exit_reason) == (JourneyEnrolmentStatus.EXITED, "stage: sql")
    with services.db.begin() as s:
        assert nodes_sent(s, wid) == [send_node(step_ids[0])]


def test_unsubscribe_exit_cancels_queued_sends_and_later_steps(services):
    _, [wid], _, _ = setup_sequence(services, [{"delay_minutes": 0}, {"delay_minutes": 60}])
    scheduler.tick(services, now=T0)
    with services.db.begin() as s:
        contact_id = s.get(JourneyEnrolment, wid).contact_id
        assert exit_contact(s, contact_id, "unsubscribed") == 1
    assert scheduler.tick(services, now=T0 + timedelta(hours=2)).get("planned", 0) == 0
    with services.db.begin() as s:
        assert [x.status for x in sends_of(s)] == [SendStatus.CANCELLED]


def test_trigger_enrols_and_reentry_starts_a_fresh_cycle(services):
    with services.db.begin() as s:
        template = make_template(s)
        once = make_sequence(s, [{"template_id": template.id}], name="once", trigger_events=["signup"])
        again = make_sequence(s, [{"template_id": template.id}], name="again", trigger_events=["signup"],
                              allow_reentry=True)
        lead = make_contact(s, "lead@example.com")
        lead_id, once_id, again_id = lead.id, once.id, again.id
    scheduler.tick(services, now=datetime.now(UTC))  # the engine's event cursor starts here
    with services.db.begin() as s:
        record_event(s, s.get(Contact, lead_id), "signup")
    scheduler.tick(services, now=datetime.now(UTC) + timedelta(minutes=1))
    with services.db.begin() as s:
        record_event(s, s.get(Contact, lead_id), "signup")  # both walks completed by now
    scheduler.tick(services, now=datetime.now(UTC) + timedelta(minutes=2))
    with services.db.begin() as s:
        journeys = dict(s.execute(select(Journey.id, Journey.sequence_id)).all())
        per_sequence = Counter(journeys[j] for j in s.scalars(
            select(JourneyEnrolment.journey_id).join(Send, Send.journey_enrolment_id == JourneyEnrolment.id)))
        cycles = s.scalars(select(JourneyEnrolment.cycle).join(Journey, Journey.id == JourneyEnrolment.journey_id)
                           .where(Journey.sequence_id == again_id).order_by(JourneyEnrolment.cycle)).all()
    assert per_sequence == {once_id: 1, again_id: 2}
    assert cycles == [1, 2]


def test_ticking_twice_at_the_same_moment_plans_nothing_new(services):
    _, wids, _, _ = setup_sequence(services, [{"delay_minutes": 0}, {"delay_minutes": 0}], contacts=20)
    first = scheduler.tick(services, now=T0)
    second = scheduler.tick(services, now=T0)
    assert first["planned"] == 40 and second.get("planned", 0) == 0  # both steps at once, then nothing
    with services.db.begin() as s:
        per = Counter(s.scalars(select(Send.journey_enrolment_id)))
    assert set(per.values()) == {2} and len(per) == 20


def test_sends_are_enqueued_in_batches_after_commit(services, monkeypatch):
    monkeypatch.setattr(services, "settings", replace(services.settings, batch_size=200))
    setup_sequence(services, [{"delay_minutes": 0}], contacts=450)
    counts = scheduler.tick(services, now=T0)
    assert counts["planned"] == 450 and counts["enqueued"] == 450
    assert counts["jobs"] == -(-450 // services.settings.batch_size)
    jobs = services.queue.get_jobs()
    assert max(len(job.args[0]) for job in jobs) == services.settings.batch_size
    with services.db.begin() as s:
        assert sorted(queued_job_ids(services)) == sorted(s.scalars(select(Send.id)))
        assert s.scalar(select(func.count()).where(Send.enqueued_at.is_(None))) == 0


def test_jobs_grow_with_a_deep_connection_pool(services, monkeypatch):
    # 16 connections x 4 mails in flight each: a job's closing drain is 64 mails, so jobs hold at least
    # eight drains (512 ids) whatever BATCH_SIZE says; the rows still all go out exactly once.
    monkeypatch.setattr(services, "settings", replace(services.settings, batch_size=200, smtp_connections=16))
    setup_sequence(services, [{"delay_minutes": 0}], contacts=600)
    counts = scheduler.tick(services, now=T0)
    assert counts["enqueued"] == 600 and counts["jobs"] == 2
    assert sorted(len(job.args[0]) for job in services.queue.get_jobs()) == [88, 512]
    with services.db.begin() as s:
        assert sorted(queued_job_ids(services)) == sorted(s.scalars(select(Send.id)))


def test_a_crash_between_commit_and_enqueue_is_recovered(services, monkeypatch):
    setup_sequence(services, [{"delay_minutes": 0}], contacts=30)

    def redis_down(*_a, **_k):
        raise ConnectionError("redis went away")

    monkeypatch.setattr(sending, "enqueue_sends", redis_down)
    with pytest.raises(ConnectionError):
        scheduler.tick(services, now=T0)
    monkeypatch.undo()
    with services.db.begin() as s:
        planned = sorted(s.scalars(select(Send.id).where(Send.status == SendStatus.QUEUED)))
    assert len(planned) == 30 and queued_job_ids(services) == []
    # Within the send lease the rows might still be on their way: nothing is enqueued twice.
    services.redis.delete(scheduler.REQUEUE_KEY)
    assert scheduler.tick(services, now=T0).get("requeued", 0) == 0
    with services.db.begin() as s:
        lease = timedelta(seconds=services.settings.send_lease_seconds + 1)
        s.execute(update(Send).values(enqueued_at=T0 - lease))  # the tick judges by its own clock
    services.redis.delete(scheduler.REQUEUE_KEY)
    assert scheduler.tick(services, now=T0)["requeued"] == 30
    assert sorted(queued_job_ids(services)) == planned


def test_sends_written_without_enqueued_at_are_swept_up(services):
    setup_sequence(services, [{"delay_minutes": 0}], contacts=12)
    scheduler.tick(services, now=T0)
    services.queue.empty()
    with services.db.begin() as s:
        ids = sorted(s.scalars(select(Send.id)))[:10]
        s.execute(update(Send).where(Send.id.in_(ids)).values(enqueued_at=None))
    assert scheduler.tick(services, now=T0)["enqueued"] == 10
    assert sorted(queued_job_ids(services)) == ids
    with services.db.begin() as s:
        assert s.scalar(select(func.count()).where(Send.enqueued_at.is_(None))) == 0


def test_a_second_tick_waits_while_the_lock_is_held(services):
    setup_sequence(services, [{"delay_minutes": 0}])
    held = services.redis.lock(scheduler.LOCK_KEY, timeout=30)
    assert held.acquire(blocking=False)
    try:
        assert scheduler.tick(services, now=T0) == {"skipped": 1}
    finally:
        held.release()
    assert scheduler.tick(services, now=T0)["planned"] == 1


# ------------------------------------------------------------------ broadcasts
def test_broadcast_goes_to_active_unsuppressed_contacts_once_then_is_marked_sent(services):
    with services.db.begin() as s:
        template = make_template(s)
        for i in range(5):
            make_contact(s, f"ok{i}@example.com")
        make_contact(s, "gone@example.com", status=ContactStatus.UNSUBSCRIBED)
        make_contact(s, "blocked@example.com")
        s.add(Suppression(email="blocked@example.com", reason="manual"))
        broadcast = create_broadcast(s, "News", template.id)
        schedule_broadcast(s, broadcast, T0)
        bid = broadcast.id
    assert scheduler.tick(services, now=T0 - timedelta(minutes=1)).get("broadcast_sends", 0) == 0
    counts = scheduler.tick(services, now=T0 + timedelta(minutes=1))
    assert counts["broadcast_sends"] == 5 and counts["enqueued"] == 5
    with services.db.begin() as s:
        b = s.get(Broadcast, bid)
        assert b.status == BroadcastStatus.SENDING and b.options["planned"] == 5
        emails = s.scalars(select(Contact.email).join(Send, Send.contact_id == Contact.id)).all()
        assert sorted(emails) == [f"ok{i}@example.com" for i in range(5)]
        s.execute(update(Send).where(Send.id.in_(s.scalars(select(Send.id).limit(4)).all()))
                  .values(status=SendStatus.SENT))
    scheduler.tick(services, now=T0 + timedelta(minutes=2))
    with services.db.begin() as s:
        assert s.get(Broadcast, bid).status == BroadcastStatus.SENDING  # one still queued
        s.execute(update(Send).where(Send.status == SendStatus.QUEUED).values(status=SendStatus.FAILED))
    assert scheduler.tick(services, now=T0 + timedelta(minutes=3))["broadcasts_sent"] == 1
    with services.db.begin() as s:
        assert s.get(Broadcast, bid).status == BroadcastStatus.SENT
        assert s.scalar(select(func.count()).select_from(Send)) == 5


def test_broadcast_more_than_max_lateness_late_is_not_blasted(services):
    with services.db.begin() as s:
        template = make_template(s)
        make_contact(s, "lead@example.com")
        late = create_broadcast(s, "Webinar tomorrow", template.id)
        schedule_broadcast(s, late, T0)
        on_time = create_broadcast(s, "Digest", template.id)
        schedule_broadcast(s, on_time, T0 + timedelta(hours=10))
        ids = late.id, on_time.id
    hours = services.settings.max_lateness_hours
    counts = scheduler.tick(services, now=T0 + timedelta(hours=hours + 1))
    assert counts["broadcasts_too_late"] == 1 and counts["broadcast_sends"] == 1
    with services.db.begin() as s:
        late, on_time = s.get(Broadcast, ids[0]), s.get(Broadcast, ids[1])
        assert late.status == BroadcastStatus.CANCELLED and "hours late" in late.options["cancel_reason"]
        assert on_time.status == BroadcastStatus.SENDING
        assert s.scalars(select(Send.broadcast_id)).all() == [on_time.id]


def test_broadcast_skips_contacts_at_the_frequency_cap(services):
    with services.db.begin() as s:
        account = get_account(s)
        account.freq_cap_count, account.freq_cap_days = 1, 7
        template = make_template(s)
        busy, free = make_contact(s, "busy@example.com"), make_contact(s, "free@example.com")
        earlier = create_broadcast(s, "earlier", template.id)
        s.add(Send(contact_id=busy.id, broadcast_id=earlier.id, template_version_id=template.current_version_id,
                   status=SendStatus.SENT, created_at=T0 - timedelta(days=2)))
        b = create_broadcast(s, "News", template.id)
        schedule_broadcast(s, b, T0)
        bid, free_id = b.id, free.id
    assert scheduler.tick(services, now=T0)["broadcast_sends"] == 1
    with services.db.begin() as s:
        assert s.scalars(select(Send.contact_id).where(Send.broadcast_id == bid)).all() == [free_id]


# ------------------------------------------------------------------ two schedulers at once
SCHEDULER_SCRIPT = r"""
import json, os, sys, time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any
from campaigns import scheduler
from wsgi import create_app

from campaigns.automation import engine
engine.SQLITE_DUE_CHUNK = engine.DUE_CHUNK = 20  # many small transactions: more interleaving
app = create_app(json.loads(os.environ["NURTURE_TEST_OVERRIDES"]))
svc = app.extensions["nurture"]
now, lock, go = datetime.fromisoformat(sys.argv[1]), sys.argv[2] == "1", Path(sys.argv[3])
svc.db.engine.connect().close()
while not go.exists():
    time.sleep(0.005)
totals = Counter()
for _ in range(4):
    totals.update(scheduler.tick(svc, now=now, lock=lock))
print(json.dumps(totals))
"""


@pytest.mark.parametrize("lock", [False, True], ids=["ledger-only", "with-redis-lock"])
def test_two_scheduler_processes_plan_each_send_exactly_once(services, app_overrides, tmp_path, lock):
    contacts = 240
    with services.db.begin() as s:
        get_account(s).freq_cap_count = 0  # this test is about the ledger, not the cap
        template = make_template(s)
        sequence = make_sequence(s, [{"template_id": template.id}, {"template_id": template.id}])
        s.add_all([Contact(email=f"lead{i}@example.com") for i in range(contacts)])
        s.flush()
        assert enroll_segment(s, sequence, s.scalars(select(Contact.id)).all()) == contacts
    go = tmp_path / "go"
    env = {**os.environ, "NURTURE_TEST_OVERRIDES": json.dumps(app_overrides), "PYTHONPATH": str(ROOT)}
    now = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    procs = [
        subprocess.Popen([sys.executable, "-c", SCHEDULER_SCRIPT, now, "1" if lock else "0", str(go)],
                         cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    time.sleep(1.5)  # both processes import and connect, then start together
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err[-3000:]
        results.append(Counter(json.loads(out.strip().splitlines()[-1])))
    with services.db.begin() as s:
        total_sends = s.scalar(select(func.count()).select_from(Send))
        per_pair = s.execute(
            select(Send.journey_enrolment_id, Send.node_key, func.count())
            .group_by(Send.journey_enrolment_id, Send.node_key)
        ).all()
        done = s.scalar(select(func.count()).where(JourneyEnrolment.status == JourneyEnrolmentStatus.COMPLETED))
        unenqueued = s.scalar(select(func.count()).where(Send.enqueued_at.is_(None)))
        send_ids = set(s.scalars(select(Send.id)))
    # Every contact got both steps, once each; the processes' own tallies agree with the ledger, so
    # neither believed it planned a send the other one wrote.
    assert total_sends == 2 * contacts and len(per_pair) == 2 * contacts
    assert {n for *_, n in per_pair} == {1}
    assert done == contacts and unenqueued == 0
    assert sum(r["planned"] for r in results) == 2 * contacts
    enqueued = queued_job_ids(services)
    assert set(enqueued) == send_ids
    if lock:
        assert len(enqueued) == 2 * contacts  # with the lock no send is even enqueued twice


def test_unknown_contact_time_zone_falls_back_to_the_account(services):
    now = T0 + timedelta(days=1, minutes=30)  # Tuesday 09:30 in Tokyo (the default account zone)
    _, [wid], _, _ = setup_sequence(
        services, [{"delay_minutes": 0, "window_start_hour": 9, "window_end_hour": 17}], tz="Mars/Olympus",
        enrolled_at=now)
    assert scheduler.tick(services, now=now)["planned"] == 1
    with services.db.begin() as s:
        assert [x.created_at for x in sends_of(s, journey_enrolment_id=wid)] == [now]


# ------------------------------------------------------------------ suppression ignores letter case
def _rcpts(smtp_server) -> list[str]:
    return sorted(r for m in smtp_server.messages for r in m.rcpt_tos)


def test_broadcast_to_a_segment_sends_to_no_case_variant_of_a_suppressed_address(app, services, smtp_server):
    """QA's repro: Ito@ and ito@ are two contacts; suppressing ito@ stops the broadcast to both."""
    from campaigns.models import Segment
    from campaigns.suppression import suppress
    from tests.conftest import run_jobs

    with services.db.begin() as s:
        template = make_template(s)
        for address in ("Ito@example.jp", "ito@example.jp", "sato@example.jp"):
            make_contact(s, address, source="fair")
        make_contact(s, "other@example.jp", source="web")
        suppress(s, "ito@example.jp", "manual", "asked by phone")  # manual: the contacts stay "active"
        segment = Segment(name="Fair", rules={"all": [{"field": "source", "op": "eq", "value": "fair"}]})
        s.add(segment)
        s.flush()
        schedule_broadcast(s, create_broadcast(s, "News", template.id, segment_id=segment.id), T0)
    counts = scheduler.tick(services, now=T0 + timedelta(minutes=1))
    assert counts["broadcast_sends"] == 1
    assert run_jobs(app) >= 1
    smtp_server.wait_for(2, timeout=1.0)
    assert _rcpts(smtp_server) == ["sato@example.jp"]


def test_engine_exits_every_case_variant_of_a_suppressed_address_and_sends_nothing(app, services, smtp_server):
    """Enrolled first, suppressed later in another letter case: no step is planned or mailed."""
    from campaigns.suppression import suppress
    from tests.conftest import run_jobs

    with services.db.begin() as s:
        get_account(s).freq_cap_count = 0
        template = make_template(s)
        sequence = make_sequence(s, [{"template_id": template.id, "delay_minutes": 0}])
        for address in ("Ito@example.jp", "ito@example.jp", "sato@example.jp"):
            make_contact(s, address)
        s.flush()
        assert enroll_segment(s, sequence, s.scalars(select(Contact.id)).all(), now=T0) == 3
    with services.db.begin() as s:
        suppress(s, "ITO@example.jp", "manual")
    counts = scheduler.tick(services, now=T0)
    assert counts["planned"] == 1 and counts["exited_unmailable"] == 2
    run_jobs(app)
    smtp_server.wait_for(2, timeout=1.0)
    assert _rcpts(smtp_server) == ["sato@example.jp"]
    with services.db.begin() as s:
        reasons = dict(s.execute(select(Contact.email, JourneyEnrolment.exit_reason)
                                 .join(JourneyEnrolment, JourneyEnrolment.contact_id == Contact.id)).all())
        assert reasons == {"Ito@example.jp": "suppressed", "ito@example.jp": "suppressed", "sato@example.jp": ""}


def test_enrolment_skips_every_case_variant_of_a_suppressed_address(services):
    with services.db.begin() as s:
        template = make_template(s)
        sequence = make_sequence(s, [{"template_id": template.id, "delay_minutes": 0}])
        upper, lower, other = (make_contact(s, a) for a in ("Ito@example.jp", "ito@example.jp", "sato@example.jp"))
        s.add(Suppression(email="ito@example.jp", reason="manual"))  # the stored key, as suppress() writes it
        s.flush()
        assert enroll_contact(s, upper, sequence, now=T0) is None
        assert enroll_contact(s, lower, sequence, now=T0) is None
        assert enroll_segment(s, sequence, [upper.id, lower.id, other.id], now=T0) == 1
        assert s.scalars(select(JourneyEnrolment.contact_id)).all() == [other.id]
