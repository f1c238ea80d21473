"""SMTP transport: a per-process pool of reused, pipelined SMTP connections (called by the sender).

Why not smtplib: it waits for every reply (MAIL, RCPT, DATA, end of data: four round trips per
mail) and one connection is one thread. Against a relay 20 ms away that is ~6 mails/s per
connection. This client uses ESMTP PIPELINING (RFC 2920) when the server offers it: the next
mail's MAIL/RCPT/DATA go out right behind the previous body, so a mail costs one round trip, and
many connections run concurrently on one asyncio loop in a background thread. Without PIPELINING
it falls back to lock-step commands.

The pool outlives a batch (a non-forking worker reuses it across jobs); after a fork a new pool is
built, because sockets and the loop thread do not survive fork.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import enum
import logging
import os
import smtplib
import socket
import ssl
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from campaigns.config import Settings
from campaigns.delivery import dkim_signing

log = logging.getLogger("nurture.mailer")

_IDLE_SECONDS = 30.0  # close a connection unused this long (servers drop idle clients after ~60-300 s)


def dot_stuff(data: bytes) -> bytes:
    """Double a leading dot on every line (RFC 5321 4.5.2); bytes.replace is far cheaper than a regex."""
    if b"\n." in data:
        data = data.replace(b"\n.", b"\n..")
    return b"." + data if data.startswith(b".") else data


class SMTPTransientError(smtplib.SMTPException):
    """A failure worth retrying later (4xx, connection lost, timeout); raised to make RQ retry."""


class SMTPPermanentError(smtplib.SMTPException):
    """The server refused this mail for good (5xx)."""


class OutcomeKind(enum.StrEnum):
    SENT = "sent"
    REJECTED = "rejected"  # 5xx for this recipient (RCPT): a hard bounce
    REFUSED = "refused"  # 5xx for this message (end of DATA): content refused, address not at fault
    DEFERRED = "deferred"  # 4xx for this mail: retry later
    CONNECTION = "connection"  # could not talk to the server (refused, lost, timeout, auth, 421)


@dataclass
class OutgoingMail:
    key: int  # the caller's id (a Send id)
    mail_from: str
    rcpt: str
    data: bytes  # the whole message, CRLF line ends, not dot-stuffed
    queued_at: float = 0.0  # the pool's loop time when it was handed over (set by the pool)


@dataclass
class Outcome:
    key: int
    kind: OutcomeKind
    code: int = 250
    message: str = ""
    # True when the body went out but no final reply came back: the server may have accepted it.
    maybe_delivered: bool = False

    @property
    def ok(self) -> bool:
        return self.kind is OutcomeKind.SENT

    @property
    def transient(self) -> bool:
        return self.kind in (OutcomeKind.DEFERRED, OutcomeKind.CONNECTION)

    def describe(self) -> str:
        return f"{self.code} {self.message}".strip() if self.code else self.message


class _Reply:
    __slots__ = ("code", "text")

    def __init__(self, code: int, text: str) -> None:
        self.code = code
        self.text = text

    def __str__(self) -> str:
        return f"{self.code} {self.text}"


class _ConnectionLost(Exception):
    def __init__(self, reason: str, code: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass
class SmtpConfig:
    host: str
    port: int
    timeout: float = 30.0
    connections: int = 4
    starttls: bool = False
    ca_file: str = ""
    username: str = ""
    password: str = ""
    local_hostname: str = field(default_factory=socket.gethostname)

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpConfig:
        host, port = settings.effective_smtp
        return cls(
            host=host, port=port, timeout=settings.smtp_timeout, connections=max(1, settings.smtp_connections),
            starttls=settings.smtp_starttls and not settings.uses_outbox, ca_file=settings.smtp_ca_file,
            username=settings.smtp_username, password=settings.smtp_password,
        )

    @property
    def key(self) -> tuple[object, ...]:
        return (self.host, self.port, self.timeout, self.connections, self.starttls, self.ca_file, self.username,
                self.password)


def _kind_for(stage: str, reply: _Reply) -> OutcomeKind:
    if 400 <= reply.code < 500:
        return OutcomeKind.DEFERRED
    if stage == "rcpt":
        # RFC 5321 4.5.3.1.10: 552 at RCPT means "too many recipients / full"; treat as temporary.
        return OutcomeKind.DEFERRED if reply.code == 552 else OutcomeKind.REJECTED
    if stage == "mail":
        # The server refuses our sender address: a configuration problem, not this recipient's fault.
        return OutcomeKind.CONNECTION
    return OutcomeKind.REFUSED


@dataclass
class _Health:
    """Shared by a pool's connections: when the last connection attempt failed (loop time), if it did."""

    failed_at: float | None = None


class _Connection:
    """One SMTP session; `run` serves mails from the pool's queue, pipelining when offered."""

    def __init__(self, config: SmtpConfig, index: int, health: _Health | None = None) -> None:
        self.config = config
        self.index = index
        self.health = health or _Health()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.pipelining = False
        self.body_sent = False
        self._unsent = b""  # a pipelined body waiting to go out with the next envelope

    # -- protocol helpers
    async def _reply(self) -> _Reply:
        assert self.reader is not None
        lines: list[str] = []
        while True:
            line = await self.reader.readline()
            if not line:
                raise _ConnectionLost("connection closed by server")
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            lines.append(text[4:])
            if len(text) < 4 or text[3] != "-":
                try:
                    code = int(text[:3])
                except ValueError:
                    raise _ConnectionLost(f"bad reply {text[:80]!r}") from None
                if code == 421:
                    raise _ConnectionLost(f"server closing: {' '.join(lines)}", code)
                return _Reply(code, " ".join(lines).strip())

    async def _command(self, line: bytes) -> _Reply:
        assert self.writer is not None
        self.writer.write(line + b"\r\n")
        await self.writer.drain()
        return await self._reply()

    async def connect(self) -> None:
        cfg = self.config
        try:
            async with asyncio.timeout(cfg.timeout):
                self.reader, self.writer = await asyncio.open_connection(cfg.host, cfg.port)
                sock = self.writer.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                banner = await self._reply()
                if banner.code != 220:
                    raise _ConnectionLost(f"greeting refused: {banner}", banner.code)
                features = await self._ehlo()
                if cfg.starttls:
                    if "starttls" not in features:
                        raise _ConnectionLost("server does not offer STARTTLS")
                    reply = await self._command(b"STARTTLS")
                    if reply.code != 220:
                        raise _ConnectionLost(f"STARTTLS refused: {reply}", reply.code)
                    assert self.writer is not None
                    # Certificate and host name verified, against the system's CAs or SMTP_CA_FILE.
                    context = ssl.create_default_context(cafile=cfg.ca_file or None)
                    await self.writer.start_tls(context, server_hostname=cfg.host)
                    features = await self._ehlo()
                if cfg.username:
                    await self._login(features)
                self.pipelining = "pipelining" in features
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ssl.SSLError) as exc:
            await self.close(quit=False)
            raise _ConnectionLost(f"cannot connect to {cfg.host}:{cfg.port}: {exc or exc.__class__.__name__}") from exc
        except _ConnectionLost:
            await self.close(quit=False)
            raise

    async def _ehlo(self) -> dict[str, str]:
        reply = await self._command(b"EHLO " + self.config.local_hostname.encode("ascii", "replace"))
        if reply.code != 250:
            raise _ConnectionLost(f"EHLO refused: {reply}", reply.code)
        # Multi-line replies were joined with spaces; keywords are the upper-case words after the first line.
        features: dict[str, str] = {}
        for word in reply.text.split(" ")[1:]:
            if word.isupper() or word.replace("-", "").isalnum():
                features.setdefault(word.lower(), "")
        if "AUTH" in reply.text:
            features["auth"] = reply.text[reply.text.find("AUTH") + 4 :].upper()
        return features

    async def _login(self, features: dict[str, str]) -> None:
        cfg = self.config
        mechanisms = features.get("auth", "")
        if "PLAIN" in mechanisms or "LOGIN" not in mechanisms:
            token = base64.b64encode(f"\0{cfg.username}\0{cfg.password}".encode()).decode()
            reply = await self._command(f"AUTH PLAIN {token}".encode())
        else:
            reply = await self._command(b"AUTH LOGIN")
            if reply.code == 334:
                reply = await self._command(base64.b64encode(cfg.username.encode()))
            if reply.code == 334:
                reply = await self._command(base64.b64encode(cfg.password.encode()))
        if reply.code != 235:
            raise _ConnectionLost(f"authentication failed: {reply}", reply.code)

    async def close(self, quit: bool = True) -> None:
        writer, self.writer, self.reader = self.writer, None, None
        self._unsent = b""
        if writer is None:
            return
        try:
            if quit:
                writer.write(b"QUIT\r\n")
                async with asyncio.timeout(2):
                    await writer.drain()
            writer.close()
        except (OSError, TimeoutError, ssl.SSLError):
            pass

    # -- the serving loop
    async def run(self, queue: asyncio.Queue[tuple[OutgoingMail, asyncio.Future[Outcome]]]) -> None:
        pending: tuple[OutgoingMail, asyncio.Future[Outcome]] | None = None  # body sent, reply unread
        while True:
            if pending is not None and queue.empty():
                await self._finish(pending)
                pending = None
            if not queue.empty():
                item = queue.get_nowait()
            else:
                try:
                    item = await asyncio.wait_for(queue.get(), timeout=_IDLE_SECONDS)
                except TimeoutError:
                    await self.close()
                    continue
            try:
                pending = await self._transact(item, pending)
            except Exception as exc:  # a bug here must not kill the connection task and strand the queue
                log.exception("SMTP connection %d failed unexpectedly", self.index)
                await self.close(quit=False)
                for mail, fut in (item, pending) if pending else (item,):
                    self._settle(fut, Outcome(mail.key, OutcomeKind.CONNECTION, 0, f"internal error: {exc}",
                                              maybe_delivered=True))
                pending = None

    def _note_hang(self, exc: BaseException) -> None:
        """A server that stops answering mid-session is treated like one that cannot be reached: the
        mails already waiting fail at once instead of each sending its body and waiting out a timeout.
        (A 421 or a closed connection is routine, e.g. a per-connection message limit: not counted.)"""
        if isinstance(exc, TimeoutError):
            self.health.failed_at = asyncio.get_running_loop().time()

    def _settle(self, fut: asyncio.Future[Outcome], outcome: Outcome) -> None:
        if not fut.done():
            fut.set_result(outcome)

    async def _finish(self, pending: tuple[OutgoingMail, asyncio.Future[Outcome]]) -> None:
        mail, fut = pending
        try:
            async with asyncio.timeout(self.config.timeout):
                if self._unsent and self.writer is not None:
                    self.writer.write(self._unsent)
                    self._unsent = b""
                reply = await self._reply()
        except (_ConnectionLost, OSError, TimeoutError, asyncio.IncompleteReadError, ssl.SSLError) as exc:
            self._note_hang(exc)
            await self.close(quit=False)
            self._settle(fut, Outcome(mail.key, OutcomeKind.CONNECTION, getattr(exc, "code", 0),
                                      f"no reply after the message: {exc or 'timeout'}", maybe_delivered=True))
            return
        self._settle(fut, self._data_outcome(mail, reply))
        if reply.code >= 400:
            await self._reset()

    def _data_outcome(self, mail: OutgoingMail, reply: _Reply) -> Outcome:
        if 200 <= reply.code < 300:
            return Outcome(mail.key, OutcomeKind.SENT, reply.code, reply.text)
        return Outcome(mail.key, _kind_for("data", reply), reply.code, reply.text)

    async def _reset(self) -> None:
        if self.writer is None:
            return
        try:
            async with asyncio.timeout(self.config.timeout):
                await self._command(b"RSET")
        except (_ConnectionLost, OSError, TimeoutError, asyncio.IncompleteReadError, ssl.SSLError):
            await self.close(quit=False)

    async def _transact(
        self, item: tuple[OutgoingMail, asyncio.Future[Outcome]],
        pending: tuple[OutgoingMail, asyncio.Future[Outcome]] | None,
    ) -> tuple[OutgoingMail, asyncio.Future[Outcome]] | None:
        """Send one mail; returns it as the new `pending` when its final reply is still unread."""
        mail, fut = item
        for attempt in (1, 2):
            fresh = self.writer is None
            try:
                if fresh:
                    if pending is not None:  # defensive: a lost connection settles its pending mail
                        self._settle(pending[1], Outcome(pending[0].key, OutcomeKind.CONNECTION, 0,
                                                         "connection closed after the message",
                                                         maybe_delivered=True))
                        pending = None
                    # A server that failed to answer (down, or accepting TCP and never speaking) is not tried
                    # again by every mail that was already waiting, each after its own timeout: those fail
                    # at once (deferred; RQ retries the job). Mails handed over later try afresh.
                    failed_at = self.health.failed_at
                    if failed_at is not None and mail.queued_at <= failed_at:
                        self._settle(fut, Outcome(mail.key, OutcomeKind.CONNECTION, 0,
                                                  "server unreachable: a connection attempt failed "
                                                  "while this mail waited"))
                        return None
                    try:
                        await self.connect()
                    except _ConnectionLost:
                        self.health.failed_at = asyncio.get_running_loop().time()
                        raise
                    self.health.failed_at = None
                async with asyncio.timeout(self.config.timeout):
                    return await self._exchange(mail, fut, pending)
            except (_ConnectionLost, OSError, TimeoutError, asyncio.IncompleteReadError, ssl.SSLError) as exc:
                self._note_hang(exc)
                await self.close(quit=False)
                body_sent, self.body_sent = self.body_sent, False
                if pending is not None:
                    pmail, pfut = pending
                    self._settle(pfut, Outcome(pmail.key, OutcomeKind.CONNECTION, getattr(exc, "code", 0),
                                               f"connection lost after the message: {exc or 'timeout'}",
                                               maybe_delivered=True))
                    pending = None
                if fut.done():  # its outcome was known before the connection broke (e.g. during RSET)
                    return None
                if body_sent:
                    self._settle(fut, Outcome(mail.key, OutcomeKind.CONNECTION, getattr(exc, "code", 0),
                                              f"connection lost during the message: {exc or 'timeout'}",
                                              maybe_delivered=True))
                    return None
                # Nothing of this mail reached the server; a reused connection may simply have gone stale
                # (idle timeout on the server side), so one fresh attempt is safe.
                if attempt == 2 or fresh:
                    self._settle(fut, Outcome(mail.key, OutcomeKind.CONNECTION, getattr(exc, "code", 0),
                                              str(exc) or exc.__class__.__name__))
                    return None
        return None

    async def _exchange(
        self, mail: OutgoingMail, fut: asyncio.Future[Outcome],
        pending: tuple[OutgoingMail, asyncio.Future[Outcome]] | None,
    ) -> tuple[OutgoingMail, asyncio.Future[Outcome]] | None:
        assert self.writer is not None
        envelope = [f"MAIL FROM:<{mail.mail_from}>".encode(), f"RCPT TO:<{mail.rcpt}>".encode(), b"DATA"]
        if self.pipelining:
            # The previous body goes out in the same segment as this envelope: one send() per mail.
            self.writer.write(self._unsent + b"\r\n".join(envelope) + b"\r\n")
            self._unsent = b""
            await self.writer.drain()
            if pending is not None:
                pmail, pfut = pending
                self._settle(pfut, self._data_outcome(pmail, await self._reply()))
            replies = [await self._reply() for _ in envelope]
        else:
            replies = []
            for line in envelope:
                reply = await self._command(line)
                replies.append(reply)
                if reply.code >= 400:
                    break
        mail_reply = replies[0]
        rcpt_reply = replies[1] if len(replies) > 1 else None
        data_reply = replies[2] if len(replies) > 2 else None
        if mail_reply.code >= 400:
            failed, stage = mail_reply, "mail"
        elif rcpt_reply is not None and rcpt_reply.code >= 400:
            failed, stage = rcpt_reply, "rcpt"
        elif data_reply is not None and data_reply.code != 354:
            failed, stage = data_reply, "data"
        else:
            failed, stage = None, ""
        if failed is not None:
            if data_reply is not None and data_reply.code == 354:
                # A server that accepted DATA after refusing the envelope: end the empty message.
                await self._command(b".")
            self._settle(fut, Outcome(mail.key, _kind_for(stage, failed), failed.code, failed.text))
            await self._command(b"RSET")
            return None
        body = dot_stuff(mail.data)
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        if self.pipelining:
            self._unsent = body + b".\r\n"  # written with the next envelope, or by _finish
            return (mail, fut)  # the reply is read behind the next mail's envelope
        self.writer.write(body + b".\r\n")
        self.body_sent = True  # from here a failure leaves it unknown whether the server took the mail
        await self.writer.drain()
        self._settle(fut, self._data_outcome(mail, await self._reply()))
        self.body_sent = False
        return None


class MailerPool:
    """A background event loop holding `connections` SMTP sessions to one server (sender, test sends)."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self.signer: dkim_signing.DkimSigner | None = None  # set by get_pool when DKIM is configured
        self.pid = os.getpid()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nurture-smtp", daemon=True)
        self._thread.start()
        self._ready.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._queue: asyncio.Queue[tuple[OutgoingMail, asyncio.Future[Outcome]]] = asyncio.Queue()
        health = _Health()
        self._connections = [_Connection(self.config, i, health) for i in range(self.config.connections)]
        self._tasks = [self._loop.create_task(c.run(self._queue)) for c in self._connections]
        self._ready.set()
        self._loop.run_forever()

    async def _send_all(self, mails: Sequence[OutgoingMail]) -> list[Outcome]:
        loop = asyncio.get_running_loop()
        futures = []
        now = loop.time()
        for mail in mails:
            mail.queued_at = now
            fut: asyncio.Future[Outcome] = loop.create_future()
            self._queue.put_nowait((mail, fut))
            futures.append(fut)
        return list(await asyncio.gather(*futures))

    def submit(self, mails: Sequence[OutgoingMail]) -> concurrent.futures.Future[list[Outcome]]:
        """Queue mails for delivery over the pool's connections; the future yields one Outcome each."""
        if self.signer is not None:  # DKIM: signed here, in the caller's thread, so every mail path is covered
            mails = [OutgoingMail(m.key, m.mail_from, m.rcpt, self.signer.sign(m.data)) for m in mails]
        return asyncio.run_coroutine_threadsafe(self._send_all(list(mails)), self._loop)

    def send(self, mail: OutgoingMail) -> Outcome:
        """Deliver one mail and wait for its outcome (test sends)."""
        return self.submit([mail]).result()[0]

    def close(self) -> None:
        """Say QUIT on every connection and stop the loop thread (tests, process exit)."""
        if not self._thread.is_alive():
            return

        async def _shutdown() -> None:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await asyncio.gather(*(c.close() for c in self._connections), return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(_shutdown(), self._loop).result(timeout=5)
        except (concurrent.futures.TimeoutError, RuntimeError):
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)


_pools: dict[tuple[object, ...], MailerPool] = {}
_pools_lock = threading.Lock()


def get_pool(settings: Settings) -> MailerPool:
    """The process's pool for the configured server, built on first use and after a fork (sender)."""
    config = SmtpConfig.from_settings(settings)
    signer = dkim_signing.signer_for(settings)  # None without DKIM
    key = (*config.key, id(signer))
    with _pools_lock:
        pool = _pools.get(key)
        if pool is not None and pool.pid == os.getpid():
            return pool
        if pool is not None:  # inherited through fork: its thread and sockets belong to the parent
            _pools.pop(key, None)
        pool = MailerPool(config)
        pool.signer = signer
        _pools[key] = pool
        return pool


def close_pools() -> None:
    """Close every pool of this process (tests between servers, worker shutdown)."""
    with _pools_lock:
        pools = [p for p in _pools.values() if p.pid == os.getpid()]
        _pools.clear()
    for pool in pools:
        pool.close()
