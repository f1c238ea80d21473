"""Lead capture forms (hosted and embeddable) and their submissions, each with the consent record."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from campaigns.db import Base, JSONType, StrEnumType, UTCDateTime, now_utc


class FormStatus(enum.StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


class SubmissionStatus(enum.StrEnum):
    PENDING = "pending"  # double opt-in: waiting for the confirmation link
    CONFIRMED = "confirmed"  # single opt-in at once, double opt-in once the link was confirmed
    SPAM = "spam"  # the honeypot was filled: kept for the record, no contact touched


class Form(Base):
    """A capture form: which fields map to which contact attribute, the consent wording, what happens next."""

    __tablename__ = "forms"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(100), unique=True)  # the public URL: /f/<slug>
    title: Mapped[str] = mapped_column(String(200), default="")  # heading on the hosted page
    description: Mapped[str] = mapped_column(Text, default="")  # shown above the fields
    # [{"key": "email" | "first_name" | ... | "attributes.<name>", "label": str, "required": bool}]
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    submit_label: Mapped[str] = mapped_column(String(100), default="")
    consent_text: Mapped[str] = mapped_column(Text, default="")  # the exact wording next to the checkbox
    double_opt_in: Mapped[bool] = mapped_column(Boolean, default=False)
    confirmation_subject: Mapped[str] = mapped_column(String(300), default="")
    confirmation_html: Mapped[str] = mapped_column(Text, default="")  # sandboxed Jinja; {{ confirm_url }}
    # Enrolled on (confirmed) submit: journeys (migration 0022), and draft sequences (each reached as its journey
    # once activated; a converted sequence's id is stored as its journey). A journey whose live version has a form entry for this
    # form lets the submission in by itself, and then the form does not enrol (leads.forms._start).
    journey_ids: Mapped[list[int]] = mapped_column(JSONType, default=list, server_default=text("'[]'"))
    sequence_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)
    source: Mapped[str] = mapped_column(String(100), default="")  # contact.source for new contacts
    thank_you_message: Mapped[str] = mapped_column(Text, default="")
    redirect_url: Mapped[str] = mapped_column(String(2000), default="")  # http(s) only, set by a marketer
    status: Mapped[FormStatus] = mapped_column(StrEnumType(FormStatus), default=FormStatus.ACTIVE)
    # Archived (campaigns.archive): out of lists and pickers, history and reports kept; NULL = live.
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc, onupdate=now_utc)


class FormSubmission(Base):
    """One submission: the values as typed, the consent wording as shown, and when and from where."""

    __tablename__ = "form_submissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    form_id: Mapped[int] = mapped_column(ForeignKey("forms.id", ondelete="CASCADE"))
    # The record of consent outlives a deleted contact (the law asks for it to be kept), so SET NULL.
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), index=True)
    email: Mapped[str] = mapped_column(String(254), default="")  # normalised, as submitted
    values: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    consent_text: Mapped[str] = mapped_column(Text, default="")  # the wording shown when they ticked the box
    status: Mapped[SubmissionStatus] = mapped_column(StrEnumType(SubmissionStatus), default=SubmissionStatus.CONFIRMED)
    ip: Mapped[str] = mapped_column(String(64), default="")  # truncated or hashed per IP_PRIVACY
    user_agent: Mapped[str] = mapped_column(String(512), default="")
    referrer: Mapped[str] = mapped_column(String(500), default="")  # the page that embedded the form
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmation_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


Index("ix_form_submissions_form_time", FormSubmission.form_id, FormSubmission.submitted_at)
