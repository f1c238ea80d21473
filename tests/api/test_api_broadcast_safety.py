"""The API's reschedule, duplicate and delete of broadcasts: not interactive (no confirmation), every
refusal a 4xx JSON answer with the reason, every answer as the OpenAPI document says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from campaigns.models import Broadcast, BroadcastStatus, Send, SendStatus, Template
from tests.api.test_api import API, Api, make_template
from tests.factories import committed, make_contact


@pytest.fixture
def api(client, api_key) -> Api:
    return Api(client, api_key)


def _scheduled(api: Api, template_id: int, days: int = 1) -> dict:
    draft = api.post("/broadcasts", {"name": "Launch", "template_id": template_id}).get_json()
    when = (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0)
    resp = api.post(f"/broadcasts/{draft['id']}/schedule", {"scheduled_at": when.isoformat()})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def test_reschedule_until_it_starts(api, services):
    b = _scheduled(api, make_template(api))
    later = (datetime.now(UTC) + timedelta(days=5)).replace(microsecond=0)
    moved = api.post(f"/broadcasts/{b['id']}/reschedule", {"scheduled_at": later.astimezone().isoformat()})
    assert moved.status_code == 200 and datetime.fromisoformat(moved.get_json()["scheduled_at"]) == later
    past = api.post(f"/broadcasts/{b['id']}/reschedule", {"scheduled_at": "2021-01-01T09:00:00+09:00"})
    assert past.status_code == 422 and "in the past" in past.get_json()["message"]
    missing = api.post(f"/broadcasts/{b['id']}/reschedule", {})
    assert missing.status_code == 422 and "scheduled_at" in str(missing.get_json())
    naive = api.post(f"/broadcasts/{b['id']}/reschedule", {"scheduled_at": "2031-01-01T09:00:00"})
    assert naive.status_code in (400, 422)
    with services.db.begin() as s:
        s.get(Broadcast, b["id"]).status = BroadcastStatus.SENDING  # the scheduler started it
    started = api.post(f"/broadcasts/{b['id']}/reschedule", {"scheduled_at": later.isoformat()})
    assert started.status_code == 409 and started.get_json()["error"] == "not_scheduled"
    assert started.get_json()["details"] == {"status": "sending"}
    draft = api.post("/broadcasts", {"name": "Draft", "template_id": make_template(api, "B")}).get_json()
    assert api.post(f"/broadcasts/{draft['id']}/reschedule", {"scheduled_at": later.isoformat()}).status_code == 409
    assert api.post("/broadcasts/4242/reschedule", {"scheduled_at": later.isoformat()}).status_code == 404


def test_duplicate_is_a_new_draft(api):
    b = _scheduled(api, make_template(api))
    copy = api.post(f"/broadcasts/{b['id']}/duplicate")
    assert copy.status_code == 201
    body = copy.get_json()
    assert (body["name"], body["status"], body["scheduled_at"], body["template_id"]) == (
        "Launch (copy)", "draft", None, b["template_id"])
    named = api.post(f"/broadcasts/{b['id']}/duplicate", {"name": "Launch again"}).get_json()
    assert named["name"] == "Launch again"
    assert api.get(f"/broadcasts/{b['id']}").get_json()["status"] == "scheduled"


def test_delete_only_what_sent_nothing(api, services):
    template_id = make_template(api)
    draft = api.post("/broadcasts", {"name": "Draft", "template_id": template_id}).get_json()
    resp = api._call("DELETE", f"/broadcasts/{draft['id']}")
    assert resp.status_code == 200 and resp.get_json() == {"deleted": True, "id": draft["id"]}
    assert api.get(f"/broadcasts/{draft['id']}").status_code == 404
    scheduled = _scheduled(api, template_id)
    refused = api._call("DELETE", f"/broadcasts/{scheduled['id']}")
    assert refused.status_code == 409 and refused.get_json()["error"] == "has_history"
    # Cancelled after it mailed someone: history stays.
    cid = committed(services, make_contact)
    with services.db.begin() as s:
        b = s.get(Broadcast, scheduled["id"])
        b.status, b.started_at = BroadcastStatus.SENDING, datetime.now(UTC)
        version = s.get(Template, template_id).current_version_id
        s.add(Send(contact_id=cid, broadcast_id=b.id, template_version_id=version, status=SendStatus.SENT))
    assert api.post(f"/broadcasts/{scheduled['id']}/cancel").get_json()["status"] == "cancelled"
    assert api._call("DELETE", f"/broadcasts/{scheduled['id']}").status_code == 409
    # Cancelled before it started: nothing to keep.
    never = _scheduled(api, template_id)
    api.post(f"/broadcasts/{never['id']}/cancel")
    assert api._call("DELETE", f"/broadcasts/{never['id']}").status_code == 200
    assert api.client.delete(f"{API}/broadcasts/4242", headers=api.headers).status_code == 404
