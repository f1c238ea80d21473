"""The suppression list: addresses no marketing mail may reach, in any letter case.

One home for the list's rules, used by every stage: the key an address is stored under, the check
(sending, enrolment, forms, the contact page), and adding or removing an entry (unsubscribes, hard
bounces, complaints, the suppression page). Adding an entry also marks every contact with that
address inactive, with the status that says why.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from campaigns.addresses import normalize_email
from campaigns.db import dialect_insert, now_utc
from campaigns.models import Contact, ContactStatus, Suppression
from campaigns.sql_functions import ascii_lower, ascii_lower_text

# The contact status a suppression reason sets (a manual suppression leaves the status alone).
SUPPRESSION_STATUS = {
    "unsubscribed": ContactStatus.UNSUBSCRIBED,
    "hard_bounce": ContactStatus.BOUNCED,
    "bounce": ContactStatus.BOUNCED,
    "complaint": ContactStatus.COMPLAINED,
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


def unsuppress(session: Session, email: str) -> None:
    """Remove a manual suppression given in any letter case (suppression page); unsubscribes, bounces and
    complaints stay."""
    row = session.scalar(select(Suppression).where(Suppression.email == suppression_key(email)))
    if row is None:
        raise SuppressionError("this address is not on the suppression list")
    if row.reason != "manual":
        raise SuppressionError(f"only manual suppressions can be removed (this one is {row.reason!r})")
    session.delete(row)
