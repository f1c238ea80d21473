"""The JSON API for segments (CRUD, count, preview) and static lists (CRUD, membership), incl. its errors,
and the sequence API's segment trigger / exit fields."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select

from campaigns.models import Contact, Stage
from tests.factories import make_template

API = "/api/v1"


def _call(client: Any, key: str, method: str, path: str, body: Any = None) -> Any:
    return client.open(API + path, method=method, json=body, headers={"Authorization": f"Bearer {key}"})


def _contacts(services: Any) -> list[int]:
    with services.db.begin() as s:
        s.execute(insert(Contact), [
            {"email": f"a{i}@example.jp", "job_title": "部長" if i < 4 else "Engineer",
             "stage": Stage.HOT if i % 2 else Stage.COLD} for i in range(10)
        ])
        return list(s.scalars(select(Contact.id).order_by(Contact.id)))


def test_segment_crud_count_and_preview(client: Any, api_key: str, services: Any) -> None:
    ids = _contacts(services)
    rules = {"all": [{"field": "job_title", "op": "contains", "value": "部長"}]}
    resp = _call(client, api_key, "POST", "/segments", {"name": "Managers", "rules": rules})
    assert resp.status_code == 201, resp.get_json()
    segment = resp.get_json()
    assert segment["rules"] == rules
    assert _call(client, api_key, "GET", f"/segments/{segment['id']}/count").get_json() == {"count": 4}
    hot = {"all": [*rules["all"], {"field": "stage", "op": "eq", "value": "hot"}]}
    resp = _call(client, api_key, "PUT", f"/segments/{segment['id']}", {"rules": hot})
    assert resp.status_code == 200 and resp.get_json()["name"] == "Managers"
    assert _call(client, api_key, "GET", f"/segments/{segment['id']}/count").get_json() == {"count": 2}
    preview = _call(client, api_key, "POST", "/segments/preview", {"rules": hot, "limit": 1}).get_json()
    assert preview["count"] == 2 and [c["id"] for c in preview["sample"]] == [ids[3]]
    listed = _call(client, api_key, "GET", "/segments").get_json()
    assert [s["id"] for s in listed["data"]] == [segment["id"]]
    assert _call(client, api_key, "DELETE", f"/segments/{segment['id']}").status_code == 200
    assert _call(client, api_key, "GET", f"/segments/{segment['id']}").status_code == 404


def test_segment_api_errors(client: Any, api_key: str, services: Any) -> None:
    for body, status, field in [
        ({"name": "x", "rules": {"all": [{"field": "salary", "op": "gt", "value": 1}]}}, 422, "rules"),
        ({"name": "x", "rules": {"all": [{"list_id": 12345}]}}, 422, "rules"),
        ({"name": "x", "rules": {"all": [{"field": "company", "op": "eq", "value": "a\u0000"}]}}, 422, "rules"),
        ({"name": "x"}, 422, None),
        ({"name": "", "rules": {}}, 422, None),
    ]:
        resp = _call(client, api_key, "POST", "/segments", body)
        assert resp.status_code == status, (body, resp.get_json())
        if field:
            assert any(k.startswith(field) for k in resp.get_json()["details"])
    assert _call(client, api_key, "GET", "/segments/999/count").status_code == 404
    assert _call(client, api_key, "POST", "/segments/preview", {"rules": {}, "limit": 51}).status_code == 422


def test_segment_in_use_cannot_be_deleted_and_sequences_take_segment_fields(
        client: Any, api_key: str, services: Any) -> None:
    seg = _call(client, api_key, "POST", "/segments", {"name": "Hot", "rules": {}}).get_json()
    with services.db.begin() as s:
        template_id = make_template(s).id
    body = {"name": "Hot leads", "steps": [{"template_id": template_id}], "trigger_segment_id": seg["id"],
            "exit_segment_id": seg["id"], "exit_segment_when": "left"}
    resp = _call(client, api_key, "POST", "/sequences", body)
    assert resp.status_code == 201, resp.get_json()
    sequence = resp.get_json()
    assert (sequence["trigger_segment_id"], sequence["exit_segment_when"]) == (seg["id"], "left")
    resp = _call(client, api_key, "PUT", f"/sequences/{sequence['id']}", {"trigger_segment_id": 99999})
    assert resp.status_code == 422 and "does not exist" in resp.get_json()["message"]
    assert _call(client, api_key, "DELETE", f"/segments/{seg['id']}").status_code == 409
    _call(client, api_key, "PUT", f"/sequences/{sequence['id']}", {"trigger_segment_id": None, "exit_segment_id": None})
    assert _call(client, api_key, "DELETE", f"/segments/{seg['id']}").status_code == 200


def test_lists_api_crud_and_membership(client: Any, api_key: str, services: Any) -> None:
    ids = _contacts(services)
    resp = _call(client, api_key, "POST", "/lists", {"name": "Expo", "description": "booth"})
    assert resp.status_code == 201
    cl = resp.get_json()
    assert cl["size"] == 0
    assert _call(client, api_key, "POST", "/lists", {"name": "Expo"}).status_code == 409
    changed = _call(client, api_key, "POST", f"/lists/{cl['id']}/members", {"contact_ids": [ids[0], ids[1], 2_000_000]})
    assert changed.get_json() == {"added": 2, "removed": 0, "size": 2}
    again = _call(client, api_key, "POST", f"/lists/{cl['id']}/members", {"contact_ids": [ids[0]]})
    assert again.get_json() == {"added": 0, "removed": 0, "size": 2}
    seg = _call(client, api_key, "POST", "/segments", {"name": "M", "rules": {"all": [
        {"field": "job_title", "op": "eq", "value": "部長"}]}}).get_json()
    bulk = _call(client, api_key, "POST", f"/lists/{cl['id']}/members/from-segment", {"segment_id": seg["id"]})
    assert bulk.get_json() == {"added": 2, "removed": 0, "size": 4}  # ids 0-3; 0 and 1 were there
    removed = _call(client, api_key, "POST", f"/lists/{cl['id']}/members/remove", {"contact_ids": [ids[0], ids[9]]})
    assert removed.get_json() == {"added": 0, "removed": 1, "size": 3}
    page = _call(client, api_key, "GET", f"/lists/{cl['id']}/members?limit=2").get_json()
    assert [c["id"] for c in page["data"]] == [ids[1], ids[2]] and page["next_after"] == ids[2]
    member_rules = {"rules": {"all": [{"list_id": cl["id"]}]}}
    assert _call(client, api_key, "POST", "/segments/preview", member_rules).get_json()["count"] == 3
    assert _call(client, api_key, "PUT", f"/lists/{cl['id']}", {"name": "Expo 2026"}).get_json()["name"] == "Expo 2026"
    assert _call(client, api_key, "GET", "/lists").get_json()["data"][0]["size"] == 3
    assert _call(client, api_key, "POST", f"/lists/{cl['id']}/members", {"contact_ids": []}).status_code == 422
    assert _call(client, api_key, "POST", "/lists/999/members", {"contact_ids": [1]}).status_code == 404
    assert _call(client, api_key, "DELETE", f"/lists/{cl['id']}").status_code == 200
    assert _call(client, api_key, "GET", f"/lists/{cl['id']}").status_code == 404
