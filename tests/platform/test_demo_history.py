"""The demo's history (campaigns.demo_history through campaigns.demo.seed_demo): every page a newcomer opens
first has something to show. Speed is bench/bench_demo.py's business; this checks what is there."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import func, select

from campaigns.audience import segment_counts
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
