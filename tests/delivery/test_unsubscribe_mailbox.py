"""The mailto form of List-Unsubscribe, end to end: with UNSUBSCRIBE_MAILBOX set, campaign mail advertises
mailto:<that mailbox>?subject=unsubscribe%20<token> beside the HTTPS one-click URL; the request a mail
client sends there, delivered into a maildir, is read by the real `nurture process-bounces` command and
unsubscribes that contact (and nobody else). Without the setting only HTTPS is advertised
(tests/delivery/test_sending.py)."""

from __future__ import annotations

import mailbox
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from campaigns.cli import main as cli
from campaigns.delivery.sending import deliver_batch
from campaigns.models import Contact, ContactStatus, Event, Suppression
from tests.conftest import TEST_REDIS_URL
from tests.sending_helpers import standard_setup

MAILBOX = "unsubscribe@acme.test"


@pytest.fixture
def app_overrides(app_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**app_overrides, "unsubscribe_mailbox": MAILBOX}


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, app_overrides: dict[str, Any]) -> CliRunner:
    """The real `nurture` command, configured through the environment like in production."""
    for key in ("database_url", "smtp_host", "smtp_port", "base_url", "secret_key", "unsubscribe_mailbox"):
        monkeypatch.setenv(key.upper(), str(app_overrides[key]))
    monkeypatch.setenv("REDIS_URL", TEST_REDIS_URL)
    return CliRunner()


def _client_request(mailto: str, sender: str, subject_in_body: bool = False) -> bytes:
    """The mail a mail client sends for a mailto URL (RFC 6068): its address and subject; some clients put
    the subject in the text instead."""
    url = urlsplit(mailto)
    subject = parse_qs(url.query)["subject"][0]
    msg = EmailMessage()
    msg["From"], msg["To"] = sender, url.path
    msg["Subject"] = "Unsubscribe" if subject_in_body else subject
    msg.set_content(f"{subject}\n\nThis is an unsubscribe request sent by the mail client." if subject_in_body
                    else "This is an unsubscribe request sent by the mail client.")
    return msg.as_bytes()


def _state(services: Any, email: str) -> tuple[ContactStatus, str | None, list[dict[str, Any]]]:
    with services.db.begin() as s:
        contact = s.scalars(select(Contact).where(Contact.email == email)).one()
        reason = s.scalar(select(Suppression.reason).where(Suppression.email == email))
        events = [dict(p or {}) for p in s.scalars(
            select(Event.properties).where(Event.contact_id == contact.id, Event.name == "unsubscribed"))]
        return contact.status, reason, events


def test_a_mailto_unsubscribe_request_in_the_mailbox_unsubscribes_its_contact(
        services: Any, smtp_server: Any, cli_env: CliRunner, tmp_path: Path) -> None:
    _, _, ids = standard_setup(services, count=3)
    assert deliver_batch(services, ids)["sent"] == 3
    mailto: dict[str, str] = {}
    for mail in smtp_server.wait_for(3):
        https, target = [u.strip().strip("<>") for u in mail.message["List-Unsubscribe"].split(",")]
        assert https.startswith("http://nurture.test/t/u/")
        assert target.startswith(f"mailto:{MAILBOX}?subject=unsubscribe%20") and target.endswith(https.rsplit("/", 1)[1])
        mailto[mail.rcpt_tos[0]] = target
    box = mailbox.Maildir(tmp_path / "unsubscribe", create=True)
    box.add(_client_request(mailto["lead0@example.com"], "lead0@example.com"))
    box.add(_client_request(mailto["lead1@example.com"], "lead1@example.com", subject_in_body=True))
    tampered = mailto["lead2@example.com"][:-3] + ("AAA" if not mailto["lead2@example.com"].endswith("AAA") else "BBB")
    box.add(_client_request(tampered, "attacker@example.net"))
    box.add(b"From: lead2@example.com\r\nSubject: out of office\r\n\r\nI am away.\r\n")

    result = cli_env.invoke(cli, ["process-bounces", "--delete", str(tmp_path / "unsubscribe")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.output.count("unsubscribe contact") == 2
    assert "an unsubscribe request with an invalid token, left alone" in result.output
    for email in ("lead0@example.com", "lead1@example.com"):
        status, reason, events = _state(services, email)
        assert (status, reason) == (ContactStatus.UNSUBSCRIBED, "unsubscribed")
        assert [e["method"] for e in events] == ["mailto"] and events[0]["send_id"] in ids
    assert _state(services, "lead2@example.com") == (ContactStatus.ACTIVE, None, [])
    assert len(box) == 2  # the two requests done are deleted; the tampered one and the auto-reply stay

    # a client that sends the request twice: the second changes nothing
    box.add(_client_request(mailto["lead0@example.com"], "lead0@example.com"))
    again = cli_env.invoke(cli, ["process-bounces", str(tmp_path / "unsubscribe")], catch_exceptions=False)
    assert "(already unsubscribed)" in again.output
    assert len(_state(services, "lead0@example.com")[2]) == 1
