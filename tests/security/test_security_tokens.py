"""Tracking tokens under attack: 10,000 mutations of real click, open and unsubscribe tokens (bit flips,
truncation, extension, swapped parts, re-encodings, tokens of another kind or signed with another key),
sent over HTTP to the real endpoints: no redirect, no event recorded, no unsubscribe."""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, select

from campaigns.engagement.hit_buffer import flush_hits
from campaigns.engagement.hit_writer import backlog
from campaigns.links import TokenKind, TokenSigner
from campaigns.models import Contact, ContactStatus, Event, Hit, Suppression
from tests.factories import make_contact
from tests.tracking_helpers import drain, make_broadcast, make_send

MUTATIONS = 10_000


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _raw(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def mutations(token: str, others: list[str], rng: random.Random) -> Iterator[str]:
    """Endless hostile variants of a valid token."""
    raw = _raw(token)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    while True:
        kind = rng.randrange(9)
        if kind == 0:  # flip one bit of the decoded bytes (ids or MAC)
            b = bytearray(raw)
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
            yield _b64(bytes(b))
        elif kind == 1:  # truncate
            yield token[: rng.randrange(len(token))]
        elif kind == 2:  # extend
            yield token + "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 6)))
        elif kind == 3:  # swap the payload and the MAC, or two halves
            cut = rng.choice([17, len(raw) // 2, rng.randrange(1, len(raw))])
            yield _b64(raw[cut:] + raw[:cut])
        elif kind == 4:  # change one character of the text form
            i = rng.randrange(len(token))
            yield token[:i] + rng.choice(alphabet.replace(token[i], "")) + token[i + 1:]
        elif kind == 5:  # a different id with the old MAC (forging another send/contact)
            b = bytearray(raw)
            b[rng.randrange(1, 17)] = rng.randrange(256)
            yield _b64(bytes(b))
        elif kind == 6:  # a valid token of another kind or another send's kind, or signed with another key
            yield rng.choice(others)
        elif kind == 7:  # non-canonical spellings: padding, standard base64, case changes
            yield rng.choice([token + "=", token + "==", base64.b64encode(raw).decode(), token.swapcase(),
                              token.upper(), token.lower(), " " + token, token + "%00"])
        else:  # random bytes of the right length
            yield _b64(bytes(rng.randrange(256) for _ in range(len(raw))))


def test_ten_thousand_mutated_tokens_do_nothing(app: Any, client: Any, services: Any) -> None:
    rng = random.Random(20261122)
    with services.db.begin() as s:
        campaign = make_broadcast(s)
        contact = make_contact(s)
        send = make_send(s, campaign, contact)
        send_id, contact_id, link_id = send.id, contact.id, campaign.link_ids[0]
    signer = services.signer
    valid = {
        "click": signer.sign(TokenKind.CLICK, send_id, link_id),
        "open": signer.sign(TokenKind.OPEN, send_id),
        "unsubscribe": signer.sign(TokenKind.UNSUBSCRIBE, contact_id, send_id),
    }
    foreign = TokenSigner("another-installation-secret")
    others = [
        signer.sign(TokenKind.OPEN, send_id), signer.sign(TokenKind.PREFERENCES, contact_id),
        signer.sign(TokenKind.CLICK, send_id, link_id), signer.sign(TokenKind.UNSUBSCRIBE, contact_id, send_id),
        signer.sign(TokenKind.FORM_CONFIRM, contact_id, 1),
        foreign.sign(TokenKind.CLICK, send_id, link_id), foreign.sign(TokenKind.OPEN, send_id),
        foreign.sign(TokenKind.UNSUBSCRIBE, contact_id, send_id),
    ]
    seen: set[tuple[str, str]] = set()
    per_kind = MUTATIONS // 3 + 1
    tried = 0
    for kind, token in valid.items():
        stream = mutations(token, others, rng)
        count = 0
        while count < per_kind:
            bad = next(stream)
            if bad == token or (kind, bad) in seen or (kind == "click" and bad == others[2]) \
                    or (kind == "open" and bad == others[0]) or (kind == "unsubscribe" and bad == others[3]):
                continue  # the genuine token itself (a mutation can land back on it)
            seen.add((kind, bad))
            count += 1
            path_token = bad.replace("/", "%2F").replace("?", "%3F").replace("#", "%23")
            if kind == "click":
                resp = client.get(f"/t/c/{path_token}")
                assert resp.status_code in (400, 404) and "Location" not in resp.headers, (bad, resp.status_code)
            elif kind == "open":
                resp = client.get(f"/t/o/{path_token}.gif")
                assert resp.status_code in (200, 404) and "Location" not in resp.headers, bad
            else:
                resp = client.post(f"/t/u/{path_token}", data={"List-Unsubscribe": "One-Click"})
                assert resp.status_code in (400, 404, 405), (bad, resp.status_code)
        tried += count
    assert tried >= MUTATIONS
    # nothing reached the event buffer, and so nothing can reach the database
    flush_hits()
    assert backlog(services.redis) == 0
    drain(app)
    with services.db.begin() as s:
        assert s.scalar(select(func.count()).select_from(Hit)) == 0
        assert s.get(Contact, contact_id).status == ContactStatus.ACTIVE
        assert s.scalar(select(func.count()).select_from(Suppression)) == 0
        assert s.scalar(select(func.count()).select_from(Event)) == 0

    # control: the genuine tokens do work, so the refusals above are not an endpoint that is simply broken
    assert client.get(f"/t/c/{valid['click']}").status_code == 302
    client.get(f"/t/o/{valid['open']}.gif")
    flush_hits()
    assert backlog(services.redis) == 2
    assert client.post(f"/t/u/{valid['unsubscribe']}", data={"List-Unsubscribe": "One-Click"}).status_code == 200
    with services.db.begin() as s:
        assert s.get(Contact, contact_id).status == ContactStatus.UNSUBSCRIBED
