"""Previews without a chosen contact show sample data in the mail's language (issue 19): a Japanese mail
(its subject, source or blocks in Japanese) is previewed as 山田 太郎 of 株式会社サンプル, an English one as
Taro Yamada, a mail that says nothing (merge tags alone) as the account's language; the gallery's mails in
their own language. Custom fields are not in the sample, so the mail's own fallbacks show."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from campaigns.delivery.rendering import preview_language, render_preview
from campaigns.models import Template
from campaigns.users import get_account
from tests.factories import committed, make_template
from tests.sending_helpers import make_version, setup_account

JA_DOC = {"blocks": [
    {"type": "heading", "text": "{{ contact.last_name }}様、資料のご案内", "level": 1},
    {"type": "text", "html": "<p>{{ contact.company }} {{ contact.job_title }} {{ contact.name }}様</p>"
                             "<p>業種: {{ contact.attributes.industry | default(\"貴社の業界\") }}</p>"},
]}


def _language(services: Any, language: str) -> None:
    with services.db.begin() as s:
        setup_account(s)
        get_account(s).language = language


def _html_form(**over: str) -> dict[str, str]:
    return {"name": "", "subject": "{{ contact.last_name }}様へ", "preheader": "", "from_name": "",
            "html_source": "<p>{{ contact.company }} {{ contact.name }}様 / {{ contact.job_title }}</p>"
                           "<p>{{ contact.attributes.plan | default(\"スタンダード\") }}</p>", "text_source": "", **over}


def _count(services: Any) -> int:
    with services.db.begin() as s:
        return int(s.scalar(select(func.count()).select_from(Template)) or 0)


def test_html_editor_previews_a_japanese_mail_with_a_japanese_contact(ui: Any, services: Any) -> None:
    _language(services, "en")  # the account is English: the mail's own language decides
    answer = ui.post("/templates/preview", _html_form(), page="/templates/new").get_json()
    assert answer["ok"] is True, answer
    assert answer["subject"] == "山田様へ"
    assert "株式会社サンプル 山田 太郎様 / マーケティング部 部長" in answer["html"]
    assert "スタンダード" in answer["html"]  # no plan in the sample: the mail's fallback
    assert "Taro" not in answer["html"] and "Example Co." not in answer["html"]
    # an English mail in the same account keeps the English sample
    english = _html_form(subject="Hello {{ contact.first_name }}",
                         html_source="<p>Dear {{ contact.name }} at {{ contact.company }}</p>")
    answer = ui.post("/templates/preview", english, page="/templates/new").get_json()
    assert answer["subject"] == "Hello Taro" and "Dear Taro Yamada at Example Co., Ltd." in answer["html"]
    assert _count(services) == 0


def test_a_mail_of_merge_tags_alone_follows_the_account_language(ui: Any, services: Any) -> None:
    tags_only = _html_form(subject="{{ contact.company }}", html_source="<p>{{ contact.name }}</p>")
    _language(services, "ja")
    answer = ui.post("/templates/preview", tags_only, page="/templates/new").get_json()
    assert answer["subject"] == "株式会社サンプル" and "山田 太郎" in answer["html"]
    _language(services, "en")
    answer = ui.post("/templates/preview", tags_only, page="/templates/new").get_json()
    assert answer["subject"] == "Example Co., Ltd." and "Taro Yamada" in answer["html"]


def test_an_english_mail_in_a_japanese_account_keeps_english_sample_data(services: Any) -> None:
    with services.db.begin() as s:
        setup_account(s)
        get_account(s).language = "ja"
        version = make_version(s, subject="Your guide, {{ contact.first_name }}", html="<p>Hi {{ contact.first_name }}</p>")
        assert preview_language(version, "ja") == "en"
        mail = render_preview(s, version, None, services)
    assert mail.subject == "Your guide, Taro" and "Hi Taro" in mail.html


def test_block_editor_previews_japanese_blocks_with_a_japanese_contact(ui: Any, services: Any) -> None:
    _language(services, "en")
    fields = {"name": "Blocks", "subject": "Hello", "preheader": "", "from_name": "", "blocks_json": json.dumps(JA_DOC)}
    answer = ui.post("/templates/blocks/preview", fields, page="/templates/blocks/new").get_json()
    assert answer["ok"] is True, answer
    assert "山田様、資料のご案内" in answer["html"]
    assert "株式会社サンプル マーケティング部 部長 山田 太郎様" in answer["html"]
    assert "貴社の業界" in answer["html"] and "貴社の業界" in answer["text"]
    assert "Taro" not in answer["html"]
    assert _count(services) == 0


def test_saved_version_preview_uses_the_mail_language(ui: Any, services: Any) -> None:
    _language(services, "en")
    tid = committed(services, make_template, name="ja", subject="{{ contact.last_name }}様", compiled=True,
                    html="<p>{{ contact.name }}様</p>")
    with services.db.begin() as s:
        vid = s.get(Template, tid).current_version_id
    page = ui.get(f"/templates/{tid}/versions/{vid}/preview").get_data(as_text=True)
    assert "山田 太郎様" in page


def test_gallery_previews_in_the_mail_language_whatever_the_account(ui: Any, services: Any) -> None:
    _language(services, "en")
    html = ui.get("/templates/gallery/ja/whitepaper/preview").get_data(as_text=True)
    assert "株式会社サンプル 山田様" in html and "Example Co." not in html
    _language(services, "ja")
    html = ui.get("/templates/gallery/en/whitepaper/preview").get_data(as_text=True)
    assert "Hi Taro," in html and "山田" not in html
