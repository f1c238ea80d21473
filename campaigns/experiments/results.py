"""What the A/B results page shows: variants described, the timeline, aligned curves and the verdict.

Request-free: the UI (campaigns.views.abtests) and the API (campaigns.api.abtests) call it. The A/B
service is split by job: setup.py (create and validate a test), assignment.py (who gets which
variant, planned sends), counting.py (human engagement per variant), decision.py (deadline, decision,
the winner to the rest; the scheduler's tick) and this module (reading it all back); the statistics
are pure, in stats.py.

Broadcasts: when the scheduler starts a broadcast that carries a test, `start_broadcast_test` draws the
test portion at random (recorded in ab_assignments, split evenly) and plans only those sends, each with
its variant's template version and key (`Send.variant`). `tick` (every scheduler tick) plans send-time
variants when their local time comes, and decides once the last variant's window has closed; the rest
of the audience then gets the chosen variant. The send ledger is UNIQUE per (broadcast, contact), so
nobody in the test portion can be mailed twice.

Sequence steps: `split_step_rows` (called by the scheduler's step planner) gives each new send of a
tested step a variant by hash(test, contact), so a contact keeps its variant; after `test_days` new
sends get the control until the decision, which makes the winner the step's template.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from campaigns.db import now_utc
from campaigns.experiments.counting import (
    count_variants,
    hours_since_sql,
    metric_counts,
    plus_hours_sql,
    test_scope,
    time_sql,
    window_hours,
)
from campaigns.experiments.decision import evaluate, expected_deadline
from campaigns.experiments.setup import broadcast_audience_size, plan_advice
from campaigns.models import (
    ABKind,
    ABMetric,
    ABStatus,
    ABTest,
    ABVariant,
    Broadcast,
    Event,
    Journey,
    Send,
    SendStatus,
    Step,
    Template,
)
from campaigns.models.tracking import EngagementRollup, Hit, HitClass, HitKind, RollupScope


# ------------------------------------------------------------------ results (page and API)
def describe_variant(test: ABTest, v: ABVariant, session: Session) -> str:
    """What this variant changes, in words (results page, API)."""
    if test.kind is ABKind.CONTENT:
        template = session.get(Template, v.template_id) if v.template_id else None
        return template.name if template else ""
    if test.kind is ABKind.SEND_TIME:
        return v.send_local.replace("T", " ")
    return str(getattr(v, test.kind.value) or "")


def timeline(session: Session, test: ABTest) -> dict[str, Any]:
    """Hourly human engagement per variant (UTC buckets, from the roll-ups) for the timeline chart. Journey
    mails have no roll-up scope: their tests show the aligned curves only."""
    if test.journey_id is not None:
        return {"metric": "unique_open" if test.metric is ABMetric.OPEN else "unique_click", "labels": [],
                "starts": [], "series": {v.key: [] for v in test.variants}}
    scope = RollupScope.BROADCAST if test.broadcast_id is not None else RollupScope.STEP
    scope_id = test.broadcast_id if test.broadcast_id is not None else test.step_id
    metric = "unique_open" if test.metric is ABMetric.OPEN else "unique_click"
    rows = session.execute(
        select(EngagementRollup.bucket, EngagementRollup.variant, func.sum(EngagementRollup.count))
        .where(EngagementRollup.scope == scope, EngagementRollup.scope_id == scope_id,
               EngagementRollup.link_id == 0, EngagementRollup.metric == metric,
               EngagementRollup.variant.in_([v.key for v in test.variants]))
        .group_by(EngagementRollup.bucket, EngagementRollup.variant)
    ).all()
    buckets = sorted({r[0] for r in rows})[-24 * 31:]
    index = {b: i for i, b in enumerate(buckets)}
    series = {v.key: [0] * len(buckets) for v in test.variants}
    for bucket, key, n in rows:
        if bucket in index:
            series[key][index[bucket]] += int(n or 0)
    # labels are UTC text (the API's callers read them); "starts" are the same hours as ISO instants, which the
    # results page writes in the account's zone
    return {"metric": metric, "labels": [b.strftime("%Y-%m-%d %H:00") for b in buckets],
            "starts": [(b if b.tzinfo else b.replace(tzinfo=UTC)).isoformat() for b in buckets], "series": series}


def aligned_curves(session: Session, test: ABTest,
                   counts: dict[str, dict[str, int]] | None = None) -> dict[str, Any]:
    """Cumulative conversion rate per variant by hours since each send (the equal-window comparison)."""
    dialect = session.get_bind().dialect.name
    hours = window_hours(test)
    end = plus_hours_sql(dialect, Send.sent_at, hours)
    delivered = and_(test_scope(test), Send.status == SendStatus.SENT)
    if test.metric is ABMetric.GOAL:
        first = (
            select(Send.variant.label("variant"), Send.sent_at.label("sent_at"),
                   func.min(Event.occurred_at).label("at"))
            .join(Event, and_(Event.contact_id == Send.contact_id, Event.name == test.goal_event))
            .where(delivered, Event.occurred_at >= Send.sent_at, time_sql(dialect, Event.occurred_at) < end)
            .group_by(Send.id, Send.variant, Send.sent_at).subquery()
        )
    else:
        kinds = [HitKind.CLICK] if test.metric in (ABMetric.CLICK, ABMetric.CLICK_TO_OPEN) else [HitKind.OPEN, HitKind.CLICK]
        first = (
            select(Send.variant.label("variant"), Send.sent_at.label("sent_at"), func.min(Hit.occurred_at).label("at"))
            .join(Hit, Hit.send_id == Send.id)
            .where(delivered, Hit.classification == HitClass.HUMAN, Hit.kind.in_(kinds),
                   time_sql(dialect, Hit.occurred_at) < end)
            .group_by(Send.id, Send.variant, Send.sent_at).subquery()
        )
    offset = hours_since_sql(dialect, first.c.at, first.c.sent_at)
    step = max(1, hours // 48)  # at most ~48 points per curve
    raw: dict[str, list[int]] = {v.key: [0] * (hours // step + 1) for v in test.variants}
    for key, off, n in session.execute(select(first.c.variant, offset, func.count()).group_by(first.c.variant, offset)):
        slot = min(max(int(off or 0), 0) // step, len(raw[key]) - 1)
        raw[key][slot] += int(n)
    counts = counts or count_variants(session, test)
    denominators = {v.key: (counts[v.key]["opened"] if test.metric is ABMetric.CLICK_TO_OPEN
                            else counts[v.key]["delivered"]) for v in test.variants}
    curves = {}
    for key, slots in raw.items():
        total, acc = denominators[key], 0
        cum = []
        for n in slots:
            acc += n
            cum.append(acc / total if total else 0.0)
        curves[key] = cum
    return {"hours": [i * step for i in range(len(next(iter(raw.values()))))], "curves": curves,
            "window_hours": hours}


def _raw_rates(test: ABTest, counts: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """Each variant's conversions and rate without statistics (a failed test's page): no interval, no
    chance to be best."""
    out = []
    for v, (conversions, trials) in zip(test.variants, metric_counts(test, counts), strict=True):
        rate = conversions / trials if trials else 0.0
        out.append({"index": v.position, "name": v.key, "sends": trials, "conversions": conversions, "rate": rate,
                    "interval": [rate, rate], "probability_best": None, "expected_loss": None})
    return out


def results(session: Session, test: ABTest, now: datetime | None = None) -> dict[str, Any]:
    """Everything the results page and the API show, as JSON-ready data (the same numbers in both)."""
    now = now or now_utc()
    if test.status in (ABStatus.DECIDED, ABStatus.AWAITING_DECISION) and test.decision.get("variants"):
        # Frozen at the deadline: every window had closed, so counting again would give the same numbers.
        decision = dict(test.decision)
        counts = decision.get("counts") or count_variants(session, test)
        live = False
    elif test.status is ABStatus.FAILED:
        # Stopped by the scheduler (decision.fail_test): what failed there would fail here again, so the
        # page shows the raw counts and the reason, and runs no statistics.
        counts = count_variants(session, test)
        decision = {**test.decision, "reason_code": "failed", "reason": "", "notes": [], "pairwise": [],
                    "send_index": None, "variants": _raw_rates(test, counts)}
        live = False
    else:
        evaluated, counts = evaluate(session, test, now)
        decision = evaluated.to_dict()
        live = True
    audience = None
    if test.broadcast_id is not None and test.status is ABStatus.DRAFT:
        broadcast = session.get(Broadcast, test.broadcast_id)
        audience = broadcast_audience_size(session, broadcast) if broadcast is not None else None
    advice = plan_advice(test.baseline_rate, test.min_lift, len(test.variants), audience, test.test_portion,
                         test.alpha, test.power)
    target: dict[str, Any]
    if test.journey_id is not None:
        journey = session.get(Journey, test.journey_id)
        target = {"type": "journey", "id": test.journey_id, "name": journey.name if journey else "",
                  "node": test.node_key}
    elif test.broadcast_id is not None:
        b = session.get(Broadcast, test.broadcast_id)
        target = {"type": "broadcast", "id": test.broadcast_id, "name": b.name if b else ""}
    else:
        step = session.get(Step, test.step_id)
        target = {"type": "step", "id": test.step_id, "sequence_id": step.sequence_id if step else None,
                  "position": step.position if step else None}
    return {
        "id": test.id,
        "target": target,
        "kind": str(test.kind),
        "metric": str(test.metric),
        "goal_event": test.goal_event,
        "goal_days": test.goal_days,
        "window_hours": window_hours(test),
        "test_portion": test.test_portion,
        "test_days": test.test_days,
        "fallback": test.fallback,
        "mode": str(test.mode),
        "status": str(test.status),
        "planned_per_variant": test.planned_per_variant,
        "baseline_rate": test.baseline_rate,
        "min_lift": test.min_lift,
        "alpha": test.alpha,
        "power": test.power,
        "created_at": test.created_at.isoformat(),
        "started_at": test.started_at.isoformat() if test.started_at else None,
        "deadline_at": test.deadline_at.isoformat() if test.deadline_at else None,
        "expected_deadline": expected_deadline(session, test, now).isoformat(),
        "decided_at": test.decided_at.isoformat() if test.decided_at else None,
        "decided_by": test.decided_by,
        "winner_index": test.winner_index,
        "rest_planned": test.rest_planned,
        "variants": [
            {"index": v.position, "key": v.key, "label": v.label, "describes": describe_variant(test, v, session),
             "template_id": v.template_id, "template_version_id": v.template_version_id,
             "send_local": v.send_local or None, **counts[v.key]}
            for v in test.variants
        ],
        "decision": decision,
        "decision_is_live": live,
        "advice": advice,
        "timeline": timeline(session, test),
        "aligned": aligned_curves(session, test, counts),
    }


# ------------------------------------------------------------------ journey send nodes on the canvas
def node_results(session: Session, journey_id: int, now: datetime) -> dict[str, dict[str, Any]]:
    """Per send node with a test: the newest test's status, per variant its sends, rate, interval and
    P(best), and the chosen variant; the canvas's live view (campaigns.views.journeys)."""
    newest: dict[str, ABTest] = {}
    for test in session.scalars(select(ABTest).where(ABTest.journey_id == journey_id).order_by(ABTest.id)):
        newest[test.node_key] = test
    out: dict[str, dict[str, Any]] = {}
    for key, test in newest.items():
        if test.status in (ABStatus.DECIDED, ABStatus.AWAITING_DECISION) and test.decision.get("variants"):
            decision = dict(test.decision)
        elif test.status in (ABStatus.TESTING,):
            decision = evaluate(session, test, now)[0].to_dict()
        else:
            decision = {}
        rows = decision.get("variants") or []
        out[key] = {
            "test_id": test.id, "status": str(test.status), "metric": str(test.metric),
            "winner": test.winner_index, "splitting": test.status is ABStatus.TESTING and test.split_closed_at is None,
            "planned_per_variant": test.planned_per_variant,
            "variants": [
                {"key": v.key, "label": v.label, "percent": v.percent,
                 **({k: rows[i].get(k) for k in ("sends", "conversions", "rate", "interval", "probability_best")}
                    if i < len(rows) else {})}
                for i, v in enumerate(test.variants)
            ],
            "reason_code": decision.get("reason_code", ""),
        }
    return out
