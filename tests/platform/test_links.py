"""Tracking tokens: the signer's precomputed HMAC equals the standard library's, and tampering fails."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random

from campaigns.links import TokenKind, TokenSigner


def test_tokens_are_hmac_sha256_of_the_packed_ids():
    rng = random.Random(3)
    for _ in range(500):
        secret = "".join(rng.choice("abcdefXYZ0123456789-_") for _ in range(rng.randint(1, 80)))
        kind, a, b = rng.choice(list(TokenKind)), rng.randrange(2**63), rng.randrange(2**63)
        token = TokenSigner(secret).sign(kind, a, b)
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        key = hmac.new(secret.encode(), b"nurture-tracking-token-v1", hashlib.sha256).digest()
        assert raw[17:] == hmac.new(key, raw[:17], hashlib.sha256).digest()[:16]
        assert TokenSigner(secret).verify(token, kind) is not None


def test_a_token_does_not_verify_under_another_key_or_kind():
    token = TokenSigner("one").sign(TokenKind.CLICK, 10, 20)
    assert TokenSigner("two").verify(token, TokenKind.CLICK) is None
    assert TokenSigner("one").verify(token, TokenKind.OPEN) is None
    verified = TokenSigner("one").verify(token, TokenKind.CLICK)
    assert verified is not None and (verified.a, verified.b) == (10, 20)
