"""The message frame: header encoding, address formatting, body encoding, Date, and the rules every
mail Nurture sends follows: the sender identity (From, Reply-To, envelope), the Message-ID and, for
campaign mail, List-Unsubscribe.

Campaign mail (delivery.sending) and one-off mail (delivery.system_mail: test sends, form confirmations,
the sales hand-over) build their frames here, so none of them works out a sender or an id of its own.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import functools
import hashlib
import hmac
import logging
import re
import struct
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from campaigns.addresses import is_valid_address
from campaigns.models import TemplateVersion
from campaigns.runtime import Services

log = logging.getLogger("nurture.mime")

# ---------------------------------------------------------------- MIME, assembled as bytes
_B_CHUNK = 45  # bytes of UTF-8 per encoded word: "=?utf-8?b?" + 60 chars + "?=" stays under 76

_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')

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


# A body goes out as base64 once at least 1/64 of its bytes are UTF-8 beyond ASCII: the mail has text in a
# language written with it (Japanese: the gallery's mails have 7-16% of such bytes, inside MJML's ASCII
# tables), not a stray "’" or "©" in an English mail (the gallery's English mails have none).
#  - Cost: quoted-printable (binascii.b2a_qp, C) runs at ~7 ns a byte, base64 at ~1: the HTML part of a
#    Japanese 30-block mail (30 KB, MJML's tables) took 290 us per recipient in quoted-printable, 71 in
#    base64, the largest difference between a block mail and an HTML mail (docs/benchmarks.md, issue 19).
#    The rule was 1/6 before: hand-written Japanese HTML (bench_sending's, 31%) was base64 already, MJML's
#    Japanese mails (7-16%) were not.
#  - Size: base64 is 4/3 of the bytes; quoted-printable of the same mostly-markup HTML 1.2-1.3 (each
#    Japanese byte and each "=" of the markup becomes three): ~12% more on the wire, nothing a receiver sees.
#  - Filters: SpamAssassin's MIME_BASE64_TEXT fires only for base64 text without a charset or in US-ASCII;
#    ours is charset=utf-8 (tests/delivery/test_spamassassin.py and test_gallery_mails.py score these mails).
#    Plain-ASCII bodies stay quoted-printable, readable in a mail's source.
_BASE64_SHARE = 64


@functools.lru_cache(maxsize=64)
def _lines_of_76(count: int) -> struct.Struct:
    return struct.Struct("76s" * count)


def _base64_lines(data: bytes) -> bytes:
    """base64 in CRLF lines of 76 characters. base64.encodebytes loops in Python per 57 bytes, and slicing
    the encoding into lines in a loop costs ~0.1 us a line; one C encode and one struct unpack into the
    lines is ~4x cheaper than the slicing loop."""
    encoded = base64.b64encode(data)
    count = len(encoded) // 76
    # the Struct of a size is cached: a batch's mails of one version have bodies of a handful of sizes
    lines = list(_lines_of_76(count).unpack_from(encoded)) if count else []
    if len(encoded) % 76:
        lines.append(encoded[count * 76 :])
    return b"\r\n".join(lines)


def encode_body(text: str) -> tuple[str, bytes]:
    """UTF-8 body as quoted-printable (ASCII, or nearly) or base64 (text in a non-Latin script), CRLF lines
    of <= 76 characters."""
    raw = text.encode("utf-8")
    # The bytes beyond ASCII without a pass over them: `extra` is what UTF-8 spends beyond one byte a character
    # (both lengths are known: O(1), where counting the high bytes took ~15 us for 30 KB). Those bytes are
    # 1.5 x extra for Japanese (three bytes a character), 2 x extra for two-byte characters (accents, Cyrillic).
    extra = len(raw) - len(text)
    data = _crlf(raw)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    if extra * 3 * _BASE64_SHARE >= len(data) * 2:  # 1.5 x extra >= 1/64 of the bytes
        return "base64", _base64_lines(data)
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
    id_key: bytes = b""  # this installation's Message-ID key (message_id_key)
    id_domain: str = "nurture.invalid"  # the sender's domain, the right side of Message-IDs
    unsubscribe_mailbox: str = ""  # UNSUBSCRIBE_MAILBOX: where mailto unsubscribe requests go, "" for none

    def list_unsubscribe(self, unsubscribe_url: str) -> list[str]:
        """The List-Unsubscribe targets of one campaign mail (sending): the HTTPS one-click URL (RFC 8058)
        always; a mailto only when an unsubscribe mailbox is configured, because only then does something
        (`nurture process-bounces`) read what arrives there."""
        if not self.unsubscribe_mailbox:
            return [unsubscribe_url]
        token = unsubscribe_url.rsplit("/", 1)[-1]
        return [unsubscribe_url, f"mailto:{self.unsubscribe_mailbox}?subject=unsubscribe%20{token}"]

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


# Our Message-IDs: globally unique, the sender's domain on the right (RFC 5322 3.6.4), and for a campaign
# send stable: `<{send id}.{tag}@{domain}>`, the tag a MAC (keyed BLAKE2b, ~2 us a mail where HMAC costs ~6)
# over the send id and the microsecond its row was created, under a key derived from SECRET_KEY. So
#  - a redelivery after a crash reads the same row and carries the same id (the receiver's duplicate filter
#    and our own bounce matching both see one mail);
#  - two installations (two secrets) never share an id, nor does a database rebuilt with the same secret
#    (its send 1 was planned at another moment);
#  - the bounce matcher finds the send from the id alone and recomputes the tag, so an id someone made up
#    (or another installation's `<123.…@…>`) matches nothing.
# One-off mail (test sends, confirmations, the hand-over) is `<{kind}.{key}.{installation token}@{domain}>`,
# its key already unique (a random or a hand-over delivery id: a retried hand-over repeats its id).
_ID_KEY_LABEL = b"nurture message-id v1"
_SEND_TAG_BYTES = 12  # 96 bits: forging one is hopeless, and ids stay short
_SEND_MESSAGE_ID = re.compile(rf"<(\d{{1,18}})\.([0-9a-f]{{{2 * _SEND_TAG_BYTES}}})@[^<>@\s]+>")
_DOMAIN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")
_FALLBACK_DOMAIN = "nurture.invalid"  # only for a sender domain that cannot be written in ASCII (as MessageFrame's)
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")  # kept out of one-off ids' parts (dot-atom text, no dots)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def message_id_key(secret_key: str) -> bytes:
    """This installation's Message-ID key, derived from SECRET_KEY with HMAC (message_frame, the bounce
    matcher): stable across restarts, different per installation, and not the secret itself."""
    return hmac.new(secret_key.encode("utf-8"), _ID_KEY_LABEL, hashlib.sha256).digest()


def message_id_domain(address: str) -> str:
    """The right-hand side of our Message-IDs: the domain of the sender address, in ASCII (IDNA)."""
    domain = address.rpartition("@")[2].strip().rstrip(".").lower()
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return _FALLBACK_DOMAIN
    return domain if _DOMAIN.fullmatch(domain) else _FALLBACK_DOMAIN


def _microseconds(moment: datetime | None) -> int:
    if moment is None:  # a row read without its created_at (the column is NOT NULL)
        return 0
    if moment.tzinfo is None:  # SQLite forgets the zone; the column holds UTC
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _send_tag(key: bytes, send_id: int, created_at: datetime | None) -> str:
    data = f"send.{send_id}.{_microseconds(created_at)}".encode("ascii")
    return hashlib.blake2b(data, key=key, digest_size=_SEND_TAG_BYTES).hexdigest()


def message_id(svc: Services, account: Any, kind: str, key: object) -> str:
    """The Message-ID of one-off mail (`<test.….…@domain>`, `<form-confirm.…>`, `<handover.…>`): the sender's
    domain from the account (sender_identity, so it raises ValueError like the mail itself would), this
    installation's token (test sends, form confirmations, the sales hand-over)."""
    domain = message_id_domain(sender_identity(svc, account).address)
    # a token of its own, not a piece of the key (which would give away part of the send tags' key)
    token = hashlib.blake2b(b"installation", key=message_id_key(svc.settings.secret_key), digest_size=6).hexdigest()
    kind, key = (_ID_UNSAFE.sub("-", str(part)) for part in (kind, key))
    return f"<{kind}.{key}.{token}@{domain}>"


def send_message_id(frame: MessageFrame, send_id: int, created_at: datetime | None) -> str:
    """The Message-ID of a campaign send, from its ledger row (id and created_at) and the frame's key and
    sender domain: the same on every delivery of that send (sending; the bounce matcher checks it)."""
    return f"<{send_id}.{_send_tag(frame.id_key, send_id, created_at)}@{frame.id_domain}>"


def send_id_from_message_id(
    value: str, secret_key: str, created_at_of: Callable[[int], datetime | None],
) -> int | None:
    """The send whose Message-ID is `value` (bounces): the id is read from it and its tag recomputed from that
    send's created_at (`created_at_of(send id)`, None when there is no such send); None for any other id,
    one someone made up, or one of another installation."""
    match = _SEND_MESSAGE_ID.search(value or "")
    if match is None:
        return None
    send_id = int(match.group(1))
    created_at = created_at_of(send_id)
    if created_at is None:
        return None
    expected = _send_tag(message_id_key(secret_key), send_id, created_at)
    return send_id if hmac.compare_digest(expected, match.group(2)) else None


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
    settings = svc.settings
    mailbox = settings.unsubscribe_mailbox.strip()
    if mailbox and not is_valid_address(mailbox):
        log.warning("UNSUBSCRIBE_MAILBOX %r is not a valid address: mail advertises the HTTPS unsubscribe only", mailbox)
    # "=_" never occurs in quoted-printable or base64 output, so this boundary cannot clash.
    return MessageFrame(sender.address, sender.from_header, sender.reply_to,
                        f"=_nurture_{boundary_key}_{uuid.uuid4().hex[:12]}",
                        id_key=message_id_key(settings.secret_key), id_domain=message_id_domain(sender.address),
                        unsubscribe_mailbox=mailbox if is_valid_address(mailbox) else "")


def campaign_frame(svc: Services, account: Any, version: TemplateVersion) -> MessageFrame:
    """The frame shared by every mail of one template version in a batch (sending, test sends)."""
    return message_frame(svc, account, str(version.id), version.from_name)
