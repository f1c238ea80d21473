"""Signed tokens for tracking URLs and the URLs themselves; built from config, never from a request.

A token is base64url(payload || mac) where payload packs a kind byte and two ids and the mac is
HMAC-SHA256 (truncated to 128 bits) under a key derived from SECRET_KEY. Tokens carry ids only,
never URLs: the click redirect looks the destination up in the stored link table.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass
from enum import IntEnum

_MAC_BYTES = 16
_LAYOUT = struct.Struct(">BQQ")


class TokenKind(IntEnum):
    OPEN = 1
    CLICK = 2
    UNSUBSCRIBE = 3
    PREFERENCES = 4
    FORM_CONFIRM = 5  # a form's double opt-in link: a = submission id, b = form id
    # The `_nid` the click redirect adds to links into the marketer's own sites: a = send id, b = expiry (Unix
    # seconds); the website collector identifies the visitor as the send's contact (campaigns/engagement/web_collect.py)
    WEB_IDENTIFY = 6


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    a: int  # send id (open, click, web identify) or contact id (unsubscribe, preferences)
    b: int  # link id (click), send id (unsubscribe; 0 when none), expiry (web identify), 0 otherwise


class TokenSigner:
    """Signs and verifies tracking tokens with one key; shared by the sender and the tracking endpoints."""

    def __init__(self, secret_key: str) -> None:
        key = hmac.new(secret_key.encode(), b"nurture-tracking-token-v1", hashlib.sha256).digest()
        # HMAC (RFC 2104) with the keyed inner and outer hash states computed once: each token then costs
        # two hash copies instead of a fresh HMAC set-up (OpenSSL 3 makes that set-up the dominant cost,
        # and a mail signs about 13 tokens). Same bytes as hmac.digest(key, payload, "sha256").
        block = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def _mac(self, payload: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(payload)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()[:_MAC_BYTES]

    def sign(self, kind: TokenKind, a: int, b: int = 0) -> str:
        """Return the URL-safe token for (kind, a, b)."""
        payload = _LAYOUT.pack(int(kind), a, b)
        return base64.urlsafe_b64encode(payload + self._mac(payload)).rstrip(b"=").decode()

    def verify(self, token: str, kind: TokenKind) -> Token | None:
        """Return the token's ids if it is authentic and of the expected kind, else None."""
        if not token or len(token) > 64:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            return None
        if len(raw) != _LAYOUT.size + _MAC_BYTES:
            return None
        payload, mac = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        # Reject non-canonical encodings so each token has exactly one accepted spelling.
        if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != token:
            return None
        k, a, b = _LAYOUT.unpack(payload)
        if k != kind:
            return None
        return Token(TokenKind(k), a, b)


class TrackingUrls:
    """Public URLs of the tracking endpoints, built from BASE_URL (campaigns never imports tracking)."""

    def __init__(self, base_url: str, signer: TokenSigner) -> None:
        self.base = base_url.rstrip("/")
        self.signer = signer

    def open_pixel(self, send_id: int) -> str:
        return f"{self.base}/t/o/{self.signer.sign(TokenKind.OPEN, send_id)}.gif"

    def click(self, send_id: int, link_id: int) -> str:
        return f"{self.base}/t/c/{self.signer.sign(TokenKind.CLICK, send_id, link_id)}"

    def unsubscribe(self, contact_id: int, send_id: int = 0) -> str:
        return f"{self.base}/t/u/{self.signer.sign(TokenKind.UNSUBSCRIBE, contact_id, send_id)}"

    def preferences(self, contact_id: int) -> str:
        return f"{self.base}/t/p/{self.signer.sign(TokenKind.PREFERENCES, contact_id)}"

    def test_link(self) -> str:
        """Where unsubscribe and preference links of previews and test sends lead: a page that does nothing
        (a proof forwarded to a colleague, or scanned by a link checker, must not unsubscribe the contact
        whose data filled it)."""
        return f"{self.base}/t/test-link"
