"""Scoring's page-visit rules: a person's visit to a page of the website matching the rule's pattern.

`visit_candidates(rule, (low, high))` is the rule's source for the engine's one INSERT .. SELECT: web_visits
rows with ids in (low, high] (the run's cursor over web_visits, re-reading the previous range as for
events and hits), HUMAN only (bots and prefetchers never score), attached to a contact, on a page the
pattern matches (campaigns.audience.web_conditions, the same rule as segments and journeys). The engine's
daily cap, decay and ledger key apply unchanged; the ledger's source is "visit" with the visit's id, which
the timeline reads back as "visited /pricing".

Visits attached to a contact later (the anonymous history a visitor gets at identification) have ids below
the cursor and are scored by a recompute, not by the next run.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, cast, literal, select

from campaigns.audience.web_conditions import human_visit, pattern_clause
from campaigns.models import ScoringRule, WebVisit


def visit_candidates(rule: ScoringRule, id_range: tuple[int, int]) -> list[Any]:
    """SELECTs of (contact_id, source, source_ref, occurred_at, order_id) a page-visit rule may score."""
    low, high = id_range
    if high <= low or not rule.link_url:
        return []
    return [select(
        WebVisit.contact_id.label("contact_id"), literal("visit", String).label("source"),
        cast(WebVisit.id, String).label("source_ref"), WebVisit.occurred_at.label("occurred_at"),
        WebVisit.id.label("order_id"),
    ).where(WebVisit.id > low, WebVisit.id <= high, WebVisit.contact_id.is_not(None), human_visit(),
            pattern_clause(rule.link_url))]
