"""The message frame: header encoding, address checks and formatting, body encoding, Message-ID and Date, built once per campaign."""

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

from campaigns.models import TemplateVersion
from campaigns.runtime import Services

# ---------------------------------------------------------------- MIME, assembled as bytes
_B_CHUNK = 45  # bytes of UTF-8 per encoded word: "=?utf-8?b?" + 60 chars + "?=" stays under 76

_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')

_ADDRESS_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")

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


def is_valid_address(address: str) -> bool:
    """True for a plain ASCII addr-spec we can put in an envelope and a header safely."""
    return bool(address) and len(address) <= 254 and _ADDRESS_RE.match(address) is not None


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


def _sender(svc: Services, account: Any, version_from_name: str) -> tuple[str, str, str]:
    """(envelope address, From header, Reply-To header) from the version, the account and settings."""
    default_name, default_address = email.utils.parseaddr(svc.settings.mail_from)
    address = (account.from_email or default_address or "").strip()
    if not is_valid_address(address):
        raise ValueError(f"the sender address {address!r} is not valid: set it in the account settings")
    name = version_from_name or account.from_name or default_name
    reply_to = (account.reply_to or "").strip()
    reply_header = reply_to if is_valid_address(reply_to) else ""
    return address, format_address(name, address), reply_header


def _frame(svc: Services, account: Any, version: TemplateVersion) -> MessageFrame:
    address, from_header, reply_to = _sender(svc, account, version.from_name)
    # "=_" never occurs in quoted-printable or base64 output, so this boundary cannot clash.
    return MessageFrame(address, from_header, reply_to, f"=_nurture_{version.id}_{uuid.uuid4().hex[:12]}")
