"""One-off mail outside campaigns (test sends, form confirmations, sales hand-over), sent at once with the sender's rules."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from campaigns.addresses import is_valid_address
from campaigns.delivery import mailer, rendering
from campaigns.delivery.mime import campaign_frame, format_address, message_frame, message_id
from campaigns.models import Contact, TemplateVersion
from campaigns.runtime import Services
from campaigns.users import get_account


def send_test_email(svc: Services, version_id: int, to_address: str, contact_id: int | None = None) -> None:
    """Send one version to an address with "[TEST]" in the subject, no Send row (template editor)."""
    to_address = (to_address or "").strip()
    if not is_valid_address(to_address):
        raise ValueError(f"{to_address!r} is not a valid email address")
    session = svc.db.factory()
    try:
        version = session.get(TemplateVersion, version_id)
        if version is None:
            raise ValueError(f"template version {version_id} does not exist")
        contact = session.get(Contact, contact_id) if contact_id else None
        rendered = rendering.render_preview(session, version, contact, svc)
        account = get_account(session)
        frame = campaign_frame(svc, account, version)
        msg_id = message_id(svc, account, "test", uuid.uuid4().hex)
        session.commit()
    finally:
        session.close()
    data = frame.assemble(
        to=to_address, subject=f"[TEST] {rendered.subject}", message_id=msg_id, html=rendered.html,
        text=rendered.text,
    )
    _send_one_now(svc, frame.mail_from, to_address, data)


def _send_one_now(svc: Services, mail_from: str, rcpt: str, data: bytes) -> None:
    """Send one mail outside the ledger now; raises SMTPTransientError or SMTPPermanentError."""
    _raise_unless_ok(mailer.get_pool(svc.settings).send(mailer.OutgoingMail(key=0, mail_from=mail_from, rcpt=rcpt, data=data)))


def _raise_unless_ok(outcome: mailer.Outcome) -> None:
    if outcome.ok:
        return
    if outcome.transient:
        raise mailer.SMTPTransientError(outcome.describe())
    raise mailer.SMTPPermanentError(outcome.describe())


def deliver_system_mail(
    svc: Services, account: Any, to_name: str, to_address: str, mail: rendering.RenderedMail, msg_id: str,
    extra_headers: Sequence[tuple[str, str]] = (),
) -> mailer.Outcome:
    """Send one non-campaign mail now, from the account's sender identity, with no Send row; returns the
    relay's outcome (the sales hand-over records it). Raises ValueError for a sender or recipient address
    that is not valid."""
    if not is_valid_address(to_address):
        raise ValueError(f"{to_address!r} is not a valid email address")
    frame = message_frame(svc, account, "sys")
    data = frame.assemble(to=format_address(to_name, to_address), subject=mail.subject, message_id=msg_id,
                          html=mail.html, text=mail.text, extra_headers=extra_headers)
    return mailer.get_pool(svc.settings).send(
        mailer.OutgoingMail(key=0, mail_from=frame.mail_from, rcpt=to_address, data=data))


def send_system_mail(
    svc: Services, account: Any, to_name: str, to_address: str, mail: rendering.RenderedMail, msg_id: str
) -> None:
    """Send one non-campaign mail (a form's double opt-in confirmation) now, with no Send row; raises
    SMTPTransientError (the job retries) or SMTPPermanentError."""
    _raise_unless_ok(deliver_system_mail(svc, account, to_name, to_address, mail, msg_id))
