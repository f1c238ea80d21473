"""Contacts: upsert by email, read one, list with keyset pagination."""

from __future__ import annotations

from typing import Any

from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from campaigns.addresses import normalize_email
from campaigns.api.core import (
    ApiError,
    db_session,
    invalid,
    keyset_page,
    not_found,
    operation,
    parse_datetime,
)
from campaigns.api.schemas import EMAIL, PAGING
from campaigns.api.serialize import contact_json
from campaigns.leads import contacts as contacts_service
from campaigns.models import Contact

PLAIN_FIELDS = ("first_name", "last_name", "company", "job_title", "source", "timezone", "attributes")


def contact_data(fields: dict[str, Any]) -> dict[str, Any]:
    """Map validated API contact fields to the keys of contacts.upsert_contact (also used by events)."""
    data = {k: fields[k] for k in PLAIN_FIELDS if k in fields}
    consent = fields.get("consent") or {}
    if "at" in consent:
        data["consent_at"] = parse_datetime(consent["at"]) if consent["at"] else None
    for key in ("method", "source", "text"):
        if key in consent:
            data[f"consent_{key}"] = consent[key]
    return data


def find_contact(session: Session, email: str) -> Contact | None:
    return contacts_service.contact_by_email(session, email)  # Lead@ finds lead@: one mailbox


def normalized_email(raw: str, field: str = "email") -> str:
    """The normalised address or a 422 naming the field."""
    try:
        email = normalize_email(raw)
    except ValueError:
        email = None
    if not email:
        raise invalid({field: "is not a valid email address"})
    return str(email)


def upsert(session: Session, data: dict[str, Any], field_prefix: str = "") -> tuple[Contact, bool]:
    """Call the contacts service, turning its ValueError into a 422 (contacts and events endpoints)."""
    try:
        return contacts_service.upsert_contact(session, data, update_existing=True)
    except ValueError as exc:
        raise invalid({(field_prefix or "contact"): str(exc)}) from None


@operation(
    "/contacts", "POST", tag="contacts", body="ContactInput",
    summary="Create or update a contact by email",
    responses={
        201: ("Created", "ContactUpserted"), 200: ("Updated", "ContactUpserted"),
        409: ("Changed concurrently; retry", "Error"),
    },
)
def upsert_contact(body: dict[str, Any]) -> ResponseReturnValue:
    """Upsert by normalised email; custom attributes are merged into the stored ones."""
    session = db_session()
    data = {"email": normalized_email(body["email"]), **contact_data(body)}
    for attempt in (1, 2):
        try:
            contact, created = upsert(session, dict(data))
            session.commit()
            break
        except IntegrityError:
            # Two requests created the same address at once: the loser retries as an update.
            session.rollback()
            if attempt == 2:
                raise ApiError(409, "conflict", "the contact was changed concurrently; retry") from None
    return {"created": created, "contact": contact_json(contact)}, 201 if created else 200


@operation(
    "/contacts/{contact_id}", "GET", tag="contacts", summary="Read a contact",
    responses={200: ("The contact", "Contact")},
)
def get_contact(contact_id: int) -> ResponseReturnValue:
    """One contact by id."""
    contact = db_session().get(Contact, contact_id)
    if contact is None:
        raise not_found("contact")
    return contact_json(contact)


@operation(
    "/contacts", "GET", tag="contacts", summary="List contacts (keyset pagination) or find one by email",
    query={**PAGING, "email": {**EMAIL, "format": "email", "description": "Exact address (normalised)."}},
    responses={200: ("A page of contacts", "ContactPage")},
)
def list_contacts(query: dict[str, Any]) -> ResponseReturnValue:
    """Contacts in id order after ?after=; with ?email= the page holds that contact or nothing."""
    session = db_session()
    stmt = select(Contact)
    if query.get("email"):
        stmt = stmt.where(Contact.email == normalized_email(query["email"]))
    return keyset_page(session, stmt, Contact.id, query, contact_json)
