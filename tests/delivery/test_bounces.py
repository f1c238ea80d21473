"""Bounces and complaints after delivery: RFC 3464 DSNs and RFC 5965 ARF reports read by the real
`nurture process-bounces` command from a maildir / mbox / file, and the signed provider webhook. Mails are
first delivered over real SMTP; the reports quote the received headers, as a real bounce does."""

from __future__ import annotations

import json
import mailbox
import re
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from campaigns.cli import main as cli
from campaigns.delivery import bounces
from campaigns.delivery.bounces import BounceKind, parse_bounce_message
from campaigns.delivery.mime import send_id_from_message_id
from campaigns.delivery.sending import deliver_batch
from campaigns.insights.reports import broadcast_report
from campaigns.models import (
    Broadcast,
    BroadcastStatus,
    Contact,
    ContactStatus,
    Event,
    Send,
    SendStatus,
    Suppression,
)
from tests.conftest import TEST_REDIS_URL
from tests.factories import make_contacts
from tests.sending_helpers import make_version, setup_account

SECRET = "whsec-test-0123456789"


@pytest.fixture
def app_overrides(app_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**app_overrides, "bounce_webhook_secret": SECRET, "complaint_pause_rate": 0.1,
            "complaint_pause_min_delivered": 10}


def _broadcast_sent(services: Any, smtp_server: Any, count: int, queued_extra: int = 0) -> tuple[int, list[Any]]:
    """A sending broadcast with `count` mails delivered over SMTP and `queued_extra` still queued."""
    with services.db.begin() as s:
        setup_account(s)
        version = make_version(s)
        contacts = make_contacts(s, count + queued_extra)
        broadcast = Broadcast(name="Launch", template_id=version.template_id, status=BroadcastStatus.SENDING, options={})
        s.add(broadcast)
        s.flush()
        sends = [Send(contact_id=c.id, broadcast_id=broadcast.id, template_version_id=version.id,
                      status=SendStatus.QUEUED) for c in contacts]
        s.add_all(sends)
        s.flush()
        ids, broadcast_id = [x.id for x in sends], broadcast.id
    assert deliver_batch(services, ids[:count])["sent"] == count
    return broadcast_id, smtp_server.wait_for(count)


def _headers_of(raw: bytes) -> str:
    return raw.split(b"\r\n\r\n", 1)[0].decode("ascii")


def make_dsn(original: bytes, recipient: str, action: str = "failed", status: str = "5.1.1",
             diagnostic: str = "smtp; 550 5.1.1 user unknown") -> bytes:
    """A bounce as Postfix writes it: multipart/report with message/delivery-status (RFC 3464)."""
    return (
        "From: MAILER-DAEMON@mx.example.com\r\nTo: bounces@acme.test\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="BOUNDARY"\r\n\r\n'
        "--BOUNDARY\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you that your message could not\r\n"
        "be delivered. <script>alert(1)</script>\r\n\r\n"
        "--BOUNDARY\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.com\r\nArrival-Date: Sun, 22 Nov 2026 09:00:00 +0000\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nOriginal-Recipient: rfc822;{recipient}\r\n"
        f"Action: {action}\r\nStatus: {status}\r\nDiagnostic-Code: {diagnostic}\r\n\r\n"
        "--BOUNDARY\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"{_headers_of(original)}\r\n\r\n"
        "--BOUNDARY--\r\n"
    ).encode()


def make_arf(original: bytes, recipient: str, feedback: str = "abuse") -> bytes:
    """A complaint as a feedback loop sends it: multipart/report; report-type=feedback-report (RFC 5965)."""
    return (
        "From: fbl@isp.example\r\nTo: fbl@acme.test\r\nSubject: FW: abuse report\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="ARF"\r\n\r\n'
        "--ARF\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n\r\n"
        "--ARF\r\nContent-Type: message/feedback-report\r\n\r\n"
        f"Feedback-Type: {feedback}\r\nUser-Agent: SomeISP-FBL/1.0\r\nVersion: 1\r\n"
        f"Original-Mail-From: <marketing@acme.test>\r\nOriginal-Rcpt-To: <{recipient}>\r\n"
        "Arrival-Date: Sun, 22 Nov 2026 09:00:00 +0000\r\n\r\n"
        "--ARF\r\nContent-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n"
        f"{original.decode('utf-8', 'replace')}\r\n"
        "--ARF--\r\n"
    ).encode()


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, app_overrides: dict[str, Any]) -> CliRunner:
    """The real `nurture` command, configured through the environment like in production."""
    for key in ("database_url", "smtp_host", "smtp_port", "base_url", "secret_key", "bounce_webhook_secret",
                "complaint_pause_rate", "complaint_pause_min_delivered"):
        monkeypatch.setenv(key.upper(), str(app_overrides[key]))
    monkeypatch.setenv("REDIS_URL", TEST_REDIS_URL)
    return CliRunner()


def _send_id_of(services: Any, message_id: str) -> int | None:
    """The send our Message-ID names, read and checked as the bounce matcher does."""
    with services.db.begin() as s:
        return send_id_from_message_id(message_id, services.settings.secret_key,
                                       lambda i: s.scalar(select(Send.created_at).where(Send.id == i)))


def _state(services: Any, email: str) -> tuple[ContactStatus, str | None, list[str]]:
    with services.db.begin() as s:
        contact = s.scalars(select(Contact).where(Contact.email == email)).one()
        reason = s.scalar(select(Suppression.reason).where(Suppression.email == email))
        events = list(s.scalars(select(Event.name).where(Event.contact_id == contact.id, Event.source == "bounce")))
        return contact.status, reason, events


def test_dsn_hard_bounce_from_a_maildir_suppresses_and_counts_as_bounced(
        services: Any, smtp_server: Any, cli_env: CliRunner, tmp_path: Path) -> None:
    broadcast_id, mails = _broadcast_sent(services, smtp_server, 3)
    victim = mails[1]
    box = mailbox.Maildir(tmp_path / "bounces", create=True)
    box.add(make_dsn(victim.raw, victim.rcpt_tos[0]))
    box.add(b"From: someone@example.com\r\nSubject: out of office\r\n\r\nI am away.\r\n")  # not a report
    result = cli_env.invoke(cli, ["process-bounces", str(tmp_path / "bounces")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "matched: 1" in result.output and "suppressed: 1" in result.output
    status, reason, events = _state(services, victim.rcpt_tos[0])
    assert (status, reason, events) == (ContactStatus.BOUNCED, "hard_bounce", ["bounced"])
    send_id = _send_id_of(services, victim.message["Message-ID"])
    with services.db.begin() as s:
        send = s.get(Send, send_id)
        assert send.status == SendStatus.FAILED and "5.1.1" in send.error
        report = broadcast_report(s, broadcast_id)
    assert report["summary"].bounced == 1 and report["summary"].delivered == 2
    # the same bounce read again (a second copy in the mailbox) changes nothing; --delete empties the maildir
    again = cli_env.invoke(cli, ["process-bounces", "--delete", str(tmp_path / "bounces")], catch_exceptions=False)
    assert "duplicates: 1" in again.output
    assert _state(services, victim.rcpt_tos[0])[2] == ["bounced"]
    left = [p.name for p in (tmp_path / "bounces" / "new").iterdir()]
    assert len(left) == 1  # the out-of-office reply is not a report: left for a person to read


def test_arf_complaint_in_an_mbox_suppresses_and_shows_in_the_report(
        services: Any, smtp_server: Any, cli_env: CliRunner, tmp_path: Path) -> None:
    broadcast_id, mails = _broadcast_sent(services, smtp_server, 2)
    path = tmp_path / "fbl.mbox"
    box = mailbox.mbox(path)
    box.add(make_arf(mails[0].raw, mails[0].rcpt_tos[0]))
    box.flush()
    result = cli_env.invoke(cli, ["process-bounces", str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert _state(services, mails[0].rcpt_tos[0]) == (ContactStatus.COMPLAINED, "complaint", ["complained"])
    with services.db.begin() as s:
        report = broadcast_report(s, broadcast_id)
        # a complaint is not a bounce: the send stays delivered
        assert report["summary"].complaints == 1 and report["summary"].delivered == 2
    assert _state(services, mails[1].rcpt_tos[0])[0] == ContactStatus.ACTIVE


def test_parsing_dsn_kinds_and_arf_fields(services: Any, smtp_server: Any) -> None:
    _, mails = _broadcast_sent(services, smtp_server, 1)
    raw, rcpt = mails[0].raw, mails[0].rcpt_tos[0]
    message_id = mails[0].message["Message-ID"]
    hard = parse_bounce_message(make_dsn(raw, rcpt))
    assert [(r.kind, r.recipient, r.message_id, r.status) for r in hard] == [(BounceKind.HARD, rcpt, message_id, "5.1.1")]
    full = parse_bounce_message(make_dsn(raw, rcpt, status="5.2.2", diagnostic="smtp; 552 mailbox full"))
    assert full[0].kind is BounceKind.SOFT
    transient = parse_bounce_message(make_dsn(raw, rcpt, status="4.4.7", diagnostic="smtp; 451 try later"))
    assert transient[0].kind is BounceKind.SOFT
    assert parse_bounce_message(make_dsn(raw, rcpt, action="delayed", status="4.4.1")) == []  # a warning only
    assert parse_bounce_message(make_dsn(raw, rcpt, action="delivered", status="2.0.0")) == []
    arf = parse_bounce_message(make_arf(raw, rcpt))
    assert [(r.kind, r.recipient, r.message_id) for r in arf] == [(BounceKind.COMPLAINT, rcpt, message_id)]
    assert parse_bounce_message(make_arf(raw, rcpt, feedback="not-spam")) == []
    assert parse_bounce_message(raw) == []  # an ordinary mail
    assert parse_bounce_message(b"\x00\xff garbage") == []


def _deliver_more(services: Any, smtp_server: Any, email: str, count: int) -> list[Any]:
    """`count` more mails to the same contact (sequence-style sends), delivered over SMTP."""
    with services.db.begin() as s:
        version = make_version(s, name=f"t{time.monotonic_ns()}")
        contact = s.scalars(select(Contact).where(Contact.email == email)).one()
        sends = [Send(contact_id=contact.id, template_version_id=version.id, status=SendStatus.QUEUED)
                 for _ in range(count)]
        s.add_all(sends)
        s.flush()
        ids = [x.id for x in sends]
    before = len(smtp_server.messages)
    deliver_batch(services, ids)
    return smtp_server.wait_for(before + count)[before:]


def test_three_soft_bounces_of_different_mails_suppress_unless_the_contact_engaged_between(
        services: Any, smtp_server: Any, cli_env: CliRunner, tmp_path: Path) -> None:
    _, mails = _broadcast_sent(services, smtp_server, 2)
    a, b = mails[0].rcpt_tos[0], mails[1].rcpt_tos[0]
    more_a = [mails[0], *_deliver_more(services, smtp_server, a, 2)]
    more_b = [mails[1], *_deliver_more(services, smtp_server, b, 2)]

    def soft(mail: Any, rcpt: str, name: str) -> Path:
        path = tmp_path / name
        path.write_bytes(make_dsn(mail.raw, rcpt, status="4.2.2", diagnostic="smtp; 452 mailbox full"))
        return path

    # contact A: the same mail bouncing twice counts once; three different mails suppress
    first = soft(more_a[0], a, "a0.eml")
    for path in (first, first, soft(more_a[1], a, "a1.eml")):
        cli_env.invoke(cli, ["process-bounces", str(path)], catch_exceptions=False)
    assert _state(services, a)[:2] == (ContactStatus.ACTIVE, None)
    cli_env.invoke(cli, ["process-bounces", str(soft(more_a[2], a, "a2.eml"))], catch_exceptions=False)
    assert _state(services, a)[:2] == (ContactStatus.BOUNCED, "bounce")

    # contact B: an open between the bounces shows the mailbox works: the streak starts again
    for i in (0, 1):
        cli_env.invoke(cli, ["process-bounces", str(soft(more_b[i], b, f"b{i}.eml"))], catch_exceptions=False)
    from campaigns.db import now_utc
    from campaigns.models import Hit, HitClass, HitKind

    with services.db.begin() as s:
        send_id = _send_id_of(services, more_b[1].message["Message-ID"])
        contact_id = s.get(Send, send_id).contact_id
        s.add(Hit(event_id="open-b", kind=HitKind.OPEN, send_id=send_id, contact_id=contact_id,
                  occurred_at=now_utc(), classification=HitClass.HUMAN))
    cli_env.invoke(cli, ["process-bounces", str(soft(more_b[2], b, "b2.eml"))], catch_exceptions=False)
    assert _state(services, b)[:2] == (ContactStatus.ACTIVE, None)


def _post(client: Any, payload: Any, secret: str = SECRET, timestamp: int | None = None, raw: bytes | None = None) -> Any:
    body = raw if raw is not None else json.dumps(payload).encode()
    return client.post("/webhooks/bounces", data=body, content_type="application/json",
                       headers={"X-Nurture-Signature": bounces.sign_webhook(secret, body, timestamp)})


def test_webhook_requires_a_valid_signature_and_maps_kinds(client: Any, services: Any, smtp_server: Any) -> None:
    _, mails = _broadcast_sent(services, smtp_server, 3)
    events = [
        {"type": "bounce", "bounce_type": "permanent", "email": mails[0].rcpt_tos[0],
         "message_id": mails[0].message["Message-ID"], "status": "5.1.1", "id": "evt-1"},
        {"type": "bounce", "bounce_type": "transient", "email": mails[1].rcpt_tos[0], "status": "4.2.2", "id": "evt-2"},
        {"type": "complaint", "email": mails[2].rcpt_tos[0], "id": "evt-3"},
    ]
    body = json.dumps({"events": events}).encode()
    refused = [
        client.post("/webhooks/bounces", data=body, content_type="application/json"),  # unsigned
        _post(client, None, secret="wrong-secret", raw=body),
        _post(client, None, raw=body, timestamp=int(time.time()) - 3600),  # replayed an hour later
        client.post("/webhooks/bounces", data=body + b" ", content_type="application/json",
                    headers={"X-Nurture-Signature": bounces.sign_webhook(SECRET, body)}),  # body changed
    ]
    for resp in refused:
        assert resp.status_code == 401 and resp.is_json
    assert all(_state(services, m.rcpt_tos[0]) == (ContactStatus.ACTIVE, None, []) for m in mails)

    resp = _post(client, None, raw=body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["matched"] == 3 and resp.get_json()["suppressed"] == 2
    assert _state(services, mails[0].rcpt_tos[0]) == (ContactStatus.BOUNCED, "hard_bounce", ["bounced"])
    assert _state(services, mails[1].rcpt_tos[0]) == (ContactStatus.ACTIVE, None, ["soft_bounced"])
    assert _state(services, mails[2].rcpt_tos[0]) == (ContactStatus.COMPLAINED, "complaint", ["complained"])
    # the provider retries the same notification: nothing is recorded twice
    assert _post(client, None, raw=body).get_json()["duplicates"] == 3


def test_webhook_rejects_bad_payloads_with_a_json_reason(client: Any, services: Any) -> None:
    for payload in ({"events": []}, {"type": "delivered", "email": "a@example.com"}, {"type": "bounce"},
                    {"events": [{"type": "complaint", "email": ["x"]}]}, [1, 2]):
        resp = _post(client, payload)
        assert resp.status_code == 400 and resp.get_json()["error"] == "invalid", payload
    resp = _post(client, None, raw=b"{not json")
    assert resp.status_code == 400 and "Traceback" not in resp.get_data(as_text=True)
    unknown = _post(client, {"type": "complaint", "email": "nobody@example.com"})
    assert unknown.status_code == 200 and unknown.get_json()["matched"] == 0


def test_webhook_does_not_exist_without_a_secret(app_overrides: dict[str, Any], redis_conn: Any) -> None:
    from wsgi import create_app

    app = create_app({**app_overrides, "bounce_webhook_secret": ""})
    body = b'{"type": "complaint", "email": "a@example.com"}'
    resp = app.test_client().post("/webhooks/bounces", data=body, content_type="application/json",
                                  headers={"X-Nurture-Signature": bounces.sign_webhook("", body)})
    assert resp.status_code == 404
    app.extensions["nurture"].db.dispose()


def test_broadcast_pauses_itself_when_complaints_pass_the_rate_and_can_resume(
        client: Any, services: Any, smtp_server: Any) -> None:
    broadcast_id, mails = _broadcast_sent(services, smtp_server, 12, queued_extra=5)

    def complain(mail: Any) -> Any:
        return _post(client, {"type": "complaint", "email": mail.rcpt_tos[0], "message_id": mail.message["Message-ID"]})

    # 1 of 12 delivered (8%) is under the 10% limit
    assert complain(mails[0]).get_json()["paused_broadcasts"] == []
    with services.db.begin() as s:
        assert s.get(Broadcast, broadcast_id).status == BroadcastStatus.SENDING
    # 2 of 12 (17%) is over it: paused, the 5 queued sends held
    assert complain(mails[1]).get_json()["paused_broadcasts"] == [broadcast_id]
    with services.db.begin() as s:
        broadcast = s.get(Broadcast, broadcast_id)
        assert broadcast.status == BroadcastStatus.PAUSED and "complaint rate" in broadcast.options["pause_reason"]
        held = s.scalars(select(Send).where(Send.broadcast_id == broadcast_id, Send.status == SendStatus.CANCELLED)).all()
        assert len(held) == 5 and all(x.error.startswith("broadcast paused") for x in held)
        assert broadcast_report(s, broadcast_id)["summary"].complaints == 2
        held_ids = [x.id for x in held]
    assert deliver_batch(services, held_ids).get("sent", 0) == 0  # a worker holding those ids sends nothing
    assert len(smtp_server.messages) == 12

    with services.db.begin() as s:
        released = bounces.resume_broadcast(s, s.get(Broadcast, broadcast_id))
    assert released == 5
    assert deliver_batch(services, held_ids)["sent"] == 5


def test_no_pause_before_the_minimum_sample(client: Any, services: Any, smtp_server: Any) -> None:
    broadcast_id, mails = _broadcast_sent(services, smtp_server, 4, queued_extra=2)
    for mail in mails[:3]:  # 75% complaints, but only 4 delivered (the minimum is 10)
        _post(client, {"type": "complaint", "email": mail.rcpt_tos[0]})
    with services.db.begin() as s:
        assert s.get(Broadcast, broadcast_id).status == BroadcastStatus.SENDING


def test_a_paused_broadcast_shows_why_and_resumes_from_the_ui(ui: Any, client: Any, services: Any,
                                                              smtp_server: Any) -> None:
    broadcast_id, mails = _broadcast_sent(services, smtp_server, 10, queued_extra=3)
    for mail in mails[:2]:
        _post(client, {"type": "complaint", "email": mail.rcpt_tos[0], "message_id": mail.message["Message-ID"]})
    page = ui.get(f"/broadcasts/{broadcast_id}").get_data(as_text=True)
    assert 'data-testid="pause-reason"' in page and "complaint rate" in page and 'data-testid="resume-form"' in page
    # resuming mails people: it asks first (campaigns/views/confirm.py), then goes ahead with the count it showed
    asked = ui.post(f"/broadcasts/{broadcast_id}/resume", page=f"/broadcasts/{broadcast_id}").get_data(as_text=True)
    with services.db.begin() as s:
        assert s.get(Broadcast, broadcast_id).status == BroadcastStatus.PAUSED  # nothing happens before confirming
    shown = re.search(r'name="confirm_count" value="([^"]*)"', asked)
    confirm = {"confirm_step": "confirmed", "confirm_count": shown.group(1) if shown else ""}
    resp = ui.post(f"/broadcasts/{broadcast_id}/resume", confirm, page=f"/broadcasts/{broadcast_id}",
                   follow_redirects=True)
    assert "3" in resp.get_data(as_text=True)
    with services.db.begin() as s:
        assert s.get(Broadcast, broadcast_id).status == BroadcastStatus.SENDING
        queued = s.scalars(select(Send.id).where(Send.broadcast_id == broadcast_id, Send.status == SendStatus.QUEUED)).all()
    assert len(queued) == 3
