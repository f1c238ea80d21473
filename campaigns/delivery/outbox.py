"""The development SMTP outbox: a local SMTP server that keeps every mail in the database (like MailHog).

Used when no SMTP_HOST is configured, so mails sent on a laptop can be read in the UI instead of
leaving the machine. The process supervisor calls `run_outbox_server`; tests use `start_outbox`.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import signal
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from campaigns.models import OutboxMessage
from campaigns.runtime import Services

log = logging.getLogger("nurture.outbox")

# A development outbox must not grow without bound when a demo sends thousands of mails.
DEFAULT_KEEP = 5000
MAX_MESSAGE_BYTES = 10 * 1024 * 1024


def parse_raw(raw: str) -> EmailMessage:
    """Parse a stored raw message with the modern email policy (outbox views and tests)."""
    return email.message_from_string(raw, policy=email.policy.default)  # type: ignore[return-value]


def store_message(session: Session, mail_from: str, recipients: list[str], raw: bytes) -> OutboxMessage:
    """Store one received mail as an OutboxMessage (the SMTP handler calls this)."""
    text = raw.decode("utf-8", errors="replace").replace("\x00", "")
    try:
        subject = str(parse_raw(text).get("Subject", "") or "")
    except Exception:  # a malformed header must not lose the mail; the raw text is still kept
        subject = ""
    message = OutboxMessage(
        mail_from=mail_from[:254], recipients=", ".join(recipients), subject=subject[:2000], raw=text
    )
    session.add(message)
    session.flush()
    return message


def prune_outbox(session: Session, keep: int = DEFAULT_KEEP) -> int:
    """Delete all but the newest `keep` messages; returns how many went (called after each store)."""
    cutoff = session.scalar(
        select(OutboxMessage.id).order_by(OutboxMessage.id.desc()).offset(keep).limit(1)
    )
    if cutoff is None:
        return 0
    result = session.execute(delete(OutboxMessage).where(OutboxMessage.id <= cutoff))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def clear_outbox(session: Session) -> int:
    """Delete every message in the outbox (the outbox page's "Delete all")."""
    count = session.scalar(select(func.count()).select_from(OutboxMessage)) or 0
    session.execute(delete(OutboxMessage))
    return int(count)


@dataclass
class OutboxHandler:
    """aiosmtpd handler: accepts every recipient and stores each mail in the database."""

    svc: Services
    keep: int = DEFAULT_KEEP
    stored: int = 0

    def _store(self, mail_from: str, rcpt_tos: list[str], raw: bytes) -> None:
        with self.svc.db.begin() as session:
            store_message(session, mail_from, rcpt_tos, raw)
            self.stored += 1
            # Pruning every mail would cost a query each; every 100th is plenty for a dev box.
            if self.stored % 100 == 0:
                prune_outbox(session, self.keep)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", errors="replace")
        try:
            # The database write blocks; keep it off the event loop so other SMTP clients are served.
            await asyncio.to_thread(self._store, envelope.mail_from or "", list(envelope.rcpt_tos), raw)
        except Exception:
            log.exception("outbox could not store a message")
            return "451 Requested action aborted: local error in processing"
        return "250 Message accepted for delivery"


def start_outbox(svc: Services, host: str = "127.0.0.1", port: int | None = None) -> Controller:
    """Start the outbox SMTP server in a background thread and return its controller (tests, supervisor)."""
    handler = OutboxHandler(svc)
    controller = Controller(
        handler,
        hostname=host,
        port=port if port is not None else svc.settings.outbox_port,
        data_size_limit=MAX_MESSAGE_BYTES,
        ident="Nurture development outbox",
    )
    controller.start()
    log.info("development outbox listening on %s:%s", host, controller.port)
    return controller


def run_outbox_server(svc: Services, host: str = "127.0.0.1", port: int | None = None) -> None:
    """Run the development outbox until SIGTERM or SIGINT (started by the process supervisor)."""
    stop = threading.Event()

    def _stop(_signum: int, _frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    # aiosmtpd logs every SMTP command at INFO; the outbox page is where people look at mail.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    controller = start_outbox(svc, host, port)
    try:
        stop.wait()
    finally:
        controller.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        svc.db.dispose()
        log.info("development outbox stopped")
