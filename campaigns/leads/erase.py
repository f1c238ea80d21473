"""Erase one contact's personal data (a privacy request under Japan's APPI or the GDPR), keeping the counts.

    result = erase_contact(session, contact_id, actor="user:marketer@example.com")
    session.commit()

One call, one transaction (the caller commits; bulk erase calls it once per contact, in chunks of its
choosing). Raises EraseError("contact not found") for an unknown id; erasing an erased contact again is
allowed and changes nothing more (the audit log gets one more line). `actor` says who asked, as the audit
log stores it: "user:<email>", "api-key:<id>", "cli". It must not be the contact's own data.

What happens, table by table (docs/security.md, "Erasing a contact"):
- contacts: the row STAYS, anonymised: address `erased-<id>@erased.invalid` (.invalid can never be
  delivered, RFC 2606), names, company, job title, time zone, attributes, consent source and wording
  emptied, status unsubscribed. Its id, source, stage, score and dates stay, because every count hangs on
  them: sends, opens, clicks and events keep pointing at this id, so campaign reports, A/B results, rollups
  and KPI funnels read exactly the same numbers after the erase as before.
- suppressions: the real address stays on the list IN PLAIN FORM with reason "erased" (a manual entry is
  turned into "erased" so nobody lifts it by accident; unsubscribes, bounces and complaints keep theirs),
  the free-text detail is emptied. Keeping the address to honour "never mail me again" is what both laws
  allow (GDPR art. 17(3)(b)/21(3): an objection to direct marketing is kept as a suppression; Japan's
  Act on Specified Electronic Mail forbids mailing a person who refused). Plain rather than hashed because
  every import, form and API upsert checks the list by address in SQL (`address_suppressed`); a hash
  would need every one of those paths changed, and one missed path would mail the person again.
- events: rows stay (names and times are the counts), `properties` emptied (a form's own event keeps
  which form it was: form, form_id, submission_id).
- tracking_hits: rows stay (classification and network stay: they are the report's counts), IP and user
  agent emptied.
- sends: rows stay; the error text (an SMTP answer can quote the address) is emptied where it names the
  address; sends not yet delivered (queued) are cancelled. Active sequence enrolments exit ("erased").
- form_submissions: rows stay as the anonymous record that consent was given (form, time, wording shown,
  status); address, values, IP, user agent and referrer emptied.
- stage_changes: a sales or API note (free text, may name the person) is emptied; score causes stay.
- webhook_deliveries (sales hand-over): the contact in the payload becomes {"id", "erased": true}; the
  attempt history, last error and response excerpt are emptied; a delivery not yet made is failed.
- import_jobs: error rows that name the address keep their line number only.
- outbox_messages (the development outbox): every message to, or mentioning, the address is deleted.
- contact_list_members and segment_trigger_members: the contact leaves every list and trigger snapshot.
- journey_enrolments: context (the trigger event's properties) emptied, active walks exited.
- audit_log: one line (who, when, contact id, counts per table); nothing personal.

Not covered: uploaded CSV files outside the database (an import deletes its own upload when it ends; a
CLI import reads the user's own file), hits still buffered in Redis when the erase runs (written within
seconds, keyed by a send whose contact is now anonymous: their IP and user agent are not cleared), and
copies outside Nurture (webhook receivers, mail already delivered, backups).
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from campaigns.db import now_utc
from campaigns.journeys.sequences import exit_enrollments
from campaigns.models import (
    AuditEntry,
    Contact,
    ContactListMember,
    ContactStatus,
    DeliveryState,
    Enrollment,
    EnrollmentStatus,
    Event,
    FormSubmission,
    Hit,
    ImportJob,
    JourneyEnrolment,
    JourneyEnrolmentStatus,
    OutboxMessage,
    SegmentTriggerMember,
    Send,
    SendStatus,
    StageChange,
    Suppression,
    WebhookDelivery,
)
from campaigns.suppression import suppress, suppression_key

ERASED_DOMAIN = "erased.invalid"
ERASE_REASON = "erased"  # suppression reason, enrolment exit reason, audit action suffix
ACTION = "contact_erased"
FORM_EVENT_KEYS = ("form", "form_id", "submission_id")  # campaigns.leads.forms: what its event records


class EraseError(ValueError):
    """The contact cannot be erased (unknown id); the message is the reason shown."""


@dataclass
class EraseResult:
    """What one erase touched: rows per table (also the audit line's detail)."""

    contact_id: int
    already_erased: bool = False
    counts: dict[str, int] = field(default_factory=dict)


def erased_address(contact_id: int) -> str:
    """The placeholder address an erased contact keeps (unique, never deliverable)."""
    return f"erased-{contact_id}@{ERASED_DOMAIN}"


def is_erased(contact: Contact) -> bool:
    """True for a contact whose personal data was erased (contact page, list, exports)."""
    return contact.email == erased_address(contact.id)


def erase_contact(session: Session, contact_id: int, actor: str) -> EraseResult:
    """Remove one contact's personal data from every table, keep its counts, suppress its address and write
    the audit line (contact page, API, bulk erase). The caller commits."""
    contact = session.get(Contact, contact_id, with_for_update=session.get_bind().dialect.name == "postgresql")
    if contact is None:
        raise EraseError("contact not found")
    result = EraseResult(contact_id, already_erased=is_erased(contact))
    counts = result.counts
    address = contact.email
    now = now_utc()

    if not result.already_erased:
        _keep_suppressed(session, address)
        counts["outbox_messages"] = _delete_outbox_copies(session, address, contact)
        counts["import_jobs"] = _scrub_import_errors(session, address)
        counts["sends"] = _scrub_send_errors(session, contact_id, address)

    active = list(session.scalars(select(Enrollment.id).where(
        Enrollment.contact_id == contact_id, Enrollment.status == EnrollmentStatus.ACTIVE)))
    counts["enrollments_exited"] = exit_enrollments(session, active, ERASE_REASON) if active else 0
    counts["sends_cancelled"] = _rowcount(session.execute(
        update(Send).where(Send.contact_id == contact_id, Send.status == SendStatus.QUEUED)
        .values(status=SendStatus.CANCELLED, error="")))
    counts["events"] = _rowcount(session.execute(
        update(Event).where(Event.contact_id == contact_id, ~_form_event()).values(properties={})))
    for event in session.scalars(select(Event).where(Event.contact_id == contact_id, _form_event())):
        # a form's own event keeps which form it was (not personal): the timeline still says what scored
        event.properties = {k: v for k, v in (event.properties or {}).items() if k in FORM_EVENT_KEYS}
        counts["events"] += 1
    counts["tracking_hits"] = _rowcount(session.execute(
        update(Hit).where(Hit.contact_id == contact_id, or_(Hit.ip != "", Hit.user_agent != ""))
        .values(ip="", user_agent="")))
    counts["form_submissions"] = _rowcount(session.execute(
        update(FormSubmission).where(FormSubmission.contact_id == contact_id)
        .values(email="", values={}, ip="", user_agent="", referrer="")))
    counts["stage_changes"] = _rowcount(session.execute(
        update(StageChange).where(StageChange.contact_id == contact_id, StageChange.cause.in_(("sales", "api")),
                                  StageChange.detail != "")
        .values(detail="")))
    counts["webhook_deliveries"] = _scrub_deliveries(session, contact_id)
    counts["journey_enrolments"] = _rowcount(session.execute(
        update(JourneyEnrolment).where(JourneyEnrolment.contact_id == contact_id)
        .values(context={}, waiting=False)))
    session.execute(
        update(JourneyEnrolment)
        .where(JourneyEnrolment.contact_id == contact_id, JourneyEnrolment.status == JourneyEnrolmentStatus.ACTIVE)
        .values(status=JourneyEnrolmentStatus.EXITED, exit_reason=ERASE_REASON, due_at=None, finished_at=now))
    counts["list_memberships"] = _rowcount(session.execute(
        delete(ContactListMember).where(ContactListMember.contact_id == contact_id)))
    session.execute(delete(SegmentTriggerMember).where(SegmentTriggerMember.contact_id == contact_id))

    # Last, through the ORM so that derived columns (the folded search text) follow the emptied fields.
    contact.email = erased_address(contact_id)
    contact.first_name = contact.last_name = contact.company = contact.job_title = ""
    contact.timezone = None
    contact.attributes = {}
    contact.consent_source = contact.consent_text = ""
    contact.status = ContactStatus.UNSUBSCRIBED
    contact.updated_at = now
    session.add(AuditEntry(at=now, actor=actor[:300], action=ACTION, object_type="contact", object_id=contact_id,
                           detail={k: v for k, v in counts.items() if v}))
    session.flush()
    return result


def _form_event() -> Any:
    return and_(Event.name == "form_submitted", Event.source == "form")


def _rowcount(result: Any) -> int:
    return max(0, int(getattr(result, "rowcount", 0) or 0))


def _keep_suppressed(session: Session, address: str) -> None:
    """The real address stays on the suppression list (see the module doc), with no free-text detail."""
    key = suppression_key(address)
    if not key:
        return
    suppress(session, address, ERASE_REASON)
    session.execute(update(Suppression).where(Suppression.email == key, Suppression.reason == "manual")
                    .values(reason=ERASE_REASON))
    session.execute(update(Suppression).where(Suppression.email == key).values(detail=""))


def _mentions(text: str, needle: str) -> bool:
    return needle in text.lower()


def _decoded_text(raw: str) -> str:
    """Headers and every text part of a stored mail, decoded (base64 and quoted-printable bodies)."""
    try:
        message = email.message_from_string(raw, policy=email.policy.default)
        parts = [str(v) for v in message.values()]
        for part in message.walk():
            if part.get_content_maintype() == "text":
                parts.append(str(part.get_content()))
        return "\n".join(parts)
    except Exception:  # a malformed stored mail: judge it by its raw text alone
        return raw


def _delete_outbox_copies(session: Session, address: str, contact: Contact) -> int:
    """Delete development-outbox mails to or about the address. The address in the envelope or a plain
    header is found by SQL; mails received since the contact was created are also decoded (a hand-over
    mail names the contact in a base64 body), at most the outbox's size (it is pruned to DEFAULT_KEEP)."""
    needle = address.lower()
    ids = set(session.scalars(select(OutboxMessage.id).where(or_(
        func.lower(OutboxMessage.recipients).contains(needle, autoescape=True),
        func.lower(OutboxMessage.raw).contains(needle, autoescape=True)))))
    since = contact.created_at
    for message_id, raw in session.execute(
        select(OutboxMessage.id, OutboxMessage.raw).where(OutboxMessage.received_at >= since)
    ):
        if message_id not in ids and _mentions(_decoded_text(raw), needle):
            ids.add(message_id)
    if ids:
        session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(sorted(ids))))
    return len(ids)


def _scrub_import_errors(session: Session, address: str) -> int:
    """Import error rows that name the address keep their line number only."""
    needle = address.lower()
    changed = 0
    for job in session.scalars(select(ImportJob).where(ImportJob.failed > 0)):
        errors = job.errors or []
        if not any(_mentions(str(e), needle) for e in errors):
            continue
        job.errors = [{"line": e.get("line"), "email": "", "reason": ERASE_REASON} if _mentions(str(e), needle)
                      else e for e in errors]
        changed += 1
    return changed


def _scrub_send_errors(session: Session, contact_id: int, address: str) -> int:
    needle = address.lower()
    rows = session.execute(select(Send.id, Send.error).where(Send.contact_id == contact_id, Send.error != "")).all()
    ids = [send_id for send_id, error in rows if _mentions(error, needle)]
    if ids:
        session.execute(update(Send).where(Send.id.in_(ids)).values(error=""))
    return len(ids)


def _scrub_deliveries(session: Session, contact_id: int) -> int:
    rows = list(session.scalars(select(WebhookDelivery).where(WebhookDelivery.contact_id == contact_id)))
    for row in rows:
        payload = dict(row.payload or {})
        if "contact" in payload:
            payload["contact"] = {"id": contact_id, "erased": True}
        row.payload = payload
        row.history = [{k: v for k, v in item.items() if k in ("at", "status", "attempt", "ok")}
                       for item in (row.history or []) if isinstance(item, dict)]
        row.response_excerpt = ""
        if row.state in (DeliveryState.PENDING, DeliveryState.RETRYING):
            row.state, row.next_retry_at, row.last_error = DeliveryState.FAILED, None, ERASE_REASON
        else:
            row.last_error = ""
    return len(rows)
