"""Every route of the URL map (so routes added later are covered), fed hostile path and query values:
huge and negative ids, non-ASCII digits, NUL bytes, very long strings, extreme numbers in every query
parameter a view or API operation reads, and JSON nested 10,000 deep. Whatever the input, no answer is a
5xx: bad input is a 4xx (or a page that ignores it), never an OverflowError, a division by zero or a
RecursionError that ends as "internal error". UI routes are called logged in (with a CSRF token on POST),
API routes with a valid key, so the requests reach the handlers instead of stopping at the login."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from flask import Flask
from werkzeug.routing import Rule

from tests.conftest import USER_EMAIL, USER_PASSWORD, csrf_from

ROOT = Path(__file__).resolve().parents[2]
_CONVERTER = re.compile(r"<(?:(\w+)(?:\(([^)]*)\))?:)?(\w+)>")

# Path values, by converter: each must be refused (404) or handled, never a 5xx.
HOSTILE_IDS = [str(10**30), str(2**63), str(2**31), "-1", "0", "\uff11", "\u0661\u0662", "\u00b2", "%00", "1" * 5000]
HOSTILE_STRINGS = ["%00", "x" * 5000, "\uff11", "..%2F..%2Fetc%2Fpasswd", "%FF%FE", "%E3%81%82" * 300]
# Query values: every known query parameter gets the same value in one request.
HOSTILE_QUERY_VALUES = ["-1", "0", str(10**12), str(10**9), str(10**30), "-" + str(10**30), "\uff11", "\u00b2", "nan", "inf",
                        "-inf", "1e308", "%00", "\x00", "x" * 5000, "[]", "{", "1.5", "0x10"]
# Parameters read by name somewhere (the examples, and any the code asks for: see _query_names).
COMMON_QUERY_NAMES = ["page", "per_page", "limit", "offset", "after", "before", "days", "from", "to", "step",
                      "variants", "baseline", "lift", "portion", "broadcast_id", "granularity", "q", "rules"]
DEEP_JSON = "[" * 10_000 + "]" * 10_000
DEEP_OBJECT = '{"a":' * 10_000 + "1" + "}" * 10_000


def _query_names(app: Flask) -> list[str]:
    """Every query parameter a UI view reads (request.args.get("name") in the source) or an API operation
    declares, plus the common paging names: so a parameter added later is fuzzed too."""
    from campaigns.api.core import OPERATIONS

    names = set(COMMON_QUERY_NAMES)
    for op in OPERATIONS.values():
        names.update(op.query)
    for source in [*(ROOT / "campaigns" / "views").glob("*.py"), *(ROOT / "tracking").glob("*.py")]:
        names.update(re.findall(r"args\.get\(\s*[\"']([\w-]+)[\"']", source.read_text()))
        names.update(re.findall(r"_(?:int|float|query_\w+)\(\s*[\"']([\w-]+)[\"']", source.read_text()))
    return sorted(names)


def _fill(rule: Rule, value_for: Any) -> str:
    def fill(match: re.Match[str]) -> str:
        converter, args, name = match.group(1) or "default", match.group(2) or "", match.group(3)
        if converter == "any":
            return args.split(",")[0].strip().strip("'\"")
        return str(value_for(converter, name))

    return _CONVERTER.sub(fill, rule.rule)


def _urls(rule: Rule, ids: dict[str, int]) -> Iterator[str]:
    """The rule with each hostile value in each path variable (others at a real object's id or a word)."""
    variables = [m.group(3) for m in _CONVERTER.finditer(rule.rule) if m.group(1) != "any"]

    def normal(converter: str, name: str) -> str:
        if converter == "int":
            return str(ids.get(name, 1))
        return "seed-form" if name == "slug" else "x1"

    yield _fill(rule, normal)
    for target in variables:
        converter_of = {m.group(3): m.group(1) or "default" for m in _CONVERTER.finditer(rule.rule)}
        values = HOSTILE_IDS if converter_of[target] == "int" else HOSTILE_STRINGS
        for value in values:
            yield _fill(rule, lambda c, n, v=value, t=target: v if n == t else normal(c, n))


def _with_query(url: str, names: list[str], value: str) -> str:
    return f"{url}?{urlencode({name: value for name in names})}"


@pytest.fixture
def seeded(services: Any) -> dict[str, int]:
    from tests.security_helpers import seed_objects

    return seed_objects(services)


def _rules(app: Flask) -> list[Rule]:
    return sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))


def _check(problems: list[str], method: str, url: str, resp: Any) -> None:
    if resp.status_code >= 500:
        problems.append(f"{method} {url[:160]} answered {resp.status_code}")


def _logged_in(client: Any) -> str:
    """Log the client in again if a route ended its session (logout, log out everywhere); the CSRF token."""
    page = client.get("/")
    if page.status_code != 200:
        form = client.get("/login").get_data(as_text=True)
        resp = client.post("/login", data={"email": USER_EMAIL, "password": USER_PASSWORD,
                                           "csrf_token": csrf_from(form)})
        assert resp.status_code == 302, resp.get_data(as_text=True)
        page = client.get("/")
    return csrf_from(page.get_data(as_text=True))


def test_every_route_answers_hostile_path_and_query_values_without_a_5xx(
    app: Flask, ui: Any, api_key: str, seeded: dict[str, int]
) -> None:
    client = ui.client
    api_headers = {"Authorization": f"Bearer {api_key}"}
    names = _query_names(app)
    problems: list[str] = []
    requests = 0
    for rule in _rules(app):
        token = _logged_in(client)  # a route that ends the session must not leave the rest unreached
        api = rule.rule.startswith("/api/")
        headers = api_headers if api else {"X-CSRFToken": token}
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        urls = list(_urls(rule, seeded))
        base = urls[0]
        for method in methods:
            targets = urls + [_with_query(base, names, value) for value in HOSTILE_QUERY_VALUES]
            for url in targets:
                if method == "GET":
                    resp = client.get(url, headers=headers)
                elif api:
                    resp = client.open(url, method=method, data=DEEP_JSON, content_type="application/json",
                                       headers=headers)
                else:
                    resp = client.open(url, method=method, data={"csrf_token": token}, headers=headers)
                requests += 1
                _check(problems, method, url, resp)
            if method != "GET":
                # The JSON body of a fetch() (UI) or of the API, nested far beyond any real document.
                for body in (DEEP_JSON, DEEP_OBJECT):
                    resp = client.open(base, method=method, data=body, content_type="application/json",
                                       headers=headers)
                    requests += 1
                    _check(problems, method, base, resp)
    assert not problems, "\n".join(problems)
    assert requests > 2000  # a sanity floor: an empty URL map would pass vacuously


def test_deeply_nested_json_in_a_query_parameter_is_refused(ui: Any, seeded: dict[str, int]) -> None:
    resp = ui.get("/contacts/segments/count?" + urlencode({"rules": DEEP_OBJECT}))
    assert resp.status_code < 500


@pytest.mark.parametrize("digits", ["\uff11", "\u0661", "\u0967", "\U0001d7cf"])
def test_ids_in_paths_are_ascii_digits_only(ui: Any, api_key: str, seeded: dict[str, int], digits: str) -> None:
    """Full-width １, Arabic-Indic ١, Devanagari १ and mathematical 𝟏 all mean 1 to int(); a path id is
    ASCII digits only, so these are not the contact with id 1 but no page at all."""
    contact_id = seeded["contact_id"]
    assert contact_id == 1
    assert ui.get(f"/contacts/{contact_id}").status_code == 200
    assert ui.get("/contacts/" + quote(digits)).status_code == 404
    headers = {"Authorization": f"Bearer {api_key}"}
    assert ui.client.get(f"/api/v1/contacts/{contact_id}", headers=headers).status_code == 200
    resp = ui.client.get("/api/v1/contacts/" + quote(digits), headers=headers)
    assert resp.status_code == 404 and resp.get_json()["error"] == "not_found"
    # query parameters too: the API's limit is ASCII digits, a view's id cursor ignores anything else
    resp = ui.client.get("/api/v1/contacts?" + urlencode({"limit": digits}), headers=headers)
    assert resp.status_code == 422 and "limit" in resp.get_json()["details"]
    assert ui.get("/outbox/?" + urlencode({"before": digits})).status_code == 200


@pytest.mark.parametrize("ident", [str(10**30), str(2**63), str(2**31), "0" * 4000 + "1", "1" * 5000])
def test_huge_ids_are_404_not_an_overflow(ui: Any, api_key: str, ident: str) -> None:
    for url in (f"/contacts/{ident}", f"/reports/broadcasts/{ident}.json", f"/ab/{ident}", f"/outbox/{ident}"):
        assert ui.get(url).status_code == 404, url
    resp = ui.client.get(f"/api/v1/contacts/{ident}", headers={"Authorization": f"Bearer {api_key}"})
    assert resp.status_code == 404


def test_the_csrf_token_is_valid_so_posts_reach_the_handlers(app: Flask, ui: Any, seeded: dict[str, int]) -> None:
    """The walk's POSTs carry a real token: a refused token would make every POST a 400 and prove nothing."""
    token = csrf_from(ui.get("/").get_data(as_text=True))
    resp = ui.client.post("/lang/ja", data={"csrf_token": token}, headers={"X-CSRFToken": token})
    assert resp.status_code in (302, 303)
