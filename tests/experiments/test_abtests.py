"""The A/B service on real parts: set-up validation, the recorded random split, the real sender (aiosmtpd),
the real tracking pixel and hit writer, the decision at the deadline and the winner sent to the rest;
send-time tests and sequence-step tests. Runs on SQLite and PostgreSQL (DATABASE_URL)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from campaigns import scheduler
from campaigns.db import now_utc
from campaigns.experiments import counting, decision, results, setup
from campaigns.journeys.broadcasts import create_broadcast, schedule_broadcast
from campaigns.journeys.sequences import create_sequence, enroll_contact
from campaigns.models import (
    ABAssignment,
    ABStatus,
    ABTest,
    Broadcast,
    BroadcastStatus,
    Contact,
    Event,
    Send,
    SendStatus,
    Step,
    Template,
)
from tests.conftest import run_jobs
from tests.factories import make_contacts
from tests.sending_helpers import make_version, setup_account
from tests.tracking_helpers import IP_APPLE, IP_HOME_JP, UA_APPLE_MAIL, UA_CHROME, drain


def _send_id(mail) -> int:
    return int(mail.message["Message-ID"].strip("<>").split(".")[0])  # <{send id}.{tag}@{domain}>


def _broadcast(services, n: int, subject: str = "Hello {{ contact.first_name }}") -> tuple[int, int]:
    with services.db.begin() as s:
        setup_account(s)
        version = make_version(s, subject=subject, name="Launch mail")
        make_contacts(s, n)
        b = create_broadcast(s, "Launch", version.template_id)
        return b.id, version.template_id


def _age_sends(services, ids: list[int], by: timedelta) -> None:
    """The controlled clock: pretend these sends were delivered `by` earlier (a person then opens later,
    which the classifier needs: a pixel fetched within 2 s of delivery is a proxy's prefetch)."""
    with services.db.begin() as s:
        for send in s.scalars(select(Send).where(Send.id.in_(ids))):
            assert send.sent_at is not None
            send.sent_at = send.sent_at - by


def _open(client, services, send_id: int, ua: str, ip: str) -> None:
    resp = client.get(services.urls.open_pixel(send_id).replace("http://nurture.test", ""),
                      headers={"User-Agent": ua}, environ_base={"REMOTE_ADDR": ip})
    assert resp.status_code == 200 and resp.mimetype == "image/gif"


# ------------------------------------------------------------------ set-up
@pytest.mark.parametrize(("kwargs", "message"), [
    ({"variants": [{"subject": "Only one"}]}, "2 to 5 variants"),
    ({"variants": [{"subject": "A"}] * 6}, "2 to 5 variants"),
    ({"variants": [{"subject": "Same"}, {"subject": "Same"}]}, "must differ"),
    ({"variants": [{"subject": "A"}, {"subject": ""}]}, "variant B: subject is required"),
    ({"metric": "goal"}, "goal event: required"),
    ({"test_portion": 0}, "test portion"),
    ({"window_hours": "soon"}, "test window: a number is required"),
    ({"kind": "colour"}, "kind: one of"),
    ({"kind": "send_time", "variants": [{"send_local": "2020-01-01T09:00"}, {"send_local": "2099-01-01T09:00"}]},
     "has passed"),
    ({"kind": "send_time", "variants": [{"send_local": "tomorrow"}, {"send_local": "2099-01-01T09:00"}]},
     "YYYY-MM-DDTHH:MM"),
    ({"kind": "content", "variants": [{}, {"template_id": 999999}]}, "does not exist"),
])
def test_create_rejects_bad_input_with_a_reason(services, kwargs, message):
    broadcast_id, _ = _broadcast(services, 3)
    args = {"kind": "subject", "variants": [{"subject": "A"}, {"subject": "B"}], **kwargs}
    with services.db.begin() as s:
        with pytest.raises(setup.ABError, match=message):
            setup.create_test(s, broadcast_id=broadcast_id, **args)
    with services.db.begin() as s:
        assert s.scalar(select(func.count()).select_from(ABTest)) == 0


def test_one_running_test_per_broadcast_and_none_on_a_sent_one(services):
    broadcast_id, _ = _broadcast(services, 3)
    with services.db.begin() as s:
        setup.create_test(s, broadcast_id=broadcast_id, kind="subject",
                            variants=[{"subject": "A"}, {"subject": "B"}])
    with services.db.begin() as s:
        with pytest.raises(setup.ABError, match="already a test"):
            setup.create_test(s, broadcast_id=broadcast_id, kind="subject",
                                variants=[{"subject": "A"}, {"subject": "C"}])
        s.get(Broadcast, broadcast_id).status = BroadcastStatus.SENT
    with services.db.begin() as s:
        with pytest.raises(setup.ABError, match="cannot get a test"):
            setup.create_test(s, broadcast_id=broadcast_id, kind="subject",
                                variants=[{"subject": "A"}, {"subject": "C"}])


def test_sample_size_advice_warns_when_the_audience_is_too_small(services):
    broadcast_id, _ = _broadcast(services, 50)
    with services.db.begin() as s:
        test = setup.create_test(s, broadcast_id=broadcast_id, kind="subject", baseline_rate=0.10,
                                   min_lift=0.20, variants=[{"subject": "A"}, {"subject": "B"}])
        data = results.results(s, test)
    # 10% -> 12% needs 3,841 per variant (docs/ab-testing.md); 20% of 50 contacts is 5 per variant.
    assert test.planned_per_variant == 3841
    advice = data["advice"]
    assert advice["audience"] == 50 and advice["available_per_variant"] == 5
    assert advice["enough"] is False and advice["message"].startswith("Audience too small")
    big = setup.plan_advice(0.10, 0.20, 2, 100_000, 0.2)
    assert big["enough"] is True and big["per_variant"] == 3841


# ------------------------------------------------------------------ end to end: subject test
def test_subject_test_end_to_end_with_the_real_sender_and_pixel(app, services, client, smtp_server):
    """Two subject variants; 50% of 40 contacts tested; human opens mostly on B, machine opens (Apple
    privacy proxy) on A; at the deadline B wins and goes to the other 20, nobody gets two mails."""
    broadcast_id, template_id = _broadcast(services, 40)
    with services.db.begin() as s:
        test = setup.create_test(
            s, broadcast_id=broadcast_id, kind="subject", test_portion=0.5, window_hours=24,
            variants=[{"subject": "Our spring launch"}, {"subject": "{{ contact.first_name }}, see what's new"}],
        )
        test_id = test.id
        schedule_broadcast(s, s.get(Broadcast, broadcast_id))
    start = now_utc()
    counts = scheduler.tick(services, now=start, lock=False)
    assert counts["ab_test_sends"] == 20
    run_jobs(app)
    mails = smtp_server.wait_for(20)
    assert len(mails) == 20
    with services.db.begin() as s:
        test = s.get(ABTest, test_id)
        assert test.status is ABStatus.TESTING
        assignments = {a.contact_id: a.position for a in s.scalars(select(ABAssignment).where(ABAssignment.test_id == test_id))}
        sends = {x.id: x for x in s.scalars(select(Send).where(Send.broadcast_id == broadcast_id))}
        emails = dict(s.execute(select(Contact.email, Contact.id)).all())
        b = s.get(Broadcast, broadcast_id)
        assert b.status is BroadcastStatus.SENDING  # held while the test runs
        # B's subject is a copy of the template with the subject changed; the original is untouched.
        assert s.get(Template, template_id).current_version.subject == "Hello {{ contact.first_name }}"
    assert sorted(Counter(assignments.values()).values()) == [10, 10]  # split evenly, recorded
    by_variant: dict[str, list[int]] = {"A": [], "B": []}
    for mail in mails:
        send = sends[_send_id(mail)]
        contact_id = emails[mail.rcpt_tos[0]]
        assert send.contact_id == contact_id and assignments[contact_id] == "AB".index(send.variant)
        expected = "Our spring launch" if send.variant == "A" else "see what's new"
        assert expected in mail.message["Subject"]
        by_variant[send.variant].append(send.id)
    assert len(by_variant["A"]) == len(by_variant["B"]) == 10

    _age_sends(services, list(sends), timedelta(hours=1))
    for send_id in by_variant["B"][:8]:
        _open(client, services, send_id, UA_CHROME, IP_HOME_JP)  # people
    for send_id in by_variant["A"]:
        _open(client, services, send_id, UA_APPLE_MAIL, IP_APPLE)  # Apple's proxy: not people
    _open(client, services, by_variant["A"][0], UA_CHROME, IP_HOME_JP)
    drain(app)

    # Before the deadline: provisional numbers only, whatever they look like.
    with services.db.begin() as s:
        test = s.get(ABTest, test_id)
        data = results.results(s, test)
        assert [v["opened"] for v in data["variants"]] == [1, 8]
        assert [v["delivered"] for v in data["variants"]] == [10, 10]
        assert data["decision"]["status"] == "no_winner_yet"
    assert scheduler.tick(services, now=now_utc() + timedelta(hours=22), lock=False).get("ab_decided", 0) == 0
    smtp_server.clear()

    counts = scheduler.tick(services, now=now_utc() + timedelta(hours=24), lock=False)
    assert counts["ab_decided"] == 1
    run_jobs(app)
    rest = smtp_server.wait_for(20)
    assert len(rest) == 20
    assert all("see what's new" in m.message["Subject"] for m in rest)
    with services.db.begin() as s:
        test = s.get(ABTest, test_id)
        assert test.status is ABStatus.DECIDED and test.winner_index == 1 and test.decided_by == "auto"
        assert test.decision["reason_code"] == "winner" and test.decision["reason"].startswith("B (")
        assert test.decision["counts"]["B"]["opened"] == 8
        per_contact = Counter(s.scalars(select(Send.contact_id).where(Send.broadcast_id == broadcast_id)))
        assert len(per_contact) == 40 and set(per_contact.values()) == {1}
        rest_ids = {emails[m.rcpt_tos[0]] for m in rest}
        assert not rest_ids & set(assignments)  # nobody in the test portion mailed twice
        assert s.scalar(select(func.count()).select_from(Send).where(
            Send.broadcast_id == broadcast_id, Send.variant == "")) == 20
    scheduler.tick(services, now=now_utc() + timedelta(hours=25), lock=False)
    with services.db.begin() as s:
        assert s.get(Broadcast, broadcast_id).status is BroadcastStatus.SENT


def test_manual_mode_waits_for_the_marketer_and_fallback_keeps_the_control(app, services, smtp_server):
    broadcast_id, _ = _broadcast(services, 10)
    with services.db.begin() as s:
        test = setup.create_test(s, broadcast_id=broadcast_id, kind="preheader", test_portion=0.4, mode="manual",
                                   variants=[{"preheader": "Read this"}, {"preheader": "Or this"}])
        test_id = test.id
        schedule_broadcast(s, s.get(Broadcast, broadcast_id))
    scheduler.tick(services, now=now_utc(), lock=False)
    run_jobs(app)
    assert len(smtp_server.wait_for(4)) == 4
    counts = scheduler.tick(services, now=now_utc() + timedelta(hours=25), lock=False)
    assert counts["ab_awaiting"] == 1
    with services.db.begin() as s:
        test = s.get(ABTest, test_id)
        assert test.status is ABStatus.AWAITING_DECISION
        # No engagement at all: nothing beat the control; the recommendation is the control.
        assert test.decision["reason_code"] == "keep_control" and test.decision["send_index"] == 0
        assert s.scalar(select(func.count()).select_from(Send).where(Send.broadcast_id == broadcast_id)) == 4
        with pytest.raises(setup.ABError, match="does not exist"):
            decision.pick_winner(s, test, 7, "marketer@acme.test")
        decision.pick_winner(s, test, 1, "marketer@acme.test")
        assert test.decision["override_reason"].startswith("Chosen by marketer@acme.test")
        assert test.rest_planned == 6
    with services.db.begin() as s:
        with pytest.raises(setup.ABError, match="cannot be decided"):
            decision.pick_winner(s, s.get(ABTest, test_id), 0, "again")


# ------------------------------------------------------------------ send-time test
def test_send_time_test_counts_equal_windows_and_waits_for_the_last(app, services, client, smtp_server):
    """09:00 vs 20:00 in each contact's zone. Each variant counts opens only within 24 h of its own send;
    the decision waits until the 20:00 window has closed."""
    broadcast_id, _ = _broadcast(services, 8)
    with services.db.begin() as s:
        for c in s.scalars(select(Contact)):
            c.timezone = "Asia/Tokyo" if c.id % 2 else "Europe/Berlin"
        test = setup.create_test(s, broadcast_id=broadcast_id, kind="send_time", test_portion=1.0,
                                   variants=[{"send_local": "2099-03-03T09:00"}, {"send_local": "2099-03-03T20:00"}])
        test_id = test.id
        t0 = datetime(2099, 3, 2, 12, 0, tzinfo=UTC)
        schedule_broadcast(s, s.get(Broadcast, broadcast_id), t0)
    assert scheduler.tick(services, now=t0, lock=False).get("ab_test_sends", 0) == 0  # nothing due yet
    with services.db.begin() as s:
        due = {(a.contact_id, a.position): a.due_at for a in s.scalars(select(ABAssignment))}
        zones = dict(s.execute(select(Contact.id, Contact.timezone)).all())
    for (contact_id, position), at in due.items():
        local = at.astimezone(__import__("zoneinfo").ZoneInfo(zones[contact_id]))
        assert (local.hour, local.minute) == ((9, 0) if position == 0 else (20, 0))
    # 09:00 Tokyo (00:00 UTC) .. 09:00 Berlin (08:00 UTC): the A sends go.
    assert scheduler.tick(services, now=datetime(2099, 3, 3, 8, 0, tzinfo=UTC), lock=False)["ab_test_sends"] == 4
    run_jobs(app)
    assert len(smtp_server.wait_for(4)) == 4
    with services.db.begin() as s:
        a_ids = list(s.scalars(select(Send.id).where(Send.variant == "A")))
    # The last variant is not sent yet: no deadline, no decision even long after A's window.
    assert scheduler.tick(services, now=datetime(2099, 3, 3, 10, 0, tzinfo=UTC), lock=False).get("ab_decided", 0) == 0
    with services.db.begin() as s:
        assert s.get(ABTest, test_id).deadline_at is None
    assert scheduler.tick(services, now=datetime(2099, 3, 3, 19, 0, tzinfo=UTC), lock=False)["ab_test_sends"] == 4
    run_jobs(app)
    assert len(smtp_server.wait_for(8)) == 8
    with services.db.begin() as s:
        b_ids = list(s.scalars(select(Send.id).where(Send.variant == "B")))
    # A's sends were delivered 30 h ago; one open 2 h after (counts) and one 26 h after (outside A's window).
    _age_sends(services, a_ids, timedelta(hours=30))
    _age_sends(services, b_ids, timedelta(hours=3))
    _open(client, services, a_ids[0], UA_CHROME, IP_HOME_JP)  # 30 h after: outside the window
    _open(client, services, b_ids[0], UA_CHROME, IP_HOME_JP)
    _open(client, services, b_ids[1], UA_CHROME, IP_HOME_JP)
    drain(app)
    with services.db.begin() as s:
        test = s.get(ABTest, test_id)
        counts = counting.count_variants(s, test)
        assert counts["A"]["opened"] == 0 and counts["B"]["opened"] == 2
        data = results.results(s, test)
        assert data["aligned"]["curves"]["B"][-1] == pytest.approx(0.5)
        assert data["aligned"]["curves"]["A"][-1] == 0
    with services.db.begin() as s:
        s.execute(update(Send).where(Send.id == a_ids[1]).values(sent_at=now_utc() - timedelta(hours=2)))
    # The deadline is the last send + 24 h, fixed once every test send is delivered.
    scheduler.tick(services, now=now_utc(), lock=False)
    with services.db.begin() as s:
        test = s.get(ABTest, test_id)
        last = s.scalar(select(func.max(Send.sent_at)).where(Send.broadcast_id == broadcast_id))
        assert test.deadline_at == last + timedelta(hours=24)


# ------------------------------------------------------------------ sequence-step test
def test_a_step_test_goes_on_at_the_journey_node_and_its_winner_goes_to_later_walks(app, services):
    """A test set up on a draft sequence's step carries on when the sequence is activated (it runs as a linear
    journey): the send node `step-<id>` carries it, walks get their variant by hash(test, walk), the goal metric
    decides, and later walks get the winner."""
    from campaigns.automation.linear import activate_sequence
    from campaigns.experiments.journeys import node_split

    with services.db.begin() as s:
        setup_account(s)
        version = make_version(s, subject="Step one", name="Nurture 1")
        contacts = make_contacts(s, 30)
        sequence = create_sequence(s, "Follow-up", steps=[{"template_id": version.template_id, "delay_minutes": 0}],
                                   trigger_events=[])
        step_id = s.scalar(select(Step.id).where(Step.sequence_id == sequence.id))
        test = setup.create_test(s, step_id=step_id, kind="subject", metric="goal", goal_event="demo_booked",
                                 goal_days=7, test_days=1,
                                 variants=[{"subject": "Step one"}, {"subject": "A better step one"}])
        test_id, seq_id = test.id, sequence.id
        assert test.status is ABStatus.TESTING
        journey = activate_sequence(s, sequence)
        journey_id = journey.id
        node = next(n for n in journey.draft_graph["nodes"] if n["id"] == f"step-{step_id}")
        assert [v["percent"] for v in node["ab"]["variants"]] == [50, 50] and node["ab"]["metric"] == "goal"
        for c in contacts[:20]:
            enroll_contact(s, c, sequence, now=now_utc())
        # a running sequence's step takes no new test: its mails go from the journey now
        with pytest.raises(setup.ABError, match="runs as a journey"):
            setup.create_test(s, step_id=step_id, kind="subject", variants=[{"subject": "x"}, {"subject": "y"}])
    scheduler.tick(services, now=now_utc() + timedelta(minutes=1), lock=False)
    with services.db.begin() as s:
        test = s.get(ABTest, test_id)
        assert (test.journey_id, test.node_key, test.step_id) == (journey_id, f"step-{step_id}", step_id)
        rows = s.execute(select(Send.contact_id, Send.variant, Send.template_version_id, Send.journey_enrolment_id)
                         .where(Send.node_key == f"step-{step_id}")).all()
        assert len(rows) == 20
        versions = {v.key: v.template_version_id for v in test.variants}
        split = node_split(s, journey_id, f"step-{step_id}")
        assert split is not None
        for _contact_id, key, version_id, walk_id in rows:
            assert (key, version_id) == split.choose(walk_id) and version_id == versions[key]  # deterministic
        assert {k for _, k, _, _ in rows} == {"A", "B"}
        b_contacts = [c for c, k, _, _ in rows if k == "B"]
        # Goal reached by every B contact within the 7 days.
        s.execute(update(Send).where(Send.node_key == f"step-{step_id}").values(
            status=SendStatus.SENT, sent_at=now_utc() - timedelta(days=8)))
        for contact_id in b_contacts:
            s.add(Event(contact_id=contact_id, name="demo_booked", occurred_at=now_utc() - timedelta(days=7, hours=12)))
    counts = scheduler.tick(services, now=now_utc() + timedelta(days=1, minutes=1), lock=False)
    assert counts.get("ab_decided") == 1, counts
    with services.db.begin() as s:
        test = s.get(ABTest, test_id)
        assert test.decision["counts"]["B"]["goal"] == len(b_contacts)
        assert test.winner_index == 1
        winner = test.variants[1]
        sequence = s.get(type(sequence), seq_id)
        for c in s.scalars(select(Contact).where(Contact.id.not_in([r[0] for r in rows]))):
            enroll_contact(s, c, sequence, now=now_utc())
    scheduler.tick(services, now=now_utc() + timedelta(days=1, minutes=2), lock=False)
    with services.db.begin() as s:
        after = s.execute(select(Send.variant, Send.template_version_id)
                          .where(Send.node_key == f"step-{step_id}", Send.variant == "")).all()
        assert len(after) == 10 and {v for _, v in after} == {winner.template_version_id}


def test_cancelling_the_broadcast_stops_a_running_send_time_test(services):
    broadcast_id, _ = _broadcast(services, 6)
    t0 = datetime(2099, 5, 1, 12, 0, tzinfo=UTC)
    with services.db.begin() as s:
        test = setup.create_test(s, broadcast_id=broadcast_id, kind="send_time", test_portion=1.0,
                                   variants=[{"send_local": "2099-05-02T09:00"}, {"send_local": "2099-05-02T18:00"}])
        test_id = test.id
        schedule_broadcast(s, s.get(Broadcast, broadcast_id), t0)
    scheduler.tick(services, now=t0, lock=False)
    with services.db.begin() as s:
        assert s.get(Broadcast, broadcast_id).status is BroadcastStatus.SENDING  # held by the test
        from campaigns.journeys.broadcasts import cancel_broadcast

        cancel_broadcast(s, s.get(Broadcast, broadcast_id))
    counts = scheduler.tick(services, now=datetime(2099, 5, 3, tzinfo=UTC), lock=False)
    assert counts.get("ab_cancelled") == 1 and not counts.get("ab_test_sends")
    with services.db.begin() as s:
        assert s.get(ABTest, test_id).status is ABStatus.CANCELLED
        assert s.scalar(select(func.count()).select_from(Send)) == 0
