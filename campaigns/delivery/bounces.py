"""Bounces and complaints that arrive after the relay accepted a mail: provider webhooks (signed JSON)
and a bounce mailbox (RFC 3464 delivery status notifications, RFC 5965 ARF complaint reports).

Each report is matched back to its send through the Message-ID we put on every mail
(`<{send id}.{tag}@{sender domain}>`, kept in the DSN's returned headers; the tag is checked, see
campaigns/delivery/mime.py), else to the newest send to the address.
A hard bounce or a complaint suppresses the address at once; three soft bounces of different sends,
with no open or click in between, suppress it too. Every report is an event on the contact; a bounce
marks its send failed (the reports count it as bounced); a complaint is counted in the campaign's
roll-up, and a broadcast whose complaint rate passes the configured limit pauses itself.

Called by the webhook view (campaigns/api/bounces.py) and the `nurture process-bounces` command; the
caller commits. Nothing here reads a request.
"""

from __future__ import annotations

import email
import email.policy
import enum
import hashlib
import hmac
import logging
import mailbox
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from email.parser import BytesHeaderParser, HeaderParser
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from campaigns.config import Settings
from campaigns.db import now_utc
from campaigns.delivery.mime import send_id_from_message_id
from campaigns.engagement.rollups import count_campaign_event
from campaigns.journeys.sequences import exit_contact
from campaigns.models import Broadcast, BroadcastStatus, Contact, EngagementRollup, Event, Send, SendStatus
from campaigns.models.tracking import Hit, HitClass, RollupScope
from campaigns.suppression import suppress

log = logging.getLogger("nurture.bounces")

SOFT_BOUNCES_TO_SUPPRESS = 3
SIGNATURE_HEADER = "X-Nurture-Signature"
SIGNATURE_TOLERANCE_SECONDS = 300
PAUSED_ERROR = "broadcast paused"
_ADDRESS = re.compile(r"[^\s<>;\"']+@[^\s<>;\"']+")


class BounceKind(enum.StrEnum):
    HARD = "hard"
    SOFT = "soft"
    COMPLAINT = "complaint"


EVENT_NAMES = {BounceKind.HARD: "bounced", BounceKind.SOFT: "soft_bounced", BounceKind.COMPLAINT: "complained"}


@dataclass
class BounceReport:
    """One recipient's bounce or complaint, whatever it came from."""

    kind: BounceKind
    recipient: str = ""
    message_id: str = ""  # the Message-ID of the mail that bounced, when known
    status: str = ""  # enhanced status code, e.g. 5.1.1
    diagnostic: str = ""
    source: str = ""  # webhook, dsn, arf
    reference: str = ""  # the provider's event id, for idempotency


@dataclass
class BounceResult:
    """What recording one report did (for the webhook's answer and the CLI's summary)."""

    matched: bool = False
    send_id: int | None = None
    contact_id: int | None = None
    suppressed: bool = False
    duplicate: bool = False
    paused_broadcast: int | None = None
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ matching and recording
def _normal_address(text: str) -> str:
    match = _ADDRESS.search(text or "")
    if not match:
        return ""
    local, _, domain = match.group(0).strip(".,").rpartition("@")
    return f"{local}@{domain.lower()}"


def _created_at(session: Session, send_id: int) -> datetime | None:
    send = session.get(Send, send_id)
    return send.created_at if send is not None else None


def _find_send(session: Session, report: BounceReport, settings: Settings) -> Send | None:
    # Our Message-ID names the send, and its tag proves we made it: an id made up (or another
    # installation's) names nothing, and the report is matched by its address like one without an id.
    send_id = send_id_from_message_id(report.message_id, settings.secret_key, lambda i: _created_at(session, i))
    if send_id is not None:
        send = session.get(Send, send_id)
        if send is not None:
            return send
    address = _normal_address(report.recipient)
    if not address:
        return None
    # Without our Message-ID (some providers drop it) the newest mail to that address is the best guess.
    return session.scalars(
        select(Send).join(Contact, Contact.id == Send.contact_id)
        .where(func.lower(Contact.email) == address.lower(), Send.status.in_([SendStatus.SENT, SendStatus.FAILED]))
        .order_by(Send.sent_at.desc().nulls_last(), Send.id.desc()).limit(1)
    ).first()


def _already_recorded(session: Session, contact_id: int, name: str, send_id: int | None, reference: str) -> bool:
    for props in session.scalars(
        select(Event.properties).where(Event.contact_id == contact_id, Event.name == name)
        .order_by(Event.id.desc()).limit(200)
    ):
        props = props or {}
        if reference and props.get("reference") == reference:
            return True
        if send_id is not None and props.get("send_id") == send_id:
            return True  # the same mail reported twice (a provider's retry, a second DSN)
    return False


def record_bounce(session: Session, report: BounceReport, settings: Settings) -> BounceResult:
    """Apply one bounce or complaint: event, send status, suppression, complaint roll-up, auto-pause."""
    result = BounceResult()
    send = _find_send(session, report, settings)
    contact: Contact | None = None
    if send is not None:
        contact = session.get(Contact, send.contact_id)
    elif report.recipient:
        address = _normal_address(report.recipient)
        contact = session.scalars(select(Contact).where(func.lower(Contact.email) == address.lower())).first()
    if contact is None:
        result.notes.append("no send or contact matches this report")
        log.info("bounce report for %r (%s) matches nothing", report.recipient, report.message_id)
        return result
    result.matched = True
    result.contact_id = contact.id
    result.send_id = send.id if send is not None else None
    name = EVENT_NAMES[report.kind]
    if _already_recorded(session, contact.id, name, result.send_id, report.reference):
        result.duplicate = True
        return result
    detail = " ".join(f"{report.status} {report.diagnostic}".split())[:1000]
    session.add(Event(
        contact_id=contact.id, name=name, source="bounce",
        properties={"send_id": result.send_id, "kind": report.kind.value, "status": report.status[:20],
                    "diagnostic": report.diagnostic[:1000], "via": report.source, "reference": report.reference[:200]},
    ))
    if send is not None and report.kind is not BounceKind.COMPLAINT and send.status == SendStatus.SENT:
        # Accepted by the relay, then bounced: the reports count failed sends as bounced.
        send.status = SendStatus.FAILED
        send.error = f"bounced ({report.kind}): {detail}"[:1000]
    if report.kind is BounceKind.HARD:
        suppress(session, contact.email, "hard_bounce", detail)
        result.suppressed = True
    elif report.kind is BounceKind.COMPLAINT:
        suppress(session, contact.email, "complaint", detail or "complaint")
        result.suppressed = True
        if send is not None:
            count_campaign_event(session, send.id, "complaint")
    else:
        session.flush()
        if _soft_bounce_streak(session, contact.id) >= SOFT_BOUNCES_TO_SUPPRESS:
            suppress(session, contact.email, "bounce", f"{SOFT_BOUNCES_TO_SUPPRESS} consecutive soft bounces; last: {detail}")
            result.suppressed = True
    if result.suppressed:

        exit_contact(session, contact.id, "complaint" if report.kind is BounceKind.COMPLAINT else "bounced")
    session.flush()
    if report.kind is BounceKind.COMPLAINT and send is not None and send.broadcast_id:
        if pause_if_complaints_too_high(session, send.broadcast_id, settings):
            result.paused_broadcast = send.broadcast_id
    return result


def _soft_bounce_streak(session: Session, contact_id: int) -> int:
    """Soft bounces of distinct sends since the contact last showed a working mailbox (a human open or click)."""
    last_engaged = session.scalar(
        select(func.max(Hit.occurred_at)).where(Hit.contact_id == contact_id, Hit.classification == HitClass.HUMAN)
    )
    query = select(Event.properties, Event.id).where(Event.contact_id == contact_id, Event.name == "soft_bounced")
    if last_engaged is not None:
        query = query.where(Event.occurred_at > last_engaged)
    sends = {(props or {}).get("send_id") or f"event-{eid}" for props, eid in session.execute(query)}
    return len(sends)


# ------------------------------------------------------------------ complaint rate and pausing
def complaint_rate(session: Session, broadcast_id: int) -> tuple[int, int]:
    """(complaints, delivered) of a broadcast, from the roll-ups and the send ledger."""
    complaints = session.scalar(
        select(func.coalesce(func.sum(EngagementRollup.count), 0)).where(
            EngagementRollup.scope == RollupScope.BROADCAST, EngagementRollup.scope_id == broadcast_id,
            EngagementRollup.link_id == 0, EngagementRollup.metric == "complaint",
        )
    )
    delivered = session.scalar(
        select(func.count()).select_from(Send).where(
            Send.broadcast_id == broadcast_id, Send.status.in_([SendStatus.SENT, SendStatus.FAILED])
        )
    )
    return int(complaints or 0), int(delivered or 0)


def pause_if_complaints_too_high(session: Session, broadcast_id: int, settings: Settings) -> bool:
    """Pause a sending broadcast whose complaint rate passed settings.complaint_pause_rate (after
    settings.complaint_pause_min_delivered delivered mails); True when it was paused now."""
    if settings.complaint_pause_rate <= 0:
        return False
    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is None or broadcast.status != BroadcastStatus.SENDING:
        return False
    complaints, delivered = complaint_rate(session, broadcast_id)
    if delivered < max(1, settings.complaint_pause_min_delivered) or complaints / delivered <= settings.complaint_pause_rate:
        return False
    pause_broadcast(session, broadcast, f"complaint rate {complaints}/{delivered} = {complaints / delivered:.2%} "
                                        f"is above the limit of {settings.complaint_pause_rate:.2%}")
    log.warning("broadcast %s paused: %d complaints for %d delivered", broadcast_id, complaints, delivered)
    return True


def pause_broadcast(session: Session, broadcast: Broadcast, reason: str) -> int:
    """Stop a sending broadcast: its queued sends are held (cancelled with a marker that resume_broadcast
    finds); mails already handed to a worker finish. Returns the number of sends held."""
    held = session.execute(
        update(Send).where(Send.broadcast_id == broadcast.id, Send.status == SendStatus.QUEUED)
        .values(status=SendStatus.CANCELLED, error=f"{PAUSED_ERROR}: {reason}"[:1000])
        .execution_options(synchronize_session=False)
    )
    broadcast.status = BroadcastStatus.PAUSED
    broadcast.options = {**(broadcast.options or {}), "pause_reason": reason, "paused_at": now_utc().isoformat()}
    session.flush()
    return int(held.rowcount or 0)  # type: ignore[attr-defined]


def resume_broadcast(session: Session, broadcast: Broadcast) -> int:
    """Send the rest of a paused broadcast (CLI `resume-broadcast`): held sends are queued again and the
    scheduler enqueues them on its next tick. Returns the number of sends released."""
    if broadcast.status != BroadcastStatus.PAUSED:
        raise ValueError(f"a {broadcast.status} broadcast cannot be resumed")
    released = session.execute(
        update(Send).where(Send.broadcast_id == broadcast.id, Send.status == SendStatus.CANCELLED,
                           Send.error.like(f"{PAUSED_ERROR}:%"))
        .values(status=SendStatus.QUEUED, error="", enqueued_at=None, claimed_at=None)
        .execution_options(synchronize_session=False)
    )
    broadcast.status = BroadcastStatus.SENDING
    options = dict(broadcast.options or {})
    options.pop("pause_reason", None)
    broadcast.options = options
    session.flush()
    return int(released.rowcount or 0)  # type: ignore[attr-defined]


# ------------------------------------------------------------------ provider webhooks (generic JSON)
def sign_webhook(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The signature header value for `body`: `t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">`."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def verify_webhook(secret: str, body: bytes, header: str, now: float | None = None) -> bool:
    """True when the header signs this body with the shared secret within the replay window."""
    if not secret or not header:
        return False
    parts = dict(p.strip().partition("=")[::2] for p in header.split(",") if "=" in p)
    try:
        ts = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - ts) > SIGNATURE_TOLERANCE_SECONDS:
        return False
    expected = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


_KIND_WORDS = {
    "hard": BounceKind.HARD, "permanent": BounceKind.HARD, "hard_bounce": BounceKind.HARD,
    "soft": BounceKind.SOFT, "transient": BounceKind.SOFT, "temporary": BounceKind.SOFT, "soft_bounce": BounceKind.SOFT,
    "complaint": BounceKind.COMPLAINT, "spam": BounceKind.COMPLAINT, "abuse": BounceKind.COMPLAINT,
}


class WebhookError(ValueError):
    """The webhook payload does not have the documented form (answered 400 with this reason)."""


def reports_from_webhook(payload: Any) -> list[BounceReport]:
    """Bounce reports from the generic JSON body: one event or {"events": [...]}; each event has
    type (bounce | complaint), bounce_type (hard | soft, for bounces), email, and optionally
    message_id, status, diagnostic, id."""
    events = payload.get("events") if isinstance(payload, dict) and "events" in payload else [payload]
    if not isinstance(events, list) or not events or len(events) > 1000:
        raise WebhookError("expected an event object or {\"events\": [1..1000 events]}")
    reports = []
    for i, event in enumerate(events):
        if not isinstance(event, dict):
            raise WebhookError(f"event {i}: not an object")
        values = {k: event.get(k) for k in ("type", "bounce_type", "email", "message_id", "status", "diagnostic", "id")}
        for key, value in values.items():
            if value is not None and not isinstance(value, str | int):
                raise WebhookError(f"event {i}: {key} must be a string")
        kind_word = str(values["type"] or "").strip().lower()
        if kind_word == "bounce":
            kind_word = str(values["bounce_type"] or "").strip().lower()
            if not kind_word and str(values["status"] or "").startswith("5"):
                kind_word = "hard"
        kind = _KIND_WORDS.get(kind_word)
        if kind is None:
            raise WebhookError(f"event {i}: type must be bounce (with bounce_type hard or soft) or complaint")
        if not values["email"] and not values["message_id"]:
            raise WebhookError(f"event {i}: email or message_id is required")
        reports.append(BounceReport(
            kind=kind, recipient=str(values["email"] or "")[:254], message_id=str(values["message_id"] or "")[:500],
            status=str(values["status"] or "")[:20], diagnostic=str(values["diagnostic"] or "")[:1000],
            source="webhook", reference=str(values["id"] or "")[:200],
        ))
    return reports


# ------------------------------------------------------------------ the bounce mailbox (RFC 3464, RFC 5965)
def _fields(part: Message) -> list[Message]:
    """The header blocks of a message/delivery-status or message/feedback-report part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    if isinstance(payload, bytes):
        payload = payload.decode("utf-8", "replace")
    blocks = re.split(r"\r?\n\r?\n", str(payload or "").strip())
    return [HeaderParser().parsestr(block) for block in blocks if block.strip()]


def _returned_headers(msg: Message) -> Message | None:
    """The headers of the original mail, returned in a message/rfc822 or text/rfc822-headers part."""
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                return inner[0]
        if ctype == "text/rfc822-headers":
            data = part.get_payload(decode=True)
            return BytesHeaderParser().parsebytes(data if isinstance(data, bytes) else b"")
    return None


def _value(block: Message, name: str) -> str:
    value = block.get(name)
    return " ".join(str(value).split()) if value is not None else ""


def _typed_address(value: str) -> str:
    """`rfc822; someone@example.com` -> someone@example.com"""
    return _normal_address(value.partition(";")[2] if ";" in value else value)


def _dsn_kind(action: str, status: str) -> BounceKind | None:
    action = action.lower()
    if action != "failed":  # delayed, delivered, relayed, expanded: warnings and receipts, not bounces
        return None
    # 5.2.2 (mailbox full) and 4.x.x are worth retrying later; other permanent failures are not.
    if status.startswith("4") or status.startswith("5.2.2"):
        return BounceKind.SOFT
    return BounceKind.HARD


def parse_bounce_message(raw: bytes) -> list[BounceReport]:
    """Bounce reports in one message from the bounce mailbox: a DSN (multipart/report;
    report-type=delivery-status) or an ARF complaint (report-type=feedback-report); [] for anything else."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    if msg.get_content_type() != "multipart/report":
        return []
    report_type = (msg.get_param("report-type") or "").lower()  # type: ignore[union-attr]
    original = _returned_headers(msg)
    message_id = _value(original, "Message-ID") if original is not None else ""
    reports: list[BounceReport] = []
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype in ("message/delivery-status", "message/global-delivery-status") and report_type != "feedback-report":
            blocks = _fields(part)
            for block in blocks[1:] or blocks:  # the first block is per-message, the rest per-recipient
                recipient = _typed_address(_value(block, "Final-Recipient") or _value(block, "Original-Recipient"))
                status = _value(block, "Status")
                kind = _dsn_kind(_value(block, "Action"), status)
                if kind is None or not recipient:
                    continue
                reports.append(BounceReport(kind, recipient, message_id, status[:20],
                                            _value(block, "Diagnostic-Code")[:1000], "dsn"))
        elif ctype == "message/feedback-report":
            blocks = _fields(part)
            if not blocks:
                continue
            block = blocks[0]
            recipient = _typed_address(_value(block, "Original-Rcpt-To"))
            if not recipient and original is not None:
                recipient = _normal_address(_value(original, "To"))
            feedback = _value(block, "Feedback-Type").lower() or "abuse"
            if feedback not in ("abuse", "fraud", "other"):
                continue  # not-spam, virus, auth-failure: not a recipient's complaint
            reports.append(BounceReport(BounceKind.COMPLAINT, recipient, message_id, "", f"feedback: {feedback}", "arf"))
    return reports


def read_messages(path: Path) -> Iterator[tuple[str, bytes]]:
    """(name, raw bytes) of every message in a maildir (a folder with cur/ and new/), an mbox file, or a
    single message file (`nurture process-bounces`)."""
    if path.is_dir():
        if (path / "new").is_dir() or (path / "cur").is_dir():  # a maildir: its messages are plain files
            for sub in ("new", "cur"):
                folder = path / sub
                if folder.is_dir():
                    for child in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
                        yield str(child), child.read_bytes()
            return
        for child in sorted(p for p in path.iterdir() if p.is_file()):
            yield str(child), child.read_bytes()
        return
    with path.open("rb") as fh:
        head = fh.read(5)
    if head == b"From ":
        mbox = mailbox.mbox(path, create=False)
        for key in mbox.iterkeys():
            yield f"{path}#{key}", mbox.get_bytes(key)
        return
    yield str(path), path.read_bytes()


def process_reports(session: Session, reports: Iterable[BounceReport], settings: Settings) -> list[BounceResult]:
    """Record each report in order (webhook view, CLI); the caller commits."""
    return [record_bounce(session, report, settings) for report in reports]


def summarize(results: Iterable[BounceResult]) -> dict[str, Any]:
    """Counts for the webhook's JSON answer and the CLI's output."""
    results = list(results)
    return {
        "received": len(results),
        "matched": sum(r.matched for r in results),
        "duplicates": sum(r.duplicate for r in results),
        "suppressed": sum(r.suppressed for r in results),
        "paused_broadcasts": sorted({r.paused_broadcast for r in results if r.paused_broadcast}),
    }
