"""Playbooks: proven B2B nurturing scenarios installed in one click, as drafts the marketer reads and edits.

A playbook creates, through the services that own each kind, everything its scenario needs: block-mail
templates from the gallery (campaigns.delivery.gallery), segments and lists (audience), hosted forms (leads),
scoring rules and hand-over triggers (scoring), a draft broadcast (journeys.broadcasts) and draft journeys
(automation). So this package sits above automation in the layers (pyproject's import-linter contract): it is
a consumer of every stage below, and nothing but the UI calls it.

Contract:
- `PLAYBOOKS`: the catalog (key, English title and summary as msgids, the kinds of object it creates), in the
  order the playbook page shows them.
- `install(session, settings, key, language, sales_email)` creates one copy in "ja" or "en" and returns the
  `Piece`s (kind, id, name) it made. Everything is switched off (journeys and broadcasts drafts, forms, rules
  and triggers inactive): nothing mails anyone or moves a score until the marketer publishes or turns it on.
  Installing again makes a second copy with every name suffixed " (2)" (campaigns.playbooks.builder.copy_suffix);
  the first copy is never read or changed. `sales_email` is where the hand-over triggers mail (the installer's
  address; editable on the trigger).
- Request-free; raises PlaybookError (or the owning service's ValueError); the caller commits, or rolls back
  so a failed install leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from campaigns.config import Settings
from campaigns.delivery.gallery import LANGUAGES
from campaigns.playbooks import scenarios
from campaigns.playbooks.builder import Installation, Piece, PlaybookError, copy_suffix

__all__ = ["PLAYBOOKS", "Piece", "Playbook", "PlaybookError", "install", "playbook"]


@dataclass(frozen=True)
class Playbook:
    """A scenario as the playbook page presents it (English msgids; the page translates them)."""

    key: str
    title: str
    summary: str  # two or three sentences: the situation, what the scenario does, why it works
    creates: tuple[str, ...]  # what the confirmation lists, as msgids
    run: Callable[[Installation], None]
    # the names the first copy takes, per language and kind, to find the next free suffix
    names: Callable[[str], dict[str, list[str]]]


def _journeys(ja: str, en: str) -> Callable[[str], dict[str, list[str]]]:
    return lambda language: {"journey": [ja if language == "ja" else en]}


def _names(journey_ja: str, journey_en: str, list_ja: str, list_en: str) -> Callable[[str], dict[str, list[str]]]:
    # list names are unique: a list of that name made by hand must move the suffix too
    return lambda language: {"journey": [journey_ja if language == "ja" else journey_en],
                             "list": [list_ja if language == "ja" else list_en]}


PLAYBOOKS: list[Playbook] = [
    Playbook(
        "document_followup", "Document request follow-up",
        "Someone downloads your guide: they are interested now, not in a month. This journey thanks them with the "
        "guide at once, then sends a customer story on day 3, a problem article on day 7, a webinar invitation on "
        "day 14 and a consultation offer on day 21. It stops as soon as they ask for a consultation.",
        ("A draft journey of five mails", "Five mail templates", "A document request form and a consultation form"),
        scenarios.document_followup, _journeys("資料請求フォロー", "Document follow-up"),
    ),
    Playbook(
        "expo_followup", "Trade show follow-up",
        "After a show, business cards go cold within weeks. Import the badge scans with the show as their source and "
        "the journey thanks visitors the next morning, sends a customer story on day 4, a webinar invitation on day 10 "
        "and a survey with a consultation offer on day 20. Hot leads go straight to inside sales.",
        ("A draft journey with hand-over to inside sales", "Four mail templates",
         "A segment of the show's visitors", "A hand-over trigger (off)"),
        scenarios.expo_followup, _journeys("展示会フォロー", "Trade show follow-up"),
    ),
    Playbook(
        "seminar", "Seminar and webinar",
        "An invitation to your engaged contacts, a registration form, and a reminder the day before. Attendees get "
        "thanks with the recording and a survey the next morning; those who registered but missed it get the recording.",
        ("A draft journey that waits for attendance", "Four mail templates", "A registration form",
         "A segment of engaged contacts and a draft invitation broadcast"),
        scenarios.seminar, _journeys("セミナー", "Webinar"),
    ),
    Playbook(
        "winback", "Win back dormant contacts",
        "Contacts who have not opened anything in 90 days hurt your deliverability. They get one mail asking whether "
        "they still want to hear from you; if they do not react within 30 days they are suppressed from all "
        "marketing mail (the suppression list, reason sunset; you can lift it there) and recorded on a sunset list.",
        ("A draft journey with a sunset policy", "A re-engagement mail template",
         "A sunset list and a dormant segment"),
        scenarios.winback, _names("休眠掘り起こし", "Win-back", "配信停止（休眠）", "Sunset: no marketing mail"),
    ),
    Playbook(
        "by_role", "Content by role",
        "A director and an analyst want different things from the same company. This journey branches on the job "
        "title: heads of department and executives get a briefing on business metrics, practitioners a hands-on "
        "checklist.",
        ("A draft journey that branches on the job title", "Two mail templates", "An entry list and a segment of "
         "executives"),
        scenarios.by_role, _names("役職別コンテンツ", "Content by role", "役職別コンテンツ配信", "Content by role"),
    ),
    Playbook(
        "mql_handover", "MQL hand-over to inside sales",
        "Agree with sales on when a lead is ready. This scoring preset gives points for seniority, document downloads, "
        "webinar attendance and pricing page visits, makes a contact an MQL when they ask for a consultation, and "
        "mails inside sales the moment that happens.",
        ("Four scoring rules (off)", "A hand-over trigger to sales (off)", "A consultation form",
         "A draft journey adding 10 points for seniority"),
        scenarios.mql_handover, _journeys("役職スコア（部長以上 +10）", "Job title score (heads of department +10)"),
    ),
]


def playbook(key: str) -> Playbook | None:
    """A playbook by key, or None (the playbook page)."""
    return next((p for p in PLAYBOOKS if p.key == key), None)


def install(session: Session, settings: Settings, key: str, language: str, sales_email: str) -> list[Piece]:
    """Install one copy of a playbook in a language (the playbook page, tests); returns what was created."""
    found = playbook(key)
    if found is None:
        raise PlaybookError("unknown playbook")
    if language not in LANGUAGES:
        raise PlaybookError("the language must be Japanese or English")
    inst = Installation(session, settings, language, copy_suffix(session, found.names(language)), sales_email)
    found.run(inst)
    session.flush()
    return inst.pieces
