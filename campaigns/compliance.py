"""The legal minimum of every marketing mail (Japan's Act on Specified Electronic Mail, CAN-SPAM, GDPR):
the sender's name, postal address and a contact, plus the opt-out statement and link that the footer
(templates/email/footer.*) adds to every HTML and text part. Checked when a broadcast is scheduled, when
a sequence is activated, and again by the sender before any mail of a batch leaves."""

from __future__ import annotations

from typing import Any


class SenderNotConfigured(ValueError):
    """The account lacks the sender identity every marketing mail must carry."""


def sender_problems(account: Any) -> list[str]:
    """What the account still has to fill in (Settings page) before marketing mail may go; [] when ready."""
    problems = []
    if not (account.company_name or "").strip() and not (account.from_name or "").strip():
        problems.append("the sender's name (company name) is not set")
    if not (account.postal_address or "").strip():
        problems.append("the sender's postal address is not set")
    if not (account.contact_info or "").strip():
        problems.append("the sender's contact (email, phone or URL for enquiries) is not set")
    return problems


def require_sender_identity(account: Any) -> None:
    """Raise SenderNotConfigured naming what is missing (scheduling, activation, the sender)."""
    problems = sender_problems(account)
    if problems:
        raise SenderNotConfigured("fill in Settings first: " + "; ".join(problems))
