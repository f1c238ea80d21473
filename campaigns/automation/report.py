"""Journey report: per node, who is there now, who passed, which exit they took, how its mails did, and for a
split the comparison of its paths on a goal with the A/B statistics (campaigns.experiments.stats).

Called by the canvas (campaigns.views.journeys) and the API. Every figure comes from a grouped query over one
journey, never a query per node: contacts now from `journey_enrolments` (ix_journey_enrolments_node), exits
from the path log `journey_steps` (ix_journey_steps_node; one row per node left), passed from both (the
nodes left plus the contacts there now), mail figures from the send ledger joined
to the journey's walks (uq_sends_journey_node_visit) with EXISTS probes on human hits (ix_tracking_hits_send_kind).

Counting rules, the same as the rest of Nurture's reports:
- "passed" counts entries into a node (a contact looping through a wait twice is counted twice);
- open and click rates count HUMAN hits only (machine opens and scanner clicks never count), a click implies
  an open, and the denominator is mails sent;
- a split compares its paths on the goal reached within `goal_days` of taking the path, counting only
  contacts whose window has closed (a contact who took a path an hour ago has not had the time to convert,
  and counting them would drag the newest path's rate down). Test walks (the marketer's own address) are left
  out of split statistics. The decision is the A/B module's fixed-horizon rule: before every path has
  reached the planned size it says "running", and looking early cannot produce a false winner.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, select
from sqlalchemy.orm import Session

from campaigns.audience.segments import json_text
from campaigns.db import now_utc
from campaigns.experiments import stats
from campaigns.experiments.counting import plus_hours_sql, time_sql
from campaigns.leads.contacts import ATTRIBUTE_KEY
from campaigns.models import (
    Contact,
    Event,
    FormSubmission,
    Hit,
    HitClass,
    HitKind,
    Journey,
    JourneyEnrolment,
    JourneyEnrolmentStatus,
    JourneyStep,
    JourneyVersion,
    Send,
    SendStatus,
    StageChange,
)
from campaigns.sql_functions import ascii_lower_text

PAGE_SIZE = 50  # contacts per page of node_contacts
# A split's plan (the graph format has no planning fields for a split): a 5% goal rate and a 20% relative
# lift to detect, at the A/B module's alpha and power; the planned size per path is the decision's horizon.
DEFAULT_GOAL_DAYS = 14
DEFAULT_BASELINE_RATE = 0.05
DEFAULT_MIN_LIFT = 0.2


def journey_graph(session: Session, journey: Journey) -> tuple[dict[str, Any], JourneyVersion | None]:
    """The graph the report describes: the live version's when published, else the draft (canvas, API)."""
    if journey.live_version_id is not None:
        version = session.get(JourneyVersion, journey.live_version_id)
        if version is not None:
            return dict(version.graph or {}), version
    return dict(journey.draft_graph or {}), None


def test_versions(session: Session, journey: Journey) -> list[int]:
    """Ids of the journey's test snapshots (numbered below 1 by service.start_test): their walks are tests."""
    return list(session.scalars(select(JourneyVersion.id).where(JourneyVersion.journey_id == journey.id,
                                                                JourneyVersion.number < 1)))


def _nodes(graph: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in graph.get("nodes") or [] if isinstance(n, dict) and isinstance(n.get("id"), str)]


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def journey_stats(session: Session, journey: Journey, now: datetime | None = None) -> dict[str, Any]:
    """Per-node counts and rates, per-exit counts, split statistics and the walks' totals (canvas, API)."""
    now = now or now_utc()
    graph, version = journey_graph(session, journey)
    nodes = _nodes(graph)
    out: dict[str, dict[str, Any]] = {
        n["id"]: {"type": n.get("type", ""), "now": 0, "passed": 0, "exits": {}} for n in nodes
    }

    # Test walks (the marketer's own address, service.start_test) walk versions numbered below 1 and are
    # left out of every figure. Without any, the filters drop out and both counts stay index-only scans.
    tests = test_versions(session, journey)

    def entry(key: str) -> dict[str, Any]:
        # A node of an earlier version (contacts moved or left since) still has a row of its own.
        return out.setdefault(key, {"type": "", "now": 0, "passed": 0, "exits": {}, "removed": True})

    # Contacts at each node now: ix_journey_enrolments_node (journey_id, node_key, status) answers it alone.
    for key, n in session.execute(
        select(JourneyEnrolment.node_key, func.count())
        .where(JourneyEnrolment.journey_id == journey.id, JourneyEnrolment.status == JourneyEnrolmentStatus.ACTIVE,
               *([JourneyEnrolment.version_id.not_in(tests)] if tests else []))
        .group_by(JourneyEnrolment.node_key)
    ).all():
        entry(key)["now"] = n
    # Exits from the path log, which holds one row per node left: ix_journey_steps_node (journey_id, node_key,
    # exit). "passed" counts entries: the nodes left plus the walks at the node now (the log has no row for
    # the node a walk is at; walks.py). A row without an exit is an open row of the old shape (migration 0023
    # kept those only where the walk no longer stood at that node).
    for key, exit_, n in session.execute(
        select(JourneyStep.node_key, JourneyStep.exit, func.count())
        .where(JourneyStep.journey_id == journey.id, *([JourneyStep.version_id.not_in(tests)] if tests else []))
        .group_by(JourneyStep.node_key, JourneyStep.exit)
    ).all():
        row = entry(key)
        row["passed"] += n
        if exit_:
            row["exits"][exit_] = row["exits"].get(exit_, 0) + n
    for row in out.values():
        row["passed"] += row["now"]
    for key, mail in _send_figures(session, journey).items():
        entry(key)["send"] = mail
    for node in nodes:
        if node.get("type") == "send" and "send" not in out[node["id"]]:
            out[node["id"]]["send"] = {"sent": 0, "opened": 0, "clicked": 0, "open_rate": None, "click_rate": None}
        if node.get("type") == "split":
            out[node["id"]]["split"] = split_stats(session, journey, node, now)
    totals = dict.fromkeys((s.value for s in JourneyEnrolmentStatus), 0)
    for status, n in session.execute(
        select(JourneyEnrolment.status, func.count())
        .where(JourneyEnrolment.journey_id == journey.id, JourneyEnrolment.test.is_(False))
        .group_by(JourneyEnrolment.status)
    ).all():
        totals[str(status)] = n
    return {
        "journey_id": journey.id,
        "version": version.number if version is not None else None,
        "totals": totals,
        "nodes": out,
    }


def _human_hit(kind: HitKind | None) -> Any:
    """EXISTS a human hit on the outer Send (kind None: an open or a click; a click implies an open)."""
    probe = select(literal(1)).select_from(Hit).where(Hit.send_id == Send.id, Hit.classification == HitClass.HUMAN)
    if kind is not None:
        probe = probe.where(Hit.kind == kind)
    return probe.exists()


def _send_figures(session: Session, journey: Journey) -> dict[str, dict[str, Any]]:
    """Mails sent per node with unique human opens and clicks (one grouped query over the journey's ledger)."""
    rows = session.execute(
        select(
            Send.node_key,
            func.count(),
            func.sum(case((_human_hit(None), 1), else_=0)),
            func.sum(case((_human_hit(HitKind.CLICK), 1), else_=0)),
        )
        .join(JourneyEnrolment, JourneyEnrolment.id == Send.journey_enrolment_id)
        .where(JourneyEnrolment.journey_id == journey.id, JourneyEnrolment.test.is_(False), Send.status == SendStatus.SENT)
        .group_by(Send.node_key)
    ).all()
    figures: dict[str, dict[str, Any]] = {}
    for key, sent, opened, clicked in rows:
        if key is None:
            continue
        opened, clicked = int(opened or 0), int(clicked or 0)
        figures[key] = {"sent": sent, "opened": opened, "clicked": clicked,
                        "open_rate": _rate(opened, sent), "click_rate": _rate(clicked, sent)}
    return figures


# ---------------------------------------------------------------------------------------------- splits


def _plan(paths: int) -> stats.TestPlan | None:
    """The split's planned size per path (the horizon of the decision); None when it cannot be planned."""
    try:
        return stats.plan_test(DEFAULT_BASELINE_RATE, DEFAULT_MIN_LIFT, variants=paths)
    except stats.ABInputError:
        return None  # more paths than the A/B module compares, or a plan it refuses: rates and intervals only


def split_stats(session: Session, journey: Journey, node: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """A split's paths compared on its goal (or the journey's): rates, intervals, P(best), the decision."""
    now = now or now_utc()
    keys = [str(p.get("key")) for p in node.get("paths") or [] if isinstance(p, dict) and p.get("key")]
    # The split's own goal, else the journey's: a walk that reached it ended as converted.
    goal = node.get("goal") if isinstance(node.get("goal"), dict) else None
    goal_days = float(DEFAULT_GOAL_DAYS)  # the window after taking a path in which the goal counts
    dialect = session.get_bind().dialect.name
    taken = JourneyStep.left_at  # when the contact was sent down its path
    matured = taken <= now - timedelta(days=goal_days)
    start = time_sql(dialect, taken)
    end = plus_hours_sql(dialect, taken, goal_days * 24)

    def within(column: Any) -> ColumnElement[bool]:
        at = time_sql(dialect, column)  # SQLite keeps times as text: both sides compare as Julian days
        return and_(at >= start, at < end)

    reached = _goal_reached(goal, within)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"taken": 0, "matured": 0, "converted": 0})
    for path, n_taken, n_matured, n_converted in session.execute(
        select(
            JourneyStep.exit,
            func.count(),
            func.sum(case((matured, 1), else_=0)),
            func.sum(case((and_(matured, reached), 1), else_=0)),
        )
        .join(JourneyEnrolment, JourneyEnrolment.id == JourneyStep.enrolment_id)
        .where(JourneyStep.journey_id == journey.id, JourneyStep.node_key == node["id"],
               JourneyStep.exit.in_(keys), JourneyStep.left_at.is_not(None), JourneyEnrolment.test.is_(False))
        .group_by(JourneyStep.exit)
    ).all():
        counts[path] = {"taken": n_taken, "matured": int(n_matured or 0), "converted": int(n_converted or 0)}
    variants = [stats.VariantCounts(k, counts[k]["matured"], counts[k]["converted"]) for k in keys]
    result: dict[str, Any] = {
        "goal": goal or {"kind": "journey_goal", "goal": (journey.settings or {}).get("goal")},
        "goal_days": goal_days, "planned_per_path": None, "decision": None,
        "paths": [{"key": v.name, "taken": counts[v.name]["taken"], "counted": v.sends, "converted": v.conversions,
                   "rate": v.rate if v.sends else None, "interval": list(v.interval()),
                   "probability_best": None} for v in variants],
    }
    plan = _plan(len(keys)) if len(keys) >= 2 else None
    if plan is None:
        return result
    result["planned_per_path"] = plan.sends_per_variant
    reached_horizon = all(v.sends >= plan.sends_per_variant for v in variants)
    # The horizon is the planned size, not a date: until every path has that many contacts whose window has
    # closed, the decision is "running" (a deadline one second ahead), whatever the rates look like.
    state = stats.NowState(now=now, deadline=now if reached_horizon else now + timedelta(seconds=1))
    decision = stats.decide(keys, variants, plan, state)
    result["decision"] = decision.to_dict()
    for row, summary in zip(result["paths"], decision.variants, strict=True):
        row["probability_best"] = summary.probability_best
    return result


def _goal_reached(goal: dict[str, Any] | None, within: Any) -> ColumnElement[bool]:
    """SQL: the outer walk (JourneyEnrolment) reached `goal` at a time `within(column)` accepts (the window).

    The goal has the shape of a wait-for's `until` (docs/journeys.md); without one (None), the journey's own
    goal counts: the walk ended as converted within the window."""
    contact = JourneyEnrolment.contact_id
    kind = (goal or {}).get("kind")
    if kind == "event" and isinstance(goal, dict):
        probe = select(literal(1)).select_from(Event).where(
            Event.contact_id == contact, Event.name == str(goal.get("name", "")), within(Event.occurred_at))
        for prop, value in (goal.get("where") or {}).items():
            if isinstance(prop, str) and ATTRIBUTE_KEY.match(prop):
                text = json_text(Event.properties, literal(prop), literal(f'$."{prop}"'))
                probe = probe.where(func.lower(text) == ascii_lower_text(str(value)))
        return probe.exists()
    if kind == "form" and isinstance(goal, dict):
        return select(literal(1)).select_from(FormSubmission).where(
            FormSubmission.contact_id == contact, FormSubmission.form_id == goal.get("form_id"),
            within(FormSubmission.submitted_at)).exists()
    if kind == "stage" and isinstance(goal, dict):
        return select(literal(1)).select_from(StageChange).where(
            StageChange.contact_id == contact, StageChange.to_stage == str(goal.get("stage", "")),
            within(StageChange.changed_at)).exists()
    if kind in ("open", "click") and isinstance(goal, dict):
        kinds = [HitKind.CLICK] if kind == "click" else [HitKind.OPEN, HitKind.CLICK]
        return select(literal(1)).select_from(Hit).join(Send, Send.id == Hit.send_id).where(
            Send.journey_enrolment_id == JourneyEnrolment.id, Send.node_key == str(goal.get("node", "")),
            Hit.classification == HitClass.HUMAN, Hit.kind.in_(kinds), within(Hit.occurred_at)).exists()
    return and_(JourneyEnrolment.status == JourneyEnrolmentStatus.CONVERTED, within(JourneyEnrolment.finished_at))


# ------------------------------------------------------------------------------------- contacts at a node


def node_contacts(session: Session, journey: Journey, node_key: str, page: int = 1) -> dict[str, Any]:
    """One page of the contacts at a node now (newest arrivals first), with the total (canvas's node list)."""
    page = max(1, page)
    where = and_(JourneyEnrolment.journey_id == journey.id, JourneyEnrolment.node_key == node_key,
                 JourneyEnrolment.status == JourneyEnrolmentStatus.ACTIVE, JourneyEnrolment.test.is_(False))
    total = session.scalar(select(func.count()).select_from(JourneyEnrolment).where(where)) or 0
    rows = session.execute(
        select(Contact.id, Contact.email, Contact.first_name, Contact.last_name, Contact.company,
               JourneyEnrolment.node_entered_at, JourneyEnrolment.due_at, JourneyEnrolment.waiting,
               JourneyEnrolment.visit, JourneyEnrolment.test)
        .join(Contact, Contact.id == JourneyEnrolment.contact_id)
        .where(where)
        .order_by(JourneyEnrolment.node_entered_at.desc(), JourneyEnrolment.id.desc())
        .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    ).all()
    return {
        "node": node_key, "page": page, "page_size": PAGE_SIZE, "total": total,
        "pages": max(1, -(-total // PAGE_SIZE)),
        "contacts": [
            {"id": r.id, "email": r.email, "first_name": r.first_name or "", "last_name": r.last_name or "",
             "company": r.company or "", "entered_at": r.node_entered_at, "due_at": r.due_at,
             "waiting": bool(r.waiting), "visit": r.visit, "test": bool(r.test)}
            for r in rows
        ],
    }
