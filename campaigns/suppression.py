"""The suppression list: addresses no marketing mail may reach, in any letter case.

One home for the list's rules, used by every stage: the key an address is stored under, the check
(sending, enrolment, forms, the contact page), and adding or removing an entry (unsubscribes, hard
bounces, complaints, the suppression page, a journey's "suppress" action). Adding an unsubscribe,
bounce or complaint also marks every contact with that address inactive, with the status that says why.

The reasons, and whether the marketer may take an entry back (the suppression page's Remove):
- unsubscribed, hard_bounce / bounce, complaint: the recipient's or the mail system's word; they set the
  contact's status and stay (removing them would mail someone who said no, or an address that bounces);
- manual: the marketer's own entry (the suppression page, the contact page); reversible;
- sunset: a sunset policy (the 休眠掘り起こし journey's "suppress" action: no reaction to the re-engagement
  mail). The contact's status stays "active" - the person did not opt out, and the status would claim they
  had - while the entry alone keeps every broadcast, sequence and journey mail away (audiences, enrolment and
  the send-time check all ask `address_suppressed`). Reversible by the marketer, like manual.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from campaigns.addresses import normalize_email
from campaigns.db import dialect_insert, now_utc
from campaigns.models import Contact, ContactStatus, Suppression
from campaigns.sql_functions import among, ascii_lower, ascii_lower_text

# The contact status a suppression reason sets (a manual suppression leaves the status alone).
SUPPRESSION_STATUS = {
    "unsubscribed": ContactStatus.UNSUBSCRIBED,
    "hard_bounce": ContactStatus.BOUNCED,
    "bounce": ContactStatus.BOUNCED,
    "complaint": ContactStatus.COMPLAINED,
}


REVERSIBLE_REASONS = ("manual", "sunset")  # the marketer's own decisions: the suppression page can remove them
SUNSET = "sunset"

# How each reason reads on the suppression list and the contact page (gettext keys; Japanese in
# campaigns/translations/journey_ab.py and the catalog).
REASON_LABELS = {
    "unsubscribed": "Unsubscribed",
    "hard_bounce": "Hard bounce",
    "bounce": "Bounce",
    "complaint": "Spam complaint",
    "manual": "Added by hand",
    "sunset": "Sunset: no reaction to re-engagement",
}


class SuppressionError(ValueError):
    """A suppression change that cannot be made; the message is the reason shown to the user."""


def suppression_key(email: str) -> str:
    """The suppression list's key: the normalised address with A-Z folded, so Ito@ and ito@ are one entry.

    Normalised addresses are ASCII (local part checked, domain IDNA-encoded), so this fold is a full
    lower-casing for them; an unparsable address (a bounce's raw recipient) only loses A-Z case, as in
    SQL's `ascii_lower`, so Python and both databases always agree."""
    return ascii_lower_text(normalize_email(email) or email.strip())


def is_suppressed(session: Session, email: str) -> bool:
    """True if no mail may go to this address in any letter case (sending, enrolment, forms, contact page)."""
    found = session.scalar(select(Suppression.id).where(Suppression.email == suppression_key(email)))
    return found is not None


def suppression_entry(session: Session, email: str) -> Suppression | None:
    """The suppression list's entry for an address in any letter case, or None (the contact page)."""
    return session.scalar(select(Suppression).where(Suppression.email == suppression_key(email)))


def suppression_reason(session: Session, email: str) -> str | None:
    """Why an address is suppressed, or None (a new contact's status at creation)."""
    return session.scalar(select(Suppression.reason).where(Suppression.email == suppression_key(email)))


def suppress(session: Session, email: str, reason: str, detail: str = "") -> None:
    """Put an address on the suppression list (idempotent) and mark every contact with that address in
    any letter case (sending, bounces, tracking, UI)."""
    key = suppression_key(email)
    if not key or not reason:
        raise SuppressionError("an address and a reason are required")
    session.execute(
        dialect_insert(session, Suppression.__table__).on_conflict_do_nothing().values(
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


def suppress_contacts(session: Session, contact_ids: list[int], reason: str, detail: str = "") -> int:
    """Put these contacts' addresses on the list with one reason (a journey's suppress action); addresses
    already there keep their entry. Returns how many entries were added."""
    emails = list(session.scalars(select(Contact.email).where(among(session, Contact.id, sorted(set(contact_ids))))))
    added = 0
    for email in emails:
        if not suppression_key(email) or is_suppressed(session, email):
            continue
        suppress(session, email, reason, detail)
        added += 1
    return added


def unsuppress(session: Session, email: str) -> None:
    """Remove a manual or sunset suppression given in any letter case (suppression page); unsubscribes,
    bounces and complaints stay."""
    row = session.scalar(select(Suppression).where(Suppression.email == suppression_key(email)))
    if row is None:
        raise SuppressionError("this address is not on the suppression list")
    if row.reason not in REVERSIBLE_REASONS:
        raise SuppressionError(f"only manual and sunset suppressions can be removed (this one is {row.reason!r})")
    session.delete(row)
