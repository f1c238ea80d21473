"""Reports over the API: per broadcast and sequence (steps, links, funnel), series, contact timelines.

The same numbers and JSON as the reports UI (campaigns.insights.reports); engagement counts people only,
with machine and scanner hits reported separately.
"""

from __future__ import annotations

from typing import Any

from flask.typing import ResponseReturnValue

from campaigns.api.core import not_found, operation
from campaigns.insights.reports import (
    broadcast_json,
    broadcast_report,
    contact_timeline,
    sequence_json,
    sequence_report,
    timeline_json,
    timeseries,
)
from campaigns.journeys.walk_entry import journey_of_sequence
from campaigns.models.tracking import RollupScope
from campaigns.runtime import services

GRANULARITY = {"granularity": {"type": "string", "enum": ["hour", "day"], "default": "hour",
                               "description": "bucket size (UTC)"}}


@operation("/reports/broadcasts/{broadcast_id}", "GET", tag="reports", summary="Report of one broadcast",
           responses={200: ("Delivered, bounced, unique human opens/clicks, rates, unsubscribes, links", None)})
def broadcast_report_api(broadcast_id: int) -> ResponseReturnValue:
    """Summary (rates, raw hits by class), A/B variants and per-link clicks of a broadcast."""
    report = broadcast_report(services().db.session, broadcast_id, cache=services().redis)
    if report is None:
        raise not_found("broadcast")
    return broadcast_json(report)


@operation("/reports/broadcasts/{broadcast_id}/series", "GET", tag="reports", query=GRANULARITY,
           summary="Opens and clicks of a broadcast over time", responses={200: ("Labels and series", None)})
def broadcast_series_api(broadcast_id: int, query: dict[str, Any]) -> ResponseReturnValue:
    """Hourly or daily buckets of unique and raw opens and clicks."""
    session = services().db.session
    if broadcast_report(session, broadcast_id) is None:
        raise not_found("broadcast")
    return timeseries(session, RollupScope.BROADCAST, [broadcast_id], query.get("granularity") or "hour")


@operation("/reports/sequences/{sequence_id}", "GET", tag="reports", summary="Report of one sequence",
           description="A sequence runs as a journey once activated: its mails are counted per send node by "
           "GET /journeys/{journey_id}/stats (every mail, also those sent before it became the journey). "
           "Here the per-step numbers count the mails sent by the sequence planner before that; `journey_id` "
           "and `journey_stats` name the journey's report, `complete` is false when they are not the whole story.",
           responses={200: ("Per-step summaries, total, links and the funnel", None)})
def sequence_report_api(sequence_id: int) -> ResponseReturnValue:
    """Per-step numbers, their total, per-link clicks and the funnel up to the goal event, with the report of
    the journey the sequence runs as (which counts every mail)."""
    session = services().db.session
    report = sequence_report(session, sequence_id, cache=services().redis)
    if report is None:
        raise not_found("sequence")
    journey = journey_of_sequence(session, sequence_id)
    if journey is None:
        return {**sequence_json(report), "complete": True}
    return {**sequence_json(report), "complete": False, "journey_id": journey.id,
            "journey_stats": f"/api/v1/journeys/{journey.id}/stats"}


@operation("/reports/sequences/{sequence_id}/series", "GET", tag="reports", query=GRANULARITY,
           summary="Opens and clicks of a sequence over time", responses={200: ("Labels and series", None)})
def sequence_series_api(sequence_id: int, query: dict[str, Any]) -> ResponseReturnValue:
    """Hourly or daily buckets over all steps of the sequence."""
    session = services().db.session
    report = sequence_report(session, sequence_id)
    if report is None:
        raise not_found("sequence")
    step_ids = [r["step"].id for r in report["steps"]]
    return timeseries(session, RollupScope.STEP, step_ids, query.get("granularity") or "hour")


@operation("/reports/contacts/{contact_id}/timeline", "GET", tag="reports", summary="A contact's timeline",
           responses={200: ("Sends, opens, clicks and events, newest first", None)})
def contact_timeline_api(contact_id: int) -> ResponseReturnValue:
    """The contact's sends, classified opens and clicks, and events."""
    contact, items = contact_timeline(services().db.session, contact_id)
    if contact is None:
        raise not_found("contact")
    return timeline_json(contact, items)
