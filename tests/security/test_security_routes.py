"""Every state-changing route, enumerated from the app's URL map (so routes added later are covered):
without a valid CSRF token a logged-in browser's POST/PUT/PATCH/DELETE is refused (400) and changes
nothing. Routes exempt from CSRF are found from the app itself, and each must show its own protection
(an exempt route nobody has classified fails the test). Every API route refuses a missing or wrong key."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from werkzeug.routing import Rule

from campaigns.db import Base
from tests.conftest import csrf_from

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
_CONVERTER = re.compile(r"<(?:(\w+)(?:\(([^)]*)\))?:)?(\w+)>")


def _url(rule: Rule, ident: int = 1) -> str:
    """A concrete URL for a rule: ids are `ident`, strings are a harmless word, any() takes its first choice."""
    def fill(match: re.Match[str]) -> str:
        converter, args = match.group(1) or "default", match.group(2) or ""
        if converter == "int":
            return str(ident)
        if converter == "any":
            return args.split(",")[0].strip().strip("'\"")
        return "x1"

    return _CONVERTER.sub(fill, rule.rule)


def _csrf_exempt(app: Flask, rule: Rule) -> bool:
    """True when Flask-WTF would skip the CSRF check for this rule (as CSRFProtect itself decides)."""
    csrf = app.extensions["csrf"]
    view = app.view_functions[rule.endpoint]
    blueprint = app.blueprints.get(rule.endpoint.rpartition(".")[0]) if "." in rule.endpoint else None
    return (blueprint is not None and blueprint in csrf._exempt_blueprints) or \
        f"{view.__module__}.{view.__name__}" in csrf._exempt_views


def _state_changing_rules(app: Flask) -> list[tuple[Rule, str]]:
    return sorted(
        ((rule, method) for rule in app.url_map.iter_rules() for method in sorted(rule.methods & STATE_CHANGING)),
        key=lambda rm: (rm[0].rule, rm[1]),
    )


def db_fingerprint(services: Any) -> dict[str, str]:
    """A digest of every row of each table: equal before and after means nothing changed."""
    digests = {}
    with services.db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name in ("api_keys",):  # last_used_at is stamped by any authenticated API call
                continue
            cols = list(table.columns)
            rows = conn.execute(sa.select(*cols).order_by(*table.primary_key.columns)).all()
            digests[table.name] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return digests


@pytest.fixture
def app_overrides(app_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**app_overrides, "bounce_webhook_secret": "route-test-secret"}


@pytest.fixture
def seeded(services: Any) -> None:
    """One object of each kind with id 1, so that routes with ids reach their real handlers."""
    from tests.security_helpers import seed_objects

    seed_objects(services)


def test_the_url_map_has_state_changing_routes_of_every_kind(app: Flask) -> None:
    rules = _state_changing_rules(app)
    blueprints = {rule.endpoint.partition(".")[0] for rule, _ in rules}
    # a sanity floor: if enumeration broke (e.g. an empty map), the tests below would pass vacuously
    assert len(rules) >= 30 and {"contacts", "templates", "api", "tracking", "auth", "webhooks"} <= blueprints


def test_every_ui_route_refuses_a_post_without_a_valid_csrf_token(app: Flask, ui: Any, services: Any,
                                                                  seeded: None) -> None:
    checked = []
    before = db_fingerprint(services)
    forged = csrf_from(app.test_client().get("/login").get_data(as_text=True))  # another session's token
    for rule, method in _state_changing_rules(app):
        if _csrf_exempt(app, rule):
            continue
        url = _url(rule)
        for token in (None, "", "bogus-token", forged):
            data = {"name": "changed", "email": "csrf@example.com", "status": "active"}
            if token is not None:
                data["csrf_token"] = token
            resp = ui.client.open(url, method=method, data=data)
            assert resp.status_code == 400, f"{method} {url} with token {token!r} answered {resp.status_code}"
        # the JSON form of the same request (a fetch() from another site) is refused as well
        resp = ui.client.open(url, method=method, json={"name": "changed"})
        assert resp.status_code == 400, f"{method} {url} as JSON answered {resp.status_code}"
        checked.append(f"{method} {rule.rule}")
    assert db_fingerprint(services) == before, "a refused request changed the database"
    assert ui.get("/").status_code == 200  # still logged in: the refusals did not break the session
    assert len(checked) >= 20, checked


def _api_protected(client: Any, url: str, method: str, services: Any) -> str | None:
    for headers in ({}, {"Authorization": "Bearer nk_wrong-key-000000000000"}, {"X-API-Key": "nk_nope"},
                    {"Authorization": "Basic dXNlcjpwYXNz"}):
        resp = client.open(url, method=method, json={"email": "x@example.com"}, headers=headers)
        if resp.status_code not in (401, 403) or not resp.is_json or "error" not in resp.get_json():
            return f"{method} {url} with {headers} answered {resp.status_code}"
    return None


def _tracking_protected(client: Any, url: str, method: str, services: Any) -> str | None:
    # The signed token in the URL is the authority: a forged one acts on nothing.
    resp = client.open(url.replace("/x1", "/forged-token"), method=method,
                       data={"List-Unsubscribe": "One-Click", "action": "all"})
    return None if resp.status_code in (400, 404) else f"{method} {url} with a forged token answered {resp.status_code}"


def _webhook_protected(client: Any, url: str, method: str, services: Any) -> str | None:
    body = b'{"type": "complaint", "email": "lead1@example.com"}'
    for headers in ({}, {"X-Nurture-Signature": "t=1,v1=00"}):
        resp = client.open(url, method=method, data=body, content_type="application/json", headers=headers)
        if resp.status_code != 401:
            return f"{method} {url} unsigned answered {resp.status_code}"
    return None


def _public_form_protected(client: Any, url: str, method: str, services: Any) -> str | None:
    # Hosted lead forms post cross-origin by design; a post to a form that does not exist, or without
    # the form's fields, must not create anything (rate limit and honeypot are tested with the forms).
    resp = client.open(url.replace("/x1", "/no-such-form"), method=method, data={"email": "spam@example.com"})
    return None if resp.status_code in (400, 404, 410) else f"{method} {url} for no form answered {resp.status_code}"


# Each blueprint that is exempt from CSRF must say what protects it instead. A new exempt blueprint or
# view that is not listed here fails test_every_csrf_exempt_route_has_its_own_protection.
EXEMPT_PROTECTIONS: dict[str, Callable[[Any, str, str, Any], str | None]] = {
    "api": _api_protected,
    "tracking": _tracking_protected,
    "webhooks": _webhook_protected,
    "public_forms": _public_form_protected,
}


def test_every_csrf_exempt_route_has_its_own_protection(app: Flask, client: Any, services: Any,
                                                        seeded: None) -> None:
    before = db_fingerprint(services)
    problems, unclassified, checked = [], [], 0
    for rule, method in _state_changing_rules(app):
        if not _csrf_exempt(app, rule):
            continue
        check = EXEMPT_PROTECTIONS.get(rule.endpoint.partition(".")[0])
        if check is None:
            unclassified.append(f"{method} {rule.rule} ({rule.endpoint})")
            continue
        problem = check(client, _url(rule), method, services)
        if problem:
            problems.append(problem)
        checked += 1
    assert not unclassified, f"CSRF-exempt routes with no protection check: {unclassified}"
    assert not problems, problems
    assert db_fingerprint(services) == before
    assert checked >= 10


def test_every_api_route_refuses_a_missing_or_wrong_key(app: Flask, client: Any, services: Any,
                                                        seeded: None) -> None:
    from campaigns.api.core import OPERATIONS

    before = db_fingerprint(services)
    problems, checked = [], 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        op = OPERATIONS.get(rule.endpoint)
        if op is not None and op.public:
            continue  # e.g. the OpenAPI document itself
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            problem = _api_protected(client, _url(rule), method, services)
            if problem:
                problems.append(problem)
            checked += 1
    assert not problems, problems
    assert checked >= 30
    public = sorted(op.endpoint for op in OPERATIONS.values() if op.public)
    assert public == ["api.openapi_document"], f"unexpected public API routes: {public}"
    assert db_fingerprint(services) == before


def test_a_valid_key_is_accepted_so_the_refusals_above_mean_something(client: Any, api_key: str) -> None:
    resp = client.get("/api/v1/contacts", headers={"Authorization": f"Bearer {api_key}"})
    assert resp.status_code == 200
    revoked = client.get("/api/v1/contacts", headers={"Authorization": f"Bearer {api_key}x"})
    assert revoked.status_code == 401


def test_get_never_changes_state(app: Flask, ui: Any, services: Any, seeded: None) -> None:
    """Every GET page of the UI, visited with real ids, leaves the database as it was. A first visit may
    create a settings row with its defaults (the account, scoring settings: lazy first-use set-up), so
    the pages are visited once before the fingerprint is taken and once after."""
    rules = [rule for rule in app.url_map.iter_rules()
             if "GET" in rule.methods and not rule.rule.startswith(("/static", "/t/", "/api/", "/f/"))
             and rule.endpoint != "auth.login"]
    for rule in rules:
        ui.get(_url(rule))
    before = db_fingerprint(services)
    for rule in rules:
        resp = ui.get(_url(rule))
        assert resp.status_code < 500, f"GET {rule.rule} answered {resp.status_code}"
    assert db_fingerprint(services) == before
    assert len(rules) >= 30
