"""The top navigation: the UI's pages in four groups, which one is the current page, and whether the
development outbox is shown.

Contract (templates/ui/base.html draws it):
- GROUPS: (key, label, items); an item is (endpoint, label, prefixes): the endpoint its link goes to and
  the endpoint prefixes of the pages that belong to it ("contacts.segment" for every segment page)
- `navigation()` in every UI template: the groups with only the items whose endpoint is registered (the
  Journeys page, say, while another engineer builds it), each item marked current by the longest prefix
  that matches the request's endpoint, and `show_outbox`
- `empty_hint()` in every template: what the empty list page being drawn is for (EMPTY_HINTS)
- `install(app)` adds the context processor (campaigns.views.register_ui)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, g, request
from sqlalchemy import select

from campaigns.i18n import _
from campaigns.models import OutboxMessage
from campaigns.runtime import services

Item = tuple[str, str, tuple[str, ...]]

GROUPS: list[tuple[str, str, list[Item]]] = [
    ("audience", "Audience", [
        ("contacts.index", "Contacts", ("contacts.", "reports.contact", "scoring.set_contact_stage")),
        ("contacts.segments", "Segments", ("contacts.segment",)),
        ("segments.lists", "Lists", ("segments.",)),
        ("forms.index", "Forms", ("forms.",)),
        ("events.index", "Events", ("events.",)),
        ("contacts.import_upload", "Imports", ("contacts.import",)),
    ]),
    ("campaigns", "Campaigns", [
        ("journeys.index", "Journeys", ("journeys.",)),
        ("playbooks.index", "Playbooks", ("playbooks.",)),
        ("sequences.index", "Sequences", ("sequences.",)),
        ("broadcasts.index", "Broadcasts", ("broadcasts.",)),
        ("templates.index", "Mail templates", ("templates.",)),
        ("abtests.index", "A/B tests", ("abtests.",)),
    ]),
    ("insights", "Insights", [
        ("reports.index", "Reports", ("reports.",)),  # a campaign's report too (a contact's: Contacts)
        ("kpi.index", "KPIs", ("kpi.",)),
        ("visitors.index", "Recent visitors", ("visitors.",)),
        ("scoring.index", "Scoring", ("scoring.",)),
    ]),
    ("settings", "Settings", [
        ("settings.account", "Account and sender", ("settings.",)),
        ("public_names.index", "Names recipients see", ("public_names.",)),
        ("website.index", "Website tracking", ("website.",)),
    ]),
]


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: str
    current: bool


@dataclass(frozen=True)
class NavGroup:
    key: str
    label: str
    items: list[NavItem]

    @property
    def current(self) -> bool:
        """True when the page shown belongs to this group (its button is marked)."""
        return any(item.current for item in self.items)


def current_item(endpoint: str, items: list[Item]) -> str | None:
    """The endpoint of the item the page `endpoint` belongs to: the longest matching prefix wins, so a
    segment page ("contacts.segment_edit") is under Segments, not under Contacts ("contacts.")."""
    best, best_length = None, 0
    for target, _label, prefixes in items:
        for prefix in prefixes:
            if endpoint.startswith(prefix) and len(prefix) > best_length:
                best, best_length = target, len(prefix)
    return best


def outbox_in_use() -> bool:
    """The development outbox is worth a link when mail goes to it (no SMTP relay configured) or it holds
    messages from an earlier run; on a production install with a relay it stays out of the way."""
    if services().settings.uses_outbox:
        return True
    if "outbox_in_use" not in g:
        g.outbox_in_use = services().db.session.scalar(select(OutboxMessage.id).limit(1)) is not None
    return bool(g.outbox_in_use)


def navigation() -> dict[str, Any]:
    """The navigation for the page being drawn (the context processor's value)."""
    registered = current_app.view_functions
    available = [(key, label, [item for item in items if item[0] in registered]) for key, label, items in GROUPS]
    endpoint = request.endpoint or ""
    current = current_item(endpoint, [item for _key, _label, items in available for item in items])
    groups = [NavGroup(key, label, [NavItem(e, text, e == current) for e, text, _p in items])
              for key, label, items in available if items]
    return {"groups": groups, "show_outbox": outbox_in_use() if g.get("user") else False}


# What an empty list page is for and what to do next (templates/ui/_lists.html's empty_state), by page.
EMPTY_HINTS = {
    "templates.index": "A template is one mail: subject, sender name and content. Sequences, journeys and "
                       "broadcasts send templates, so most work starts here.",
    "sequences.index": "A sequence sends a series of mails at set intervals to each contact who enters it, "
                       "from a form, an event or by hand.",
    "broadcasts.index": "A broadcast sends one mail to a segment or to all active contacts, now or at a set time. "
                        "You see who and when before anything is sent.",
    "journeys.index": "A journey sends mails, waits and branches on what each contact does: opens, clicks, "
                      "forms and events.",
    "forms.index": "Put the form on your website or share its link; each submission becomes a contact.",
}


def empty_hint() -> str:
    """The next step for the empty list page being drawn, in the user's language ("" when it has none)."""
    hint = EMPTY_HINTS.get(request.endpoint or "")
    return _(hint) if hint else ""


def install(app: Flask) -> None:
    """Give every template `navigation()` and `empty_hint()` (called by campaigns.views.register_ui)."""
    app.context_processor(lambda: {"navigation": navigation})
    app.add_template_global(empty_hint, "empty_hint")
