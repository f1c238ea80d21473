"""Contacts: cleaning contact data and creating or updating one contact by address.

Contract (others code against it):
- clean_contact_data(data, default_tz) -> dict of stored values; raises ContactError with the reason
- upsert_contact(session, data: dict, update_existing=True) -> tuple[Contact, bool created]
- update_contact(session, contact, data) -> Contact
- contact_by_email(session, email) -> the contact of an address in any letter case

The rules these use live in the platform, one home each: addresses (normalize_email), names
(split_full_name), time zones (normalize_timezone), the suppression list (a new contact of a
suppressed address starts inactive). CSV imports are campaigns.leads.imports.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from campaigns.addresses import normalize_email
from campaigns.db import now_utc
from campaigns.models import Contact, ContactStatus, Stage
from campaigns.names import split_full_name
from campaigns.sql_functions import ascii_lower, ascii_lower_text
from campaigns.suppression import SUPPRESSION_STATUS, suppression_reason
from campaigns.text import TextError, check_json, check_text
from campaigns.timezones import UnknownTimeZone, normalize_timezone

# Attribute keys end up inside a JSON path: keep them to characters that need no quoting rules.
ATTRIBUTE_KEY = re.compile(r"^[^\"\\$.\[\]\x00-\x1f]{1,100}$")


log = logging.getLogger(__name__)

MAX_LENGTHS = {
    "first_name": 200, "last_name": 200, "company": 200, "job_title": 200, "source": 100,
    "consent_method": 50, "consent_source": 200, "consent_text": 20000,
}
TEXT_FIELDS = ("first_name", "last_name", "company", "job_title", "source", "consent_method",
               "consent_source", "consent_text")
MULTI_LINE_FIELDS = {"consent_text"}
ONE_LINE_KEYS = {"email", "full_name", "timezone", "stage", "consent_at"}
READ_ONLY_KEYS = {"id", "status", "score", "created_at", "updated_at"}


class ContactError(ValueError):
    """Contact data that cannot be stored; the message is the reason shown to the user."""




def clean_timezone(raw: str) -> str:
    """A contact's time zone as its canonical name; raises ContactError if unknown (contacts, imports)."""
    try:
        return normalize_timezone(raw)
    except UnknownTimeZone as exc:
        raise ContactError(str(exc)) from None


def parse_stage(raw: Any) -> Stage:
    try:
        return Stage(str(raw).strip().lower())
    except ValueError:
        raise ContactError(f"unknown stage {str(raw)[:40]!r} (use one of {', '.join(Stage)})") from None


_DATE = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


def parse_datetime(raw: Any, default_tz: tzinfo = UTC) -> datetime:
    """A timestamp from ISO 8601 or Excel-style "2026/1/2 9:05" text; naive values are in default_tz."""
    if isinstance(raw, datetime):
        value = raw
    else:
        text = str(raw).strip()
        match = _DATE.match(text)
        try:
            if match:
                y, mo, d, h, mi, sec = (int(g) if g else 0 for g in match.groups())
                value = datetime(y, mo, d, h, mi, sec)
            else:
                value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ContactError(f"unrecognised date {text[:40]!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=default_tz)
    return value.astimezone(UTC)




_NUMBER = re.compile(r"^-?(0|[1-9][0-9]{0,14})(\.[0-9]{1,10})?$")


def coerce_attribute(value: str) -> str | int | float:
    """CSV cells become numbers when they look like one (so segments can compare them); "0123" stays text."""
    if _NUMBER.match(value):
        return float(value) if "." in value else int(value)
    return value


def check_length(key: str, value: str) -> str:
    limit = MAX_LENGTHS.get(key)
    if limit and len(value) > limit:
        raise ContactError(f"{key} is too long ({len(value)} characters, at most {limit})")
    return value


def check_contact_text(key: str, value: Any) -> str:
    """`value` as text if it passes the text rule (campaigns.text), else ContactError naming the field
    (clean_contact_data; CSV imports check their cells with it)."""
    try:
        return check_text(str(value), key, multiline=key in MULTI_LINE_FIELDS)
    except TextError as exc:
        raise ContactError(str(exc)) from None


def clean_contact_data(data: dict[str, Any], default_tz: tzinfo = UTC) -> dict[str, Any]:
    """Validate and normalise a contact dict (upsert, forms); unknown keys move into `attributes`."""
    out: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    raw_attrs = data.get("attributes")
    if raw_attrs is not None:
        if not isinstance(raw_attrs, dict):
            raise ContactError("attributes must be an object")
        attributes.update(raw_attrs)
    for key, value in data.items():
        if key == "attributes" or value is None:
            continue
        if isinstance(value, str) and (key in TEXT_FIELDS or key in ONE_LINE_KEYS):
            check_contact_text(key, value)  # the rest become attributes, checked below
        if key in READ_ONLY_KEYS:
            raise ContactError(f"{key!r} cannot be set through contact data")
        if key == "email":
            email = normalize_email(value)
            if email is None:
                raise ContactError(f"invalid email address {str(value)[:100]!r}")
            out["email"] = email
        elif key in TEXT_FIELDS:
            out[key] = check_length(key, str(value).strip())
        elif key == "full_name":
            first, last = split_full_name(str(value))
            out.setdefault("first_name", check_length("first_name", first))
            out.setdefault("last_name", check_length("last_name", last))
        elif key == "timezone":
            out["timezone"] = clean_timezone(str(value)) if str(value).strip() else None
        elif key == "stage":
            out["stage"] = parse_stage(value)
        elif key == "consent_at":
            out["consent_at"] = parse_datetime(value, default_tz)
        else:
            attributes[str(key)] = value
    for key in attributes:
        if not key or len(key) > 100:
            raise ContactError(f"invalid attribute name {key[:100]!r}")
    try:
        check_json(attributes, "attributes")  # keys and values, however deep: they are shown and segmented on
    except TextError as exc:
        raise ContactError(str(exc)) from None
    if attributes or raw_attrs is not None:
        out["attributes"] = attributes
    # explicit first/last names win over a split full name
    for key in ("first_name", "last_name"):
        if key in data and data[key] is not None:
            out[key] = check_length(key, str(data[key]).strip())
    return out


# ------------------------------------------------------------------ suppression
# ------------------------------------------------------------------ single contacts
def _apply(contact: Contact, values: dict[str, Any], merge_attributes: bool) -> None:
    for key, value in values.items():
        if key == "attributes":
            contact.attributes = {**(contact.attributes or {}), **value} if merge_attributes else dict(value)
        elif key != "email":
            setattr(contact, key, value)


def contact_by_email(session: Session, email: str) -> Contact | None:
    """The contact with this normalised address, or else the oldest one whose address differs only in
    letter case: Lead@ and lead@ are one mailbox at every real provider, so an event, a form or an API
    call for either updates the contact that exists instead of creating a second one that would get
    every mail twice (API, forms, events, imports)."""
    contact = session.scalar(select(Contact).where(Contact.email == email))
    if contact is None:
        contact = session.scalar(
            select(Contact).where(ascii_lower(Contact.email) == ascii_lower_text(email)).order_by(Contact.id).limit(1)
        )
    return contact


def upsert_contact(
    session: Session, data: dict[str, Any], update_existing: bool = True
) -> tuple[Contact, bool]:
    """Create or update a contact by email; returns (contact, created) (API, forms, demo seeding)."""
    values = clean_contact_data(data)
    email = values.get("email")
    if not email:
        raise ContactError("email is required")
    contact = contact_by_email(session, email)
    if contact is not None:
        if update_existing:
            _apply(contact, values, merge_attributes=True)  # the address keeps the case it was first given in
        return contact, False
    contact = Contact(email=email, attributes={})
    _apply(contact, values, merge_attributes=True)
    if contact.consent_method and contact.consent_at is None:
        contact.consent_at = now_utc()
    contact.status = SUPPRESSION_STATUS.get(suppression_reason(session, email) or "", ContactStatus.ACTIVE)
    if session.get_bind().dialect.name == "postgresql":
        try:
            with session.begin_nested():
                session.add(contact)
                session.flush()
        except IntegrityError:
            # created concurrently (two API calls for one address): update the winner instead
            existing = contact_by_email(session, email)
            if existing is None:
                raise
            if update_existing:
                _apply(existing, values, merge_attributes=True)
            return existing, False
    else:
        session.add(contact)
        session.flush()
    return contact, True


def update_contact(session: Session, contact: Contact, data: dict[str, Any]) -> Contact:
    """Replace a contact's editable fields from the edit form (empty text clears, attributes replaced)."""
    values = clean_contact_data(data)
    email = values.get("email")
    if email and email != contact.email:
        taken = session.scalar(select(Contact.id).where(Contact.email == email, Contact.id != contact.id))
        if taken is not None:
            raise ContactError(f"another contact already uses {email}")
        contact.email = email
    _apply(contact, values, merge_attributes=False)
    if contact.consent_method and contact.consent_at is None:
        contact.consent_at = now_utc()
    return contact
