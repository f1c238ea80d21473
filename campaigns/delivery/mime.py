"""The message frame: header encoding, address formatting, body encoding, Date, and the two rules every
mail Nurture sends follows: the sender identity (From, Reply-To, envelope) and the Message-ID.

Campaign mail (delivery.sending) and one-off mail (delivery.system_mail: test sends, form confirmations,
the sales hand-over) build their frames here, so none of them works out a sender or an id of its own.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from campaigns.addresses import is_valid_address
from campaigns.models import TemplateVersion
from campaigns.runtime import Services

# ---------------------------------------------------------------- MIME, assembled as bytes
_B_CHUNK = 45  # bytes of UTF-8 per encoded word: "=?utf-8?b?" + 60 chars + "?=" stays under 76

_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')

_HIGH_BYTES = bytes(range(128, 256))

_date_cache: tuple[int, str] = (0, "")


def _one_line(value: str) -> str:
    """Collapse all whitespace, CR and LF included: a header value can never start a new header."""
    return " ".join(str(value).split())


def _encoded_words(text: str) -> str:
    """RFC 2047 B-encoded words, split on character boundaries, folded onto continuation lines."""
    data = text.encode("utf-8")
    words: list[str] = []
    start = 0
    while start < len(data):
        end = min(start + _B_CHUNK, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # never split inside a UTF-8 sequence
            end -= 1
        words.append("=?utf-8?b?" + base64.b64encode(data[start:end]).decode("ascii") + "?=")
        start = end
    return "\r\n ".join(words)


def header_text(value: str) -> str:
    """An unstructured header value (Subject): plain when safe ASCII, else encoded words."""
    value = _one_line(value)
    if value.isascii() and "=?" not in value and len(value) < 900:
        return value
    return _encoded_words(value)


def format_address(name: str, address: str) -> str:
    """`Name <addr>` with the display name quoted or RFC 2047 encoded as needed."""
    name = _one_line(name)
    if not name:
        return address
    if not name.isascii() or "=?" in name:
        return f"{_encoded_words(name)} <{address}>"
    if _SPECIALS.search(name):
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}" <{address}>'
    return f"{name} <{address}>"


def _crlf(data: bytes) -> bytes:
    # on the UTF-8 bytes, not the str: bytes.replace is several times cheaper, and no UTF-8
    # multibyte sequence contains a CR or LF byte
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return data.replace(b"\n", b"\r\n")


def encode_body(text: str) -> tuple[str, bytes]:
    """UTF-8 body as quoted-printable (mostly ASCII) or base64 (mostly not), CRLF lines of <= 76."""
    data = _crlf(text.encode("utf-8"))
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    # str.isascii() is O(1) (a flag of the str object): only non-ASCII text has high bytes to count
    high = 0 if text.isascii() else len(data) - len(data.translate(None, _HIGH_BYTES))
    if high * 3 > len(data) // 2:  # quoted-printable would triple the bytes: base64 is smaller
        # base64.encodebytes loops in Python per 57 bytes; one C encode plus one C regex is much cheaper
        encoded = base64.b64encode(data)
        return "base64", b"\r\n".join([encoded[i : i + 76] for i in range(0, len(encoded), 76)])
    # b2a_qp keeps the CRLF line ends it finds and never emits "=_", so our boundary cannot occur.
    return "quoted-printable", binascii.b2a_qp(data, quotetabs=False, istext=True, header=False)


def _date_header() -> str:
    global _date_cache
    second = int(time.time())
    if _date_cache[0] != second:
        _date_cache = (second, email.utils.format_datetime(datetime.fromtimestamp(second, UTC)))
    return _date_cache[1]


@dataclass
class MessageFrame:
    """The constant parts of every message of one version in one batch, built once."""

    mail_from: str  # envelope sender
    from_header: str
    reply_to: str
    boundary: str

    def assemble(
        self, *, to: str, subject: str, message_id: str, html: str, text: str,
        list_unsubscribe: Sequence[str] = (), extra_headers: Sequence[tuple[str, str]] = (),
    ) -> bytes:
        """The full RFC 5322 message as bytes (CRLF), multipart/alternative text + html."""
        text_cte, text_body = encode_body(text)
        html_cte, html_body = encode_body(html)
        head = [
            f"From: {self.from_header}",
            f"To: {to}",
            f"Subject: {header_text(subject)}",
            f"Date: {_date_header()}",
            f"Message-ID: {_one_line(message_id)}",
            "MIME-Version: 1.0",
        ]
        if self.reply_to:
            head.append(f"Reply-To: {self.reply_to}")
        if list_unsubscribe:
            head.append("List-Unsubscribe: " + ",\r\n ".join(f"<{_one_line(u)}>" for u in list_unsubscribe))
            head.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
        for name, value in extra_headers:
            head.append(f"{name}: {header_text(value)}")
        b = self.boundary
        head.append(f'Content-Type: multipart/alternative; boundary="{b}"')
        return b"".join((
            "\r\n".join(head).encode("ascii"),
            f"\r\n\r\n--{b}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Transfer-Encoding: {text_cte}\r\n\r\n".encode("ascii"),
            text_body,
            f"\r\n--{b}\r\nContent-Type: text/html; charset=utf-8\r\n"
            f"Content-Transfer-Encoding: {html_cte}\r\n\r\n".encode("ascii"),
            html_body,
            f"\r\n--{b}--\r\n".encode("ascii"),
        ))


# Our Message-IDs: <{kind}-{key}@nurture>. A campaign send's is deterministic (its ledger id), so a
# redelivery after a crash carries the same id, and a bounce that quotes it finds its send.
_MESSAGE_ID_DOMAIN = "nurture"
_SEND_MESSAGE_ID = re.compile(rf"<send-(\d{{1,18}})@{_MESSAGE_ID_DOMAIN}>")


def message_id(kind: str, key: object) -> str:
    """The Message-ID of one mail: `<send-123@nurture>` for a campaign send, `<test-…>`, `<form-confirm-…>`,
    `<handover-…>` for one-off mail (every sender of mail)."""
    return f"<{kind}-{key}@{_MESSAGE_ID_DOMAIN}>"


def send_message_id(send_id: int) -> str:
    """The Message-ID of a campaign send (sending; the bounce matcher reads it back)."""
    return message_id("send", send_id)


def send_id_from_message_id(value: str) -> int | None:
    """The send id in one of our Message-IDs (`<send-123@nurture>`), else None (bounces)."""
    match = _SEND_MESSAGE_ID.search(value or "")
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class Sender:
    """Who a mail is from: the envelope address, the From header and the Reply-To header ("" for none)."""

    address: str
    from_header: str
    reply_to: str


def sender_identity(svc: Services, account: Any, from_name: str = "") -> Sender:
    """The sender of every mail Nurture sends, from the account (Settings) and the MAIL_FROM default; a
    template version may name the sender differently (from_name). Raises ValueError when the address is
    not valid (campaign sends, test sends, form confirmations, the sales hand-over)."""
    default_name, default_address = email.utils.parseaddr(svc.settings.mail_from)
    address = (account.from_email or default_address or "").strip()
    if not is_valid_address(address):
        raise ValueError(f"the sender address {address!r} is not valid: set it in the account settings")
    name = from_name or account.from_name or default_name
    reply_to = (account.reply_to or "").strip()
    return Sender(address, format_address(name, address), reply_to if is_valid_address(reply_to) else "")


def message_frame(svc: Services, account: Any, boundary_key: str, from_name: str = "") -> MessageFrame:
    """The frame of a mail from the account's sender identity (campaign_frame, system mail)."""
    sender = sender_identity(svc, account, from_name)
    # "=_" never occurs in quoted-printable or base64 output, so this boundary cannot clash.
    return MessageFrame(sender.address, sender.from_header, sender.reply_to,
                        f"=_nurture_{boundary_key}_{uuid.uuid4().hex[:12]}")


def campaign_frame(svc: Services, account: Any, version: TemplateVersion) -> MessageFrame:
    """The frame shared by every mail of one template version in a batch (sending, test sends)."""
    return message_frame(svc, account, str(version.id), version.from_name)
