"""Email templates: create, list, read, save a new version (compiled once by campaigns.delivery.rendering),
and delete, archive, restore, duplicate (campaigns.delivery.template_archive; answers in campaigns.api.archive)."""

from __future__ import annotations

from typing import Any

from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.api.archive import (
    ARCHIVED_QUERY,
    IN_USE,
    archived_filter,
    change_answer,
    delete_answer,
    duplicate_answer,
)
from campaigns.api.core import ApiError, db_session, get_or_404, keyset_page, operation
from campaigns.api.schemas import PAGING
from campaigns.api.serialize import template_json, template_summary_json
from campaigns.delivery import rendering, template_archive
from campaigns.models import Template

# TemplateError messages start with the part they are about ("HTML, line 3: ...").
_PARTS = {"subject": "subject", "html": "html_source", "text": "text_source", "preheader": "preheader", "name": "name"}


def template_error(exc: rendering.TemplateError) -> ApiError:
    """A 422 naming the field the template error is about (POST and PUT)."""
    message = str(exc)
    part = message.split(":", 1)[0].split(",", 1)[0].strip().lower()
    return ApiError(422, "template_error", message, {_PARTS.get(part, "template"): message})


def _source(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "subject": body["subject"], "html_source": body["html_source"], "text_source": body.get("text_source", ""),
        "preheader": body.get("preheader", ""), "from_name": body.get("from_name", ""),
    }


def _get(session: Session, object_id: int) -> Template:
    return get_or_404(session, Template, object_id, "template")


@operation(
    "/templates", "POST", tag="templates", body="TemplateInput", summary="Create a template (version 1)",
    responses={201: ("Created", "Template")},
)
def create_template(body: dict[str, Any]) -> ResponseReturnValue:
    """Validate the Jinja2 source in the sandbox, inline CSS once, and store version 1."""
    session = db_session()
    try:
        template = rendering.create_template(
            session, body["name"], untracked_urls=body.get("untracked_urls") or (), **_source(body)
        )
    except rendering.TemplateError as exc:
        session.rollback()
        raise template_error(exc) from None
    session.commit()
    return template_json(template), 201


@operation(
    "/templates", "GET", tag="templates", summary="List templates", query={**PAGING, **ARCHIVED_QUERY},
    responses={200: ("A page of templates", "TemplatePage")},
)
def list_templates(query: dict[str, Any]) -> ResponseReturnValue:
    """Templates in id order with their current version number and subject (archived ones on request)."""
    stmt = archived_filter(select(Template), Template, query)
    return keyset_page(db_session(), stmt, Template.id, query, template_summary_json)


@operation(
    "/templates/{template_id}", "GET", tag="templates", summary="Read a template and its current version",
    responses={200: ("The template", "Template")},
)
def get_template(template_id: int) -> ResponseReturnValue:
    """One template with its current version's sources and links."""
    return template_json(_get(db_session(), template_id))


@operation(
    "/templates/{template_id}", "PUT", tag="templates", body="TemplateVersionInput",
    summary="Save a new version of a template", responses={200: ("The template with its new version", "Template")},
    description="Versions are immutable: this compiles and stores a new one and makes it current. Sends "
    "already planned keep the version they were planned with.",
)
def update_template(template_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """Compile and store a new current version (and rename the template if a name is given)."""
    session = db_session()
    template = _get(session, template_id)
    try:
        rendering.compile_version(session, template, untracked_urls=body.get("untracked_urls", ()), **_source(body))
    except rendering.TemplateError as exc:
        session.rollback()
        raise template_error(exc) from None
    if body.get("name"):
        template.name = body["name"].strip() or template.name
    session.commit()
    return template_json(template)


@operation(
    "/templates/{template_id}", "DELETE", tag="templates", summary="Delete an unused template",
    responses={200: ("Deleted, with its versions", "Deleted"), 409: IN_USE[1]},
    description="Refused (409, with what uses it) while a broadcast, a sequence step (a removed one too) or an "
    "A/B test uses the template, or a mail was sent with it: archive it instead.",
)
def delete_template(template_id: int) -> ResponseReturnValue:
    """Delete a template nothing uses."""
    session = db_session()
    return delete_answer(session, _get(session, template_id), template_archive.delete_template, template_id)


@operation(
    "/templates/{template_id}/archive", "POST", tag="templates", summary="Archive a template",
    responses={200: ("The archived template", "Template")},
    description="It leaves the lists and the broadcast, sequence and A/B pickers; whatever uses it keeps it.",
)
def archive_template(template_id: int) -> ResponseReturnValue:
    """Archive (idempotent)."""
    session = db_session()
    return change_answer(session, _get(session, template_id), template_archive.archive_template, template_json)


@operation(
    "/templates/{template_id}/restore", "POST", tag="templates", summary="Restore an archived template",
    responses={200: ("The template", "Template")},
)
def restore_template(template_id: int) -> ResponseReturnValue:
    """Restore (idempotent)."""
    session = db_session()
    return change_answer(session, _get(session, template_id), template_archive.restore_template, template_json)


@operation(
    "/templates/{template_id}/duplicate", "POST", tag="templates", body="DuplicateInput",
    summary="Copy a template's current version into a new template", responses={201: ("The copy", "Template")},
)
def duplicate_template(template_id: int, body: dict[str, Any] | None) -> ResponseReturnValue:
    """The copy's version 1 is the current version as stored (sources, compiled form, links)."""
    session = db_session()
    return duplicate_answer(session, _get(session, template_id), template_archive.duplicate_template, body,
                            template_json)
