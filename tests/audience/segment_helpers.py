"""Shared by the segment tests: random contacts, random rule trees, and the plain-Python reference that the
SQL a rule tree compiles to must agree with."""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from campaigns.models import Contact, ContactStatus, Stage

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


def insert_contacts(s: Session, people: list[dict[str, Any]]) -> None:
    """Insert the generated contacts in one statement and note each one's id in its dict (key "id")."""
    s.execute(insert(Contact), people)
    ids = {email: id_ for email, id_ in s.execute(select(Contact.email, Contact.id))}
    for p in people:
        p["id"] = ids[p["email"]]
