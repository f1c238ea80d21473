"""The API's delete (409 with a reason when something depends), archive, restore and duplicate for templates,
segments, lists and forms, and the ?archived= filter of their list endpoints."""

from __future__ import annotations

from typing import Any

from campaigns.journeys.broadcasts import create_broadcast
from campaigns.leads.forms import FormInput, create_form
from campaigns.models import FormSubmission, Segment, SubmissionStatus
from tests.factories import make_template

API = "/api/v1"


def _call(client: Any, key: str, method: str, path: str, body: Any = None) -> Any:
    return client.open(API + path, method=method, json=body, headers={"Authorization": f"Bearer {key}"})


def test_templates_delete_archive_restore_duplicate(client: Any, api_key: str, services: Any) -> None:
    with services.db.begin() as s:
        used, unused = make_template(s, "Used"), make_template(s, "Unused")
        create_broadcast(s, "Launch", used.id)
        used_id, unused_id = used.id, unused.id
    refused = _call(client, api_key, "DELETE", f"/templates/{used_id}")
    assert refused.status_code == 409
    body = refused.get_json()
    assert body["error"] == "in_use" and [(u["kind"], u["name"]) for u in body["usages"]] == [("broadcast", "Launch")]
    assert "Archive the template instead" in body["message"]

    archived = _call(client, api_key, "POST", f"/templates/{used_id}/archive")
    assert archived.status_code == 200 and archived.get_json()["archived_at"]
    listed = [t["id"] for t in _call(client, api_key, "GET", "/templates").get_json()["data"]]
    assert listed == [unused_id]
    only = _call(client, api_key, "GET", "/templates?archived=only").get_json()["data"]
    assert [t["id"] for t in only] == [used_id]
    assert _call(client, api_key, "GET", "/templates?archived=sometimes").status_code == 422
    assert _call(client, api_key, "POST", f"/templates/{used_id}/restore").get_json()["archived_at"] is None

    copy = _call(client, api_key, "POST", f"/templates/{used_id}/duplicate")
    assert copy.status_code == 201
    assert copy.get_json()["name"] == "Used (copy)"
    assert copy.get_json()["current_version"]["subject"] == "Used subject"
    named = _call(client, api_key, "POST", f"/templates/{used_id}/duplicate", {"name": "100% new"})
    assert named.get_json()["name"] == "100% new"

    assert _call(client, api_key, "DELETE", f"/templates/{unused_id}").get_json() == {"deleted": True, "id": unused_id}
    assert _call(client, api_key, "GET", f"/templates/{unused_id}").status_code == 404
    assert _call(client, api_key, "DELETE", f"/templates/{unused_id}").status_code == 404


def test_segments_and_lists(client: Any, api_key: str, services: Any) -> None:
    created = _call(client, api_key, "POST", "/lists", {"name": "Expo"}).get_json()
    list_id = created["id"]
    rules = {"all": [{"list_id": list_id, "member": True}]}
    segment = _call(client, api_key, "POST", "/segments", {"name": "Expo people", "rules": rules}).get_json()
    with services.db.begin() as s:
        create_broadcast(s, "Expo follow-up", make_template(s).id, segment_id=segment["id"])

    refused = _call(client, api_key, "DELETE", f"/lists/{list_id}")
    assert refused.status_code == 409
    assert [(u["kind"], u["name"]) for u in refused.get_json()["usages"]] == [("segment", "Expo people")]
    refused = _call(client, api_key, "DELETE", f"/segments/{segment['id']}")
    assert refused.status_code == 409 and refused.get_json()["usages"][0]["kind"] == "broadcast"

    assert _call(client, api_key, "POST", f"/segments/{segment['id']}/archive").get_json()["archived_at"]
    assert _call(client, api_key, "GET", "/segments").get_json()["data"] == []
    assert len(_call(client, api_key, "GET", "/segments?archived=include").get_json()["data"]) == 1
    copy = _call(client, api_key, "POST", f"/segments/{segment['id']}/duplicate").get_json()
    assert (copy["name"], copy["rules"], copy["archived_at"]) == ("Expo people (copy)", rules, None)
    assert _call(client, api_key, "POST", f"/segments/{segment['id']}/restore").get_json()["archived_at"] is None

    assert _call(client, api_key, "POST", f"/lists/{list_id}/archive").get_json()["archived_at"]
    assert _call(client, api_key, "GET", "/lists").get_json()["data"] == []
    list_copy = _call(client, api_key, "POST", f"/lists/{list_id}/duplicate")
    assert list_copy.status_code == 201 and list_copy.get_json()["name"] == "Expo (copy)"
    assert _call(client, api_key, "POST", f"/lists/{list_id}/restore").get_json()["archived_at"] is None

    # the segments that named the list go, then the list can go
    for seg_id in (copy["id"],):
        assert _call(client, api_key, "DELETE", f"/segments/{seg_id}").status_code == 200
    with services.db.begin() as s:
        s.get(Segment, segment["id"]).rules = {"all": []}
    assert _call(client, api_key, "DELETE", f"/lists/{list_id}").get_json() == {"deleted": True, "id": list_id}


def test_forms(client: Any, api_key: str, services: Any) -> None:
    with services.db.begin() as s:
        form = create_form(s, FormInput(name="Seminar", slug="seminar", consent_text="OK to mail me."))
        s.add(FormSubmission(form_id=form.id, status=SubmissionStatus.CONFIRMED, email="a@example.jp"))
        form_id = form.id
    refused = _call(client, api_key, "DELETE", f"/forms/{form_id}")
    assert refused.status_code == 409
    assert [(u["kind"], u["count"]) for u in refused.get_json()["usages"]] == [("submissions", 1)]
    archived = _call(client, api_key, "POST", f"/forms/{form_id}/archive").get_json()
    assert archived["archived_at"] and archived["status"] == "inactive"
    assert _call(client, api_key, "GET", "/forms").get_json()["data"] == []
    copy = _call(client, api_key, "POST", f"/forms/{form_id}/duplicate").get_json()
    assert (copy["name"], copy["slug"], copy["status"], copy["consent_text"]) == (
        "Seminar (copy)", "seminar-copy", "inactive", "OK to mail me.")
    assert _call(client, api_key, "DELETE", f"/forms/{copy['id']}").status_code == 200
    restored = _call(client, api_key, "POST", f"/forms/{form_id}/restore").get_json()
    assert restored["archived_at"] is None and restored["status"] == "inactive"
