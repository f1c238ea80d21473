"""The contact list (`contacts.index`): filters in words, sort by any shown column, chosen columns, keyset
pages, and bulk actions on the selection or on the whole filter.

Routes hang on the `contacts` blueprint of campaigns.views.contacts so that endpoint names stay
`contacts.*`; campaigns.views imports this module before it registers the blueprint. The filter, the
sorts and the pages are campaigns.audience.contact_filter; the bulk actions campaigns.bulk (a
background job above bulk.BACKGROUND_ABOVE contacts, with a progress page). Enrolment and erasure ask
for confirmation first (campaigns.views.confirm). The chosen columns are remembered in the user's
session.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from flask import Response, flash, g, jsonify, redirect, render_template, request, session, url_for
from rq.job import Job
from sqlalchemy import select

from campaigns import bulk, queueing
from campaigns.audience.contact_filter import (
    SORTS,
    ContactFilter,
    FilterError,
    decode_cursor,
    page,
)
from campaigns.i18n import _
from campaigns.journeys import walk_entry
from campaigns.models import ContactList, ContactStatus, Journey, Segment, Sequence, Stage
from campaigns.runtime import services
from campaigns.users import get_account
from campaigns.views import confirm
from campaigns.views.builder_common import account_zone
from campaigns.views.contacts import PAGE_SIZE, bp
from campaigns.views.jobs import job_or_404, job_state

# Columns a user may show, in table order; email and name are always shown.
COLUMNS = ("company", "job_title", "source", "stage", "score", "status", "created", "activity")
DEFAULT_COLUMNS = ("company", "stage", "score", "status", "created")
COLUMN_LABELS = {
    "email": "Email", "name": "Name", "company": "Company", "job_title": "Job title", "source": "Source",
    "stage": "Stage", "score": "Score", "status": "Status", "created": "Created", "activity": "Last activity",
}
ACTION_LABELS = {
    "add_to_list": "Add to list", "remove_from_list": "Remove from list", "enrol": "Enrol in a journey or sequence",
    "set_stage": "Set stage", "suppress": "Suppress", "erase": "Erase personal data", "export": "Export CSV",
}


def _columns() -> list[str]:
    chosen = session.get("contact_columns")
    if not isinstance(chosen, list):
        return list(DEFAULT_COLUMNS)
    return [c for c in COLUMNS if c in chosen]


def _filter() -> tuple[ContactFilter, list[str]]:
    return ContactFilter.parse(request.args, account_zone())


def _stage_label(stage: str) -> str:
    return _(stage.upper()) if stage in ("mql", "sql") else _(stage.capitalize())


def _describe(flt: ContactFilter, names: dict[str, dict[int, str]]) -> list[tuple[str, str, str]]:
    """The filter in words, one chip per condition: (field, text, url without it)."""
    args = flt.as_args()
    chips: list[tuple[str, str]] = []
    if flt.q:
        chips.append(("q", _("contains “%(words)s”", words=flt.q)))
    if flt.stage:
        chips.append(("stage", _("Stage is %(stage)s", stage=_stage_label(flt.stage))))
    if flt.score_min is not None and flt.score_max is not None:
        chips.append(("score", _("Score from %(low)s to %(high)s", low=flt.score_min, high=flt.score_max)))
    elif flt.score_min is not None:
        chips.append(("score", _("Score at least %(low)s", low=flt.score_min)))
    elif flt.score_max is not None:
        chips.append(("score", _("Score at most %(high)s", high=flt.score_max)))
    if flt.source:
        chips.append(("source", _("Source is “%(source)s”", source=flt.source)))
    if flt.status:
        chips.append(("status", _("Status is %(status)s", status=_(flt.status.capitalize()))))
    if flt.list_id is not None:
        chips.append(("list_id", _("On the list “%(name)s”", name=names["lists"].get(flt.list_id, "?"))))
    if flt.segment_id is not None:
        chips.append(("segment_id", _("In the segment “%(name)s”", name=names["segments"].get(flt.segment_id, "?"))))
    for key, label in (("created", _("Created")), ("active", _("Last activity"))):
        start, end = getattr(flt, f"{key}_from"), getattr(flt, f"{key}_to")
        if start and end:
            chips.append((key, _("%(what)s from %(start)s to %(end)s", what=label, start=start, end=end)))
        elif start:
            chips.append((key, _("%(what)s on or after %(start)s", what=label, start=start)))
        elif end:
            chips.append((key, _("%(what)s on or before %(end)s", what=label, end=end)))
    if flt.attr_key:
        if flt.attr_value:
            chips.append(("attr", _("“%(key)s” is “%(value)s”", key=flt.attr_key, value=flt.attr_value)))
        else:
            chips.append(("attr", _("“%(key)s” is empty", key=flt.attr_key)))
    drops = {"score": ("score_min", "score_max"), "created": ("created_from", "created_to"),
             "active": ("active_from", "active_to"), "attr": ("attr_key", "attr_value")}
    out = []
    for key, text in chips:
        rest = {k: v for k, v in args.items() if k not in drops.get(key, (key,))}
        out.append((key, text, url_for("contacts.index", **_keep_view(rest))))
    return out


def _keep_view(args: dict[str, str]) -> dict[str, Any]:
    """Filter args plus the current sort (links that change the filter keep the order)."""
    out: dict[str, Any] = dict(args)
    for name in ("sort", "dir"):
        if request.args.get(name):
            out[name] = request.args[name][:20]
    return out


@bp.get("/")
def index() -> Any:
    """Contacts filtered, sorted and paged by keyset (`?cursor=`); no OFFSET and no COUNT of the whole filter."""
    s = services().db.session
    flt, problems = _filter()
    sort = SORTS.get(request.args.get("sort", ""), SORTS["created"])
    direction = request.args.get("dir", "")
    descending = sort.default_descending if direction not in ("asc", "desc") else direction == "desc"
    cursor = decode_cursor(request.args.get("cursor"), sort)
    error = ""
    try:
        result = page(s, flt, sort, descending, cursor, PAGE_SIZE)
    except FilterError as exc:
        error = _(str(exc))
        result = page(s, ContactFilter(zone=flt.zone), sort, descending, cursor, PAGE_SIZE)
    lists = dict(s.execute(select(ContactList.id, ContactList.name).order_by(ContactList.name)).all())
    segments = dict(s.execute(select(Segment.id, Segment.name).order_by(Segment.name)).all())
    sequences = walk_entry.enrol_choices(s)  # live journeys (converted sequences as theirs), active sequences
    zone_name = get_account(s).timezone
    s.commit()
    args: dict[str, Any] = flt.as_args()
    view_args: dict[str, Any] = {**args, "sort": sort.key, "dir": "desc" if descending else "asc"}
    next_url = url_for("contacts.index", **view_args, cursor=result.next_cursor) if result.next_cursor else None

    def sort_url(key: str) -> str:
        target = SORTS[key]
        if key == sort.key:
            flip = "asc" if descending else "desc"
        else:
            flip = "desc" if target.default_descending else "asc"
        return url_for("contacts.index", **args, sort=key, dir=flip)

    for name in problems:
        flash(_("This filter value was not understood and is left out: %(field)s", field=_(FIELD_LABELS.get(name, name))),
              "error")
    return render_template(
        "ui/contacts/index.html", contacts=result.contacts, flt=flt, args=args, view_args=view_args,
        chips=_describe(flt, {"lists": lists, "segments": segments}), error=error,
        columns=_columns(), all_columns=COLUMNS, column_labels=COLUMN_LABELS, sort=sort.key,
        descending=descending, sort_url=sort_url, next_url=next_url,
        first_url=url_for("contacts.index", **view_args) if cursor is not None else None,
        stages=list(Stage), statuses=list(ContactStatus), lists=lists, segments=segments, sequences=sequences,
        actions=ACTION_LABELS, hand_stages=bulk.HAND_STAGES, zone_name=zone_name,
        background_above=bulk.BACKGROUND_ABOVE,
    )


FIELD_LABELS = {
    "stage": "Stage", "status": "Status", "score_min": "Lowest score", "score_max": "Highest score",
    "list_id": "List", "segment_id": "Segment", "created_from": "Created from", "created_to": "Created to",
    "active_from": "Last activity from", "active_to": "Last activity to", "attr_key": "Attribute",
}


@bp.post("/columns")
def choose_columns() -> Any:
    """Remember the columns this user shows (the session), then back to the list as it was."""
    session["contact_columns"] = [c for c in COLUMNS if c in request.form.getlist("columns")]
    back = request.form.get("back", "")
    return redirect(back if back.startswith("/contacts/") and "//" not in back else url_for("contacts.index"))


def _target() -> bulk.Target:
    """Who the bulk form names: the ticked contacts, or every contact of the filter it carries."""
    zone = account_zone().key
    if request.form.get("scope") == "filter":
        args = {k[2:]: v for k, v in request.form.items() if k.startswith("f_")}
        flt, _problems = ContactFilter.parse(args, zone)
        return bulk.Target(None, flt.as_args(), zone)
    return bulk.Target([int(i) for i in request.form.getlist("ids") if i.isascii() and i.isdigit() and len(i) < 18],
                       {}, zone)


@bp.post("/bulk")
def bulk_action() -> Any:
    """A bulk action from the list: export streams a CSV; small targets act now; large whole-filter targets
    are queued with a progress page; enrolment and erasure confirm first (who and how many)."""
    db = services().db
    s = db.session
    action = request.form.get("action", "")
    target = _target()
    filter_args: dict[str, Any] = dict(target.filter_args)
    back = url_for("contacts.index", **filter_args)
    if target.ids is not None and not target.ids:
        flash(_("Tick the contacts to act on, or choose every contact that matches the filter."), "error")
        return redirect(back)
    try:
        ids = target.id_query(s)
    except FilterError as exc:
        flash(_(str(exc)), "error")
        return redirect(back)
    if action == "export":
        return _export(target)
    params = {k: request.form.get(k, "") for k in ("list_id", "sequence_id", "journey_id", "enrol_target", "stage")}
    params["actor"] = f"user:{getattr(getattr(g, 'user', None), 'email', '') or 'unknown'}"  # the erase audit line
    try:
        params = bulk.check(s, action, params)
    except bulk.BulkError as exc:
        s.rollback()
        flash(_(str(exc)), "error")
        return redirect(back)
    count = confirm.count_of(s, ids)
    if action in bulk.CONFIRMED:
        if action == bulk.BulkAction.ENROL:
            chosen = (s.get(Journey, params["journey_id"]) if params.get("journey_id")
                      else s.get(Sequence, params["sequence_id"]))
            title = _("Enrol contacts in “%(name)s”", name=chosen.name if chosen else "")
            label = _("Enrol %(n)s contacts", n=f"{count:,}")
        else:
            title = _("Erase the personal data of these contacts")
            label = _("Erase %(n)s contacts", n=f"{count:,}")
        gate = confirm.gate(confirm.Confirmation(
            title=title, action=label, count=count, sample=confirm.sample_of(s, ids),
            show_when=action == bulk.BulkAction.ENROL, back_url=back, danger=action == bulk.BulkAction.ERASE,
            notes=[_("Erasing cannot be undone: names, company, address and attributes are removed; "
                     "counts in reports stay.")] if action == bulk.BulkAction.ERASE else [],
        ))
        if gate is not None:
            s.rollback()
            return gate
    if count > bulk.BACKGROUND_ABOVE:
        s.rollback()
        job = queueing.enqueue_bulk_action(services().queue, action, params, target.ids, target.filter_args,
                                           target.zone)
        job.meta.update(total=count, action=action, back=back)
        job.save_meta()
        return redirect(url_for("contacts.bulk_progress", job_id=job.id))
    try:
        changed = sum(bulk.run(s, action, params, batch) for batch in target.id_batches(s))
    except bulk.BulkError as exc:
        s.rollback()
        flash(_(str(exc)), "error")
        return redirect(back)
    s.commit()
    flash(_("%(action)s: %(changed)s of %(count)s contacts changed.", action=_(ACTION_LABELS[action]),
            changed=changed, count=count), "success")
    return redirect(back)


def _export(target: bulk.Target) -> Response:
    """The target as a CSV download (UTF-8 with a BOM, which Excel needs to read Japanese), streamed."""
    db = services().db
    zone = account_zone().key

    def generate() -> Iterator[str]:
        out = io.StringIO()
        writer = csv.writer(out)
        yield "\ufeff"
        with db.begin() as s:
            for row in bulk.csv_rows(s, target, zone):
                writer.writerow(row)
                if out.tell() > 65536:
                    yield out.getvalue()
                    out.seek(0)
                    out.truncate()
        yield out.getvalue()

    return Response(generate(), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="contacts.csv"'})


def _bulk_job(job_id: str) -> Job:
    return job_or_404(job_id, queueing.BULK)


def _job_status(job: Job) -> dict[str, Any]:
    meta = job.get_meta(refresh=True) if hasattr(job, "get_meta") else job.meta
    total = int(meta.get("total") or 0)
    done = int(meta.get("done") or 0)
    state = job_state(job, done, total)
    return {"total": total, "done": total if state["finished"] else done, "changed": int(meta.get("changed") or 0),
            **state}


@bp.get("/bulk/<job_id>")
def bulk_progress(job_id: str) -> Any:
    """The progress of a background bulk action (polled by contacts.js)."""
    job = _bulk_job(job_id)
    meta = job.meta
    return render_template("ui/contacts/bulk_progress.html", job_id=job.id, status=_job_status(job),
                           action=_(ACTION_LABELS.get(str(meta.get("action")), "")),
                           back=str(meta.get("back") or url_for("contacts.index")))


@bp.get("/bulk/<job_id>/status")
def bulk_status(job_id: str) -> Any:
    """The small JSON the progress page polls."""
    return jsonify(_job_status(_bulk_job(job_id)))
