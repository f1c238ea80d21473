"""Builders for sequence and scheduler tests: templates with a saved version, contacts, sequences."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.journeys.sequences import create_sequence, set_sequence_status
from campaigns.models import Contact, Send, Template, TemplateVersion

# 2026-11-21 is a Saturday.
SATURDAY_NOON_UTC = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def make_template(session: Session, name: str = "Welcome", with_version: bool = True) -> Template:
    """A template with one saved version made current (the compiled form is irrelevant to planning)."""
    template = Template(name=name)
    session.add(template)
    session.flush()
    if with_version:
        version = TemplateVersion(template_id=template.id, version=1, subject=f"{name} subject",
                                  html_source="<p>Hi</p>", compiled_html="<p>Hi</p>", compiled_text="Hi")
        session.add(version)
        session.flush()
        template.current_version_id = version.id
        session.flush()
    return template


def make_contact(session: Session, email: str, **fields: Any) -> Contact:
    contact = Contact(email=email, **fields)
    session.add(contact)
    session.flush()
    return contact


def make_sequence(session: Session, steps: list[dict[str, Any]], *, active: bool = True, **kw: Any) -> Any:
    """A sequence; each step dict may give just delay_minutes/window fields and a template."""
    sequence = create_sequence(session, kw.pop("name", "Nurture"), steps=steps, **kw)
    if active:
        set_sequence_status(session, sequence, "active")
    return sequence


def sends_of(session: Session, **where: Any) -> list[Send]:
    query = select(Send).order_by(Send.id)
    for key, value in where.items():
        query = query.where(getattr(Send, key) == value)
    return list(session.scalars(query))
