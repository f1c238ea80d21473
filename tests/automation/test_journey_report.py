"""The journey report (campaigns/automation/report.py) on data: contacts at each node now, passed, exits taken,
mail rates from human hits only, test walks left out, contacts at a node page by page, and a split's paths
compared with the A/B statistics module: the report's numbers must be the module's own results for the same
counts (rates, intervals, P(best), the decision), on many random cases, with only contacts whose goal window
has closed counted and only goals reached inside it."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select

from campaigns.automation import report, service
from campaigns.db import now_utc
from campaigns.experiments import stats
from campaigns.models import (
    Contact,
    Event,
    Hit,
    HitClass,
    HitKind,
    Journey,
    JourneyEnrolment,
    JourneyStep,
    Send,
    SendStatus,
    Template,
)
from tests.factories import make_journey, make_template

SPLIT_GRAPH = {
    "start": "mail", "nodes": [
        {"id": "mail", "type": "send", "template_id": 0},
        {"id": "ab", "type": "split", "paths": [{"key": "A", "percent": 50}, {"key": "B", "percent": 50}],
         "goal": {"kind": "event", "name": "demo_booked"}},
        {"id": "a_end", "type": "end"}, {"id": "b_end", "type": "end"}],
    "edges": [{"from": "mail", "exit": "next", "to": "ab"}, {"from": "ab", "exit": "A", "to": "a_end"},
              {"from": "ab", "exit": "B", "to": "b_end"}],
    "layout": {},
}


def _split_journey(s: Any) -> Journey:
    graph = {**SPLIT_GRAPH, "nodes": [dict(n) for n in SPLIT_GRAPH["nodes"]]}
    graph["nodes"][0]["template_id"] = make_template(s, "比較メール").id
    return make_journey(s, graph, name="A/B分岐")


def _walks(s: Any, journey: Journey, count: int, *, node: str, status: str = "active", test: bool = False,
           prefix: str = "c") -> list[tuple[int, int]]:
    """`count` contacts with one walk each at `node`: (contact id, walk id) pairs, inserted in bulk."""
    start = s.scalar(select(Contact.id).order_by(Contact.id.desc()).limit(1)) or 0
    s.execute(insert(Contact), [{"email": f"{prefix}{start + i}@example.jp"} for i in range(count)])
    ids = list(s.scalars(select(Contact.id).where(Contact.id > start).order_by(Contact.id)))
    version = journey.live_version_id
    if test:
        version = service._test_version(s, journey, now_utc()).id
    s.execute(insert(JourneyEnrolment), [
        {"journey_id": journey.id, "contact_id": cid, "version_id": version, "node_key": node, "status": status,
         "test": test, "visits": {}, "context": {}} for cid in ids])
    walks = dict(s.execute(select(JourneyEnrolment.contact_id, JourneyEnrolment.id)
                           .where(JourneyEnrolment.contact_id.in_(ids))).all())
    return [(cid, walks[cid]) for cid in ids]


def _step(s: Any, journey: Journey, walk: int, node: str, exit: str = "", left_at: datetime | None = None,
          version: int | None = None) -> None:
    s.add(JourneyStep(journey_id=journey.id, enrolment_id=walk, version_id=version or journey.live_version_id,
                      node_key=node, exit=exit, entered_at=(left_at or now_utc()) - timedelta(minutes=1),
                      left_at=left_at))


def test_counts_per_node_exits_and_human_rates(services: Any) -> None:
    now = now_utc()
    with services.db.begin() as s:
        journey = _split_journey(s)
        version = journey.live_version_id
        _walks(s, journey, 3, node="mail")  # at the mail node now
        passed = _walks(s, journey, 4, node="a_end", status="completed", prefix="p")
        # the walks at the mail node have no path log row for it: the log holds the nodes left (walks.py)
        template_version = s.scalar(select(Template.current_version_id).where(Template.name == "比較メール"))
        for n, (cid, walk) in enumerate(passed):
            _step(s, journey, walk, "mail", "next", now)
            _step(s, journey, walk, "ab", "A" if n < 3 else "B", now)
            _step(s, journey, walk, "a_end" if n < 3 else "b_end", "end", now)
            send = Send(contact_id=cid, journey_enrolment_id=walk, node_key="mail", visit=1, status=SendStatus.SENT,
                        template_version_id=template_version, sent_at=now)
            s.add(send)
            s.flush()
            # contact 0: a human open; 1: only a privacy proxy's open; 2: a human click (an open too); 3: a scanner
            kinds = {0: [(HitKind.OPEN, HitClass.HUMAN)], 1: [(HitKind.OPEN, HitClass.MACHINE_OPEN)],
                     2: [(HitKind.CLICK, HitClass.HUMAN)], 3: [(HitKind.CLICK, HitClass.SCANNER)]}[n]
            for i, (kind, klass) in enumerate(kinds):
                s.add(Hit(event_id=f"h{walk}-{i}", kind=kind, send_id=send.id, contact_id=cid, occurred_at=now,
                          classification=klass))
        # a test walk at the mail node: never counted
        ((_, test_walk),) = _walks(s, journey, 1, node="mail", test=True, prefix="t")
        _step(s, journey, test_walk, "mail", "next", now, version=s.get(JourneyEnrolment, test_walk).version_id)
        s.flush()
        result = report.journey_stats(s, journey)
    nodes = result["nodes"]
    assert result["version"] == 1 and version is not None
    # passed: the 4 that left (the log) and the 3 there now (the walks)
    assert nodes["mail"]["now"] == 3 and nodes["mail"]["passed"] == 7 and nodes["mail"]["exits"] == {"next": 4}
    assert nodes["ab"]["passed"] == 4 and nodes["ab"]["exits"] == {"A": 3, "B": 1}
    assert nodes["a_end"]["passed"] == 3 and nodes["b_end"]["passed"] == 1
    mail = nodes["mail"]["send"]
    assert (mail["sent"], mail["opened"], mail["clicked"]) == (4, 2, 1)
    assert mail["open_rate"] == pytest.approx(0.5) and mail["click_rate"] == pytest.approx(0.25)
    assert result["totals"]["active"] == 3 and result["totals"]["completed"] == 4


def test_contacts_at_a_node_page_by_page(services: Any) -> None:
    with services.db.begin() as s:
        journey = _split_journey(s)
        walks = _walks(s, journey, report.PAGE_SIZE + 5, node="mail")
        _walks(s, journey, 1, node="mail", test=True, prefix="t")
        first = report.node_contacts(s, journey, "mail", 1)
        second = report.node_contacts(s, journey, "mail", 2)
        nobody = report.node_contacts(s, journey, "ab", 1)
    assert first["total"] == second["total"] == len(walks) and first["pages"] == 2
    assert len(first["contacts"]) == report.PAGE_SIZE and len(second["contacts"]) == 5
    listed = {c["id"] for c in first["contacts"] + second["contacts"]}
    assert listed == {cid for cid, _ in walks}  # the test walk is not listed
    assert nobody["total"] == 0 and nobody["contacts"] == []


def _split_case(s: Any, journey: Journey, rng: random.Random, now: datetime) -> dict[str, tuple[int, int]]:
    """Random walks through the split: matured or not, goal inside the window, outside it, or before the split.
    Returns what the report should count per path: (conversions, contacts)."""
    expected: dict[str, list[int]] = {"A": [0, 0], "B": [0, 0]}
    sizes = {"A": rng.randint(1, 40), "B": rng.randint(1, 40)}
    rate = {"A": rng.uniform(0, 0.6), "B": rng.uniform(0, 0.6)}
    for path, size in sizes.items():
        for cid, walk in _walks(s, journey, size, node=f"{path.lower()}_end", status="completed", prefix=path):
            matured = rng.random() < 0.8
            taken = now - timedelta(days=rng.uniform(report.DEFAULT_GOAL_DAYS + 0.1, 60) if matured
                                    else rng.uniform(0, report.DEFAULT_GOAL_DAYS - 0.1))
            _step(s, journey, walk, "ab", path, taken)
            converted = rng.random() < rate[path]
            when = rng.choice(["inside", "after", "before"]) if converted else None
            if when == "inside":
                at = taken + timedelta(days=rng.uniform(0.01, report.DEFAULT_GOAL_DAYS - 0.01))
            elif when == "after":
                at = taken + timedelta(days=report.DEFAULT_GOAL_DAYS + 0.01)
            elif when == "before":
                at = taken - timedelta(hours=1)
            if when is not None:
                s.add(Event(contact_id=cid, name="demo_booked", properties={}, occurred_at=at))
            if rng.random() < 0.2:  # another event never counts
                s.add(Event(contact_id=cid, name="page_viewed", properties={}, occurred_at=taken + timedelta(hours=1)))
            if matured:
                expected[path][1] += 1
                expected[path][0] += when == "inside"
    return {k: (v[0], v[1]) for k, v in expected.items()}


@pytest.mark.parametrize("seed", range(6))
def test_split_statistics_are_the_ab_modules_own(services: Any, seed: int) -> None:
    rng = random.Random(seed)
    now = now_utc()
    with services.db.begin() as s:
        journey = _split_journey(s)
        counts = _split_case(s, journey, rng, now)
        s.flush()
        node = next(n for n in SPLIT_GRAPH["nodes"] if n["id"] == "ab")
        split = report.split_stats(s, journey, node, now)
    variants = [stats.VariantCounts(k, counts[k][1], counts[k][0]) for k in ("A", "B")]
    plan = stats.plan_test(report.DEFAULT_BASELINE_RATE, report.DEFAULT_MIN_LIFT, variants=2)
    own = stats.decide(["A", "B"], variants, plan, stats.NowState(now, now + timedelta(seconds=1))).to_dict()
    assert [(p["converted"], p["counted"]) for p in split["paths"]] == [counts["A"], counts["B"]]
    assert split["planned_per_path"] == plan.sends_per_variant
    assert split["decision"] == own  # rates, intervals, P(best), pairwise tests: the module's own
    for row, variant in zip(split["paths"], own["variants"], strict=True):
        assert row["interval"] == pytest.approx(variant["interval"])
        assert row["probability_best"] == variant["probability_best"]
    assert split["decision"]["status"] == "no_winner_yet"  # far below the planned size: never a winner early


def test_split_decides_at_the_planned_size(services: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # A plan the test can reach with little data: a 30% baseline and a doubling to detect.
    monkeypatch.setattr(report, "DEFAULT_BASELINE_RATE", 0.3)
    monkeypatch.setattr(report, "DEFAULT_MIN_LIFT", 1.0)
    plan = stats.plan_test(0.3, 1.0, variants=2)
    now = now_utc()
    taken = now - timedelta(days=report.DEFAULT_GOAL_DAYS + 1)
    with services.db.begin() as s:
        journey = _split_journey(s)
        for path, converting in (("A", 0.1), ("B", 0.9)):
            walks = _walks(s, journey, plan.sends_per_variant, node=f"{path.lower()}_end", status="completed",
                           prefix=path)
            for n, (cid, walk) in enumerate(walks):
                _step(s, journey, walk, "ab", path, taken)
                if n < round(converting * len(walks)):
                    s.add(Event(contact_id=cid, name="demo_booked", properties={}, occurred_at=taken + timedelta(days=1)))
        s.flush()
        node = next(n for n in SPLIT_GRAPH["nodes"] if n["id"] == "ab")
        split = report.split_stats(s, journey, node, now)
        stats_page = report.journey_stats(s, journey, now)
    decision = split["decision"]
    assert decision["status"] == "winner" and split["paths"][decision["winner_index"]]["key"] == "B"
    assert stats_page["nodes"]["ab"]["split"]["decision"]["status"] == "winner"


def test_split_without_its_own_goal_counts_the_journeys_goal(services: Any) -> None:
    now = now_utc()
    taken = now - timedelta(days=30)
    with services.db.begin() as s:
        journey = _split_journey(s)
        walks = _walks(s, journey, 4, node="a_end", status="completed")
        for n, (_, walk) in enumerate(walks):
            _step(s, journey, walk, "ab", "A", taken)
            if n < 2:  # two reached the journey's goal (converted) within the window, one long after
                row = s.get(JourneyEnrolment, walk)
                row.status = "converted"
                row.finished_at = taken + timedelta(days=1 if n == 0 else 2)
        late = s.get(JourneyEnrolment, walks[2][1])
        late.status, late.finished_at = "converted", taken + timedelta(days=20)
        s.flush()
        node = {"id": "ab", "type": "split", "paths": [{"key": "A", "percent": 50}, {"key": "B", "percent": 50}]}
        split = report.split_stats(s, journey, node, now)
    assert [(p["key"], p["converted"], p["counted"]) for p in split["paths"]] == [("A", 2, 4), ("B", 0, 0)]
    assert split["goal"]["kind"] == "journey_goal"
