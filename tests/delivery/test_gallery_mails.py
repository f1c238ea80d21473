"""Every gallery mail (campaigns.delivery.gallery), in Japanese and English, as recipients get it: made into a
template, sent by the real sender through SMTP, then checked on the received message:

- SpamAssassin below 2.0 with local rules only (the measurement of tests/delivery/test_spamassassin.py, which
  also shows it can fail), and neither HTML_FONT_LOW_CONTRAST nor HTML_IMAGE_ONLY_* fires;
- the HTML part parses as HTML5 with no parse error (html5lib's spec parser, strict: it reports what browsers
  silently repair, e.g. a stray end tag or an unclosed table);
- no <style>-only layout: with every <style> element removed (Gmail's clipped views, some webmail), each
  piece of text still gets its font, size and colour from inline styles on itself or its ancestors, and the
  content is held to 600 px inline;
- the Japanese addressee line falls back: no company and no family name read ご担当者様.
"""

from __future__ import annotations

import re
from typing import Any

import html5lib
import lxml.html
import pytest

from campaigns.delivery import gallery
from campaigns.delivery.sending import deliver_batch
from campaigns.models import Contact
from tests.delivery.test_spamassassin import LIMIT, SPAMASSASSIN, _rules, spam_scores
from tests.sending_helpers import plan_sends, setup_account

TEXT_TAGS = ("p", "h1", "h2", "h3", "li", "a", "td", "div", "span", "strong", "em")


def _person(language: str, key: str) -> Contact:
    if language == "ja":
        return Contact(email=f"ja-{key}@example.co.jp", first_name="太郎", last_name="田中",
                       company="株式会社サンプル", job_title="営業部 部長")
    return Contact(email=f"en-{key}@example.com", first_name="Emily", last_name="Clark", company="Acme Corp",
                   job_title="Marketing Manager")


def _unstyled_text(html: str) -> list[str]:
    """Text that gets no font, size or colour from inline styles once <style> elements are gone."""
    bare = lxml.html.document_fromstring(re.sub(r"<style[^>]*>.*?</style>", "", html, flags=re.S | re.I))
    body = bare.find("body")
    problems = []
    for element in body.iter(*TEXT_TAGS):
        own = (element.text or "").strip()
        if not own or element.get("style", "").find("display:none") >= 0:
            continue
        styles = " ".join(a.get("style", "") for a in (element, *element.iterancestors()))
        missing = [p for p in ("font-family", "font-size", "color") if p not in styles]
        if missing:
            problems.append(f"{own[:40]!r} lacks {missing}")
    if "max-width:600px" not in html:
        problems.append("no inline max-width:600px")
    return problems


@pytest.fixture
def received(services: Any, smtp_server: Any) -> dict[str, Any]:
    """Every gallery mail sent to its own contact and received over SMTP: {"ja/newsletter": mail, ...}."""
    ids = []
    with services.db.begin() as s:
        setup_account(s)
        for language in gallery.LANGUAGES:
            for item in gallery.starters(language):
                template = gallery.create_from_starter(s, services.settings, item)
                person = _person(language, item.key)
                s.add(person)
                s.flush()
                ids += plan_sends(s, template.current_version, [person])
    total = len(ids)
    assert deliver_batch(services, ids)["sent"] == total
    mails = smtp_server.wait_for(total)
    by_rcpt = {m.rcpt_tos[0]: m for m in mails}
    return {f"{rcpt.split('-', 1)[0]}/{rcpt.split('-', 1)[1].split('@')[0]}": m for rcpt, m in by_rcpt.items()}


@pytest.mark.skipif(SPAMASSASSIN is None, reason="the spamassassin binary is missing: run scripts/bootstrap")
def test_every_gallery_mail_scores_below_two(received: dict[str, Any]) -> None:
    assert len(received) == 2 * len(gallery.starters("ja")) >= 16
    by_id = spam_scores([m.raw for m in received.values()])
    for name, mail in received.items():
        score, report = by_id[mail.message["Message-ID"]]
        fired = _rules(report)
        assert score < LIMIT, f"{name}: SpamAssassin {score} >= {LIMIT}:\n{report}"
        assert "HTML_FONT_LOW_CONTRAST" not in fired and not any(r.startswith("HTML_IMAGE_ONLY") for r in fired), (
            f"{name}:\n{report}")


def test_every_gallery_mail_is_valid_html_with_inline_layout(received: dict[str, Any]) -> None:
    for name, mail in received.items():
        html = mail.message.get_body(("html",)).get_content()
        parser = html5lib.HTMLParser(strict=False)
        parser.parse(html)
        errors = [html5lib.constants.E.get(code, code) % (data or {}) for _pos, code, data in parser.errors]
        assert errors == [], f"{name}: {errors[:5]}"
        assert _unstyled_text(html) == [], f"{name}: {_unstyled_text(html)[:5]}"
        text = mail.message.get_body(("plain",)).get_content()
        if name.startswith("ja/"):
            assert "株式会社サンプル 田中様" in html and "いつもお世話になっております" in text
        else:
            assert "Hi Emily," in html and "Best regards" in text


def test_the_addressee_falls_back_when_fields_are_empty(services: Any) -> None:
    from campaigns.delivery.rendering import render_preview

    with services.db.begin() as s:
        setup_account(s)
        item = gallery.starter("case_study", "ja")
        assert item is not None
        template = gallery.create_from_starter(s, services.settings, item)
        blank = Contact(email="nobody@example.co.jp", first_name="", last_name="", company="")
        s.add(blank)
        s.flush()
        html = render_preview(s, template.current_version, blank, services).html
    text = re.sub(r"<[^>]+>", "|", html)
    assert re.search(r"\|ご担当者様\|", text) and "貴社と同じく" in text
