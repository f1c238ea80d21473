"""The journeys UI (campaigns/views/journeys.py): the list, creating a draft, the canvas page and its data,
saving a draft (refused with the node named, in the user's language), the publish impact and moves, the status
actions, duplicate, the test walk, enrolment through the confirmation, and the live figures and contacts at a
node (JSON the canvas reads)."""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import func, select

from campaigns.models import Journey, JourneyEnrolment, JourneyStatus, JourneyVersion, Segment
from tests.factories import linear_graph, make_contact, make_journey, make_template

JA = {"Accept-Language": "ja"}


def _page_data(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="journey-data">(.*?)</script>', html, re.S)
    assert found, "the canvas page carries its data"
    return json.loads(found.group(1))


def _post_json(ui: Any, url: str, body: dict[str, Any], page: str = "/journeys/", **kw: Any) -> Any:
    return ui.client.post(url, json=body, headers={"X-CSRFToken": ui.token(page), **kw.pop("headers", {})}, **kw)


def _journey(services: Any, **kw: Any) -> tuple[int, list[int]]:
    with services.db.begin() as s:
        templates = [make_template(s, "お礼メール").id, make_template(s, "事例紹介").id]
        journey = make_journey(s, linear_graph(templates), name="資料請求フォロー", **kw)
        return journey.id, templates


def test_list_shows_status_contacts_and_times_in_the_account_zone(ui: Any, services: Any) -> None:
    empty = ui.get("/journeys/").get_data(as_text=True)
    assert "No journeys yet." in empty and 'href="/journeys/new"' in empty
    journey_id, _ = _journey(services)
    with services.db.begin() as s:
        journey = s.get(Journey, journey_id)
        from campaigns.automation import service

        service.enrol_contacts(s, journey, [make_contact(s).id, make_contact(s).id], source="manual")
    html = ui.get("/journeys/").get_data(as_text=True)
    assert "資料請求フォロー" in html
    assert re.search(rf'data-testid="journey-status-{journey_id}">Live<', html)
    assert re.search(rf'data-testid="journey-active-{journey_id}">2<', html)
    assert "Asia/Tokyo" in html  # the column heads name the account's zone
    ja = ui.get("/journeys/", headers=JA).get_data(as_text=True)
    assert "シナリオ" in ja and "Live" not in ja


def test_new_journey_makes_a_draft_and_opens_the_canvas(ui: Any, services: Any) -> None:
    refused = ui.post("/journeys/new", {"name": "  "}, page="/journeys/new")
    assert refused.status_code == 400 and "Give the journey a name." in refused.get_data(as_text=True)
    resp = ui.post("/journeys/new", {"name": "ウェビナー後のフォロー"}, page="/journeys/new")
    assert resp.status_code == 302
    with services.db.begin() as s:
        journey = s.scalars(select(Journey)).one()
        assert journey.status == JourneyStatus.DRAFT and journey.name == "ウェビナー後のフォロー"
        journey_id = journey.id
    assert resp.headers["Location"].endswith(f"/journeys/{journey_id}")
    page = ui.get(f"/journeys/{journey_id}").get_data(as_text=True)
    data = _page_data(page)
    assert data["journey"]["status"] == "draft" and data["graph"]["nodes"] == []
    assert data["stats"] is None and data["editable"] is True
    assert data["labels"]["type_wait_for"] == "Wait for"
    ja = _page_data(ui.get(f"/journeys/{journey_id}", headers=JA).get_data(as_text=True))
    assert ja["labels"]["type_wait_for"] != "Wait for" and ja["labels"]["exit_timeout"] != "Timed out"


def test_saving_a_draft_validates_and_names_the_node(ui: Any, services: Any) -> None:
    with services.db.begin() as s:
        template_id = make_template(s, "案内").id
    ui.post("/journeys/new", {"name": "分岐テスト"}, page="/journeys/new")
    with services.db.begin() as s:
        journey_id = s.scalar(select(Journey.id))
    url = f"/journeys/{journey_id}/draft"
    graph = {"start": "n1", "nodes": [
        {"id": "n1", "type": "send", "template_id": template_id},
        {"id": "n2", "type": "branch", "branches": [{"key": "clicked", "label": "", "condition": {"previous_mail": "clicked"}}]},
        {"id": "n3", "type": "wait_for", "until": {"kind": "event", "name": "webinar_attended"}, "timeout": {"minutes": 4320}},
    ], "edges": [{"from": "n1", "exit": "next", "to": "n2"}, {"from": "n2", "exit": "clicked", "to": "n3"},
                 {"from": "n3", "exit": "maybe", "to": "n1"}], "layout": {}}
    bad = _post_json(ui, url, {"graph": graph, "settings": {}, "name": "分岐テスト"})
    assert bad.status_code == 422
    assert bad.get_json()["node"] == "n3" and "maybe" in bad.get_json()["error"]
    bad_ja = _post_json(ui, url, {"graph": graph}, headers=JA).get_json()
    assert bad_ja["node"] == "n3" and "ステップ" in bad_ja["error"] and "maybe" in bad_ja["error"]
    graph["edges"][-1] = {"from": "n3", "exit": "timeout", "to": "n1"}
    ok = _post_json(ui, url, {"graph": graph, "settings": {"entry": [{"kind": "event", "name": "資料ダウンロード"}]},
                              "name": "分岐テスト 2"})
    assert ok.status_code == 200 and ok.get_json()["ok"] is True
    with services.db.begin() as s:
        journey = s.get(Journey, journey_id)
        assert journey.name == "分岐テスト 2"
        assert {n["id"] for n in journey.draft_graph["nodes"]} == {"n1", "n2", "n3"}
        assert journey.settings["entry"] == [{"kind": "event", "name": "資料ダウンロード"}]
    # the live check answers without saving
    graph["nodes"][0]["template_id"] = 999999
    check = _post_json(ui, f"/journeys/{journey_id}/check", {"graph": graph})
    assert check.get_json()["node"] == "n1" and "999999" in check.get_json()["error"]
    with services.db.begin() as s:
        assert s.get(Journey, journey_id).draft_graph["nodes"][0]["template_id"] == template_id
    # without the CSRF token nothing is saved
    assert ui.client.post(url, json={"graph": graph}).status_code == 400


def test_publish_shows_the_impact_and_moves_contacts(ui: Any, services: Any) -> None:
    journey_id, templates = _journey(services)
    with services.db.begin() as s:
        journey = s.get(Journey, journey_id)
        from campaigns.automation import service

        service.enrol_contacts(s, journey, [make_contact(s).id for _ in range(3)], source="manual")
        # the draft drops the first mail: the three walks there must go somewhere
        service.update_draft(s, journey, graph={"start": "s2", "nodes": [
            {"id": "s2", "type": "send", "template_id": templates[1]}], "edges": [], "layout": {}})
    impact = ui.get(f"/journeys/{journey_id}/impact.json").get_json()
    assert impact["removed"] == [{"node": "s1", "name": "Send email s1", "count": 3}]
    refused = _post_json(ui, f"/journeys/{journey_id}/publish", {"moves": {}})
    assert refused.status_code == 422 and "s1" in refused.get_json()["error"]
    ok = _post_json(ui, f"/journeys/{journey_id}/publish", {"moves": {"s1": "exit"}})
    assert ok.status_code == 200 and ok.get_json()["redirect"] == f"/journeys/{journey_id}"
    with services.db.begin() as s:
        assert s.scalar(select(func.count()).select_from(JourneyVersion).where(JourneyVersion.journey_id == journey_id)) == 2
        statuses = set(s.scalars(select(JourneyEnrolment.status).where(JourneyEnrolment.journey_id == journey_id)))
        assert statuses == {"exited"}


def test_status_actions_duplicate_and_test_walk(ui: Any, services: Any, user: Any) -> None:
    journey_id, _ = _journey(services)
    page = f"/journeys/{journey_id}"
    resp = ui.post(f"/journeys/{journey_id}/status", {"action": "pause"}, page=page, follow_redirects=True)
    assert "Journey paused." in resp.get_data(as_text=True)
    resp = ui.post(f"/journeys/{journey_id}/status", {"action": "pause"}, page=page, follow_redirects=True)
    assert "only a live journey can be paused" in resp.get_data(as_text=True)
    resp = ui.post(f"/journeys/{journey_id}/status", {"action": "resume"}, page=page, follow_redirects=True)
    assert "Journey resumed." in resp.get_data(as_text=True)
    resp = ui.post(f"/journeys/{journey_id}/test", {}, page=page, follow_redirects=True)
    assert "Test started: marketer@acme.test" in resp.get_data(as_text=True)
    with services.db.begin() as s:
        walk = s.scalars(select(JourneyEnrolment).where(JourneyEnrolment.test.is_(True))).one()
        assert walk.journey_id == journey_id
    # the test walk is not counted on the canvas
    stats = ui.get(f"/journeys/{journey_id}/stats.json").get_json()
    assert stats["nodes"]["s1"]["now"] == 0 and stats["totals"]["active"] == 0
    dup = ui.post(f"/journeys/{journey_id}/duplicate", {}, page=page)
    assert dup.status_code == 302
    with services.db.begin() as s:
        copy = s.scalars(select(Journey).where(Journey.id != journey_id)).one()
        assert copy.status == JourneyStatus.DRAFT and copy.draft_graph == s.get(Journey, journey_id).draft_graph
    resp = ui.post(f"/journeys/{journey_id}/status", {"action": "archive"}, page=page, follow_redirects=True)
    assert "Journey archived." in resp.get_data(as_text=True)
    assert _page_data(ui.get(page).get_data(as_text=True))["editable"] is False
    refused = _post_json(ui, f"/journeys/{journey_id}/draft", {"name": "x"})
    assert refused.status_code == 409


def test_enrol_a_segment_through_the_confirmation(ui: Any, services: Any) -> None:
    journey_id, _ = _journey(services)
    with services.db.begin() as s:
        for i in range(3):
            make_contact(s, email=f"buyer{i}@example.jp", company="買う会社")
        make_contact(s, email="other@example.jp", company="別会社")
        segment = Segment(name="買う会社", rules={"all": [{"field": "company", "op": "eq", "value": "買う会社"}]})
        s.add(segment)
        s.flush()
        segment_id = segment.id
    page = f"/journeys/{journey_id}"
    first = ui.post(f"/journeys/{journey_id}/enrol", {"segment": str(segment_id)}, page=page)
    assert first.status_code == 200 and "buyer" in first.get_data(as_text=True)  # who: the sample
    with services.db.begin() as s:
        assert s.scalar(select(func.count()).select_from(JourneyEnrolment)) == 0  # nothing yet
    done = ui.post(f"/journeys/{journey_id}/enrol", {"segment": str(segment_id), "confirm_step": "confirmed",
                                                     "confirm_count": "3"}, page=page, follow_redirects=True)
    assert "Enrolled 3 of 3 contacts." in done.get_data(as_text=True)
    stats = ui.get(f"/journeys/{journey_id}/stats.json").get_json()
    assert stats["nodes"]["s1"]["now"] == 3 and stats["nodes"]["s1"]["passed"] == 3
    listed = ui.get(f"/journeys/{journey_id}/nodes/s1/contacts.json").get_json()
    assert listed["total"] == 3 and {c["email"] for c in listed["contacts"]} == {f"buyer{i}@example.jp" for i in range(3)}
    assert all(c["url"] == f"/contacts/{c['id']}" for c in listed["contacts"])
    assert listed["zone"] == "Asia/Tokyo"
    data = _page_data(ui.get(page).get_data(as_text=True))
    assert data["stats"]["nodes"]["s1"]["now"] == 3


def test_unknown_journey_is_404(ui: Any) -> None:
    assert ui.get("/journeys/999").status_code == 404
    assert ui.get("/journeys/999/stats.json").status_code == 404


def test_a_large_segment_is_enrolled_by_the_worker(ui: Any, services: Any, app: Any, monkeypatch: Any) -> None:
    from campaigns.automation import service
    from tests.conftest import run_jobs

    monkeypatch.setattr(service, "INLINE_SEGMENT_LIMIT", 2)
    journey_id, _ = _journey(services)
    with services.db.begin() as s:
        for i in range(3):
            make_contact(s, email=f"big{i}@example.jp", company="大企業")
        segment = Segment(name="大企業", rules={"all": [{"field": "company", "op": "eq", "value": "大企業"}]})
        s.add(segment)
        s.flush()
        segment_id = segment.id
    done = ui.post(f"/journeys/{journey_id}/enrol", {"segment": str(segment_id), "confirm_step": "confirmed",
                                                     "confirm_count": "3"}, page=f"/journeys/{journey_id}",
                   follow_redirects=True)
    assert "Enrolling 3 contacts in the background." in done.get_data(as_text=True)
    with services.db.begin() as s:
        assert s.scalar(select(func.count()).select_from(JourneyEnrolment)) == 0
    assert run_jobs(app) == 1
    with services.db.begin() as s:
        assert s.scalar(select(func.count()).select_from(JourneyEnrolment)) == 3
