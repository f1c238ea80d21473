"""The template gallery: ready-made block mails in Japanese and English, and making a template from one.

Contract:
- `starters(language)` lists the gallery's mails in one language ("ja" or "en"; anything else reads "en"),
  in the order the gallery shows them; `starter(key, language)` is one of them or None.
- Every starter is a block document (docs/mail-blocks.md) passed through `blocks.validate_document` when it
  becomes a template; `create_from_starter` makes a new template through `block_mails.create_block_template`
  (brand kit, MJML, the one compile path), named after the starter unless a name is given.
- The same keys exist in both languages (tests check it): a playbook asks for "case_study" in the
  account's language and always finds it.

Callers: the gallery page (campaigns.views.gallery), the playbooks (campaigns.playbooks), tests. Request-free;
the caller commits. The mails themselves are data in ja.py and en.py; parts.py holds the opening, the closing
and the block helpers they share.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from campaigns.config import Settings
from campaigns.delivery.block_mails import create_block_template
from campaigns.delivery.gallery import en, ja
from campaigns.delivery.gallery.parts import Starter
from campaigns.models import Template

LANGUAGES = ("ja", "en")
CATEGORIES = ("nurture", "event", "sales")
_BY_LANGUAGE: dict[str, list[Starter]] = {"ja": ja.STARTERS, "en": en.STARTERS}

__all__ = ["CATEGORIES", "LANGUAGES", "Starter", "create_from_starter", "starter", "starters"]


def _language(language: str | None) -> str:
    return language if language in LANGUAGES else "en"


def starters(language: str | None) -> list[Starter]:
    """The gallery's mails in a language, in display order (gallery page, tests)."""
    return list(_BY_LANGUAGE[_language(language)])


def starter(key: str, language: str | None) -> Starter | None:
    """One gallery mail by key and language, or None (gallery page, playbooks)."""
    return next((s for s in _BY_LANGUAGE[_language(language)] if s.key == key), None)


def create_from_starter(session: Session, settings: Settings, item: Starter, name: str | None = None) -> Template:
    """A new block-mail template from a gallery mail, compiled with the account's brand kit (gallery page,
    playbooks); raises TemplateError if the mail cannot compile (a bug in the data: tests compile them all)."""
    return create_block_template(session, settings, name or item.name, document=item.document,
                                 subject=item.subject, preheader=item.preheader)
