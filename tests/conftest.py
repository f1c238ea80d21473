"""Fixtures on real parts: a real Redis (its own DB index), a real SMTP server (aiosmtpd on loopback),
and SQLite or PostgreSQL chosen by DATABASE_URL. Every test builds its own app on empty tables."""

from __future__ import annotations

import email
import email.policy
import os
import re
import socket
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
from sqlalchemy.orm import close_all_sessions

from campaigns.db import Base, Database
from campaigns.models import create_all

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


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
@pytest.fixture
def redis_conn() -> Iterator[Redis]:
    conn = Redis.from_url(TEST_REDIS_URL)
    conn.flushdb()
    yield conn
    conn.flushdb()
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


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Report threads that would keep the interpreter alive after the run (a hang in CI)."""
    lingering = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if lingering:
        print("\nnon-daemon threads still running at exit:", [t.name for t in lingering])
