"""Contacts UI: list with search and keyset pagination, contact page, forms, CSV import, suppression
list and segments. Views parse input, call one service in campaigns.leads.contacts, commit, then enqueue."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from campaigns import queueing
from campaigns.addresses import normalize_email
from campaigns.audience import archive as audience_archive
from campaigns.audience import describe, segment_counts
from campaigns.audience.segments import SegmentError, count_segment, validate_rules
from campaigns.db import now_utc
from campaigns.i18n import _, current_locale
from campaigns.leads.contacts import ContactError, update_contact, upsert_contact
from campaigns.leads.csv_reader import ImportFileError
from campaigns.leads.imports import IMPORT_FIELDS, import_status, preview_import, start_import
from campaigns.models import (
    Contact,
    ImportJob,
    ImportStatus,
    Segment,
    Suppression,
)
from campaigns.params import loads as json_loads
from campaigns.params import parse_id
from campaigns.runtime import services
from campaigns.spreadsheet import to_csv
from campaigns.suppression import SuppressionError, suppress, unsuppress
from campaigns.views.archive_pages import change_page, delete_page
from campaigns.views.text_input import CheckedForm, checks_own_text, field_errors, json_for_editor
from campaigns.views.uploads import find_upload, receive_csv, upload_dir

bp = Blueprint("contacts", __name__, url_prefix="/contacts")

PAGE_SIZE = 50
PREVIEW_LIMIT = 100_000  # rows the web dry run reads; the CLI --dry-run reads everything


def _int_arg(name: str) -> int | None:
    return parse_id(request.args.get(name))  # an id cursor: ASCII digits within the column, else none


def _contact_or_404(s: Session, contact_id: int) -> Contact:
    contact = s.get(Contact, contact_id)
    if contact is None:
        abort(404)
    return contact


# ------------------------------------------------------------------ contact forms (list: contact_list.py, page: contact_page.py)
class ContactForm(CheckedForm):
    email = StringField("Email", validators=[DataRequired(), Length(max=254)])
    first_name = StringField("First name", validators=[Length(max=200)])
    last_name = StringField("Last name", validators=[Length(max=200)])
    company = StringField("Company", validators=[Length(max=200)])
    job_title = StringField("Job title", validators=[Length(max=200)])
    source = StringField("Source", validators=[Length(max=100)])
    timezone = StringField("Time zone", validators=[Optional(), Length(max=64)])
    stage = StringField("Stage", validators=[Optional(), Length(max=20)])
    attributes = TextAreaField("Attributes (JSON)", validators=[Optional(), Length(max=50_000)])
    consent_method = StringField("Consent method", validators=[Length(max=50)])
    consent_source = StringField("Consent source", validators=[Length(max=200)])
    consent_text = TextAreaField("Consent text", validators=[Length(max=20_000)])


def _form_data(form: ContactForm) -> dict[str, Any]:
    """The form as contact data; raises ContactError for attributes that are not a JSON object."""
    data: dict[str, Any] = {
        name: (getattr(form, name).data or "").strip()
        for name in ("email", "first_name", "last_name", "company", "job_title", "source",
                     "consent_method", "consent_source", "consent_text")
    }
    data["timezone"] = (form.timezone.data or "").strip()
    if (form.stage.data or "").strip():
        data["stage"] = form.stage.data.strip()
    raw = (form.attributes.data or "").strip()
    try:
        attributes = json_loads(raw) if raw else {}
    except json.JSONDecodeError as exc:
        raise ContactError(_("Attributes must be a JSON object: %(error)s", error=_(exc.msg))) from None
    if not isinstance(attributes, dict):
        raise ContactError(_("Attributes must be a JSON object."))
    data["attributes"] = attributes
    return data


def _show_contact_error(form: ContactForm, exc: ContactError) -> None:
    """A service's refusal as a form error: on the attributes box when it is about them, else on email."""
    field = form.attributes if str(exc).startswith("attributes") else form.email
    field.errors = [*field.errors, _(str(exc))]


@bp.route("/new", methods=["GET", "POST"])
@checks_own_text()
def new() -> Any:
    form = ContactForm()
    db = services().db
    if form.validate_on_submit():
        try:
            data = _form_data(form)
            if not data["timezone"]:
                data.pop("timezone")
            contact, created = upsert_contact(db.session, data, update_existing=False)
            if not created:
                raise ContactError(_("A contact with this email already exists."))
        except ContactError as exc:
            db.session.rollback()
            _show_contact_error(form, exc)
        else:
            db.session.commit()
            flash(_("Contact created."), "success")
            return redirect(url_for("contacts.show", contact_id=contact.id))
    return render_template("ui/contacts/form.html", form=form, contact=None), 400 if form.errors else 200


@bp.route("/<int:contact_id>/edit", methods=["GET", "POST"])
@checks_own_text()
def edit(contact_id: int) -> Any:
    db = services().db
    contact = _contact_or_404(db.session, contact_id)
    # on POST the form holds exactly what was submitted (a missing field must not fall back to the row)
    form = ContactForm() if request.method == "POST" else ContactForm(obj=contact)
    if request.method == "GET":
        form.attributes.data = json_for_editor(contact.attributes or {})
        form.stage.data = str(contact.stage)
    if form.validate_on_submit():
        try:
            update_contact(db.session, contact, _form_data(form))
            db.session.flush()
        except ContactError as exc:
            db.session.rollback()
            _show_contact_error(form, exc)
        else:
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("contacts.show", contact_id=contact.id))
    return render_template("ui/contacts/form.html", form=form, contact=contact), 400 if form.errors else 200


@bp.post("/<int:contact_id>/suppress")
def suppress_contact(contact_id: int) -> Any:
    db = services().db
    contact = _contact_or_404(db.session, contact_id)
    suppress(db.session, contact.email, "manual", request.form.get("detail", "")[:500] or "contact page")
    db.session.commit()
    flash(_("The address is on the suppression list."), "success")
    return redirect(url_for("contacts.show", contact_id=contact.id))


# ------------------------------------------------------------------ CSV import
UPLOAD_KEEP_SECONDS = 86400


def _sweep_uploads(base: Path) -> None:
    """Delete uploads older than a day that never became an import (an import deletes its own file)."""
    cutoff = time.time() - UPLOAD_KEEP_SECONDS
    in_use = set(services().db.session.scalars(
        select(ImportJob.path).where(ImportJob.status.in_([ImportStatus.PENDING, ImportStatus.RUNNING]))))
    for path in base.iterdir():
        try:
            csv_path = str(path.with_suffix(".csv"))
            if path.stat().st_mtime < cutoff and csv_path not in in_use:
                path.unlink()
        except OSError:
            pass


@bp.route("/import", methods=["GET", "POST"])
def import_upload() -> Any:
    """Upload a CSV file; the mapping page comes next."""
    s = services().db.session
    if request.method == "POST":
        token = receive_csv(upload_dir(), before_save=_sweep_uploads)
        if token:
            return redirect(url_for("contacts.import_map", token=token))
    recent = list(s.scalars(select(ImportJob).order_by(ImportJob.id.desc()).limit(20)))
    s.commit()
    return render_template("ui/contacts/import.html", imports=recent), 400 if request.method == "POST" else 200


def _import_options_from_form(headers: list[str]) -> dict[str, Any]:
    mapping = {str(i): request.form.get(f"map_{i}", "") for i in range(len(headers))}
    return {
        "mapping": mapping,
        "mode": request.form.get("mode", "update"),
        "source": request.form.get("source", ""),
        "encoding": request.form.get("encoding", "auto"),
        "consent_text": request.form.get("consent_text", ""),
    }


@bp.route("/import/<token>", methods=["GET", "POST"])
@checks_own_text("source", "consent_text")  # ImportOptions.parse applies the text rule
def import_map(token: str) -> Any:
    """Column mapping, options and the dry-run preview; "start" records the job and enqueues it."""
    path, filename = find_upload(upload_dir(), token)
    svc = services()
    s = svc.db.session
    options: dict[str, Any] = {"encoding": request.form.get("encoding", "auto")}
    try:
        first = preview_import(path, options, None, limit=10)  # headers, suggestions, first rows
    except ImportFileError as exc:
        flash(_(str(exc)), "error")
        return redirect(url_for("contacts.import_upload"))
    headers = first["headers"]
    preview = None
    if request.method == "POST":
        options = _import_options_from_form(headers)
        try:
            if request.form.get("action") == "start":
                job = start_import(s, path, filename, options, owns_file=True)
                s.commit()
                queueing.enqueue_import(svc.queue, job.id)
                return redirect(url_for("contacts.import_progress", import_id=job.id))
            preview = preview_import(path, options, s, limit=PREVIEW_LIMIT)
        except ImportFileError as exc:
            s.rollback()
            flash(_(str(exc)), "error")
        s.rollback()  # a preview writes nothing; make sure of it
    else:
        preview = preview_import(path, {**options, "mapping": first["suggested_mapping"]}, s, limit=PREVIEW_LIMIT)
        s.rollback()
        options = {"mapping": first["suggested_mapping"], "mode": "update", "source": "", "encoding": "auto"}
    sample = first["sample"]
    return render_template(
        "ui/contacts/import_map.html", token=token, filename=filename, headers=headers, sample=sample,
        options=options, preview=preview, encoding=first["encoding"], fields=IMPORT_FIELDS,
        preview_limit=PREVIEW_LIMIT,
    )


@bp.get("/imports/<int:import_id>")
def import_progress(import_id: int) -> Any:
    s = services().db.session
    job = s.get(ImportJob, import_id)
    if job is None:
        abort(404)
    s.commit()
    return render_template("ui/contacts/import_progress.html", job=job, status=import_status(job))


@bp.get("/imports/<int:import_id>/rows.csv")
def import_rows_csv(import_id: int) -> Any:
    """The rows an import did not take as they were: bad rows (line, address, reason) and rows repeating an
    earlier address, as a CSV to fix in a spreadsheet and import again (UTF-8 with a BOM, so Excel reads
    Japanese)."""
    s = services().db.session
    job = s.get(ImportJob, import_id)
    if job is None:
        abort(404)
    s.commit()
    rows = [[e.get("line", ""), e.get("email", ""), _(e.get("reason", "")), ""] for e in job.errors or []]
    rows += [
        [r.get("line", ""), r.get("email", ""),
         _("Repeated: values added to the first row") if r.get("merged") else _("Repeated: ignored"),
         r.get("first_line") or ""]
        for r in job.repeats or []
    ]
    text = to_csv([_("Line"), _("Email"), _("Problem"), _("First seen on line")], rows)
    name = f"import-{job.id}-rows.csv"
    return Response(text, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/imports/<int:import_id>/status")
def import_status_json(import_id: int) -> Any:
    """The small JSON the progress page polls (campaigns/static/contacts.js)."""
    s = services().db.session
    job = s.get(ImportJob, import_id)
    if job is None:
        return jsonify(error="not_found", message="no such import"), 404
    s.commit()
    status = import_status(job)
    status["status_label"] = _(status["status"])  # the page shows these as it polls
    if status.get("message"):
        status["message"] = _(status["message"])
    return jsonify(status)


# ------------------------------------------------------------------ suppression list
@bp.route("/suppressions", methods=["GET", "POST"])
def suppressions() -> Any:
    db = services().db
    s = db.session
    status_code = 200
    if request.method == "POST":
        email = request.form.get("email", "")
        try:
            if request.form.get("action") == "remove":
                unsuppress(s, email)
                message = _("Removed from the suppression list.")
            else:
                if normalize_email(email) is None:
                    raise ContactError(_("Enter a valid email address."))
                suppress(s, email, "manual", request.form.get("detail", "")[:500])
                message = _("Added to the suppression list.")
        except (ContactError, SuppressionError) as exc:
            s.rollback()
            flash(_(str(exc)), "error")
            status_code = 400
        else:
            s.commit()
            flash(message, "success")
            return redirect(url_for("contacts.suppressions"))
    q = request.args.get("q", "").strip().lower()[:200]
    after = _int_arg("after")
    stmt = select(Suppression).order_by(Suppression.id.desc()).limit(PAGE_SIZE + 1)
    if q:
        stmt = stmt.where(func.lower(Suppression.email).contains(q, autoescape=True))
    if after is not None:
        stmt = stmt.where(Suppression.id < after)
    rows = list(s.scalars(stmt))
    s.commit()
    next_url = (
        url_for("contacts.suppressions", after=rows[PAGE_SIZE - 1].id, q=q or None)
        if len(rows) > PAGE_SIZE else None
    )
    return render_template(
        "ui/contacts/suppressions.html", rows=rows[:PAGE_SIZE], q=q, next_url=next_url
    ), status_code


# ------------------------------------------------------------------ segments
@bp.get("/segments")
def segments() -> Any:
    """Saved segments by name; ?archived=1 lists the archived ones (with Restore)."""
    s = services().db.session
    archived = request.args.get("archived") == "1"
    shown = Segment.archived_at.is_not(None) if archived else Segment.archived_at.is_(None)
    rows = list(s.scalars(select(Segment).where(shown).order_by(Segment.name)))
    archived_count = s.scalar(select(func.count()).where(Segment.archived_at.is_not(None))) or 0
    lang = current_locale()
    lookups = describe.load_lookups(s, [seg.rules for seg in rows])
    sentences = {seg.id: describe.describe_rules(seg.rules, lookups, lang) for seg in rows}
    # counted ahead by the scheduler, kept with their time (campaigns.audience.segment_counts); at most a
    # moment here for those never counted
    counts = segment_counts.cached_counts(s, services().redis, rows, now_utc())
    s.commit()
    return render_template("ui/contacts/segments.html", segments=rows, archived=archived,
                           archived_count=archived_count, sentences=sentences, counts=counts)


@bp.post("/segments/<int:segment_id>/recount")
def segment_recount(segment_id: int) -> Any:
    """Count one segment now (the list's Recount) and go back to the list."""
    s = services().db.session
    segment = s.get(Segment, segment_id)
    if segment is None:
        abort(404)
    segment_counts.count_now(s, services().redis, segment, now_utc())
    s.commit()
    flash(_("Counted %(name)s again.", name=segment.name), "success")
    return redirect(url_for("contacts.segments"))


@bp.post("/segments/recount")
def segments_recount() -> Any:
    """Recount all: every count becomes due for the scheduler (a few seconds a tick), not counted here."""
    segment_counts.request_refresh(services().redis, now_utc())
    flash(_("Every segment will be counted again within a few minutes. Reload this page to see the new counts."),
          "success")
    return redirect(url_for("contacts.segments"))


def _segment_form(segment: Segment | None) -> Any:
    db = services().db
    s = db.session
    name = segment.name if segment else ""
    rules_text = json_for_editor(segment.rules if segment else {"all": []})
    error, error_condition = "", None
    rules: Any = segment.rules if segment else {}
    if request.method == "POST":
        name = request.form.get("name", "").strip()[:200]
        rules_text = request.form.get("rules", "")
        try:
            problems = field_errors(request.form, [("name", "Name", False), ("rules", "Rules", True)])
            if problems:
                raise SegmentError(" ".join(problems.values()))
            rules = json_loads(rules_text or "{}")
            validate_rules(rules, s)  # with the session: a list, broadcast or step that is gone is named
            describe.require_values(rules)
            if not name:
                raise SegmentError(_("A name is required."))
        except json.JSONDecodeError as exc:
            error = _("The rules are not valid JSON: %(error)s", error=exc.msg)
        except SegmentError as exc:
            error, error_condition = describe.name_error(exc, rules, current_locale())
        else:
            if segment is None:
                segment = Segment(name=name, rules=rules)
                s.add(segment)
            else:
                segment.name, segment.rules = name, rules
            s.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("contacts.segments"))
    count = None
    if segment is not None and not error:
        try:
            count = count_segment(s, segment.rules)
        except SegmentError as exc:
            error, error_condition = describe.name_error(exc, segment.rules, current_locale())
    s.commit()
    return render_template(
        "ui/contacts/segment_form.html", segment=segment, name=name, rules_text=rules_text, error=error,
        count=count, error_condition=error_condition, vocabulary=describe.vocabulary(current_locale()),
    ), 400 if error and request.method == "POST" else 200  # a stored tree that no longer compiles is shown, with why


@bp.route("/segments/new", methods=["GET", "POST"])
@checks_own_text()
def segment_new() -> Any:
    return _segment_form(None)


@bp.route("/segments/<int:segment_id>", methods=["GET", "POST"])
@checks_own_text()
def segment_edit(segment_id: int) -> Any:
    segment = services().db.session.get(Segment, segment_id)
    if segment is None:
        abort(404)
    return _segment_form(segment)


def _segment_or_404(s: Session, segment_id: int) -> Segment:
    segment = s.get(Segment, segment_id)
    if segment is None:
        abort(404)
    return segment


@bp.route("/segments/<int:segment_id>/delete", methods=["GET", "POST"])
def segment_delete(segment_id: int) -> Any:
    """GET: the confirmation, or what uses the segment and Archive instead; POST: delete it."""
    s = services().db.session
    return delete_page(
        s, _segment_or_404(s, segment_id), what=_("segment"), delete=audience_archive.delete_segment,
        usages=audience_archive.segment_usages, done=_("Segment deleted."), done_url=url_for("contacts.segments"),
        archive_url=url_for("contacts.segment_archive", segment_id=segment_id),
        back_url=url_for("contacts.segment_edit", segment_id=segment_id),
    )


@bp.post("/segments/<int:segment_id>/archive")
def segment_archive(segment_id: int) -> Any:
    s = services().db.session
    return change_page(
        s, _segment_or_404(s, segment_id), audience_archive.archive_segment,
        _("Segment archived: it no longer appears in lists and pickers; broadcasts and sequences using it go on."),
        url_for("contacts.segment_edit", segment_id=segment_id))


@bp.post("/segments/<int:segment_id>/restore")
def segment_restore(segment_id: int) -> Any:
    s = services().db.session
    return change_page(s, _segment_or_404(s, segment_id), audience_archive.restore_segment, _("Segment restored."),
                       url_for("contacts.segment_edit", segment_id=segment_id))


@bp.post("/segments/<int:segment_id>/duplicate")
def segment_duplicate(segment_id: int) -> Any:
    s = services().db.session
    copy = audience_archive.duplicate_segment(s, _segment_or_404(s, segment_id), _("%(name)s (copy)"))
    s.commit()
    flash(_("Copy created: %(name)s", name=copy.name), "success")
    return redirect(url_for("contacts.segment_edit", segment_id=copy.id))


@bp.get("/segments/count")
def segment_count() -> Any:
    """Live count for the segment editor: `?rules=<json>` -> {"count": n} or a 400 with the reason."""
    try:
        rules = json_loads(request.args.get("rules", "") or "{}")
        validate_rules(rules)
        count = count_segment(services().db.session, rules)
    except json.JSONDecodeError as exc:
        return jsonify(error="invalid_json", message=exc.msg), 400
    except SegmentError as exc:
        return jsonify(error="invalid_rules", message=str(exc)), 400
    finally:
        services().db.session.commit()
    return jsonify(count=count)

