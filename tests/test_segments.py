"""Segments: the SQL a rule tree compiles to agrees with a plain-Python reference on random data and
random rule trees (run the file on SQLite and on PostgreSQL), plus validation errors and the UI."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from sqlalchemy import insert, select

from campaigns.contacts import SegmentError, count_segment, segment_contact_ids, suppress, validate_rules
from campaigns.models import Contact, ContactStatus, Segment, Stage

COMPANIES = ["Acme", "acme corp", "ACME Japan", "株式会社山田", "山田商事", "100% Pure_Co", "Globex", ""]
TITLES = ["CTO", "cto", "Marketing Manager", "部長", "課長", "", "Sales"]
SOURCES = ["expo", "web", "Web", "csv", ""]
TIMEZONES = ["Asia/Tokyo", "UTC", "America/New_York", None]
INDUSTRIES = ["IT", "it", "Retail", "製造業", "", None, "MISSING"]
EMPLOYEES = [10, 250, 1000, "250", "0123", 2.5, None, "MISSING"]
FLAGS = [True, False, "MISSING"]


def random_contact(rng: random.Random, i: int) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for key, pool in (("industry", INDUSTRIES), ("employees", EMPLOYEES), ("vip", FLAGS)):
        value = rng.choice(pool)
        if value != "MISSING":
            attributes[key] = value
    return {
        "email": f"user{i}@{rng.choice(['example.com', 'acme.co.jp', 'mail.test'])}",
        "first_name": rng.choice(["Taro", "Hanako", "Bob", ""]),
        "last_name": rng.choice(["Yamada", "Smith", ""]),
        "company": rng.choice(COMPANIES),
        "job_title": rng.choice(TITLES),
        "source": rng.choice(SOURCES),
        "timezone": rng.choice(TIMEZONES),
        "stage": rng.choice(list(Stage)),
        "score": rng.randint(-5, 120),
        "status": rng.choice([ContactStatus.ACTIVE] * 6 + [ContactStatus.UNSUBSCRIBED, ContactStatus.BOUNCED]),
        "attributes": attributes,
        "consent_method": "import",
    }


# ------------------------------------------------------------------ the Python reference
def ascii_lower(text: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


def text_of(contact: dict[str, Any], field: str) -> str | None:
    if field.startswith("attributes."):
        value = contact["attributes"].get(field[11:])
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)
    value = contact[field]
    return None if value is None else str(value)


def number_of(contact: dict[str, Any], field: str) -> float | None:
    if field.startswith("attributes."):
        value = contact["attributes"].get(field[11:])
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    return float(contact[field])


def matches(contact: dict[str, Any], node: dict[str, Any]) -> bool:
    if not node:
        return True
    if "all" in node:
        return all(matches(contact, n) for n in node["all"])
    if "any" in node:
        return any(matches(contact, n) for n in node["any"])
    field, op, value = node["field"], node["op"], node.get("value")
    numeric = field == "score" or (field.startswith("attributes.") and op in ("gt", "lt"))
    if numeric:
        n = number_of(contact, field)
        if op == "exists":
            return (n is not None) == (value is not False)
        if op == "in":
            return n is not None and n in [float(v) for v in value]
        if op == "neq":
            return n is None or n != float(value)
        if n is None:
            return False
        return {"eq": n == float(value), "gt": n > float(value), "lt": n < float(value)}[op]
    t = text_of(contact, field)
    if op == "exists":
        has = t is not None and t != ""
        return has if value is not False else not has
    if op == "neq":
        return t is None or ascii_lower(t) != ascii_lower(str(value))
    if t is None:
        return False
    lt = ascii_lower(t)
    if op == "in":
        return lt in [ascii_lower(str(v)) for v in value]
    v = ascii_lower(str(value))
    return {"eq": lt == v, "contains": v in lt, "starts_with": lt.startswith(v)}[op]


# ------------------------------------------------------------------ random rule trees
TEXT_FIELD_VALUES: dict[str, list[Any]] = {
    "company": ["acme", "Acme", "山田", "100%", "Pure_", "_", "%", "globex", "x"],
    "job_title": ["cto", "manager", "部長", "Sales", ""],
    "source": ["web", "expo", "csv", "w"],
    "timezone": ["Asia/Tokyo", "utc", "asia"],
    "stage": [s.value for s in Stage],
    "email": ["user1", "acme.co.jp", "USER2@example.com", "@mail"],
    "attributes.industry": ["it", "Retail", "製造業", "re"],
    "attributes.employees": [250, "250", "0123", 2.5, "10"],
    "attributes.vip": ["true", True, "false"],
}


def random_condition(rng: random.Random) -> dict[str, Any]:
    if rng.random() < 0.25:
        field = rng.choice(["score", "attributes.employees"])
        op = rng.choice(["eq", "neq", "gt", "lt", "in", "exists"] if field == "score" else ["gt", "lt"])
        value: Any = rng.choice([0, 10, 50, 100, 250, 2.5, -1])
        if op == "in":
            value = rng.sample([0, 10, 50, 100, 7, 8], 3)
        elif op == "exists":
            value = rng.choice([True, False])
        return {"field": field, "op": op, "value": value}
    field = rng.choice(list(TEXT_FIELD_VALUES))
    op = rng.choice(["eq", "neq", "contains", "starts_with", "in", "exists"])
    if field == "stage" and op in ("eq", "neq"):
        value = rng.choice([s.value for s in Stage])
    elif op == "in":
        value = rng.sample(TEXT_FIELD_VALUES[field], min(2, len(TEXT_FIELD_VALUES[field])))
    elif op == "exists":
        value = rng.choice([True, False])
    else:
        value = rng.choice(TEXT_FIELD_VALUES[field])
    return {"field": field, "op": op, "value": value}


def random_tree(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    items: list[Any] = []
    for _ in range(rng.randint(0 if depth else 1, 3)):
        items.append(random_tree(rng, depth + 1) if depth < 2 and rng.random() < 0.3 else random_condition(rng))
    return {rng.choice(["all", "any"]): items}


@pytest.fixture
def population(services: Any) -> list[dict[str, Any]]:
    rng = random.Random(20261122)
    people = [random_contact(rng, i) for i in range(400)]
    with services.db.begin() as s:
        s.execute(insert(Contact), people)
        ids = {email: id_ for email, id_ in s.execute(select(Contact.email, Contact.id))}
        for p in people:
            p["id"] = ids[p["email"]]
        for p in rng.sample(people, 15):  # suppressed addresses never belong to a segment
            suppress(s, p["email"], "manual")
            p["suppressed"] = True
    return people


def expected_ids(people: list[dict[str, Any]], rules: dict[str, Any]) -> set[int]:
    return {
        p["id"] for p in people
        if p["status"] == ContactStatus.ACTIVE and not p.get("suppressed") and matches(p, rules)
    }


def test_random_rule_trees_agree_with_python_reference(services: Any, population: list[dict[str, Any]]) -> None:
    rng = random.Random(7)
    nonempty = 0
    with services.db.begin() as s:
        for _ in range(300):
            rules = random_tree(rng)
            expected = expected_ids(population, rules)
            got = set(s.scalars(segment_contact_ids(rules)))
            assert got == expected, json.dumps(rules, ensure_ascii=False)
            assert count_segment(s, rules) == len(expected)
            nonempty += bool(expected) and len(expected) < len(expected_ids(population, {}))
    assert nonempty > 100  # the random trees select real, partial subsets, not all-or-nothing


def test_each_operator_on_each_kind_of_field(services: Any, population: list[dict[str, Any]]) -> None:
    cases = [
        {"field": "company", "op": "contains", "value": "100%"},  # LIKE wildcards are literal
        {"field": "company", "op": "contains", "value": "_"},
        {"field": "company", "op": "eq", "value": "acme"},
        {"field": "company", "op": "starts_with", "value": "株式会社"},
        {"field": "timezone", "op": "exists", "value": False},
        {"field": "timezone", "op": "neq", "value": "UTC"},
        {"field": "stage", "op": "in", "value": ["warm", "HOT"]},
        {"field": "score", "op": "gt", "value": 50},
        {"field": "attributes.industry", "op": "exists"},
        {"field": "attributes.industry", "op": "neq", "value": "it"},
        {"field": "attributes.employees", "op": "gt", "value": 100},
        {"field": "attributes.employees", "op": "eq", "value": "250"},
        {"field": "attributes.employees", "op": "lt", "value": 3},
        {"field": "attributes.vip", "op": "eq", "value": True},
    ]
    with services.db.begin() as s:
        for cond in cases:
            rules = {"all": [cond]}
            expected = expected_ids(population, rules)
            assert set(s.scalars(segment_contact_ids(rules))) == expected, cond
            assert expected, f"the test data should hit {cond}"


def test_numeric_text_is_not_a_number_for_gt(services: Any) -> None:
    with services.db.begin() as s:
        s.execute(insert(Contact), [
            {"email": "n@example.com", "attributes": {"employees": 500}},
            {"email": "t@example.com", "attributes": {"employees": "500"}},
            {"email": "x@example.com", "attributes": {"employees": "lots"}},
        ])
    with services.db.begin() as s:
        rules = {"all": [{"field": "attributes.employees", "op": "gt", "value": 100}]}
        emails = set(s.scalars(select(Contact.email).where(Contact.id.in_(segment_contact_ids(rules)))))
    assert emails == {"n@example.com"}


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([], "object"),
        ({"every": []}, "start with"),
        ({"all": [{"field": "password", "op": "eq", "value": "x"}]}, "unknown field"),
        ({"all": [{"field": "company", "op": "like", "value": "x"}]}, "unknown operator"),
        ({"all": [{"field": "company", "op": "gt", "value": "x"}]}, "does not apply"),
        ({"all": [{"field": "score", "op": "gt", "value": "many"}]}, "number"),
        ({"all": [{"field": "company", "op": "in", "value": "acme"}]}, "list"),
        ({"all": [{"field": 'attributes.a"b', "op": "eq", "value": "x"}]}, "attribute name"),
        ({"all": [{"field": "stage", "op": "eq", "value": "boiling"}]}, "stage"),
        ({"all": [{"all": [{"all": [{"all": [{"all": [{"all": [{"all": [{"all": []}]}]}]}]}]}]}]}, "nested"),
        ({"any": "company"}, "list"),
    ],
)
def test_invalid_rules_are_refused_with_a_reason(rules: Any, message: str) -> None:
    with pytest.raises(SegmentError, match=message):
        validate_rules(rules)


def test_segment_pages_and_live_count(ui: Any, services: Any, population: list[dict[str, Any]]) -> None:
    rules = {"all": [{"field": "company", "op": "contains", "value": "acme"}]}
    expected = len(expected_ids(population, rules))
    resp = ui.get("/contacts/segments/count?rules=" + json.dumps(rules))
    assert resp.status_code == 200 and resp.get_json() == {"count": expected}
    bad = ui.get("/contacts/segments/count?rules=" + json.dumps({"all": [{"field": "nope", "op": "eq"}]}))
    assert bad.status_code == 400 and "unknown field" in bad.get_json()["message"]
    assert ui.get("/contacts/segments/count?rules={oops").status_code == 400

    resp = ui.post("/contacts/segments/new", {"name": "Acme people", "rules": json.dumps(rules)},
                   page="/contacts/segments/new")
    assert resp.status_code == 302
    with services.db.begin() as s:
        segment = s.scalar(select(Segment))
        assert segment.name == "Acme people" and segment.rules == rules
    page = ui.get(f"/contacts/segments/{segment.id}").get_data(as_text=True)
    assert f'data-testid="segment-count">{expected}<' in page
    resp = ui.post(f"/contacts/segments/{segment.id}", {"name": "Broken", "rules": '{"all": [{"field": "x"}]}'},
                   page=f"/contacts/segments/{segment.id}")
    assert resp.status_code == 400 and "rules-error" in resp.get_data(as_text=True)
    with services.db.begin() as s:
        assert s.get(Segment, segment.id).name == "Acme people"  # nothing saved
    assert "Acme people" in ui.get("/contacts/segments").get_data(as_text=True)
    resp = ui.post(f"/contacts/segments/{segment.id}/delete", {}, page="/contacts/segments")
    assert resp.status_code == 302
    with services.db.begin() as s:
        assert s.get(Segment, segment.id) is None


# The segment editor in a real browser: tests/test_browser_segments.py
