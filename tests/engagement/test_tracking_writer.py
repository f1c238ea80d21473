"""The buffered writer: no loss and no duplicates when the writer is SIGKILLed or Redis restarts."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from redis import Redis
from sqlalchemy import delete, func, select

from campaigns.engagement.hit_buffer import flush_hits, make_entry, record_hit
from campaigns.engagement.hit_writer import GROUP, STREAM, ensure_group
from campaigns.models.tracking import EngagementRollup, Hit, HitKind
from tests.conftest import free_port
from tests.factories import make_contact
from tests.fault_helpers import wait_until
from tests.tracking_helpers import UA_CHROME, WriterThread, drain, make_broadcast, make_send

ROOT = Path(__file__).resolve().parents[2]


def hit_count(services) -> int:
    with services.db.factory() as s:
        return int(s.scalar(select(func.count()).select_from(Hit)))


def rollup_sum(services, metric: str) -> int:
    with services.db.factory() as s:
        return int(s.scalar(select(func.coalesce(func.sum(EngagementRollup.count), 0))
                            .where(EngagementRollup.metric == metric, EngagementRollup.link_id == 0)))


@pytest.fixture
def sends(services) -> list[int]:
    with services.db.begin() as s:
        campaign = make_broadcast(s)
        return [make_send(s, campaign, make_contact(s)).id for _ in range(50)]


WRITER_SCRIPT = """
import sys, threading, signal
from wsgi import create_app
from campaigns.engagement.hit_writer import run_writer
app = create_app({"database_url": sys.argv[1], "redis_url": sys.argv[2], "secret_key": "test-secret-key"})
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: stop.set())
with app.app_context():
    run_writer(app.extensions["nurture"], stop, consumer="writer-under-test", batch=200, block_ms=100)
"""


def start_writer(services) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER_SCRIPT, services.settings.database_url, services.settings.redis_url],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def test_writer_sigkilled_mid_stream_loses_nothing_and_duplicates_nothing(services, app, sends):
    total = 6000
    pipe = services.redis.pipeline(transaction=False)
    for i in range(total):
        pipe.xadd(STREAM, make_entry(services, HitKind.OPEN, sends[i % len(sends)], 0, UA_CHROME, "203.0.113.9"))
    pipe.execute()
    ensure_group(services.redis)

    writer = start_writer(services)
    try:
        assert wait_until(lambda: hit_count(services) >= 400, 30), writer.stderr.read1().decode() if writer.stderr else ""
        writer.send_signal(signal.SIGKILL)  # somewhere in the middle of a batch
        writer.wait(10)
        killed_at = hit_count(services)
        assert killed_at < total, "the writer finished before the kill; the test proves nothing"
        pending = services.redis.xpending(STREAM, GROUP)["pending"]
        # The lock lease of the dead writer would make a new one wait up to 30 s: a restart after a
        # crash under the same name is what the supervisor does, and the lease expires on its own.
        services.redis.delete("nurture:hits:writer-lock")
        writer = start_writer(services)
        assert wait_until(lambda: hit_count(services) == total and services.redis.xlen(STREAM) == 0, 60)
    finally:
        writer.terminate()
        writer.wait(10)
    assert hit_count(services) == total
    assert rollup_sum(services, "open_human") == total
    assert rollup_sum(services, "unique_open") == len(sends)
    assert services.redis.xpending(STREAM, GROUP)["pending"] == 0
    print(f"killed with {killed_at} written, {pending} pending")


def test_writer_thread_writes_hits_as_they_arrive(services, app, client, sends):
    from campaigns.links import TokenKind

    with WriterThread(services):
        for send_id in sends[:20]:
            client.get(f"/t/o/{services.signer.sign(TokenKind.OPEN, send_id)}.gif", headers={"User-Agent": UA_CHROME})
        assert wait_until(lambda: hit_count(services) == 20, 10)


@pytest.fixture
def private_redis(tmp_path):
    """A Redis of our own (so it can be killed) persisting with appendonly + fsync always."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server not installed")
    port = free_port()
    data = tmp_path / "redis"
    data.mkdir()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data), "--appendonly", "yes",
            "--appendfsync", "always", "--save", "", "--daemonize", "no"]

    class Server:
        proc: subprocess.Popen | None = None

        def start(self) -> None:
            self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            conn = Redis(port=port)
            assert wait_until(lambda: _pings(conn), 10)
            conn.close()

        def kill(self) -> None:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    server = Server()
    server.url = f"redis://127.0.0.1:{port}/0"  # type: ignore[attr-defined]
    server.start()
    yield server
    if server.proc and server.proc.poll() is None:
        server.proc.terminate()
        server.proc.wait(10)


def _pings(conn: Redis) -> bool:
    try:
        return bool(conn.ping())
    except Exception:
        return False


def test_redis_killed_and_restarted_loses_no_buffered_hit(services, app, sends, private_redis):
    services.redis = Redis.from_url(private_redis.url)
    for send_id in sends:
        assert record_hit(services, HitKind.OPEN, send_id, 0, UA_CHROME, "203.0.113.9")
    flush_hits()
    ensure_group(services.redis)
    # Half of them read by a writer that then dies before writing (pending, unacknowledged).
    services.redis.xreadgroup(GROUP, "test-writer", {STREAM: ">"}, count=25)
    private_redis.kill()
    assert hit_count(services) == 0
    private_redis.start()
    services.redis = Redis.from_url(private_redis.url)
    assert services.redis.xlen(STREAM) == len(sends)
    with app.app_context():
        from campaigns.engagement.hit_writer import drain_once

        while drain_once(services, "test-writer", pending=True):
            pass
    drain(app)
    assert hit_count(services) == len(sends)
    assert services.redis.xlen(STREAM) == 0
    services.redis.close()


def test_malformed_and_unknown_entries_are_dropped_not_retried_forever(services, app, sends):
    services.redis.xadd(STREAM, {"e": "x1", "k": "open", "s": "not-a-number", "l": "0", "t": "1"})
    services.redis.xadd(STREAM, {"e": "x2", "k": "bounce", "s": str(sends[0]), "l": "0", "t": "1"})
    services.redis.xadd(STREAM, {"e": "x3", "k": "open", "s": "987654", "l": "0", "t": str(time.time())})
    services.redis.xadd(STREAM, make_entry(services, HitKind.OPEN, sends[0], 0, UA_CHROME, "203.0.113.9"))
    services.redis.xadd(STREAM, {**make_entry(services, HitKind.OPEN, sends[1], 0, "", "203.0.113.9"),
                                 "ua": "Evil\x00Agent"})  # NUL is not storable in PostgreSQL text
    drain(app)
    assert hit_count(services) == 2
    assert services.redis.xlen(STREAM) == 0
    with services.db.factory() as s:
        assert "EvilAgent" in s.scalars(select(Hit.user_agent)).all()


@pytest.mark.skipif(os.environ.get("CI_SKIP_SLOW") == "1", reason="slow")
def test_two_writers_never_double_count(services, app, sends):
    """A standby writer waits on the lock; the roll-ups stay exact while both run."""
    pipe = services.redis.pipeline(transaction=False)
    for i in range(2000):
        pipe.xadd(STREAM, make_entry(services, HitKind.OPEN, sends[i % len(sends)], 0, UA_CHROME, "203.0.113.9"))
    pipe.execute()
    ensure_group(services.redis)
    with WriterThread(services), WriterThread(services):
        assert wait_until(lambda: hit_count(services) == 2000, 60)
    assert rollup_sum(services, "open_human") == 2000
    assert rollup_sum(services, "unique_open") == len(sends)


@pytest.mark.parametrize("order", ["click_then_open", "open_then_click", "same_batch"])
def test_unique_counts_are_exact_whatever_the_batching(services, app, order):
    """A click implies an open; a later real open must not count a second unique open, in any batching."""
    from datetime import UTC, datetime, timedelta

    with services.db.begin() as s:
        campaign = make_broadcast(s)
        send_id = make_send(s, campaign, make_contact(s), sent_at=datetime(2026, 11, 1, tzinfo=UTC)).id
    t = datetime(2026, 11, 1, 5, tzinfo=UTC)
    click = make_entry(services, HitKind.CLICK, send_id, campaign.link_ids[0], UA_CHROME, "203.0.113.9", at=t)
    opened = make_entry(services, HitKind.OPEN, send_id, 0, UA_CHROME, "203.0.113.9", at=t + timedelta(hours=2))
    batches = {"click_then_open": [[click], [opened]], "open_then_click": [[opened], [click]],
               "same_batch": [[click, opened]]}[order]
    for batch in batches:
        for entry in batch:
            services.redis.xadd(STREAM, entry)
        drain(app)
    totals = {m: rollup_sum(services, m) for m in ("unique_open", "implied_open", "unique_click", "open_human",
                                                   "click_human")}
    assert totals == {"unique_open": 1, "implied_open": 0, "unique_click": 1, "open_human": 1, "click_human": 1}
    with services.db.factory() as s:
        bucket = s.scalar(select(EngagementRollup.bucket).where(EngagementRollup.metric == "unique_open",
                                                                EngagementRollup.count != 0))
    assert bucket == t  # the first sign of a person opening: the click at 05:00


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_any_batching_gives_the_classes_and_roll_ups_of_one_batch(services, seed):
    """Hits of a few mails (two clients, bursts, a honeypot, opens and clicks minutes or hours apart)
    stored in random batches and orders end with exactly the classifications and roll-ups of storing
    them all at once: the writer's incremental reclassification and roll-up differences are exact."""
    import random
    from datetime import UTC, datetime, timedelta

    from campaigns.engagement.hit_writer import process_batch

    rng = random.Random(seed)
    with services.db.begin() as s:
        campaign = make_broadcast(s, urls=[f"https://acme.test/{i}" for i in range(4)], honeypot=True)
        sent_at = datetime(2026, 11, 1, tzinfo=UTC)
        send_ids = [make_send(s, campaign, make_contact(s), sent_at=sent_at).id for _ in range(4)]
    links = [*campaign.link_ids, campaign.honeypot_id]
    clients = [(UA_CHROME, "203.0.113.9"), ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Mobile/15E148", "198.51.100.7")]
    entries = []
    for send_id in send_ids:
        start = sent_at + timedelta(minutes=rng.choice([1, 30, 300]))
        at = start
        for _ in range(rng.randint(8, 25)):
            at += timedelta(seconds=rng.choice([0.5, 1, 2, 4, 20, 90, 3600]))
            ua, ip = rng.choice(clients)
            if rng.random() < 0.3:
                entries.append(make_entry(services, HitKind.OPEN, send_id, 0, ua, ip, at=at))
            else:
                link = rng.choice(links if rng.random() < 0.1 else links[:-1])
                entries.append(make_entry(services, HitKind.CLICK, send_id, link, ua, ip, at=at))

    def outcome() -> tuple[dict[str, tuple[str, str]], dict[tuple[str, int, Any], int]]:
        with services.db.factory() as s:
            classes = {h.event_id: (str(h.classification), h.reason) for h in s.scalars(select(Hit))}
            rollups: dict[tuple[str, int, Any], int] = {}
            for r in s.scalars(select(EngagementRollup)):
                key = (r.metric, r.link_id, r.bucket)
                rollups[key] = rollups.get(key, 0) + r.count
        return classes, {k: v for k, v in rollups.items() if v}

    def reset() -> None:
        with services.db.begin() as s:
            s.execute(delete(Hit))
            s.execute(delete(EngagementRollup))

    shuffled = entries[:]
    rng.shuffle(shuffled)
    position = 0
    while position < len(shuffled):
        size = rng.randint(1, 12)
        with services.db.begin() as s:
            process_batch(s, shuffled[position : position + size])
        position += size
    incremental = outcome()
    reset()
    with services.db.begin() as s:
        process_batch(s, entries)
    at_once = outcome()
    assert len(incremental[0]) == len(entries)
    assert {c for c, _r in at_once[0].values()} >= {"human", "scanner"}  # the data exercises reclassification
    assert incremental == at_once


def test_a_contacts_hits_go_with_the_contact_through_its_sends(services, app, sends):
    """tracking_hits has no foreign key on contact_id (migration 0002): deleting a contact must still
    delete its hits, through the sends' cascade, and leave other contacts' hits alone."""
    from campaigns.models import Contact, Send

    for send_id in sends[:2]:
        record_hit(services, HitKind.OPEN, send_id, 0, UA_CHROME, "203.0.113.9")
    drain(app)
    assert hit_count(services) == 2
    with services.db.begin() as s:
        contact_id = s.scalar(select(Send.contact_id).where(Send.id == sends[0]))
        s.execute(delete(Contact).where(Contact.id == contact_id))
    with services.db.factory() as s:
        assert s.scalars(select(Hit.send_id)).all() == [sends[1]]
