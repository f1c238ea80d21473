"""Hand-over deliveries on real parts: a local HTTP server receives the signed webhook (first answer 500,
the retry succeeds), the sales email goes through the real SMTP path, RQ runs the jobs."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
from dataclasses import replace
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from campaigns.db import now_utc
from campaigns.delivery.mime import message_id
from campaigns.models import DeliveryState, Event, WebhookDelivery
from campaigns.scoring import engine, handover, rules, triggers
from tests.conftest import run_jobs
from tests.factories import make_contact


class Receiver:
    """A real HTTP server on 127.0.0.1 that records requests and answers the queued status codes."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.requests: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append({"headers": dict(self.headers), "body": body, "path": self.path})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                reply = b'{"ok": true}' if status < 300 else b"upstream exploded"
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/nurture"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def _hot_lead(services: Any, session: Any, **trigger: Any) -> tuple[Any, Any]:
    s = rules.get_settings(session)
    s.half_life_days, s.warm_at, s.hot_at, s.mql_when_hot = 0, 10, 30, True
    rules.create_rule(session, {"name": "Demo request", "kind": "custom_event", "event_name": "demo_requested",
                                  "points": 40})
    created = triggers.create_trigger(session, {"name": "MQL hand-over", "when": "stage", "stage": "mql", **trigger})
    contact = make_contact(session, email="hanako@client.co.jp", last_name="Sato", company="Client KK")
    session.add(Event(contact_id=contact.id, name="demo_requested", properties={}))
    session.commit()
    return created, contact


def test_signed_webhook_retried_after_a_500_with_the_same_delivery_id(app: Any, services: Any, session: Any) -> None:
    with Receiver([500, 200]) as receiver:
        trigger, contact = _hot_lead(services, session, action="webhook", webhook_url=receiver.url)
        secret = trigger.webhook_secret
        now = now_utc()
        with app.app_context():
            counts = engine.run_scoring(services, now=now)
        assert counts["deliveries_enqueued"] == 1
        assert run_jobs(app) == 1
        assert len(receiver.requests) == 1
        session.expire_all()
        delivery = session.scalars(select(WebhookDelivery)).one()
        assert (delivery.state, delivery.attempts, delivery.last_status) == (DeliveryState.RETRYING, 1, 500)
        assert delivery.response_excerpt == "upstream exploded"
        attempted_at = datetime.fromisoformat(delivery.history[0]["at"])
        assert delivery.next_retry_at == attempted_at + handover.backoff(1)

        # Not due yet: the next step enqueues nothing; at the retry time it goes again and succeeds.
        with app.app_context():
            assert "deliveries_enqueued" not in engine.run_scoring(services, now=now + timedelta(seconds=5))
            assert engine.run_scoring(services, now=delivery.next_retry_at)["deliveries_enqueued"] == 1
        assert run_jobs(app) == 1
        assert len(receiver.requests) == 2

    session.expire_all()
    delivery = session.scalars(select(WebhookDelivery)).one()
    assert (delivery.state, delivery.attempts, delivery.last_status) == (DeliveryState.DELIVERED, 2, 200)
    assert [h["status"] for h in delivery.history] == [500, 200]
    first, second = receiver.requests
    assert first["body"] == second["body"]
    assert first["headers"]["Nurture-Delivery"] == second["headers"]["Nurture-Delivery"] == delivery.delivery_id
    for request in receiver.requests:
        header = request["headers"]["Nurture-Signature"]
        parts = dict(item.split("=", 1) for item in header.split(","))
        expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + request["body"], hashlib.sha256).hexdigest()
        assert hmac.compare_digest(parts["v1"], expected)
        assert handover.verify(secret, header, request["body"])
        assert not handover.verify("whsec_wrong", header, request["body"])
        assert not handover.verify(secret, header, request["body"] + b" ")
    payload = json.loads(first["body"])
    assert payload["id"] == delivery.delivery_id
    assert payload["type"] == "contact.stage_changed"
    assert payload["stage_change"]["to"] == "mql" and payload["stage_change"]["from"] == "hot"
    assert payload["contact"]["email"] == contact.email and payload["contact"]["score"] == 40


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_webhook_to_a_private_address_is_refused_without_a_request(
    app: Any, services: Any, session: Any, monkeypatch: Any, host: str,
) -> None:
    # The default settings: no private network allowed. A literal loopback address and a name that
    # resolves to one are both refused before connecting: nothing reaches the server, and the log says
    # only that the receiver could not be reached (tests/scoring/test_webhook_addresses.py).
    monkeypatch.setattr(services, "settings", replace(services.settings, webhook_allowed_networks=""))
    with Receiver([]) as receiver:
        url = receiver.url.replace("127.0.0.1", host)
        _hot_lead(services, session, action="webhook", webhook_url=url)
        with app.app_context():
            assert engine.run_scoring(services, now=now_utc())["deliveries_enqueued"] == 1
        assert run_jobs(app) == 1
        assert receiver.requests == []
    session.expire_all()
    delivery = session.scalars(select(WebhookDelivery)).one()
    assert (delivery.state, delivery.attempts, delivery.last_status) == (DeliveryState.RETRYING, 1, None)
    assert delivery.last_error == handover.UNREACHABLE


@pytest.mark.parametrize(("target", "reaches_proxy"), [
    ("http://10.1.2.3/hooks/nurture", False),
    ("http://localhost:8080/hooks/nurture", False),
    ("http://2130706433/hooks/nurture", False),
    ("http://93.184.215.14/hooks/nurture", True),
])
def test_behind_an_egress_proxy_the_target_is_checked_not_the_proxy(
    app: Any, services: Any, session: Any, monkeypatch: Any, target: str, reaches_proxy: bool,
) -> None:
    # The worker's environment names an HTTP proxy (here a recording server on loopback, which answers
    # 200 itself). The proxy's own address is the operator's choice and is not judged; the target is.
    monkeypatch.setattr(services, "settings", replace(services.settings, webhook_allowed_networks=""))
    with Receiver([]) as proxy:
        for name in ("no_proxy", "NO_PROXY", "http_proxy", "HTTP_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("http_proxy", proxy.url.rsplit("/hooks", 1)[0])
        _hot_lead(services, session, action="webhook", webhook_url=target)
        with app.app_context():
            assert engine.run_scoring(services, now=now_utc())["deliveries_enqueued"] == 1
        assert run_jobs(app) == 1
        assert [r["path"] for r in proxy.requests] == ([target] if reaches_proxy else [])
    session.expire_all()
    delivery = session.scalars(select(WebhookDelivery)).one()
    if reaches_proxy:
        assert (delivery.state, delivery.last_status) == (DeliveryState.DELIVERED, 200)
    else:
        assert (delivery.state, delivery.last_error) == (DeliveryState.RETRYING, handover.UNREACHABLE)


def test_the_address_check_allows_public_and_listed_networks_only() -> None:
    allowed = handover.allowed_networks("10.20.0.0/16, 192.168.5.7")
    for public in ("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "10.20.3.4", "192.168.5.7"):
        handover.check_address(public, allowed)
    for blocked, kind in [("169.254.169.254", "link-local"), ("10.1.2.3", "private"), ("192.168.5.8", "private"),
                          ("127.0.0.1", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"),
                          ("fd00::1", "private"), ("0.0.0.0", "unspecified"), ("224.0.0.1", "multicast"),
                          ("100.64.0.1", "non-public")]:
        with pytest.raises(handover.BlockedAddress, match=f"is a {kind} address"):
            handover.check_address(blocked, allowed)
    with pytest.raises(ValueError, match="'10.0.0.0/33' is not a network"):
        handover.allowed_networks("10.0.0.0/33")


def test_webhook_that_never_answers_gives_up_after_the_last_attempt(app: Any, services: Any, session: Any) -> None:
    with Receiver([]) as receiver:
        url = receiver.url
    # The server is closed now: connection refused on every attempt.
    _hot_lead(services, session, action="webhook", webhook_url=url)
    now = now_utc()
    with app.app_context():
        engine.run_scoring(services, now=now)
    for attempt in range(1, handover.MAX_ATTEMPTS + 1):
        assert run_jobs(app) == 1
        session.expire_all()
        delivery = session.scalars(select(WebhookDelivery)).one()
        assert delivery.attempts == attempt and delivery.last_status is None
        assert "no answer" in delivery.last_error
        if attempt < handover.MAX_ATTEMPTS:
            assert delivery.state == DeliveryState.RETRYING
            with app.app_context():
                handover.enqueue_due(services, delivery.next_retry_at)
    assert delivery.state == DeliveryState.FAILED and delivery.next_retry_at is None
    # The retry button starts a new attempt.
    handover.retry_now(session, delivery)
    session.commit()
    assert handover.enqueue_due(services) == 1


def test_backoff_doubles_and_is_capped() -> None:
    assert [handover.backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert handover.backoff(30).total_seconds() == handover.BACKOFF_MAX


def test_sales_email_received_over_real_smtp(app: Any, services: Any, session: Any, smtp_server: Any) -> None:
    _hot_lead(services, session, action="email", email_to="sales@acme.test")
    with app.app_context():
        engine.run_scoring(services)
    assert run_jobs(app) == 1
    mails = smtp_server.wait_for(1)
    assert len(mails) == 1
    mail = mails[0]
    assert mail.rcpt_tos == ["sales@acme.test"]
    message = mail.message
    assert "MQL" in message["Subject"] and "Sato" in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "hanako@client.co.jp" in text and "Client KK" in text and "Moved from Hot to MQL" in text
    assert "http://nurture.test/contacts/" in html
    session.expire_all()
    delivery = session.scalars(select(WebhookDelivery)).one()
    assert (delivery.channel, delivery.state, delivery.attempts) == ("email", DeliveryState.DELIVERED, 1)
    assert message["X-Nurture-Delivery"] == delivery.delivery_id


def test_sales_email_escapes_contact_fields() -> None:
    payload = {"contact": {"id": 1, "email": "x@example.jp", "first_name": "<script>alert(1)</script>"},
               "trigger": {"name": "t"}, "stage_change": {"from": "hot", "to": "mql", "cause": "rule", "detail": ""}}
    _, _, html = handover.render_sales_email(payload, "http://nurture.test")
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_sales_email_writes_the_lead_s_name_as_its_language_does() -> None:
    def subject(first: str, last: str) -> str:
        payload = {"contact": {"id": 1, "email": "x@example.jp", "first_name": first, "last_name": last},
                   "trigger": {"name": "t"}, "stage_change": {"from": "hot", "to": "mql", "cause": "rule"}}
        return handover.render_sales_email(payload, "http://nurture.test")[0]

    assert subject("太郎", "山田").startswith("[Nurture] 山田 太郎:")
    assert subject("Emily", "Smith").startswith("[Nurture] Emily Smith:")


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "javascript:alert(1)", "example.com"])
def test_webhook_urls_must_be_http(session: Any, url: str) -> None:
    with pytest.raises(rules.ScoringError):
        triggers.create_trigger(session, {"name": "t", "when": "stage", "stage": "sql", "action": "webhook",
                                         "webhook_url": url})


def test_sales_email_follows_the_sender_rules_of_every_mail(app: Any, services: Any, session: Any, smtp_server: Any) -> None:
    # The hand-over mail is built by the same sender rule as campaign mail (delivery.mime.sender_identity):
    # the account's From and Reply-To, and our Message-ID form; before, it worked out From alone and had
    # no Reply-To.
    from campaigns.users import get_account

    account = get_account(session)
    account.from_name, account.from_email, account.reply_to = "Acme 営業", "marketing@acme.test", "reply@acme.test"
    session.commit()
    _hot_lead(services, session, action="email", email_to="sales@acme.test")
    with app.app_context():
        engine.run_scoring(services)
    assert run_jobs(app) == 1
    [mail] = smtp_server.wait_for(1)
    message = mail.message
    assert mail.mail_from == "marketing@acme.test"
    assert message["From"].addresses[0].addr_spec == "marketing@acme.test"
    assert message["From"].addresses[0].display_name == "Acme 営業"
    assert message["Reply-To"].addresses[0].addr_spec == "reply@acme.test"
    session.expire_all()
    delivery = session.scalars(select(WebhookDelivery)).one()
    # globally unique: the delivery id, this installation's token, the sender's domain; a retry repeats it
    assert message["Message-ID"] == message_id(services, account, "handover", delivery.delivery_id)
    assert re.fullmatch(rf"<handover\.{delivery.delivery_id}\.[0-9a-f]{{12}}@acme\.test>", message["Message-ID"])


def test_sales_email_with_an_invalid_sender_address_fails_with_the_reason(app: Any, services: Any, session: Any,
                                                                         smtp_server: Any) -> None:
    from campaigns.users import get_account

    get_account(session).from_email = "not an address"
    session.commit()
    _hot_lead(services, session, action="email", email_to="sales@acme.test")
    with app.app_context():
        engine.run_scoring(services)
    run_jobs(app)
    session.expire_all()
    delivery = session.scalars(select(WebhookDelivery)).one()
    assert delivery.state == DeliveryState.FAILED  # not retried: the address must be fixed in Settings
    assert "sender address" in delivery.response_excerpt
    assert smtp_server.messages == []
