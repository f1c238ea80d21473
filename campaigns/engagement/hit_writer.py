"""The hit writer: its own process reads the hit stream and stores hits, classified, with their roll-ups.

Writer (`run_writer`, run by the process supervisor): XREADGROUP from a consumer group, then
`process_batch` in one transaction: skip event ids already stored (at-least-once delivery becomes
an exactly-once effect), classify the hits of each affected mail together with its earlier hits,
insert them, fix earlier hits whose class changed, and add the difference of the mail's roll-up
contribution. XACK only after the commit, so a writer killed at any point loses nothing: its
pending entries are read again on restart (or claimed by another writer after MIN_IDLE_MS).
Redis must persist the stream (appendonly yes) to survive a Redis restart; see docs/tracking.md.

The web side that feeds the stream is campaigns.engagement.hit_buffer; when Redis cannot take hits for
long, the buffer stores them through `process_batch` here, the same path the writer uses.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from redis import Redis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy import String, Table, bindparam, func, select, text, type_coerce, update
from sqlalchemy.orm import Session

from campaigns.engagement.classify import classify_send_hits
from campaigns.engagement.classify_data import ClassificationData, classification_data
from campaigns.engagement.rollups import HitRow, RollupKey, apply_rollup_delta, contribution
from campaigns.engagement.web_writer import is_web_entry, process_web_batch
from campaigns.models import Link, Send
from campaigns.models.tracking import Hit, HitClass, HitKind
from campaigns.runtime import log_loop_failure
from campaigns.sql_functions import among

if TYPE_CHECKING:
    from campaigns.runtime import Services

log = logging.getLogger("nurture.hits")

STREAM = "nurture:hits"
GROUP = "hit-writers"
LOCK_KEY = "nurture:hits:writer-lock"
LOCK_TTL_MS = 30_000
MIN_IDLE_MS = 60_000  # entries pending this long on another consumer are taken over
BATCH = 5000  # entries per transaction when a backlog has built up (bigger batches drain faster)
# A read that finds fewer entries than this waits LINGER_SECONDS before the next one, so that under a
# steady trickle of hits (thousands a second after a broadcast) the writer stores batches of hundreds
# rather than one transaction per handful: each batch costs about eight statements and a commit
# whatever its size. A hit waits at most that much longer to reach the database.
LINGER_MIN = 500
LINGER_SECONDS = 0.2
UA_MAX = 512


# Stored and buffered values to members by dict lookup: Enum.__call__ and .value cost a tenth of a click
# batch's CPU when every stored click of each mail is read back.
_KINDS = {k.value: k for k in HitKind}
_CLASSES = {c.value: c for c in HitClass}


def _decode(raw: Mapping[Any, Any]) -> HitRow | None:
    # Entries come from Redis with bytes keys and values, or from record_hit's fallback with str ones.
    as_bytes = any(isinstance(k, bytes) for k in raw)

    def get(k: str) -> str:
        v = raw.get(k.encode() if as_bytes else k, "")
        return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)

    try:
        kind = _KINDS[get("k")]
        send_id = int(get("s"))
        link_id = int(get("l") or 0) or None
        occurred = datetime.fromtimestamp(float(get("t")), UTC)
        event_id = get("e")
    except (ValueError, TypeError, KeyError):
        return None
    if not event_id or len(event_id) > 32 or (kind == HitKind.CLICK and link_id is None):
        return None
    # NUL cannot be stored in PostgreSQL text: one such header must not block the stream.
    ua = get("ua").replace("\x00", "")[:UA_MAX]
    return HitRow(event_id, kind, send_id, link_id, occurred, ua, get("ip")[:64].replace("\x00", ""), get("n")[:20])


_HIT_COLUMNS = ["event_id", "kind", "send_id", "contact_id", "link_id", "occurred_at", "recorded_at", "user_agent",
                "ip", "network", "classification", "reason"]


def _insert_hits(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert new hit rows in the session's transaction: COPY on PostgreSQL (several times cheaper per
    row than executemany, for the writer and the database alike), executemany elsewhere."""
    if not rows:
        return
    now = datetime.now(UTC)
    for r in rows:
        r["recorded_at"] = now
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        session.execute(cast(Table, Hit.__table__).insert(), rows)
        return
    raw: Any = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy(f"COPY tracking_hits ({', '.join(_HIT_COLUMNS)}) FROM STDIN") as copy:
        for r in rows:
            copy.write_row([
                r["event_id"], str(r["kind"]), r["send_id"], r["contact_id"], r["link_id"], r["occurred_at"],
                now, r["user_agent"], r["ip"], r["network"], str(r["classification"]), r["reason"],
            ])


def process_batch(session: Session, entries: Sequence[Mapping[Any, Any]],
                  data: ClassificationData | None = None) -> int:
    """Store a batch of buffered hits idempotently and update roll-ups; returns how many were new.

    Called by the writer loop (and by record_hit when Redis is down); the caller commits. `data`: the
    classification data in force (CLASSIFY_DATA_DIR), the packaged data when omitted. Website visits share
    the stream: their entries go to campaigns.engagement.web_writer, in the same transaction.
    """
    if session.get_bind().dialect.name == "postgresql":
        # One batch at a time even if several writers run: the roll-up difference reads then writes.
        session.execute(text("SELECT pg_advisory_xact_lock(727001)"))
        # Plan each lookup for its batch. After five runs psycopg prepares a statement and PostgreSQL may
        # keep one generic plan, made while the hits table was small (a fresh install, or right after a
        # bulk delete), long after it has grown: a batch then took seconds instead of milliseconds.
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    web = [entry for entry in entries if is_web_entry(entry)]
    if web:
        entries = [entry for entry in entries if not is_web_entry(entry)]
    return _process_mail_hits(session, entries, data) + (process_web_batch(session, web, data) if web else 0)


def _process_mail_hits(session: Session, entries: Sequence[Mapping[Any, Any]], data: ClassificationData | None) -> int:
    """Store opens and clicks (process_batch's work for mail hits)."""
    rows: dict[str, HitRow] = {}
    for entry in entries:
        row = _decode(entry)
        if row is None:
            log.warning("dropping malformed hit entry %r", dict(entry))
        elif row.event_id not in rows:
            rows[row.event_id] = row
    if not rows:
        return 0
    # Core execution on the connection: the ORM's result loading cost a fifth of a batch's CPU.
    conn = session.connection()
    ids = list(rows)
    for i in range(0, len(ids), 1000):
        for (seen,) in conn.execute(select(Hit.event_id).where(among(session, Hit.event_id, ids[i : i + 1000]))):
            rows.pop(seen, None)
    if not rows:
        return 0

    send_ids = sorted({r.send_id for r in rows.values()})
    sends = {}
    for i in range(0, len(send_ids), 1000):
        for s in conn.execute(
            select(Send.id, Send.contact_id, Send.broadcast_id, Send.step_id, Send.variant, Send.sent_at,
                   Send.template_version_id).where(among(session, Send.id, send_ids[i : i + 1000]))
        ):
            sends[s.id] = s
    new_by_send: dict[int, list[HitRow]] = defaultdict(list)
    for r in rows.values():
        if r.send_id in sends:
            new_by_send[r.send_id].append(r)
        else:
            log.warning("dropping hit %s for unknown send %s", r.event_id, r.send_id)
    if not new_by_send:
        return 0

    # Stored clicks of these mails are re-examined with the new ones (a burst or a honeypot click can
    # turn them into a scanner's); stored opens never change class, so only their earliest human time
    # is needed. This keeps a batch cheap even for a mail opened thousands of times.
    old_by_send: dict[int, list[HitRow]] = defaultdict(list)
    first_open: dict[int, datetime] = {}
    live = list(new_by_send)
    clicking = [sid for sid, new_rows in new_by_send.items() if any(r.kind == HitKind.CLICK for r in new_rows)]
    clicking_set = set(clicking)
    for i in range(0, len(clicking), 1000):
        for h in conn.execute(
            select(Hit.id, Hit.event_id, Hit.send_id, Hit.link_id, Hit.occurred_at, Hit.user_agent,
                   Hit.ip, Hit.network, type_coerce(Hit.classification, String).label("classification"), Hit.reason)
            .where(among(session, Hit.send_id, clicking[i : i + 1000]), Hit.kind == HitKind.CLICK)
        ):
            old_by_send[h.send_id].append(
                HitRow(h.event_id, HitKind.CLICK, h.send_id, h.link_id, h.occurred_at, h.user_agent, h.ip, h.network,
                     _CLASSES[h.classification], h.reason, h.id)
            )
    first_click: dict[int, datetime] = {}
    for i in range(0, len(live), 1000):
        for sid, kind, t in conn.execute(
            select(Hit.send_id, Hit.kind, func.min(Hit.occurred_at))
            .where(among(session, Hit.send_id, live[i : i + 1000]), Hit.classification == HitClass.HUMAN)
            .group_by(Hit.send_id, Hit.kind)
        ):
            t = t if t.tzinfo else t.replace(tzinfo=UTC)
            (first_open if kind == HitKind.OPEN else first_click)[sid] = t
    versions = {sends[s].template_version_id for s in live}
    honeypots: dict[int, set[int]] = defaultdict(set)
    tracked: Counter[int] = Counter()
    for link in conn.execute(
        select(Link.id, Link.template_version_id, Link.tracked, Link.honeypot).where(
            Link.template_version_id.in_(versions)
        )
    ):
        if link.honeypot:
            honeypots[link.template_version_id].add(link.id)
        elif link.tracked:
            tracked[link.template_version_id] += 1

    delta: Counter[RollupKey] = Counter()
    inserts: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    changed_before = 0
    for send_id, new_rows in new_by_send.items():
        send = sends[send_id]
        old_rows = old_by_send.get(send_id, [])
        everything = old_rows + new_rows
        verdicts = classify_send_hits(
            everything, send.sent_at,
            honeypots.get(send.template_version_id, set()), tracked.get(send.template_version_id, 0), data,
        )
        prior_open = first_open.get(send_id)
        # Stored clicks are in old_rows when the batch has clicks for this mail (they may be
        # reclassified); otherwise only their earliest human time matters.
        prior_click = None if send_id in old_by_send or send_id in clicking_set else first_click.get(send_id)
        n_old = len(old_rows)
        for row, v in zip(old_rows, verdicts, strict=False):
            if (row.classification, row.reason) != (v.classification, v.reason):
                changed.append({"id": row.db_id, "classification": v.classification, "reason": v.reason})
        new_after = [
            HitRow(r.event_id, r.kind, r.send_id, r.link_id, r.occurred_at, r.user_agent, r.ip, r.network,
                 v.classification, v.reason)
            for r, v in zip(new_rows, verdicts[n_old:], strict=True)
        ]
        if len(changed) == changed_before:
            # The usual case: no stored click changes class. Their per-hit counts cancel, so they are
            # folded into the priors (earliest human click, overall and per link) and only the new
            # hits are counted: the same difference at a fraction of the cost for a much-clicked mail.
            link_firsts: dict[int, datetime] = {}
            for r in old_rows:
                if r.classification == HitClass.HUMAN:
                    if prior_click is None or r.occurred_at < prior_click:
                        prior_click = r.occurred_at
                    if r.link_id and (r.link_id not in link_firsts or r.occurred_at < link_firsts[r.link_id]):
                        link_firsts[r.link_id] = r.occurred_at
            delta.subtract(contribution(send, (), prior_open, prior_click, link_firsts))
            delta.update(contribution(send, new_after, prior_open, prior_click, link_firsts))
        else:
            old_after = [
                HitRow(r.event_id, r.kind, r.send_id, r.link_id, r.occurred_at, r.user_agent, r.ip, r.network,
                     v.classification, v.reason, r.db_id)
                for r, v in zip(old_rows, verdicts, strict=False)
            ]
            delta.subtract(contribution(send, old_rows, prior_open, prior_click))
            delta.update(contribution(send, old_after + new_after, prior_open, prior_click))
        changed_before = len(changed)
        for now in new_after:
            inserts.append({
                "event_id": now.event_id, "kind": now.kind, "send_id": send_id, "contact_id": send.contact_id,
                "link_id": now.link_id, "occurred_at": now.occurred_at, "user_agent": now.user_agent,
                "ip": now.ip, "network": now.network, "classification": now.classification,
                "reason": now.reason,
            })
    _insert_hits(session, inserts)
    if changed:  # one executemany (pipelined by psycopg), not a statement per reclassified hit
        hits = cast(Table, Hit.__table__)
        session.connection().execute(
            update(hits).where(hits.c.id == bindparam("hit_id"))
            .values(classification=bindparam("new_class"), reason=bindparam("new_reason")),
            [{"hit_id": c["id"], "new_class": str(c["classification"]), "new_reason": c["reason"]} for c in changed],
        )
    apply_rollup_delta(session, delta)
    return len(inserts)


# ------------------------------------------------------------------ the writer loop
def ensure_group(redis: Redis) -> None:
    """Create the stream and its consumer group if missing (idempotent)."""
    try:
        redis.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def default_consumer() -> str:
    """A stable consumer name per host and supervisor slot, so a restarted writer finds its pending entries."""
    return os.environ.get("HIT_WRITER_NAME") or f"{socket.gethostname()}-writer"


def write_entries(svc: Services, entries: list[tuple[Any, Mapping[Any, Any]]]) -> int:
    """Commit one batch of stream entries, then acknowledge and delete them; returns hits stored."""
    if not entries:
        return 0
    with svc.db.begin() as session:
        stored = process_batch(session, [fields for _id, fields in entries],
                               classification_data(svc.settings.classify_data_dir))
    ids = [entry_id for entry_id, _fields in entries]
    pipe = svc.redis.pipeline(transaction=False)
    pipe.xack(STREAM, GROUP, *ids)
    pipe.xdel(STREAM, *ids)
    pipe.execute()
    return stored


def drain_once(svc: Services, consumer: str, count: int = BATCH, block_ms: int | None = 500,
               pending: bool = False) -> int:
    """Read one batch (own pending entries if `pending`, else new ones) and write it; returns entries read."""
    reply: Any = svc.redis.xreadgroup(GROUP, consumer, {STREAM: "0" if pending else ">"}, count=count,
                                      block=None if pending else block_ms)  # [[stream, [(id, fields)]]]
    entries = reply[0][1] if reply else []
    entries = [(i, f) for i, f in entries if f]  # a pending entry already deleted comes back empty
    if reply and pending and not entries and reply[0][1]:
        # Entries acknowledged-but-not-deleted or deleted-but-pending: clear them from the PEL.
        svc.redis.xack(STREAM, GROUP, *[i for i, _f in reply[0][1]])
    write_entries(svc, entries)
    return len(reply[0][1]) if reply else 0


def _claim_stale(svc: Services, consumer: str) -> int:
    start = "0-0"
    claimed = 0
    while True:
        result = svc.redis.xautoclaim(STREAM, GROUP, consumer, MIN_IDLE_MS, start_id=start, count=BATCH)
        start, entries = result[0], result[1]
        entries = [(i, f) for i, f in entries if f]
        write_entries(svc, entries)
        claimed += len(entries)
        if start in (b"0-0", "0-0"):
            return claimed


def _hold_lock(redis: Redis, token: str) -> bool:
    if redis.set(LOCK_KEY, token, nx=True, px=LOCK_TTL_MS):
        return True
    if redis.get(LOCK_KEY) == token.encode():
        redis.pexpire(LOCK_KEY, LOCK_TTL_MS)
        return True
    return False


def run_writer(svc: Services, stop_event: threading.Event, consumer: str | None = None,
               batch: int = BATCH, block_ms: int = 500, linger: float = LINGER_SECONDS) -> None:
    """The writer loop (the supervisor runs it; `nurture`/worker wiring calls this until stop_event is set).

    Only one writer is active at a time (a Redis lock with a lease); a second one waits as a standby.
    Redis or database errors are logged and retried after a pause; entries stay pending meanwhile.
    """
    consumer = consumer or default_consumer()
    token = f"{consumer}:{secrets.token_hex(4)}"
    recovered = False
    last_claim = 0.0
    while not stop_event.is_set():
        try:
            if not _hold_lock(svc.redis, token):
                stop_event.wait(1.0)
                continue
            ensure_group(svc.redis)
            if not recovered:
                while drain_once(svc, consumer, batch, pending=True):
                    pass
                recovered = True
            if time.monotonic() - last_claim > MIN_IDLE_MS / 1000:
                _claim_stale(svc, consumer)
                last_claim = time.monotonic()
            read = drain_once(svc, consumer, batch, block_ms)
            if 0 < read < min(LINGER_MIN, batch) and linger > 0:
                stop_event.wait(linger)
        except Exception as exc:
            log_loop_failure(log, "hit writer: batch failed, retrying in 1 s (entries stay pending)", exc)
            recovered = False  # re-read our pending entries once things work again
            stop_event.wait(1.0)
    try:
        if svc.redis.get(LOCK_KEY) == token.encode():
            svc.redis.delete(LOCK_KEY)
    except RedisError:
        pass


def backlog(redis: Redis) -> int:
    """Entries in the buffer not yet written (new plus pending); for health checks and benchmarks."""
    try:
        return int(redis.xlen(STREAM))
    except RedisError:
        return -1
