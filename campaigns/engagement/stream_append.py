"""XADD over a bare socket: the tracking hit buffer's writes to Redis, at a fraction of redis-py's cost.

Hits reach Redis in batches: each web process buffers them in memory (campaigns/engagement/hit_writer.py) and a
background thread hands them here every few milliseconds. `append_many` writes the XADD of every
entry of a batch as RESP bytes in ONE sendall on a kept-open socket, then reads one reply per
command (pipelining): one round trip and two system calls for the batch instead of one round trip
per hit, and a fraction of the CPU that redis-py's pool checkout, command packing and response
parsing cost (one synchronous XADD used ~86 us of the web process's CPU per hit, plus ~47 us in
Redis, and the request waited for it). `append` writes one entry the same way (the synchronous mode).

The appender is deliberately narrow: plain TCP `redis://` URLs only, one socket per process and
thread, bulk-string or status replies only. Anything unexpected (a refused connection, an error
reply, a reply it cannot parse, `rediss://` or `unix://` URLs) closes the socket and reports the
entries as not acknowledged (`append` returns None; `append_many` returns how many entries, from the
first, Redis acknowledged), and the caller offers the rest to redis-py, which has the full error
handling. So this path can only be faster, never less correct: a hit that was not acknowledged
here is offered again (a stream entry carries its own event id, so even a hit written twice, e.g.
after a connection dropped between Redis storing it and the reply arriving, is stored once by the
writer).
"""

from __future__ import annotations

import os
import socket
import threading
import weakref
from collections.abc import Mapping, Sequence
from urllib.parse import unquote, urlsplit

from redis import Redis
from redis.connection import Connection, ConnectionPool

_CRLF = b"\r\n"
_by_pool: weakref.WeakKeyDictionary[ConnectionPool, StreamAppender] = weakref.WeakKeyDictionary()


def _command(*parts: bytes) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(out)


def _xadd_prefix(stream: str) -> bytes:
    """`XADD <stream> *` as RESP arguments (the array header, which counts the fields, comes first)."""
    name = stream.encode()
    return b"$4\r\nXADD\r\n$%d\r\n%s\r\n$1\r\n*\r\n" % (len(name), name)


def _xadd(prefix: bytes, fields: Mapping[str, str]) -> bytes:
    """One XADD command: the array header, the prefix, then each field name and value."""
    out = [b"*%d\r\n" % (3 + 2 * len(fields)), prefix]
    for key, value in fields.items():
        k, v = key.encode(), value.encode()
        out.append(b"$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))
    return b"".join(out)


def _acknowledged(reply: bytes) -> bool:
    """An XADD reply that is an entry id (a bulk string), not an error or a nil."""
    return reply.startswith(b"$") and reply != b"$-1"


def _read_replies(sock: socket.socket, count: int, replies: list[bytes]) -> None:
    """Read `count` replies into `replies`: a status or error line as is ('+OK', '-ERR ...'), a bulk
    string as b'$' + its bytes, a nil as b'$-1' (what XADD, AUTH and SELECT answer). Raises OSError or
    ValueError on a closed socket, a timeout or bytes it cannot parse; `replies` then holds those
    read before the failure."""
    data = b""
    pos = 0
    while len(replies) < count:
        end = data.find(_CRLF, pos)
        if end >= 0:
            if data[pos : pos + 1] != b"$":
                replies.append(data[pos:end])
                pos = end + 2
                continue
            size = int(data[pos + 1 : end])
            if size < 0:
                replies.append(b"$-1")
                pos = end + 2
                continue
            stop = end + 2 + size
            if len(data) >= stop + 2:
                replies.append(b"$" + data[end + 2 : stop])
                pos = stop + 2
                continue
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("redis closed the connection")
        data = data[pos:] + chunk
        pos = 0


class StreamAppender:
    """Appends entries to one Redis stream over a raw socket; see the module docstring."""

    def __init__(self, host: str, port: int = 6379, db: int = 0, username: str | None = None,
                 password: str | None = None, timeout: float = 2.0, usable: bool = True) -> None:
        self.host, self.port, self.db = host, port, str(db)
        self.username, self.password = username, password
        self.timeout = timeout
        self.usable = usable
        self._local = threading.local()

    @classmethod
    def from_url(cls, redis_url: str) -> StreamAppender:
        """An appender for a `redis://` URL; any other scheme gives one that always defers."""
        url = urlsplit(redis_url)
        if url.scheme != "redis" or not url.hostname:
            return cls("", usable=False)
        return cls(url.hostname or "127.0.0.1", url.port or 6379, int((url.path or "/0").strip("/") or 0),
                   unquote(url.username) if url.username else None,
                   unquote(url.password) if url.password else None)

    @classmethod
    def for_client(cls, client: Redis) -> StreamAppender:
        """The appender that talks to the same server and database as a redis-py client (cached)."""
        pool = client.connection_pool
        appender = _by_pool.get(pool)
        if appender is None:
            kw = pool.connection_kwargs
            timeout = kw.get("socket_timeout") or kw.get("socket_connect_timeout")
            appender = cls(
                str(kw.get("host", "127.0.0.1")), int(kw.get("port", 6379)), int(kw.get("db", 0) or 0),
                kw.get("username"), kw.get("password"), min(float(timeout), 2.0) if timeout else 2.0,
                usable=pool.connection_class is Connection and "host" in kw,  # not TLS, not a unix socket
            )
            _by_pool[pool] = appender
        return appender

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        setup = []
        if self.password is not None:
            auth = [b"AUTH", self.password.encode()]
            if self.username:
                auth.insert(1, self.username.encode())
            setup.append(_command(*auth))
        if self.db != "0":
            setup.append(_command(b"SELECT", self.db.encode()))
        if setup:
            replies: list[bytes] = []
            try:
                sock.sendall(b"".join(setup))
                _read_replies(sock, len(setup), replies)  # both replies may arrive in one segment
            except (OSError, ValueError):
                sock.close()
                raise
            if not all(reply.startswith(b"+") for reply in replies):
                sock.close()
                raise ConnectionError("redis refused the connection set-up")
        return sock

    def _socket(self) -> socket.socket:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():  # a forked child never shares its parent's socket
            local.sock, local.pid = self._connect(), os.getpid()
        return local.sock  # type: ignore[no-any-return]

    def append(self, stream: str, fields: Mapping[str, str]) -> bytes | None:
        """XADD stream * fields...; returns the entry id, or None when the caller must use redis-py."""
        if not self.usable:
            return None
        replies: list[bytes] = []
        try:
            sock = self._socket()
            sock.sendall(_xadd(_xadd_prefix(stream), fields))
            _read_replies(sock, 1, replies)
        except (OSError, ValueError):
            self.reset()
            return None
        if not _acknowledged(replies[0]):
            self.reset()  # an error reply (e.g. OOM, READONLY): redis-py will raise and report it
            return None
        return replies[0][1:]

    def append_many(self, stream: str, entries: Sequence[Mapping[str, str]]) -> int:
        """XADD every entry, pipelined: all commands in one sendall, then one reply per command.

        Returns how many entries, counted from the first, Redis acknowledged with an entry id; the
        caller offers the others to redis-py. Fewer than len(entries) means something went wrong (the
        socket is then closed and the next call reconnects). Entries after an unacknowledged one may
        have been stored too: offering them again only makes a duplicate that the writer skips.
        """
        if not self.usable or not entries:
            return 0
        prefix = _xadd_prefix(stream)
        replies: list[bytes] = []
        try:
            sock = self._socket()
            sock.sendall(b"".join([_xadd(prefix, fields) for fields in entries]))
            _read_replies(sock, len(entries), replies)
        except (OSError, ValueError):
            pass  # the replies read before the failure still count
        done = 0
        for reply in replies:
            if not _acknowledged(reply):
                break
            done += 1
        if done < len(entries):
            self.reset()
        return done

    def reset(self) -> None:
        """Drop this thread's socket; the next append reconnects."""
        sock = getattr(self._local, "sock", None)
        self._local.pid = None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass
