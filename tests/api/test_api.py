"""The JSON API /api/v1: key auth on every route, validation per field, events driving sequences,
idempotent retries, keyset pagination, and an OpenAPI document that matches the routes and validators."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from campaigns.models import (
    ApiKey,
    Broadcast,
    Contact,
    Event,
    JourneyEnrolment,
    JourneyEnrolmentStatus,
    Send,
    SendStatus,
    Template,
)

API = "/api/v1"
HTML = "<html><head><style>p { color: #333; }</style></head><body><p>Hello {{ contact.first_name }}</p>" \
       '<a href="https://acme.test/whitepaper">Read</a></body></html>'


def check_documented(app: Any, method: str, url: str, resp: Any) -> None:
    """Assert that the answer's status is documented for the route and its body matches the documented schema."""
    from jsonschema import Draft202012Validator

    from campaigns.api.core import OPERATIONS
    from campaigns.api.openapi import build_document

    doc = build_document()
    try:
        endpoint, _args = app.url_map.bind("nurture.test").match(url.split("?", 1)[0], method)
    except Exception:  # no such route: the app's JSON 404/405, not an operation's answer
        return
    op = OPERATIONS[endpoint]
    documented = doc["paths"][op.path][method.lower()]["responses"]
    assert str(resp.status_code) in documented, (method, url, resp.status_code, resp.get_json())
    schema = documented[str(resp.status_code)]["content"]["application/json"]["schema"]
    validator = Draft202012Validator({**schema, "components": doc["components"]})
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(resp.get_json())]
    assert not errors, (method, url, errors[:5])


class Api:
    """A test client that sends the API key and JSON, and checks every answer against the OpenAPI document."""

    def __init__(self, client: Any, key: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {key}"}

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        resp = self.client.open(API + path, method=method, headers={**self.headers, **kw.pop("headers", {})}, **kw)
        check_documented(self.client.application, method, API + path, resp)
        return resp

    def get(self, path: str, **kw: Any) -> Any:
        return self._call("GET", path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self._call("POST", path, json=json, **kw)

    def put(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self._call("PUT", path, json=json, **kw)


@pytest.fixture
def api(client: Any, api_key: str) -> Api:
    return Api(client, api_key)


def count(services: Any, model: Any, *where: Any) -> int:
    with services.db.begin() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def make_template(api: Api, name: str = "Welcome") -> int:
    resp = api.post("/templates", {"name": name, "subject": "Hi {{ contact.first_name }}", "html_source": HTML})
    assert resp.status_code == 201, resp.get_json()
    return int(resp.get_json()["id"])


def api_rules(app: Any) -> list[tuple[str, str]]:
    """(rule, method) for every API route in the app's url_map."""
    out = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(API + "/"):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                out.append((rule.rule, method))
    return out


def concrete(rule: str) -> str:
    return re.sub(r"<[^>]+>", "1", rule)


# ---------------------------------------------------------------- authentication
def test_every_route_but_the_document_requires_a_key(app, client, services):
    from campaigns.users import create_api_key

    with services.db.begin() as s:
        revoked = create_api_key(s, "old")
        s.scalar(select(ApiKey).where(ApiKey.name == "old")).revoked = True
    rules = api_rules(app)
    assert len(rules) >= 20
    public = []
    for rule, method in rules:
        url = concrete(rule)
        for headers in ({}, {"Authorization": "Bearer nk_wrong"}, {"X-API-Key": "nk_wrong"},
                        {"Authorization": f"Bearer {revoked}"}, {"Authorization": "Basic abc"}):
            resp = client.open(url, method=method, headers=headers, json={})
            if resp.status_code != 401:
                public.append((rule, method))
                break
            body = resp.get_json()
            assert body["error"] == "unauthorized", (rule, method, body)
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert public == [(API + "/openapi.json", "GET")]


def test_bearer_and_x_api_key_both_authenticate_and_stamp_last_use(client, api_key, services):
    assert client.get(API + "/contacts", headers={"Authorization": f"Bearer {api_key}"}).status_code == 200
    assert client.get(API + "/contacts", headers={"X-API-Key": api_key}).status_code == 200
    with services.db.begin() as s:
        assert s.scalar(select(ApiKey.last_used_at)) is not None


# ---------------------------------------------------------------- contacts
def test_contact_upsert_creates_then_updates_and_merges_attributes(api, services):
    body = {
        "email": "  Hanako.Yamada@ACME.CO.JP ", "first_name": "花子", "last_name": "山田", "company": "Acme",
        "timezone": "Asia/Tokyo", "attributes": {"industry": "manufacturing"},
        "consent": {"at": "2026-11-01T10:00:00+09:00", "method": "web_form", "source": "/whitepaper",
                    "text": "I agree to receive mail"},
    }
    first = api.post("/contacts", body)
    assert first.status_code == 201, first.get_json()
    created = first.get_json()
    assert created["created"] is True
    contact = created["contact"]
    assert contact["email"] == "Hanako.Yamada@acme.co.jp"
    assert contact["consent"] == {"at": "2026-11-01T01:00:00+00:00", "method": "web_form", "source": "/whitepaper",
                                  "text": "I agree to receive mail"}

    second = api.post("/contacts", {"email": "hanako.yamada@acme.co.jp".replace("hanako.yamada", "Hanako.Yamada"),
                                    "job_title": "CTO", "attributes": {"employees": 120}})
    assert second.status_code == 200
    updated = second.get_json()["contact"]
    assert updated["id"] == contact["id"]
    assert updated["job_title"] == "CTO" and updated["first_name"] == "花子"
    assert updated["attributes"] == {"industry": "manufacturing", "employees": 120}
    assert count(services, Contact) == 1
    assert api.get(f"/contacts/{contact['id']}").get_json()["job_title"] == "CTO"


def test_contact_validation_reports_each_field_and_stores_nothing(api, services):
    resp = api.post("/contacts", {
        "email": "not-an-address", "first_name": "x" * 201, "timezone": "Mars/Olympus_Mons",
        "consent": {"at": "yesterday", "method": 5}, "attributes": [], "favourite_colour": "blue",
    })
    assert resp.status_code == 422
    body = resp.get_json()
    assert body["error"] == "validation_failed"
    assert body["details"] == {
        "email": "is not a valid email address",
        "first_name": "must have at most 200 characters",
        "timezone": "is not a known time zone (use an IANA name such as Asia/Tokyo)",
        "consent.at": "must be an ISO 8601 date-time with a UTC offset, e.g. 2026-11-22T09:00:00+09:00",
        "consent.method": "must be a string",
        "attributes": "must be an object",
        "favourite_colour": "is not a known field",
    }
    missing = api.post("/contacts", {"first_name": "No address"})
    assert missing.get_json()["details"] == {"email": "is required"}
    assert count(services, Contact) == 0


def test_one_line_fields_refuse_control_characters_and_blank_names(api, services):
    contact = api.post("/contacts", {"email": "cc@acme.test", "first_name": "Ann\r\nBcc: all@acme.test"})
    assert contact.get_json()["details"] == {"first_name": "must be a single line without control characters"}
    template = api.post("/templates", {"name": "\r", "subject": "Hi\x0b", "html_source": "<p>x</p>",
                                       "untracked_urls": ["https://acme.test/"]})
    assert template.get_json()["details"] == {"name": "must be a single line with some visible text",
                                              "subject": "must be a single line with some visible text"}
    # found by the fuzzer: the HTML parser refuses C0 control characters, so the API refuses them first
    html = api.post("/templates", {"name": "Esc", "subject": "Hi", "html_source": "<p>\x1b</p>\n\t"})
    assert html.get_json()["details"] == {"html_source": "must not contain control characters other than tabs and line breaks"}
    assert count(services, Contact) == count(services, Template) == 0


@pytest.mark.parametrize(
    ("data", "content_type", "status", "error"),
    [
        (b"{", "application/json", 400, "invalid_json"),
        (b"", "application/json", 400, "invalid_json"),
        (b'{"email": NaN}', "application/json", 400, "invalid_json"),
        (b'{"email": "a@b.test", "attributes": {"n": 1e999}}', "application/json", 400, "invalid_json"),
        (b"\xff\xfe{", "application/json", 400, "invalid_json"),
        (b"email=a@b.test", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (b'{"email": "a@b.test", "first_name": "nul\\u0000byte"}', "application/json", 422, "validation_failed"),
        (b'{"email": "a@b.test", "last_name": "\\ud800"}', "application/json", 422, "validation_failed"),
        (b'{"email": "a@b.test", "attributes": ' + b'{"a": ' * 30 + b"1" + b"}" * 31, "application/json", 422,
         "validation_failed"),
        (b"[1, 2]", "application/json", 422, "validation_failed"),
    ],
)
def test_malformed_bodies_get_a_json_reason(client, api_key, services, data, content_type, status, error):
    resp = client.post(API + "/contacts", data=data, content_type=content_type,
                       headers={"Authorization": f"Bearer {api_key}"})
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.get_json()["error"] == error
    assert count(services, Contact) == 0


def test_body_size_is_limited(api, services):
    resp = api.post("/contacts", {"email": "big@acme.test", "attributes": {"blob": "x" * (1024 * 1024 + 10)}})
    assert resp.status_code == 413
    assert resp.get_json()["error"] == "request_entity_too_large"
    assert count(services, Contact) == 0


def test_unknown_ids_are_json_404s(api):
    for path in ("/contacts/999", "/templates/999", "/sequences/999", "/broadcasts/999", "/sends/999",
                 "/contacts/99999999999999999999", "/nowhere"):
        resp = api.get(path)
        assert resp.status_code == 404, path
        assert resp.get_json()["error"] == "not_found"
    assert api.post("/sequences/999/activate").status_code == 404
    assert api.put("/templates/999", {"subject": "s", "html_source": "<p>x</p>"}).status_code == 404


def test_contacts_keyset_pagination_pages_through_everything_once(api):
    ids = [api.post("/contacts", {"email": f"lead{i:02d}@acme.test"}).get_json()["contact"]["id"] for i in range(23)]
    seen: list[int] = []
    pages = 0
    after = None
    while True:
        resp = api.get("/contacts", query_string={"limit": 10, **({"after": after} if after else {})})
        assert resp.status_code == 200
        page = resp.get_json()
        seen += [c["id"] for c in page["data"]]
        pages += 1
        after = page["next_after"]
        if after is None:
            break
    assert seen == sorted(ids) and pages == 3
    found = api.get("/contacts", query_string={"email": "LEAD07@acme.test".replace("LEAD", "lead")}).get_json()
    assert [c["email"] for c in found["data"]] == ["lead07@acme.test"] and found["next_after"] is None
    bad = api.get("/contacts", query_string={"limit": 0, "after": "abc"})
    assert bad.status_code == 422
    assert bad.get_json()["details"] == {"limit": "must be at least 1", "after": "must be an integer"}


# ---------------------------------------------------------------- events and sequences
def build_active_sequence(api: Api, services: Any = None) -> int:
    """A sequence made and activated through the API: it answers as the live journey it runs as. With
    `services`, one scheduler tick follows (the journey engine's event cursor starts at its first pass:
    events before it start nothing)."""
    template_id = make_template(api)
    resp = api.post("/sequences", {
        "name": "Whitepaper follow-up",
        "trigger_events": ["whitepaper_downloaded"],
        "exit_events": ["demo_booked"],
        "steps": [
            {"template_id": template_id, "delay_minutes": 0},
            {"template_id": template_id, "delay_minutes": 3 * 24 * 60, "window_days": "12345",
             "window_start_hour": 9, "window_end_hour": 18},
        ],
    })
    assert resp.status_code == 201, resp.get_json()
    sequence = resp.get_json()
    assert sequence["status"] == "draft" and [s["position"] for s in sequence["steps"]] == [1, 2]
    activated = api.post(f"/sequences/{sequence['id']}/activate")
    assert activated.status_code == 200, activated.get_json()
    body = activated.get_json()
    assert (body["status"], body["journey_status"]) == ("converted", "live") and body["journey_id"]
    assert [(st["id"], st["delay_minutes"], st["window_days"]) for st in body["steps"]] == [
        (sequence["steps"][0]["id"], 0, ""), (sequence["steps"][1]["id"], 3 * 24 * 60, "12345")]
    if services is not None:
        _tick(services)
    return int(sequence["id"])


def _tick(services: Any) -> None:
    from campaigns import scheduler

    scheduler.tick(services, lock=False)


def _walks(services: Any) -> int:
    return count(services, JourneyEnrolment)


def test_an_activated_sequence_is_a_view_of_its_journey(api, services):
    sequence_id = build_active_sequence(api)
    journey_id = api.get(f"/sequences/{sequence_id}").get_json()["journey_id"]
    refused = api.put(f"/sequences/{sequence_id}", {"name": "Renamed"})
    assert refused.status_code == 422
    assert refused.get_json()["error"] == "runs_as_journey"
    assert refused.get_json()["details"]["journey_id"] == str(journey_id)
    assert f"/api/v1/journeys/{journey_id}" in refused.get_json()["message"]
    assert api.get(f"/journeys/{journey_id}").get_json()["status"] == "live"
    paused = api.post(f"/sequences/{sequence_id}/pause").get_json()
    assert (paused["status"], paused["journey_status"]) == ("converted", "paused")
    resumed = api.post(f"/sequences/{sequence_id}/activate").get_json()
    assert resumed["journey_status"] == "live" and resumed["journey_id"] == journey_id
    report = api.get(f"/reports/sequences/{sequence_id}").get_json()
    assert (report["complete"], report["journey_id"]) == (False, journey_id)
    assert report["journey_stats"] == f"/api/v1/journeys/{journey_id}/stats"
    draft = api.post("/sequences", {"name": "Draft", "steps": []}).get_json()
    refused = api.post(f"/sequences/{draft['id']}/pause")
    assert refused.status_code == 422 and "draft" in refused.get_json()["message"]
    assert api.get(f"/reports/sequences/{draft['id']}").get_json()["complete"] is True


def test_event_enrols_in_the_triggered_sequence_and_exit_event_ends_it(api, services):
    sequence_id = build_active_sequence(api, services)
    resp = api.post("/events", {
        "email": "new.lead@example.jp", "name": "whitepaper_downloaded",
        "properties": {"paper": "nurturing-101"}, "contact": {"first_name": "Ken", "company": "Example KK"},
    })
    assert resp.status_code == 202, resp.get_json()
    accepted = resp.get_json()
    assert accepted["duplicate"] is False
    contact = api.get(f"/contacts/{accepted['contact_id']}").get_json()
    assert (contact["email"], contact["source"], contact["first_name"]) == ("new.lead@example.jp", "api", "Ken")
    _tick(services)
    journey_id = api.get(f"/sequences/{sequence_id}").get_json()["journey_id"]
    with services.db.begin() as s:
        walk = s.scalar(select(JourneyEnrolment).where(JourneyEnrolment.contact_id == accepted["contact_id"]))
        assert walk is not None and walk.journey_id == journey_id
        assert walk.status == JourneyEnrolmentStatus.ACTIVE
        event = s.get(Event, accepted["id"])
        assert (event.name, event.properties, event.source) == ("whitepaper_downloaded", {"paper": "nurturing-101"}, "api")
    assert api.get(f"/sequences/{sequence_id}").get_json()["enrollments"] == {"active": 1}

    ended = api.post("/events", {"email": "new.lead@example.jp", "name": "demo_booked"})
    assert ended.status_code == 202
    _tick(services)
    with services.db.begin() as s:
        walk = s.scalar(select(JourneyEnrolment).where(JourneyEnrolment.contact_id == accepted["contact_id"]))
        assert walk.status == JourneyEnrolmentStatus.EXITED
    assert count(services, Contact) == 1  # the second event found the contact, it did not create another


def test_an_event_for_a_paused_sequence_enrols_nobody(api, services):
    sequence_id = build_active_sequence(api, services)
    assert api.post(f"/sequences/{sequence_id}/pause").get_json()["journey_status"] == "paused"
    assert api.post("/events", {"email": "x@acme.test", "name": "whitepaper_downloaded"}).status_code == 202
    _tick(services)
    assert _walks(services) == 0


def test_a_back_filled_event_is_recorded_and_exits_but_starts_no_sequence(api, services):
    sequence_id = build_active_sequence(api, services)
    hours_ago = lambda h: (datetime.now(UTC) - timedelta(hours=h)).isoformat()  # noqa: E731
    old = api.post("/events", {"email": "history@acme.test", "name": "whitepaper_downloaded",
                               "occurred_at": hours_ago(24 * 400)})
    assert old.status_code == 202
    _tick(services)
    with services.db.begin() as s:
        assert s.get(Event, old.get_json()["id"]) is not None  # kept for scoring, segments, reports
    assert _walks(services) == 0  # last year's download sends no "thanks for downloading" today
    recent = api.post("/events", {"email": "history@acme.test", "name": "whitepaper_downloaded",
                                  "occurred_at": hours_ago(23)})
    _tick(services)
    assert recent.status_code == 202 and _walks(services) == 1  # within a day: it starts
    api.post("/events", {"email": "history@acme.test", "name": "demo_booked", "occurred_at": hours_ago(24 * 30)})
    _tick(services)
    with services.db.begin() as s:  # an old exit event still ends the walk: stopping mail is safe
        assert s.scalar(select(JourneyEnrolment.status)) == JourneyEnrolmentStatus.EXITED
    assert api.get(f"/sequences/{sequence_id}").get_json()["enrollments"] == {"exited": 1}


def test_event_occurred_at_is_stored_in_utc_and_must_have_an_offset(api, services):
    ok = api.post("/events", {"email": "t@acme.test", "name": "visit", "occurred_at": "2026-11-20T09:30:00+09:00"})
    assert ok.status_code == 202
    with services.db.begin() as s:
        assert s.get(Event, ok.get_json()["id"]).occurred_at == datetime(2026, 11, 20, 0, 30, tzinfo=UTC)
    naive = api.post("/events", {"email": "t@acme.test", "name": "visit", "occurred_at": "2026-11-20T09:30:00"})
    future = api.post("/events", {"email": "t@acme.test", "name": "visit",
                                  "occurred_at": (datetime.now(UTC) + timedelta(days=2)).isoformat()})
    assert naive.status_code == 422 and "occurred_at" in naive.get_json()["details"]
    assert future.get_json()["details"] == {"occurred_at": "must not be in the future"}
    bad_name = api.post("/events", {"email": "t@acme.test", "name": " padded "})
    assert bad_name.status_code == 422 and "name" in bad_name.get_json()["details"]
    assert count(services, Event) == 1


def test_retried_event_with_idempotency_key_is_recorded_once(api, services):
    build_active_sequence(api, services)
    body = {"email": "retry@acme.test", "name": "whitepaper_downloaded"}
    key = {"Idempotency-Key": "4f1c2a9e-retry-1"}
    first = api.post("/events", body, headers=key)
    second = api.post("/events", body, headers=key)
    assert first.status_code == second.status_code == 202
    assert second.get_json() == {**first.get_json(), "duplicate": True}
    _tick(services)
    assert count(services, Event) == 1 and _walks(services) == 1
    reused = api.post("/events", {**body, "name": "other"}, headers=key)
    assert reused.status_code == 409 and reused.get_json()["error"] == "idempotency_conflict"
    assert api.post("/events", body, headers={"Idempotency-Key": "bad key with spaces"}).status_code == 422
    assert count(services, Event) == 1


def test_event_id_field_deduplicates_across_requests(api, services):
    body = {"email": "id@acme.test", "name": "signup", "event_id": "evt_123"}
    first = api.post("/events", body).get_json()
    again = api.post("/events", body).get_json()
    assert again == {**first, "duplicate": True}
    assert api.post("/events", {**body, "event_id": "evt_124"}).get_json()["duplicate"] is False
    assert count(services, Event) == 2


def test_batch_records_all_and_skips_repeated_event_ids(api, services):
    build_active_sequence(api, services)
    events = [
        {"email": "a@acme.test", "name": "whitepaper_downloaded", "event_id": "e1"},
        {"email": "b@acme.test", "name": "whitepaper_downloaded", "event_id": "e2"},
        {"email": "a@acme.test", "name": "whitepaper_downloaded", "event_id": "e1"},
        {"email": "a@acme.test", "name": "page_view", "properties": {"path": "/pricing"}},
    ]
    resp = api.post("/events/batch", {"events": events}, headers={"Idempotency-Key": "batch-1"})
    assert resp.status_code == 202, resp.get_json()
    body = resp.get_json()
    assert (body["accepted"], body["duplicates"]) == (3, 1)
    assert [e["duplicate"] for e in body["events"]] == [False, False, True, False]
    assert body["events"][2]["id"] == body["events"][0]["id"]
    assert count(services, Event) == 3 and count(services, Contact) == 2
    _tick(services)
    assert _walks(services) == 2

    retry = api.post("/events/batch", {"events": events}, headers={"Idempotency-Key": "batch-1"}).get_json()
    assert retry["duplicates"] == 4 and count(services, Event) == 3
    # a new batch repeating e2 records only the new event
    more = api.post("/events/batch", {"events": [events[1], {"email": "c@acme.test", "name": "signup"}]}).get_json()
    assert [e["duplicate"] for e in more["events"]] == [True, False] and count(services, Event) == 4


def test_batch_with_one_bad_event_records_nothing(api, services):
    resp = api.post("/events/batch", {"events": [
        {"email": "ok@acme.test", "name": "signup"},
        {"email": "nope", "name": "signup"},
        {"email": "ok2@acme.test", "name": "signup", "occurred_at": "2999-01-01T00:00:00Z"},
        {"email": "ok3@acme.test"},
    ]})
    assert resp.status_code == 422
    # Shape problems come first, all at once; checks against the clock follow once the shape is right.
    assert resp.get_json()["details"] == {"events.1.email": "is not a valid email address", "events.3.name": "is required"}
    late = api.post("/events/batch", {"events": [
        {"email": "ok@acme.test", "name": "signup"},
        {"email": "ok2@acme.test", "name": "signup", "occurred_at": "2999-01-01T00:00:00Z"},
    ]})
    assert late.get_json()["details"] == {"events.1.occurred_at": "must not be in the future"}
    too_many = api.post("/events/batch", {"events": [{"email": "x@acme.test", "name": "n"}] * 1001})
    assert too_many.get_json()["details"] == {"events": "must have at most 1000 items"}
    assert count(services, Event) == 0 and count(services, Contact) == 0


# ---------------------------------------------------------------- templates
def test_templates_create_read_and_version(api, services):
    template_id = make_template(api)
    got = api.get(f"/templates/{template_id}").get_json()
    version = got["current_version"]
    assert version["version"] == 1 and version["subject"] == "Hi {{ contact.first_name }}"
    assert [link["url"] for link in version["links"]] == ["https://acme.test/whitepaper"]
    assert version["links"][0]["tracked"] is True

    resp = api.put(f"/templates/{template_id}", {
        "name": "Welcome v2", "subject": "Hello again", "html_source": HTML,
        "untracked_urls": ["https://acme.test/whitepaper"],
    })
    assert resp.status_code == 200, resp.get_json()
    updated = resp.get_json()
    assert updated["name"] == "Welcome v2" and updated["current_version"]["version"] == 2
    assert updated["current_version"]["links"][0]["tracked"] is False
    listed = api.get("/templates").get_json()["data"]
    assert [(t["id"], t["version"], t["subject"]) for t in listed] == [(template_id, 2, "Hello again")]


def test_template_errors_are_422_and_store_nothing(api, services):
    resp = api.post("/templates", {"name": "Broken", "subject": "Hi", "html_source": "<p>{% if %}</p>"})
    assert resp.status_code == 422
    body = resp.get_json()
    assert body["error"] == "template_error" and "line 1" in body["message"]
    assert list(body["details"]) == ["html_source"]
    subject = api.post("/templates", {"name": "Subject", "subject": "Hi {{ contact.first_name ", "html_source": "<p>x</p>"})
    assert subject.status_code == 422 and list(subject.get_json()["details"]) == ["subject"]
    assert count(services, Template) == 0
    missing = api.post("/templates", {"name": "", "subject": "s"})
    assert missing.get_json()["details"] == {"name": "must not be empty", "html_source": "is required"}


# ---------------------------------------------------------------- sequences
def test_sequence_validation_and_edits(api, services):
    template_id = make_template(api)
    bad = api.post("/sequences", {"name": "S", "exit_stages": ["warm", "lukewarm"], "steps": [
        {"template_id": template_id, "window_days": "89", "window_start_hour": 25},
        {"template_id": 99999},
    ]})
    assert bad.status_code == 422
    details = bad.get_json()["details"]
    assert set(details) == {"exit_stages.1", "steps.0.window_days", "steps.0.window_start_hour"}
    unknown_template = api.post("/sequences", {"name": "S", "steps": [{"template_id": 99999}]})
    assert unknown_template.status_code == 422 and "does not exist" in unknown_template.get_json()["message"]

    empty = api.post("/sequences", {"name": "Empty"}).get_json()
    refused = api.post(f"/sequences/{empty['id']}/activate")
    assert refused.status_code == 422 and "at least one step" in refused.get_json()["message"]

    seq = api.post("/sequences", {"name": "Nurture", "steps": [{"template_id": template_id}]}).get_json()
    first_step = seq["steps"][0]["id"]
    edited = api.put(f"/sequences/{seq['id']}", {
        "description": "three mails", "goal_event": "demo_booked",
        "steps": [{"template_id": template_id, "delay_minutes": 60}, {"id": first_step, "template_id": template_id}],
    })
    assert edited.status_code == 200, edited.get_json()
    steps = edited.get_json()["steps"]
    assert [(s["position"], s["delay_minutes"]) for s in steps] == [(1, 60), (2, 0)] and steps[1]["id"] == first_step
    assert edited.get_json()["goal_event"] == "demo_booked" and edited.get_json()["name"] == "Nurture"
    assert api.put(f"/sequences/{seq['id']}", {}).status_code == 422
    listed = api.get("/sequences", query_string={"limit": 1}).get_json()
    assert len(listed["data"]) == 1 and listed["next_after"] == listed["data"][0]["id"]


# ---------------------------------------------------------------- broadcasts and sends
def test_broadcast_lifecycle(api, services):
    template_id = make_template(api)
    missing = api.post("/broadcasts", {"name": "News", "template_id": 4242, "segment_id": 77})
    assert missing.get_json()["details"] == {"template_id": "no such template", "segment_id": "no such segment"}
    created = api.post("/broadcasts", {"name": "November news", "template_id": template_id})
    assert created.status_code == 201
    broadcast = created.get_json()
    assert broadcast["status"] == "draft"
    when = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    scheduled = api.post(f"/broadcasts/{broadcast['id']}/schedule", {"scheduled_at": when.isoformat()})
    assert scheduled.status_code == 200, scheduled.get_json()
    assert scheduled.get_json()["status"] == "scheduled"
    assert datetime.fromisoformat(scheduled.get_json()["scheduled_at"]) == when
    later = api.post("/broadcasts", {"name": "Now", "template_id": template_id}).get_json()
    now = api.client.post(f"{API}/broadcasts/{later['id']}/schedule", headers=api.headers)  # no body: send now
    assert now.status_code == 200 and now.get_json()["status"] == "scheduled"
    assert datetime.fromisoformat(now.get_json()["scheduled_at"]) <= datetime.now(UTC)
    # a time well in the past is a typo or a stale draft, never "send to everyone now"
    past = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    refused = api.post("/broadcasts", {"name": "Typo", "template_id": template_id, "scheduled_at": past})
    assert refused.status_code == 422 and "in the past" in refused.get_json()["message"]
    refused = api.post(f"/broadcasts/{later['id']}/schedule", {"scheduled_at": past})
    assert refused.status_code == 422 and "in the past" in refused.get_json()["message"]
    stale = api.post("/broadcasts", {"name": "Stale", "template_id": template_id,
                                     "scheduled_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}).get_json()
    with services.db.begin() as s:  # the draft's stored time has passed meanwhile
        s.get(Broadcast, stale["id"]).scheduled_at = datetime.now(UTC) - timedelta(hours=3)
    refused = api.client.post(f"{API}/broadcasts/{stale['id']}/schedule", headers=api.headers)
    assert refused.status_code == 422 and api.get(f"/broadcasts/{stale['id']}").get_json()["status"] == "draft"
    cancelled = api.post(f"/broadcasts/{broadcast['id']}/cancel")
    assert cancelled.get_json()["status"] == "cancelled"
    again = api.post(f"/broadcasts/{broadcast['id']}/cancel")
    assert again.status_code == 422 and again.get_json()["error"] == "rejected"
    assert api.get(f"/broadcasts/{broadcast['id']}").get_json()["status"] == "cancelled"


def test_send_status_filters_and_pagination(api, services):
    template_id = make_template(api)
    broadcast_id = api.post("/broadcasts", {"name": "B", "template_id": template_id}).get_json()["id"]
    contact_ids = [api.post("/contacts", {"email": f"s{i}@acme.test"}).get_json()["contact"]["id"] for i in range(5)]
    with services.db.begin() as s:
        version_id = s.get(Template, template_id).current_version_id
        for i, contact_id in enumerate(contact_ids):
            s.add(Send(contact_id=contact_id, broadcast_id=broadcast_id, template_version_id=version_id,
                       status=SendStatus.SENT if i % 2 == 0 else SendStatus.FAILED,
                       error="" if i % 2 == 0 else "550 no such user"))
    sent = api.get("/sends", query_string={"broadcast_id": broadcast_id, "status": "sent", "limit": 2}).get_json()
    assert [s["contact_id"] for s in sent["data"]] == contact_ids[0:3:2]
    rest = api.get("/sends", query_string={"broadcast_id": broadcast_id, "status": "sent", "after": sent["next_after"]})
    assert [s["contact_id"] for s in rest.get_json()["data"]] == [contact_ids[4]]
    one = api.get("/sends", query_string={"contact_id": contact_ids[1]}).get_json()["data"]
    assert len(one) == 1 and one[0]["status"] == "failed" and one[0]["email"] == "s1@acme.test"
    detail = api.get(f"/sends/{one[0]['id']}").get_json()
    assert detail["error"] == "550 no such user" and detail["broadcast_id"] == broadcast_id
    assert api.get("/sends", query_string={"status": "lost"}).status_code == 422
    assert api.get(f"/broadcasts/{broadcast_id}").get_json()["sends"] == {"sent": 3, "failed": 2}


# ---------------------------------------------------------------- the OpenAPI document
def test_openapi_document_is_valid_and_lists_every_route(app, client):
    from openapi_spec_validator import validate

    resp = client.get(API + "/openapi.json")
    assert resp.status_code == 200
    doc = resp.get_json()
    validate(doc)
    assert doc["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, item in doc["paths"].items() for method in item}
    routed = {(re.sub(r"<[^:>]+:(\w+)>", r"{\1}", rule)[len(API):], method) for rule, method in api_rules(app)}
    assert documented == routed
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if path != "/openapi.json":
                assert "401" in op["responses"], (path, method)


def test_documented_request_schemas_are_the_ones_enforced(api, client):
    """For every documented body, an empty object is refused naming exactly the documented required fields."""
    doc = client.get(API + "/openapi.json").get_json()
    schemas = doc["components"]["schemas"]
    checked = 0
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if "requestBody" not in op:
                continue
            name = op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
            required = schemas[name].get("required", [])
            if not required and not schemas[name].get("minProperties"):
                continue
            # The body is validated before the id is looked up, so unknown ids still show the validation.
            resp = client.open(API + re.sub(r"\{\w+\}", "1", path), method=method.upper(), json={},
                               headers=api.headers)
            assert resp.status_code == 422, (path, method, resp.status_code)
            assert set(resp.get_json()["details"]) == set(required or ["body"]), (path, method)
            checked += 1
    assert checked >= 5


def test_concurrent_retries_with_one_key_record_one_event(app, api_key, services):
    """Eight clients send the same event with the same Idempotency-Key at once: one event, one contact."""
    build_active_sequence(Api(app.test_client(), api_key), services)
    body = {"email": "race@acme.test", "name": "whitepaper_downloaded", "contact": {"first_name": "Race"}}
    barrier = threading.Barrier(8)
    answers: list[tuple[int, Any]] = []

    def post() -> None:
        client = app.test_client()
        barrier.wait()
        resp = client.post(API + "/events", json=body,
                           headers={"Authorization": f"Bearer {api_key}", "Idempotency-Key": "race-1"})
        answers.append((resp.status_code, resp.get_json()))

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(code for code, _ in answers) == [202] * 8, answers
    assert sum(not a["duplicate"] for _, a in answers) == 1
    assert len({a["id"] for _, a in answers}) == 1
    _tick(services)
    assert count(services, Event) == 1 and count(services, Contact) == 1 and _walks(services) == 1


def test_the_scheduler_prunes_idempotency_records_past_their_lifetime(api, services):
    from campaigns import scheduler
    from campaigns.models import IdempotencyKey

    for i in range(3):
        assert api.post("/events", {"email": f"p{i}@acme.test", "name": "signup", "event_id": f"evt_p{i}"}).status_code == 202
    now = datetime.now(UTC)
    with services.db.begin() as s:  # two of them are older than the lifetime
        for row in s.scalars(select(IdempotencyKey).where(IdempotencyKey.key != "event:evt_p2")):
            row.created_at = now - timedelta(days=8)
    assert scheduler.prune_idempotency_keys(services, now) == {"idempotency_pruned": 2}
    with services.db.begin() as s:
        assert list(s.scalars(select(IdempotencyKey.key))) == ["event:evt_p2"]
    again = api.post("/events", {"email": "p2@acme.test", "name": "signup", "event_id": "evt_p2"}).get_json()
    assert again["duplicate"] is True  # the live record still deduplicates
