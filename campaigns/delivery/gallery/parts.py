"""The pieces every gallery mail is made of: the Starter record and the blocks that open and close a mail
the way each language's business mail does (docs/mail-blocks.md is the format).

Japanese business mail opens with the recipient's company and name on one line (「〇〇株式会社 〇〇様」),
then いつもお世話になっております and who writes; it closes with a 署名 (signature block). Merge tags carry
fallbacks with `default(..., true)` so an empty field (not only a missing one) falls back: a contact with no
family name is ご担当者様, one with no company gets no company. English opens with "Hi <first name>," and
closes with "Best regards" and the sender.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Block = dict[str, Any]

# One line, as Japanese mail writes the addressee; the company and its space only when there is one.
JA_ADDRESSEE = ('{{ contact.company ~ " " if contact.company }}'
                '{{ contact.last_name | default("ご担当者", true) }}様')
JA_NAME = '{{ contact.last_name | default("ご担当者", true) }}様'
JA_COMPANY = '{{ contact.company | default("貴社", true) }}'
EN_FIRST_NAME = '{{ contact.first_name | default("there", true) }}'
EN_COMPANY = '{{ contact.company | default("your team", true) }}'


@dataclass(frozen=True)
class Starter:
    """One gallery mail in one language: what the card shows and what the template gets."""

    key: str  # the same key in every language (newsletter, whitepaper, ...)
    language: str  # "ja" or "en"
    category: str  # "nurture", "event", "sales": the gallery's grouping
    name: str  # the template's name when created
    summary: str  # the card's sentence: when a marketer uses it
    subject: str
    preheader: str
    blocks: list[Block] = field(default_factory=list)

    @property
    def document(self) -> dict[str, Any]:
        """The block document (docs/mail-blocks.md), footer last."""
        return {"format": "nurture-blocks", "version": 1, "blocks": [*self.blocks, {"type": "footer"}]}


def heading(text: str, level: int = 1, **settings: Any) -> Block:
    return {"type": "heading", "text": text, "level": level, **settings}


def text(html: str, **settings: Any) -> Block:
    return {"type": "text", "html": html, **settings}


def button(label: str, href: str, **settings: Any) -> Block:
    return {"type": "button", "label": label, "href": href, "align": "center", "padding": "medium", **settings}


def divider() -> Block:
    return {"type": "divider", "padding": "medium"}


def card(title: str, summary: str, label: str, href: str) -> Block:
    return {"type": "card", "title": title, "text": summary, "link": {"label": label, "href": href}}


def columns(*cols: list[Block]) -> Block:
    return {"type": "columns", "columns": list(cols)}


def quote(words: str, author: str, role: str) -> Block:
    return {"type": "quote", "text": words, "author": author, "role": role, "padding": "medium"}


def ja_opening(lead: str) -> list[Block]:
    """The addressee line, the greeting and who writes, then the mail's first paragraph."""
    return [text(f"<p>{JA_ADDRESSEE}</p>"
                 "<p>いつもお世話になっております。<br>{{ account.company_name }}の{{ account.from_name }}です。</p>"
                 f"<p>{lead}</p>")]


def ja_closing(note: str = "ご不明な点がございましたら、本メールにそのままご返信ください。") -> list[Block]:
    """The closing line, 今後ともよろしくお願いいたします and the 署名."""
    return [text(f"<p>{note}<br>今後ともどうぞよろしくお願いいたします。</p>"
                 "<p>――――――――――――――――――<br>{{ account.company_name }}<br>{{ account.from_name }}<br>"
                 "{{ account.contact_info }}<br>――――――――――――――――――</p>", padding="medium")]


def en_opening(lead: str) -> list[Block]:
    """The greeting with the first name (fallback "there"), then the mail's first paragraph."""
    return [text(f"<p>Hi {EN_FIRST_NAME},</p><p>{lead}</p>")]


def en_closing(note: str = "If you have any questions, just reply to this email.") -> list[Block]:
    """The closing line and the signature."""
    return [text(f"<p>{note}</p><p>Best regards,<br>{{{{ account.from_name }}}}<br>{{{{ account.company_name }}}}</p>",
                 padding="medium")]
