"""The raw-socket XADD used by the tracking endpoints, against the real Redis."""

from __future__ import annotations

from campaigns.engagement.stream_append import StreamAppender
from tests.conftest import TEST_REDIS_URL

FIELDS = {"e": "0123456789abcdef01234567", "k": "o", "s": "42", "l": "0", "t": "1795339321.123456",
          "ua": "Mozilla/5.0 (iPhone) メール 😀", "ip": "203.0.113.0", "n": "203.0.113.0/24"}


def test_an_entry_arrives_in_the_configured_database_with_every_field(redis_conn):
    appender = StreamAppender.from_url(TEST_REDIS_URL)
    entry_id = appender.append("s:test", FIELDS)
    assert entry_id is not None
    [(stored_id, stored)] = redis_conn.xrange("s:test")
    assert stored_id == entry_id
    assert {k.decode(): v.decode() for k, v in stored.items()} == FIELDS
    assert appender.append("s:test", {**FIELDS, "s": "43"}) is not None  # the socket is reused
    assert redis_conn.xlen("s:test") == 2


def test_a_dropped_connection_is_reported_once_then_reopened(redis_conn):
    appender = StreamAppender.from_url(TEST_REDIS_URL)
    assert appender.append("s:test", FIELDS) is not None
    redis_conn.client_kill_filter(_type="normal", skipme=True)  # every other client, this appender's too
    # The write into the dead socket is not acknowledged: the caller is told to use redis-py instead.
    assert appender.append("s:test", FIELDS) is None
    assert appender.append("s:test", FIELDS) is not None
    assert redis_conn.xlen("s:test") == 2


def test_an_error_reply_or_an_unsupported_url_defers_to_redis_py(redis_conn):
    redis_conn.set("s:test", "not a stream")
    appender = StreamAppender.from_url(TEST_REDIS_URL)
    assert appender.append("s:test", FIELDS) is None  # WRONGTYPE
    assert redis_conn.get("s:test") == b"not a stream"
    assert StreamAppender.from_url("unix:///tmp/redis.sock").append("s:test", FIELDS) is None
    assert StreamAppender.from_url("rediss://127.0.0.1:6379/0").append("s:test", FIELDS) is None
    refused = StreamAppender.from_url(TEST_REDIS_URL.replace(":6379", ":1"))
    assert refused.append("s:test", FIELDS) is None


def test_it_follows_the_redis_py_client_it_stands_in_for(redis_conn):
    from redis import Redis

    appender = StreamAppender.for_client(redis_conn)
    assert StreamAppender.for_client(redis_conn) is appender  # one per connection pool
    assert appender.append("s:test", FIELDS) is not None and redis_conn.xlen("s:test") == 1
    assert not StreamAppender.for_client(Redis(unix_socket_path="/tmp/none.sock")).usable
