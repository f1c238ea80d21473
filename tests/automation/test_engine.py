"""The journey engine end to end: mails through the real sender (aiosmtpd), opens and clicks through the real
pixel and click endpoints (a machine open never takes the "opened" exit), every node type, events posted
through the API, exactly once when an event and a timeout race."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from campaigns import scheduler
from campaigns.automation import engine
from campaigns.db import now_utc
from campaigns.models import (
    Contact,
    ContactList,
    ContactListMember,
    Event,
    Hit,
    HitClass,
    JourneyEnrolment,
    ScoreEntry,
    Send,
    SendStatus,
    StageChange,
    WebhookDelivery,
)
from campaigns.scoring.engine import score_new
from tests.automation.engine_helpers import (
    click_mail,
    deliver,
    enrol,
    later,
    open_mail,
    path,
    publish,
    sends_of,
    template,
    tick,
    walk,
)
from tests.factories import make_contact
from tests.tracking_helpers import IP_APPLE, IP_HOME_JP, UA_APPLE_MAIL, UA_CHROME


def html_of(mail: Any) -> str:
    return mail.message.get_body(("html",)).get_content()


def _contacts(services: Any, count: int) -> list[int]:
    with services.db.begin() as s:
        return [make_contact(s, f"lead{i}@example.jp", first_name=f"Lead{i}").id for i in range(count)]


def test_mail_then_wait_for_open_human_moves_machine_times_out(app, services, client, smtp_server):
    with services.db.begin() as s:
        tid = template(s)
        members = ContactList(name="Opened the case study")
        s.add(members)
        s.flush()
        journey = publish(s, {
            "start": "mail", "nodes": [
                {"id": "mail", "type": "send", "template_id": tid},
                {"id": "opened", "type": "wait_for", "until": {"kind": "open", "node": "mail"},
                 "timeout": {"minutes": 60}},
                {"id": "tag", "type": "action", "action": {"kind": "add_to_list", "list_id": members.id}},
                {"id": "done", "type": "end"}],
            "edges": [{"from": "mail", "exit": "next", "to": "opened"},
                      {"from": "opened", "exit": "happened", "to": "tag"},
                      {"from": "opened", "exit": "timeout", "to": "done"},
                      {"from": "tag", "exit": "next", "to": "done"}]})
        jid, list_id = journey.id, members.id
    human, machine = _contacts(services, 2)
    assert enrol(services, jid, [human, machine]) == 2
    counts = tick(services)
    assert counts["planned"] == 2 and counts["enqueued"] == 2
    deliver(app)
    mails = {m.message["To"].split("<")[-1].rstrip(">"): m for m in smtp_server.wait_for(2)}
    assert len(mails) == 2
    # The same delivery as any campaign mail: an unsubscribe header, the legal footer, tracked links.
    sample = mails["lead0@example.jp"]
    assert sample.message["List-Unsubscribe"] and "Acme" in html_of(sample)
    assert sends_of(services, walk(services, jid, human).id)[0].status == SendStatus.SENT

    open_mail(client, app, html_of(mails["lead0@example.jp"]), UA_CHROME, IP_HOME_JP)
    open_mail(client, app, html_of(mails["lead1@example.jp"]), UA_APPLE_MAIL, IP_APPLE)
    with services.db.factory() as s:
        classes = {h.contact_id: h.classification for h in s.scalars(select(Hit))}
    assert classes == {human: HitClass.HUMAN, machine: HitClass.MACHINE_OPEN}

    tick(services)
    w_human, w_machine = walk(services, jid, human), walk(services, jid, machine)
    assert w_human.status == "completed"
    assert path(services, w_human.id) == [("mail", "next"), ("opened", "happened"), ("tag", "next"), ("done", "end")]
    assert w_machine.status == "active" and w_machine.node_key == "opened" and w_machine.waiting
    with services.db.factory() as s:
        assert set(s.scalars(select(ContactListMember.contact_id).where(ContactListMember.list_id == list_id))) == {human}

    tick(services, later(61))  # the timeout
    w_machine = walk(services, jid, machine)
    assert w_machine.status == "completed"
    assert path(services, w_machine.id) == [("mail", "next"), ("opened", "timeout"), ("done", "end")]


def test_branch_on_clicked_previous_mail_and_on_segment_rules_in_sql(app, services, client, smtp_server):
    with services.db.begin() as s:
        tid = template(s)
        journey = publish(s, {
            "start": "mail", "nodes": [
                {"id": "mail", "type": "send", "template_id": tid},
                {"id": "pause", "type": "wait", "wait": {"minutes": 30}},
                {"id": "which", "type": "branch", "branches": [
                    {"key": "clicked", "label": "Clicked", "condition": {"previous_mail": "clicked"}},
                    {"key": "big", "label": "Large company", "condition": {"rules": {"all": [
                        {"field": "attributes.employees", "op": "gt", "value": 500}]}}}]},
                {"id": "a", "type": "action", "action": {"kind": "set_attribute", "key": "path", "value": "clicked"}},
                {"id": "b", "type": "action", "action": {"kind": "set_attribute", "key": "path", "value": "big"}},
                {"id": "c", "type": "action", "action": {"kind": "set_attribute", "key": "path", "value": "else"}}],
            "edges": [{"from": "mail", "exit": "next", "to": "pause"}, {"from": "pause", "exit": "next", "to": "which"},
                      {"from": "which", "exit": "clicked", "to": "a"}, {"from": "which", "exit": "big", "to": "b"},
                      {"from": "which", "exit": "else", "to": "c"}]})
        jid = journey.id
        clicker = make_contact(s, "clicker@example.jp", attributes={"employees": 1000}).id
        big = make_contact(s, "big@example.jp", attributes={"employees": 800}).id
        small = make_contact(s, "small@example.jp", attributes={"employees": 20}).id
    enrol(services, jid, [clicker, big, small])
    tick(services)
    deliver(app)
    mails = {m.message["To"].split("<")[-1].rstrip(">"): m for m in smtp_server.wait_for(3)}
    click_mail(client, app, html_of(mails["clicker@example.jp"]), "case-study", UA_CHROME, IP_HOME_JP)
    tick(services, later(31))
    with services.db.factory() as s:
        paths = {c.email: c.attributes.get("path") for c in s.scalars(select(Contact))}
    assert paths == {"clicker@example.jp": "clicked", "big@example.jp": "big", "small@example.jp": "else"}
    assert dict(path(services, walk(services, jid, clicker).id))["which"] == "clicked"


def test_wait_for_event_posted_through_the_api_and_its_timeout(app, services, client, api_key):
    with services.db.begin() as s:
        tid = template(s)
        journey = publish(s, {
            "start": "ask", "nodes": [
                {"id": "ask", "type": "wait_for", "until": {"kind": "event", "name": "webinar_attended",
                                                            "where": {"webinar": "2026-12"}},
                 "timeout": {"minutes": 10}},
                {"id": "thanks", "type": "send", "template_id": tid},
                {"id": "missed", "type": "action", "action": {"kind": "add_score", "points": -5}}],
            "edges": [{"from": "ask", "exit": "happened", "to": "thanks"},
                      {"from": "ask", "exit": "timeout", "to": "missed"}]})
        jid = journey.id
    came, other, away = _contacts(services, 3)
    enrol(services, jid, [came, other, away])
    tick(services)  # all three wait now
    headers = {"Authorization": f"Bearer {api_key}"}
    for email, webinar in (("lead0@example.jp", "2026-12"), ("lead1@example.jp", "2025-01")):
        resp = client.post("/api/v1/events", json={"email": email, "name": "webinar_attended",
                                                   "properties": {"webinar": webinar}}, headers=headers)
        assert resp.status_code == 202, resp.get_json()
    counts = tick(services)
    assert counts["happened"] == 1 and counts["planned"] == 1  # moved and the next mail planned in one tick
    assert walk(services, jid, came).status == "completed"
    assert [s.node_key for s in sends_of(services, walk(services, jid, came).id)] == ["thanks"]
    assert walk(services, jid, other).waiting  # the property did not match
    tick(services, later(11))
    for contact_id in (other, away):
        assert path(services, walk(services, jid, contact_id).id)[-2:] == [("ask", "timeout"), ("missed", "next")]
    with services.db.begin() as s:
        score_new(s, now_utc())
    with services.db.factory() as s:
        entries = s.execute(select(ScoreEntry.contact_id, ScoreEntry.points)).all()
        assert sorted(entries) == sorted([(other, -5), (away, -5)])


def test_split_records_its_path_and_actions_apply(app, services):
    with services.db.begin() as s:
        journey = publish(s, {
            "start": "split", "nodes": [
                {"id": "split", "type": "split", "paths": [{"key": "A", "percent": 50}, {"key": "B", "percent": 50}]},
                {"id": "hot", "type": "action", "action": {"kind": "set_stage", "stage": "mql"}},
                {"id": "hook", "type": "action", "action": {"kind": "webhook", "url": "https://crm.example.jp/hook"}}],
            "edges": [{"from": "split", "exit": "A", "to": "hot"}, {"from": "split", "exit": "B", "to": "hook"}]})
        jid = journey.id
    ids = _contacts(services, 40)
    enrol(services, jid, ids)
    tick(services)
    with services.db.factory() as s:
        taken = dict(s.execute(select(JourneyEnrolment.contact_id, func.count()).select_from(JourneyEnrolment)
                               .where(JourneyEnrolment.status == "completed").group_by(JourneyEnrolment.contact_id)).all())
        assert len(taken) == 40
        mql = set(s.scalars(select(StageChange.contact_id).where(StageChange.to_stage == "mql")))
        hooks = set(s.scalars(select(WebhookDelivery.contact_id)))
    assert mql and hooks and mql | hooks == set(ids) and not mql & hooks
    for contact_id in ids:
        steps = path(services, walk(services, jid, contact_id).id)
        assert steps[0] == ("split", "A" if contact_id in mql else "B")


def test_an_event_and_a_timeout_racing_move_the_walk_once(app, services):
    """The event arrives exactly as the timeout falls due: one pass matches the event, the runner then finds
    the walk already moved; the mail after "happened" goes once and the timeout path never runs."""
    with services.db.begin() as s:
        tid = template(s)
        journey = publish(s, {
            "start": "w", "nodes": [
                {"id": "w", "type": "wait_for", "until": {"kind": "event", "name": "demo_booked"},
                 "timeout": {"minutes": 5}},
                {"id": "yes", "type": "send", "template_id": tid},
                {"id": "no", "type": "action", "action": {"kind": "set_attribute", "key": "timed_out", "value": "yes"}}],
            "edges": [{"from": "w", "exit": "happened", "to": "yes"}, {"from": "w", "exit": "timeout", "to": "no"}]})
        jid = journey.id
    [contact] = _contacts(services, 1)
    enrol(services, jid, [contact])
    tick(services)
    with services.db.begin() as s:
        s.add(Event(contact_id=contact, name="demo_booked", properties={}, source="api"))
    tick(services, later(6))  # the event and the timeout in the same tick
    tick(services, later(7))
    w = walk(services, jid, contact)
    assert path(services, w.id) == [("w", "happened"), ("yes", "next")]
    assert len(sends_of(services, w.id)) == 1
    with services.db.factory() as s:
        assert "timed_out" not in s.get(Contact, contact).attributes


def test_unsubscribed_contacts_leave_before_the_next_mail(app, services):
    with services.db.begin() as s:
        tid = template(s)
        journey = publish(s, {"start": "w", "nodes": [
            {"id": "w", "type": "wait", "wait": {"minutes": 60}}, {"id": "m", "type": "send", "template_id": tid}],
            "edges": [{"from": "w", "exit": "next", "to": "m"}]})
        jid = journey.id
    stays, leaves = _contacts(services, 2)
    enrol(services, jid, [stays, leaves])
    tick(services)
    with services.db.begin() as s:
        s.get(Contact, leaves).status = "unsubscribed"
    tick(services, later(61))
    assert walk(services, jid, leaves).status == "exited"
    assert walk(services, jid, leaves).exit_reason == "unsubscribed"
    assert sends_of(services, walk(services, jid, leaves).id) == []
    assert len(sends_of(services, walk(services, jid, stays).id)) == 1


def test_through_the_scheduler_tick_mails_go_out_in_the_same_tick(app, services, smtp_server):
    with services.db.begin() as s:
        tid = template(s)
        journey = publish(s, {"start": "m", "nodes": [{"id": "m", "type": "send", "template_id": tid}], "edges": []})
        jid = journey.id
    [contact] = _contacts(services, 1)
    enrol(services, jid, [contact])
    counts = scheduler.tick(services, lock=False)
    assert counts.get("planned") == 1 and counts.get("enqueued", 0) >= 1
    deliver(app)
    assert len(smtp_server.wait_for(1)) == 1
    with services.db.factory() as s:
        assert s.scalar(select(func.count()).select_from(Send).where(Send.status == SendStatus.SENT)) == 1


def test_a_broken_journey_is_skipped_and_the_others_go_on(app, services, caplog):
    with services.db.begin() as s:
        good = publish(s, {"start": "a", "nodes": [
            {"id": "a", "type": "action", "action": {"kind": "set_attribute", "key": "ok", "value": "yes"}}],
            "edges": []}, name="Good")
        bad = publish(s, {"start": "b", "nodes": [
            {"id": "b", "type": "branch", "branches": [{"key": "x", "condition": {"rules": {"all": [
                {"field": "score", "op": "gt", "value": 1}]}}}]}], "edges": []}, name="Bad")
        good_id, bad_id = good.id, bad.id
        # the stored version's rules go bad (data edited behind the validator's back)
        from campaigns.models import JourneyVersion
        version = s.get(JourneyVersion, bad.live_version_id)
        graph = dict(version.graph)
        graph["nodes"] = [{**graph["nodes"][0], "branches": [{"key": "x", "condition": {"rules": {"all": [
            {"field": "nonsense", "op": "gt", "value": 1}]}}}]}]
        version.graph = graph
    ids = _contacts(services, 2)
    enrol(services, good_id, ids)
    enrol(services, bad_id, ids)
    counts = tick(services)
    assert counts["groups_failed"] == 1
    assert all(walk(services, good_id, c).status == "completed" for c in ids)
    stuck = walk(services, bad_id, ids[0])
    assert stuck.status == "active" and stuck.node_key == "b" and stuck.due_at > now_utc()
    assert "journey" in caplog.text and "Bad" in caplog.text


def test_engine_runs_nothing_for_a_paused_journey(app, services):
    from campaigns.automation import service
    from campaigns.models import Journey

    with services.db.begin() as s:
        journey = publish(s, {"start": "a", "nodes": [
            {"id": "a", "type": "action", "action": {"kind": "set_attribute", "key": "ok", "value": "yes"}}],
            "edges": []})
        jid = journey.id
    [contact] = _contacts(services, 1)
    enrol(services, jid, [contact])
    with services.db.begin() as s:
        service.pause(s, s.get(Journey, jid))
    assert engine.tick(services, now_utc()).get("walks", 0) == 0
    assert walk(services, jid, contact).status == "active"
