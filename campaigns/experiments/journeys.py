"""A/B tests on journey send nodes: the test a published node carries, which variant a walk gets, and the
figures the canvas shows (those in results.node_results).

The graph's send node holds the marketer's set-up (`ab`, docs/journeys.md); publishing calls
`sync_node_tests`, which keeps one `ab_tests` row per (journey, node) in step with it: a new set-up (other
templates) starts a new test, the same one carries on (shares, horizon and winner mode follow the graph), a
node that lost its `ab` cancels its running test (the node's own template goes again). The engine
(automation/nodes.py) asks `node_split` once per group of walks and `choose` per walk:

- while the split is open, a walk's variant is drawn from hash(test, walk) over the variants' percentages:
  deterministic, so a replayed visit (a crash between the ledger insert and the walk's move) picks the same
  variant, and the ledger's UNIQUE (walk, node, visit) keeps it to one mail, which records the variant key
  and its template version (`Send.variant`, `Send.template_version_id`);
- once the split has closed (the planned horizon: `test_days`, or every variant at its planned size) and
  until a decision, walks get the control (variant A) without a variant key, as step tests did;
- after the decision (automatic, or the marketer's pick in manual mode) later walks get the winner.

Counting, the deadline and the decision are the A/B package's own (counting.test_scope knows journey tests;
decision.tick decides them like step tests): one copy of the statistics.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.experiments import stats
from campaigns.experiments.counting import test_scope
from campaigns.experiments.setup import ACTIVE_STATUSES
from campaigns.models import ABKind, ABMetric, ABMode, ABStatus, ABTest, ABVariant, Send, Step, Template
from campaigns.models.ab import VARIANT_KEYS

# What the engine reads: a test still splitting, waiting for its decision, or decided.
_LIVE = (ABStatus.TESTING, ABStatus.AWAITING_DECISION, ABStatus.DECIDED)


@dataclass(frozen=True)
class NodeSplit:
    """What a send node's walks get now: per walk a (variant key, template version id)."""

    test_id: int
    splitting: bool
    variants: tuple[tuple[str, int | None, int], ...]  # (key, version id, percent) in variant order
    fixed_version: int | None  # not splitting: the control's or the winner's version (None: the node's own)

    def choose(self, walk_id: int) -> tuple[str, int | None]:
        """The variant key and version for one walk ('' and the fixed version when not splitting)."""
        if not self.splitting:
            return "", self.fixed_version
        point = _point(self.test_id, walk_id)
        total = sum(p for _, _, p in self.variants) or 1
        edge = 0.0
        for key, version, percent in self.variants:
            edge += percent / total
            if point < edge:
                return key, version
        key, version, _ = self.variants[-1]
        return key, version


def _point(test_id: int, walk_id: int) -> float:
    """A walk's fixed place in [0, 1) for this test: hash(test, walk), uniform, stable across replays."""
    digest = hashlib.sha256(f"ab:{test_id}:walk:{walk_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def node_split(session: Session, journey_id: int, node_key: str) -> NodeSplit | None:
    """The node's test as the engine applies it (None: no test, the node's own template goes)."""
    test = session.scalar(
        select(ABTest).where(ABTest.journey_id == journey_id, ABTest.node_key == node_key,
                             ABTest.status.in_(_LIVE)).order_by(ABTest.id.desc()).limit(1)
    )
    if test is None:
        return None
    variants = tuple((v.key, v.template_version_id, v.percent or 1) for v in test.variants)
    if test.status is ABStatus.TESTING and test.split_closed_at is None:
        return NodeSplit(test.id, True, variants, None)
    if test.status is ABStatus.DECIDED and test.winner_index is not None:
        return NodeSplit(test.id, False, variants, variants[test.winner_index][1])
    return NodeSplit(test.id, False, variants, variants[0][1])


# ------------------------------------------------------------------ publish
def _signature(templates: Sequence[int | None], metric: str, goal_event: str) -> tuple[Any, ...]:
    return (tuple(templates), metric, goal_event)


def sync_node_tests(session: Session, journey_id: int, graph: Any, now: datetime) -> list[ABTest]:
    """Keep the journey's node tests in step with a newly published graph (automation.service.publish):
    start tests for new set-ups, carry on unchanged ones, cancel those whose node dropped its test.
    `graph` is the validated graph (automation.graph.Graph). Returns the tests now in force."""
    existing: dict[str, ABTest] = {}
    for row in session.scalars(select(ABTest).where(ABTest.journey_id == journey_id).order_by(ABTest.id)):
        existing[row.node_key] = row  # the newest per node
    kept: list[ABTest] = []
    wanted: set[str] = set()
    for node in graph.of_type("send"):
        ab = node.data.get("ab")
        if not ab:
            continue
        wanted.add(node.id)
        test = existing.get(node.id)
        templates = [int(v["template_id"]) for v in ab["variants"]]
        same = test is not None and test.status in (*ACTIVE_STATUSES, ABStatus.DECIDED) and \
            _signature([v.template_id for v in test.variants], str(test.metric), test.goal_event) == \
            _signature(templates, ab.get("metric", "open"), ab.get("goal_event", ""))
        if test is not None and same:
            _follow(test, ab)
            kept.append(test)
            continue
        if test is not None and test.status in ACTIVE_STATUSES:
            _stop(test, now, "Test replaced by a new set-up of this mail.")
        kept.append(_start(session, journey_id, node.id, ab, now))
    for key, old in existing.items():
        if key not in wanted and old.status in ACTIVE_STATUSES:
            _stop(old, now, "Test removed from the journey: the mail's own template is sent.")
    session.flush()
    return kept


def _follow(test: ABTest, ab: dict[str, Any]) -> None:
    """Carry the set-up's editable parts onto a running test (shares, horizon, window, winner mode)."""
    for v, raw in zip(test.variants, ab["variants"], strict=True):
        v.percent = int(raw["percent"])
        if raw.get("label"):
            v.label = str(raw["label"])[:200]
    test.test_days = int(ab.get("days", test.test_days))
    test.window_hours = int(ab.get("window_hours", test.window_hours))
    test.mode = ABMode(ab.get("winner", "auto"))
    if int(ab.get("per_variant") or 0) > 0:
        test.planned_per_variant = int(ab["per_variant"])


def _stop(test: ABTest, now: datetime, reason: str) -> None:
    test.status = ABStatus.CANCELLED
    test.split_closed_at = test.split_closed_at or now
    test.decision = {**(test.decision or {}), "override_reason": reason, "decided_by": "cancelled"}


def _start(session: Session, journey_id: int, node_key: str, ab: dict[str, Any], now: datetime) -> ABTest:
    metric = ABMetric(ab.get("metric", "open"))
    rows = []
    for position, raw in enumerate(ab["variants"]):
        template = session.get(Template, int(raw["template_id"]))
        rows.append(ABVariant(
            position=position, key=VARIANT_KEYS[position], percent=int(raw["percent"]),
            label=str(raw.get("label") or (template.name if template else ""))[:200],
            template_id=int(raw["template_id"]),
            template_version_id=template.current_version_id if template else None,
        ))
    plan = stats.plan_test(0.2, 0.2, len(rows), 0.05, 0.8)
    test = ABTest(
        journey_id=journey_id, node_key=node_key, kind=ABKind.CONTENT, metric=metric,
        goal_event=str(ab.get("goal_event") or ""), goal_days=int(ab.get("goal_days") or 7), test_portion=1.0,
        window_hours=int(ab.get("window_hours", 24)), test_days=int(ab.get("days", 14)),
        fallback=stats.Fallback.KEEP_CONTROL.value, mode=ABMode(ab.get("winner", "auto")), status=ABStatus.TESTING,
        planned_per_variant=int(ab.get("per_variant") or 0) or plan.sends_per_variant, created_at=now,
        started_at=now, decision={},
    )
    test.variants = rows
    session.add(test)
    return test


def ab_of(test: ABTest) -> dict[str, Any]:
    """A test's set-up as a send node's `ab` (docs/journeys.md): what the graph carries for a test that began
    on a sequence step (adopt_step_tests; migration 0021 writes the same)."""
    ab: dict[str, Any] = {
        "variants": [{"template_id": int(v.template_id or 0), "percent": v.percent,
                      **({"label": v.label} if v.label else {})} for v in test.variants],
        "metric": str(test.metric), "days": test.test_days, "per_variant": test.planned_per_variant,
        "window_hours": test.window_hours, "winner": str(test.mode),
    }
    if test.metric is ABMetric.GOAL:
        ab.update(goal_event=test.goal_event, goal_days=test.goal_days)
    return ab


def adopt_step_tests(session: Session, journey_id: int, sequence_id: int, graph: dict[str, Any]) -> dict[str, Any]:
    """A sequence becoming a journey (automation.linear.activate_sequence, before its publish): the running
    tests of its steps move to their send nodes (`step-<id>`: journey_id, node_key, even shares; step_id kept
    for history) and the returned copy of the graph carries their `ab`, so the publish carries them on."""
    tests = session.scalars(
        select(ABTest).join(Step, Step.id == ABTest.step_id)
        .where(Step.sequence_id == sequence_id, ABTest.journey_id.is_(None), ABTest.status.in_(ACTIVE_STATUSES))
    ).all()
    out = copy.deepcopy(graph)
    nodes = {n.get("id"): n for n in out.get("nodes") or [] if n.get("type") == "send"}
    for test in tests:
        node = nodes.get(f"step-{test.step_id}")
        if node is None or not 2 <= len(test.variants) or any(v.template_id is None for v in test.variants):
            continue
        k = len(test.variants)
        for i, v in enumerate(test.variants):
            v.percent = 100 // k + (1 if i < 100 % k else 0)
        test.journey_id, test.node_key = journey_id, str(node["id"])
        node["ab"] = ab_of(test)
        node["template_id"] = node["ab"]["variants"][0]["template_id"]  # variant A is the node's own mail
    session.flush()
    return out


# ------------------------------------------------------------------ the horizon
def planned_size_reached(session: Session, test: ABTest) -> bool:
    """True once every variant of a journey test has its planned number of sends (decision.decide_if_due)."""
    if test.journey_id is None or test.planned_per_variant < 1:
        return False
    counts = dict(session.execute(
        select(Send.variant, func.count()).where(test_scope(test)).group_by(Send.variant)).all())
    return all(int(counts.get(v.key, 0)) >= test.planned_per_variant for v in test.variants)
