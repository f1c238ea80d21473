"""Helpers for the fault tests (tests/faults/): real worker and scheduler processes, SMTP servers
that misbehave on cue, a Redis server of our own that can be restarted, and ledger/mailbox tallies."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from redis import Redis
from sqlalchemy import func, select

from campaigns.models import Send
from tests.conftest import SmtpHandler, SmtpServer

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- processes
def descendants(pid: int) -> list[int]:
    """All processes below `pid` (an RQ work horse, gunicorn workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def app_env(services: Any, **settings: Any) -> dict[str, str]:
    """The environment a `worker.py` process needs to run against the test's database, Redis and SMTP."""
    s = services.settings
    env = {
        **os.environ,
        "DATABASE_URL": s.database_url, "REDIS_URL": s.redis_url, "SMTP_HOST": s.smtp_host,
        "SMTP_PORT": str(s.smtp_port), "SMTP_TIMEOUT": str(s.smtp_timeout), "SECRET_KEY": s.secret_key,
        "BASE_URL": s.base_url, "MAIL_FROM": s.mail_from, "SEND_LEASE_SECONDS": str(s.send_lease_seconds),
        "MAX_LATENESS_HOURS": str(s.max_lateness_hours), "QUEUE_NAME": s.queue_name, "PYTHONPATH": str(ROOT),
    }
    env.update({k.upper(): str(v) for k, v in settings.items()})
    return env


def start_process(role: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start `python worker.py <role>` (worker, scheduler, hit-writer) as production runs it."""
    return subprocess.Popen([sys.executable, "worker.py", role], cwd=ROOT, env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)


def sigkill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a process and everything below it, and reap it."""
    for pid in [proc.pid, *descendants(proc.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=10)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """End a process we started: SIGTERM, then SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        sigkill(proc)


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every process at once, then reap them (SIGKILL after 5 s)."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + 5
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            sigkill(proc)


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.1,
               alive: Callable[[], None] | None = None) -> bool:
    """Poll `predicate` until true or `timeout` seconds; `alive` may assert the processes still run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if alive is not None:
            alive()
        time.sleep(step)
    return predicate()


def tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else ""


# ---------------------------------------------------------------- ledger and mailbox
def status_counts(services: Any) -> Counter[str]:
    """Sends per status in the ledger."""
    with services.db.begin() as s:
        return Counter({str(k): v for k, v in s.execute(select(Send.status, func.count()).group_by(Send.status))})


def received_by_rcpt(server: SmtpServer) -> Counter[str]:
    """Copies received per recipient address."""
    with server.handler.lock:
        return Counter(r for m in server.messages for r in m.rcpt_tos)


_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)\r?$", re.MULTILINE | re.IGNORECASE)


def message_ids_by_rcpt(server: SmtpServer, only: set[str] | None = None) -> dict[str, list[str]]:
    """The Message-ID of every copy each recipient (of `only`, if given) received."""
    out: dict[str, list[str]] = {}
    with server.handler.lock:
        messages = list(server.messages)
    for m in messages:
        rcpts = [r for r in m.rcpt_tos if only is None or r in only]
        if not rcpts:
            continue
        head = m.raw.split(b"\r\n\r\n", 1)[0]  # a regex on the header block: parsing 10,000 mails is slow
        found = _MESSAGE_ID.search(head)
        for r in rcpts:
            out.setdefault(r, []).append(found.group(1).decode() if found else "")
    return out


# ---------------------------------------------------------------- SMTP servers
class FaultyHandler(SmtpHandler):
    """The test handler with PIPELINING, a per-message delay (a relay's latency, so kills land with mail
    in flight), and a switchable fault: answer `fault` (e.g. "421 ..." or "451 ...") at RCPT while set."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.delay = delay
        self.fault: str | None = None
        self.faults_answered = 0
        self.data_codes: dict[str, str] = {}  # recipient -> code answered at the end of DATA

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        if self.fault:
            self.faults_answered += 1
            return self.fault
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        import asyncio

        if self.delay:
            await asyncio.sleep(self.delay)
        for rcpt in envelope.rcpt_tos:
            if rcpt.lower() in self.data_codes:
                return self.data_codes[rcpt.lower()]
        return await super().handle_DATA(server, session, envelope)


class FaultyServer(SmtpServer):
    def __init__(self, delay: float = 0.0, port: int | None = None) -> None:
        super().__init__()
        if port is not None:
            self.port = port
        self.handler = FaultyHandler(delay)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)


class SilentServer:
    """Accepts TCP connections and never says a word (a hung relay); counts the connections."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connections = 0
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        self._sock.listen(128)
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self._sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            self._held.append(conn)  # held open, never answered

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for conn in self._held:
            conn.close()
        self._sock.close()


# ---------------------------------------------------------------- a Redis server of our own
class OwnRedis:
    """redis-server on port 6390 (configurable) with an append-only file, restartable by the test."""

    def __init__(self, data_dir: Path, port: int = 6390) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server not installed")
        self.port = port
        self.dir = data_dir
        self.url = f"redis://127.0.0.1:{port}/0"
        self.args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
                     "--appendfsync", "always", "--dir", str(data_dir), "--daemonize", "no"]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        conn = Redis(port=self.port)
        try:
            assert wait_until(lambda: _pings(conn), 10), "redis-server did not start"
        finally:
            conn.close()

    def restart(self, *, lose_data: bool = False) -> None:
        """Stop (SIGTERM: a clean shutdown), optionally wipe its files (a replica that was behind), start."""
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(10)
        if lose_data:
            shutil.rmtree(self.dir, ignore_errors=True)
        self.start()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def _pings(conn: Redis) -> bool:
    try:
        return bool(conn.ping())
    except Exception:
        return False
