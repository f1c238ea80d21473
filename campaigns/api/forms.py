"""Lead capture forms: list, read, create and edit forms (which journeys a submission starts among them), read
their submissions with the consent records; delete, archive, restore, duplicate (campaigns.leads.form_archive;
answers in campaigns.api.archive)."""

from __future__ import annotations

from typing import Any

from flask.typing import ResponseReturnValue
from sqlalchemy import select

from campaigns.api.archive import (
    ARCHIVED_QUERY,
    IN_USE,
    archived_filter,
    change_answer,
    delete_answer,
    duplicate_answer,
)
from campaigns.api.core import ApiError, db_session, get_or_404, keyset_page, operation
from campaigns.api.schemas import PAGING, SCHEMAS, object_schema, page_schema
from campaigns.leads import form_archive
from campaigns.leads import forms as leads_forms
from campaigns.models import Form, FormStatus, FormSubmission, SubmissionStatus
from campaigns.runtime import services

_STR = {"type": "string"}
_NDATE = {"type": ["string", "null"], "format": "date-time"}
_DATE = {"type": "string", "format": "date-time"}
_NINT = {"type": ["integer", "null"]}
_IDS = {"type": "array", "items": {"type": "integer", "minimum": 1}, "maxItems": 50, "uniqueItems": True}
_JOURNEYS = ("Journeys a (confirmed) submission starts (GET /journeys): live ones only take contacts, under their "
             "own re-entry setting; a journey whose entry is this form lets the submission in once by itself.")
_SEQUENCES = ("Deprecated: give `journey_ids`. Sequences not converted to a journey; a converted sequence's id is "
              "accepted and stored as its journey (it then appears in `journey_ids`).")
# What POST and PUT take (campaigns.leads.forms.FormInput); fields not given keep their value (PUT) or default.
FORM_INPUT: dict[str, Any] = {
    "name": {"type": "string", "minLength": 1, "maxLength": 200}, "slug": {"type": "string", "maxLength": 100},
    "title": {"type": "string", "maxLength": 200}, "description": {"type": "string", "maxLength": 20000},
    "fields": {"type": "array", "items": {"$ref": "#/components/schemas/FormField"}, "minItems": 1, "maxItems": 30},
    "submit_label": {"type": "string", "maxLength": 100}, "consent_text": {"type": "string", "maxLength": 20000},
    "double_opt_in": {"type": "boolean"}, "confirmation_subject": {"type": "string", "maxLength": 300},
    "confirmation_html": {"type": "string", "maxLength": 100000},
    "journey_ids": {**_IDS, "description": _JOURNEYS},
    "sequence_ids": {**_IDS, "deprecated": True, "description": _SEQUENCES},
    "source": {"type": "string", "maxLength": 100}, "thank_you_message": {"type": "string", "maxLength": 20000},
    "redirect_url": {"type": "string", "maxLength": 2000},
    "status": {"type": "string", "enum": [s.value for s in FormStatus]},
}

SCHEMAS.update({
    "FormField": object_schema({
        "key": {"type": "string", "description": "email, first_name, last_name, company, job_title, phone, "
                                                 "or attributes.<name>"},
        "label": _STR, "required": {"type": "boolean"},
    }),
    "Form": object_schema({
        "id": {"type": "integer"}, "name": _STR, "slug": _STR, "url": _STR, "title": _STR,
        "status": {"type": "string", "enum": [s.value for s in FormStatus]},
        "fields": {"type": "array", "items": {"$ref": "#/components/schemas/FormField"}},
        "consent_text": _STR, "double_opt_in": {"type": "boolean"},
        "journey_ids": {"type": "array", "items": {"type": "integer"}, "description": _JOURNEYS},
        "sequence_ids": {"type": "array", "items": {"type": "integer"}, "deprecated": True, "description": _SEQUENCES},
        "thank_you_message": _STR, "redirect_url": _STR, "created_at": _DATE, "updated_at": _DATE,
        "archived_at": _NDATE,
    }),
    "FormPage": page_schema("Form"),
    "FormInput": {"type": "object", "required": ["name", "consent_text"], "properties": FORM_INPUT,
                  "additionalProperties": False},
    "FormUpdate": {"type": "object", "properties": FORM_INPUT, "additionalProperties": False, "minProperties": 1},
    "FormSubmission": object_schema({
        "id": {"type": "integer"}, "form_id": {"type": "integer"}, "contact_id": _NINT, "email": _STR,
        "values": {"type": "object", "additionalProperties": {"type": "string"}},
        "status": {"type": "string", "enum": [s.value for s in SubmissionStatus]},
        "consent_text": {"type": "string", "description": "The wording shown next to the checkbox."},
        "submitted_at": _DATE, "confirmed_at": _NDATE, "ip": _STR, "user_agent": _STR, "referrer": _STR,
    }),
    "FormSubmissionPage": page_schema("FormSubmission"),
})

SUBMISSION_QUERY = {
    **PAGING,
    "status": {"type": "string", "enum": [s.value for s in SubmissionStatus],
               "description": "Only submissions in this state."},
}


def form_json(form: Form) -> dict[str, Any]:

    return {
        "id": form.id, "name": form.name, "slug": form.slug,
        "url": f"{services().settings.base_url.rstrip('/')}/f/{form.slug}", "title": form.title,
        "status": form.status.value, "fields": list(form.fields or []), "consent_text": form.consent_text,
        "double_opt_in": form.double_opt_in, "journey_ids": list(form.journey_ids or []),
        "sequence_ids": list(form.sequence_ids or []),
        "thank_you_message": form.thank_you_message, "redirect_url": form.redirect_url,
        "created_at": form.created_at.isoformat(), "updated_at": form.updated_at.isoformat(),
        "archived_at": form.archived_at.isoformat() if form.archived_at else None,
    }


def submission_json(sub: FormSubmission) -> dict[str, Any]:
    return {
        "id": sub.id, "form_id": sub.form_id, "contact_id": sub.contact_id, "email": sub.email,
        "values": {str(k): str(v) for k, v in (sub.values or {}).items()}, "status": sub.status.value,
        "consent_text": sub.consent_text, "submitted_at": sub.submitted_at.isoformat(),
        "confirmed_at": sub.confirmed_at.isoformat() if sub.confirmed_at else None,
        "ip": sub.ip, "user_agent": sub.user_agent, "referrer": sub.referrer,
    }


@operation(
    "/forms", "GET", tag="forms", summary="List lead capture forms", query={**PAGING, **ARCHIVED_QUERY},
    responses={200: ("A page of forms", "FormPage")},
)
def list_forms(query: dict[str, Any]) -> ResponseReturnValue:
    """Forms in id order with their fields, consent wording and public URL (archived ones on request)."""
    return keyset_page(db_session(), archived_filter(select(Form), Form, query), Form.id, query, form_json)


@operation(
    "/forms/{form_id}", "GET", tag="forms", summary="Read a form",
    responses={200: ("The form", "Form")},
)
def get_form(form_id: int) -> ResponseReturnValue:
    """One form with its field mapping and consent wording."""
    return form_json(get_or_404(db_session(), Form, form_id, "form"))


def _saved(save: Any) -> dict[str, Any]:
    """Run a create/update of the forms service: the form, or 422 with every field's reason."""
    session = db_session()
    try:
        form = save(session)
    except leads_forms.FormConfigError as exc:
        session.rollback()
        raise ApiError(422, "rejected", str(exc), dict(exc.errors)) from None
    session.commit()
    return form_json(form)


@operation(
    "/forms", "POST", tag="forms", body="FormInput", summary="Create a lead capture form",
    description="`fields` defaults to last name, first name, email, company and job title. `journey_ids`: the "
    "journeys a (confirmed) submission starts; an unknown journey or sequence id answers 422.",
    responses={201: ("Created", "Form")},
)
def create_form(body: dict[str, Any]) -> ResponseReturnValue:
    """Create a form through the forms service (its validation, the text rule)."""
    form = _saved(lambda session: leads_forms.create_form(session, leads_forms.FormInput(**body)))
    return form, 201


@operation(
    "/forms/{form_id}", "PUT", tag="forms", body="FormUpdate", summary="Edit a lead capture form",
    description="Fields not given stay as they are. `journey_ids` replaces the journeys a submission starts (and "
    "`sequence_ids`, deprecated, the sequences not converted); an unknown id answers 422. Submissions already "
    "made keep the consent wording they were shown.",
    responses={200: ("The form", "Form")},
)
def update_form(form_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """Apply the given fields over the form's current ones."""
    session = db_session()
    form = get_or_404(session, Form, form_id, "form")
    data = leads_forms.FormInput.from_form(form)
    for key, value in body.items():
        setattr(data, key, value)
    data.status = str(data.status)
    return _saved(lambda s: leads_forms.update_form(s, form, data))


@operation(
    "/forms/{form_id}/submissions", "GET", tag="forms", summary="Read a form's submissions",
    query=SUBMISSION_QUERY, responses={200: ("A page of submissions", "FormSubmissionPage")},
    description="Each submission carries the values as typed and its consent record: the wording shown, "
    "when it was submitted and confirmed (double opt-in), and the truncated or hashed address.",
)
def list_form_submissions(form_id: int, query: dict[str, Any]) -> ResponseReturnValue:
    """Submissions of one form in id order, optionally one status only."""
    session = db_session()
    form = get_or_404(session, Form, form_id, "form")
    stmt = select(FormSubmission).where(FormSubmission.form_id == form.id)
    if query.get("status"):
        stmt = stmt.where(FormSubmission.status == query["status"])
    return keyset_page(session, stmt, FormSubmission.id, query, submission_json)


@operation(
    "/forms/{form_id}", "DELETE", tag="forms", summary="Delete a form nobody submitted",
    responses={200: ("Deleted", "Deleted"), 409: IN_USE[1]},
    description="Refused (409) while the form holds submissions (consent records, which the law asks to keep); "
    "spam caught by the honeypot does not count. Archive it instead.",
)
def delete_form(form_id: int) -> ResponseReturnValue:
    """Delete a form without consent records."""
    session = db_session()
    return delete_answer(session, get_or_404(session, Form, form_id, "form"), form_archive.delete_form, form_id)


@operation(
    "/forms/{form_id}/archive", "POST", tag="forms", summary="Archive a form (closes its page)",
    responses={200: ("The archived form", "Form")},
)
def archive_form(form_id: int) -> ResponseReturnValue:
    """Archived forms take no submissions (status inactive); their submissions stay readable."""
    session = db_session()
    return change_answer(session, get_or_404(session, Form, form_id, "form"), form_archive.archive_form, form_json)


@operation(
    "/forms/{form_id}/restore", "POST", tag="forms", summary="Restore an archived form (still inactive)",
    responses={200: ("The form", "Form")},
)
def restore_form(form_id: int) -> ResponseReturnValue:
    """The form comes back inactive: opening it to visitors is a separate choice."""
    session = db_session()
    return change_answer(session, get_or_404(session, Form, form_id, "form"), form_archive.restore_form, form_json)


@operation(
    "/forms/{form_id}/duplicate", "POST", tag="forms", body="DuplicateInput",
    summary="Copy a form (fields, consent text, settings) to a new address", responses={201: ("The copy", "Form")},
)
def duplicate_form(form_id: int, body: dict[str, Any] | None) -> ResponseReturnValue:
    """The copy is inactive, at <slug>-copy, with no submissions."""
    session = db_session()
    return duplicate_answer(session, get_or_404(session, Form, form_id, "form"), form_archive.duplicate_form, body,
                            form_json)
