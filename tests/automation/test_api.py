"""The journeys API (/api/v1/journeys): the happy paths from create to a contact's path, 422s that name the
node, publish with moves, enrolment of ids and segments (large ones queued), the graph's schema in OpenAPI."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from campaigns.automation import service
from campaigns.models import JourneyEnrolment, Segment
from tests.conftest import run_jobs
from tests.factories import committed, linear_graph, make_contacts, make_template

API = "/api/v1"


def _call(client: Any, key: str, method: str, path: str, body: Any = None) -> Any:
    return client.open(API + path, method=method, json=body, headers={"Authorization": f"Bearer {key}"})


def _graph(services: Any) -> dict[str, Any]:
    first, second = committed(services, make_template, "One"), committed(services, make_template, "Two")
    return linear_graph([first, second])


def test_create_publish_enrol_and_read_the_path(client, api_key, services):
    graph = _graph(services)
    resp = _call(client, api_key, "POST", "/journeys", {"name": "Welcome", "graph": graph,
                                                        "settings": {"reentry": False}})
    assert resp.status_code == 201, resp.get_json()
    journey = resp.get_json()
    jid = journey["id"]
    assert (journey["status"], journey["live_version"], journey["graph"]["start"]) == ("draft", None, "s1")
    assert journey["settings"]["max_visits"] == 3
    listed = _call(client, api_key, "GET", "/journeys").get_json()
    assert [(j["id"], j["status"], j["live_version_number"]) for j in listed["data"]] == [(jid, "draft", None)]

    resp = _call(client, api_key, "POST", f"/journeys/{jid}/publish", {})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["status"] == "live" and resp.get_json()["live_version"]["number"] == 1

    with services.db.begin() as s:
        ids = [c.id for c in make_contacts(s, 2)]
    resp = _call(client, api_key, "POST", f"/journeys/{jid}/enrol", {"contact_ids": ids})
    assert resp.get_json() == {"enrolled": 2, "queued": False}
    assert _call(client, api_key, "POST", f"/journeys/{jid}/enrol", {"contact_ids": ids}).get_json()["enrolled"] == 0
    assert _call(client, api_key, "GET", f"/journeys/{jid}").get_json()["active_walks"] == 2

    path = _call(client, api_key, "GET", f"/journeys/{jid}/contacts/{ids[0]}/path").get_json()
    assert path["journey_id"] == jid and len(path["walks"]) == 1
    walk = path["walks"][0]
    assert (walk["status"], walk["node"], walk["cycle"], walk["test"]) == ("active", "s1", 1, False)
    assert [(p["node"], p["type"], p["visit"], p["left_at"]) for p in walk["path"]] == [("s1", "send", 1, None)]
    assert walk["path"][0]["entered_at"].endswith("+00:00")

    stats = _call(client, api_key, "GET", f"/journeys/{jid}/stats")
    assert stats.status_code == 200, stats.get_json()

    # pause, resume, duplicate, archive
    assert _call(client, api_key, "POST", f"/journeys/{jid}/pause").get_json()["status"] == "paused"
    refused = _call(client, api_key, "POST", f"/journeys/{jid}/enrol", {"contact_ids": ids})
    assert refused.status_code == 422 and "this one is paused" in refused.get_json()["message"]
    assert _call(client, api_key, "POST", f"/journeys/{jid}/resume").get_json()["status"] == "live"
    copy = _call(client, api_key, "POST", f"/journeys/{jid}/duplicate", {"name": "Welcome B"})
    assert copy.status_code == 201 and copy.get_json()["status"] == "draft" and copy.get_json()["name"] == "Welcome B"
    archived = _call(client, api_key, "POST", f"/journeys/{jid}/archive").get_json()
    assert (archived["status"], archived["active_walks"]) == ("archived", 0)
    path = _call(client, api_key, "GET", f"/journeys/{jid}/contacts/{ids[0]}/path").get_json()
    assert path["walks"][0]["exit_reason"] == "archived" and path["walks"][0]["path"][0]["exit"] == "archived"


def test_bad_graphs_get_422_naming_the_node(client, api_key, services):
    graph = _graph(services)
    bad = {**graph, "nodes": [*graph["nodes"], {"id": "x9", "type": "teleport"}]}
    resp = _call(client, api_key, "POST", "/journeys", {"name": "Bad", "graph": bad})
    assert resp.status_code == 422
    body = resp.get_json()
    assert body["error"] == "invalid_graph" and body["details"] == {"node": "x9"}
    assert body["message"].startswith('node "x9" (unknown type): unknown node type "teleport"')

    jid = _call(client, api_key, "POST", "/journeys", {"name": "Good", "graph": graph}).get_json()["id"]
    cases = [
        ({**graph, "edges": [*graph["edges"], {"from": "s2", "exit": "next", "to": "nowhere"}]}, "s2",
         "leads to a node that does not exist"),
        ({**graph, "edges": graph["edges"][:1]}, "s2", "no path from the start reaches this node"),
        ({**graph, "nodes": [{**graph["nodes"][0], "template_id": 999999}, *graph["nodes"][1:]]}, "s1",
         "template 999999 does not exist"),
        ({**graph, "edges": [*graph["edges"], {"from": "s2", "exit": "next", "to": "s2"}]}, "s2",
         "passes through no wait"),
    ]
    for bad_graph, node, text in cases:
        resp = _call(client, api_key, "PUT", f"/journeys/{jid}", {"graph": bad_graph})
        body = resp.get_json()
        assert resp.status_code == 422 and body["details"] == {"node": node} and text in body["message"], body
    resp = _call(client, api_key, "PUT", f"/journeys/{jid}", {"settings": {"max_visits": 0}})
    assert resp.status_code == 422 and "settings.max_visits" in resp.get_json()["message"]
    resp = _call(client, api_key, "PUT", f"/journeys/{jid}", {"colour": "red"})
    assert resp.status_code == 422 and resp.get_json()["details"] == {"colour": "is not a known field"}
    assert _call(client, api_key, "GET", "/journeys/999999").status_code == 404


def test_publish_with_removed_nodes_needs_moves(client, api_key, services):
    graph = _graph(services)
    jid = _call(client, api_key, "POST", "/journeys", {"name": "J", "graph": graph}).get_json()["id"]
    _call(client, api_key, "POST", f"/journeys/{jid}/publish", {})
    with services.db.begin() as s:
        ids = [c.id for c in make_contacts(s, 3)]
    _call(client, api_key, "POST", f"/journeys/{jid}/enrol", {"contact_ids": ids})
    with services.db.begin() as s:  # one walk has gone on to the second mail
        walk = s.scalar(select(JourneyEnrolment).where(JourneyEnrolment.contact_id == ids[0]))
        walk.node_key = "s2"
    smaller = {"start": "s2", "nodes": [graph["nodes"][2]], "edges": [], "layout": {}}
    assert _call(client, api_key, "PUT", f"/journeys/{jid}", {"graph": smaller}).status_code == 200
    assert _call(client, api_key, "GET", f"/journeys/{jid}/impact").get_json() == {"removed": {"s1": 2}}
    resp = _call(client, api_key, "POST", f"/journeys/{jid}/publish", {})
    assert resp.status_code == 422 and resp.get_json()["error"] == "rejected"
    assert '2 contacts are at node "s1"' in resp.get_json()["message"]
    resp = _call(client, api_key, "POST", f"/journeys/{jid}/publish", {"moves": {"s1": "exit"}})
    assert resp.status_code == 200 and resp.get_json()["live_version"]["moves"] == {"s1": "exit"}
    assert resp.get_json()["active_walks"] == 1


def test_enrol_a_segment_inline_and_a_large_one_through_the_worker(client, api_key, services, app, monkeypatch):
    jid = _call(client, api_key, "POST", "/journeys", {"name": "J", "graph": _graph(services)}).get_json()["id"]
    _call(client, api_key, "POST", f"/journeys/{jid}/publish", {})
    with services.db.begin() as s:
        make_contacts(s, 4, company="Acme")
        segment = Segment(name="Acme", rules={"all": [{"field": "company", "op": "eq", "value": "acme"}]})
        s.add(segment)
        s.flush()
        sid = segment.id
    monkeypatch.setattr(service, "INLINE_SEGMENT_LIMIT", 3)
    resp = _call(client, api_key, "POST", f"/journeys/{jid}/enrol", {"segment_id": sid})
    assert resp.status_code == 202 and resp.get_json() == {"enrolled": None, "queued": True}
    assert run_jobs(app) == 1
    with services.db.begin() as s:
        assert len(s.scalars(select(JourneyEnrolment.id).where(JourneyEnrolment.journey_id == jid)).all()) == 4
    monkeypatch.setattr(service, "INLINE_SEGMENT_LIMIT", 5000)
    assert _call(client, api_key, "POST", f"/journeys/{jid}/enrol", {"segment_id": sid}).get_json() == {
        "enrolled": 0, "queued": False}
    assert _call(client, api_key, "POST", f"/journeys/{jid}/enrol", {"segment_id": 999999}).status_code == 404
    resp = _call(client, api_key, "POST", f"/journeys/{jid}/enrol", {"contact_ids": [], "segment_id": sid})
    assert resp.status_code == 422


def test_a_test_walk_through_the_api(client, api_key, services):
    jid = _call(client, api_key, "POST", "/journeys", {"name": "J", "graph": _graph(services)}).get_json()["id"]
    resp = _call(client, api_key, "POST", f"/journeys/{jid}/test", {"email": "me@example.jp"})
    assert resp.status_code == 201, resp.get_json()
    walk = resp.get_json()
    path = _call(client, api_key, "GET", f"/journeys/{jid}/contacts/{walk['contact_id']}/path").get_json()
    assert path["walks"][0]["test"] is True
    assert _call(client, api_key, "GET", f"/journeys/{jid}").get_json()["active_walks"] == 0  # tests not counted
    resp = _call(client, api_key, "POST", f"/journeys/{jid}/test", {"email": "nope"})
    assert resp.status_code == 422 and "not a valid email address" in resp.get_json()["message"]


def test_the_graph_schema_is_in_the_openapi_document(client):
    doc = client.get(API + "/openapi.json").get_json()
    schemas = doc["components"]["schemas"]
    assert [s["title"] for s in schemas["JourneyGraph"]["properties"]["nodes"]["items"]["oneOf"]][0] == "send"
    assert schemas["Journey"]["properties"]["graph"] == {"$ref": "#/components/schemas/JourneyGraph"}
    assert "/api/v1/journeys/{journey_id}/publish" in doc["paths"] or "/journeys/{journey_id}/publish" in doc["paths"]
