"""Global search (the box in the header): contacts, mail templates, journeys, sequences, broadcasts,
segments, lists and forms by name, one results page grouped by type.

Contract:
- GET /search?q=... -> templates/ui/search.html with `groups`: (key, label, hits, more) in the order of
  TYPES; a hit is (name, url, note); `more` links to the full list when a type has more than LIMIT hits
- contacts match exactly as the contact list's search box does (campaigns.audience.contact_filter with
  the query as its `q`: the folded words of campaigns.search_text against the stored search column),
  newest first; "more" opens the contact list with the same search
- every other type matches by name with the same folding (campaigns.search_text.fold: NFKC, case,
  hiragana/katakana, spaces), every word of the query in the name; archived objects are found too and
  marked, since their reports live on
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, current_app, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.audience.contact_filter import SORTS, ContactFilter, FilterError, page
from campaigns.i18n import _
from campaigns.models import Broadcast, ContactList, Form, Journey, Segment, Sequence, Template
from campaigns.runtime import services
from campaigns.search_text import fold, search_words
from campaigns.views.builder_common import account_zone

bp = Blueprint("search", __name__, url_prefix="/search")

LIMIT = 20  # hits shown per type
SCAN = 5000  # names read per type (newest first): far more than a workspace has of any object but contacts
MAX_QUERY = 200


@dataclass(frozen=True)
class Hit:
    name: str
    url: str
    note: str = ""  # status or "Archived", in words


@dataclass(frozen=True)
class Group:
    key: str
    label: str
    hits: list[Hit]
    more: str | None = None  # the list page when more than LIMIT matched


@dataclass(frozen=True)
class NamedType:
    """An object found by its name: the model, its list page and how a row becomes a link."""

    key: str
    label: str
    model: Any
    list_endpoint: str
    link: Callable[[Any], str]
    note: Callable[[Any], str]


def _archived(row: Any) -> str:
    return _("Archived") if getattr(row, "archived_at", None) else ""


def _status(row: Any) -> str:
    return _(row.status.value) if row.status is not None else ""


NAMED: list[NamedType] = [
    NamedType("templates", "Mail templates", Template, "templates.index",
              lambda r: url_for("templates.edit", template_id=r.id), _archived),
    NamedType("journeys", "Journeys", Journey, "journeys.index",
              lambda r: url_for("journeys.show", journey_id=r.id), _status),
    NamedType("sequences", "Sequences", Sequence, "sequences.index",
              lambda r: url_for("sequences.show", sequence_id=r.id), _status),
    NamedType("broadcasts", "Broadcasts", Broadcast, "broadcasts.index",
              lambda r: url_for("broadcasts.show", broadcast_id=r.id), _status),
    NamedType("segments", "Segments", Segment, "contacts.segments",
              lambda r: url_for("contacts.segment_edit", segment_id=r.id), _archived),
    NamedType("lists", "Lists", ContactList, "segments.lists",
              lambda r: url_for("segments.list_show", list_id=r.id), _archived),
    NamedType("forms", "Forms", Form, "forms.index",
              lambda r: url_for("forms.show", form_id=r.id), _archived),
]


def matches(name: str, words: list[str]) -> bool:
    """True when every folded word of the query is in the folded name (the object types' rule)."""
    folded = fold(name)
    return all(word in folded for word in words)


def _named(s: Session, kind: NamedType, words: list[str]) -> Group | None:
    if kind.list_endpoint not in current_app.view_functions:
        return None  # a type whose pages are not registered (journeys while they are being built)
    rows = s.scalars(select(kind.model).order_by(kind.model.id.desc()).limit(SCAN))
    found = [row for row in rows if matches(row.name, words)]
    hits = [Hit(row.name, kind.link(row), kind.note(row)) for row in found[:LIMIT]]
    more = url_for(kind.list_endpoint) if len(found) > LIMIT else None
    return Group(kind.key, kind.label, hits, more)


def _contacts(s: Session, q: str) -> Group:
    flt = ContactFilter(q=q, zone=str(account_zone()))
    try:
        result = page(s, flt, SORTS["created"], True, None, LIMIT)
    except FilterError:
        return Group("contacts", "Contacts", [])
    hits = []
    for contact in result.contacts:
        label = f"{contact.name} <{contact.email}>" if contact.name.strip() else contact.email
        note = " · ".join(part for part in (contact.company, contact.job_title) if part)
        hits.append(Hit(label, url_for("contacts.show", contact_id=contact.id), note))
    more = url_for("contacts.index", q=q) if result.next_cursor else None
    return Group("contacts", "Contacts", hits, more)


@bp.get("/")
def index() -> Any:
    """The results page: every type that matched, contacts first; a count per type."""
    q = request.args.get("q", "").strip()[:MAX_QUERY]
    words = search_words(q)
    groups: list[Group] = []
    if words:
        s = services().db.session
        groups.append(_contacts(s, q))
        for kind in NAMED:
            group = _named(s, kind, words)
            if group is not None:
                groups.append(group)
        s.commit()
    found = [g for g in groups if g.hits]
    return render_template("ui/search.html", q=q, searched=bool(words), groups=found,
                           searched_types=[g.label for g in groups])
