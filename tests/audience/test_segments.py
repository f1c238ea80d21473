"""Segments: the SQL a rule tree compiles to agrees with a plain-Python reference on random data and
random rule trees (run the file on SQLite and on PostgreSQL), plus validation errors and the UI."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from sqlalchemy import insert, select

from campaigns.audience.segments import SegmentError, count_segment, segment_contact_ids, validate_rules
from campaigns.models import Contact, ContactStatus, Segment
from campaigns.suppression import suppress
from tests.audience.segment_helpers import insert_contacts, matches, random_contact, random_tree


@pytest.fixture
def population(services: Any) -> list[dict[str, Any]]:
    rng = random.Random(20261122)
    people = [random_contact(rng, i) for i in range(400)]
    with services.db.begin() as s:
        insert_contacts(s, people)
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


def test_a_suppression_in_any_letter_case_keeps_every_case_variant_out(services: Any) -> None:
    with services.db.begin() as s:
        s.execute(insert(Contact), [
            {"email": "Ito@example.jp", "company": "Acme"}, {"email": "ito@example.jp", "company": "Acme"},
            {"email": "sato@example.jp", "company": "Acme"},
        ])
        suppress(s, "iTO@example.jp", "manual")  # manual: both contacts stay "active"
    with services.db.begin() as s:
        rules = {"all": [{"field": "company", "op": "eq", "value": "acme"}]}
        emails = set(s.scalars(select(Contact.email).where(Contact.id.in_(segment_contact_ids(rules)))))
        assert emails == {"sato@example.jp"} and count_segment(s, rules) == 1


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


# The segment editor in a real browser: tests/browser/test_browser_segments.py
