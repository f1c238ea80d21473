"""Events from websites and CRMs: POST /events (one) and /events/batch (up to 1000), idempotent on retry.

Idempotency lives in the database (campaigns.models.IdempotencyKey, UNIQUE key) and is written in the
same transaction as the events: a retry after a lost response finds the first answer and replays it; a
retry after a failed commit finds nothing and records the event then. Keys are honoured for 7 days.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from flask import request
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from campaigns.api.contacts import contact_data, find_contact, normalized_email, upsert
from campaigns.api.core import ApiError, body_hash, db_session, invalid, operation, parse_datetime
from campaigns.api.schemas import MAX_BATCH
from campaigns.db import now_utc
from campaigns.journeys import sequences
from campaigns.models import Contact, IdempotencyKey
from campaigns.models.api import IDEMPOTENCY_TTL

KEY_TTL = IDEMPOTENCY_TTL
FUTURE_SKEW = timedelta(hours=1)  # clocks of senders drift; an event from tomorrow is a bug
IDEMPOTENCY_HEADER = {
    "Idempotency-Key": {
        "type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[\\x21-\\x7e]+$",
        "description": "Any unique string (e.g. a UUID): a retried request with the same key is answered "
        "with the first result and records nothing new. Reusing a key with a different body is a 409.",
    }
}
BATCH_LIMIT = 8 * 1024 * 1024


def _header_key(route: str) -> str | None:
    raw = request.headers.get("Idempotency-Key")
    if raw is None:
        return None
    raw = raw.strip()
    if not re.fullmatch(r"[\x21-\x7e]{1,200}", raw):
        raise invalid({"Idempotency-Key": "must be 1 to 200 visible ASCII characters"}, "invalid Idempotency-Key")
    return f"hdr:{route}:{raw}"


def _stored(session: Session, keys: list[str]) -> dict[str, IdempotencyKey]:
    """Live idempotency records among `keys`; expired ones are deleted so the key can be used afresh."""
    if not keys:
        return {}
    rows = session.scalars(select(IdempotencyKey).where(IdempotencyKey.key.in_(keys))).all()
    live: dict[str, IdempotencyKey] = {}
    cutoff = now_utc() - KEY_TTL
    for row in rows:
        if row.created_at < cutoff:
            session.delete(row)
        else:
            live[row.key] = row
    if len(live) < len(rows):
        session.flush()
    return live


def _occurred_at(raw: str | None, field: str) -> datetime | None:
    if not raw:
        return None
    when = parse_datetime(raw)
    if when > now_utc() + FUTURE_SKEW:
        raise invalid({field: "must not be in the future"})
    return when


class _Contacts:
    """Resolves an event's email to a contact, creating it (source "api") or updating the given fields."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.by_email: dict[str, Contact] = {}

    def get(self, email: str, fields: dict[str, Any] | None, prefix: str) -> Contact:
        data = contact_data(fields or {})
        contact = self.by_email.get(email) or find_contact(self.session, email)
        if contact is None:
            data.setdefault("source", "api")
        if contact is None or data:
            contact, _created = upsert(self.session, {**data, "email": email}, f"{prefix}contact")
        self.by_email[email] = contact
        return contact


def _prepare(item: dict[str, Any], prefix: str) -> tuple[str, datetime | None]:
    """Validate what the schema cannot: the address normalises, the time is not in the future."""
    return normalized_email(item["email"], f"{prefix}email"), _occurred_at(item.get("occurred_at"), f"{prefix}occurred_at")


def _record(resolver: _Contacts, item: dict[str, Any], email: str, when: datetime | None, prefix: str) -> dict[str, int]:
    contact = resolver.get(email, item.get("contact"), prefix)
    event = sequences.record_event(
        resolver.session, contact, item["name"], item.get("properties") or {}, when, source="api"
    )
    resolver.session.flush()
    return {"id": event.id, "contact_id": contact.id}


@operation(
    "/events", "POST", tag="events", body="EventInput", headers=IDEMPOTENCY_HEADER,
    summary="Record an event about a contact (starts and ends sequences)",
    description="An event whose `occurred_at` is more than 24 hours old is recorded (scoring, segments, "
    "reports) and ends the sequences it exits, but starts none: back-filled history sends no mail.",
    responses={202: ("Recorded", "EventAccepted"), 409: ("Idempotency key reused with another body", "Error")},
)
def post_event(body: dict[str, Any]) -> ResponseReturnValue:
    """Create the contact if unknown, store the event, enrol in the sequences it triggers, exit those it ends."""
    session = db_session()
    email, when = _prepare(body, "")
    fingerprint = body_hash(body)
    keys = [k for k in (_header_key("events"), f"event:{body['event_id']}" if body.get("event_id") else None) if k]
    for attempt in (1, 2):
        for key, row in _stored(session, keys).items():
            if key.startswith("hdr:") and row.request_hash != fingerprint:
                raise ApiError(409, "idempotency_conflict", "this Idempotency-Key was used with a different body")
            return {**row.response, "duplicate": True}, 202
        try:
            result = _record(_Contacts(session), body, email, when, "")
            for key in keys:
                session.add(IdempotencyKey(key=key, request_hash=fingerprint, response=result))
            session.commit()
            return {**result, "duplicate": False}, 202
        except IntegrityError:
            # A concurrent twin committed first (same key, or the same new contact): look again.
            session.rollback()
            if attempt == 2:
                raise ApiError(409, "conflict", "a concurrent request conflicted with this one; retry") from None
    raise AssertionError("unreachable")


@operation(
    "/events/batch", "POST", tag="events", body="EventBatchInput", headers=IDEMPOTENCY_HEADER,
    body_limit=BATCH_LIMIT,
    summary=f"Record up to {MAX_BATCH} events in one transaction",
    description="All or nothing: if any event is invalid, none is recorded and `details` names each problem "
    "(e.g. `events.3.email`). Events whose `event_id` was already recorded (or repeats within the batch) "
    "are reported with `duplicate: true` and not recorded again. Events more than 24 hours old start no "
    "sequence (see POST /events).",
    responses={202: ("Recorded", "EventBatchAccepted"), 409: ("Idempotency key reused with another body", "Error")},
)
def post_events_batch(body: dict[str, Any]) -> ResponseReturnValue:
    """Record many events at once (imports, back-fills, queued website events)."""
    session = db_session()
    items: list[dict[str, Any]] = body["events"]
    prepared: list[tuple[str, datetime | None]] = []
    details: dict[str, str] = {}
    for i, item in enumerate(items):
        try:
            prepared.append(_prepare(item, f"events.{i}."))
        except ApiError as err:
            details.update(err.details)
    if details:
        raise invalid(details)
    fingerprint = body_hash(body)
    header_key = _header_key("events/batch")
    event_keys = [f"event:{item['event_id']}" if item.get("event_id") else None for item in items]
    for attempt in (1, 2):
        stored = _stored(session, [k for k in [header_key, *event_keys] if k])
        if header_key and header_key in stored:
            row = stored[header_key]
            if row.request_hash != fingerprint:
                raise ApiError(409, "idempotency_conflict", "this Idempotency-Key was used with a different body")
            return {**row.response, "events": [{**e, "duplicate": True} for e in row.response["events"]],
                    "accepted": 0, "duplicates": len(row.response["events"])}, 202
        try:
            resolver = _Contacts(session)
            results: list[dict[str, Any]] = []
            seen: dict[str, dict[str, int]] = {}
            for i, (item, (email, when), key) in enumerate(zip(items, prepared, event_keys, strict=True)):
                earlier = seen.get(key) if key else None
                if earlier is None and key in stored:
                    earlier = stored[key].response
                if earlier is not None:
                    results.append({"index": i, **earlier, "duplicate": True})
                    continue
                result = _record(resolver, item, email, when, f"events.{i}.")
                if key:
                    seen[key] = result
                    session.add(IdempotencyKey(key=key, request_hash=body_hash(item), response=result))
                results.append({"index": i, **result, "duplicate": False})
            response = {
                "events": results,
                "accepted": sum(not r["duplicate"] for r in results),
                "duplicates": sum(r["duplicate"] for r in results),
            }
            if header_key:
                session.add(IdempotencyKey(key=header_key, request_hash=fingerprint, response=response))
            session.commit()
            return response, 202
        except IntegrityError:
            session.rollback()
            if attempt == 2:
                raise ApiError(409, "conflict", "a concurrent request conflicted with this one; retry") from None
    raise AssertionError("unreachable")
