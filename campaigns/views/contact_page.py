"""The contact page (`contacts.show`): who the contact is and the story so far.

Routes hang on the `contacts` blueprint of campaigns.views.contacts so that endpoint names stay
`contacts.*`; campaigns.views imports this module before it registers the blueprint."""

from __future__ import annotations

from typing import Any

from flask import abort, render_template
from sqlalchemy import select

from campaigns.models import Broadcast, Contact, Enrollment, Send, Sequence, Step
from campaigns.runtime import services
from campaigns.suppression import suppression_entry
from campaigns.views.contacts import bp
from campaigns.views.scoring import contact_panel


@bp.get("/<int:contact_id>")
def show(contact_id: int) -> Any:
    """The contact page: profile, sends, enrolments, scoring panel."""
    s = services().db.session
    contact = s.get(Contact, contact_id)
    if contact is None:
        abort(404)
    sends = s.execute(
        select(Send, Sequence.name, Step.position, Broadcast.name)
        .outerjoin(Step, Step.id == Send.step_id)
        .outerjoin(Sequence, Sequence.id == Step.sequence_id)
        .outerjoin(Broadcast, Broadcast.id == Send.broadcast_id)
        .where(Send.contact_id == contact.id)
        .order_by(Send.id.desc())
        .limit(100)
    ).all()
    enrollments = s.execute(
        select(Enrollment, Sequence.name)
        .join(Sequence, Sequence.id == Enrollment.sequence_id)
        .where(Enrollment.contact_id == contact.id)
        .order_by(Enrollment.id.desc())
    ).all()
    suppressed = suppression_entry(s, contact.email)
    panel = contact_panel(s, contact)  # score chart, stage timeline, sales stage form
    s.commit()
    return render_template(
        "ui/contacts/show.html", contact=contact, sends=sends, enrollments=enrollments, suppression=suppressed,
        **panel,
    )
