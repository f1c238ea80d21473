"""The journey service (campaigns.automation.service): drafts, publishing as versions with moved and exited
walks and nothing resent, status changes, enrolment rules, tests with shortened waits, a walk's path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from campaigns.automation.graph import GraphError
from campaigns.automation.service import (
    JourneyError,
    archive,
    contact_path,
    create_journey,
    duplicate,
    enrol_contacts,
    enrol_segment,
    pause,
    publish,
    publish_impact,
    resume,
    start_test,
    update_draft,
)
from campaigns.db import dialect_insert
from campaigns.models import (
    ContactStatus,
    JourneyEnrolment,
    JourneyEnrolmentStatus,
    JourneyStatus,
    JourneyStep,
    JourneyVersion,
    Segment,
    Send,
    Suppression,
)
from tests.factories import linear_graph, make_contact, make_contacts, make_journey, make_template

NOW = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)


def _walks(session, journey) -> dict[int, JourneyEnrolment]:
    return {w.contact_id: w for w in session.scalars(select(JourneyEnrolment).where(
        JourneyEnrolment.journey_id == journey.id).order_by(JourneyEnrolment.id))}


def test_create_edit_and_publish_a_draft(session):
    journey = create_journey(session, "  Onboarding  ")
    assert (journey.name, journey.status, journey.draft_graph["nodes"]) == ("Onboarding", JourneyStatus.DRAFT, [])
    assert journey.settings["max_visits"] == 3
    with pytest.raises(GraphError, match="the journey has no nodes yet"):
        publish(session, journey)
    graph = linear_graph([make_template(session).id, make_template(session, "Second").id])
    update_draft(session, journey, graph=graph, settings={"reentry": True}, description="For new leads")
    assert journey.draft_graph["start"] == "s1" and journey.settings["reentry"] is True
    with pytest.raises(GraphError, match='node "s9"'):
        update_draft(session, journey, graph={**graph, "nodes": [*graph["nodes"], {"id": "s9", "type": "end"}]})
    assert [n["id"] for n in journey.draft_graph["nodes"]] == ["s1", "w1", "s2"]  # refused edits change nothing
    with pytest.raises(JourneyError, match="needs a name"):
        update_draft(session, journey, name=" ")
    version = publish(session, journey, published_by="mika@example.jp", now=NOW)
    assert (version.number, journey.status, journey.live_version_id) == (1, JourneyStatus.LIVE, version.id)
    assert version.graph == journey.draft_graph and version.published_by == "mika@example.jp"
    assert publish(session, journey).number == 2


def test_enrolment_starts_at_the_start_node_due_now_with_a_path_row(session):
    journey = make_journey(session)
    contacts = make_contacts(session, 3)
    unsubscribed = make_contact(session, status=ContactStatus.UNSUBSCRIBED)
    suppressed = make_contact(session, "Blocked@Example.jp")
    session.add(Suppression(email="blocked@example.jp", reason="manual"))
    session.flush()
    ids = [c.id for c in contacts] + [unsubscribed.id, suppressed.id, contacts[0].id]
    assert enrol_contacts(session, journey, ids, "manual", context={"paper": "guide"}, now=NOW) == 3
    walks = _walks(session, journey)
    assert set(walks) == {c.id for c in contacts}
    walk = walks[contacts[0].id]
    assert (walk.node_key, walk.due_at, walk.visit, walk.visits, walk.cycle) == ("s1", NOW, 1, {"s1": 1}, 1)
    assert (walk.version_id, walk.status, walk.context, walk.test) == (
        journey.live_version_id, JourneyEnrolmentStatus.ACTIVE, {"paper": "guide"}, False)
    path = contact_path(session, walk)
    assert [(p["node"], p["type"], p["visit"], p["entered_at"], p["left_at"]) for p in path] == [
        ("s1", "send", 1, NOW, None)]
    # no re-entry by default: once in, never again; with re-entry, again after the walk ended
    assert enrol_contacts(session, journey, [contacts[0].id], "manual") == 0
    walk.status = JourneyEnrolmentStatus.COMPLETED
    session.flush()
    assert enrol_contacts(session, journey, [contacts[0].id], "manual") == 0
    update_draft(session, journey, settings={"reentry": True})
    publish(session, journey)
    assert enrol_contacts(session, journey, [contacts[0].id, contacts[1].id], "manual") == 1  # 1 is still active
    cycles = session.scalars(select(JourneyEnrolment.cycle).where(JourneyEnrolment.contact_id == contacts[0].id)
                             .order_by(JourneyEnrolment.cycle)).all()
    assert cycles == [1, 2]


def test_only_live_journeys_take_contacts(session):
    contact = make_contact(session)
    draft = make_journey(session, publish=False)
    with pytest.raises(JourneyError, match="only be enrolled in a live journey"):
        enrol_contacts(session, draft, [contact.id], "manual")
    live = make_journey(session)
    pause(session, live)
    with pytest.raises(JourneyError, match="this one is paused"):
        enrol_contacts(session, live, [contact.id], "manual")
    resume(session, live)
    assert enrol_contacts(session, live, [contact.id], "manual") == 1
    with pytest.raises(JourneyError):
        resume(session, live)


def test_enrol_a_segment(session):
    journey = make_journey(session)
    make_contacts(session, 3, prefix="acme", company="Acme")
    make_contacts(session, 2, prefix="other", company="Other")
    segment = Segment(name="Acme", rules={"all": [{"field": "company", "op": "eq", "value": "acme"}]})
    session.add(segment)
    session.flush()
    assert enrol_segment(session, journey, segment.id) == 3
    assert enrol_segment(session, journey, segment.id) == 0
    assert {w.source for w in _walks(session, journey).values()} == {f"segment:{segment.id}"}
    # each path: the start node, where the walk is now (the log gets its row when the walk leaves), and why
    assert {tuple((p["node"], p["left_at"], p["detail"]) for p in contact_path(session, w))
            for w in _walks(session, journey).values()} == {(("s1", None, f"entered: segment:{segment.id}"),)}
    assert session.scalar(select(func.count()).select_from(JourneyStep)) == 0


def _branching(session) -> dict:
    t1, t2, t3 = (make_template(session, n).id for n in ("One", "Two", "Three"))
    return {
        "start": "a", "layout": {},
        "nodes": [{"id": "a", "type": "send", "template_id": t1}, {"id": "w", "type": "wait", "wait": {"minutes": 60}},
                  {"id": "b", "type": "send", "template_id": t2}, {"id": "c", "type": "send", "template_id": t3}],
        "edges": [{"from": "a", "exit": "next", "to": "w"}, {"from": "w", "exit": "next", "to": "b"},
                  {"from": "b", "exit": "next", "to": "c"}],
    }


def test_publish_moves_walks_at_removed_nodes_and_resends_nothing(session):
    graph = _branching(session)
    journey = make_journey(session, graph)
    first = journey.live_version_id
    at_a, at_w, at_b, at_c = make_contacts(session, 4)
    enrol_contacts(session, journey, [at_a.id, at_w.id, at_b.id, at_c.id], "manual", now=NOW)
    walks = _walks(session, journey)
    # place the walks as the engine would have: a's mail sent (ledger row), the others further on
    tv = make_template(session, "ledger").current_version_id
    for contact, node in ((at_a, "a"), (at_b, "a"), (at_b, "b")):
        session.add(Send(contact_id=contact.id, journey_enrolment_id=walks[contact.id].id, node_key=node, visit=1,
                         template_version_id=tv))
    for contact, node, visited in ((at_w, "w", "aw"), (at_b, "b", "awb"), (at_c, "c", "awbc")):
        walk = walks[contact.id]
        walk.node_key, walk.visits = node, dict.fromkeys(visited, 1)
    walks[at_w.id].due_at = NOW + timedelta(minutes=60)
    session.flush()

    # the new version drops b and c and adds d after the wait
    new = {**graph, "nodes": [graph["nodes"][0], graph["nodes"][1], {"id": "d", "type": "end"}],
           "edges": [graph["edges"][0], {"from": "w", "exit": "next", "to": "d"}]}
    update_draft(session, journey, graph=new)
    assert publish_impact(session, journey, new) == {"b": 1, "c": 1}
    with pytest.raises(JourneyError, match='1 contacts are at node "b", which this version removes'):
        publish(session, journey, moves={"c": "exit"})
    with pytest.raises(JourneyError, match='cannot move to "zz"'):
        publish(session, journey, moves={"b": "zz", "c": "exit"})
    with pytest.raises(JourneyError, match='node "w" is not removed'):
        publish(session, journey, moves={"w": "exit", "b": "d", "c": "exit"})
    later = NOW + timedelta(minutes=5)
    version = publish(session, journey, moves={"b": "a", "c": "exit"}, now=later)
    assert version.number == 2 and version.moves == {"b": "a", "c": "exit"}
    session.expire_all()
    walks = _walks(session, journey)
    # carried on: same node, visit, due time, on the new version
    assert (walks[at_a.id].node_key, walks[at_a.id].version_id, walks[at_a.id].due_at) == ("a", version.id, NOW)
    assert (walks[at_w.id].node_key, walks[at_w.id].due_at) == ("w", NOW + timedelta(minutes=60))
    # moved back to a, which it entered before: same visit, so its mail there cannot go twice
    moved = walks[at_b.id]
    assert (moved.node_key, moved.visit, moved.due_at, moved.version_id) == ("a", 1, later, version.id)
    exited = walks[at_c.id]
    assert (exited.status, exited.exit_reason, exited.finished_at) == (
        JourneyEnrolmentStatus.EXITED, "node c removed", later)
    assert [(p["node"], p["exit"], p["detail"]) for p in contact_path(session, moved)] == [
        ("b", "moved", "version 2: moved to a"), ("a", "", "")]  # the node left (logged), then where it is
    assert contact_path(session, exited)[-1]["exit"] == "removed"
    assert first != version.id

    # nothing already sent is sent again: the ledger refuses a second row for (walk, node, visit)
    for walk in (walks[at_a.id], moved):
        with pytest.raises(IntegrityError), session.begin_nested():
            session.add(Send(contact_id=walk.contact_id, journey_enrolment_id=walk.id, node_key=walk.node_key,
                             visit=walk.visit, template_version_id=tv))
            session.flush()
    row = {"contact_id": at_b.id, "journey_enrolment_id": moved.id, "node_key": "a", "visit": 1,
           "template_version_id": tv, "status": "queued", "variant": "", "attempts": 0, "error": "",
           "possible_duplicate": False}
    session.execute(dialect_insert(session, Send).values(row).on_conflict_do_nothing())  # the engine's insert
    session.execute(dialect_insert(session, Send).values(row).on_conflict_do_nothing())
    assert session.scalar(select(func.count()).select_from(Send).where(
        Send.journey_enrolment_id.in_([walks[at_a.id].id, moved.id]))) == 3  # the rows written before the publish


def test_archive_exits_active_walks_and_keeps_history(session):
    journey = make_journey(session)
    contacts = make_contacts(session, 2)
    enrol_contacts(session, journey, [c.id for c in contacts], "manual")
    assert archive(session, journey, now=NOW) == 2
    walks = _walks(session, journey).values()
    assert {(w.status, w.exit_reason, w.due_at) for w in walks} == {(JourneyEnrolmentStatus.EXITED, "archived", None)}
    assert {p["exit"] for w in walks for p in contact_path(session, w)} == {"archived"}
    assert journey.status == JourneyStatus.ARCHIVED
    for refused in (lambda: publish(session, journey), lambda: update_draft(session, journey, name="X"),
                    lambda: pause(session, journey)):
        with pytest.raises(JourneyError):
            refused()
    copy = duplicate(session, journey)
    assert (copy.name, copy.status, copy.draft_graph, copy.live_version_id) == (
        "Scenario (copy)", JourneyStatus.DRAFT, journey.draft_graph, None)


def test_a_test_walk_uses_a_shortened_snapshot_of_the_draft(session):
    graph = _branching(session)
    graph["nodes"].insert(3, {"id": "wf", "type": "wait_for", "until": {"kind": "click", "node": "b"},
                              "timeout": {"minutes": 10080}})
    graph["edges"][2] = {"from": "b", "exit": "next", "to": "wf"}
    graph["edges"].append({"from": "wf", "exit": "timeout", "to": "c"})
    journey = make_journey(session, graph, publish=False)
    walk = start_test(session, journey, "Marketer@Example.jp", now=NOW)
    version = session.get(JourneyVersion, walk.version_id)
    assert version.number == 0 and journey.status == JourneyStatus.DRAFT and journey.live_version_id is None
    nodes = {n["id"]: n for n in version.graph["nodes"]}
    assert nodes["w"]["wait"] == {"minutes": 1} and nodes["wf"]["timeout"] == {"minutes": 1}
    assert journey.draft_graph["nodes"][1]["wait"] == {"minutes": 60}  # the draft itself is unchanged
    assert (walk.test, walk.node_key, walk.due_at, walk.source) == (True, "a", NOW, "test")
    again = start_test(session, journey, "marketer@example.jp", now=NOW)
    assert session.get(JourneyVersion, again.version_id).number == -1
    session.refresh(walk)
    assert (walk.status, walk.exit_reason, again.cycle) == (JourneyEnrolmentStatus.EXITED, "test restarted", 2)
    # a publish leaves test walks alone (they walk their own snapshot), and they do not count as impact
    update_draft(session, journey, graph=linear_graph([make_template(session).id]))
    publish(session, journey)
    assert session.get(JourneyEnrolment, again.id).version_id == again.version_id
    # test walks do not block a real enrolment of the same contact
    assert enrol_contacts(session, journey, [again.contact_id], "manual") == 1
    with pytest.raises(JourneyError, match="not a valid email address"):
        start_test(session, journey, "not an address")
    blocked = make_contact(session, "gone@example.jp", status=ContactStatus.UNSUBSCRIBED)
    with pytest.raises(JourneyError, match="cannot receive the test"):
        start_test(session, journey, blocked.email)
