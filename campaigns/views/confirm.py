"""The confirmation step before anything mails people (or acts on many contacts at once).

Nothing that mails people happens on the first POST. The view validates its form, works out WHO
(the count, and a sample of SAMPLE_SIZE contacts with names and companies) and WHEN (a time shown in
the account's zone and labelled with it, or "now"), and hands both to `gate()`. The first POST gets a
confirmation page that re-posts every field of the original form to the same URL, plus
`confirm_step=confirmed` and `confirm_count` (the count shown). The view then runs again on the same
input, recounts, and `gate()` lets it through only when

- the recount equals the count the user saw (else the page is shown again with the new count: an
  audience that grew from 80 to 3,000 since is a different decision), and
- at MASS_THRESHOLD recipients or more, the user typed that count (full-width digits and thousands
  separators are accepted; a wrong number is refused with 400 and nothing happens).

The gate is server-side: a script (static/confirm.js) only keeps the button disabled until the typed
count matches. API calls are not interactive and do not go through this.

How a view uses it (broadcasts "send now" / "schedule", enrolment into a sequence, bulk "enrol" on the
contact list):

    from campaigns.views import confirm

    @bp.post("/<int:sequence_id>/enroll")
    def enroll(sequence_id):
        ...  # parse and validate the form as usual; errors go back to the form, no confirmation
        ids = <a select() of the contact ids the action reaches>
        gate = confirm.gate(confirm.Confirmation(
            title=_("Enrol contacts in “%(name)s”", name=sequence.name),
            action=_("Enrol %(n)s contacts", n=count),  # the confirm button says what happens
            count=confirm.count_of(s, ids), sample=confirm.sample_of(s, ids),
            when=first_mail_at,  # None and when_text "" read "Right away"
            back_url=url_for("sequences.show", sequence_id=sequence_id),
        ))
        if gate is not None:
            return gate  # the confirmation page (200), or again with the reason (400 / 409)
        ...  # do it, commit, flash, redirect

A form that should come back filled in (the new-broadcast form) leaves `back_url` None: the page then
offers a "Change" button that re-posts the fields with `confirm_step=back`, and the view re-renders its
form when `confirm.going_back()` is true. Actions that mail nobody but cannot be undone (cancel a
broadcast, delete a draft) use the same page with `count=None` and `show_when=False`. To show the panel
inside another page instead, render `confirm_panel(c)` from templates/ui/_confirm.html with a
Confirmation whose `fields` and `action_url` are filled (`gate()` fills them from the request).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from campaigns.i18n import _
from campaigns.models import Contact
from campaigns.views.builder_common import account_time, account_zone

MASS_THRESHOLD = 100  # at this many recipients or more, the count must be typed to confirm
SAMPLE_SIZE = 5  # contacts shown by name and company on the confirmation
STEP_FIELD, COUNT_FIELD, TYPED_FIELD = "confirm_step", "confirm_count", "typed_count"
_OWN_FIELDS = {STEP_FIELD, COUNT_FIELD, TYPED_FIELD, "csrf_token"}


@dataclass
class Confirmation:
    """What the user is asked to confirm; the views fill it, `gate()` and the template read it."""

    title: str  # the page's heading: what is about to happen, with the object's name
    action: str  # the confirm button's label ("Send to 346 contacts")
    count: int | None  # contacts reached; None when the action mails nobody (cancel, delete)
    sample: Sequence[Contact] = ()  # up to SAMPLE_SIZE of them
    when: datetime | None = None  # aware UTC; None reads "Right away" unless when_text says otherwise
    when_text: str = ""  # instead of a time ("when the sequence is activated")
    show_when: bool = True
    details: list[tuple[str, str]] = field(default_factory=list)  # (label, value) rows: template, audience
    notes: list[str] = field(default_factory=list)  # sentences under the summary (A/B hold-back, skipped)
    back_url: str | None = None  # None: a "Change" button re-posts the form with confirm_step=back
    danger: bool = False  # the button is red (cancel, delete)
    # Filled by gate() from the request:
    action_url: str = ""
    fields: list[tuple[str, str]] = field(default_factory=list)
    error: str = ""
    notice: str = ""

    @property
    def mass(self) -> bool:
        """Whether the count must be typed."""
        return self.count is not None and self.count >= MASS_THRESHOLD

    @property
    def more(self) -> int:
        """Contacts not in the sample."""
        return max(0, (self.count or 0) - len(self.sample))

    @property
    def when_label(self) -> str:
        """The time in the account's zone ("2030-01-15 09:30"), or "" for now / when_text."""
        return account_time(self.when) if self.when is not None else ""

    @property
    def zone(self) -> str:
        return account_zone().key


def count_of(session: Session, ids: Select[Any]) -> int:
    """How many contacts a select() of contact ids reaches (the confirmation's count)."""
    return int(session.scalar(select(func.count()).select_from(ids.subquery())) or 0)


def sample_of(session: Session, ids: Select[Any], limit: int = SAMPLE_SIZE) -> list[Contact]:
    """The newest `limit` contacts of a select() of contact ids (the confirmation's sample)."""
    chosen = ids.order_by(None).subquery()
    return list(session.scalars(
        select(Contact).where(Contact.id.in_(select(chosen.c[0]))).order_by(Contact.id.desc()).limit(limit)
    ))


def parse_count(raw: str | None) -> int | None:
    """A count as a person types it: full-width digits, spaces and thousands separators allowed."""
    text = unicodedata.normalize("NFKC", raw or "")
    digits = "".join(ch for ch in text if ch not in " ,._'\u3000")
    if not digits.isascii() or not digits.isdigit() or len(digits) > 12:
        return None
    return int(digits)


def confirmed() -> bool:
    """Whether this request is the confirming POST (views that branch before counting)."""
    return request.form.get(STEP_FIELD) == "confirmed"


def going_back() -> bool:
    """Whether the user chose "Change" on the confirmation (the view re-renders its form, filled in)."""
    return request.form.get(STEP_FIELD) == "back"


def gate(c: Confirmation) -> ResponseReturnValue | None:
    """None when this request confirms exactly `c` (the view goes ahead); else the confirmation page."""
    c.action_url = request.full_path.rstrip("?")
    c.fields = [(name, value) for name, values in request.form.lists() if name not in _OWN_FIELDS
                for value in values]
    if not confirmed():
        return render(c)
    shown = parse_count(request.form.get(COUNT_FIELD))
    if c.count is not None and shown != c.count:
        c.notice = _("The number of contacts changed from %(old)s to %(new)s since the confirmation was shown. "
                     "Check again before you go ahead.", old=_number(shown), new=_number(c.count))
        return render(c, 409)
    if c.mass and parse_count(request.form.get(TYPED_FIELD)) != c.count:
        c.error = _("Type the number of contacts, %(n)s, to confirm.", n=_number(c.count))
        return render(c, 400)
    return None


def render(c: Confirmation, status: int = 200) -> ResponseReturnValue:
    """The confirmation page (gate; a view may call it directly for a panel it built itself)."""
    return render_template("ui/confirm.html", c=c, threshold=MASS_THRESHOLD), status


def _number(n: int | None) -> str:
    return "—" if n is None else f"{n:,}"
