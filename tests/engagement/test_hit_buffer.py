"""The in-process hit buffer (campaigns/engagement/hit_writer.py), against the real Redis: hits recorded by the
endpoints reach the stream from a flusher thread, in pipelined batches, exactly once, through a Redis
outage and a fork; flush_hits pushes everything at once."""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
import socket
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import pytest
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import func, select

from campaigns.engagement import hit_buffer
from campaigns.engagement.hit_buffer import flush_hits, record_hit
from campaigns.engagement.hit_writer import STREAM
from campaigns.engagement.stream_append import StreamAppender
from campaigns.links import TokenKind
from campaigns.models.tracking import Hit, HitKind
from campaigns.runtime import Services
from tests.conftest import TEST_REDIS_URL, free_port, truncate_all
from tests.factories import make_contact
from tests.fault_helpers import OwnRedis, wait_until
from tests.tracking_helpers import UA_CHROME, drain, make_broadcast, make_send

IP = "203.0.113.9"


def entries(redis: Redis) -> list[dict[str, str]]:
    return [{k.decode(): v.decode() for k, v in fields.items()} for _id, fields in redis.xrange(STREAM)]


def stored_hits(svc: Any) -> list[Hit]:
    with svc.db.factory() as s:
        return list(s.scalars(select(Hit).order_by(Hit.id)))


def make_sends(svc: Any, n: int = 5) -> list[int]:
    with svc.db.begin() as s:
        campaign = make_broadcast(s)
        return [make_send(s, campaign, make_contact(s)).id for _ in range(n)]


@pytest.fixture
def send_ids(services: Any) -> list[int]:
    return make_sends(services)


def unreachable_redis() -> Redis:
    """A client for a port nothing listens on, failing at once (no retries)."""
    return Redis(port=free_port(), socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))


# ------------------------------------------------------------------ delivery
def test_endpoint_hits_reach_the_stream_by_themselves_and_at_once_on_flush(client, services, app, send_ids):
    pixel = f"/t/o/{services.signer.sign(TokenKind.OPEN, send_ids[0])}.gif"
    assert client.get(pixel, headers={"User-Agent": UA_CHROME}).status_code == 200
    # No flush called: the flusher thread sends it within a few milliseconds.
    assert wait_until(lambda: services.redis.xlen(STREAM) == 1, 5)
    [entry] = entries(services.redis)
    assert (entry["k"], entry["s"], entry["l"], entry["ua"]) == ("open", str(send_ids[0]), "0", UA_CHROME)
    assert stored_hits(services) == []  # in the stream, not yet in the database

    campaign_link = _link_of(services, send_ids[1])
    for send_id in send_ids:
        client.get(f"/t/o/{services.signer.sign(TokenKind.OPEN, send_id)}.gif")
        client.get(f"/t/o/{services.signer.sign(TokenKind.OPEN, send_id)}.gif?via=flask")  # the Flask view
    assert client.get(f"/t/c/{services.signer.sign(TokenKind.CLICK, send_ids[1], campaign_link)}").status_code == 302
    flush_hits()  # everything buffered is in the stream when it returns
    recorded = entries(services.redis)
    assert len(recorded) == 1 + 2 * len(send_ids) + 1
    assert len({e["e"] for e in recorded}) == len(recorded)
    drain(app)
    assert len(stored_hits(services)) == len(recorded)


def _link_of(services: Any, send_id: int) -> int:
    from campaigns.models import Link, Send

    with services.db.factory() as s:
        version = s.scalar(select(Send.template_version_id).where(Send.id == send_id))
        return int(s.scalar(select(func.min(Link.id)).where(Link.template_version_id == version,
                                                             Link.honeypot.is_(False))))


def test_a_synchronous_hit_is_in_the_stream_before_record_hit_returns(client, services, send_ids):
    assert record_hit(services, HitKind.OPEN, send_ids[0], 0, UA_CHROME, IP, wait=True)
    assert services.redis.xlen(STREAM) == 1  # no flush, no wait
    services.settings = dataclasses.replace(services.settings, hit_buffer=False)  # HIT_BUFFER=0
    assert client.get(f"/t/o/{services.signer.sign(TokenKind.OPEN, send_ids[1])}.gif").status_code == 200
    assert services.redis.xlen(STREAM) == 2
    assert [e["s"] for e in entries(services.redis)] == [str(send_ids[0]), str(send_ids[1])]


def test_hits_from_many_threads_are_delivered_exactly_once(services, app, send_ids):
    threads, per_thread = 8, 400
    start = threading.Barrier(threads)

    def record(n: int) -> None:
        start.wait()
        for i in range(per_thread):
            assert record_hit(services, HitKind.OPEN, send_ids[i % len(send_ids)], 0, f"agent-{n}-{i}", IP)

    workers = [threading.Thread(target=record, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    total = threads * per_thread
    assert wait_until(lambda: services.redis.xlen(STREAM) >= total, 20)  # by the flusher alone
    flush_hits()
    time.sleep(0.05)  # more than FLUSH_SECONDS: a second delivery would have arrived by now
    recorded = entries(services.redis)
    assert len(recorded) == total
    assert len({e["e"] for e in recorded}) == total
    assert {e["ua"] for e in recorded} == {f"agent-{n}-{i}" for n in range(threads) for i in range(per_thread)}
    for n in range(threads):  # each thread's hits in the order it recorded them
        mine = [int(e["ua"].rsplit("-", 1)[1]) for e in recorded if e["ua"].startswith(f"agent-{n}-")]
        assert mine == list(range(per_thread))
    drain(app, rounds=10)
    assert len(stored_hits(services)) == total


def test_each_services_gets_its_hits_and_a_dropped_one_is_not_kept_alive(services, send_ids, redis_conn):
    other_url = TEST_REDIS_URL.rsplit("/", 1)[0] + "/14"
    other_redis = Redis.from_url(other_url)
    other_redis.delete(STREAM)
    try:
        other = Services.build(dataclasses.replace(services.settings, redis_url=other_url))
        for send_id in send_ids:
            record_hit(services, HitKind.OPEN, send_id, 0, "to-15", IP)
            record_hit(other, HitKind.CLICK, send_id, 7, "to-14", IP)
        flush_hits()
        assert {e["ua"] for e in entries(services.redis)} == {"to-15"}
        assert {e["ua"] for e in entries(other_redis)} == {"to-14"}
        assert other_redis.xlen(STREAM) == len(send_ids)
        gone = weakref.ref(other)
        other.db.dispose()
        other.redis.close()
        del other
        gc.collect()
        assert gone() is None  # the buffer holds a Services only while its hits are undelivered
    finally:
        other_redis.delete(STREAM)
        other_redis.close()


# ------------------------------------------------------------------ Redis unreachable
@pytest.fixture
def own_redis(tmp_path: Path) -> Any:
    server = OwnRedis(tmp_path / "redis", port=free_port())  # not started: nothing listens yet
    yield server
    server.close()


def test_hits_stay_buffered_while_redis_is_down_and_arrive_when_it_is_back(app_overrides, own_redis, redis_conn):
    from wsgi import create_app

    app = create_app({**app_overrides, "redis_url": own_redis.url})
    svc = app.extensions["nurture"]
    truncate_all(svc.db)
    try:
        sends = make_sends(svc)
        client = app.test_client()
        for i in range(30):
            resp = client.get(f"/t/o/{svc.signer.sign(TokenKind.OPEN, sends[i % len(sends)])}.gif",
                              headers={"User-Agent": f"agent-{i}"})
            assert resp.status_code == 200 and resp.mimetype == "image/gif"  # answered at once all the same
        time.sleep(1.0)  # the flusher tries, fails and keeps them: not in the database either
        assert stored_hits(svc) == []
        own_redis.start()
        redis = Redis(port=own_redis.port)
        try:
            assert wait_until(lambda: redis.xlen(STREAM) >= 30, 30)  # the flusher's retry, no flush called
            recorded = entries(redis)
            assert len(recorded) == 30 and len({e["e"] for e in recorded}) == 30
            assert [e["ua"] for e in recorded] == [f"agent-{i}" for i in range(30)]  # in order
        finally:
            redis.close()
        drain(app)
        assert len(stored_hits(svc)) == 30
    finally:
        flush_hits()
        svc.db.dispose()
        svc.redis.close()


def test_beyond_the_cap_the_oldest_held_hits_go_to_the_database(services, send_ids, monkeypatch):
    monkeypatch.setattr(hit_buffer, "HELD_MAX", 10)
    services.redis = unreachable_redis()
    for i in range(25):
        assert record_hit(services, HitKind.OPEN, send_ids[i % len(send_ids)], 0, f"agent-{i}", IP)
    # Over the cap of 10: the oldest are written straight to the database by the flusher.
    assert wait_until(lambda: len(stored_hits(services)) >= 15, 10)
    time.sleep(0.05)
    early = sorted(int(h.user_agent.rsplit("-", 1)[1]) for h in stored_hits(services))
    assert early == list(range(len(early))) and len(early) < 25  # the oldest; the newest are still held
    flush_hits()  # Redis still down: the rest go to the database too
    agents = sorted(int(h.user_agent.rsplit("-", 1)[1]) for h in stored_hits(services))
    assert agents == list(range(25))  # every hit, once


def test_a_redis_that_never_answers_does_not_hold_the_buffer(services, send_ids, monkeypatch):
    # A server that accepts connections and then says nothing (a hung Redis, a black-holing proxy): the
    # raw socket and redis-py both time out, the hits stay held, and over the cap they go to the database.
    monkeypatch.setattr(hit_buffer, "HELD_MAX", 10)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)  # the accepting thread checks `stop` between waits
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while len(accepted) < 20 and not stop.is_set():
            with contextlib.suppress(TimeoutError):
                accepted.append(listener.accept()[0])

    acceptor = threading.Thread(target=accept, name="hung-redis-accept", daemon=True)
    acceptor.start()
    services.redis = Redis.from_url(f"redis://127.0.0.1:{listener.getsockname()[1]}/0")  # as runtime builds it
    try:
        for i in range(25):
            assert record_hit(services, HitKind.OPEN, send_ids[i % len(send_ids)], 0, f"agent-{i}", IP)
        assert wait_until(lambda: len(stored_hits(services)) >= 15, 30)
        assert accepted  # it did try the hung server
        flush_hits(timeout=30)
        agents = sorted(int(h.user_agent.rsplit("-", 1)[1]) for h in stored_hits(services))
        assert agents == list(range(25))  # every hit, once
    finally:
        stop.set()
        acceptor.join(5)
        listener.close()
        for conn in accepted:
            conn.close()


def test_a_flush_with_redis_and_the_database_down_drops_and_never_raises(services, send_ids, tmp_path):
    from campaigns.db import Database

    services.redis = unreachable_redis()
    good_db = services.db
    services.db = Database(f"sqlite:///{tmp_path}/missing-dir/none.db")
    try:
        assert record_hit(services, HitKind.OPEN, send_ids[0], 0, UA_CHROME, IP)  # buffered: True
        flush_hits()  # logged and dropped
    finally:
        services.db.dispose()
        services.db = good_db
    flush_hits()
    assert stored_hits(services) == []


def test_a_hit_redis_cannot_be_sent_is_dropped_alone(services, send_ids):
    for send_id in send_ids[:2]:
        record_hit(services, HitKind.OPEN, send_id, 0, "fine", IP)
    record_hit(services, HitKind.OPEN, send_ids[2], 0, "bad \udc80 surrogate", IP)  # not encodable as UTF-8
    for send_id in send_ids[3:]:
        record_hit(services, HitKind.OPEN, send_id, 0, "fine", IP)
    flush_hits()
    recorded = entries(services.redis)
    assert [e["s"] for e in recorded] == [str(s) for i, s in enumerate(send_ids) if i != 2]
    record_hit(services, HitKind.OPEN, send_ids[0], 0, "after", IP)
    assert wait_until(lambda: services.redis.xlen(STREAM) == len(send_ids), 5)  # nothing is stuck


# ------------------------------------------------------------------ pipelined batches
FIELDS = {"e": "0123456789abcdef01234567", "k": "open", "s": "42", "l": "0", "t": "1795339321.123456",
          "ua": "Mozilla/5.0 (iPhone) メール 😀", "ip": "203.0.113.0", "n": "203.0.113.0/24"}


def test_append_many_stores_a_batch_in_order(redis_conn):
    appender = StreamAppender.from_url(TEST_REDIS_URL)
    batch = [{**FIELDS, "s": str(i)} for i in range(5000)]  # the replies span several reads
    assert appender.append_many("s:test", batch) == len(batch)
    stored = [{k.decode(): v.decode() for k, v in f.items()} for _id, f in redis_conn.xrange("s:test")]
    assert stored == batch
    assert appender.append_many("s:test", batch[:3]) == 3  # the socket stays in step
    assert appender.append("s:test", FIELDS) is not None
    assert appender.append_many("s:test", []) == 0
    assert redis_conn.xlen("s:test") == len(batch) + 4


def test_append_many_reports_what_was_not_acknowledged(redis_conn):
    appender = StreamAppender.from_url(TEST_REDIS_URL)
    assert appender.append_many("s:test", [FIELDS]) == 1
    redis_conn.client_kill_filter(_type="normal", skipme=True)  # the appender's connection drops
    assert appender.append_many("s:test", [FIELDS, FIELDS]) == 0  # the caller must offer them to redis-py
    assert appender.append_many("s:test", [FIELDS, FIELDS]) == 2  # reconnected
    redis_conn.set("s:wrong", "not a stream")
    assert appender.append_many("s:wrong", [FIELDS, FIELDS]) == 0  # WRONGTYPE for each
    assert redis_conn.get("s:wrong") == b"not a stream"
    assert StreamAppender.from_url("unix:///tmp/redis.sock").append_many("s:test", [FIELDS]) == 0
    assert StreamAppender.from_url(TEST_REDIS_URL.replace(":6379", ":1")).append_many("s:test", [FIELDS]) == 0
    assert redis_conn.xlen("s:test") == 3


def test_the_connection_set_up_reads_both_replies(redis_conn):
    """AUTH and SELECT are sent together; both replies often arrive in one read."""
    url = Redis.from_url(TEST_REDIS_URL).connection_pool.connection_kwargs
    probe = Redis(host=url["host"], port=url["port"])
    try:
        probe.execute_command("AUTH", "default", "any")  # accepted while the default user has no password
    except Exception:
        pytest.skip("the test Redis requires a password")
    finally:
        probe.close()
    appender = StreamAppender(url["host"], url["port"], int(url.get("db", 0)), username="default", password="any")
    assert appender.append_many("s:test", [FIELDS, FIELDS]) == 2
    assert redis_conn.xlen("s:test") == 2  # in the configured database


# ------------------------------------------------------------------ exit
EXIT_SCRIPT = """
import sys
from campaigns.engagement import hit_buffer
from campaigns.config import Settings
from campaigns.models.tracking import HitKind
from campaigns.runtime import Services
hit_buffer.FLUSH_SECONDS = 60.0  # the flusher would wait a minute: only the exit flush can send them
svc = Services.build(Settings.from_env({"redis_url": sys.argv[1], "database_url": sys.argv[2], "secret_key": "k"}))
for i in range(50):
    assert hit_buffer.record_hit(svc, HitKind.OPEN, 1, 0, f"exiting-{i}", "203.0.113.9")
sys.exit(0)  # how a gunicorn worker ends after SIGTERM or SIGQUIT
"""


def test_a_process_exiting_normally_flushes_its_buffer(redis_conn, tmp_path):
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, TEST_REDIS_URL, f"sqlite:///{tmp_path}/exit.db"],
                          cwd=root, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    assert [e["ua"] for e in entries(redis_conn)] == [f"exiting-{i}" for i in range(50)]


# ------------------------------------------------------------------ fork
def test_a_forked_child_gets_its_own_flusher(services, send_ids, redis_conn):
    assert record_hit(services, HitKind.OPEN, send_ids[0], 0, "parent-before", IP)
    flush_hits()
    assert record_hit(services, HitKind.OPEN, send_ids[0], 0, "parent-at-fork", IP)  # likely still buffered
    pid = os.fork()
    if pid == 0:  # the child: its hit must arrive without any flush call, and only once
        code = 1
        try:
            record_hit(services, HitKind.OPEN, send_ids[1], 0, "child", IP)
            probe = Redis.from_url(TEST_REDIS_URL)
            if wait_until(lambda: any(e["ua"] == "child" for e in entries(probe)), 10):
                code = 0
        except BaseException:
            code = 2
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert wait_until(lambda: services.redis.xlen(STREAM) >= 3, 5)
    time.sleep(0.05)
    recorded = entries(services.redis)
    # The child did not send again what its parent had buffered at the fork.
    assert sorted(e["ua"] for e in recorded) == ["child", "parent-at-fork", "parent-before"]
    assert len({e["e"] for e in recorded}) == 3
