"""Journeys and website visits: "visited <pattern>" as an entry trigger, a wait_for and a branch condition,
through the real engine tick (the web_visits cursor). People only, known contacts only; the graph validator
refuses a bad page pattern with its reason."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from campaigns.automation.graph import GraphError, validate_graph
from campaigns.db import now_utc
from campaigns.models import JourneyEnrolment
from tests.automation.engine_helpers import enrol, path, publish, tick, walk
from tests.factories import make_contact, make_visit, make_visitor


def _contacts(services: Any, count: int) -> list[int]:
    with services.db.begin() as s:
        return [make_contact(s, f"visitor{i}@example.jp").id for i in range(count)]


def _visit(services: Any, contact_id: int | None, page: str, human: bool = True) -> None:
    with services.db.begin() as s:
        make_visit(s, make_visitor(s, contact_id), page, human=human)


def test_wait_for_a_visit_then_branch_on_visits(app, services):
    with services.db.begin() as s:
        journey = publish(s, {
            "start": "ask", "nodes": [
                {"id": "ask", "type": "wait_for", "until": {"kind": "visit", "page": "/pricing*"},
                 "timeout": {"minutes": 60}},
                {"id": "which", "type": "branch", "branches": [
                    {"key": "cases", "label": "Read case studies", "condition": {"rules": {"all": [
                        {"visited": "/case-studies/*", "within_days": 30}]}}}]},
                {"id": "a", "type": "action", "action": {"kind": "set_attribute", "key": "path", "value": "cases"}},
                {"id": "b", "type": "action", "action": {"kind": "set_attribute", "key": "path", "value": "else"}}],
            "edges": [{"from": "ask", "exit": "happened", "to": "which"},
                      {"from": "which", "exit": "cases", "to": "a"}, {"from": "which", "exit": "else", "to": "b"}]})
        jid = journey.id
    reader, pricing_only, bot_only = _contacts(services, 3)
    tick(services)  # the visits cursor starts at the present
    enrol(services, jid, [reader, pricing_only, bot_only])
    tick(services)
    _visit(services, reader, "/case-studies/tokyo")
    _visit(services, reader, "/Pricing/enterprise")
    _visit(services, pricing_only, "/pricing")
    _visit(services, bot_only, "/pricing", human=False)
    counts = tick(services)
    assert counts["happened"] == 2
    assert path(services, walk(services, jid, reader).id)[-2:] == [("which", "cases"), ("a", "next")]
    assert path(services, walk(services, jid, pricing_only).id)[-2:] == [("which", "else"), ("b", "next")]
    assert walk(services, jid, bot_only).waiting  # a bot's visit is not the person's


def test_visit_entry_trigger_starts_a_walk_per_visit(app, services):
    with services.db.begin() as s:
        journey = publish(s, {"start": "tag", "nodes": [
            {"id": "tag", "type": "action", "action": {"kind": "set_attribute", "key": "saw", "value": "pricing"}}],
            "edges": []}, settings={"entry": [{"kind": "visit", "page": "www.acme.test/pricing*"}],
                                    "reentry": False})
        jid = journey.id
    lead, other = _contacts(services, 2)
    tick(services)
    _visit(services, lead, "/pricing")
    _visit(services, other, "/blog/ai")
    _visit(services, None, "/pricing")  # anonymous: nobody to enrol
    counts = tick(services)
    assert counts["enrolled"] == 1
    with services.db.factory() as s:
        walks = s.execute(select(JourneyEnrolment.contact_id, JourneyEnrolment.status)
                          .where(JourneyEnrolment.journey_id == jid)).all()
    assert [c for c, _status in walks] == [lead]
    _visit(services, lead, "/pricing/")  # again: re-entry is off, so no second walk
    tick(services, now_utc() + timedelta(seconds=1))
    with services.db.factory() as s:
        assert list(s.scalars(select(JourneyEnrolment.contact_id).where(JourneyEnrolment.journey_id == jid))) == [lead]


@pytest.mark.parametrize("node, message", [
    ({"id": "w", "type": "wait_for", "until": {"kind": "visit", "page": "/a b"}, "timeout": {"minutes": 5}},
     "page pattern"),
    ({"id": "w", "type": "wait_for", "until": {"kind": "visit"}, "timeout": {"minutes": 5}}, "page"),
    ({"id": "b", "type": "branch", "branches": [{"key": "x", "condition": {"rules": {"all": [
        {"visited": "/p", "at_least": 0}]}}}]}, "number of visits"),
])
def test_graph_refuses_bad_visit_kinds(node, message):
    with pytest.raises(GraphError) as err:
        validate_graph(None, {"start": node["id"], "nodes": [node], "edges": []})
    assert message in str(err.value)
