"""Journey actions that reach the scoring stage without leaking into the marketer's scoring pages: add_score
writes score ledger entries with no scoring rule (their cause names the journey and node), a webhook node is
signed with the journey's own secret (no hand-over trigger); and the walk write's compare-and-set on the
version a publish may have moved a walk to."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from campaigns.automation.walks import LostRace, walk_from_row, walks_query, write_moves
from campaigns.db import now_utc
from campaigns.insights.timeline import contact_timeline
from campaigns.models import (
    Contact,
    Journey,
    JourneyEnrolment,
    ScoreEntry,
    ScoreTrigger,
    ScoringRule,
    WebhookDelivery,
)
from campaigns.scoring import engine as scoring
from campaigns.scoring.history import score_history
from tests.automation.engine_helpers import enrol, publish, tick, walk
from tests.conftest import run_jobs
from tests.factories import make_contact
from tests.scoring.test_webhooks import Receiver


def _count(services: Any, model: Any) -> int:
    with services.db.factory() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_add_score_gives_points_without_a_scoring_rule(app, services):
    with services.db.begin() as s:
        journey = publish(s, {"start": "hot", "nodes": [
            {"id": "hot", "type": "action", "name": "Pricing interest", "action": {"kind": "add_score", "points": 15}}],
            "edges": []}, name="Onboarding")
        jid = journey.id
        ids = [make_contact(s, f"lead{i}@example.jp").id for i in range(3)]
    enrol(services, jid, ids)
    assert tick(services)["action_add_score"] == 3
    tick(services)  # nothing is due any more: the points are not given twice
    assert _count(services, ScoringRule) == 0  # nothing on the marketer's rule list
    with services.db.factory() as s:
        entries = s.scalars(select(ScoreEntry).order_by(ScoreEntry.contact_id)).all()
        assert [(e.contact_id, e.points, e.rule_id, e.source) for e in entries] == [
            (c, 15, None, "journey") for c in ids]
        assert all(e.cause == "“Onboarding” › Pricing interest" for e in entries)
        assert {e.source_ref for e in entries} == {f"{walk(services, jid, c).id}:hot:1" for c in ids}
    with services.db.begin() as s:
        scoring.score_new(s, now_utc())  # the scoring run claims them and refreshes the scores
    with services.db.begin() as s:
        assert [c.score for c in s.scalars(select(Contact).order_by(Contact.id))] == [15, 15, 15]
        history = score_history(s, ids[0])
        assert [(h["rule"], h["kind"], h["points"]) for h in history] == [
            ("“Onboarding” › Pricing interest", "journey", 15)]
        items = [i for i in contact_timeline(s, ids[0], ZoneInfo("Asia/Tokyo")).items if i.kind == "score"]
        assert [(i.text, i.params, i.detail) for i in items] == [
            ("journey %(cause)s", {"cause": "“Onboarding” › Pricing interest"}, "")]
        scoring.recompute(s, now_utc())  # journey points are facts, not derived from events by rules: kept
    with services.db.factory() as s:
        assert [c.score for c in s.scalars(select(Contact).order_by(Contact.id))] == [15, 15, 15]


def test_webhook_node_is_signed_with_the_journeys_own_secret(app, services):
    with Receiver([200]) as receiver:
        with services.db.begin() as s:
            journey = publish(s, {"start": "crm", "nodes": [
                {"id": "crm", "type": "action", "action": {"kind": "webhook", "url": receiver.url}}], "edges": []})
            jid = journey.id
            contact_id = make_contact(s, "hanako@client.co.jp").id
        enrol(services, jid, [contact_id])
        assert tick(services)["action_webhook"] == 1
        assert _count(services, ScoreTrigger) == 0  # no hand-over trigger made for it
        with services.db.factory() as s:
            delivery = s.scalars(select(WebhookDelivery)).one()
            secret = s.get(Journey, jid).webhook_secret
            assert (delivery.journey_id, delivery.trigger_id, delivery.url) == (jid, None, receiver.url)
        assert secret
        assert run_jobs(app) == 1  # the pass enqueued the delivery after its commit
        [request] = receiver.requests
    parts = dict(item.split("=", 1) for item in request["headers"]["Nurture-Signature"].split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + request["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected)
    assert b'"journey"' in request["body"] and b"hanako@client.co.jp" in request["body"]


def test_a_walk_moved_to_a_new_version_is_not_written_by_a_pass_that_read_the_old_one(app, services):
    """A publish moves a walk to the new version under the same node key and visit while a pass holds what it
    read before: the pass's compare-and-set (id, node, visit AND version) misses, and the pass rolls back."""
    with services.db.begin() as s:
        journey = publish(s, {"start": "a", "nodes": [
            {"id": "a", "type": "action", "action": {"kind": "set_attribute", "key": "x", "value": "1"}}],
            "edges": []})
        jid = journey.id
        contact_id = make_contact(s).id
    enrol(services, jid, [contact_id])
    walk_id = walk(services, jid, contact_id).id
    with services.db.factory() as s:
        [read] = [walk_from_row(r) for r in s.execute(walks_query(s).where(JourneyEnrolment.id == walk_id))]
    with services.db.begin() as s:  # what a publish does to a walk at a kept node
        s.execute(update(JourneyEnrolment).where(JourneyEnrolment.id == walk_id)
                  .values(version_id=JourneyEnrolment.version_id + 1000))
    read.finish("completed", "", now_utc(), exit="end")
    with services.db.begin() as s:
        assert write_moves(s, [read], strict=False) == set()
        with pytest.raises(LostRace):
            write_moves(s, [read], strict=True)
    assert walk(services, jid, contact_id).status == "active"
