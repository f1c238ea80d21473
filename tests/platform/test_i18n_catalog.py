"""The gettext catalog behind `_()` (campaigns/i18n.py, scripts/i18n): plural forms and contexts in both
languages, dates and numbers by locale in the account's zone, service messages matched against the catalog's
msgids, the .mo rebuilt from a newer .po, the account's language for the sales hand-over mail and a form's
default consent wording, and `scripts/i18n check` over the whole code base."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask, render_template_string

from campaigns import i18n
from campaigns.models import Account

ROOT = Path(__file__).resolve().parents[2]
JA = {"Accept-Language": "ja"}
EN = {"Accept-Language": "en"}


def _set_account(services: Any, **values: Any) -> None:
    with services.db.begin() as s:
        account = s.get(Account, 1)
        for key, value in values.items():
            setattr(account, key, value)


@pytest.mark.parametrize("count, english, japanese", [
    (1, "1 day", "1日"), (2, "2 days", "2日"), (0, "0 days", "0日"), (31, "31 days", "31日"),
])
def test_plural_forms_in_both_languages(app: Flask, count: int, english: str, japanese: str) -> None:
    with app.test_request_context(headers=EN):
        assert i18n.ngettext("1 day", "%(num)d days", count) == english
    with app.test_request_context(headers=JA):
        assert i18n.ngettext("1 day", "%(num)d days", count) == japanese


def test_plural_forms_in_templates_with_a_formatted_count(app: Flask) -> None:
    """A count shown with the locale's grouping: the number picks the form, the formatted text is shown."""
    source = "{{ ngettext('1 contact', '%(count)s contacts', n, count=n|format_number) }}"
    with app.test_request_context(headers=EN):
        assert render_template_string(source, n=1) == "1 contact"
        assert render_template_string(source, n=12345) == "12,345 contacts"
    with app.test_request_context(headers=JA):
        assert render_template_string(source, n=1) == "1件"
        assert render_template_string(source, n=12345) == "12,345件"


def test_a_word_is_translated_by_its_context(app: Flask) -> None:
    """ "Open" the verb (a link) is 開く; "Open" the event a recipient makes is 開封; English shows both as Open."""
    with app.test_request_context(headers=JA):
        assert i18n.gettext("Open") == "開く"
        assert i18n.pgettext("event", "Open") == "開封"
        assert render_template_string("{{ pgettext('event', 'Open') }}/{{ _('Open') }}") == "開封/開く"
        assert i18n.pgettext("recipient", "To") == "宛先"
    with app.test_request_context(headers=EN):
        assert i18n.pgettext("event", "Open") == "Open" and i18n.gettext("Open") == "Open"


def test_dates_are_formatted_by_locale_in_the_account_zone(app: Flask, services: Any) -> None:
    """00:30 UTC on Jan 15 is 19:30 on Jan 14 in New York: the filters and `account_time` use the account's zone
    and write the date as each language does."""
    _set_account(services, timezone="America/New_York")
    moment = datetime(2030, 1, 15, 0, 30, tzinfo=UTC)
    page = "{{ t|format_datetime }}|{{ t|account_time }}|{{ t|format_date }}|{{ t|format_time }}|{{ t|account_time('%H:%M') }}"
    with app.test_request_context(headers=EN):
        assert render_template_string(page, t=moment) == "Jan 14, 2030, 19:30|Jan 14, 2030, 19:30|Jan 14, 2030|19:30|19:30"
    with app.test_request_context(headers=JA):
        assert render_template_string(page, t=moment) == "2030年1月14日 19:30|2030年1月14日 19:30|2030年1月14日|19:30|19:30"
    _set_account(services, timezone="Asia/Tokyo")
    with app.test_request_context(headers=JA):
        assert render_template_string("{{ t|account_time }}", t=moment) == "2030年1月15日 9:30"
    # request-free code names the zone and the language
    assert i18n.format_datetime(moment, zone=ZoneInfo("Asia/Tokyo"), locale="en") == "Jan 15, 2030, 09:30"
    assert i18n.format_datetime(None) == ""


def test_numbers_are_formatted_by_locale(app: Flask) -> None:
    with app.test_request_context(headers=JA):
        assert render_template_string("{{ 1234567|format_number }} {{ 0.1234|format_percent }}") == "1,234,567 12.3%"
    assert i18n.format_number(1234567.5, locale="en") == "1,234,567.5"


def test_service_messages_match_the_catalog_msgids() -> None:
    """A service's message with values is matched against the catalog's msgids with placeholders, each value
    translated too when it is a msgid itself; a message nothing matches is recorded as missing."""
    assert i18n.translate_in("ja", "unknown time zone 'Mars/Base'") == "タイムゾーン 'Mars/Base' は使えません（例: Asia/Tokyo）"
    assert i18n.translate_in("en", "unknown time zone 'Mars/Base'") == "unknown time zone 'Mars/Base'"
    i18n.missing = set()
    try:
        assert i18n.translate_in("ja", "no such message 7") == "no such message 7"
        # msgids of placeholders and punctuation only ("%(what)s: %(reason)s") recognise no message
        assert i18n.translate_in("ja", "Nothing known: at all") == "Nothing known: at all"
        assert i18n.missing == {"no such message 7", "Nothing known: at all"}
    finally:
        i18n.missing = None


def test_codes_are_shown_as_words(app: Flask) -> None:
    with app.test_request_context(headers=EN):
        assert [i18n.words(c) for c in ("job_title", "utf-8-sig", "cp932")] == [
            "Job title", "UTF-8 (with BOM)", "Shift_JIS (Windows)"]
    with app.test_request_context(headers=JA):
        assert render_template_string("{{ 'job_title'|words }} {{ 'utf-8-sig'|words }}") == "役職 UTF-8（BOM付き）"


def test_a_newer_po_is_compiled_before_it_is_served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The .mo is not in git: a missing or older .mo is rebuilt from the .po (fresh clone, edited .po)."""
    folder = tmp_path / "ja" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    po = folder / "messages.po"
    po.write_text('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n"Plural-Forms: nplurals=1; '
                  'plural=0;\\n"\n\nmsgid "Hello"\nmsgstr "こんにちは"\n', encoding="utf-8")
    monkeypatch.setattr(i18n, "CATALOG_DIR", tmp_path)
    assert i18n.compile_catalog("ja") is None
    mo = folder / "messages.mo"
    assert mo.exists() and "こんにちは".encode() in mo.read_bytes()
    assert i18n.compile_catalog("ja") is None and mo.stat().st_mtime >= po.stat().st_mtime  # fresh: kept
    po.write_text(po.read_text(encoding="utf-8").replace("こんにちは", "やあ"), encoding="utf-8")
    os.utime(po, (mo.stat().st_mtime + 10, mo.stat().st_mtime + 10))
    i18n.compile_catalog("ja")
    assert "やあ".encode() in mo.read_bytes()


def test_the_hand_over_mail_follows_the_account_language() -> None:
    from campaigns.scoring.handover import render_sales_email

    payload = {"contact": {"id": 7, "email": "hanako@client.co.jp", "first_name": "花子", "last_name": "山田",
                           "company": "Client KK", "score": 80, "stage": "mql"},
               "trigger": {"name": "営業へ通知"},
               "stage_change": {"from": "hot", "to": "mql", "cause": "score_threshold", "detail": "score 80 >= 60"}}
    subject, text, html = render_sales_email(payload, "http://nurture.test", "ja")
    assert subject == "[Nurture] 山田 花子: MQL になりました"
    assert "スコア: 80" in text and "ステージ: MQL" in text and "ホット → MQL（スコアしきい値: score 80 >= 60）" in text
    assert "トリガー: 営業へ通知" in html and "score_threshold" not in text + html
    subject, text, _html = render_sales_email(payload, "http://nurture.test", "en")
    assert subject == "[Nurture] 山田 花子: Now MQL"
    assert "Moved from Hot to MQL (Score threshold: score 80 >= 60)" in text and "Stage: MQL" in text
    reached = {"contact": payload["contact"], "trigger": {"name": "t"}, "threshold": 50}
    assert render_sales_email(reached, "http://nurture.test", "ja")[0].endswith("スコアが 50 に達しました")


def test_the_default_consent_text_follows_the_account_language(ui: Any, services: Any) -> None:
    """The wording a new form starts with is the account's language, whatever the marketer's UI language."""
    _set_account(services, language="ja")
    html = ui.get("/forms/new", headers=EN).get_data(as_text=True)
    assert "製品・セミナー・キャンペーンに関するメールの受信に同意します。配信はいつでも停止できます。" in html
    _set_account(services, language="en")
    html = ui.get("/forms/new", headers=JA).get_data(as_text=True)
    assert "I agree to receive emails about products, events and offers." in html


def test_settings_choose_the_account_language(ui: Any, services: Any) -> None:
    page = ui.get("/settings/").get_data(as_text=True)
    assert 'name="language"' in page and "日本語" in page
    form = {"company_name": "Acme Test KK", "from_name": "Acme", "from_email": "news@acme.test", "reply_to": "",
            "postal_address": "1-1-1 Marunouchi, Tokyo", "contact_info": "support@acme.test",
            "timezone": "Asia/Tokyo", "language": "ja", "freq_cap_count": "3", "freq_cap_days": "7"}
    ui.post("/settings/", form, page="/settings/")
    with services.db.begin() as s:
        assert s.get(Account, 1).language == "ja"


def test_scripts_i18n_check_passes() -> None:
    """Every msgid extracted from the code and templates (babel.cfg) has Japanese, nothing is fuzzy, and the
    placeholders of each translation are its msgid's: the command CI and the lead run."""
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "i18n_catalog.py"), "check"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
