"""Lead forms: what depends on one, delete it when nothing does, archive and restore, duplicate.

The rules (campaigns.archive gives the shared contract):

- A form can be **deleted** only while it holds no submission a person made (confirmed, or waiting for
  the double opt-in link): each is the record of a consent, which Japan's Act on Specified Electronic
  Mail and the GDPR ask the sender to keep as long as it mails the person. Submissions marked as spam
  (the honeypot) are nobody's consent and go with the form.
- Otherwise it is **archived**: it leaves the form list, and its hosted page closes (status inactive,
  the page says the form is closed; pending confirmation links still work, the person already asked).
  Its submissions and their consent records stay readable and exportable. **Restoring** brings it back
  to the list still closed: opening it to visitors again is a choice the marketer makes in the editor.
- **Duplicate** copies everything the form asks and does (fields, consent wording, double opt-in and
  its mail, sequences, thank-you message, redirect) under a new name and a new public address
  ("<slug>-copy", "<slug>-copy-2", ...), closed until the marketer opens it, with no submissions.

Called by campaigns.views.forms and campaigns.api.forms; request-free.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.archive import COPY_PATTERN, Usage, archive, copy_name, delete_guarded, restore
from campaigns.models import Form, FormStatus, FormSubmission, SubmissionStatus

# What a copy takes from its original; name, slug and status are the copy's own.
COPIED = ("title", "description", "fields", "submit_label", "consent_text", "double_opt_in", "confirmation_subject",
          "confirmation_html", "journey_ids", "sequence_ids", "source", "thank_you_message", "redirect_url")
SLUG_LIMIT = 100


def form_usages(session: Session, form: Form) -> list[Usage]:
    """The submissions that record someone's consent (delete page, API 409)."""
    kept = session.scalar(
        select(func.count()).where(FormSubmission.form_id == form.id, FormSubmission.status != SubmissionStatus.SPAM)
    ) or 0
    return [Usage("submissions", count=int(kept))] if kept else []


def delete_form(session: Session, form: Form) -> None:
    """Delete a form no one has submitted (spam aside); raises campaigns.archive.InUse otherwise."""
    delete_guarded(session, form, "form", lambda: form_usages(session, form))


def archive_form(session: Session, form: Form) -> None:
    """Take a form out of the list and close its hosted page; submissions and consent records stay."""
    archive(form)
    form.status = FormStatus.INACTIVE
    session.flush()


def restore_form(session: Session, form: Form) -> None:
    """Bring an archived form back to the list, still closed to visitors."""
    restore(form)
    session.flush()


def _copy_slug(session: Session, slug: str) -> str:
    for n in range(1, 1000):
        suffix = "-copy" if n == 1 else f"-copy-{n}"
        candidate = slug[: SLUG_LIMIT - len(suffix)].rstrip("-") + suffix
        if session.scalar(select(Form.id).where(Form.slug == candidate)) is None:
            return candidate
    raise ValueError("no free address for the copy")


def duplicate_form(session: Session, form: Form, pattern: str = COPY_PATTERN) -> Form:
    """A closed copy of a form under a new name ("%(name)s (copy)", translated by the caller) and address."""
    copy = Form(name=copy_name(form.name, pattern), slug=_copy_slug(session, form.slug), status=FormStatus.INACTIVE,
                **{key: getattr(form, key) for key in COPIED})
    copy.fields = [dict(spec) for spec in form.fields or []]
    copy.journey_ids = list(form.journey_ids or [])
    copy.sequence_ids = list(form.sequence_ids or [])
    session.add(copy)
    session.flush()
    return copy
