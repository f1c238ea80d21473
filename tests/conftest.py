"""Fixtures on real parts: a real Redis (its own DB index), a real SMTP server (aiosmtpd on loopback),
and SQLite or PostgreSQL chosen by DATABASE_URL. Every test builds its own app on empty tables."""

from __future__ import annotations

import email
import email.policy
import itertools
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.orm import close_all_sessions

from campaigns.db import Base, Database
from campaigns.delivery import mailer
from campaigns.models import create_all

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
ROOT = Path(__file__).resolve().parent.parent  # the repository


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- database
def _database_url(tmp_root: Path) -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url or url.startswith("sqlite"):
        return f"sqlite:///{tmp_root / 'test.db'}"
    return url


def _ensure_pg_database(url: str) -> None:
    """Create the PostgreSQL test database if missing (helpers and CI may use their own)."""
    parsed = sa.engine.make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    admin = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(sa.text("select 1 from pg_database where datname = :n"), {"n": parsed.database})
        if not exists:
            conn.execute(sa.text(f'create database "{parsed.database}"'))
    admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = _database_url(tmp_path_factory.mktemp("db"))
    if url.startswith("postgresql"):
        _ensure_pg_database(url)
    db = Database(url)

    inspector = sa.inspect(db.engine)
    foreign = set(inspector.get_table_names()) - set(Base.metadata.tables) - {"alembic_version"}
    if foreign:
        raise RuntimeError(f"refusing to run tests on a database holding other tables: {sorted(foreign)[:5]}")
    with db.engine.begin() as conn:
        for table in [*Base.metadata.tables, "alembic_version"]:
            conn.execute(sa.text(f'DROP TABLE IF EXISTS "{table}"' + (" CASCADE" if db.dialect == "postgresql" else "")))
    create_all(db)
    db.dispose()
    yield url


def truncate_all(db: Database) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            # A transaction an earlier test left open would make TRUNCATE wait for ever: fail fast instead.
            conn.execute(sa.text("SET LOCAL lock_timeout = '30s'"))
            conn.execute(sa.text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for t in tables:
                conn.execute(sa.text(f'DELETE FROM "{t}"'))
            if conn.scalar(sa.text("select count(*) from sqlite_master where name='sqlite_sequence'")):
                conn.execute(sa.text("DELETE FROM sqlite_sequence"))


# ---------------------------------------------------------------- redis
# The suite flushes its Redis database between tests, so it must never be pointed at one that holds
# somebody else's data (as RQ's own test suite refuses to). It marks the database as its own with this
# key, written at the start of the run and again after every flush: a database holding the mark (plus
# whatever an interrupted run left) is the suite's; a database holding keys without it is not.
REDIS_SENTINEL = "nurture:test-suite"
_claimed_redis: set[str] = set()


def _redis_db_name(url: str) -> str:
    kw = Redis.from_url(url).connection_pool.connection_kwargs
    return f"Redis database {kw.get('db', 0)} at {kw.get('host', '?')}:{kw.get('port', '?')}"


def flush_test_redis(conn: Redis) -> None:
    """Empty the suite's Redis database and mark it as the suite's again."""
    conn.flushdb()
    conn.set(REDIS_SENTINEL, f"pytest pid {os.getpid()}")


def claim_test_redis(conn: Redis, url: str = TEST_REDIS_URL) -> None:
    """Once per run: stop the run (pytest.exit) if the test database holds keys the suite did not write,
    otherwise empty it and mark it as the suite's."""
    if url in _claimed_redis:
        return
    count = conn.dbsize()
    if count and not conn.exists(REDIS_SENTINEL):
        sample = sorted(k.decode(errors="replace") for k in itertools.islice(conn.scan_iter(count=100), 5))
        kw = conn.connection_pool.connection_kwargs
        where = f"-h {kw.get('host', '127.0.0.1')} -p {kw.get('port', 6379)} -n {kw.get('db', 0)}"
        pytest.exit(
            f"refusing to run the tests on {_redis_db_name(url)} (TEST_REDIS_URL={url}): it holds "
            f"{count} key{'s' if count != 1 else ''} that this test suite did not write (e.g. {sample}), and the tests empty "
            f"it between tests. Point TEST_REDIS_URL at an unused database, or if this one's data can go, "
            f"empty it first: redis-cli {where} flushdb",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )
    flush_test_redis(conn)  # the suite's own: leftovers of an earlier (perhaps interrupted) run
    _claimed_redis.add(url)


@pytest.fixture(scope="session", autouse=True)
def _test_redis_is_ours() -> None:
    """Check the test Redis database before the first test writes to it. Without a Redis the check waits
    for the first test that needs one (redis_conn), and tests that need none still run. The mark stays
    after the run, so that whatever is written late (hits an exiting process flushes) is still the suite's."""
    conn = Redis.from_url(TEST_REDIS_URL)
    try:
        claim_test_redis(conn)
    except RedisConnectionError:
        pass
    finally:
        conn.close()


@pytest.fixture
def redis_conn() -> Iterator[Redis]:
    conn = Redis.from_url(TEST_REDIS_URL)
    claim_test_redis(conn)
    flush_test_redis(conn)
    yield conn
    flush_test_redis(conn)
    conn.close()


# ---------------------------------------------------------------- smtp
@dataclass
class CapturedMail:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)  # type: ignore[return-value]


@dataclass
class SmtpHandler:
    """Collects mail; can be told to answer a code for chosen recipients (e.g. 550) or for everything."""

    messages: list[CapturedMail] = field(default_factory=list)
    rcpt_codes: dict[str, str] = field(default_factory=dict)
    data_code: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        code = self.rcpt_codes.get(address.lower())
        if code:
            return code
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_code:
            return self.data_code
        with self.lock:
            self.messages.append(CapturedMail(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 Message accepted for delivery"


class SmtpServer:
    def __init__(self) -> None:
        self.handler = SmtpHandler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self) -> list[CapturedMail]:
        return self.handler.messages

    def wait_for(self, count: int, timeout: float = 10.0) -> list[CapturedMail]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.messages

    def clear(self) -> None:
        self.handler.messages.clear()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.controller.start()
    yield server
    server.controller.stop()


@pytest.fixture(autouse=True)
def _close_smtp_pools() -> Iterator[None]:
    """Each test talks to its own SMTP server: drop the sender's pooled connections afterwards (each pool
    holds an event-loop thread, which would otherwise outlive the test)."""
    yield
    mailer.close_pools()


# ---------------------------------------------------------------- app
@pytest.fixture
def app_overrides(database_url: str, smtp_server: SmtpServer, tmp_path: Path) -> dict[str, Any]:
    return {
        "testing": True,
        "database_url": database_url,
        "redis_url": TEST_REDIS_URL,
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_server.port,
        "smtp_timeout": 5.0,
        "base_url": "http://nurture.test",
        "secret_key": "test-secret-key",
        "mail_from": "Acme Marketing <marketing@acme.test>",
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        "webhook_allowed_networks": "127.0.0.0/8",  # the tests' webhook receivers listen on loopback
        "trusted_hosts": "localhost, 127.0.0.1",  # the test client's default host; the browser tests' server
    }


def seed_account(db: Database) -> None:
    """The sender identity the legal footer needs (campaigns.compliance refuses to send without it);
    tests of its absence clear the fields."""
    from campaigns.models import Account

    with db.begin() as s:
        s.add(Account(id=1, company_name="Acme Test KK", from_name="Acme", postal_address="1-1-1 Marunouchi, Tokyo",
                      contact_info="support@acme.test"))


@pytest.fixture
def app(app_overrides: dict[str, Any], redis_conn: Redis) -> Iterator[Flask]:
    from wsgi import create_app

    application = create_app(app_overrides)
    svc = application.extensions["nurture"]
    truncate_all(svc.db)
    seed_account(svc.db)
    # No app context is held across the test: each request gets its own (as in production), so
    # per-request state in `g` never leaks between requests. Service calls that need one push it.
    yield application
    from campaigns.engagement.hit_buffer import flush_hits

    flush_hits(timeout=5)  # a hit buffered by this test never reaches the next test's Redis database
    # Sessions a test opened and did not close (any thread) still hold a connection in a transaction,
    # which engine.dispose() cannot reach; closing them all keeps the next test's TRUNCATE from waiting.
    close_all_sessions()
    svc.db.dispose()
    svc.redis.close()


@pytest.fixture
def services(app: Flask) -> Any:
    return app.extensions["nurture"]


@pytest.fixture
def session(services: Any) -> Any:
    return services.db.session


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


_CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = _CSRF_RE.search(html)
    assert match, "no csrf_token in page"
    return match.group(1)


USER_EMAIL = "marketer@acme.test"
USER_PASSWORD = "correct horse battery"


@pytest.fixture
def user(services: Any) -> Any:
    from campaigns.users import create_user

    with services.db.begin() as s:
        u = create_user(s, USER_EMAIL, USER_PASSWORD, "Marketer")
    return u


class UIClient:
    """A logged-in test client that fetches a fresh CSRF token for each form post."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get(url, **kw)

    def token(self, page: str = "/") -> str:
        return csrf_from(self.client.get(page).get_data(as_text=True))

    def post(self, url: str, data: dict[str, Any] | None = None, page: str | None = None, **kw: Any) -> Any:
        payload = dict(data or {})
        payload.setdefault("csrf_token", self.token(page or "/"))
        return self.client.post(url, data=payload, **kw)


@pytest.fixture
def ui(client: FlaskClient, user: Any) -> UIClient:
    page = client.get("/login").get_data(as_text=True)
    resp = client.post("/login", data={"email": USER_EMAIL, "password": USER_PASSWORD, "csrf_token": csrf_from(page)})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return UIClient(client)


@pytest.fixture
def api_key(services: Any) -> str:
    from campaigns.users import create_api_key

    with services.db.begin() as s:
        return create_api_key(s, "tests")


def run_jobs(app: Flask) -> int:
    """Drain the app's RQ queue in this process with a real SimpleWorker; returns jobs run."""
    from rq.registry import FailedJobRegistry, FinishedJobRegistry

    from campaigns.rq_workers import NurtureSimpleWorker

    svc = app.extensions["nurture"]
    registries = [FinishedJobRegistry(queue=svc.queue), FailedJobRegistry(queue=svc.queue)]
    before = sum(r.count for r in registries)
    worker = NurtureSimpleWorker([svc.queue], connection=svc.redis)
    with app.app_context():
        worker.work(burst=True)
    # rq 3's worker counters are not reliable in burst mode; the registries are.
    return sum(r.count for r in registries) - before


# Threads allowed to outlive the run, by name, each with the reason it is process-wide; any other thread
# still alive when the run ends fails it (a test, fixture or service left it running: a leak in production).
LONG_LIVED_THREADS = {
    # campaigns.engagement.hit_buffer: one daemon flusher per process, started by the first recorded hit and
    # kept for the life of the process (its atexit hook pushes what is still buffered).
    "nurture-hit-flusher",
}


def _lingering_threads(grace: float = 5.0) -> list[threading.Thread]:
    """Threads other than the main one and the long-lived ones, after giving those shutting down `grace`
    seconds to finish."""
    deadline = time.monotonic() + grace
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and thread.name not in LONG_LIVED_THREADS:
            thread.join(max(0.0, deadline - time.monotonic()))
    return [t for t in threading.enumerate()
            if t is not threading.main_thread() and t.name not in LONG_LIVED_THREADS and t.is_alive()]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when threads are left running at its end: a non-daemon one would keep the interpreter
    alive (a hang in CI), a daemon one is a thread some code started and never stopped."""
    lingering = _lingering_threads()
    if not lingering:
        return
    frames = sys._current_frames()

    def where(thread: threading.Thread) -> str:
        """The thread's target and the innermost line of this project it is running (else the innermost)."""
        target = getattr(thread, "_target", None)
        frame, innermost = frames.get(thread.ident or 0), None
        while frame is not None:
            innermost = innermost or frame
            if frame.f_code.co_filename.startswith(str(ROOT)) and "/.venv/" not in frame.f_code.co_filename:
                break
            frame = frame.f_back
        frame = frame or innermost
        return (f"target {getattr(target, '__qualname__', target)!s}, "
                + (f"at {frame.f_code.co_filename}:{frame.f_lineno}" if frame else "no stack"))

    described = "; ".join(f"{t.name!r} ({'daemon' if t.daemon else 'non-daemon'}, {where(t)})" for t in lingering)
    message = (f"{len(lingering)} thread(s) still running at the end of the run: {described}. Stop them in the "
               f"test or fixture that starts them (or, if one is process-wide by design, list its name in "
               f"tests/conftest.py LONG_LIVED_THREADS with the reason).")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("")  # the progress line has no newline yet
        reporter.write_sep("=", "threads left running", red=True)
        reporter.write_line(message, red=True)
    else:
        print("\n" + message)
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
