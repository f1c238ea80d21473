"""The contact page (`contacts.show`): who the contact is, the story so far, and the privacy actions.

- show: profile, lists, scoring panel, the sequences the contact is in with what comes next, and one
  timeline (campaigns.insights.timeline) paged by `?before=<cursor>` ("show more");
- erase: a POST that must carry the contact's address or the word ERASE / 削除 typed again, then calls
  campaigns.leads.erase.erase_contact (the audit line names the logged-in user);
- export: the contact's data as JSON or CSV (campaigns.insights.contact_export).

Routes hang on the `contacts` blueprint of campaigns.views.contacts so that endpoint names stay
`contacts.*`; campaigns.views imports this module before it registers the blueprint.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from flask import Response, abort, flash, g, redirect, render_template, request, url_for

from campaigns.i18n import _
from campaigns.insights.contact_export import contact_export, export_csv
from campaigns.insights.timeline import Cursor, contact_programs, contact_timeline
from campaigns.leads.erase import EraseError, erase_contact, is_erased
from campaigns.models import Contact
from campaigns.runtime import services
from campaigns.suppression import suppression_entry
from campaigns.views.builder_common import account_zone
from campaigns.views.contacts import bp
from campaigns.views.scoring import contact_panel

ERASE_WORDS = ("ERASE", "削除", "消去")


def _contact_or_404(contact_id: int) -> Contact:
    contact = services().db.session.get(Contact, contact_id)
    if contact is None:
        abort(404)
    return contact


@bp.get("/<int:contact_id>")
def show(contact_id: int) -> Any:
    """The contact page: profile, lists, scoring, sequences, the timeline (one page of it)."""
    s = services().db.session
    contact = _contact_or_404(contact_id)
    zone = account_zone()
    cursor = Cursor.parse(request.args.get("before"))
    page = contact_timeline(s, contact.id, zone, before=cursor)
    programs = contact_programs(s, contact.id, zone)
    suppressed = suppression_entry(s, contact.email)
    panel = contact_panel(s, contact)  # score chart, stage timeline, sales stage form
    s.commit()
    more_url = (url_for("contacts.show", contact_id=contact.id, before=page.next_cursor.token(), _anchor="timeline")
                if page.next_cursor else None)
    return render_template(
        "ui/contacts/show.html", contact=contact, timeline=page, programs=programs, suppression=suppressed,
        more_url=more_url, first_url=url_for("contacts.show", contact_id=contact.id, _anchor="timeline")
        if cursor else None, erased=is_erased(contact), zone_name=zone.key, **panel,
    )


def confirmation_matches(typed: str, contact: Contact) -> bool:
    """The erase form's check: the contact's address (any letter case) or ERASE / 削除 / 消去, as typed (NFKC, so
    a full-width ＥＲＡＳＥ counts)."""
    text = unicodedata.normalize("NFKC", typed or "").strip()
    return bool(text) and (text in ERASE_WORDS or text.upper() == "ERASE" or text.lower() == contact.email.lower())


@bp.post("/<int:contact_id>/erase")
def erase(contact_id: int) -> Any:
    """Erase the contact's personal data after the typed confirmation; a wrong one changes nothing."""
    db = services().db
    contact = _contact_or_404(contact_id)
    if not confirmation_matches(request.form.get("confirm", ""), contact):
        db.session.rollback()
        flash(_("Nothing was erased: type the contact's email address or ERASE to confirm."), "error")
        return redirect(url_for("contacts.show", contact_id=contact_id, _anchor="erase"))
    who = getattr(getattr(g, "user", None), "email", "") or "unknown"
    try:
        erase_contact(db.session, contact_id, actor=f"user:{who}")
    except EraseError as exc:
        db.session.rollback()
        flash(_(str(exc)), "error")
        return redirect(url_for("contacts.show", contact_id=contact_id))
    db.session.commit()
    flash(_("The contact's personal data was erased. The address stays on the suppression list."), "success")
    return redirect(url_for("contacts.show", contact_id=contact_id))


@bp.get("/<int:contact_id>/export.json")
def export_json(contact_id: int) -> Any:
    """Download everything held about the contact as JSON."""
    return _export(contact_id, "json")


@bp.get("/<int:contact_id>/export.csv")
def export_csv_file(contact_id: int) -> Any:
    """Download everything held about the contact as one CSV."""
    return _export(contact_id, "csv")


def _export(contact_id: int, fmt: str) -> Any:
    s = services().db.session
    data = contact_export(s, contact_id, account_zone())
    s.commit()
    if data is None:
        abort(404)
    name = f"contact-{contact_id}.{fmt}"
    if fmt == "json":
        body, mimetype = json.dumps(data, ensure_ascii=False, indent=2), "application/json"
    else:
        body, mimetype = export_csv(data), "text/csv; charset=utf-8"  # with a BOM: Excel reads UTF-8
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'})
