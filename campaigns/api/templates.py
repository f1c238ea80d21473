"""Email templates: create, list, read, and save a new version (compiled once by campaigns.delivery.rendering)."""

from __future__ import annotations

from typing import Any

from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.api.core import ApiError, db_session, get_or_404, keyset_page, operation
from campaigns.api.schemas import PAGING
from campaigns.api.serialize import template_json, template_summary_json
from campaigns.delivery import rendering
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
    "/templates", "GET", tag="templates", summary="List templates", query=PAGING,
    responses={200: ("A page of templates", "TemplatePage")},
)
def list_templates(query: dict[str, Any]) -> ResponseReturnValue:
    """Templates in id order with their current version number and subject."""
    return keyset_page(db_session(), select(Template), Template.id, query, template_summary_json)


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
