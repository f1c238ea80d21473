"""Contacts: normalisation, upsert, the suppression list, and streaming CSV import with de-duplication.

Contract (others code against it):
- normalize_email(raw) -> str | None
- upsert_contact(session, data: dict, update_existing=True) -> tuple[Contact, bool created]
- is_suppressed(session, email) -> bool; suppress(session, email, reason, detail="") -> None
- start_import(session, path, filename, options) -> ImportJob; run_import(svc, import_id) -> None
- preview_import(path, options, session=None) -> dict (dry run)
- segment_contact_ids(rules) -> Select (ids of matching active contacts); count_segment(session, rules) -> int
  (implemented in campaigns.segments, re-exported here)

The import reads the file as a stream (csv over a text wrapper, chunks of CHUNK_ROWS rows), looks
existing addresses up once per chunk and writes with executemany, so memory stays flat and a
100,000-row file takes seconds. Each chunk commits with the job's progress, so the UI can show it.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from campaigns.db import now_utc
from campaigns.models import Contact, ContactStatus, Stage, Suppression
from campaigns.sql_functions import ascii_lower, ascii_lower_text

# Attribute keys end up inside a JSON path: keep them to characters that need no quoting rules.
ATTRIBUTE_KEY = re.compile(r"^[^\"\\$.\[\]\x00-\x1f]{1,100}$")


log = logging.getLogger(__name__)

MAX_LENGTHS = {
    "first_name": 200, "last_name": 200, "company": 200, "job_title": 200, "source": 100,
    "consent_method": 50, "consent_source": 200, "consent_text": 20000,
}
TEXT_FIELDS = ("first_name", "last_name", "company", "job_title", "source", "consent_method",
               "consent_source", "consent_text")
READ_ONLY_KEYS = {"id", "status", "score", "created_at", "updated_at"}
SUPPRESSION_STATUS = {
    "unsubscribed": ContactStatus.UNSUBSCRIBED,
    "hard_bounce": ContactStatus.BOUNCED,
    "bounce": ContactStatus.BOUNCED,
    "complaint": ContactStatus.COMPLAINED,
}


class ContactError(ValueError):
    """Contact data that cannot be stored; the message is the reason shown to the user."""


# ------------------------------------------------------------------ normalisation
_LOCAL_OK = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
_LABEL_OK = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


_ATEXT = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_FAST_LOCAL = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")
_FAST_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?")


def normalize_email(raw: Any) -> str | None:
    """Trim, lower-case the domain (IDNA for non-ASCII) and validate; None if invalid (import, API, UI)."""
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if text.isascii():
        # the common case in one pass (imports call this a million times); the rest takes the long way
        local, _at, domain = text.rpartition("@")
        domain = domain.lower()
        if (len(local) <= 64 and len(text) <= 254 and _FAST_LOCAL.fullmatch(local)
                and _FAST_DOMAIN.fullmatch(domain)):
            return f"{local}@{domain}"
    else:
        # Excel sheets in Japan often hold full-width letters, "＠" or ideographic spaces.
        text = unicodedata.normalize("NFKC", text).strip()
    if text.startswith("mailto:"):
        text = text[7:]
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain or len(text) > 254:
        return None
    if not _LOCAL_OK.match(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        return None
    domain = domain.rstrip(".").lower()
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL_OK.match(label) for label in labels):
        return None
    if labels[-1].isdigit():
        return None
    email = f"{local}@{domain}"
    return email if len(email) <= 254 else None


@lru_cache(maxsize=1)
def _zones() -> dict[str, str]:
    zones = {z.lower(): z for z in available_timezones()}
    zones.setdefault("jst", "Asia/Tokyo")
    return zones


def normalize_timezone(raw: str) -> str:
    """The canonical IANA name of a time zone (case-insensitive); raises ContactError if unknown."""
    name = _zones().get(raw.strip().lower())
    if name is None:
        raise ContactError(f"unknown time zone {raw.strip()[:64]!r}")
    return name


def _stage(raw: Any) -> Stage:
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


_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")


def split_full_name(name: str) -> tuple[str, str]:
    """(first, last) from one name cell: Japanese names are family name first, Western ones given first."""
    parts = name.replace("\u3000", " ").split()
    if not parts:
        return "", ""
    if _CJK.search(name):
        if len(parts) == 1:
            return "", parts[0]  # no separator: cannot split safely, keep it whole as the family name
        return " ".join(parts[1:]), parts[0]
    if len(parts) == 1:
        return parts[0], ""
    return " ".join(parts[:-1]), parts[-1]


_NUMBER = re.compile(r"^-?(0|[1-9][0-9]{0,14})(\.[0-9]{1,10})?$")


def coerce_attribute(value: str) -> str | int | float:
    """CSV cells become numbers when they look like one (so segments can compare them); "0123" stays text."""
    if _NUMBER.match(value):
        return float(value) if "." in value else int(value)
    return value


def _check_length(key: str, value: str) -> str:
    limit = MAX_LENGTHS.get(key)
    if limit and len(value) > limit:
        raise ContactError(f"{key} is too long ({len(value)} characters, at most {limit})")
    return value


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
        if key in READ_ONLY_KEYS:
            raise ContactError(f"{key!r} cannot be set through contact data")
        if key == "email":
            email = normalize_email(value)
            if email is None:
                raise ContactError(f"invalid email address {str(value)[:100]!r}")
            out["email"] = email
        elif key in TEXT_FIELDS:
            out[key] = _check_length(key, str(value).strip())
        elif key == "full_name":
            first, last = split_full_name(str(value))
            out.setdefault("first_name", _check_length("first_name", first))
            out.setdefault("last_name", _check_length("last_name", last))
        elif key == "timezone":
            out["timezone"] = normalize_timezone(str(value)) if str(value).strip() else None
        elif key == "stage":
            out["stage"] = _stage(value)
        elif key == "consent_at":
            out["consent_at"] = parse_datetime(value, default_tz)
        else:
            attributes[str(key)] = value
    for key in attributes:
        if not key or len(key) > 100:
            raise ContactError(f"invalid attribute name {key[:100]!r}")
    if attributes or raw_attrs is not None:
        out["attributes"] = attributes
    # explicit first/last names win over a split full name
    for key in ("first_name", "last_name"):
        if key in data and data[key] is not None:
            out[key] = _check_length(key, str(data[key]).strip())
    return out


# ------------------------------------------------------------------ suppression
def _insert_ignore(session: Session, table: Any) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING for the session's database."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table).on_conflict_do_nothing()


def _suppression_key(email: str) -> str:
    """The suppression list's key: the normalised address with A-Z folded, so Ito@ and ito@ are one entry.

    Normalised addresses are ASCII (local part checked, domain IDNA-encoded), so this fold is a full
    lower-casing for them; an unparsable address (a bounce's raw recipient) only loses A-Z case, as in
    SQL's `ascii_lower`, so Python and both databases always agree."""
    return ascii_lower_text(normalize_email(email) or email.strip())


def is_suppressed(session: Session, email: str) -> bool:
    """True if no mail may go to this address in any letter case (sending, enrolment, forms, contact page)."""
    found = session.scalar(select(Suppression.id).where(Suppression.email == _suppression_key(email)))
    return found is not None


def suppress(session: Session, email: str, reason: str, detail: str = "") -> None:
    """Put an address on the suppression list (idempotent) and mark every contact with that address in
    any letter case (sending, bounces, tracking, UI)."""
    key = _suppression_key(email)
    if not key or not reason:
        raise ContactError("an address and a reason are required")
    session.execute(
        _insert_ignore(session, Suppression.__table__).values(
            email=key, reason=reason[:50], detail=detail, created_at=now_utc()
        )
    )
    status = SUPPRESSION_STATUS.get(reason)
    if status is not None:
        session.execute(
            update(Contact)
            .where(ascii_lower(Contact.email) == key, Contact.status == ContactStatus.ACTIVE)
            .values(status=status, updated_at=now_utc())
            .execution_options(synchronize_session="fetch")
        )


def unsuppress(session: Session, email: str) -> None:
    """Remove a manual suppression given in any letter case (suppression page); unsubscribes, bounces and
    complaints stay."""
    row = session.scalar(select(Suppression).where(Suppression.email == _suppression_key(email)))
    if row is None:
        raise ContactError("this address is not on the suppression list")
    if row.reason != "manual":
        raise ContactError(f"only manual suppressions can be removed (this one is {row.reason!r})")
    session.delete(row)


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
    reason = session.scalar(select(Suppression.reason).where(Suppression.email == _suppression_key(email)))
    contact.status = SUPPRESSION_STATUS.get(reason or "", ContactStatus.ACTIVE)
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
