"""Deliverability: the demo's mails, rendered and sent by the real sender and received over SMTP, score
below 2.0 in SpamAssassin (Debian package `spamassassin`, installed by scripts/bootstrap). Local rules
only (`-L`): no DNS blocklists or network checks, so the score is reproducible offline."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import pytest

from campaigns.delivery.rendering import create_template
from campaigns.delivery.sending import deliver_batch
from campaigns.demo import CASE_STUDY_HTML, WHITEPAPER_HTML
from campaigns.models import Contact
from campaigns.users import get_account
from tests.sending_helpers import _close_smtp_pools, plan_sends  # noqa: F401

SPAMASSASSIN = shutil.which("spamassassin")
pytestmark = pytest.mark.skipif(
    SPAMASSASSIN is None,
    reason="the spamassassin binary is missing: run scripts/bootstrap (apt package 'spamassassin')",
)
LIMIT = 2.0


def spam_score(raw: bytes) -> tuple[float, str]:
    """SpamAssassin's score for a message and its report (local tests only)."""
    assert SPAMASSASSIN is not None
    done = subprocess.run([SPAMASSASSIN, "-L", "-t"], input=raw, capture_output=True, timeout=180, check=False)
    out = done.stdout.decode("utf-8", "replace")
    match = re.search(r"^X-Spam-Status: \w+, score=(-?[\d.]+)", out, re.MULTILINE)
    assert match, f"no X-Spam-Status in spamassassin output: {out[:500]} {done.stderr[:500]!r}"
    report = out[out.find("Content analysis details"):] if "Content analysis details" in out else out[-1500:]
    return float(match.group(1)), report


def test_typical_demo_mails_score_below_two(services: Any, smtp_server: Any) -> None:
    with services.db.begin() as s:
        account = get_account(s)  # the demo's sender identity (campaigns/demo.py)
        account.company_name = "Nurture Demo株式会社"
        account.from_name = "Nurture Demo"
        account.from_email = "marketing@example.com"
        account.postal_address = "〒150-0002 東京都渋谷区渋谷1-2-3"
        account.contact_info = "support@example.com / 03-1234-5678"
        whitepaper = create_template(s, "ホワイトペーパー送付", subject="【資料】リードナーチャリング実践ガイドをお届けします",
                                     html_source=WHITEPAPER_HTML, from_name="Nurture Demo")
        case_study = create_template(s, "導入事例のご紹介", subject="{{ contact.company }}様へ：導入事例のご紹介",
                                     html_source=CASE_STUDY_HTML, from_name="Nurture Demo")
        contact = Contact(email="tanaka@example.co.jp", first_name="太郎", last_name="田中", company="株式会社サンプル",
                          job_title="部長")
        english = Contact(email="emily@example.com", first_name="Emily", last_name="Clark", company="Acme Corp",
                          job_title="Marketing Manager")
        s.add_all([contact, english])
        s.flush()
        ids = plan_sends(s, whitepaper.current_version, [contact]) + plan_sends(s, case_study.current_version, [english])
    assert deliver_batch(services, ids)["sent"] == 2
    scores = {}
    for mail in smtp_server.wait_for(2):
        scores[mail.rcpt_tos[0]] = spam_score(mail.raw)
    score, report = scores["tanaka@example.co.jp"]  # the whitepaper mail: the demo sequence's first step
    assert score < LIMIT, f"SpamAssassin score {score} >= {LIMIT}:\n{report}"
    # The shorter case-study mail is allowed one known rule more: with the open pixel and under ~3,200
    # characters of text it meets HTML_IMAGE_ONLY_* (up to 2.8 in the offline score set; see
    # docs/operations.md). Nothing else may fire.
    score, report = scores["emily@example.com"]
    assert score < LIMIT + 1.0, report
    assert all(line.split()[1].startswith(("HTML_IMAGE_ONLY", "NO_RECEIVED", "NO_RELAYS", "HTML_MESSAGE"))
               for line in report.splitlines() if re.match(r"^\s*-?\d+\.\d+ [A-Z_0-9]+", line)), report


def test_the_scorer_does_flag_spam(services: Any) -> None:
    """The measurement can fail: an obviously spammy message scores far above the limit."""
    spam = (b"From: winner@lottery.example\r\nTo: you@example.com\r\nSubject: =?utf-8?b?RlJFRSBNT05FWSEhIQ==?=\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n"
            b"<html><body><font size=7 color=red>CLICK HERE!!! 100% FREE VIAGRA CASINO "
            b"WIN $$$ MILLION DOLLARS NOW</font><img src=http://1.2.3.4/x.gif></body></html>\r\n")
    score, _ = spam_score(spam)
    assert score >= LIMIT
