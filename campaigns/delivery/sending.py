"""Idempotent delivery of a batch of Send ids; suppression at send time; bounces; crash recovery.

`deliver_batch` (called by jobs.deliver_batch) works through its ids in small groups:
  claim (queued -> sending, claimed_at = now; a row left in 'sending' past the lease was in flight
  when a worker died, so it is claimed again and flagged possible_duplicate) -> commit ->
  render + build MIME -> hand to the SMTP pool -> record outcomes together with the next claim.
At most two groups are in flight at any moment, so a crash can only leave those few rows behind in
'sending'; `requeue_stale` (called by the scheduler) hands them and any forgotten queued rows back.
Three threads share the work: this one renders, a ledger thread commits claims and outcomes (a disk
flush per group on PostgreSQL, overlapped with rendering), and the SMTP pool's loop sends.

MIME is assembled as bytes per recipient from parts prebuilt once per version and batch
(campaigns.delivery.mime; `email.message.EmailMessage` costs ~2 ms a message); headers are RFC 2047
encoded by hand and every header value has CR/LF collapsed, so personal data can never add a header.
Mail outside campaigns (test sends, confirmations, the hand-over) is campaigns.delivery.system_mail.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.orm import Session

from campaigns import compliance
from campaigns.addresses import is_valid_address
from campaigns.config import Settings
from campaigns.db import now_utc
from campaigns.delivery import mailer, rendering
from campaigns.delivery.mime import MessageFrame, campaign_frame, format_address, send_message_id
from campaigns.delivery.ratelimit import RateLimiter
from campaigns.models import Contact, ContactStatus, Send, SendStatus
from campaigns.models.contacts import address_suppressed
from campaigns.names import display_name
from campaigns.queueing import enqueue_deliveries
from campaigns.runtime import Services
from campaigns.sql_functions import among, pg_array
from campaigns.suppression import suppress
from campaigns.users import get_account

log = logging.getLogger("nurture.sending")

GROUP_SIZE = 25  # sends claimed, delivered and recorded together
IN_FLIGHT_GROUPS = 2  # groups handed to SMTP and not yet recorded: bounds the duplicates after a crash
# ...raised for many connections (a distant relay): each connection then has this many mails queued, so
# the next mail's commands ride with the previous body (pipelining) instead of waiting a round trip.
IN_FLIGHT_PER_CONNECTION = 4
# A job ends by waiting for the replies to its last IN_FLIGHT_PER_CONNECTION mails on every connection,
# round trips that no rendering overlaps. Jobs of at least this many such drains keep that wait a small
# share of the job: with 128 connections to a relay 20 ms away, jobs of 1,000 spent a third of their
# time draining (relay at 65-77% of loopback); see job_size.
JOB_DRAINS = 8
MAX_ATTEMPTS = 8  # transient failures before a send is given up as failed
QUEUED_FORGOTTEN_LEASES = 6  # a queued row enqueued this many leases ago is re-enqueued even with a backlog


class DeliveryDeferred(mailer.SMTPTransientError):
    """Some sends of the batch met a transient failure; raised after recording so RQ retries the job."""


# ---------------------------------------------------------------- the batch
@dataclass
class _Row:
    send_id: int
    status: SendStatus
    claimed_at: datetime | None
    version_id: int
    contact_id: int
    email: str
    first_name: str
    last_name: str
    company: str
    job_title: str
    attributes: dict[str, Any]
    contact_status: ContactStatus
    suppressed: bool
    created_at: datetime | None  # when it was planned

    def contact_context(self) -> dict[str, Any]:
        return {"id": self.contact_id, "email": self.email, "first_name": self.first_name,
                "last_name": self.last_name, "company": self.company, "job_title": self.job_title,
                "attributes": self.attributes}


def _load_rows(session: Session, ids: list[int]) -> list[_Row]:
    """The sends with their contacts and suppression status: one query for the whole batch."""
    suppressed = address_suppressed()
    rows = session.execute(
        select(
            Send.id, Send.status, Send.claimed_at, Send.template_version_id, Contact.id, Contact.email,
            Contact.first_name, Contact.last_name, Contact.company, Contact.job_title, Contact.attributes,
            Contact.status, suppressed, Send.created_at,
        ).join(Contact, Contact.id == Send.contact_id).where(among(session, Send.id, ids)).order_by(Send.id)
    ).all()
    return [_Row(*row) for row in rows]  # type: ignore[call-arg]  # columns in field order


# Updates by id test the status through an expression: with a plain `status = ...` PostgreSQL may pick
# the (status, enqueued_at) index, which every send churns through, over the primary key, and a
# 25-row claim then takes tens of milliseconds instead of a fraction of one.
_STATUS = func.coalesce(Send.status, "")


def _claimable(cutoff: datetime) -> Any:
    return or_(
        _STATUS == SendStatus.QUEUED,
        and_(_STATUS == SendStatus.SENDING, Send.claimed_at < cutoff),
    )


# PostgreSQL: the two statements every group runs, as driver SQL with one array parameter each. Built
# through SQLAlchemy they cost about 1 ms of client CPU per group of 25 (each id coerced and rendered as
# its own bound parameter, cache keys); as constant text psycopg prepares them after five runs and
# PostgreSQL plans them once. The ledger thread's CPU per mail went from ~130 to ~60 us.
_PG_CLAIM = f"""UPDATE sends SET status = '{SendStatus.SENDING.value}', claimed_at = %(now)s,
  attempts = attempts + 1,
  possible_duplicate = CASE WHEN status = '{SendStatus.SENDING.value}' THEN true ELSE possible_duplicate END
WHERE id IN (SELECT unnest(%(ids)s::bigint[]))
  AND (coalesce(status, '') = '{SendStatus.QUEUED.value}'
       OR (coalesce(status, '') = '{SendStatus.SENDING.value}' AND claimed_at < %(cutoff)s))
RETURNING id"""
_PG_SENT = f"""UPDATE sends SET status = '{SendStatus.SENT.value}', sent_at = %(now)s, error = ''
WHERE id IN (SELECT unnest(%(ids)s::bigint[])) AND coalesce(status, '') = '{SendStatus.SENDING.value}'"""


def _claim(session: Session, ids: list[int], cutoff: datetime, now: datetime) -> set[int]:
    """Atomically take the still-claimable rows among `ids`; stale in-flight ones get flagged."""
    if not ids:
        return set()
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        rows = conn.exec_driver_sql(_PG_CLAIM, {"ids": pg_array(ids), "now": now, "cutoff": cutoff})
        return {row[0] for row in rows}
    result = session.execute(
        update(Send)
        .where(Send.id.in_(ids), _claimable(cutoff))
        .values(
            status=SendStatus.SENDING, claimed_at=now, attempts=Send.attempts + 1,
            # Evaluated on the old row: it was 'sending' only if a worker died with it in flight.
            possible_duplicate=case((Send.status == SendStatus.SENDING, True), else_=Send.possible_duplicate),
        )
        .returning(Send.id)
        .execution_options(synchronize_session=False)
    )
    return {row[0] for row in result}


def _mark_sent(session: Session, ids: list[int], now: datetime) -> None:
    """Record sends the server accepted (only rows still in flight: a stale claim taken over is left alone)."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(_PG_SENT, {"ids": pg_array(ids), "now": now})
        return
    session.execute(
        update(Send).where(Send.id.in_(ids), _STATUS == SendStatus.SENDING)
        .values(status=SendStatus.SENT, sent_at=now, error="")
        .execution_options(synchronize_session=False)
    )


class _Batch:
    """The state of one deliver_batch call."""

    def __init__(self, svc: Services, session: Session) -> None:
        self.svc = svc
        self.session = session
        self.counts: Counter[str] = Counter()
        self.deferred_errors: list[str] = []

    def record(self, claimed: dict[int, _Row], outcomes: list[mailer.Outcome]) -> None:
        """Write the outcomes of one group to the ledger (committed with the next claim)."""
        now = now_utc()
        sent = [o.key for o in outcomes if o.ok]
        if sent:
            _mark_sent(self.session, sent, now)
            self.counts["sent"] += len(sent)
        for outcome in outcomes:
            if outcome.ok:
                continue
            row = claimed[outcome.key]
            error = outcome.describe()[:1000]
            if outcome.kind is mailer.OutcomeKind.REJECTED:
                self._fail(outcome.key, f"rejected: {error}")
                suppress(self.session, row.email, "hard_bounce", error)
                self.counts["bounced"] += 1
            elif outcome.kind is mailer.OutcomeKind.REFUSED:
                self._fail(outcome.key, f"refused: {error}")
            else:
                # A server that could not be reached never saw the mail: that is no attempt at this
                # recipient, so an outage of any length does not use up MAX_ATTEMPTS (the lateness
                # limit at delivery bounds how long such a send may wait).
                unreached = outcome.kind is mailer.OutcomeKind.CONNECTION and not outcome.maybe_delivered
                self._defer(outcome.key, error, outcome.maybe_delivered, counted=not unreached)

    def _fail(self, send_id: int, error: str) -> None:
        self.session.execute(
            update(Send).where(Send.id == send_id, _STATUS == SendStatus.SENDING)
            .values(status=SendStatus.FAILED, error=error)
            .execution_options(synchronize_session=False)
        )
        self.counts["failed"] += 1

    def _defer(self, send_id: int, error: str, maybe_delivered: bool, counted: bool = True) -> None:
        values: dict[str, Any] = {"status": SendStatus.QUEUED, "claimed_at": None, "error": error}
        if counted:
            attempts = self.session.scalar(select(Send.attempts).where(Send.id == send_id)) or 0
            if attempts >= MAX_ATTEMPTS:
                self._fail(send_id, f"gave up after {attempts} attempts: {error}")
                return
        else:
            values["attempts"] = Send.attempts - 1  # the claim counted it; the server never saw it
        if maybe_delivered:  # the server may have taken it before the connection broke
            values["possible_duplicate"] = True
        self.session.execute(
            update(Send).where(Send.id == send_id, _STATUS == SendStatus.SENDING).values(**values)
            .execution_options(synchronize_session=False)
        )
        self.counts["deferred"] += 1
        self.deferred_errors.append(f"send {send_id}: {error}")


def deliver_batch(svc: Services, send_ids: Iterable[int]) -> dict[str, int]:
    """Deliver planned sends exactly once where possible (jobs.deliver_batch); returns counts."""
    ids = sorted({int(i) for i in send_ids})
    session = svc.db.factory()
    try:
        return _deliver(svc, session, ids)
    finally:
        session.close()


def _deliver(svc: Services, session: Session, ids: list[int]) -> dict[str, int]:
    settings = svc.settings
    now = now_utc()
    cutoff = now - timedelta(seconds=settings.send_lease_seconds)
    rows = _load_rows(session, ids)
    batch = _Batch(svc, session)
    claimable = [r for r in rows if r.status is SendStatus.QUEUED
                 or (r.status is SendStatus.SENDING and r.claimed_at is not None and r.claimed_at < cutoff)]
    batch.counts["skipped"] = len(ids) - len(claimable)

    # Settled without a claim: suppressed addresses, inactive contacts, and mail planned long before it
    # could go (the service was down, the queue was stuck): an invitation after the event does more harm
    # than none; the limit is the one the scheduler applies to a broadcast that starts late. The
    # conditional update leaves alone any row another worker has taken meanwhile.
    late_cutoff = now - timedelta(hours=settings.max_lateness_hours)
    too_late = f"not sent: planned more than {settings.max_lateness_hours:g} hours earlier"
    settled: dict[tuple[SendStatus, str, str], list[int]] = {}  # (status, error, count name) -> send ids
    for r in claimable:
        if r.suppressed:
            outcome = (SendStatus.SUPPRESSED, "suppressed address", "suppressed")
        elif r.contact_status is not ContactStatus.ACTIVE:
            outcome = (SendStatus.SUPPRESSED, "contact not active", "suppressed")
        elif r.created_at is not None and r.created_at < late_cutoff:
            outcome = (SendStatus.CANCELLED, too_late, "too_late")
        else:
            continue
        settled.setdefault(outcome, []).append(r.send_id)
    batch.counts["suppressed"] = 0  # reported even when there is none
    for (status, error, count), ids in settled.items():
        session.execute(
            update(Send).where(Send.id.in_(ids), _claimable(cutoff)).values(status=status, error=error)
            .execution_options(synchronize_session=False)
        )
        batch.counts[count] += len(ids)
    done = {send_id for ids in settled.values() for send_id in ids}
    deliverable = [r for r in claimable if r.send_id not in done]
    session.commit()
    if not deliverable:
        return dict(batch.counts)

    account = get_account(session)
    # The legal footer needs the sender's identity; without it nothing leaves (the rows stay queued).
    compliance.require_sender_identity(account)
    acct = rendering.account_context(account)
    versions = rendering.current_versions(session, {r.version_id for r in deliverable})
    compiled = {vid: rendering.compiled(session, v) for vid, v in versions.items()}
    frames = {vid: campaign_frame(svc, account, v) for vid, v in versions.items()}
    session.commit()

    pool = mailer.get_pool(settings)
    limiter = None
    group_size = max(GROUP_SIZE, settings.smtp_connections)
    in_flight_groups = max(IN_FLIGHT_GROUPS, -(-settings.smtp_connections * IN_FLIGHT_PER_CONNECTION // group_size))
    if settings.rate_limit_per_second > 0:
        host, port = settings.effective_smtp
        limiter = RateLimiter(svc.redis, f"{host}:{port}", settings.rate_limit_per_second)
        group_size = limiter.group_size(group_size)

    # The ledger has its own thread: while it commits the claim of the next group (a disk flush on
    # PostgreSQL), this thread renders that group. The session is used by that thread alone from here.
    ledger = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nurture-ledger")
    records: list[tuple[dict[int, _Row], list[mailer.Outcome]]] = []
    failures: list[tuple[int, str]] = []
    skipped = 0
    stop = False

    def ledger_step(records: list[Any], failures: list[tuple[int, str]], claim_ids: list[int]) -> set[int]:
        for claimed_rows, outcomes in records:
            batch.record(claimed_rows, outcomes)
        for send_id, error in failures:
            batch._fail(send_id, error)
        taken = _claim(session, claim_ids, cutoff, now_utc()) if claim_ids else set()
        session.commit()  # the claim (and earlier outcomes) is durable before any of its mails leaves
        return taken

    in_flight: deque[tuple[dict[int, _Row], Future[list[mailer.Outcome]]]] = deque()
    urls = svc.urls
    render_seconds = settings.render_seconds
    try:
        for start in range(0, len(deliverable), group_size):
            while len(in_flight) >= in_flight_groups:
                claimed_rows, future = in_flight.popleft()
                outcomes = future.result()
                records.append((claimed_rows, outcomes))
                # the server is unreachable: the rest of the batch waits for RQ's retry
                stop = stop or any(o.kind is mailer.OutcomeKind.CONNECTION for o in outcomes)
            if stop:
                break
            group = deliverable[start : start + group_size]
            if limiter is not None:
                # Wait for the slots before claiming: a claim held through a long wait could outlive the
                # lease and be taken over by another worker as if this one had died.
                limiter.acquire(len(group))
            claiming = ledger.submit(ledger_step, records, failures, [r.send_id for r in group])
            records, failures = [], []
            built = [(row, _build(row, compiled, frames, acct, urls, render_seconds)) for row in group]
            taken = claiming.result()
            claimed: dict[int, _Row] = {}
            mails: list[mailer.OutgoingMail] = []
            for row, mail in built:
                if row.send_id not in taken:  # another worker has it; what we rendered is dropped
                    skipped += 1
                elif isinstance(mail, str):
                    failures.append((row.send_id, mail))
                else:
                    claimed[row.send_id] = row
                    mails.append(mail)
            if mails:
                in_flight.append((claimed, pool.submit(mails)))
        while in_flight:
            claimed_rows, future = in_flight.popleft()
            records.append((claimed_rows, future.result()))
        ledger.submit(ledger_step, records, failures, []).result()
    finally:
        ledger.shutdown(wait=True)
    batch.counts["skipped"] += skipped
    counts = dict(batch.counts)
    if batch.deferred_errors:
        log.warning("batch deferred %d sends: %s", len(batch.deferred_errors), batch.deferred_errors[0])
        raise DeliveryDeferred(
            f"{len(batch.deferred_errors)} of {len(ids)} sends deferred ({counts}); "
            f"first: {batch.deferred_errors[0]}"
        )
    return counts


def _build(
    row: _Row, compiled: dict[int, rendering.CompiledVersion], frames: dict[int, MessageFrame],
    acct: dict[str, str], urls: Any, render_seconds: float,
) -> mailer.OutgoingMail | str:
    """Render and assemble one recipient's message, or say why it cannot be (that send fails alone).

    Anything that goes wrong here belongs to this recipient (their data, or the template meeting their
    data): a template error, the sandbox's limits (sizes, steps, `render_seconds` of CPU), text that
    cannot be encoded (an unpaired surrogate stored before input was validated). Escaping, it would end
    the job with the rest of its group claimed and unsent (requeued later as possible duplicates, to
    crash again); a try per recipient costs nothing measurable."""
    try:
        return _assemble(row, compiled, frames, acct, urls, render_seconds)
    except rendering.TemplateError as exc:
        return f"template error: {exc}"
    except UnicodeError:
        return _unencodable(row)
    except Exception as exc:  # noqa: BLE001  (logged with its traceback: it may be a bug, not the data)
        log.exception("send %d could not be built", row.send_id)
        return f"the mail could not be built: {exc.__class__.__name__}: {exc}"[:1000]


def _assemble(
    row: _Row, compiled: dict[int, rendering.CompiledVersion], frames: dict[int, MessageFrame],
    acct: dict[str, str], urls: Any, render_seconds: float,
) -> mailer.OutgoingMail | str:
    send_id = row.send_id
    if not is_valid_address(row.email):
        return f"invalid recipient address {row.email[:254]!r}"
    unsubscribe = urls.unsubscribe(row.contact_id, send_id)
    rendered = rendering.render_compiled(
        compiled[row.version_id], row.contact_context(), acct,
        unsubscribe_url=unsubscribe, preferences_url=urls.preferences(row.contact_id),
        click_url=lambda link_id: urls.click(send_id, link_id), pixel_url=urls.open_pixel(send_id),
        cpu_seconds=render_seconds,
    )
    frame = frames[row.version_id]
    data = frame.assemble(
        to=format_address(display_name(row.first_name, row.last_name), row.email),
        subject=rendered.subject, message_id=send_message_id(frame, send_id, row.created_at), html=rendered.html,
        text=rendered.text, list_unsubscribe=frame.list_unsubscribe(unsubscribe),
    )
    return mailer.OutgoingMail(key=send_id, mail_from=frame.mail_from, rcpt=row.email, data=data)


_CONTACT_FIELD_NAMES = {"first_name": "first name", "last_name": "last name", "company": "company",
                        "job_title": "job title", "email": "email"}


def _unencodable(row: _Row) -> str:
    """The reason for a send whose contact data cannot be written as UTF-8, naming the field."""
    fields: list[tuple[str, Any]] = [(label, getattr(row, name)) for name, label in _CONTACT_FIELD_NAMES.items()]
    attributes = row.attributes if isinstance(row.attributes, dict) else {}
    fields += [(f"attribute {key}", [key, value]) for key, value in attributes.items()]
    for label, value in fields:
        for text in _strings(value):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as exc:
                return (f"the contact's {label} contains a character that cannot be sent "
                        f"(U+{ord(text[exc.start]):04X}): correct it on the contact's page")
    return "the mail contains a character that cannot be sent"


def _strings(value: Any) -> list[str]:
    """The strings in a value (JSON attributes: nested lists and objects too, keys included)."""
    found: list[str] = []
    stack = [value]
    while stack and len(found) < 10_000:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
    return found


# ---------------------------------------------------------------- recovery and test sends
def job_size(settings: Settings) -> int:
    """Send ids per delivery job: settings.batch_size, raised for a deep connection pool so that a job's
    closing drain costs at most ~1/JOB_DRAINS of it (4 connections: 1,000; 128 connections: 4,096)."""
    return max(settings.batch_size, JOB_DRAINS * max(1, settings.smtp_connections) * IN_FLIGHT_PER_CONNECTION)


def enqueue_sends(svc: Services, send_ids: Sequence[int]) -> int:
    """Enqueue sends as delivery jobs sized (job_size) and timed by the settings; returns the job count."""
    return enqueue_deliveries(svc.queue, send_ids, job_size(svc.settings), svc.settings.rate_limit_per_second)


def requeue_stale(svc: Services, now: datetime | None = None) -> int:
    """Re-enqueue sends the queue forgot: stale claims (a worker died) and long-queued rows (scheduler,
    with the time of its tick: rows it planned at `now` are judged by the same clock)."""
    now = now or now_utc()
    cutoff = now - timedelta(seconds=svc.settings.send_lease_seconds)
    stale_claim = and_(Send.status == SendStatus.SENDING, Send.claimed_at < cutoff)
    conditions = [stale_claim]
    # Queued rows count as forgotten once the queue is empty (no waiting job can still carry them), or
    # when they are far older than any backlog should be; re-enqueueing a row whose job does still exist
    # costs one skipped claim, never a second mail.
    queued_cutoff = cutoff if svc.queue.count == 0 else now - timedelta(
        seconds=QUEUED_FORGOTTEN_LEASES * svc.settings.send_lease_seconds)
    conditions.append(and_(Send.status == SendStatus.QUEUED, Send.enqueued_at < queued_cutoff))
    with svc.db.begin() as session:
        ids = list(session.scalars(select(Send.id).where(or_(*conditions)).order_by(Send.id).limit(100_000)))
        if not ids:
            return 0
        for start in range(0, len(ids), 5000):
            session.execute(
                update(Send).where(Send.id.in_(ids[start : start + 5000])).values(enqueued_at=now_utc())
                .execution_options(synchronize_session=False)
            )
    enqueue_sends(svc, ids)
    log.info("re-enqueued %d stale sends", len(ids))
    return len(ids)


