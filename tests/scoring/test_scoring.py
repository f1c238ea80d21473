"""Lead scoring: rules, caps, negative points, decay and inactivity on a controlled clock, the ledger's
idempotence, recompute == incremental, stage thresholds and their StageChange records, triggers."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from campaigns.db import now_utc
from campaigns.journeys import walk_entry
from campaigns.leads.subscriptions import unsubscribe_contact
from campaigns.models import (
    Contact,
    Enrollment,
    Event,
    Hit,
    HitClass,
    HitKind,
    JourneyEnrolment,
    JourneyEnrolmentStatus,
    ScoreEntry,
    ScoringSettings,
    Stage,
    StageChange,
    Suppression,
)
from campaigns.scoring import engine, rules, triggers
from campaigns.scoring import history as scoring_history
from campaigns.scoring import stages as scoring_stages
from tests.factories import make_contact
from tests.tracking_helpers import make_broadcast, make_send, make_sequence_campaign

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def settings(session: Any, **values: Any) -> ScoringSettings:
    row = rules.get_settings(session)
    for key, value in values.items():
        setattr(row, key, value)
    session.flush()
    return row


def rule(session: Any, kind: str, points: int, **kw: Any) -> Any:
    return rules.create_rule(session, {"name": f"{kind} {points}", "kind": kind, "points": points, **kw})


def event(session: Any, contact: Contact, name: str, at: datetime, **properties: Any) -> Event:
    row = Event(contact_id=contact.id, name=name, properties=properties, occurred_at=at, created_at=at)
    session.add(row)
    session.flush()
    return row


_hits = {"n": 0}


def hit(session: Any, send: Any, kind: HitKind, cls: HitClass, at: datetime, link_id: int | None = None) -> Hit:
    _hits["n"] += 1
    row = Hit(event_id=f"h{_hits['n']:030d}", kind=kind, send_id=send.id, contact_id=send.contact_id, link_id=link_id,
              occurred_at=at, classification=cls)
    session.add(row)
    session.flush()
    return row


def run(session: Any, now: datetime) -> scoring_stages.ScoringResult:
    result = engine.score_new(session, now)
    session.commit()
    return result


def score_of(session: Any, contact: Contact) -> int:
    session.expire_all()
    return session.get(Contact, contact.id).score


def stage_of(session: Any, contact: Contact) -> Stage:
    session.expire_all()
    return session.get(Contact, contact.id).stage


def changes(session: Any, contact: Contact) -> list[tuple[str, str, str]]:
    return [(c.from_stage, c.to_stage, c.cause) for c in scoring_history.stage_timeline(session, contact.id)]


def test_points_per_event_kind_with_a_property_filter(session: Any) -> None:
    settings(session, half_life_days=0, warm_at=1000, hot_at=2000)
    rule(session, "form_submitted", 10, property_key="form", property_value="whitepaper")
    rule(session, "page_viewed", 2)
    rule(session, "webinar_attended", 15)
    rule(session, "custom_event", 30, event_name="demo_requested")
    a, b = make_contact(session), make_contact(session)
    event(session, a, "form_submitted", T0, form="whitepaper")
    event(session, a, "form_submitted", T0, form="newsletter")  # filtered out
    event(session, a, "page_viewed", T0, url="/pricing")
    event(session, a, "webinar_attended", T0)
    event(session, b, "demo_requested", T0)
    event(session, b, "something_else", T0)
    result = run(session, T0 + timedelta(minutes=1))
    assert result.counts["entries"] == 4
    assert score_of(session, a) == 10 + 2 + 15
    assert score_of(session, b) == 30
    history = scoring_history.score_history(session, a.id)
    assert sorted(h["points"] for h in history) == [2, 10, 15]
    assert {h["source"] for h in history} == {"event"}


def test_machine_opens_and_scanner_clicks_never_add_points(session: Any) -> None:
    settings(session, half_life_days=0, warm_at=1000, hot_at=2000)
    rule(session, "human_open", 1)
    rule(session, "human_click", 5)
    rule(session, "link_click", 20, link_url="https://acme.test/b")
    campaign = make_broadcast(session)
    human, bot_only = make_contact(session), make_contact(session)
    send = make_send(session, campaign, human)
    bot_send = make_send(session, campaign, bot_only)
    pricing = campaign.link_ids[1]
    hit(session, send, HitKind.OPEN, HitClass.HUMAN, T0)
    hit(session, send, HitKind.OPEN, HitClass.MACHINE_OPEN, T0)
    hit(session, send, HitKind.CLICK, HitClass.SCANNER, T0, pricing)
    hit(session, send, HitKind.CLICK, HitClass.HUMAN, T0, pricing)
    hit(session, send, HitKind.CLICK, HitClass.HUMAN, T0, campaign.link_ids[0])
    for cls in (HitClass.MACHINE_OPEN, HitClass.SCANNER):
        hit(session, bot_send, HitKind.OPEN if cls is HitClass.MACHINE_OPEN else HitKind.CLICK, cls, T0, pricing)
        hit(session, bot_send, HitKind.CLICK, cls, T0, pricing)
    run(session, T0 + timedelta(minutes=1))
    assert score_of(session, human) == 1 + 5 + 20 + 5
    assert score_of(session, bot_only) == 0
    assert session.scalar(select(func.count()).select_from(ScoreEntry).where(ScoreEntry.contact_id == bot_only.id)) == 0


def test_link_rule_matches_a_prefix(session: Any) -> None:
    settings(session, half_life_days=0)
    rule(session, "link_click", 7, link_url="https://acme.test/*")
    campaign = make_broadcast(session)
    contact = make_contact(session)
    send = make_send(session, campaign, contact)
    for link_id in campaign.link_ids:
        hit(session, send, HitKind.CLICK, HitClass.HUMAN, T0, link_id)
    run(session, T0 + timedelta(minutes=1))
    assert score_of(session, contact) == 7 * len(campaign.link_ids)


def test_daily_cap_per_rule_and_contact_across_batches(session: Any) -> None:
    settings(session, half_life_days=0, warm_at=1000, hot_at=2000)
    rule(session, "page_viewed", 2, daily_cap=3)
    rule(session, "custom_event", 1, event_name="page_viewed")  # a second rule on the same events, uncapped
    contact, other = make_contact(session), make_contact(session)
    for minute in range(2):
        event(session, contact, "page_viewed", T0 + timedelta(minutes=minute))
    run(session, T0 + timedelta(minutes=5))
    assert score_of(session, contact) == 2 * 2 + 2
    for minute in range(10, 14):  # same UTC day: only one more fits under the cap of 3
        event(session, contact, "page_viewed", T0 + timedelta(minutes=minute))
    event(session, other, "page_viewed", T0)
    for hour in range(2):  # next day: a fresh cap
        event(session, contact, "page_viewed", T0 + timedelta(days=1, hours=hour))
    run(session, T0 + timedelta(days=1, hours=3))
    assert score_of(session, contact) == 2 * (3 + 2) + 8
    assert score_of(session, other) == 3


def test_negative_points_for_unsubscribe_and_bounce(session: Any) -> None:
    settings(session, half_life_days=0)
    rule(session, "custom_event", 40, event_name="demo_requested")
    rule(session, "unsubscribed", -50)
    rule(session, "bounced", -30)
    leaving, bouncing = make_contact(session), make_contact(session)
    event(session, leaving, "demo_requested", T0)
    event(session, bouncing, "demo_requested", T0)
    run(session, T0)
    assert unsubscribe_contact(session, leaving.id, method="link")
    # What the sender does on a 5xx at RCPT: the address goes on the suppression list as a hard bounce.
    session.add(Suppression(email=bouncing.email, reason="hard_bounce", detail="550 no such user"))
    session.add(Suppression(email="stranger@example.jp", reason="manual"))
    session.flush()
    # The unsubscribe event and the suppression carry the real time of recording.
    run(session, now_utc() + timedelta(minutes=1))
    assert score_of(session, leaving) == -10
    assert score_of(session, bouncing) == 10
    assert {h["source"] for h in scoring_history.score_history(session, bouncing.id)} == {"event", "bounce"}


def test_decay_halves_the_score_every_half_life_and_moves_the_stage_down(session: Any) -> None:
    settings(session, half_life_days=30, warm_at=20, hot_at=100, mql_when_hot=False)
    rule(session, "custom_event", 80, event_name="demo_requested")
    contact = make_contact(session)
    event(session, contact, "demo_requested", T0)
    run(session, T0)
    assert (score_of(session, contact), stage_of(session, contact)) == (80, Stage.WARM)
    run(session, T0 + timedelta(days=30))
    assert score_of(session, contact) == 40
    run(session, T0 + timedelta(days=45))
    assert score_of(session, contact) == round(80 * 0.5 ** 1.5)  # 28.28 -> 28
    run(session, T0 + timedelta(days=60))
    assert (score_of(session, contact), stage_of(session, contact)) == (20, Stage.WARM)
    run(session, T0 + timedelta(days=63))  # 18.66 -> 19, below warm
    assert (score_of(session, contact), stage_of(session, contact)) == (19, Stage.COLD)
    assert changes(session, contact) == [("cold", "warm", "score_threshold"), ("warm", "cold", "decay")]
    # New activity adds full points on top of the decayed rest.
    event(session, contact, "demo_requested", T0 + timedelta(days=90))
    run(session, T0 + timedelta(days=90))
    assert score_of(session, contact) == 80 + 10


def test_inactivity_rule_penalises_each_idle_period_once(session: Any) -> None:
    settings(session, half_life_days=0)
    rule(session, "page_viewed", 5)
    idle = rule(session, "inactivity", -10, inactivity_days=14)
    contact = make_contact(session)
    event(session, contact, "page_viewed", T0)
    run(session, T0)
    run(session, T0 + timedelta(days=13))
    assert score_of(session, contact) == 5
    run(session, T0 + timedelta(days=15))
    assert score_of(session, contact) == -5
    run(session, T0 + timedelta(days=16))
    assert score_of(session, contact) == -5
    event(session, contact, "page_viewed", T0 + timedelta(days=20))
    run(session, T0 + timedelta(days=20))
    assert score_of(session, contact) == 0
    run(session, T0 + timedelta(days=35))
    assert score_of(session, contact) == -10
    entries = session.scalars(select(ScoreEntry).where(ScoreEntry.rule_id == idle.id).order_by(ScoreEntry.id)).all()
    assert [e.occurred_at for e in entries] == [T0 + timedelta(days=14), T0 + timedelta(days=34)]


def test_rerun_never_counts_twice_even_from_cursor_zero(session: Any) -> None:
    settings(session, half_life_days=0)
    rule(session, "page_viewed", 3)
    rule(session, "human_open", 1)
    campaign = make_broadcast(session)
    contact = make_contact(session)
    send = make_send(session, campaign, contact)
    for i in range(5):
        event(session, contact, "page_viewed", T0 + timedelta(minutes=i))
        hit(session, send, HitKind.OPEN, HitClass.HUMAN, T0 + timedelta(minutes=i))
    run(session, T0 + timedelta(hours=1))
    first = (score_of(session, contact), session.scalar(select(func.count()).select_from(ScoreEntry)))
    assert first == (20, 10)
    run(session, T0 + timedelta(hours=1))
    # As if the cursors were lost: every row is read again, the ledger's UNIQUE key refuses them all.
    session.execute(update(ScoringSettings).values(event_cursor=0, event_cursor_prev=0, hit_cursor=0, hit_cursor_prev=0))
    session.commit()
    run(session, T0 + timedelta(hours=1))
    assert (score_of(session, contact), session.scalar(select(func.count()).select_from(ScoreEntry))) == first


def test_late_committed_row_below_the_cursor_is_scored_by_the_next_run(session: Any) -> None:
    settings(session, half_life_days=0)
    rule(session, "page_viewed", 3)
    contact = make_contact(session)
    early = event(session, contact, "page_viewed", T0)
    late = event(session, contact, "page_viewed", T0)
    event(session, contact, "page_viewed", T0)
    # The middle row "was not committed yet" when the first run read: hide it, run, then show it.
    session.execute(update(Event).where(Event.id == late.id).values(name="hidden"))
    run(session, T0)
    assert score_of(session, contact) == 6 and early.id < late.id
    session.execute(update(Event).where(Event.id == late.id).values(name="page_viewed"))
    run(session, T0 + timedelta(seconds=5))
    assert score_of(session, contact) == 9


def _random_history(session: Any, seed: int) -> tuple[list[Contact], list[tuple[datetime, Any]]]:
    """Contacts and a time-ordered list of (time, maker) that record events and hits."""
    rng = random.Random(seed)
    contacts = [make_contact(session) for _ in range(12)]
    campaign = make_broadcast(session)
    sends = {c.id: make_send(session, campaign, c) for c in contacts}
    plan: list[tuple[datetime, Any]] = []
    for _ in range(300):
        contact = rng.choice(contacts)
        at = T0 + timedelta(minutes=rng.randrange(0, 60 * 24 * 75))
        choice = rng.random()
        if choice < 0.3:
            plan.append((at, lambda s, c=contact, t=at: event(s, c, "page_viewed", t)))
        elif choice < 0.4:
            form = rng.choice(["whitepaper", "newsletter"])
            plan.append((at, lambda s, c=contact, t=at, f=form: event(s, c, "form_submitted", t, form=f)))
        elif choice < 0.7:
            cls = rng.choice([HitClass.HUMAN, HitClass.HUMAN, HitClass.MACHINE_OPEN])
            plan.append((at, lambda s, c=contact, t=at, k=cls: hit(s, sends[c.id], HitKind.OPEN, k, t)))
        elif choice < 0.95:
            cls = rng.choice([HitClass.HUMAN, HitClass.SCANNER])
            link = rng.choice(campaign.link_ids)
            plan.append((at, lambda s, c=contact, t=at, k=cls, lk=link: hit(s, sends[c.id], HitKind.CLICK, k, t, lk)))
        else:
            plan.append((at, lambda s, c=contact, t=at: event(s, c, "demo_requested", t)))
    plan.sort(key=lambda item: item[0])
    return contacts, plan


@pytest.mark.parametrize(("seed", "step_hours"), [(1, 31), (2, 67)])
def test_recompute_gives_the_numbers_of_the_incremental_runs(session: Any, seed: int, step_hours: int) -> None:
    settings(session, half_life_days=30, warm_at=15, hot_at=40, mql_when_hot=True)
    rule(session, "page_viewed", 2, daily_cap=2)
    rule(session, "form_submitted", 10, property_key="form", property_value="whitepaper")
    rule(session, "human_open", 1, daily_cap=3)
    rule(session, "human_click", 3)
    rule(session, "link_click", 5, link_url="https://acme.test/b")
    rule(session, "custom_event", 25, event_name="demo_requested", sets_mql=True)
    rule(session, "inactivity", -5, inactivity_days=10)
    contacts, plan = _random_history(session, seed)
    session.commit()
    # Incremental: the clock moves in steps that split days; each step records what happened and scores it.
    clock = T0
    end = T0 + timedelta(days=80)
    index = 0
    while clock < end:
        clock += timedelta(hours=step_hours)
        while index < len(plan) and plan[index][0] <= clock:
            plan[index][1](session)
            index += 1
        run(session, clock)
    incremental = {c.id: score_of(session, c) for c in contacts}
    ledger = set(session.execute(select(ScoreEntry.rule_id, ScoreEntry.source, ScoreEntry.source_ref,
                                        ScoreEntry.points, ScoreEntry.occurred_at)).all())
    stages = {c.id: stage_of(session, c) for c in contacts}
    assert any(incremental.values()) and len(set(incremental.values())) > 3
    # A full refresh at the same time, then a recompute from nothing: same ledger, same scores, same stages.
    engine.recompute(session, clock)
    session.commit()
    assert {c.id: score_of(session, c) for c in contacts} == incremental
    assert set(session.execute(select(ScoreEntry.rule_id, ScoreEntry.source, ScoreEntry.source_ref,
                                      ScoreEntry.points, ScoreEntry.occurred_at)).all()) == ledger
    assert {c.id: stage_of(session, c) for c in contacts} == stages


def test_stage_thresholds_record_every_change_with_its_cause(session: Any) -> None:
    settings(session, half_life_days=0, warm_at=10, hot_at=30, mql_when_hot=True)
    rule(session, "page_viewed", 10)
    rule(session, "custom_event", 1, event_name="demo_requested", sets_mql=True)
    steady, rule_mql = make_contact(session), make_contact(session)
    event(session, steady, "page_viewed", T0)
    run(session, T0)
    assert stage_of(session, steady) == Stage.WARM
    event(session, steady, "page_viewed", T0 + timedelta(minutes=1))
    event(session, steady, "page_viewed", T0 + timedelta(minutes=2))
    event(session, rule_mql, "demo_requested", T0 + timedelta(minutes=2))
    run(session, T0 + timedelta(minutes=3))
    assert stage_of(session, steady) == Stage.MQL
    assert changes(session, steady) == [
        ("cold", "warm", "score_threshold"), ("warm", "hot", "score_threshold"), ("hot", "mql", "score_threshold"),
    ]
    assert changes(session, rule_mql) == [("cold", "mql", "rule")]
    timeline = scoring_history.stage_timeline(session, steady.id)
    assert timeline[0].changed_at == T0 and timeline[-1].changed_at == T0 + timedelta(minutes=3)
    assert "score 30 >= 30" in timeline[1].detail


def test_stages_set_by_sales_are_not_moved_down_by_the_score(session: Any) -> None:
    settings(session, half_life_days=10, warm_at=10, hot_at=30, mql_when_hot=False)
    rule(session, "page_viewed", 40)
    sales, hot = make_contact(session), make_contact(session)
    for c in (sales, hot):
        event(session, c, "page_viewed", T0)
    run(session, T0)
    assert stage_of(session, sales) == Stage.HOT
    triggers.set_stage(session, session.get(Contact, sales.id), "sql", "sales", "marketer@acme.test", now=T0)
    session.commit()
    run(session, T0 + timedelta(days=60))  # decayed to 0: a score-driven stage falls back to cold
    assert (score_of(session, sales), stage_of(session, sales)) == (1, Stage.SQL)
    assert stage_of(session, hot) == Stage.COLD
    triggers.set_stage(session, session.get(Contact, sales.id), "customer", "api", now=T0 + timedelta(days=61))
    session.commit()
    assert changes(session, sales) == [("cold", "hot", "score_threshold"), ("hot", "sql", "sales"),
                                       ("sql", "customer", "api")]
    with pytest.raises(rules.ScoringError):
        triggers.set_stage(session, session.get(Contact, sales.id), "warm", "sales")


def test_triggers_enrol_and_exit_sequences(session: Any) -> None:
    """Activated sequences run as journeys: triggers given their sequence ids name those journeys (migration 0022)
    and start / end walks there."""
    settings(session, half_life_days=0, warm_at=10, hot_at=30, mql_when_hot=False)
    rule(session, "page_viewed", 10)
    nurture = make_sequence_campaign(session, name="Nurture")
    demo = make_sequence_campaign(session, name="Book a demo")
    journey_of = {c.sequence_id: walk_entry.journey_of_sequence(session, c.sequence_id).id for c in (nurture, demo)}
    made = [triggers.create_trigger(session, {"name": "hot -> demo", "when": "stage", "stage": "hot",
                                              "action": "enroll", "sequence_id": demo.sequence_id}),
            triggers.create_trigger(session, {"name": "hot leaves nurture", "when": "stage", "stage": "hot",
                                              "action": "exit", "sequence_id": nurture.sequence_id}),
            triggers.create_trigger(session, {"name": "20 points -> nurture", "when": "score", "score_at": 20,
                                              "action": "enroll", "sequence_id": nurture.sequence_id})]
    assert [(t.journey_id, t.sequence_id) for t in made] == [
        (journey_of[demo.sequence_id], None), (journey_of[nurture.sequence_id], None),
        (journey_of[nurture.sequence_id], None)]
    contact = make_contact(session)
    event(session, contact, "page_viewed", T0)
    event(session, contact, "page_viewed", T0)
    run(session, T0)

    def walks(sequence_id: int) -> Any:
        return session.scalars(select(JourneyEnrolment.status).where(
            JourneyEnrolment.contact_id == contact.id, JourneyEnrolment.journey_id == journey_of[sequence_id])).all()

    assert walks(nurture.sequence_id) == [JourneyEnrolmentStatus.ACTIVE]
    assert walks(demo.sequence_id) == []
    event(session, contact, "page_viewed", T0 + timedelta(minutes=1))
    run(session, T0 + timedelta(minutes=1))
    assert walks(demo.sequence_id) == [JourneyEnrolmentStatus.ACTIVE]
    assert walks(nurture.sequence_id) == [JourneyEnrolmentStatus.EXITED]
    assert session.scalar(select(func.count()).select_from(Enrollment)) == 0  # nothing on the old side


def test_rule_validation_names_the_problem(session: Any) -> None:
    cases = [
        ({"kind": "custom_event", "points": 5}, "event name"),
        ({"kind": "link_click", "points": 5}, "link URL"),
        ({"kind": "inactivity", "points": -5}, "days"),
        ({"kind": "inactivity", "points": 5, "inactivity_days": 3}, "negative"),
        ({"kind": "page_viewed", "points": 0}, "must not be 0"),
        ({"kind": "page_viewed", "points": "many"}, "whole number"),
        ({"kind": "nope", "points": 1}, "kind must be one of"),
        ({"kind": "human_open", "points": 1, "property_key": "x"}, "only event rules"),
    ]
    for fields, message in cases:
        with pytest.raises(rules.ScoringError, match=message):
            rules.create_rule(session, {"name": "r", **fields})
    with pytest.raises(rules.ScoringError, match="webhook URL must start"):
        triggers.create_trigger(session, {"name": "t", "when": "stage", "stage": "sql", "action": "webhook",
                                         "webhook_url": "file:///etc/passwd"})
    assert session.scalar(select(func.count()).select_from(StageChange)) == 0


def test_deleting_a_rule_removes_its_points(session: Any) -> None:
    settings(session, half_life_days=0)
    keep = rule(session, "page_viewed", 4)
    drop = rule(session, "custom_event", 9, event_name="page_viewed")
    contact = make_contact(session)
    event(session, contact, "page_viewed", T0)
    run(session, T0)
    assert score_of(session, contact) == 13
    engine.delete_rule(session, drop, now=T0)
    session.commit()
    assert score_of(session, contact) == 4
    assert {e.rule_id for e in session.scalars(select(ScoreEntry))} == {keep.id}


def test_the_scheduler_loop_runs_the_scoring_step(app: Any, app_overrides: dict[str, Any], session: Any) -> None:
    import signal

    import worker

    settings(session, half_life_days=0, warm_at=5, hot_at=50)
    rule(session, "custom_event", 7, event_name="demo_requested")
    contact = make_contact(session)
    event(session, contact, "demo_requested", now_utc() - timedelta(minutes=1))
    session.commit()
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        worker.run_scheduler(overrides=app_overrides, once=True)
    finally:  # run_scheduler installs its own stop handlers: give pytest its own back
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert (score_of(session, contact), stage_of(session, contact)) == (7, Stage.WARM)
