"""Contacts: upsert by email, read one, list with keyset pagination; export and erase one (privacy requests)."""

from __future__ import annotations

from typing import Any

from flask import Response, g
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
from campaigns.insights.contact_export import contact_export, export_csv
from campaigns.insights.kpi import account_zone
from campaigns.leads import contacts as contacts_service
from campaigns.leads import erase
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


# ------------------------------------------------------------------ privacy: export and erase one contact
@operation(
    "/contacts/{contact_id}/export", "GET", tag="contacts",
    summary="Everything held about one contact, as JSON or CSV (a privacy request)",
    query={"format": {"type": "string", "enum": ["json", "csv"], "default": "json",
                      "description": "json (default) or csv (section, at, name, value, detail)."}},
    responses={200: ("The contact's data: profile, attributes, consent, lists, sends, hits, events, forms, "
                     "score history, stage changes; times in the account's zone", None)},
)
def export_contact(contact_id: int, query: dict[str, Any]) -> ResponseReturnValue:
    """Profile, attributes, consent, events, sends, opens and clicks, forms, score history and stage changes."""
    session = db_session()
    data = contact_export(session, contact_id, account_zone(session))
    session.commit()
    if data is None:
        raise not_found("contact")
    if query["format"] == "csv":
        return Response(export_csv(data), mimetype="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="contact-{contact_id}.csv"'})
    return data


@operation(
    "/contacts/{contact_id}/erase", "POST", tag="contacts", body="ContactEraseInput",
    summary="Erase one contact's personal data (APPI / GDPR); counts in reports stay, the address stays suppressed",
    responses={200: ("Erased", "ContactErased"),
               422: ("The confirmation does not match the contact's address or ERASE", "Error")},
)
def erase_contact_api(contact_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """Removes the personal data from every table (campaigns.leads.erase); written to the audit log with the key."""
    session = db_session()
    contact = session.get(Contact, contact_id)
    if contact is None:
        raise not_found("contact")
    typed = body["confirm"].strip()
    if typed != "ERASE" and typed.lower() != contact.email.lower():
        session.rollback()
        raise invalid({"confirm": "must be the contact's email address or ERASE"},
                      "nothing was erased: the confirmation does not match")
    result = erase.erase_contact(session, contact_id, actor=f"api-key:{g.get('api_key_id', '?')}")
    session.commit()
    return {"id": contact_id, "erased": True, "already_erased": result.already_erased, "counts": result.counts}
