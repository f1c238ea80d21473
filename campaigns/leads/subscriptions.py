"""Unsubscribe and preferences: leave all mail or one journey (a sequence runs as one); takes effect for sends already
queued. The preference page names each series by its public name (never the internal one).

Called by the public tracking endpoints (tracking/) with the contact id from a signed token; the
caller commits. Nothing here reads a request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from campaigns.engagement.rollups import count_campaign_event
from campaigns.journeys.sequences import exit_contact
from campaigns.models import (
    Contact,
    ContactStatus,
    Event,
    Journey,
    JourneyEnrolment,
    JourneyEnrolmentStatus,
    Send,
    SendStatus,
    Sequence,
)
from campaigns.suppression import suppress


def _exit(session: Session, contact_id: int, reason: str, sequence_id: int | None = None,
          journey_id: int | None = None) -> int:
    """Exit enrolments and walks through the sequences service (which also cancels their queued sends)."""
    return int(exit_contact(session, contact_id, reason, sequence_id=sequence_id, journey_id=journey_id))


def unsubscribe_contact(session: Session, contact_id: int, send_id: int = 0, method: str = "link") -> bool:
    """Unsubscribe a contact from all mail: status, suppression list (which also stops its address in
    any other letter case), exit every sequence, cancel queued sends. Idempotent; returns True when
    the contact was subscribed before."""
    contact = session.get(Contact, contact_id)
    if contact is None:
        return False
    changed = contact.status == ContactStatus.ACTIVE
    if changed:
        contact.status = ContactStatus.UNSUBSCRIBED
    # The suppression list stops the address in every letter case and marks its case-variant contacts
    # (the same mailbox); idempotent when a variant unsubscribes at the same moment.
    suppress(session, contact.email, "unsubscribed", f"{method} (send {send_id})")
    _exit(session, contact_id, "unsubscribed")
    # Broadcast sends belong to no enrolment: cancel every queued send of this contact.
    session.execute(
        update(Send)
        .where(Send.contact_id == contact_id, Send.status == SendStatus.QUEUED)
        .values(status=SendStatus.CANCELLED, error="unsubscribed")
    )
    if changed:
        session.add(Event(contact_id=contact_id, name="unsubscribed", source="tracking",
                          properties={"method": method, "send_id": send_id or None}))
        if send_id:
            count_campaign_event(session, send_id, "unsubscribe")
    session.flush()
    return changed


def leave_sequence(session: Session, contact_id: int, sequence_id: int) -> bool:
    """Leave one sequence by its id (a preference page rendered before sequences ran as journeys posts
    sequence_id): end the walks of the journey it runs as and cancel their queued sends. Returns False when
    the contact is not walking it."""
    if not _exit(session, contact_id, "left via preferences", sequence_id=sequence_id):
        return False
    session.add(Event(contact_id=contact_id, name="left_sequence", source="tracking",
                      properties={"sequence_id": sequence_id}))
    session.flush()
    return True


def leave_journey(session: Session, contact_id: int, journey_id: int) -> bool:
    """Leave one journey (preference page): end its active walks and cancel their queued sends.
    Returns False when the contact is not walking that journey."""
    if not _exit(session, contact_id, "left via preferences", journey_id=journey_id):
        return False
    session.add(Event(contact_id=contact_id, name="left_journey", source="tracking",
                      properties={"journey_id": journey_id}))
    session.flush()
    return True


@dataclass
class Preferences:
    contact: Contact | None
    subscribed: bool
    # each {"id": journey id, "kind": "journey", "public_name"}: the marketer's name for recipients, never the
    # internal name ("" when none was given: the page words it neutrally)
    sequences: list[dict[str, Any]]


def preferences_of(session: Session, contact_id: int) -> Preferences:
    """What the preference page shows: whether the contact gets mail, and the journeys it is walking now
    (test walks left out), by their public names. Sequences run as journeys (journeys.sequence_id): a
    converted sequence's journey without a public name of its own shows the sequence's (migration 0016)."""
    contact = session.get(Contact, contact_id)
    if contact is None:
        return Preferences(None, False, [])
    walking = session.execute(
        select(Journey.id, Journey.public_name, Sequence.public_name.label("sequence_public_name"))
        .join(JourneyEnrolment, JourneyEnrolment.journey_id == Journey.id)
        .outerjoin(Sequence, Sequence.id == Journey.sequence_id)
        .where(JourneyEnrolment.contact_id == contact_id,
               JourneyEnrolment.status == JourneyEnrolmentStatus.ACTIVE,
               JourneyEnrolment.test.is_(False))
        .distinct()
        .order_by(Journey.id)
    ).all()
    series = [{"id": r.id, "kind": "journey", "public_name": r.public_name or r.sequence_public_name or ""}
              for r in walking]
    return Preferences(contact, contact.status == ContactStatus.ACTIVE, series)
