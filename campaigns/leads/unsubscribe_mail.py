"""Unsubscribe requests that arrive by mail: the mailto form of List-Unsubscribe (RFC 2369).

Campaign mail offers it only when UNSUBSCRIBE_MAILBOX is set (campaigns/delivery/mime.py); the
operator delivers that address into a maildir or mbox that `nurture process-bounces` reads every few
minutes (the large mailbox providers require an unsubscribe to take effect within two days). The
command hands each message that is not a bounce report here. A request is a mail whose subject (or, for
a client that drops the subject, its text) holds `unsubscribe <token>`, the token of that mail's own
unsubscribe link; it is verified like the link's, so a request acts for that one contact and nothing
else, and the same request twice changes nothing. The caller commits.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.message import EmailMessage

from sqlalchemy.orm import Session

from campaigns.leads.subscriptions import unsubscribe_contact
from campaigns.links import TokenKind, TokenSigner

# the subject of our mailto (`unsubscribe%20{token}`), after a client's "Re:" or "Fwd:" if it adds one
_REQUEST = re.compile(r"\bunsubscribe\s+([A-Za-z0-9_-]{16,64})\b", re.IGNORECASE)
_MAX_TEXT = 20_000  # characters of a text part searched for the request (it is near the top, if there)


@dataclass
class UnsubscribeRequest:
    """What one request mail did (for `nurture process-bounces`' output)."""

    token_valid: bool
    contact_id: int | None = None
    changed: bool = False  # the contact was subscribed before


def request_token(raw: bytes) -> str | None:
    """The token of an unsubscribe request mail, or None when the mail is not one (process_request)."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    try:
        subject = str(msg.get("Subject", ""))
    except (ValueError, LookupError):  # a broken encoded word: look at the text instead
        subject = ""
    match = _REQUEST.search(subject)
    if match is None and isinstance(msg, EmailMessage):
        for part in msg.walk():
            if part.get_content_type() != "text/plain" or part.is_attachment():
                continue
            try:
                text = str(part.get_content())[:_MAX_TEXT]
            except (ValueError, LookupError):
                continue
            match = _REQUEST.search(text)
            if match is not None:
                break
    return match.group(1) if match else None


def process_request(session: Session, signer: TokenSigner, raw: bytes) -> UnsubscribeRequest | None:
    """Unsubscribe the contact an unsubscribe request mail names (`nurture process-bounces`); None when the
    mail is not a request. A token that does not verify unsubscribes nobody."""
    token = request_token(raw)
    if token is None:
        return None
    verified = signer.verify(token, TokenKind.UNSUBSCRIBE)
    if verified is None:
        return UnsubscribeRequest(token_valid=False)
    changed = unsubscribe_contact(session, verified.a, send_id=verified.b, method="mailto")
    return UnsubscribeRequest(token_valid=True, contact_id=verified.a, changed=changed)
