"""Segments UI: the live count and sample for the segment editor, and static contact lists (create, rename,
add and remove members by hand, by bulk from a segment or from pasted addresses, and from the contact page).

Saved segments themselves are edited by campaigns.views.contacts (segment_form.html); its editor script
(campaigns/static/segments.js) posts the rule tree here as JSON for the count and sample."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.addresses import normalize_email
from campaigns.archive import live
from campaigns.audience import describe
from campaigns.audience.archive import (
    archive_list,
    delete_list,
    duplicate_list,
    list_ids_in,
    list_usages,
    restore_list,
    selectable_lists,
    selectable_segments,
)
from campaigns.audience.lists import (
    add_import_to_list,
    add_segment_to_list,
    add_to_list,
    contact_ids_by_email,
    create_list,
    list_sizes,
    remove_from_list,
    update_list,
)
from campaigns.audience.segments import SegmentError, count_segment, sample_segment, validate_rules
from campaigns.i18n import _, current_locale
from campaigns.models import (
    Broadcast,
    Contact,
    ContactList,
    ContactListMember,
    ImportJob,
    ImportStatus,
    Segment,
    Sequence,
    Step,
)
from campaigns.params import parse_id
from campaigns.runtime import services
from campaigns.sql_functions import ascii_lower_text
from campaigns.views.archive_pages import change_page, delete_page

bp = Blueprint("segments", __name__, url_prefix="/segments")

SAMPLE_DEFAULT = 10
SAMPLE_MAX = 50
PAGE_SIZE = 50
MAX_PASTED = 10_000  # addresses per paste on the list page


# ------------------------------------------------------------------ live count and sample
def _error(code: str, message: str, status: int = 400) -> Any:
    return jsonify(error=code, message=message), status


@bp.post("/preview")
def preview() -> Any:
    """Count and first N contacts of a posted rule tree: JSON {"rules": {...}, "limit": n} (CSRF header)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _error("invalid_json", _("Send a JSON object like {\"rules\": {\"all\": []}}."))
    rules = body.get("rules", {})
    limit = body.get("limit", SAMPLE_DEFAULT)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= SAMPLE_MAX:
        return _error("invalid_limit", _("limit must be a whole number from 0 to %(n)s.", n=SAMPLE_MAX))
    s = services().db.session
    try:
        validate_rules(rules, s)
        describe.require_values(rules)
        count = count_segment(s, rules)
        sample = sample_segment(s, rules, limit) if limit else []
    except SegmentError as exc:
        message, number = describe.name_error(exc, rules, current_locale())  # "Condition 2 (Job title contains): ..."
        return jsonify(error="invalid_rules", message=message, condition=number), 400
    finally:
        s.rollback()  # read-only
    return jsonify(
        count=count,
        sample=[
            {"id": c.id, "email": c.email, "name": c.name, "company": c.company, "job_title": c.job_title,
             "stage": str(c.stage), "stage_label": describe.stage_word(c.stage, current_locale()), "score": c.score, "url": url_for("contacts.show", contact_id=c.id)}
            for c in sample
        ],
    )


@bp.app_template_global()
def segment_editor_options(rules: Any = None) -> str:
    """JSON for the editor's pickers (lists, broadcasts, sequence steps); read by segments.js. Archived lists
    are left out, except those the edited segment's `rules` already name (its conditions stay readable)."""
    s = services().db.session
    lists = [{"id": cl.id, "name": _archived_label(cl)} for cl in selectable_lists(s, keep=list_ids_in(rules or {}))]
    broadcasts = [
        {"id": i, "name": n}
        for i, n in s.execute(select(Broadcast.id, Broadcast.name).order_by(Broadcast.id.desc()).limit(200))
    ]
    steps = [
        {"id": i, "name": f"{name} #{position}"}
        for i, name, position in s.execute(
            select(Step.id, Sequence.name, Step.position)
            .join(Sequence, Sequence.id == Step.sequence_id)
            .where(Step.deleted.is_(False))
            .order_by(Sequence.name, Step.position)
            .limit(500)
        )
    ]
    return json.dumps({"lists": lists, "broadcasts": broadcasts, "steps": steps}, ensure_ascii=False)


@bp.app_template_global()
def segment_choices(keep: Any = ()) -> list[tuple[int, str]]:
    """(id, name) of the live segments, for the sequence builder's trigger and exit pickers; archived ones
    only when the sequence already uses them (`keep`), marked as archived."""
    return [(seg.id, _archived_label(seg)) for seg in selectable_segments(services().db.session, keep=keep or ())]


def _archived_label(obj: Any) -> str:
    """A picker's label: the name, and "(archived)" for an archived object kept because it is chosen."""
    return _("%(name)s (archived)", name=obj.name) if obj.archived_at else str(obj.name)


@bp.app_template_global()
def contact_list_memberships(contact_id: int) -> dict[str, Any]:
    """The lists a contact is on and the ones it could be added to (contact page)."""
    s = services().db.session
    member_of = list(s.scalars(
        select(ContactList).join(ContactListMember, ContactListMember.list_id == ContactList.id)
        .where(ContactListMember.contact_id == contact_id).order_by(ContactList.name)
    ))
    ids = {cl.id for cl in member_of}
    others = [cl for cl in selectable_lists(s)[:500] if cl.id not in ids]  # no adding to an archived list
    return {"member_of": member_of, "others": others}


# ------------------------------------------------------------------ static lists
def _list_or_404(s: Session, list_id: int) -> ContactList:
    contact_list = s.get(ContactList, list_id)
    if contact_list is None:
        abort(404)
    return contact_list


@bp.route("/lists", methods=["GET", "POST"])
def lists() -> Any:
    """All lists with their sizes; POST creates one."""
    s = services().db.session
    status = 200
    if request.method == "POST":
        try:
            created = create_list(s, request.form.get("name", ""), request.form.get("description", ""))
        except SegmentError as exc:
            s.rollback()
            flash(exc.translated(_), "error")
            status = 400
        else:
            s.commit()
            flash(_("List created."), "success")
            return redirect(url_for("segments.list_show", list_id=created.id))
    archived = request.args.get("archived") == "1"
    shown = ContactList.archived_at.is_not(None) if archived else live(ContactList)
    rows = list(s.scalars(select(ContactList).where(shown).order_by(ContactList.name)))
    archived_count = s.scalar(select(func.count()).where(ContactList.archived_at.is_not(None))) or 0
    sizes = list_sizes(s)
    s.commit()
    return render_template("ui/segments/lists.html", lists=rows, sizes=sizes, archived=archived,
                           archived_count=archived_count), status


@bp.get("/lists/<int:list_id>")
def list_show(list_id: int) -> Any:
    """A list's members, newest first, paged by contact id; forms to add and remove."""
    s = services().db.session
    contact_list = _list_or_404(s, list_id)
    after = request.args.get("after", "")
    stmt = (
        select(Contact)
        .join(ContactListMember, ContactListMember.contact_id == Contact.id)
        .where(ContactListMember.list_id == list_id)
        .order_by(Contact.id.desc())
        .limit(PAGE_SIZE + 1)
    )
    if parse_id(after) is not None:
        stmt = stmt.where(Contact.id < int(after))
    rows = list(s.scalars(stmt))
    size = s.scalar(select(func.count()).where(ContactListMember.list_id == list_id)) or 0
    segments = selectable_segments(s)
    imports = list(s.scalars(
        select(ImportJob).where(ImportJob.status == ImportStatus.DONE).order_by(ImportJob.id.desc()).limit(20)
    ))
    s.commit()
    next_url = url_for("segments.list_show", list_id=list_id, after=rows[PAGE_SIZE - 1].id) if len(rows) > PAGE_SIZE else None
    return render_template(
        "ui/segments/list_show.html", contact_list=contact_list, members=rows[:PAGE_SIZE], size=size,
        segments=segments, imports=imports, next_url=next_url,
    )


@bp.post("/lists/<int:list_id>/edit")
def list_edit(list_id: int) -> Any:
    s = services().db.session
    contact_list = _list_or_404(s, list_id)
    try:
        update_list(s, contact_list, request.form.get("name", ""), request.form.get("description", ""))
    except SegmentError as exc:
        s.rollback()
        flash(exc.translated(_), "error")
    else:
        s.commit()
        flash(_("Saved."), "success")
    return redirect(url_for("segments.list_show", list_id=list_id))


@bp.route("/lists/<int:list_id>/delete", methods=["GET", "POST"])
def list_delete(list_id: int) -> Any:
    """GET: the confirmation, or the segments that name the list and Archive instead; POST: delete it."""
    s = services().db.session
    contact_list = _list_or_404(s, list_id)
    size = list_sizes(s, [list_id]).get(list_id, 0)
    return delete_page(
        s, contact_list, what=_("list"), delete=delete_list, usages=list_usages,
        done=_("List deleted. Its contacts are still in your contacts."), done_url=url_for("segments.lists"),
        note=_("%(n)s contacts are on this list. They stay in your contacts; only the list is deleted.", n=size),
        archive_url=url_for("segments.list_archive", list_id=list_id),
        back_url=url_for("segments.list_show", list_id=list_id),
    )


@bp.post("/lists/<int:list_id>/archive")
def list_archive(list_id: int) -> Any:
    s = services().db.session
    return change_page(
        s, _list_or_404(s, list_id), archive_list,
        _("List archived: it no longer appears in lists and pickers; its members and the segments using it stay."),
        url_for("segments.list_show", list_id=list_id))


@bp.post("/lists/<int:list_id>/restore")
def list_restore(list_id: int) -> Any:
    s = services().db.session
    return change_page(s, _list_or_404(s, list_id), restore_list, _("List restored."),
                       url_for("segments.list_show", list_id=list_id))


@bp.post("/lists/<int:list_id>/duplicate")
def list_duplicate(list_id: int) -> Any:
    """A copy with the same members (campaigns.audience.archive says why)."""
    s = services().db.session
    copy, size = duplicate_list(s, _list_or_404(s, list_id), _("%(name)s (copy)"))
    s.commit()
    flash(_("Copy created: %(name)s (%(n)s members)", name=copy.name, n=size), "success")
    return redirect(url_for("segments.list_show", list_id=copy.id))


@bp.post("/lists/<int:list_id>/add")
def list_add(list_id: int) -> Any:
    """Bulk add: every contact of a saved segment, of a finished CSV import, or pasted addresses."""
    s = services().db.session
    _list_or_404(s, list_id)
    segment_id = request.form.get("segment_id", "")
    import_id = request.form.get("import_id", "")
    try:
        if import_id:
            if parse_id(import_id) is None:
                raise SegmentError(_("Choose an import."))
            added = add_import_to_list(s, list_id, int(import_id))
            message = _("Added %(n)s contacts from the import.", n=added)
        elif segment_id:
            segment = s.get(Segment, int(segment_id)) if parse_id(segment_id) is not None else None
            if segment is None:
                raise SegmentError(_("Choose a segment."))
            added = add_segment_to_list(s, list_id, segment.rules or {})
            message = _("Added %(n)s contacts from the segment.", n=added)
        else:
            raw = request.form.get("emails", "").replace(",", "\n").split()
            # folded: Lead@ finds the contact lead@ (one mailbox), as imports and the API match addresses
            emails = {ascii_lower_text(e) for e in (normalize_email(r) for r in raw[:MAX_PASTED]) if e}
            if not emails:
                raise SegmentError(_("Paste at least one valid email address."))
            found = contact_ids_by_email(s, emails)
            ids = list(found.values())
            added = add_to_list(s, list_id, ids) if ids else 0
            message = _("Added %(n)s contacts; %(m)s addresses are not contacts.", n=added, m=len(emails) - len(found))
    except SegmentError as exc:
        s.rollback()
        flash(exc.translated(_), "error")
    else:
        s.commit()
        flash(message, "success")
    return redirect(url_for("segments.list_show", list_id=list_id))


@bp.post("/lists/<int:list_id>/remove")
def list_remove(list_id: int) -> Any:
    """Remove the checked members (or one, from its row)."""
    s = services().db.session
    _list_or_404(s, list_id)
    ids = [i for i in map(parse_id, request.form.getlist("contact_id")) if i is not None]
    removed = remove_from_list(s, list_id, ids) if ids else 0
    s.commit()
    flash(_("Removed %(n)s contacts from the list.", n=removed), "success")
    return redirect(url_for("segments.list_show", list_id=list_id))


@bp.post("/contact/<int:contact_id>/lists")
def contact_lists(contact_id: int) -> Any:
    """Add the contact to a list or remove it from one (the contact page's Lists card)."""
    s = services().db.session
    if s.get(Contact, contact_id) is None:
        abort(404)
    list_id = request.form.get("list_id", "")
    if parse_id(list_id) is None or s.get(ContactList, int(list_id)) is None:
        flash(_("Choose a list."), "error")
        return redirect(url_for("contacts.show", contact_id=contact_id))
    if request.form.get("action") == "remove":
        remove_from_list(s, int(list_id), [contact_id])
        message = _("Removed from the list.")
    else:
        add_to_list(s, int(list_id), [contact_id])
        message = _("Added to the list.")
    s.commit()
    flash(message, "success")
    return redirect(url_for("contacts.show", contact_id=contact_id))
