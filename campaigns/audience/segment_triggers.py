"""Enrolling the contacts a rule tree selects into the journey a sequence runs as (a sequence's "enrol a
segment" page and its background job for large segments).

A sequence's trigger and exit segments are the journey's segment entry and exit since the sequence runs as a
journey (campaigns.automation.linear: activation writes them into the journey's settings); the journey
engine evaluates them. The sequence-side evaluation that enrolled into the old planner is gone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from campaigns.audience.segments import segment_contact_ids
from campaigns.db import now_utc
from campaigns.journeys.sequences import enrol_converted
from campaigns.models import Sequence


def enroll_matching(
    session: Session, sequence: Sequence, rules: dict[str, Any] | None, *, now: datetime | None = None,
    source_event: str = "manual", ids: Select[Any] | None = None,
) -> int:
    """Enrol every contact a rule tree selects (or `ids`, a SELECT of contact ids) into the journey the
    sequence runs as, one INSERT .. SELECT (journeys.sequences.enrol_converted; the journey's rules:
    active, unsuppressed, no second active walk, re-entry by its setting). 0, with the reason logged, when
    the sequence is a draft or its journey is not live."""
    now = now or now_utc()
    chosen_ids = ids if ids is not None else segment_contact_ids(rules, now)
    return len(enrol_converted(session, sequence, chosen_ids, source_event, now))
