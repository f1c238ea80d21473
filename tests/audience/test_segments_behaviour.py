"""Segments over behaviour and membership: event occurred / not within N days (with a property), opened /
clicked / did not open a broadcast or a sequence step (human hits only), list membership, score ranges.
The SQL agrees with a plain-Python reference on random data and random rule trees; run the file on SQLite
and on PostgreSQL."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select

from campaigns.audience.segments import SegmentError, count_segment, segment_contact_ids, validate_rules
from campaigns.models import (
    Broadcast,
    BroadcastStatus,
    Contact,
    ContactList,
    ContactListMember,
    ContactStatus,
    Event,
    Hit,
    HitClass,
    HitKind,
    Send,
    SendStatus,
    Sequence,
    SequenceStatus,
    Step,
)
from campaigns.suppression import suppress
from tests.audience.segment_helpers import ascii_lower, insert_contacts, random_condition, random_contact
from tests.audience.segment_helpers import matches as attribute_matches
from tests.factories import make_template

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
EVENT_NAMES = ["webinar_attended", "whitepaper_downloaded", "page_viewed"]
TOPICS = ["AI", "ai", "セキュリティ", "cloud", 5]


def _ago(rng: random.Random) -> datetime:
    return NOW - timedelta(minutes=rng.randint(0, 60 * 24 * 60))


@pytest.fixture
def world(services: Any) -> dict[str, Any]:
    """Random contacts with events, sends of two broadcasts and two sequence steps, classified hits, lists."""
    rng = random.Random(5)
    people = [random_contact(rng, i) for i in range(160)]
    with services.db.begin() as s:
        insert_contacts(s, people)
        template = make_template(s)
        version_id = template.current_version_id
        broadcasts = []
        for name in ("November news", "December news"):
            b = Broadcast(name=name, template_id=template.id, status=BroadcastStatus.SENT)
            s.add(b)
            s.flush()
            broadcasts.append(b.id)
        seq = Sequence(name="Follow-up", status=SequenceStatus.ACTIVE)
        s.add(seq)
        s.flush()
        steps = []
        for position in (1, 2):
            step = Step(sequence_id=seq.id, position=position, template_id=template.id)
            s.add(step)
            s.flush()
            steps.append(step.id)
        lists = []
        for name in ("Expo 2026", "VIP"):
            cl = ContactList(name=name)
            s.add(cl)
            s.flush()
            lists.append(cl.id)

        events, sends, hits, members = [], [], [], []
        for p in people:
            for _ in range(rng.choice([0, 0, 1, 2, 3])):
                props = {"topic": rng.choice(TOPICS)} if rng.random() < 0.6 else {}
                events.append({"contact_id": p["id"], "name": rng.choice(EVENT_NAMES), "properties": props,
                               "occurred_at": _ago(rng), "created_at": NOW})
            for list_id in lists:
                if rng.random() < 0.3:
                    members.append({"list_id": list_id, "contact_id": p["id"], "added_at": NOW})
            targets = [("broadcast_id", b) for b in broadcasts] + [("step_id", st) for st in steps]
            for key, target in targets:
                if rng.random() < 0.5:
                    continue
                status = rng.choice([SendStatus.SENT] * 4 + [SendStatus.QUEUED, SendStatus.FAILED])
                sends.append({"contact_id": p["id"], key: target, "template_version_id": version_id,
                              "status": status, "sent_at": _ago(rng) if status == SendStatus.SENT else None,
                              "created_at": NOW})
        s.execute(insert(Event), events)
        s.execute(insert(ContactListMember), members)
        s.execute(insert(Send), sends)
        send_rows = s.execute(select(Send.id, Send.contact_id, Send.broadcast_id, Send.step_id, Send.status,
                                     Send.sent_at)).all()
        for n, row in enumerate(r for r in send_rows if r.status == SendStatus.SENT):
            for _ in range(rng.choice([0, 0, 1, 2])):
                hits.append({
                    "event_id": f"e{n}-{len(hits)}", "kind": rng.choice(list(HitKind)), "send_id": row.id,
                    "contact_id": row.contact_id, "occurred_at": _ago(rng), "recorded_at": NOW,
                    "classification": rng.choice([HitClass.HUMAN, HitClass.HUMAN, HitClass.MACHINE_OPEN,
                                                  HitClass.SCANNER]),
                })
        if hits:
            s.execute(insert(Hit), hits)
        suppressed = rng.sample(people, 8)
        for p in suppressed:
            suppress(s, p["email"], "manual")
            p["suppressed"] = True
    by_send = {r.id: r for r in send_rows}
    # per-contact views so the reference stays fast (it is evaluated for every contact and tree)
    per: dict[str, dict[int, list[Any]]] = {"events": {}, "hits": {}, "sends": {}, "members": {}}
    for key, rows in (("events", events), ("hits", hits), ("members", members)):
        for row in rows:
            per[key].setdefault(row["contact_id"], []).append(row)
    for row in send_rows:
        per["sends"].setdefault(row.contact_id, []).append(row)
    return {"people": people, "by_send": by_send, "per": per,
            "broadcasts": broadcasts, "steps": steps, "lists": lists}


# ------------------------------------------------------------------ the Python reference
def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def ref_matches(w: dict[str, Any], p: dict[str, Any], node: dict[str, Any]) -> bool:
    if not node:
        return True
    if "all" in node:
        return all(ref_matches(w, p, n) for n in node["all"])
    if "any" in node:
        return any(ref_matches(w, p, n) for n in node["any"])
    since = NOW - timedelta(days=node["within_days"]) if node.get("within_days") else None
    if "event" in node:
        found = any(
            e["contact_id"] == p["id"] and e["name"] == node["event"]
            and (since is None or e["occurred_at"] >= since)
            and ("property" not in node or (
                _text(e["properties"].get(node["property"])) is not None
                and ascii_lower(_text(e["properties"][node["property"]]) or "") == ascii_lower(str(node["value"]))))
            for e in w["per"]["events"].get(p["id"], [])
        )
        return found == node.get("occurred", True)
    if "list_id" in node:
        found = any(m["list_id"] == node["list_id"] for m in w["per"]["members"].get(p["id"], []))
        return found == node.get("member", True)
    if "engagement" in node:
        kind = node["engagement"]

        def on_target(send: Any) -> bool:
            if "broadcast_id" in node:
                return send.broadcast_id == node["broadcast_id"]
            if "step_id" in node:
                return send.step_id == node["step_id"]
            return True

        kinds = {HitKind.CLICK} if kind.endswith("clicked") else {HitKind.OPEN, HitKind.CLICK}
        hit = any(
            h["contact_id"] == p["id"] and h["classification"] == HitClass.HUMAN and h["kind"] in kinds
            and on_target(w["by_send"][h["send_id"]]) and (since is None or h["occurred_at"] >= since)
            for h in w["per"]["hits"].get(p["id"], [])
        )
        if not kind.startswith("not_"):
            return hit
        delivered = any(
            sd.contact_id == p["id"] and sd.status == SendStatus.SENT and on_target(sd)
            and (since is None or sd.sent_at >= since)
            for sd in w["per"]["sends"].get(p["id"], [])
        )
        return delivered and not hit
    if node.get("op") == "between":
        low, high = node["value"]
        return low <= p["score"] <= high
    return attribute_matches(p, node)


def expected(w: dict[str, Any], rules: dict[str, Any]) -> set[int]:
    return {
        p["id"] for p in w["people"]
        if p["status"] == ContactStatus.ACTIVE and not p.get("suppressed") and ref_matches(w, p, rules)
    }


def random_behaviour(rng: random.Random, w: dict[str, Any]) -> dict[str, Any]:
    pick = rng.random()
    days = rng.choice([None, 7, 30, 45])
    if pick < 0.3:
        cond: dict[str, Any] = {"event": rng.choice(EVENT_NAMES), "occurred": rng.random() < 0.7}
        if rng.random() < 0.4:
            cond.update(property="topic", value=rng.choice(["ai", "AI", "セキュリティ", "5", "cloud"]))
    elif pick < 0.65:
        cond = {"engagement": rng.choice(["opened", "clicked", "not_opened", "not_clicked"])}
        target = rng.random()
        if target < 0.4:
            cond["broadcast_id"] = rng.choice(w["broadcasts"])
        elif target < 0.8:
            cond["step_id"] = rng.choice(w["steps"])
    elif pick < 0.85:
        cond = {"list_id": rng.choice(w["lists"]), "member": rng.random() < 0.7}
        days = None
    else:
        low = rng.randint(-5, 100)
        return {"field": "score", "op": "between", "value": [low, low + rng.randint(0, 50)]}
    if days is not None:
        cond["within_days"] = days
    return cond


def random_tree(rng: random.Random, w: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    items: list[Any] = []
    for _ in range(rng.randint(1, 3)):
        roll = rng.random()
        if depth < 2 and roll < 0.25:
            items.append(random_tree(rng, w, depth + 1))
        elif roll < 0.75:
            items.append(random_behaviour(rng, w))
        else:
            items.append(random_condition(rng))
    return {rng.choice(["all", "any"]): items}


# ------------------------------------------------------------------ tests
def test_random_behaviour_trees_agree_with_python_reference(services: Any, world: dict[str, Any]) -> None:
    rng = random.Random(11)
    everyone = len(expected(world, {}))
    partial = 0
    with services.db.begin() as s:
        for _ in range(250):
            rules = random_tree(rng, world)
            want = expected(world, rules)
            got = set(s.scalars(segment_contact_ids(rules, NOW)))
            assert got == want, json.dumps(rules, ensure_ascii=False)
            partial += 0 < len(want) < everyone
        assert count_segment(s, rules, NOW) == len(want)
    assert partial > 80  # the trees select real, partial subsets


EACH_KIND = [
    {"event": "webinar_attended", "within_days": 30},
    {"event": "webinar_attended", "occurred": False, "within_days": 30},
    {"event": "whitepaper_downloaded", "property": "topic", "value": "セキュリティ"},
    {"event": "page_viewed", "property": "topic", "value": 5},
    {"engagement": "opened", "broadcast_index": 0},
    {"engagement": "clicked", "step_index": 1},
    {"engagement": "not_opened", "broadcast_index": 1},
    {"engagement": "not_clicked", "within_days": 30},
    {"engagement": "clicked", "within_days": 30},
    {"list_index": 0},
    {"list_index": 1, "member": False},
    {"field": "score", "op": "between", "value": [20, 60]},
    {"field": "job_title", "op": "contains", "value": "部長"},
    {"field": "stage", "op": "in", "value": ["warm", "HOT"]},
    {"field": "timezone", "op": "eq", "value": "Asia/Tokyo"},
    {"field": "source", "op": "eq", "value": "web"},
]


def test_each_condition_kind_selects_a_real_subset(services: Any, world: dict[str, Any]) -> None:
    """One world for all kinds (building it is the slow part of this file)."""
    everyone = len(expected(world, {}))
    with services.db.begin() as s:
        for template in EACH_KIND:
            cond = dict(template)
            for key, pool in (("broadcast_index", "broadcasts"), ("step_index", "steps"), ("list_index", "lists")):
                if key in cond:
                    cond[key.replace("_index", "_id")] = world[pool][cond.pop(key)]
            rules = {"all": [cond]}
            want = expected(world, rules)
            assert set(s.scalars(segment_contact_ids(rules, NOW))) == want, cond
            assert 0 < len(want) < everyone, cond


def test_machine_opens_and_scanner_clicks_never_count(services: Any) -> None:
    """A contact whose only hits are an Apple MPP prefetch and a security-gateway click has not opened."""
    with services.db.begin() as s:
        template = make_template(s)
        b = Broadcast(name="B", template_id=template.id, status=BroadcastStatus.SENT)
        people = [Contact(email=f"h{i}@example.jp") for i in range(3)]
        s.add_all([b, *people])
        s.flush()
        plan = [
            [(HitClass.MACHINE_OPEN, HitKind.OPEN), (HitClass.SCANNER, HitKind.CLICK)],
            [(HitClass.HUMAN, HitKind.CLICK)],
            [],
        ]
        for person, person_hits in zip(people, plan, strict=True):
            send = Send(contact_id=person.id, broadcast_id=b.id, template_version_id=template.current_version_id,
                        status=SendStatus.SENT, sent_at=NOW - timedelta(days=1))
            s.add(send)
            s.flush()
            for klass, kind in person_hits:
                s.add(Hit(event_id=f"x{person.id}{kind}", kind=kind, send_id=send.id, contact_id=person.id,
                          occurred_at=NOW - timedelta(hours=1), classification=klass))
        s.flush()
        ids = [p.id for p in people]

        def who(kind: str) -> set[int]:
            return set(s.scalars(segment_contact_ids({"all": [{"engagement": kind, "broadcast_id": b.id}]}, NOW)))

        assert who("opened") == {ids[1]}  # a human click implies an open
        assert who("clicked") == {ids[1]}
        assert who("not_opened") == {ids[0], ids[2]}


@pytest.mark.parametrize(("rules", "message"), [
    ({"all": [{"event": ""}]}, "event name"),
    ({"all": [{"event": "x", "within_days": 0}]}, "within_days"),
    ({"all": [{"event": "x", "within_days": "30"}]}, "within_days"),
    ({"all": [{"event": "x", "occurred": "yes"}]}, "true or false"),
    ({"all": [{"event": "x", "property": "a.b", "value": 1}]}, "property"),
    ({"all": [{"event": "x", "colour": "red"}]}, "unknown key"),
    ({"all": [{"engagement": "forwarded"}]}, "engagement must be"),
    ({"all": [{"engagement": "opened", "broadcast_id": 1, "step_id": 2}]}, "not both"),
    ({"all": [{"engagement": "opened", "broadcast_id": -3}]}, "positive"),
    ({"all": [{"list_id": "vip"}]}, "positive"),
    ({"all": [{"field": "score", "op": "between", "value": [10]}]}, "low, high"),
    ({"all": [{"field": "score", "op": "between", "value": [10, 1]}]}, "low <= high"),
    ({"all": [{"field": "stage", "op": "in", "value": ["warm", "boiling"]}]}, "unknown stage"),
])
def test_bad_behaviour_conditions_are_refused_with_a_reason(rules: Any, message: str) -> None:
    with pytest.raises(SegmentError, match=message):
        validate_rules(rules)


def test_references_to_missing_lists_broadcasts_and_steps_are_named(services: Any) -> None:
    with services.db.begin() as s:
        for rules, message in [
            ({"all": [{"list_id": 999}]}, "list 999 does not exist"),
            ({"all": [{"engagement": "opened", "broadcast_id": 998}]}, "broadcast 998 does not exist"),
            ({"all": [{"engagement": "clicked", "step_id": 997}]}, "sequence step 997 does not exist"),
        ]:
            with pytest.raises(SegmentError, match=message):
                validate_rules(rules, s)
        validate_rules({"all": [{"list_id": 999}]})  # without a session only the shape is checked
