"""UI area: reports. Per broadcast, sequence (steps, funnel), link, over time; contact timelines; CSV.

Every page here only reads; numbers come from campaigns.insights.reports. JSON variants feed the charts
(campaigns/static/reports.js) and scripts that hold a session. Hours, days and times are the account's time
zone (Settings).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for

from campaigns.i18n import _
from campaigns.insights.journey_summary import running_journeys
from campaigns.insights.reports import broadcast_json as broadcast_to_json
from campaigns.insights.reports import (
    broadcast_report,
    contact_timeline,
    export_csv,
    overview,
    sequence_report,
    timeseries,
)
from campaigns.insights.reports import sequence_json as sequence_to_json
from campaigns.journeys.walk_entry import journey_of_sequence
from campaigns.models import SequenceStatus
from campaigns.models.tracking import RollupScope
from campaigns.params import parse_id
from campaigns.runtime import services
from campaigns.views.builder_common import account_zone, install_filters

bp = Blueprint("reports", __name__, url_prefix="/reports")
install_filters(bp)  # the timeline shows times with `account_time`


@bp.context_processor
def _zone_name() -> dict[str, Any]:
    return {"account_zone_name": account_zone().key}


def _series(scope: RollupScope, ids: list[int]) -> dict[str, Any]:
    """The chart's series in the account's hours or days."""
    return timeseries(services().db.session, scope, ids, _granularity(), zone=account_zone())


def _granularity() -> str:
    value = request.args.get("granularity", "hour")
    if value not in ("hour", "day"):
        abort(400, description=_("granularity must be 'hour' or 'day'"))
    return value


def _csv_response(body: str, filename: str) -> Response:
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store",
    })


def _part() -> str:
    part = request.args.get("part", "summary")
    if part not in ("summary", "links", "series"):
        abort(400, description=_("part must be summary, links or series"))
    return part


@bp.get("/")
def index() -> Any:
    s = services().db.session
    return render_template("ui/reports/index.html", data=overview(s, cache=services().redis),
                           journeys=running_journeys(s))


# ------------------------------------------------------------------ broadcasts
def _broadcast(broadcast_id: int) -> dict[str, Any]:
    report = broadcast_report(services().db.session, broadcast_id, cache=services().redis)
    if report is None:
        abort(404)
    return report


@bp.get("/broadcasts/<int:broadcast_id>")
def broadcast(broadcast_id: int) -> Any:
    report = _broadcast(broadcast_id)
    return render_template("ui/reports/campaign.html", report=report, kind="broadcast",
                           title=report["broadcast"].name, object_id=broadcast_id)


@bp.get("/broadcasts/<int:broadcast_id>.json")
def broadcast_json(broadcast_id: int) -> Any:
    return jsonify(broadcast_to_json(_broadcast(broadcast_id)))


@bp.get("/broadcasts/<int:broadcast_id>/series.json")
def broadcast_series(broadcast_id: int) -> Any:
    _broadcast(broadcast_id)
    return jsonify(_series(RollupScope.BROADCAST, [broadcast_id]))


@bp.get("/broadcasts/<int:broadcast_id>/export.csv")
def broadcast_csv(broadcast_id: int) -> Any:
    part = _part()
    report = _broadcast(broadcast_id)
    series = _series(RollupScope.BROADCAST, [broadcast_id]) if part == "series" else None
    return _csv_response(export_csv(report, part, series), f"broadcast-{broadcast_id}-{part}.csv")


# ------------------------------------------------------------------ sequences
def _sequence(sequence_id: int) -> dict[str, Any]:
    report = sequence_report(services().db.session, sequence_id, cache=services().redis)
    if report is None:
        abort(404)
    return report


@bp.get("/sequences/<int:sequence_id>")
def sequence(sequence_id: int) -> Any:
    report = _sequence(sequence_id)
    if report["sequence"].status == SequenceStatus.CONVERTED:
        # It runs as a journey: the journey's report counts every mail (those the sequence sent before it
        # became the journey are its send nodes' too, migration 0012), this one only the mails up to then.
        journey = journey_of_sequence(services().db.session, sequence_id)
        if journey is not None:
            flash(_("This sequence runs as a journey: its report, with every mail, is on the journey."), "info")
            return redirect(url_for("journeys.show", journey_id=journey.id))
    return render_template("ui/reports/campaign.html", report=report, kind="sequence",
                           title=report["sequence"].name, object_id=sequence_id)


@bp.get("/sequences/<int:sequence_id>.json")
def sequence_json(sequence_id: int) -> Any:
    report = _sequence(sequence_id)
    journey = journey_of_sequence(services().db.session, sequence_id)
    pointer = {"complete": False, "journey_id": journey.id,
               "journey_stats": url_for("journeys.stats_json", journey_id=journey.id)} \
        if journey is not None else {"complete": True}
    return jsonify({**sequence_to_json(report), **pointer})


def _step_ids(report: dict[str, Any]) -> list[int]:
    step = parse_id(request.args.get("step"))
    ids = [r["step"].id for r in report["steps"]]
    if step is not None:
        if step not in ids:
            abort(404)
        return [step]
    return ids


@bp.get("/sequences/<int:sequence_id>/series.json")
def sequence_series(sequence_id: int) -> Any:
    report = _sequence(sequence_id)
    return jsonify(_series(RollupScope.STEP, _step_ids(report)))


@bp.get("/sequences/<int:sequence_id>/export.csv")
def sequence_csv(sequence_id: int) -> Any:
    part = _part()
    report = _sequence(sequence_id)
    series = _series(RollupScope.STEP, _step_ids(report)) if part == "series" else None
    return _csv_response(export_csv(report, part, series), f"sequence-{sequence_id}-{part}.csv")


# ------------------------------------------------------------------ contacts
@bp.get("/contacts/<int:contact_id>")
def contact(contact_id: int) -> Any:
    person, items = contact_timeline(services().db.session, contact_id)
    if person is None:
        abort(404)
    return render_template("ui/reports/contact.html", contact=person, items=items)
