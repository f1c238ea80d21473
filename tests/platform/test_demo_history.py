"""The demo's history (campaigns.demo_history through campaigns.demo.seed_demo): every page a newcomer opens
first has something to show. Speed is bench/bench_demo.py's business; this checks what is there."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import func, select

from campaigns.audience import segment_counts
from campaigns.automation.report import journey_stats
from campaigns.db import now_utc
from campaigns.demo import seed_demo
from campaigns.insights import kpi
from campaigns.models import (
    ABStatus,
    ABTest,
    Broadcast,
    BroadcastStatus,
    Contact,
    EngagementRollup,
    Event,
    Hit,
    HitClass,
    Journey,
    JourneyEnrolment,
    JourneyStep,
    ScoreEntry,
    Segment,
    Send,
    Sequence,
    SequenceStatus,
    Stage,
    StageChange,
)
from campaigns.models.web import WebVisit


def _seed(services: Any) -> str:
    with services.db.begin() as s:
        s.execute(sa.delete(sa.table("account")))  # seed_demo fills the account itself
    return seed_demo(services)


def test_the_demo_has_ninety_days_of_history_across_the_product(app: Any, services: Any) -> None:
    summary = _seed(services)
    assert "90 days of history" in summary
    assert seed_demo(services) == "demo data already present"  # a second start seeds nothing
    now = now_utc()
    with services.db.begin() as s:
        stages = dict(s.execute(select(Contact.stage, func.count()).group_by(Contact.stage)).all())
        assert {Stage(k) for k in stages} == set(Stage), stages  # every stage has contacts
        assert stages[Stage.MQL] >= 5 and 1 <= stages[Stage.SQL] and stages[Stage.CUSTOMER] >= 1
        sources = set(s.scalars(select(Contact.source).distinct()))
        assert {"csv_import", "trade_show", "webinar", "whitepaper", "website_form"} <= sources
        created = sorted(s.scalars(select(Contact.created_at)))
        assert (now - created[0]).days >= 80 and created[-1] <= now  # spread over the last 90 days
        # stage moves with their causes: the scoring engine's thresholds and rules, then sales
        causes = set(s.scalars(select(StageChange.cause).distinct()))
        assert {"score_threshold", "rule", "sales"} <= causes, causes
        assert s.scalar(select(func.count()).select_from(ScoreEntry)) > 100
        assert s.scalar(select(func.max(Contact.score))) >= 40
        # mails with human and machine opens and clicks, and the roll-ups reports read
        classes = set(s.scalars(select(Hit.classification).distinct()))
        assert {HitClass.HUMAN, HitClass.MACHINE_OPEN, HitClass.SCANNER} <= classes
        assert s.scalar(select(func.count()).select_from(Send).where(Send.broadcast_id.isnot(None))) > 500
        assert s.scalar(select(func.max(Hit.occurred_at))) <= now
        metrics = set(s.scalars(select(EngagementRollup.metric).distinct()))
        assert {"unique_open", "unique_click", "open_machine_open"} <= metrics
        assert s.scalar(select(func.count()).select_from(Event).where(Event.name == "webinar_attended")) > 10
        # a decided A/B test with its counts
        test = s.scalars(select(ABTest)).one()
        assert test.status is ABStatus.DECIDED and test.winner_index is not None
        assert all(c["delivered"] > 20 for c in test.decision["counts"].values())
        statuses = set(s.scalars(select(Broadcast.status)))
        assert {BroadcastStatus.SENT, BroadcastStatus.SCHEDULED} <= statuses
        # the running journey has walks at several nodes, with their path log
        active = set(s.scalars(select(JourneyEnrolment.node_key).where(JourneyEnrolment.status == "active")))
        assert {"whitepaper", "three-days"} <= active, active
        assert s.scalar(select(func.count()).select_from(JourneyEnrolment).where(
            JourneyEnrolment.status == "completed")) > 50
        assert s.scalar(select(func.count()).select_from(JourneyStep).where(JourneyStep.node_key == "case-study")) > 50
        # recent website visits, known and anonymous
        visits = s.execute(select(WebVisit.contact_id, WebVisit.occurred_at)).all()
        assert any(c for c, _ in visits) and any(c is None for c, _ in visits)
        assert all(timedelta(0) < now - t < timedelta(days=10) for _, t in visits)
        # the path log holds the nodes left (one row each, closed); a walk's current node is its own, with its time
        assert s.scalar(select(func.count()).select_from(JourneyStep).where(JourneyStep.left_at.is_(None))) == 0
        assert s.scalar(select(func.count()).select_from(JourneyEnrolment).where(
            JourneyEnrolment.node_entered_at.is_(None))) == 0
        # saved segments, already counted (the list shows counts on first start, not "not counted yet")
        segments = list(s.scalars(select(Segment)))
        assert len(segments) >= 3
        counts = segment_counts.cached_counts(s, services.redis, segments, now, budget=0)
        assert all(not c.pending and not c.invalid and c.count for c in counts.values()), counts
        # a draft sequence for the sequences list
        assert s.scalar(select(Sequence.status)) is SequenceStatus.DRAFT
    # the KPI page's measures over the last 90 days
    with services.db.begin() as s:
        zone = ZoneInfo("Asia/Tokyo")
        report = kpi.dashboard(s, kpi.DateRange.last_days(90, kpi.today_in(zone), zone))
    assert report["contacts"]["total"] >= 290
    assert [f["contacts"] > 0 for f in report["contacts"]["funnel"]] == [True] * len(report["contacts"]["funnel"])
    assert report["mqls"] and report["preceding"]


def test_the_demo_journeys_goal_was_reached_by_some_leads(app: Any, services: Any) -> None:
    """The demo journey's goal (a consultation request) converted some of the seeded walks, as the engine
    would have: the goal event on the contact's timeline, the walk ended a tick later at the node it was at,
    that node's path log row closed by the exit "goal", and no journey mail after it."""
    _seed(services)
    with services.db.begin() as s:
        journey = s.scalars(select(Journey).order_by(Journey.id)).first()
        assert journey is not None
        goal = journey.settings["goal"]
        assert goal == {"kind": "event", "name": "consultation_requested"}
        walks = list(s.scalars(select(JourneyEnrolment).where(JourneyEnrolment.journey_id == journey.id)))
        converted = [w for w in walks if w.status == "converted"]
        # a believable share of the seeded walks (the 20 enrolled just now have had no time to convert)
        seeded = [w for w in walks if w.node_key != "whitepaper"]
        assert 0.08 <= len(converted) / len(seeded) <= 0.15, (len(converted), len(seeded))
        for w in converted:
            assert w.exit_reason == "goal: consultation_requested" and w.finished_at is not None
            assert w.due_at is None and not w.waiting
            events = list(s.scalars(select(Event.occurred_at).where(
                Event.contact_id == w.contact_id, Event.name == goal["name"])))
            assert events and min(events) <= w.finished_at  # the event came first, the engine ended the walk
            assert all(e >= w.enrolled_at for e in events)  # and not before the walk (it would have ended then)
            sends = list(s.scalars(select(Send.sent_at).where(Send.contact_id == w.contact_id,
                                                                 Send.journey_enrolment_id == w.id)))
            assert sends and all(t is not None and t < min(events) for t in sends), (sends, events)
            log = s.execute(select(JourneyStep.node_key, JourneyStep.exit, JourneyStep.left_at, JourneyStep.detail)
                            .where(JourneyStep.enrolment_id == w.id).order_by(JourneyStep.left_at)).all()
            assert [r.exit for r in log][-1] == "goal" and log[-1].node_key == w.node_key
            assert log[-1].left_at == w.finished_at and log[-1].detail == w.exit_reason
        # a walk still going (or done without converting) never had the goal event while it walked
        for w in walks:
            if w.status in ("active", "completed") and w.node_key != "whitepaper":
                end = w.finished_at or now_utc()
                assert not s.scalar(select(func.count()).select_from(Event).where(
                    Event.contact_id == w.contact_id, Event.name == goal["name"],
                    Event.occurred_at >= w.enrolled_at, Event.occurred_at < end)), w.id
        # the canvas's and the reports page's figure: reached the goal
        stats = journey_stats(s, journey)
        assert stats["totals"]["converted"] == len(converted) > 0
        assert stats["nodes"]["three-days"]["exits"].get("goal") == len(converted)
        assert stats["nodes"]["case-study"]["passed"] > 50
