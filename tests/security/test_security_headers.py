"""Header injection: CR, LF and their look-alikes in subjects, display names, merge fields, the account's
sender settings and recipient addresses never add a header, a MIME part or a recipient. Mails are
received over real SMTP and parsed; the envelope recipients are what the server saw."""

from __future__ import annotations

from typing import Any

import pytest

from campaigns.delivery import rendering
from campaigns.delivery.sending import deliver_batch
from campaigns.delivery.system_mail import send_test_email
from campaigns.models import Contact, Send, SendStatus
from campaigns.users import get_account
from tests.sending_helpers import make_version, plan_sends

BREAKS = ["\r\n", "\n", "\r", "\r\n\t", "\n ", "\x85", "\u2028", "\u2029", "\x0b", "\x0c", "\r\n\r\n"]
EXPECTED_HEADERS = {"from", "to", "subject", "date", "message-id", "mime-version", "reply-to", "list-unsubscribe",
                    "list-unsubscribe-post", "content-type"}


def _inject(brk: str) -> str:
    return f"x{brk}Bcc: spy@evil.test{brk}X-Injected: 1{brk}Content-Type: text/html{brk}{brk}<b>body</b>"


def _check(mail: Any, recipient: str) -> None:
    msg = mail.message
    head = mail.raw.split(b"\r\n\r\n", 1)[0]
    names = {k.lower() for k in msg.keys()}
    assert names <= EXPECTED_HEADERS | {"dkim-signature"}, names - EXPECTED_HEADERS
    for name in ("Subject", "To", "From", "Content-Type", "Message-ID"):
        assert len(msg.get_all(name) or []) == 1, name
    assert b"\nBcc:" not in head and b"\nX-Injected:" not in head
    assert mail.rcpt_tos == [recipient]
    # every header line is either a field or a folded continuation: nothing starts a new field mid-value
    for line in head.split(b"\r\n"):
        assert line[:1] in (b" ", b"\t") or b":" in line, line
    assert b"\r" not in head.replace(b"\r\n", b"") and b"\n" not in head.replace(b"\r\n", b"")
    parts = [p.get_content_type() for p in msg.walk()]
    assert parts == ["multipart/alternative", "text/plain", "text/html"]


def test_line_breaks_in_merge_fields_names_and_sender_settings_add_nothing(services: Any, smtp_server: Any) -> None:
    for i, brk in enumerate(BREAKS):
        smtp_server.clear()
        _send_with_breaks(services, smtp_server, brk, i)


def _send_with_breaks(services: Any, smtp_server: Any, brk: str, i: int) -> None:
    evil = _inject(brk)
    with services.db.begin() as s:
        account = get_account(s)
        account.from_name = evil
        account.company_name = evil
        account.reply_to = f"reply@acme.test{brk}Bcc: spy@evil.test"
        try:
            with s.begin_nested():
                version = make_version(s, subject="Hi {{ contact.first_name }} from {{ contact.company }}",
                                       from_name=f"Sales{brk}Bcc: spy2@evil.test", name=f"t{i}")
        except rendering.TemplateError:  # refused at save (control character): the account's name is tested
            version = make_version(s, subject="Hi {{ contact.first_name }} from {{ contact.company }}", name=f"t{i}")
        contact = Contact(email=f"victim{i}@example.com", first_name=evil, last_name=evil, company=evil,
                          job_title=evil, attributes={"x": evil})
        s.add(contact)
        s.flush()
        ids = plan_sends(s, version, [contact])
    assert deliver_batch(services, ids)["sent"] == 1, repr(brk)
    [mail] = smtp_server.wait_for(1)
    _check(mail, f"victim{i}@example.com")
    assert "spy@evil.test" not in str(mail.message["Reply-To"] or "")  # an unsafe Reply-To is dropped


def test_test_send_with_a_hostile_preview_contact_adds_nothing(services: Any, smtp_server: Any) -> None:
    with services.db.begin() as s:
        version = make_version(s, subject="Hi {{ contact.first_name }}")
        contact = Contact(email="someone@example.com", first_name=_inject("\r\n"))
        s.add(contact)
        s.flush()
        version_id, contact_id = version.id, contact.id
    send_test_email(services, version_id, "reviewer@acme.test", contact_id)
    [mail] = smtp_server.wait_for(1)
    names = {k.lower() for k in mail.message.keys()}
    assert "bcc" not in names and "x-injected" not in names and mail.rcpt_tos == ["reviewer@acme.test"]


@pytest.mark.parametrize("address", [
    "victim@example.com\r\nBcc: spy@evil.test", "victim@example.com>\r\nRCPT TO:<spy@evil.test",
    "victim@example.com, spy@evil.test", "victim@example.com\nspy@evil.test", "<spy@evil.test>victim@example.com",
])
def test_hostile_recipient_address_fails_that_send_alone(services: Any, smtp_server: Any, address: str) -> None:
    with services.db.begin() as s:
        version = make_version(s)
        good = Contact(email="fine@example.com")
        evil = Contact(email=address)
        s.add_all([good, evil])
        s.flush()
        ids = plan_sends(s, version, [good, evil])
    counts = deliver_batch(services, ids)
    assert counts["sent"] == 1 and counts["failed"] == 1
    [mail] = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["fine@example.com"]
    with services.db.begin() as s:
        failed = s.get(Send, ids[1])
        assert failed.status == SendStatus.FAILED and "invalid recipient" in failed.error
    for test_address in (address, "reviewer@acme.test\r\nBcc: spy@evil.test"):
        with pytest.raises(ValueError):
            send_test_email(services, ids[0] and s.get(Send, ids[0]).template_version_id, test_address)
    assert len(smtp_server.messages) == 1


@pytest.mark.parametrize("brk", ["\r\n", "\n", "\r"])
def test_line_breaks_typed_into_a_template_subject_are_collapsed(services: Any, smtp_server: Any, brk: str) -> None:
    with services.db.begin() as s:
        version = make_version(s, subject=f"Hello{brk}Bcc: spy@evil.test{brk}X-Injected: 1")
        contact = Contact(email="victim@example.com")
        s.add(contact)
        s.flush()
        ids = plan_sends(s, version, [contact])
    deliver_batch(services, ids)
    [mail] = smtp_server.wait_for(1)
    _check(mail, "victim@example.com")
    assert mail.message["Subject"] == "Hello Bcc: spy@evil.test X-Injected: 1"
