"""Sending: MIME and headers as parsed by the `email` package, bounces, retries, suppression, idempotency,
rate limit and test sends, against a real aiosmtpd server (lock-step and pipelined) and a real Redis."""

from __future__ import annotations

import email.utils
import re
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from rq.job import Job
from sqlalchemy import select

from campaigns import queueing
from campaigns.db import now_utc
from campaigns.delivery import mailer, sending
from campaigns.delivery.mime import send_id_from_message_id
from campaigns.delivery.ratelimit import RateLimiter
from campaigns.delivery.sending import DeliveryDeferred, deliver_batch
from campaigns.delivery.system_mail import send_test_email
from campaigns.links import TokenKind
from campaigns.models import Contact, ContactStatus, Link, Send, SendStatus, Suppression
from campaigns.suppression import suppress
from tests.conftest import run_jobs
from tests.factories import make_contacts
from tests.sending_helpers import (
    PipeliningServer,
    make_version,
    plan_sends,
    setup_account,
    standard_setup,
)


def _sends(services: Any, ids: list[int]) -> dict[int, Send]:
    with services.db.begin() as s:
        rows = s.scalars(select(Send).where(Send.id.in_(ids))).all()
        return {r.id: r for r in rows}


def _by_rcpt(smtp_server: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for m in smtp_server.messages:
        for rcpt in m.rcpt_tos:
            out.setdefault(rcpt, []).append(m)
    return out


@pytest.fixture(params=["lockstep", "pipelining"])
def smtp_server(request: pytest.FixtureRequest) -> Any:
    """The conftest SMTP server, and the same server advertising PIPELINING (the client's fast path)."""
    from tests.conftest import SmtpServer

    server = SmtpServer() if request.param == "lockstep" else PipeliningServer()
    server.controller.start()
    yield server
    server.controller.stop()


def test_delivered_mail_has_correct_headers_parts_and_tracking(services: Any, smtp_server: Any) -> None:
    with services.db.begin() as s:
        setup_account(s)
        version = make_version(s, subject="{{ contact.last_name }}様、資料のご案内 – {{ contact.company }}")
        contacts = make_contacts(s, 2, first_name="太郎", last_name="山田", company="株式会社サンプル")
        ids = plan_sends(s, version, contacts)
        links = {link.position: link.id for link in version.links}
        contact_ids = [c.id for c in contacts]
    with services.db.begin() as s:
        created = dict(s.execute(select(Send.id, Send.created_at).where(Send.id.in_(ids))).all())
    before = now_utc()
    counts = deliver_batch(services, ids)
    assert counts["sent"] == 2
    mails = smtp_server.wait_for(2)
    assert len(mails) == 2
    for send_id, contact_id in zip(ids, contact_ids, strict=True):
        mail = _by_rcpt(smtp_server)[f"lead{contact_ids.index(contact_id)}@example.com"][0]
        msg = mail.message
        assert mail.mail_from == "marketing@acme.test"
        assert msg["Subject"] == "山田様、資料のご案内 – 株式会社サンプル"
        assert "=?utf-8?b?" in mail.raw.split(b"\r\n\r\n")[0].decode().split("Subject: ")[1].lower()
        assert msg["From"].addresses[0].display_name == "Acme Marketing"
        assert msg["From"].addresses[0].addr_spec == "marketing@acme.test"
        assert msg["To"].addresses[0].display_name == "山田 太郎"  # family name first, as Japanese writes it
        # <{send id}.{tag}@{sender domain}>: the tag checks out for this send (see tests/delivery/test_message_id.py)
        assert re.fullmatch(rf"<{send_id}\.[0-9a-f]{{24}}@acme\.test>", msg["Message-ID"])
        assert send_id_from_message_id(msg["Message-ID"], services.settings.secret_key, created.get) == send_id
        sent_at = email.utils.parsedate_to_datetime(msg["Date"])
        assert before - timedelta(seconds=2) <= sent_at <= now_utc() + timedelta(seconds=2)
        unsubscribe = services.urls.unsubscribe(contact_id, send_id)
        # HTTPS only: no UNSUBSCRIBE_MAILBOX is set, and nothing reads the sender's mailbox (the mailto form:
        # tests/delivery/test_unsubscribe_mailbox.py)
        assert msg["List-Unsubscribe"] == f"<{unsubscribe}>"
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert msg.get_content_type() == "multipart/alternative"
        text_part, html_part = list(msg.iter_parts())
        assert text_part.get_content_type() == "text/plain" and html_part.get_content_type() == "text/html"
        html, text = html_part.get_content(), text_part.get_content()
        assert "太郎, hello" in html and "太郎, hello" in text
        # CSS inlined at compile time: the class rule is now a style attribute, no <style> left in the body.
        assert re.search(r'<a [^>]*class="button"[^>]*style="[^"]*background:#2f6fde', html)
        for position in (1, 2):
            click = services.urls.click(send_id, links[position])
            assert click in html and click in text
            verified = services.signer.verify(click.rsplit("/", 1)[1], TokenKind.CLICK)
            assert verified is not None and (verified.a, verified.b) == (send_id, links[position])
        assert "https://example.com/guide.pdf" not in html
        assert services.urls.open_pixel(send_id) in html
        assert unsubscribe in html and unsubscribe in text
        assert max(len(line) for line in mail.raw.split(b"\r\n")) <= 998
    rows = _sends(services, ids)
    assert all(r.status == SendStatus.SENT and r.sent_at is not None and r.attempts == 1 for r in rows.values())
    assert not any(r.possible_duplicate for r in rows.values())


def test_premailer_runs_once_per_version_not_per_recipient(
    services: Any, smtp_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import premailer

    calls: list[int] = []
    original = premailer.Premailer.transform

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(premailer.Premailer, "transform", counting)
    _, _, ids = standard_setup(services, count=12)
    assert len(calls) == 1
    deliver_batch(services, ids)
    assert len(smtp_server.wait_for(12)) == 12
    assert len(calls) == 1


def test_header_injection_through_contact_data_adds_no_header(services: Any, smtp_server: Any) -> None:
    with services.db.begin() as s:
        setup_account(s)
        version = make_version(s, subject="Hi {{ contact.first_name }}", from_name="Sales\r\nBcc: a@evil.test")
        evil = Contact(email="victim@example.com", first_name="Bob\r\nBcc: spy@evil.test\r\nX-Evil: 1",
                       last_name="\nSubject: forged")
        s.add(evil)
        s.flush()
        ids = plan_sends(s, version, [evil])
    deliver_batch(services, ids)
    [mail] = smtp_server.wait_for(1)
    msg = mail.message
    head = mail.raw.split(b"\r\n\r\n")[0]
    assert msg["Bcc"] is None and msg["X-Evil"] is None
    assert len(msg.get_all("Subject")) == 1 and len(msg.get_all("To")) == 1
    assert b"\r\nBcc:" not in head and b"\nBcc:" not in head
    assert mail.rcpt_tos == ["victim@example.com"]
    assert msg["Subject"] == "Hi Bob Bcc: spy@evil.test X-Evil: 1"


def test_permanent_5xx_in_the_middle_fails_that_send_suppresses_and_continues(
    services: Any, smtp_server: Any
) -> None:
    _, contact_ids, ids = standard_setup(services, count=5)
    smtp_server.handler.rcpt_codes["lead2@example.com"] = "550 5.1.1 <lead2@example.com>: no such user"
    counts = deliver_batch(services, ids)
    assert counts["sent"] == 4 and counts["failed"] == 1 and counts["bounced"] == 1
    got = _by_rcpt(smtp_server)
    assert sorted(got) == ["lead0@example.com", "lead1@example.com", "lead3@example.com", "lead4@example.com"]
    rows = _sends(services, ids)
    assert rows[ids[2]].status == SendStatus.FAILED and "550" in rows[ids[2]].error
    assert [rows[i].status for i in ids if i != ids[2]] == [SendStatus.SENT] * 4
    with services.db.begin() as s:
        sup = s.scalar(select(Suppression).where(Suppression.email == "lead2@example.com"))
        assert sup is not None and sup.reason == "hard_bounce" and "550" in sup.detail
        assert s.get(Contact, contact_ids[2]).status == ContactStatus.BOUNCED
        assert s.get(Contact, contact_ids[1]).status == ContactStatus.ACTIVE


def test_transient_4xx_is_retried_by_rq_and_only_the_rest_is_sent(app: Any, services: Any, smtp_server: Any) -> None:
    _, _, ids = standard_setup(services, count=4)
    smtp_server.handler.rcpt_codes["lead1@example.com"] = "451 4.7.1 greylisted, try later"
    queueing.enqueue_deliveries(services.queue, ids, batch_size=200)
    run_jobs(app)
    assert sorted(_by_rcpt(smtp_server)) == ["lead0@example.com", "lead2@example.com", "lead3@example.com"]
    rows = _sends(services, ids)
    assert rows[ids[1]].status == SendStatus.QUEUED and "451" in rows[ids[1]].error
    assert rows[ids[1]].claimed_at is None and not rows[ids[1]].possible_duplicate
    # RQ recorded the failure and scheduled the retry (DELIVERY_RETRY); let its time come now.
    registry = services.queue.scheduled_job_registry
    scheduled = registry.get_job_ids()
    assert len(scheduled) == 1
    job = Job.fetch(scheduled[0], connection=services.redis)
    assert job.retries_left == queueing.DELIVERY.retry.max - 1
    del smtp_server.handler.rcpt_codes["lead1@example.com"]
    registry.remove(job)
    services.queue.enqueue_job(job)
    run_jobs(app)
    got = _by_rcpt(smtp_server)
    assert sorted(got) == [f"lead{i}@example.com" for i in range(4)]
    assert all(len(v) == 1 for v in got.values())  # the retry sent only what was left
    rows = _sends(services, ids)
    assert all(r.status == SendStatus.SENT for r in rows.values())
    assert rows[ids[1]].attempts == 2


def test_unreachable_server_defers_everything_and_loses_nothing(app_overrides: dict[str, Any], redis_conn: Any) -> None:
    from tests.conftest import free_port, truncate_all
    from wsgi import create_app

    app = create_app({**app_overrides, "smtp_port": free_port(), "smtp_timeout": 2.0})
    svc = app.extensions["nurture"]
    truncate_all(svc.db)
    try:
        _, _, ids = standard_setup(svc, count=30)
        with pytest.raises(DeliveryDeferred, match="cannot connect"):
            deliver_batch(svc, ids)
        rows = _sends(svc, ids)
        assert all(r.status == SendStatus.QUEUED and r.claimed_at is None for r in rows.values())
        assert not any(r.possible_duplicate for r in rows.values())
    finally:
        svc.db.dispose()


def test_suppression_and_contact_status_are_checked_at_send_time(services: Any, smtp_server: Any) -> None:
    _, contact_ids, ids = standard_setup(services, count=4)
    # Queued first, then the address is suppressed and another contact unsubscribes: neither gets mail.
    with services.db.begin() as s:
        suppress(s, "lead0@Example.COM", "manual", "asked by phone")
        s.get(Contact, contact_ids[3]).status = ContactStatus.UNSUBSCRIBED
    counts = deliver_batch(services, ids)
    assert counts["suppressed"] == 2 and counts["sent"] == 2
    assert sorted(_by_rcpt(smtp_server)) == ["lead1@example.com", "lead2@example.com"]
    rows = _sends(services, ids)
    assert rows[ids[0]].status == SendStatus.SUPPRESSED and rows[ids[0]].error == "suppressed address"
    assert rows[ids[3]].status == SendStatus.SUPPRESSED and rows[ids[3]].error == "contact not active"


def test_suppression_in_one_letter_case_stops_every_case_variant_at_send_time(services: Any, smtp_server: Any) -> None:
    # Ito@ and ito@ are two contacts (the local part keeps its case) but one mailbox at every provider.
    with services.db.begin() as s:
        setup_account(s)
        version = make_version(s)
        contacts = [Contact(email=e, first_name="Taro") for e in ("Ito@example.jp", "ito@example.jp", "sato@example.jp")]
        s.add_all(contacts)
        s.flush()
        ids = plan_sends(s, version, contacts)
    with services.db.begin() as s:
        suppress(s, "ito@example.jp", "manual", "asked by phone")  # queued first, suppressed after
    counts = deliver_batch(services, ids)
    assert counts["suppressed"] == 2 and counts["sent"] == 1
    assert sorted(_by_rcpt(smtp_server)) == ["sato@example.jp"]
    rows = _sends(services, ids)
    assert [rows[i].status for i in ids] == [SendStatus.SUPPRESSED, SendStatus.SUPPRESSED, SendStatus.SENT]


def test_delivering_the_same_batch_twice_sends_each_mail_once(services: Any, smtp_server: Any) -> None:
    _, _, ids = standard_setup(services, count=60)
    first = deliver_batch(services, ids)
    second = deliver_batch(services, ids + ids)
    assert first["sent"] == 60 and second.get("sent", 0) == 0 and second["skipped"] == 60
    got = _by_rcpt(smtp_server)
    assert len(got) == 60 and all(len(v) == 1 for v in got.values())


def test_concurrent_workers_on_the_same_ids_send_each_mail_once(services: Any, smtp_server: Any) -> None:
    _, _, ids = standard_setup(services, count=120)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            deliver_batch(services, ids)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    got = _by_rcpt(smtp_server)
    assert len(got) == 120 and all(len(v) == 1 for v in got.values())


def test_stale_claim_is_redelivered_and_flagged_fresh_claim_is_left_alone(services: Any, smtp_server: Any) -> None:
    _, _, ids = standard_setup(services, count=3)
    long_ago = now_utc() - timedelta(seconds=services.settings.send_lease_seconds + 60)
    with services.db.begin() as s:
        s.get(Send, ids[0]).status = SendStatus.SENDING
        s.get(Send, ids[0]).claimed_at = long_ago  # a worker died with it in flight
        s.get(Send, ids[1]).status = SendStatus.SENDING
        s.get(Send, ids[1]).claimed_at = now_utc()  # another worker is on it right now
    counts = deliver_batch(services, ids)
    assert counts["sent"] == 2 and counts["skipped"] == 1
    rows = _sends(services, ids)
    assert rows[ids[0]].status == SendStatus.SENT and rows[ids[0]].possible_duplicate
    assert rows[ids[1]].status == SendStatus.SENDING
    assert rows[ids[2]].status == SendStatus.SENT and not rows[ids[2]].possible_duplicate
    assert sorted(_by_rcpt(smtp_server)) == ["lead0@example.com", "lead2@example.com"]


def test_requeue_stale_enqueues_forgotten_sends(app: Any, services: Any, smtp_server: Any) -> None:
    _, _, ids = standard_setup(services, count=4)
    old = now_utc() - timedelta(seconds=services.settings.send_lease_seconds + 5)
    with services.db.begin() as s:
        s.get(Send, ids[0]).status = SendStatus.SENDING
        s.get(Send, ids[0]).claimed_at = old
        s.get(Send, ids[1]).enqueued_at = old  # enqueued long ago, the job was lost with Redis
        s.get(Send, ids[2]).enqueued_at = now_utc()  # its job is still on its way
        # ids[3]: never enqueued: the scheduler's enqueue_planned owns those
    assert sending.requeue_stale(services) == 2
    run_jobs(app)
    assert sorted(_by_rcpt(smtp_server)) == ["lead0@example.com", "lead1@example.com"]
    assert sending.requeue_stale(services) == 0


def test_test_send_prefixes_subject_and_writes_no_send_row(services: Any, smtp_server: Any) -> None:
    with services.db.begin() as s:
        setup_account(s)
        version = make_version(s, subject="資料のご案内 {{ contact.first_name }}")
        [contact] = make_contacts(s, 1, first_name="花子")
        version_id, contact_id = version.id, contact.id
    send_test_email(services, version_id, "reviewer@acme.test", contact_id)
    [mail] = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["reviewer@acme.test"]
    assert mail.message["Subject"] == "[TEST] 資料のご案内 花子"
    html = mail.message.get_body(("html",)).get_content()
    assert "https://example.com/guide.pdf" in html  # test mails link straight to the destination
    with services.db.begin() as s:
        assert s.scalars(select(Send)).all() == []
        assert s.scalar(select(Link).limit(1)) is not None
    with pytest.raises(ValueError):
        send_test_email(services, version_id, "not an address\r\nBcc: x@y.z")
    smtp_server.handler.rcpt_codes["bounce@acme.test"] = "550 no such user"
    with pytest.raises(mailer.SMTPPermanentError, match="550"):
        send_test_email(services, version_id, "bounce@acme.test")


def test_rate_limiter_reserves_slots_in_order(redis_conn: Any) -> None:
    limiter = RateLimiter(redis_conn, "test-server:25", per_second=10)
    assert limiter.reserve(10) == 0.0
    second = limiter.reserve(10)  # the first ten take one second of slots
    assert 0.9 <= second <= 1.0
    other = RateLimiter(redis_conn, "test-server:25", per_second=10)  # another worker, same server
    assert 1.9 <= other.reserve(1) <= 2.0
    assert RateLimiter(redis_conn, "other-server:25", per_second=10).reserve(5) == 0.0


def test_rate_limit_is_shared_by_two_workers(app_overrides: dict[str, Any], redis_conn: Any, smtp_server: Any) -> None:
    from tests.conftest import truncate_all
    from wsgi import create_app

    apps = [create_app({**app_overrides, "rate_limit_per_second": 20}) for _ in range(2)]
    svcs = [a.extensions["nurture"] for a in apps]
    truncate_all(svcs[0].db)
    try:
        _, _, ids = standard_setup(svcs[0], count=30)
        started = time.monotonic()
        threads = [threading.Thread(target=deliver_batch, args=(svc, part))
                   for svc, part in zip(svcs, (ids[:15], ids[15:]), strict=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
    finally:
        for svc in svcs:
            svc.db.dispose()
    assert len(smtp_server.wait_for(30)) == 30
    # 30 mails at 20/s shared: the last group of 5 may start at 1.25 s at the earliest, whoever sends it.
    assert elapsed >= 1.2


def test_requeue_stale_leaves_a_backlog_alone_until_it_is_far_too_old(app: Any, services: Any, smtp_server: Any) -> None:
    _, _, ids = standard_setup(services, count=3)
    lease = services.settings.send_lease_seconds
    with services.db.begin() as s:
        s.get(Send, ids[0]).enqueued_at = now_utc() - timedelta(seconds=lease + 5)  # its job may be waiting
        s.get(Send, ids[1]).enqueued_at = now_utc() - timedelta(seconds=sending.QUEUED_FORGOTTEN_LEASES * lease + 5)
        s.get(Send, ids[2]).enqueued_at = now_utc()
    queueing.enqueue_deliveries(services.queue, [ids[0]], batch_size=200)  # a backlog: the queue is not empty
    assert sending.requeue_stale(services) == 1
    run_jobs(app)
    got = _by_rcpt(smtp_server)
    assert sorted(got) == ["lead0@example.com", "lead1@example.com"] and all(len(v) == 1 for v in got.values())


def _restart(server: Any, handler: Any) -> None:
    """Stop the SMTP server (closing every connection) and start a new one on the same port."""
    from aiosmtpd.controller import Controller

    server.controller.stop()
    server.controller = Controller(handler, hostname="127.0.0.1", port=server.port)
    server.controller.start()


class _DropAfterDataHandler:
    """Takes the message, then drops the connection before replying, for the addresses in `drop`."""

    def __init__(self, inner: Any, drop: set[str]) -> None:
        self.inner, self.drop = inner, drop

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = await self.inner.handle_DATA(server, session, envelope)
        if self.drop & set(envelope.rcpt_tos):
            self.drop -= set(envelope.rcpt_tos)
            server.transport.abort()  # the server kept the mail, the client never hears "250"
        return reply


def test_connection_lost_after_the_body_is_retried_and_flagged(app: Any, services: Any, smtp_server: Any) -> None:
    _, _, ids = standard_setup(services, count=5)
    _restart(smtp_server, _DropAfterDataHandler(smtp_server.handler, {"lead2@example.com"}))
    with pytest.raises(DeliveryDeferred):
        deliver_batch(services, ids)
    rows = _sends(services, ids)
    assert rows[ids[2]].status == SendStatus.QUEUED and rows[ids[2]].possible_duplicate
    deliver_batch(services, ids)  # what RQ's retry does
    rows = _sends(services, ids)
    assert all(r.status == SendStatus.SENT for r in rows.values())
    got = _by_rcpt(smtp_server)
    assert sorted(got) == [f"lead{i}@example.com" for i in range(5)]
    # The one duplicate is the mail whose reply was lost, and the ledger says so.
    assert [e for e, v in got.items() if len(v) > 1] == ["lead2@example.com"]
    assert [i for i, r in rows.items() if r.possible_duplicate] == [ids[2]]


def test_pooled_connections_closed_by_the_server_are_replaced_silently(services: Any, smtp_server: Any) -> None:
    _, _, ids = standard_setup(services, count=20)
    assert deliver_batch(services, ids[:10])["sent"] == 10
    # The server restarts (or times idle clients out): every pooled connection is now dead.
    _restart(smtp_server, smtp_server.handler)
    assert deliver_batch(services, ids[10:])["sent"] == 10
    assert len(_by_rcpt(smtp_server)) == 20
    assert not any(r.possible_duplicate for r in _sends(services, ids).values())


def test_smtp_login_when_configured(app_overrides: dict[str, Any], redis_conn: Any, smtp_server: Any) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    from tests.conftest import truncate_all
    from wsgi import create_app

    logins: list[tuple[str, str]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        logins.append((auth_data.login.decode(), mechanism))
        return AuthResult(success=auth_data.password == b"s3cret pass", handled=False)

    smtp_server.controller.stop()
    smtp_server.controller = Controller(smtp_server.handler, hostname="127.0.0.1", port=smtp_server.port,
                                        authenticator=authenticator, auth_require_tls=False)
    smtp_server.controller.start()
    for password, works in (("wrong", False), ("s3cret pass", True)):
        app = create_app({**app_overrides, "smtp_username": "nurture", "smtp_password": password})
        svc = app.extensions["nurture"]
        truncate_all(svc.db)
        try:
            _, _, ids = standard_setup(svc, count=3)
            if works:
                assert deliver_batch(svc, ids)["sent"] == 3
            else:
                with pytest.raises(DeliveryDeferred, match="authentication failed"):
                    deliver_batch(svc, ids)
                assert all(r.status == SendStatus.QUEUED for r in _sends(svc, ids).values())
        finally:
            svc.db.dispose()
    assert ("nurture", "PLAIN") in logins
    assert len(_by_rcpt(smtp_server)) == 3
