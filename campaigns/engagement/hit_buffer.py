"""The web side of tracking hits: endpoints buffer hits in memory, and a flusher thread in each web
process sends them to the Redis stream in pipelined batches (the writer process stores them).

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
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import threading
import time
from collections import deque
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from redis import Redis
from redis.exceptions import RedisError

from campaigns.engagement.classify import network_of
from campaigns.engagement.classify_data import classification_data
from campaigns.engagement.hit_writer import BATCH, STREAM, UA_MAX, process_batch
from campaigns.engagement.stream_append import StreamAppender
from campaigns.ip_privacy import stored_ip
from campaigns.models.tracking import HitKind

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from campaigns.runtime import Services


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

_held: dict[int, _Held] = {}  # by id() of the redis-py client (kept alive by its _Held)


# ------------------------------------------------------------------ hot path
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
        "ip": stored_ip(svc.settings, ip),
        "n": network_of(ip, classification_data(svc.settings.classify_data_dir)) if ip else "",
    }


def record_hit(
    svc: Services, kind: HitKind, send_id: int, link_id: int, user_agent: str, ip: str, *, wait: bool = False
) -> bool:
    """Record one hit (tracking endpoints call this): into this process's buffer, which the flusher
    thread sends to the stream within FLUSH_SECONDS. With `wait` (or HIT_BUFFER=0) the hit is stored
    before returning instead. Returns False only when a stored-now hit could not be kept at all."""
    return buffer_entry(svc, make_entry(svc, kind, send_id, link_id, user_agent, ip), wait=wait)


def buffer_entry(svc: Services, entry: dict[str, str], *, wait: bool = False) -> bool:
    """Buffer one ready-made stream entry (record_hit's, or a website visit's from
    campaigns.engagement.web_collect: its "k" names the kind, the writer branches on it), exactly as
    record_hit does: a deque append, or stored before returning with `wait` or HIT_BUFFER=0."""
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
                process_batch(session, chunk, classification_data(svc.settings.classify_data_dir))
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
