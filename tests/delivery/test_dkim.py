"""DKIM: mail sent by the real sender to the real SMTP server carries a signature that dkimpy verifies
on the received bytes. dkimpy's `dnsfunc` parameter stands in for DNS and returns the public key record
(our code is not replaced: only the TXT look-up of the receiving side)."""

from __future__ import annotations

import base64
import email
import re
from pathlib import Path
from typing import Any

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from campaigns.delivery import dkim_signing
from campaigns.delivery.dkim_signing import DkimConfigError, DkimSigner, signer_for
from campaigns.delivery.sending import deliver_batch
from campaigns.delivery.system_mail import send_test_email
from tests.sending_helpers import standard_setup

SELECTOR = "nurture2026"
DOMAIN = "acme.test"


def _write_key(path: Path, bits: int = 2048) -> rsa.RSAPrivateKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return key


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    path = tmp_path / "dkim.pem"
    _write_key(path)
    return path


@pytest.fixture
def app_overrides(app_overrides: dict[str, Any], key_path: Path) -> dict[str, Any]:
    return {**app_overrides, "dkim_selector": SELECTOR, "dkim_domain": DOMAIN, "dkim_private_key_path": str(key_path)}


def _dns_for(services: Any) -> Any:
    record = signer_for(services.settings).public_key_record().encode()  # type: ignore[union-attr]
    asked: list[bytes] = []

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        asked.append(name)
        return record if name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode() else None

    dnsfunc.asked = asked  # type: ignore[attr-defined]
    return dnsfunc


def _signed_header_names(raw: bytes) -> list[str]:
    sig = dkim.util.parse_tag_value(dkim.DKIM(raw).headers[0][1])
    return [h.strip().decode().lower() for h in sig[b"h"].split(b":")]


def test_campaign_mail_is_signed_and_verifies_on_the_received_bytes(services: Any, smtp_server: Any) -> None:
    _, _, ids = standard_setup(services, count=3)
    assert deliver_batch(services, ids)["sent"] == 3
    mails = smtp_server.wait_for(3)
    dnsfunc = _dns_for(services)
    for mail in mails:
        assert mail.raw.startswith(b"DKIM-Signature:")
        assert dkim.verify(mail.raw, dnsfunc=dnsfunc), mail.raw[:600]
        names = _signed_header_names(mail.raw)
        for required in ("from", "subject", "list-unsubscribe", "list-unsubscribe-post", "to", "date",
                         "message-id", "mime-version", "content-type"):
            assert required in names
        # over-signed: a second From/Subject/List-Unsubscribe added later breaks the signature
        assert names.count("from") == 2 and names.count("list-unsubscribe") == 2
        msg = mail.message
        assert f"d={DOMAIN}" in msg["DKIM-Signature"] and f"s={SELECTOR}" in msg["DKIM-Signature"]
    assert dnsfunc.asked  # the verifier really looked the key up


def test_tampering_after_signing_fails_verification(services: Any, smtp_server: Any) -> None:
    _, _, ids = standard_setup(services, count=1)
    deliver_batch(services, ids)
    raw = smtp_server.wait_for(1)[0].raw
    dnsfunc = _dns_for(services)
    assert dkim.verify(raw, dnsfunc=dnsfunc)
    head, _, body = raw.partition(b"\r\n\r\n")
    changed_subject = raw.replace(b"\r\nSubject: ", b"\r\nSubject: FREE MONEY ", 1)
    added_unsubscribe = head + b"\r\nList-Unsubscribe: <https://evil.example/u>" + b"\r\n\r\n" + body
    # a paragraph slipped in at the top of the HTML part, in its own transfer encoding (a Japanese mail's HTML
    # is base64, where the text cannot be replaced in place): 12 bytes are 16 base64 characters, no padding
    html_head = re.search(rb"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: ([\w-]+)\r\n\r\n", raw)
    assert html_head is not None
    inserted = b"<p>Scam!</p>"
    if html_head.group(1) == b"base64":
        inserted = base64.b64encode(inserted) + b"\r\n"
    changed_body = raw[: html_head.end()] + inserted + raw[html_head.end() :]
    html_parts = [p for p in email.message_from_bytes(changed_body).walk() if p.get_content_type() == "text/html"]
    assert html_parts[0].get_payload(decode=True).startswith(b"<p>Scam!</p>")
    assert changed_body != raw
    for forged in (changed_subject, added_unsubscribe, changed_body):
        assert not dkim.verify(forged, dnsfunc=dnsfunc)


def test_test_sends_are_signed_too(services: Any, smtp_server: Any) -> None:
    version_id, contact_ids, _ = standard_setup(services, count=1)
    send_test_email(services, version_id, "reviewer@acme.test", contact_ids[0])
    raw = smtp_server.wait_for(1)[0].raw
    assert dkim.verify(raw, dnsfunc=_dns_for(services))


def test_without_dkim_settings_mail_is_not_signed(app_overrides: dict[str, Any], redis_conn: Any,
                                                   smtp_server: Any) -> None:
    from wsgi import create_app

    overrides = {**app_overrides, "dkim_private_key_path": ""}
    app = create_app(overrides)
    svc = app.extensions["nurture"]
    from tests.conftest import truncate_all

    truncate_all(svc.db)
    try:
        _, _, ids = standard_setup(svc, count=1)
        deliver_batch(svc, ids)
        raw = smtp_server.wait_for(1)[0].raw
        assert b"DKIM-Signature" not in raw
    finally:
        svc.db.dispose()


def test_bad_key_or_missing_settings_are_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    with pytest.raises(DkimConfigError, match="cannot be read"):
        DkimSigner(SELECTOR, DOMAIN, bad.read_bytes())
    good = tmp_path / "good.pem"
    _write_key(good)
    with pytest.raises(DkimConfigError, match="DKIM_SELECTOR and DKIM_DOMAIN"):
        DkimSigner("", DOMAIN, good.read_bytes())
    from campaigns.config import Settings

    settings = Settings(dkim_selector=SELECTOR, dkim_domain=DOMAIN, dkim_private_key_path=str(tmp_path / "missing.pem"))
    with pytest.raises(DkimConfigError, match="DKIM_PRIVATE_KEY_PATH"):
        signer_for(settings)
    assert signer_for(Settings()) is None


def test_signature_matches_dkimpys_own_signer_semantics(tmp_path: Path) -> None:
    """Our OpenSSL-backed signer and dkimpy's pure-Python RSA agree: both verify, same body hash."""
    path = tmp_path / "k.pem"
    _write_key(path, bits=1024)
    signer = DkimSigner(SELECTOR, DOMAIN, path.read_bytes())
    message = (b"From: A <a@acme.test>\r\nTo: b@example.com\r\nSubject: hi\r\nDate: Sun, 22 Nov 2026 09:00:00 +0000\r\n"
               b"Message-ID: <send-1@nurture>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nbody\r\n")
    ours = signer.sign(message)
    theirs = dkim.sign(message, SELECTOR.encode(), DOMAIN.encode(), path.read_bytes(),
                       canonicalize=(b"relaxed", b"simple"), include_headers=list(dkim_signing.SIGNED_HEADERS))
    record = signer.public_key_record().encode()

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        return record

    assert dkim.verify(ours, dnsfunc=dnsfunc)
    assert dkim.verify(theirs + message, dnsfunc=dnsfunc)
    bh = dkim.util.parse_tag_value(dkim.DKIM(ours).headers[0][1])[b"bh"]
    assert bh == dkim.util.parse_tag_value(dkim.DKIM(theirs + message).headers[0][1])[b"bh"]


def test_start_up_warns_about_half_or_broken_dkim_settings(tmp_path: Path, key_path: Path) -> None:
    from campaigns.config import Settings
    from campaigns.health import settings_warnings

    assert not any("DKIM" in w for w in settings_warnings(
        Settings(dkim_selector=SELECTOR, dkim_domain=DOMAIN, dkim_private_key_path=str(key_path))))
    half = settings_warnings(Settings(dkim_selector=SELECTOR, dkim_private_key_path=str(key_path)))
    assert any("half configured" in w for w in half)
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    bad = settings_warnings(Settings(dkim_selector=SELECTOR, dkim_domain=DOMAIN, dkim_private_key_path=str(broken)))
    assert any("cannot be read" in w for w in bad)
