"""Last activity: the latest thing a contact did, kept on contacts.last_activity_at for the contact list.

Contract: note_activity(session, events, hits) moves last_activity_at forward for the contacts of the
events and the human hits (opens and clicks by people, not machine opens or link scanners) whose ids
lie in the given (low, high] ranges. The scoring run calls it with the same id ranges it scores, once
per run, so every event and hit is counted once and the contact list can filter and sort on a column.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select, union_all, update
from sqlalchemy.orm import Session

from campaigns.models import Contact, Event, Hit, HitClass


def note_activity(session: Session, events: tuple[int, int], hits: tuple[int, int]) -> None:
    """Set last_activity_at to the latest event or human hit in these id ranges, where it is later
    (scoring.engine.score_new)."""
    (event_lo, event_hi), (hit_lo, hit_hi) = events, hits
    if event_hi <= event_lo and hit_hi <= hit_lo:
        return
    recent: Any = union_all(
        select(Event.contact_id.label("contact_id"), Event.occurred_at.label("at"))
        .where(Event.id > event_lo, Event.id <= event_hi),
        select(Hit.contact_id.label("contact_id"), Hit.occurred_at.label("at"))
        .where(Hit.id > hit_lo, Hit.id <= hit_hi, Hit.classification == HitClass.HUMAN),
    ).subquery()
    latest = select(recent.c.contact_id, func.max(recent.c.at).label("at")).group_by(recent.c.contact_id).subquery()
    session.execute(  # one UPDATE .. FROM on both databases
        update(Contact)
        .where(Contact.id == latest.c.contact_id,
               or_(Contact.last_activity_at.is_(None), Contact.last_activity_at < latest.c.at))
        .values(last_activity_at=latest.c.at)
        .execution_options(synchronize_session=False)
    )
