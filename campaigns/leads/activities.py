"""Offline touches a marketer logs on a contact page: a seminar attended, a trade-show booth visit, a phone
call, a meeting or another activity, with its local date and time and a note.

Contract:
- ACTIVITIES: activity kind -> (event name, English label); the event name is what segments, scoring,
  sequence triggers and journeys see, so a rule "seminar_attended" reacts to a logged seminar exactly as
  to the same event from the API.
- `log_activity(session, contact, kind, when, note, user)` stores it through
  `journeys.sequences.record_event` (source "manual"): exits, goals and sequence triggers happen at once,
  journeys' event triggers on the next scheduler tick (they read the events table). The caller commits.
- Refused with ActivityError (a ValueError, message in English for `_()`): an unknown kind, a time more
  than FUTURE_SKEW ahead (a meeting that has not happened is not a touch), a note over MAX_NOTE or one the
  text rule refuses.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from campaigns.db import now_utc
from campaigns.journeys.sequences import record_event
from campaigns.models import Contact, Event
from campaigns.text import TextError, check_text

SOURCE = "manual"
MAX_NOTE = 2000
FUTURE_SKEW = timedelta(hours=1)  # the same leeway the API gives a sender's clock
ACTIVITIES: dict[str, tuple[str, str]] = {
    "seminar": ("seminar_attended", "Seminar attended"),
    "booth": ("booth_visited", "Trade-show booth visit"),
    "call": ("phone_call", "Phone call"),
    "meeting": ("meeting_held", "Meeting"),
    "other": ("offline_activity", "Other activity"),
}


class ActivityError(ValueError):
    """An activity that cannot be logged; the message is English, shown through `_()`."""


def log_activity(session: Session, contact: Contact, kind: str, when: datetime, note: str = "",
                 user: str = "") -> Event:
    """Record an offline touch as an event about `contact` (the contact page's activity form)."""
    if kind not in ACTIVITIES:
        raise ActivityError("Choose what kind of activity it was.")
    if when.tzinfo is None:
        raise ActivityError("occurred_at must carry a time zone")
    if when > now_utc() + FUTURE_SKEW:
        raise ActivityError("The activity's date is in the future: log it once it has happened.")
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise ActivityError("The note is too long (at most 2,000 characters).")
    try:
        check_text(note, "note", multiline=True)
    except TextError as exc:
        raise ActivityError(str(exc)) from None
    name, _label = ACTIVITIES[kind]
    properties: dict[str, str] = {"activity": kind}
    if note:
        properties["note"] = note
    if user:
        properties["logged_by"] = user[:200]
    return record_event(session, contact, name, properties, when, source=SOURCE)
