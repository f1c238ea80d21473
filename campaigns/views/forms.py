"""Lead capture forms in the web UI: list, create and edit, embed snippets, submissions with consent, CSV;
archive, restore, duplicate and delete (campaigns.leads.form_archive)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from markupsafe import escape
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from campaigns.archive import live
from campaigns.i18n import _
from campaigns.journeys import walk_entry
from campaigns.leads import forms as leads_forms
from campaigns.leads.form_archive import archive_form, delete_form, duplicate_form, form_usages, restore_form
from campaigns.models import Form, FormStatus, FormSubmission, Journey, SubmissionStatus
from campaigns.params import parse_id, parse_page
from campaigns.runtime import services
from campaigns.spreadsheet import to_csv
from campaigns.views.archive_pages import change_page, delete_page
from campaigns.views.builder_common import install_filters
from campaigns.views.text_input import checks_own_text

bp = Blueprint("forms", __name__, url_prefix="/forms")
install_filters(bp)

FIELD_CHOICES = [
    ("email", "Email"), ("first_name", "First name"), ("last_name", "Last name"), ("company", "Company"),
    ("job_title", "Job title"), ("phone", "Phone"), ("custom", "Custom attribute"),
]
BLANK_ROWS = 3
PAGE_SIZE = 50
_ROW_KEY = re.compile(r"^fields-(\d{1,2})-key$")


def _form_or_404(s: Session, form_id: int) -> Form:
    form = s.get(Form, form_id)
    if form is None:
        abort(404)
    return form


def parse_form(form: MultiDict[str, str]) -> leads_forms.FormInput:
    """The editor's fields as service input; rows without a field or label are ignored (blank rows)."""
    rows = []
    for i in sorted({int(m.group(1)) for key in form if (m := _ROW_KEY.match(key))}):
        prefix = f"fields-{i}-"
        key = form.get(prefix + "key", "").strip()
        label = form.get(prefix + "label", "").strip()
        if key == "custom":
            attr = form.get(prefix + "attr", "").strip()
            key = leads_forms.ATTRIBUTE_PREFIX + attr if attr or label else ""
        if not key or (not label and key != "email"):
            continue
        rows.append({"key": key, "label": label, "required": form.get(prefix + "required") in {"1", "on"}})
    # the picker's values: "journey:<id>" / "sequence:<id>"; a bare number in sequence_ids (the old field) too
    picked = form.getlist("targets")
    journey_ids = [i for i in (parse_id(k.removeprefix("journey:")) for k in picked if k.startswith("journey:"))
                   if i is not None]
    sequence_ids = [i for i in (parse_id(k.removeprefix("sequence:")) for k in picked if k.startswith("sequence:"))
                    if i is not None]
    sequence_ids += [i for i in map(parse_id, form.getlist("sequence_ids")) if i is not None]
    return leads_forms.FormInput(
        name=form.get("name", ""), slug=form.get("slug", ""), title=form.get("title", ""),
        description=form.get("description", ""), fields=rows, submit_label=form.get("submit_label", ""),
        consent_text=form.get("consent_text", ""), double_opt_in=form.get("double_opt_in") in {"1", "on"},
        confirmation_subject=form.get("confirmation_subject", ""),
        confirmation_html=form.get("confirmation_html", ""), journey_ids=journey_ids, sequence_ids=sequence_ids,
        source=form.get("source", ""), thank_you_message=form.get("thank_you_message", ""),
        redirect_url=form.get("redirect_url", ""),
        status=form.get("status", FormStatus.ACTIVE) or FormStatus.ACTIVE,
    )


def _editor_rows(fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for spec in fields:
        key = str(spec.get("key", ""))
        custom = key.startswith(leads_forms.ATTRIBUTE_PREFIX)
        rows.append({"key": "custom" if custom else key, "attr": key[len(leads_forms.ATTRIBUTE_PREFIX):] if custom else "",
                     "label": spec.get("label", ""), "required": bool(spec.get("required"))})
    rows += [{"key": "", "attr": "", "label": "", "required": False} for _i in range(BLANK_ROWS)]
    return rows


def _render_editor(form: Form | None, data: leads_forms.FormInput, errors: dict[str, str], status: int = 200) -> Any:
    s = services().db.session
    targets = walk_entry.target_choices(s, keep=_target_keys(data.journey_ids, data.sequence_ids))
    # journeys whose live version lets this form in by itself: the form does not enrol into them again
    own_entry: set[int] = set()
    for target in targets if form is not None else []:
        journey = s.get(Journey, target.journey_id) if target.journey_id is not None else None
        if form is not None and journey is not None and walk_entry.enters_on_form(s, journey, form.id):
            own_entry.add(journey.id)
    return render_template(
        "ui/forms/edit.html", form=form, data=data, errors={k: _(v) for k, v in errors.items()},
        rows=_editor_rows(data.fields), choices=FIELD_CHOICES, targets=targets, own_entry=own_entry,
    ), status


def _target_keys(journey_ids: list[int], sequence_ids: list[int]) -> list[str]:
    """The picker values of a form's journeys and sequences (walk_entry.Choice.key)."""
    return [f"journey:{i}" for i in journey_ids] + [f"sequence:{i}" for i in sequence_ids]


def _save(s: Session, form: Form | None, data: leads_forms.FormInput, save: Callable[[], Form]) -> Any:
    """Create or update through the service: the editor again with the reasons (400), or the saved form."""
    try:
        saved = save()
    except leads_forms.FormConfigError as exc:
        s.rollback()
        return _render_editor(form, data, exc.errors, 400)
    s.commit()
    flash(_("Form saved."), "success")
    return redirect(url_for("forms.show", form_id=saved.id))


@bp.get("/")
def index() -> Any:
    """Forms, newest first; ?archived=1 lists the archived ones (with Restore)."""
    s = services().db.session
    archived = request.args.get("archived") == "1"
    shown = Form.archived_at.is_not(None) if archived else live(Form)
    forms = list(s.scalars(select(Form).where(shown).order_by(Form.created_at.desc(), Form.id.desc())))
    archived_count = s.scalar(select(func.count()).where(Form.archived_at.is_not(None))) or 0
    counts: dict[tuple[int, str], int] = {
        (form_id, str(status)): n
        for form_id, status, n in s.execute(
            select(FormSubmission.form_id, FormSubmission.status, func.count()).group_by(
                FormSubmission.form_id, FormSubmission.status
            )
        ).all()
    }
    return render_template("ui/forms/index.html", forms=forms, counts=counts, archived=archived,
                           archived_count=archived_count)


# ------------------------------------------------------------------ archive, restore, duplicate, delete
@bp.post("/<int:form_id>/archive")
def archive(form_id: int) -> Any:
    s = services().db.session
    return change_page(s, _form_or_404(s, form_id), archive_form,
                       _("Form archived: its page no longer takes submissions and it is hidden from the list; "
                         "its submissions and consent records are kept."), url_for("forms.show", form_id=form_id))


@bp.post("/<int:form_id>/restore")
def restore(form_id: int) -> Any:
    s = services().db.session
    return change_page(
        s, _form_or_404(s, form_id), restore_form,
        _("Form restored. It is still closed: set its status to active in the editor to take submissions again."),
        url_for("forms.show", form_id=form_id))


@bp.post("/<int:form_id>/duplicate")
def duplicate(form_id: int) -> Any:
    s = services().db.session
    copy = duplicate_form(s, _form_or_404(s, form_id), _("%(name)s (copy)"))
    s.commit()
    flash(_("Copy created: %(name)s. It is inactive until you open it to visitors.", name=copy.name), "success")
    return redirect(url_for("forms.show", form_id=copy.id))


@bp.route("/<int:form_id>/delete", methods=["GET", "POST"])
def delete(form_id: int) -> Any:
    """GET: the confirmation, or the consent records that keep the form and Archive instead; POST: delete it."""
    s = services().db.session
    return delete_page(
        s, _form_or_404(s, form_id), what=_("form"), delete=delete_form, usages=form_usages,  # usages: submissions
        done=_("Form deleted."), done_url=url_for("forms.index"),
        note=_("Its public address stops working; pages that embed it will show an error."),
        archive_url=url_for("forms.archive", form_id=form_id), back_url=url_for("forms.show", form_id=form_id),
    )


@bp.route("/new", methods=["GET", "POST"])
@checks_own_text()  # FormInput.clean applies the text rule to every field
def new() -> Any:
    s = services().db.session
    if request.method == "GET":
        return _render_editor(None, leads_forms.FormInput(consent_text=leads_forms.default_consent_text(s)), {})
    data = parse_form(request.form)
    return _save(s, None, data, lambda: leads_forms.create_form(s, data))


@bp.route("/<int:form_id>/edit", methods=["GET", "POST"])
@checks_own_text()  # FormInput.clean applies the text rule to every field
def edit(form_id: int) -> Any:
    s = services().db.session
    form = _form_or_404(s, form_id)
    if request.method == "GET":
        return _render_editor(form, leads_forms.FormInput.from_form(form), {})
    data = parse_form(request.form)
    return _save(s, form, data, lambda: leads_forms.update_form(s, form, data))


def embed_snippets(form: Form, base_url: str) -> dict[str, str]:
    """The HTML markup and the iframe a marketer pastes into a web page (form page)."""
    public = f"{base_url.rstrip('/')}/f/{form.slug}"
    html = render_template("ui/forms/_snippet.html", form=form, action=public, kind=leads_forms.field_kind,
                           honeypot=leads_forms.HONEYPOT_FIELD)
    iframe = (f'<iframe src="{escape(public)}?embed=1" title="{escape(form.title or form.name)}" '
              'style="width:100%;max-width:560px;height:720px;border:0;" loading="lazy"></iframe>')
    lines = [line for line in html.strip().splitlines() if line.strip()]
    return {"url": public, "html": "\n".join(lines), "iframe": iframe}


@bp.get("/<int:form_id>")
def show(form_id: int) -> Any:
    svc = services()
    s = svc.db.session
    form = _form_or_404(s, form_id)
    counts = dict(s.execute(
        select(FormSubmission.status, func.count()).where(FormSubmission.form_id == form.id).group_by(FormSubmission.status)
    ).all())
    keys = _target_keys(list(form.journey_ids or []), list(form.sequence_ids or []))
    targets = [t for key in keys if (t := walk_entry.chosen_target(s, key)) is not None]
    return render_template(
        "ui/forms/show.html", form=form, snippets=embed_snippets(form, svc.settings.base_url),
        counts={str(k): v for k, v in counts.items()}, targets=targets,
    )


@bp.get("/<int:form_id>/preview")
def preview(form_id: int) -> Any:
    """The hosted page as visitors see it, also for an inactive form; its button posts nowhere."""
    form = _form_or_404(services().db.session, form_id)
    return render_template(
        "public/form.html", form=form, values={}, errors={}, consent=False, honeypot=leads_forms.HONEYPOT_FIELD,
        kind=leads_forms.field_kind, embed=False, action="", preview=True,
        notice=_("Preview: submissions from this page are not accepted."),
    )


def _submissions_query(form: Form, status: str) -> Any:
    query = select(FormSubmission).where(FormSubmission.form_id == form.id)
    if status in {st.value for st in SubmissionStatus}:
        query = query.where(FormSubmission.status == status)
    return query


@bp.get("/<int:form_id>/submissions")
def submissions(form_id: int) -> Any:
    s = services().db.session
    form = _form_or_404(s, form_id)
    status = request.args.get("status", "")
    page = parse_page(request.args.get("page"))
    query = _submissions_query(form, status)
    total = s.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(s.scalars(query.order_by(FormSubmission.submitted_at.desc(), FormSubmission.id.desc())
                          .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)))
    return render_template(
        "ui/forms/submissions.html", form=form, rows=rows, status=status, page=page, total=total,
        pages=max(1, -(-total // PAGE_SIZE)), statuses=[st.value for st in SubmissionStatus],
    )


@bp.get("/<int:form_id>/submissions.csv")
def export(form_id: int) -> Response:
    """Every submission with its consent record, cells made safe for spreadsheets."""
    s = services().db.session
    form = _form_or_404(s, form_id)
    keys = [spec["key"] for spec in form.fields if spec["key"] != "email"]
    query = _submissions_query(form, request.args.get("status", "")).order_by(FormSubmission.id)
    header = ["id", "submitted_at", "status", "email", *keys, "consent_text", "confirmed_at", "contact_id", "ip",
              "user_agent", "referrer"]
    rows = (
        [sub.id, sub.submitted_at, sub.status.value, sub.email, *[(sub.values or {}).get(k, "") for k in keys],
         sub.consent_text, sub.confirmed_at, sub.contact_id, sub.ip, sub.user_agent, sub.referrer]
        for sub in s.scalars(query).yield_per(1000)
    )
    body = to_csv(header, rows)
    filename = f"form-{form.id}-submissions.csv"
    # the app's response class: a value stored before the text rule is written as U+FFFD, not an error
    return current_app.response_class(body, mimetype="text/csv",
                                      headers={"Content-Disposition": f'attachment; filename="{filename}"'})
