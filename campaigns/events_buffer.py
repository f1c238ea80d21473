"""The hit buffer and the hit writer: endpoints buffer hits in memory, a flusher thread in each web
process sends them to a Redis stream in pipelined batches, and a writer loop stores them in batches.

Hot path (`record_hit`, called by the tracking endpoints): build the entry (a small dict with an
event id made here, the idempotency key the writer dedups on) and append it to this process's
buffer: a deque append, no I/O, nothing to wait for. A daemon thread (one per process, started on
first use and again in a forked child: gunicorn may fork after import) sends what is buffered every
FLUSH_SECONDS, or as soon as FLUSH_MAX hits wait, as ONE pipelined write per Redis database
(`StreamAppender.append_many`: every XADD in one sendall, then one reply per command). Entries the
raw socket did not get acknowledged are offered to redis-py (a pipeline of XADDs). This replaced one
synchronous XADD per hit, whose CPU (~86 us in the web process, ~47 us in Redis) and wait on Redis
were most of a pixel request's cost and drove its p99 latency under load (listmonk buffers its
views and clicks in memory the same way).

The trade-off, honestly: the mail client gets its pixel or redirect before Redis has the hit.
- A web process killed with SIGKILL (or crashing) loses what it had buffered: at most the hits of
  its last FLUSH_SECONDS (plus, during a Redis outage, the hits it was holding, see below).
- Redis unreachable or restarting loses nothing: the hits stay buffered and are retried every
  RETRY_SECONDS; only beyond HELD_MAX hits per Redis database are the oldest written straight to the
  database (`process_batch`, slow but not lost); if that fails too they are logged and dropped. No
  request waits on, or sees, any of this.
- A graceful stop flushes: at exit (atexit; a gunicorn worker's SIGTERM/SIGQUIT path ends in
  sys.exit) everything buffered is sent, and what Redis does not take goes to the database.
  `flush_hits()` does the same on demand (tests, shutdown code).
- Synchronous when needed: `record_hit(..., wait=True)`, or HIT_BUFFER=0 for every hit, stores the
  hit before returning, as before the buffer: one XADD, else redis-py, else the database.

Writer (`run_writer`, run by the process supervisor): XREADGROUP from a consumer group, then
`process_batch` in one transaction: skip event ids already stored (at-least-once delivery becomes
an exactly-once effect), classify the hits of each affected mail together with its earlier hits,
insert them, fix earlier hits whose class changed, and add the difference of the mail's roll-up
contribution. XACK only after the commit, so a writer killed at any point loses nothing: its
pending entries are read again on restart (or claimed by another writer after MIN_IDLE_MS).
Redis must persist the stream (appendonly yes) to survive a Redis restart; see docs/tracking.md.
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import ipaddress
import logging
import os
import secrets
import socket
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

from redis import Redis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy import String, Table, bindparam, func, select, text, type_coerce, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from campaigns.classify import classify_send_hits, network_of
from campaigns.health import log_loop_failure
from campaigns.models import Link, Send
from campaigns.models.tracking import EngagementRollup, Hit, HitClass, HitKind, RollupScope
from campaigns.sql_functions import among
from campaigns.stream_append import StreamAppender

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


# ------------------------------------------------------------------ hot path
def ip_for_storage(ip: str, mode: str, key: bytes) -> str:
    """The address as stored: /24 or /48 network ('truncate'), keyed hash ('hash') or as is ('none')."""
    if not ip:
        return ""
    if mode == "none":
        return ip[:64]
    if mode == "hash":
        # Keyed, so the 2^32 IPv4 addresses cannot simply be hashed and looked up.
        return hmac.new(key, ip.encode(), hashlib.sha256).hexdigest()[:32]
    head, dot, last = ip.rpartition(".")
    if dot and last.isdigit() and ":" not in ip and head.count(".") == 2 and all(
        p.isdigit() and int(p) < 256 for p in head.split(".")
    ) and int(last) < 256:
        return f"{head}.0"  # the common IPv4 case without ipaddress objects (hot path)
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    prefix = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False).network_address)


@lru_cache(maxsize=8)
def _derive_hash_key(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), b"nurture-ip-hash-v1", hashlib.sha256).digest()


def _hash_key(svc: Services) -> bytes:
    return _derive_hash_key(svc.settings.secret_key)


def make_entry(
    svc: Services, kind: HitKind, send_id: int, link_id: int, user_agent: str, ip: str,
    at: datetime | None = None,
) -> dict[str, str]:
    """Build the buffer entry for one hit (the raw address never leaves this function)."""
    when = at or datetime.now(UTC)
    return {
        "e": secrets.token_hex(12),
        "k": kind.value,
        "s": str(send_id),
        "l": str(link_id or 0),
        "t": f"{when.timestamp():.6f}",
        "ua": (user_agent or "")[:UA_MAX],
        "ip": ip_for_storage(ip, svc.settings.ip_privacy, _hash_key(svc)),
        "n": network_of(ip) if ip else "",
    }


def record_hit(
    svc: Services, kind: HitKind, send_id: int, link_id: int, user_agent: str, ip: str, *, wait: bool = False
) -> bool:
    """Record one hit (tracking endpoints call this): into this process's buffer, which the flusher
    thread sends to the stream within FLUSH_SECONDS. With `wait` (or HIT_BUFFER=0) the hit is stored
    before returning instead. Returns False only when a stored-now hit could not be kept at all."""
    entry = make_entry(svc, kind, send_id, link_id, user_agent, ip)
    if wait or not svc.settings.hit_buffer:
        return _store_now(svc, entry)
    if _flusher_pid != os.getpid() and not _start_flusher():  # first hit of this process or forked child
        return _store_now(svc, entry)
    _incoming.append((svc, entry))
    waiting = len(_incoming)
    if waiting == 1 or waiting >= FLUSH_MAX:
        _wake.set()  # the first hit starts the flusher's FLUSH_SECONDS; FLUSH_MAX ends them early
    return True


def _store_now(svc: Services, entry: dict[str, str]) -> bool:
    """One hit, synchronously: XADD on the raw socket, else redis-py, else straight to the database."""
    if StreamAppender.for_client(svc.redis).append(STREAM, entry) is not None:
        return True
    try:
        svc.redis.xadd(STREAM, entry)  # type: ignore[arg-type]
        return True
    except RedisError:
        log.warning("hit buffer unavailable, writing hit %s directly", entry["e"])
    return _store_directly(svc, [entry])


# ------------------------------------------------------------------ the in-process buffer
# A buffered hit waits at most this long before the flusher thread sends it, together with every hit
# buffered meanwhile, in one pipelined write. Longer means bigger batches and fewer wake-ups, and is
# also what a web process killed with SIGKILL can lose (graceful stops flush). A starting value, not
# a measured optimum.
FLUSH_SECONDS = 0.005
FLUSH_MAX = 200  # ... or sooner, as soon as this many hits are waiting
PIPELINE_MAX = 1000  # entries per pipelined write: a backlog held through an outage goes in chunks
RETRY_SECONDS = 0.5  # after a failed delivery, that Redis's hits wait this long before the next try
# Hits held per Redis database while it does not take them (about 1 KB of memory each): beyond this
# the oldest, a tenth of the cap at a time, are written straight to the database.
HELD_MAX = 50_000
IDLE_SECONDS = 1.0  # the idle flusher's safety wake-up (a hit into an empty buffer wakes it at once)
EXIT_TIMEOUT = 5.0  # at exit, how long to wait for a flush the flusher thread has in progress

_incoming: deque[tuple[Services, dict[str, str]]] = deque()  # appended by requests, taken by flushes
_wake = threading.Event()  # set by the first hit into an empty buffer, and at FLUSH_MAX
_flush_lock = threading.Lock()  # one flush at a time (the flusher thread's, or flush_hits)
_start_lock = threading.Lock()
_flusher_pid = 0  # the process whose flusher thread runs (0: none yet)


class _Held:
    """Hits for one Redis database (one redis-py client) that a flush took and Redis has not yet
    acknowledged. Only flushes touch it (under _flush_lock); it is dropped once empty, so it keeps
    its Services alive no longer than its hits are undelivered."""

    __slots__ = ("svc", "client", "entries", "retry_at", "failing")

    def __init__(self, svc: Services, client: Redis) -> None:
        self.svc, self.client = svc, client
        self.entries: list[dict[str, str]] = []
        self.retry_at = 0.0
        self.failing = False


_held: dict[int, _Held] = {}  # by id() of the redis-py client (kept alive by its _Held)


def flush_hits(timeout: float | None = None) -> None:
    """Deliver every hit this process has buffered, before returning: to the stream, and what Redis
    does not take straight to the database (what neither takes is logged and dropped). For tests,
    shutdown code and the exit hook. `timeout` bounds the wait for a flush the flusher thread has in
    progress (None: as long as it takes); if it runs out, the hits stay buffered. Never raises."""
    if not _flush_lock.acquire(timeout=-1 if timeout is None else timeout):
        log.warning("hit buffer: a flush in progress did not finish within %s s; %d hits stay buffered",
                    timeout, len(_incoming) + sum(len(h.entries) for h in list(_held.values())))
        return
    try:
        _flush(final=True)
    except Exception:
        log.exception("hit buffer: flush failed")
    finally:
        _flush_lock.release()


def _flush(final: bool) -> float | None:
    """Take the buffered hits and deliver them, per Redis database; the caller holds _flush_lock.

    Hits Redis did not take stay held for a retry after RETRY_SECONDS, or, when `final` (or beyond
    HELD_MAX), go to the database. Returns when the next retry is due (time.monotonic()), or None.
    """
    for _ in range(len(_incoming)):
        svc, entry = _incoming.popleft()
        client = svc.redis
        held = _held.get(id(client))
        if held is None:
            held = _held[id(client)] = _Held(svc, client)
        held.entries.append(entry)
    now = time.monotonic()
    next_retry: float | None = None
    for key, held in list(_held.items()):
        if final or now >= held.retry_at:
            _deliver(held)
        if held.entries and final:
            _store_directly(held.svc, held.entries)
            held.entries = []
        elif len(held.entries) > HELD_MAX:
            oldest = len(held.entries) - HELD_MAX + HELD_MAX // 10
            log.warning("hit buffer: %d hits held for Redis, over the cap; writing the oldest %d to the database",
                        len(held.entries), oldest)
            _store_directly(held.svc, held.entries[:oldest])
            del held.entries[:oldest]
        if held.entries:
            next_retry = held.retry_at if next_retry is None else min(next_retry, held.retry_at)
        else:
            del _held[key]
    return next_retry


def _deliver(held: _Held) -> None:
    """XADD the held hits: pipelined on the raw socket, the rest through a redis-py pipeline."""
    entries = held.entries
    appender = StreamAppender.for_client(held.client)
    done = 0
    while done < len(entries):
        chunk = entries[done : done + PIPELINE_MAX]
        taken = appender.append_many(STREAM, chunk)
        done += taken
        if taken < len(chunk):
            break
    try:
        while done < len(entries):
            chunk = entries[done : done + PIPELINE_MAX]
            pipe = held.client.pipeline(transaction=False)
            for entry in chunk:
                pipe.xadd(STREAM, entry)  # type: ignore[arg-type]
            pipe.execute()
            done += len(chunk)
    except RedisError as exc:  # unreachable, restarting, or an error reply: the hits stay held
        if not held.failing:
            log.warning("hit buffer: Redis did not take %d hits (%s); they stay buffered and are retried",
                        len(entries) - done, exc)
        held.failing = True
        held.retry_at = time.monotonic() + RETRY_SECONDS
    except Exception:  # not Redis's state (e.g. a value it cannot encode): a retry would fail for ever,
        done = _one_by_one(held, done)  # so find the entries at fault and drop only those
        held.failing = held.failing and done < len(entries)
    else:
        if held.failing:
            log.warning("hit buffer: Redis takes hits again; delivered %d held ones", len(entries))
        held.failing = False
    del entries[:done]


def _one_by_one(held: _Held, done: int) -> int:
    """XADD held entries one at a time from `done`, dropping (and logging) each that cannot be sent at
    all; stops, holding the rest, at a Redis error. Returns how many entries are settled."""
    entries = held.entries
    while done < len(entries):
        try:
            held.client.xadd(STREAM, entries[done])  # type: ignore[arg-type]
        except RedisError:
            held.failing = True
            held.retry_at = time.monotonic() + RETRY_SECONDS
            break
        except Exception:
            log.exception("hit buffer: dropping hit %s, which cannot be sent to Redis", entries[done].get("e"))
        done += 1
    return done


def _store_directly(svc: Services, entries: list[dict[str, str]]) -> bool:
    """Write hits straight to the database (the writer's process_batch), BATCH at a time; False if
    some were lost (logged)."""
    stored = True
    for i in range(0, len(entries), BATCH):
        chunk = entries[i : i + BATCH]
        try:
            with svc.db.begin() as session:
                process_batch(session, chunk)
        except Exception:
            log.exception("%d hits lost: neither Redis nor the database accepted them", len(chunk))
            stored = False
    return stored


def _run_flusher() -> None:
    """The flusher thread: sleeps until a hit arrives, lets FLUSH_SECONDS pass (or FLUSH_MAX hits
    gather), then flushes; hits Redis did not take are retried when due."""
    next_retry: float | None = None
    while True:
        try:
            _wake.clear()  # cleared before looking, so a hit appended from now on is seen or wakes us
            if not _incoming:
                pause = IDLE_SECONDS if next_retry is None else next_retry - time.monotonic()
                _wake.wait(max(0.0, min(pause, IDLE_SECONDS)))
                if not _incoming and (next_retry is None or time.monotonic() < next_retry):
                    continue
            deadline = time.monotonic() + FLUSH_SECONDS
            while len(_incoming) < FLUSH_MAX:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                _wake.clear()
                if len(_incoming) >= FLUSH_MAX:
                    break
                _wake.wait(left)
            with _flush_lock:
                next_retry = _flush(final=False)
        except Exception:  # never let the thread die: the hits would then wait for the exit flush
            log.exception("hit buffer: flush failed")
            time.sleep(RETRY_SECONDS)


def _start_flusher() -> bool:
    """Start this process's flusher thread unless it runs; False if it cannot (the caller then stores
    its hit synchronously: a request never fails for it)."""
    global _flusher_pid
    with _start_lock:
        pid = os.getpid()
        if _flusher_pid == pid:
            return True
        try:
            threading.Thread(target=_run_flusher, name="nurture-hit-flusher", daemon=True).start()
        except RuntimeError:  # e.g. at interpreter shutdown
            log.exception("hit buffer: cannot start the flusher thread; storing hits synchronously")
            return False
        _flusher_pid = pid
        return True


def _after_fork_in_child() -> None:
    """A forked child starts empty: its parent's flusher delivers what was buffered before the fork, and
    locks held by the parent's threads at that moment would stay locked here for ever."""
    global _incoming, _wake, _flush_lock, _start_lock, _held, _flusher_pid
    _incoming = deque()
    _held = {}
    _wake = threading.Event()
    _flush_lock = threading.Lock()
    _start_lock = threading.Lock()
    _flusher_pid = 0  # the child's first hit starts its own flusher


def _flush_at_exit() -> None:
    if _incoming or _held:
        flush_hits(EXIT_TIMEOUT)


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_flush_at_exit)


# ------------------------------------------------------------------ the batch
@dataclass
class _Row:
    """A hit of one mail, stored or new, as the writer reasons about it."""

    event_id: str
    kind: HitKind
    send_id: int
    link_id: int | None
    occurred_at: datetime
    user_agent: str
    ip: str
    network: str
    classification: HitClass | None = None
    reason: str = ""
    db_id: int | None = None


# Stored and buffered values to members by dict lookup: Enum.__call__ and .value cost a tenth of a click
# batch's CPU when every stored click of each mail is read back.
_KINDS = {k.value: k for k in HitKind}
_CLASSES = {c.value: c for c in HitClass}
_METRICS = {(k, c): f"{k.value}_{c.value}" for k in HitKind for c in HitClass}
_CLICK_METRICS = {c: f"click_{c.value}" for c in HitClass}


def _decode(raw: Mapping[Any, Any]) -> _Row | None:
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
    return _Row(event_id, kind, send_id, link_id, occurred, ua, get("ip")[:64].replace("\x00", ""), get("n")[:20])


def _hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


RollupKey = tuple[RollupScope, int, str, int, datetime, str]


def contribution(send: Any, rows: Iterable[_Row], prior_human_open: datetime | None = None,
                 prior_human_click: datetime | None = None,
                 prior_link_clicks: Mapping[int, datetime] | None = None) -> Counter[RollupKey]:
    """What one mail's hits add to the roll-ups; the writer adds new-minus-old for each batch.

    `rows` may be a subset of the mail's hits: the writer leaves out stored opens (no later hit can
    reclassify an open) and, when the batch brings no click for the mail, its stored clicks too.
    `prior_human_open` / `prior_human_click` are the earliest human times among the left-out hits
    (`prior_link_clicks` per link, when left-out clicks are folded in this way); both contributions
    of a batch get the same priors, so what they add cancels in the difference.
    """
    if not rows and prior_human_open is None and prior_human_click is None and not prior_link_clicks:
        return Counter()  # the common "mail had no hits before" case
    if send.broadcast_id:
        scope, scope_id = RollupScope.BROADCAST, int(send.broadcast_id)
    elif send.step_id:
        scope, scope_id = RollupScope.STEP, int(send.step_id)
    else:
        return Counter()  # test sends belong to no campaign
    variant = send.variant or ""
    out: Counter[RollupKey] = Counter()
    first_open = prior_human_open
    first_click = prior_human_click
    first_link_click: dict[int, datetime] = dict(prior_link_clicks or {})
    for r in rows:
        cls = r.classification
        assert cls is not None
        bucket = r.occurred_at.replace(minute=0, second=0, microsecond=0)
        out[(scope, scope_id, variant, 0, bucket, _METRICS[r.kind, cls])] += 1
        if r.kind is HitKind.CLICK:
            if r.link_id:
                out[(scope, scope_id, variant, r.link_id, bucket, _CLICK_METRICS[cls])] += 1
            if cls == HitClass.HUMAN:
                if first_click is None or r.occurred_at < first_click:
                    first_click = r.occurred_at
                if r.link_id and (r.link_id not in first_link_click or r.occurred_at < first_link_click[r.link_id]):
                    first_link_click[r.link_id] = r.occurred_at
        elif cls == HitClass.HUMAN and (first_open is None or r.occurred_at < first_open):
            first_open = r.occurred_at
    if first_open or first_click:
        first = min(t for t in (first_open, first_click) if t is not None)
        out[(scope, scope_id, variant, 0, _hour(first), "unique_open")] += 1
        if first_open is None and first_click is not None:
            out[(scope, scope_id, variant, 0, _hour(first_click), "implied_open")] += 1  # a click implies an open
    if first_click is not None:
        out[(scope, scope_id, variant, 0, _hour(first_click), "unique_click")] += 1
    for link, t in first_link_click.items():
        out[(scope, scope_id, variant, link, _hour(t), "unique_click")] += 1
    return out


def apply_rollup_delta(session: Session, delta: Mapping[RollupKey, int]) -> None:
    """Add counts to the roll-up rows (upsert); used by the writer and by unsubscribe/complaint hooks."""
    rows = [
        {"scope": k[0], "scope_id": k[1], "variant": k[2], "link_id": k[3], "bucket": k[4], "metric": k[5], "count": n}
        for k, n in delta.items()
        if n
    ]
    if not rows:
        return
    table = cast(Table, EngagementRollup.__table__)
    dialect = session.get_bind().dialect.name
    ins = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    keys = ["scope", "scope_id", "variant", "link_id", "bucket", "metric"]
    for i in range(0, len(rows), 2000):
        stmt = ins.values(rows[i : i + 2000])
        session.execute(
            stmt.on_conflict_do_update(index_elements=keys, set_={"count": table.c.count + stmt.excluded.count})
        )


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


def process_batch(session: Session, entries: Sequence[Mapping[Any, Any]]) -> int:
    """Store a batch of buffered hits idempotently and update roll-ups; returns how many were new.

    Called by the writer loop (and by record_hit when Redis is down); the caller commits.
    """
    if session.get_bind().dialect.name == "postgresql":
        # One batch at a time even if several writers run: the roll-up difference reads then writes.
        session.execute(text("SELECT pg_advisory_xact_lock(727001)"))
        # Plan each lookup for its batch. After five runs psycopg prepares a statement and PostgreSQL may
        # keep one generic plan, made while the hits table was small (a fresh install, or right after a
        # bulk delete), long after it has grown: a batch then took seconds instead of milliseconds.
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    rows: dict[str, _Row] = {}
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
    new_by_send: dict[int, list[_Row]] = defaultdict(list)
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
    old_by_send: dict[int, list[_Row]] = defaultdict(list)
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
                _Row(h.event_id, HitKind.CLICK, h.send_id, h.link_id, h.occurred_at, h.user_agent, h.ip, h.network,
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
            honeypots.get(send.template_version_id, set()), tracked.get(send.template_version_id, 0),
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
            _Row(r.event_id, r.kind, r.send_id, r.link_id, r.occurred_at, r.user_agent, r.ip, r.network,
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
                _Row(r.event_id, r.kind, r.send_id, r.link_id, r.occurred_at, r.user_agent, r.ip, r.network,
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
        stored = process_batch(session, [fields for _id, fields in entries])
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
