"""Names recipients see: the public name of each journey and sequence, which the preference page shows
instead of the internal name ("Q3 webinar nurture - SMB" stays in the workspace; "Webinar tips" is what a
recipient reads when choosing which mails to stop).

Contract:
- GET /settings/public-names: every journey (archived ones aside) and every sequence not yet converted to
  a journey, its internal name, status and public name; an example of the preference page as a contact sees it
- POST: saves every public name of the form at once (each a single line of at most 200 characters,
  checked by campaigns.text.clean_text; empty = the neutral wording); one commit
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from campaigns.i18n import _
from campaigns.models import Journey, JourneyStatus, Sequence, SequenceStatus
from campaigns.params import parse_id
from campaigns.runtime import services
from campaigns.text import TextError, clean_text
from campaigns.views.journeys import STATUS_LABELS as JOURNEY_STATUS

bp = Blueprint("public_names", __name__, url_prefix="/settings/public-names")

MAX_PUBLIC_NAME = 200


def _series() -> tuple[list[Journey], list[Sequence]]:
    s = services().db.session
    journeys = list(s.scalars(select(Journey).where(Journey.status != JourneyStatus.ARCHIVED).order_by(Journey.name)))
    sequences = list(s.scalars(select(Sequence).where(Sequence.status != SequenceStatus.CONVERTED)
                               .order_by(Sequence.name)))
    return journeys, sequences


@bp.route("/", methods=["GET", "POST"])
def index() -> Any:
    """The names recipients see, all on one page."""
    journeys, sequences = _series()
    errors: dict[str, str] = {}
    if request.method == "POST":
        by_key = {f"journey-{j.id}": j for j in journeys} | {f"sequence-{q.id}": q for q in sequences}
        for key, value in request.form.items():
            if not key.startswith(("journey-", "sequence-")) or key not in by_key or parse_id(key.split("-")[1]) is None:
                continue
            try:
                by_key[key].public_name = clean_text(value, "public name", max_length=MAX_PUBLIC_NAME)
            except TextError as exc:
                errors[key] = _(str(exc))
        if not errors:
            services().db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("public_names.index"))
        services().db.session.rollback()
        journeys, sequences = _series()
    return render_template("ui/public_names.html", journeys=journeys, sequences=sequences, errors=errors,
                           values=request.form if errors else {}, status_words=_status_words), 400 if errors else 200


def _status_words(row: Journey | Sequence) -> str:
    """A journey's or sequence's status in words, in the user's language."""
    if isinstance(row, Journey):
        return _(JOURNEY_STATUS.get(row.status, str(row.status)))
    return _(row.status.value)
