"""Lead capture forms: configuration, validation of a submission, the contact and its consent record,
spam protection, and double opt-in. Request-free: views and the API pass plain values in.

Who calls what:
- the forms UI and the demo build forms (create_form, update_form, FormInput);
- the public endpoints (campaigns.views.public_forms) call check_rate, submit_form, confirm_submission,
  and queue the confirmation mail after their commit (queueing.enqueue_confirmation);
- the worker runs send_confirmation (through campaigns.jobs.send_form_confirmation).

A submission becomes the event `form_submitted` {form: name} through campaigns.journeys.sequences.record_event
(the API's path: it also starts sequences triggered by that event), plus direct enrolment in the form's own
journeys (Form.journey_ids, migration 0022: journeys.walk_entry.enrol_live, live journeys only, their own
re-entry rule; skipped for a journey whose live version already has a form entry for this form, so there is
never a second way in) and unconverted sequences (Form.sequence_ids). With double opt-in all of it waits for
the confirmation link.
"""

from __future__ import annotations

import logging
import re
import secrets
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session, object_session

from campaigns.addresses import normalize_email
from campaigns.db import now_utc
from campaigns.delivery import rendering
from campaigns.delivery.mime import message_id
from campaigns.delivery.system_mail import send_system_mail
from campaigns.i18n import translate_in
from campaigns.ip_privacy import stored_ip
from campaigns.journeys import walk_entry
from campaigns.journeys.sequences import enroll_contact, record_event
from campaigns.leads.contacts import MAX_LENGTHS, ContactError, upsert_contact
from campaigns.links import TokenKind
from campaigns.models import (
    Contact,
    ContactStatus,
    Form,
    FormStatus,
    FormSubmission,
    Journey,
    Sequence,
    SequenceStatus,
    SubmissionStatus,
)
from campaigns.names import display_name
from campaigns.suppression import is_suppressed
from campaigns.text import storable, text_problem
from campaigns.users import get_account

if TYPE_CHECKING:
    from campaigns.runtime import Services

log = logging.getLogger("nurture.forms")

EVENT_NAME = "form_submitted"
HONEYPOT_FIELD = "website"  # hidden from people by CSS; bots that fill every input fill it
CONSENT_FIELD = "consent"


def default_consent_text(session: Session) -> str:
    """The consent wording a new form starts with, in the account's language (account.language), not the
    language of whoever opens the editor: it is shown to the account's recipients and stored with consent."""
    return translate_in(get_account(session).language,
                        "I agree to receive emails about products, events and offers. I can unsubscribe at any time.")
ATTRIBUTE_PREFIX = "attributes."
STANDARD_FIELDS = ("email", "first_name", "last_name", "company", "job_title", "phone")
MAX_FIELDS = 30
MAX_VALUE = 1000  # characters of a custom attribute or a phone number
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$")
ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9_]{1,60}$")
PHONE = re.compile(r"^\+?[0-9()\-\s.]{5,30}$")
CONFIRMATIONS_PER_WINDOW = 3  # confirmation mails to one address per CONFIRMATION_WINDOW
CONFIRMATION_WINDOW = timedelta(hours=1)

DEFAULT_CONFIRMATION_SUBJECT = "【ご確認】メール配信登録の確認 / Please confirm your subscription"
DEFAULT_CONFIRMATION_HTML = """<p>{{ contact.name | default("") }} 様</p>
<p>{{ form_name }} へのご登録ありがとうございます。下のボタンからメールアドレスの確認をお願いいたします。</p>
<p>Thank you for signing up. Please confirm your email address:</p>
<p><a href="{{ confirm_url }}" style="display:inline-block;padding:10px 18px;background:#2f6fde;color:#ffffff;text-decoration:none;border-radius:4px;">登録を確認する / Confirm</a></p>
<p style="color:#6b7280;font-size:12px;">お心当たりのない場合は、このメールを破棄してください。 / If you did not sign up, ignore this mail.</p>
"""


class FormConfigError(ValueError):
    """A form configuration that cannot be saved; `errors` maps each field to the reason shown."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class FormClosed(Exception):
    """The form is inactive: it takes no submissions."""


# ------------------------------------------------------------------ configuration
def field_kind(key: str) -> str:
    """The HTML input type of a mapped field (hosted page, embed snippet)."""
    return {"email": "email", "phone": "tel"}.get(key, "text")


def default_fields() -> list[dict[str, Any]]:
    """The fields of a new form: a whitepaper request in its usual shape (form editor, demo)."""
    return [
        {"key": "last_name", "label": "姓 / Last name", "required": True},
        {"key": "first_name", "label": "名 / First name", "required": False},
        {"key": "email", "label": "メールアドレス / Email", "required": True},
        {"key": "company", "label": "会社名 / Company", "required": True},
        {"key": "job_title", "label": "役職 / Job title", "required": False},
    ]


def slugify(name: str) -> str:
    """A URL slug from a form name; names without Latin letters give "" (FormInput.clean picks one then)."""
    text = unicodedata.normalize("NFKC", name).lower()
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:100].strip("-")
    return slug


def clean_fields(raw: Any) -> list[dict[str, Any]]:
    """Validate the field list of a form; raises FormConfigError with per-row reasons."""
    errors: dict[str, str] = {}
    if not isinstance(raw, list) or not raw:
        raise FormConfigError({"fields": "add at least the email field"})
    if len(raw) > MAX_FIELDS:
        raise FormConfigError({"fields": f"at most {MAX_FIELDS} fields"})
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            errors[f"fields.{i}"] = "each field must be an object"
            continue
        key = str(item.get("key", "")).strip()
        label = " ".join(str(item.get("label", "")).split())
        if key.startswith(ATTRIBUTE_PREFIX):
            if not ATTRIBUTE_NAME.match(key[len(ATTRIBUTE_PREFIX):]):
                errors[f"fields.{i}"] = "a custom attribute name uses letters, digits and _ (at most 60)"
                continue
        elif key not in STANDARD_FIELDS:
            errors[f"fields.{i}"] = f"unknown field {key[:60]!r}"
            continue
        if key in seen:
            errors[f"fields.{i}"] = f"{key} appears twice"
            continue
        if not label or len(label) > 200:
            errors[f"fields.{i}"] = "every field needs a label (at most 200 characters)"
            continue
        if text_problem(label, "label"):
            errors[f"fields.{i}"] = "This field contains characters that are not allowed."
            continue
        seen.add(key)
        out.append({"key": key, "label": label, "required": key == "email" or bool(item.get("required"))})
    if "email" not in seen and not errors:
        errors["fields"] = "the email field is required"
    if errors:
        raise FormConfigError(errors)
    return out


def _check_url(url: str) -> str | None:
    url = url.strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or text_problem(url, "url") or " " in url:
        return None
    return url if len(url) <= 2000 else None


@dataclass
class FormInput:
    """A form's settings as the editor and the API give them; `apply` validates and stores them."""

    name: str = ""
    slug: str = ""
    title: str = ""
    description: str = ""
    fields: list[dict[str, Any]] = field(default_factory=default_fields)
    submit_label: str = ""
    consent_text: str = ""
    double_opt_in: bool = False
    confirmation_subject: str = DEFAULT_CONFIRMATION_SUBJECT
    confirmation_html: str = DEFAULT_CONFIRMATION_HTML
    journey_ids: list[int] = field(default_factory=list)
    sequence_ids: list[int] = field(default_factory=list)  # a converted sequence's id is stored as its journey
    source: str = ""
    thank_you_message: str = ""
    redirect_url: str = ""
    status: str = FormStatus.ACTIVE

    @classmethod
    def from_form(cls, form: Form) -> FormInput:
        """The form's settings (editor, API PUT); a sequence converted since it was saved (activating a sequence
        makes it a journey) is given as its journey, so the builder shows it ticked and a save keeps it."""
        data = cls(**{k: getattr(form, k) for k in cls.__dataclass_fields__})
        session = object_session(form)
        if session is not None and data.sequence_ids:
            data.journey_ids, data.sequence_ids, _unknown = _clean_targets(session, list(data.journey_ids),
                                                                           list(data.sequence_ids))
        return data

    def clean(self, session: Session, form_id: int | None) -> dict[str, Any]:
        """The values to store, or FormConfigError listing every problem at once."""
        errors: dict[str, str] = {}
        values: dict[str, Any] = {}
        name = " ".join(self.name.split())
        if not name or len(name) > 200:
            errors["name"] = "a name of 1-200 characters is required"
        elif text_problem(name, "name"):
            errors["name"] = "This field contains characters that are not allowed."
        values["name"] = name
        # Japanese names have no Latin letters to slugify: a short random name then, editable later.
        slug = self.slug.strip().lower() or slugify(name) or f"form-{secrets.token_hex(3)}"
        if not SLUG.match(slug):
            errors["slug"] = "the URL name uses lower-case letters, digits and - (at most 100)"
        elif session.scalar(select(Form.id).where(Form.slug == slug, Form.id != (form_id or 0))) is not None:
            errors["slug"] = "another form already uses this URL name"
        values["slug"] = slug
        for key, limit in (("title", 200), ("submit_label", 100), ("source", 100)):
            value = " ".join(str(getattr(self, key)).split())
            if len(value) > limit:
                errors[key] = f"at most {limit} characters"
            elif text_problem(value, key):
                errors[key] = "This field contains characters that are not allowed."
            values[key] = value
        for key in ("description", "consent_text", "thank_you_message"):
            value = str(getattr(self, key)).strip().replace("\r\n", "\n")
            if text_problem(value, key, multiline=True) or len(value) > 20000:
                errors[key] = "at most 20,000 characters, no control characters"
            values[key] = value
        if not values["consent_text"]:
            errors["consent_text"] = "the consent wording is required (it is shown next to the checkbox and stored)"
        try:
            values["fields"] = clean_fields(self.fields)
        except FormConfigError as exc:
            errors.update(exc.errors)
        url = _check_url(self.redirect_url)
        if url is None:
            errors["redirect_url"] = "the redirect must be an absolute http:// or https:// URL"
        values["redirect_url"] = url or ""
        values["journey_ids"], values["sequence_ids"], unknown = _clean_targets(session, self.journey_ids,
                                                                                 self.sequence_ids)
        for key in unknown:
            errors[key] = "unknown journey or sequence"
        values["double_opt_in"] = bool(self.double_opt_in)
        subject = " ".join(self.confirmation_subject.split()) or DEFAULT_CONFIRMATION_SUBJECT
        html = self.confirmation_html.strip() or DEFAULT_CONFIRMATION_HTML
        if len(subject) > 300:
            errors["confirmation_subject"] = "at most 300 characters"
        elif text_problem(subject, "confirmation_subject") or text_problem(html, "confirmation_html", multiline=True):
            key = "confirmation_subject" if text_problem(subject, "confirmation_subject") else "confirmation_html"
            errors[key] = "This field contains characters that are not allowed."
        else:
            try:
                rendering.validate_standalone(subject, html)
            except rendering.TemplateError as exc:
                errors["confirmation_html"] = str(exc)
            else:
                if values["double_opt_in"] and "confirm_url" not in html:
                    errors["confirmation_html"] = "the confirmation mail must contain {{ confirm_url }}"
        values["confirmation_subject"], values["confirmation_html"] = subject, html
        try:
            values["status"] = FormStatus(self.status)
        except ValueError:
            errors["status"] = "active or inactive"
        if errors:
            raise FormConfigError(errors)
        return values


def _clean_targets(session: Session, journey_ids: list[Any], sequence_ids: list[Any],
                   ) -> tuple[list[int], list[int], set[str]]:
    """(journey ids, unconverted sequence ids, the fields naming something that does not exist): a converted
    sequence's id becomes its journey's (walk_entry.chosen_target), duplicates dropped in order."""
    keys = [(f"journey:{i}", "journey_ids") for i in journey_ids] + [(f"sequence:{i}", "sequence_ids")
                                                                     for i in sequence_ids]
    journeys: list[int] = []
    sequences: list[int] = []
    unknown: set[str] = set()
    for key, where in keys:
        target = walk_entry.chosen_target(session, key)
        if target is None:
            unknown.add(where)
        elif target.journey_id is not None:
            journeys.append(target.journey_id)
        elif target.sequence_id is not None:
            sequences.append(target.sequence_id)
    return list(dict.fromkeys(journeys)), list(dict.fromkeys(sequences)), unknown


def create_form(session: Session, data: FormInput) -> Form:
    """Create a form (editor, API, demo); raises FormConfigError."""
    form = Form(**data.clean(session, None))
    session.add(form)
    session.flush()
    return form


def update_form(session: Session, form: Form, data: FormInput) -> Form:
    """Replace a form's settings (editor); earlier submissions keep the wording they were shown."""
    for key, value in data.clean(session, form.id).items():
        setattr(form, key, value)
    form.updated_at = now_utc()
    session.flush()
    return form


# ------------------------------------------------------------------ spam protection
def check_rate(svc: Services, ip: str, *, limit: int | None = None, window: int | None = None) -> bool:
    """Count one submission from this address; False once it is over the limit in the window (public view).

    A fixed window per address (INCR + EXPIRE), not the sender's GCRA limiter (campaigns.delivery.ratelimit):
    refused attempts must not push the next allowed one further out, or one busy office stays locked.
    """
    limit = limit or svc.settings.form_rate_limit
    window = window or svc.settings.form_rate_window
    who = stored_ip(svc.settings, ip, "hash") or "unknown"
    key = f"nurture:forms:rate:{who}"
    pipe = svc.redis.pipeline()
    pipe.set(key, 0, ex=window, nx=True)
    pipe.incr(key)
    _, count = pipe.execute()
    return int(count) <= limit


# ------------------------------------------------------------------ submissions
@dataclass
class SubmissionResult:
    """What happened to one submission; the view turns it into a page or a JSON answer."""

    status: str  # confirmed | pending | spam | invalid
    values: dict[str, str] = field(default_factory=dict)  # as typed (trimmed), re-shown on errors
    errors: dict[str, str] = field(default_factory=dict)  # field key -> English reason (views translate)
    submission_id: int | None = None
    contact_id: int | None = None


def _text(raw: Any) -> str:
    if isinstance(raw, list | tuple):
        raw = raw[0] if raw else ""
    if raw is None or isinstance(raw, dict):
        return ""
    if isinstance(raw, bool):
        return "1" if raw else ""
    return str(raw).replace("\r\n", "\n").strip()


def is_checked(raw: Any) -> bool:
    """True for a ticked checkbox or a JSON true (the consent box; the public view re-shows it)."""
    return _text(raw).lower() in {"1", "on", "yes", "true", "y"}


def validate_submission(form: Form, data: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """(values as typed, errors by field key) for a submission; only the form's own fields are read."""
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    for spec in form.fields:
        key = spec["key"]
        value = _text(data.get(key))
        values[key] = value[:MAX_VALUE * 20]  # shown again on errors; bounded so a flood stays small
        if text_problem(value, key, multiline=True):  # the text rule (campaigns.text), as every input path
            errors[key] = "This field contains characters that are not allowed."
        elif not value:
            if spec.get("required") or key == "email":
                errors[key] = "This field is required."
        elif key == "email":
            if normalize_email(value) is None:
                errors[key] = "Enter a valid email address."
        elif key == "phone":
            if len(value) > 30 or not PHONE.match(value):
                errors[key] = "Enter a valid phone number."
        else:
            if len(value) > MAX_LENGTHS.get(key, MAX_VALUE):
                errors[key] = "This is too long."
    if not is_checked(data.get(CONSENT_FIELD)):
        errors[CONSENT_FIELD] = "Please agree to receive emails."
    return values, errors


def _contact_data(values: Mapping[str, str]) -> dict[str, Any]:
    """The contact fields of a submission, blanks left out so they never overwrite stored values."""
    data: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for key, value in values.items():
        if not value:
            continue
        if key.startswith(ATTRIBUTE_PREFIX):
            attributes[key[len(ATTRIBUTE_PREFIX):]] = value
        elif key == "phone":
            attributes["phone"] = value
        elif key in STANDARD_FIELDS:
            data[key] = value
    if attributes:
        data["attributes"] = attributes
    return data


def _record_consent(contact: Contact, form: Form, wording: str, at: datetime) -> None:
    contact.consent_at = at
    contact.consent_method = "form"
    contact.consent_source = form.name[:200]
    contact.consent_text = wording


def _start(session: Session, form: Form, contact: Contact, submission: FormSubmission, now: datetime) -> None:
    """The consequences of a (confirmed) submission: the event, then the form's own journeys and sequences."""
    properties = {"form": form.name, "form_id": form.id, "submission_id": submission.id}
    record_event(session, contact, EVENT_NAME, properties, occurred_at=now, source="form")
    if form.journey_ids:
        for journey in session.scalars(select(Journey).where(Journey.id.in_(form.journey_ids)).order_by(Journey.id)):
            if walk_entry.enters_on_form(session, journey, form.id):
                continue  # its own form entry lets the submission in at the engine's tick: never two ways in
            reason = walk_entry.refusal(session, journey)
            if reason:
                log.info("form %s: %s, the contact is not enrolled", form.id, reason)
                continue
            walk_entry.enrol_live(session, journey, [contact.id], f"form:{form.id}", context=properties, now=now)
    if form.sequence_ids:
        # Unconverted sequences; a converted one still listed (not saved since migration 0022) is enrolled into
        # the journey it became (enroll_contact maps it), unless that journey lets this form in by itself.
        for sequence in session.scalars(select(Sequence).where(
            Sequence.id.in_(form.sequence_ids), Sequence.status.in_((SequenceStatus.ACTIVE, SequenceStatus.CONVERTED)))
        ):
            if sequence.status == SequenceStatus.CONVERTED:
                became = walk_entry.journey_of_sequence(session, sequence.id)
                if became is not None and (became.id in (form.journey_ids or [])
                                           or walk_entry.enters_on_form(session, became, form.id)):
                    continue
            enroll_contact(session, contact, sequence, source_event=EVENT_NAME, now=now)


def submit_form(
    svc: Services, session: Session, form: Form, data: Mapping[str, Any], *, ip: str = "", user_agent: str = "",
    referrer: str = "", now: datetime | None = None,
) -> SubmissionResult:
    """Handle one submission (public endpoint): spam check, validation, contact and consent, event and
    sequences, or a pending record awaiting double opt-in. The caller commits, then sends the
    confirmation mail for a pending result (enqueue send_form_confirmation with the submission id)."""
    if form.status != FormStatus.ACTIVE:
        raise FormClosed(form.slug)
    now = now or now_utc()
    meta = {
        "ip": stored_ip(svc.settings, ip),
        # headers are the visitor's too: what cannot be stored is dropped, never the submission
        "user_agent": storable(user_agent[:512], multiline=False), "referrer": storable(referrer[:500], multiline=False),
        "submitted_at": now,
    }
    if _text(data.get(HONEYPOT_FIELD)):
        # Answered as a success, so the bot learns nothing; kept for the spam count, nothing else touched.
        # storable(): kept for the spam count whatever the bot sent (a NUL would fail the insert)
        values = {spec["key"]: storable(_text(data.get(spec["key"]))[:MAX_VALUE]) for spec in form.fields}
        spam = FormSubmission(form_id=form.id, values=values, consent_text=form.consent_text,
                              status=SubmissionStatus.SPAM, email=(normalize_email(values.get("email")) or "")[:254],
                              **meta)
        session.add(spam)
        session.flush()
        return SubmissionResult("spam", values=values, submission_id=spam.id)
    values, errors = validate_submission(form, data)
    if errors:
        return SubmissionResult("invalid", values=values, errors=errors)
    email = normalize_email(values["email"])
    assert email is not None  # validated above
    stored = {k: v for k, v in values.items() if k != "email"} | {"email": email}
    submission = FormSubmission(form_id=form.id, email=email, values=stored, consent_text=form.consent_text, **meta)
    contact = session.scalar(select(Contact).where(Contact.email == email))
    if form.double_opt_in:
        # Nothing about an existing contact changes until the owner of the address confirms: anyone can
        # type anyone's address into a public form.
        if contact is None:
            try:
                contact, _created = upsert_contact(session, {**_contact_data(stored),
                                                             "source": form.source or "form"})
            except ContactError as exc:
                return SubmissionResult("invalid", values=values, errors={"email": str(exc)})
            if contact.status == ContactStatus.ACTIVE:
                contact.status = ContactStatus.PENDING
        submission.status = SubmissionStatus.PENDING
        submission.contact_id = contact.id
        session.add(submission)
        session.flush()
        return SubmissionResult("pending", values=values, submission_id=submission.id, contact_id=contact.id)
    try:
        contact = _apply_submission(session, form, contact, stored)
    except ContactError as exc:
        return SubmissionResult("invalid", values=values, errors={"email": str(exc)})
    _record_consent(contact, form, form.consent_text, now)
    submission.status = SubmissionStatus.CONFIRMED
    submission.confirmed_at = now
    submission.contact_id = contact.id
    session.add(submission)
    session.flush()
    _start(session, form, contact, submission, now)
    return SubmissionResult("confirmed", values=values, submission_id=submission.id, contact_id=contact.id)


def _apply_submission(session: Session, form: Form, contact: Contact | None, stored: Mapping[str, str]) -> Contact:
    data = _contact_data(stored)
    if contact is None:
        contact, _created = upsert_contact(session, {**data, "source": form.source or "form"})
    else:
        upsert_contact(session, data)  # blanks were left out: stored values stay
    if contact.status == ContactStatus.PENDING:
        contact.status = ContactStatus.ACTIVE  # this submission is the consent the pending one waited for
    return contact


def confirm_token(svc: Services, submission: FormSubmission) -> str:
    """The signed token of a submission's confirmation link (HMAC, no expiry: the link is in a mail)."""
    return svc.signer.sign(TokenKind.FORM_CONFIRM, submission.id, submission.form_id)


def confirm_url(svc: Services, submission: FormSubmission) -> str:
    """The public confirmation link, built from BASE_URL (mail rendering)."""
    return f"{svc.urls.base}/f/confirm/{confirm_token(svc, submission)}"


def submission_for_token(svc: Services, session: Session, token: str) -> FormSubmission | None:
    """The submission a confirmation token names, or None when forged or gone (public view, GET and POST)."""
    verified = svc.signer.verify(token, TokenKind.FORM_CONFIRM)
    if verified is None:
        return None
    submission = session.get(FormSubmission, verified.a)
    if submission is None or submission.form_id != verified.b:
        return None
    return submission


def confirm_submission(session: Session, submission: FormSubmission, now: datetime | None = None) -> bool:
    """Confirm a pending double opt-in (POST of the link): contact fields, consent, event, sequences.
    Returns False when it was already confirmed (a second click changes nothing) or is spam."""
    if submission.status != SubmissionStatus.PENDING:
        return False
    now = now or now_utc()
    form = session.get(Form, submission.form_id)
    assert form is not None  # the FK cascades: a submission never outlives its form
    contact = session.get(Contact, submission.contact_id) if submission.contact_id else None
    contact = _apply_submission(session, form, contact, submission.values or {})
    _record_consent(contact, form, submission.consent_text, now)
    submission.status = SubmissionStatus.CONFIRMED
    submission.confirmed_at = now
    submission.contact_id = contact.id
    session.flush()
    _start(session, form, contact, submission, now)
    return True


def send_confirmation(svc: Services, submission_id: int) -> bool:
    """Render and send the confirmation mail of a pending submission (worker job); False if not pending."""

    session = svc.db.factory()
    try:
        submission = session.get(FormSubmission, submission_id)
        if submission is None or submission.status != SubmissionStatus.PENDING:
            return False
        form = session.get(Form, submission.form_id)
        contact = session.get(Contact, submission.contact_id) if submission.contact_id else None
        if form is None or contact is None:
            return False
        if is_suppressed(session, submission.email):
            # "No send may ever reach" a suppressed address (bounced, complained, unsubscribed), this one included.
            log.info("confirmation for submission %d not sent: the address is suppressed", submission.id)
            return False
        recent = session.scalar(
            select(func.count()).select_from(FormSubmission).where(
                FormSubmission.email == submission.email,
                FormSubmission.confirmation_sent_at >= now_utc() - CONFIRMATION_WINDOW,
            )
        )
        if (recent or 0) >= CONFIRMATIONS_PER_WINDOW:
            # Someone keeps typing this address into a form: do not turn the form into a mail bomb.
            log.warning("confirmation for submission %d not sent: %d already sent recently", submission.id, recent)
            return False
        values = submission.values or {}
        # The greeting uses what was typed (an existing contact's stored name may be someone else's data).
        shown = {"email": submission.email, "first_name": values.get("first_name", ""),
                 "last_name": values.get("last_name", ""), "company": values.get("company", ""),
                 "job_title": values.get("job_title", ""), "id": contact.id}
        mail = _render_confirmation(svc, session, form, submission, shown, contact.id)
        account = get_account(session)
        name = display_name(shown["first_name"], shown["last_name"])
        send_system_mail(svc, account, name, submission.email, mail,
                         message_id(svc, account, "form-confirm", f"{submission.id}-{uuid.uuid4().hex[:8]}"))
        submission.confirmation_sent_at = now_utc()
        session.commit()
        return True
    finally:
        session.close()


def _render_confirmation(
    svc: Services, session: Session, form: Form, submission: FormSubmission, shown: dict[str, Any], contact_id: int
) -> rendering.RenderedMail:
    return rendering.render_standalone(
        session, subject=form.confirmation_subject or DEFAULT_CONFIRMATION_SUBJECT,
        html_source=form.confirmation_html or DEFAULT_CONFIRMATION_HTML, contact=shown,
        extra={"confirm_url": confirm_url(svc, submission), "form_name": form.title or form.name},
        unsubscribe_url=svc.urls.unsubscribe(contact_id), preferences_url=svc.urls.preferences(contact_id),
    )
