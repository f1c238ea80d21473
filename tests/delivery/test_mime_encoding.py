"""Body encoding (mime.encode_body, MessageFrame.assemble): every body reads back byte for byte through the
standard library's parser, in lines of at most 76 characters; text in Japanese goes out as base64 (cheap to
encode, issue 19), ASCII and nearly-ASCII text as quoted-printable (readable in a mail's source)."""

from __future__ import annotations

import email
import email.policy

import pytest

from campaigns.delivery import gallery
from campaigns.delivery.blocks import validate_document
from campaigns.delivery.blocks_mjml import BrandKit, compile_document
from campaigns.delivery.mime import MessageFrame, encode_body, format_address


def _frame() -> MessageFrame:
    return MessageFrame("news@example.com", "News <news@example.com>", "", "=_nurture_test_0123456789ab",
                        id_key=b"k" * 32, id_domain="example.com")


def _parts(raw: bytes) -> dict[str, email.message.Message]:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert not message.defects
    return {part.get_content_type(): part for part in message.walk() if not part.is_multipart()}


def _decoded(part: email.message.Message) -> str:
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode("utf-8")


def _crlf(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")
    return text if text.endswith("\r\n") else text + "\r\n"


def _assemble(html: str, text: str) -> bytes:
    return _frame().assemble(to=format_address("山田", "lead@example.com"), subject="件名", message_id="<1.x@example.com>",
                             html=html, text=text, list_unsubscribe=["https://t.example.com/u/x"])


def _check_lines(raw: bytes) -> None:
    for line in raw.split(b"\r\n"):
        assert len(line) <= 998
    body = raw.split(b"\r\n\r\n", 1)[1]
    assert all(len(line) <= 76 for line in body.split(b"\r\n")), "a body line over 76 characters"
    assert b"\n" not in raw.replace(b"\r\n", b""), "a bare LF"


@pytest.mark.parametrize("language", gallery.LANGUAGES)
def test_gallery_block_mails_read_back_identical(language: str) -> None:
    """Every gallery mail compiled by MJML (one line of ~30 KB of tables for the long ones): Japanese ones go
    as base64, English ones as quoted-printable, and the parser returns the HTML unchanged."""
    for item in gallery.starters(language):
        html = compile_document(validate_document(item.document), BrandKit(), {}, lang=language)
        text = "山田様\nご案内です。\n" if language == "ja" else "Dear Ms Smith,\nan invitation.\n"
        raw = _assemble(html, text)
        _check_lines(raw)
        parts = _parts(raw)
        expected = "base64" if language == "ja" else "quoted-printable"
        assert parts["text/html"]["Content-Transfer-Encoding"] == expected, item.key
        assert _decoded(parts["text/html"]) == _crlf(html), item.key
        assert _decoded(parts["text/plain"]) == _crlf(text), item.key


def test_a_stray_non_ascii_character_keeps_quoted_printable() -> None:
    """An English mail with a curly apostrophe, a dash and a copyright sign in its footer (under 1/64 of its
    bytes beyond ASCII) stays quoted-printable; the text itself is readable around the encoded characters."""
    item = gallery.starters("en")[0]
    mjml = compile_document(validate_document(item.document), BrandKit(), {}, lang="en")
    html = mjml.replace("</body>", "<p>We’re glad you came — © Acme</p></body>")
    assert html != mjml
    cte, body = encode_body(html)
    assert cte == "quoted-printable"
    assert b"=E2=80=99" in body  # the apostrophe, readable around it
    parts = _parts(_assemble(html, "We’re glad"))
    assert _decoded(parts["text/html"]) == _crlf(html)


@pytest.mark.parametrize("size", [0, 1, 55, 56, 57, 74, 75, 76, 77, 113, 114, 115, 1000, 4096])
def test_base64_lines_at_every_length(size: str) -> None:
    """Lengths around the 57-byte groups (76 characters of base64) and the line ends added to the text."""
    text = ("あいうえおかきくけこ" * 200)[: int(size)]
    cte, body = encode_body(text)
    assert cte == ("base64" if size else "quoted-printable")
    raw = _assemble("<p>" + text + "</p>", text)
    _check_lines(raw)
    parts = _parts(raw)
    assert _decoded(parts["text/plain"]) == _crlf(text)
    assert _decoded(parts["text/html"]) == _crlf("<p>" + text + "</p>")


def test_line_ends_and_personal_parts_survive() -> None:
    """Mixed line ends become CRLF; per-recipient parts (a tracked link, a name) come back as written."""
    html = ("<p>山田 太郎様</p>\r\n<a href=\"https://t.example.com/c/AbC=_x?y=1\">資料</a>\n" * 50) + "\r<p>end</p>"
    parts = _parts(_assemble(html, html))
    assert _decoded(parts["text/html"]) == _crlf(html)
    assert "https://t.example.com/c/AbC=_x?y=1" in _decoded(parts["text/html"])
