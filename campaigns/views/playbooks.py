"""The playbook page: each scenario explained in a few sentences, installed after a confirmation of what it
creates, then a page linking every piece it made.

- GET  /playbooks/                    the scenarios as cards: the story, what it creates, the language to
                                      install in (the UI's by default) and "Install"
- POST /playbooks/<key>/install       the confirmation (campaigns.views.confirm, count None: it mails nobody)
                                      listing what will be created; the confirming POST installs and commits
- GET  /playbooks/installed           what the last install created, each piece linked to its page (the
                                      pieces ride in the session from the POST to this page)

The service is campaigns.playbooks; this module parses, confirms, calls install and commits.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, url_for

from campaigns import playbooks
from campaigns.i18n import _, current_locale
from campaigns.runtime import services
from campaigns.views import confirm

bp = Blueprint("playbooks", __name__, url_prefix="/playbooks")

LANGUAGE_NAMES = {"ja": "Japanese", "en": "English"}
SESSION_KEY = "playbook_installed"
# kind -> (label msgid, endpoint, its id argument): the result page's links
PIECE_PAGES = {
    "journey": ("Journey", "journeys.show", "journey_id"),
    "template": ("Mail template", "templates.edit", "template_id"),
    "segment": ("Segment", "contacts.segment_edit", "segment_id"),
    "list": ("List", "segments.list_show", "list_id"),
    "form": ("Form", "forms.show", "form_id"),
    "rule": ("Scoring rule", "scoring.rule_edit", "rule_id"),
    "trigger": ("Hand-over trigger", "scoring.trigger_edit", "trigger_id"),
    "broadcast": ("Broadcast", "broadcasts.show", "broadcast_id"),
}
KIND_ORDER = list(PIECE_PAGES)


def _language(raw: str | None) -> str:
    return raw if raw in LANGUAGE_NAMES else ("ja" if current_locale() == "ja" else "en")


@bp.get("/")
def index() -> Any:
    """Every playbook with its story and an Install button."""
    return render_template("ui/playbooks/index.html", playbooks=playbooks.PLAYBOOKS,
                           language=_language(None), language_names=LANGUAGE_NAMES)


@bp.post("/<key>/install")
def install(key: str) -> Any:
    """Confirm, then install one copy of a playbook in the chosen language."""
    found = playbooks.playbook(key)
    if found is None:
        abort(404)
    language = _language(request.form.get("language"))
    gate = confirm.gate(confirm.Confirmation(
        title=_("Install “%(name)s”", name=_(found.title)),
        action=_("Install"),
        count=None, show_when=False,
        details=[(_("Language of the mails and names"), _(LANGUAGE_NAMES[language]))]
        + [(_("Creates"), _(item)) for item in found.creates],
        notes=[_("Everything is created switched off: journeys and broadcasts as drafts, forms, scoring rules and "
                 "triggers inactive. Nothing is sent and no score changes until you publish or turn it on."),
               _("Installing again makes a second copy with its own names; this copy is never changed.")],
        back_url=url_for("playbooks.index"),
    ))
    if gate is not None:
        return gate
    svc = services()
    s = svc.db.session
    try:
        pieces = playbooks.install(s, svc.settings, key, language, g.user.email)
    except ValueError as exc:  # PlaybookError or a service's own refusal: nothing is kept
        s.rollback()
        flash(_(str(exc)), "error")
        return redirect(url_for("playbooks.index"))
    s.commit()
    session[SESSION_KEY] = {"key": key, "pieces": [[p.kind, p.id, p.name] for p in pieces]}
    flash(_("“%(name)s” is installed as drafts. Read each piece, change what is yours, then publish.",
            name=_(found.title)), "success")
    return redirect(url_for("playbooks.installed"))


@bp.get("/installed")
def installed() -> Any:
    """The pieces of the last install, grouped by kind, each linked to its page."""
    data = session.get(SESSION_KEY)
    found = playbooks.playbook(str((data or {}).get("key", "")))
    if not data or found is None:
        return redirect(url_for("playbooks.index"))
    groups: dict[str, list[dict[str, Any]]] = {}
    for kind, piece_id, name in data.get("pieces", []):
        if kind not in PIECE_PAGES:
            continue
        _label, endpoint, argument = PIECE_PAGES[kind]
        values: dict[str, Any] = {argument: int(piece_id)}
        groups.setdefault(kind, []).append({"name": name, "url": url_for(endpoint, **values)})
    ordered = [(PIECE_PAGES[k][0], groups[k]) for k in KIND_ORDER if k in groups]
    return render_template("ui/playbooks/installed.html", playbook=found, groups=ordered)
