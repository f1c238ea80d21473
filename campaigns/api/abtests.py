"""A/B tests over the API: create one on a broadcast or a step, read its results, pick the winner, cancel.

The results are campaigns.experiments.results.results, the same dict the results page shows.
"""

from __future__ import annotations

from typing import Any

from flask.typing import ResponseReturnValue
from sqlalchemy import select

from campaigns.api.core import ApiError, db_session, get_or_404, keyset_page, operation
from campaigns.api.schemas import ID, MAX_ID, PAGING, SCHEMAS, line, nullable, text
from campaigns.experiments import decision, results, setup, stats
from campaigns.models import ABKind, ABMetric, ABMode, ABTest

_VARIANT = {
    "type": "object",
    "properties": {
        "label": line(200),
        "subject": line(998),
        "preheader": line(998),
        "from_name": line(200),
        "template_id": {**ID, "type": ["integer", "null"]},
        "send_local": {**text(16), "description": "YYYY-MM-DDTHH:MM, a wall-clock time in each contact's time zone"},
    },
    "additionalProperties": False,
}
SCHEMAS["ABTestInput"] = {
    "type": "object",
    "required": ["kind", "variants"],
    "description": "Exactly one of broadcast_id or step_id. Variant 0 is the control.",
    "properties": {
        "broadcast_id": nullable(ID),
        "step_id": nullable(ID),
        "kind": {"type": "string", "enum": [k.value for k in ABKind]},
        "variants": {"type": "array", "items": _VARIANT, "minItems": 2, "maxItems": stats.MAX_VARIANTS},
        "metric": {"type": "string", "enum": [m.value for m in ABMetric], "default": "open"},
        "goal_event": line(100),
        "goal_days": {"type": "integer", "minimum": 1, "maximum": 90, "default": 7},
        "test_portion": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 0.2},
        "window_hours": {"type": "integer", "minimum": 1, "maximum": setup.MAX_WINDOW_HOURS, "default": 24},
        "test_days": {"type": "integer", "minimum": 1, "maximum": 365, "default": 14},
        "fallback": {"type": "string", "enum": [f.value for f in stats.Fallback], "default": "keep_control"},
        "mode": {"type": "string", "enum": [m.value for m in ABMode], "default": "auto"},
        "baseline_rate": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1, "default": 0.2},
        "min_lift": {"type": "number", "minimum": 0.001, "maximum": 10, "default": 0.2},
        "alpha": {"type": "number", "minimum": 0.001, "maximum": 0.2, "default": 0.05},
        "power": {"type": "number", "minimum": 0.5, "maximum": 0.99, "default": 0.8},
    },
    "additionalProperties": False,
}
SCHEMAS["ABWinnerInput"] = {
    "type": "object",
    "required": ["variant"],
    "properties": {"variant": {"type": "integer", "minimum": 0, "maximum": MAX_ID,
                               "description": "index of the variant to send (0 = control)"}},
    "additionalProperties": False,
}


def _summary(test: ABTest) -> dict[str, Any]:
    return {"id": test.id, "broadcast_id": test.broadcast_id, "step_id": test.step_id,
            "journey_id": test.journey_id, "node_key": test.node_key or None, "kind": str(test.kind),
            "metric": str(test.metric), "status": str(test.status), "winner_index": test.winner_index,
            "created_at": test.created_at.isoformat()}


def _rejected(exc: ValueError) -> ApiError:
    field = getattr(exc, "field", "") or "test"
    return ApiError(422, "rejected", str(exc), {field: str(exc)})


@operation(
    "/ab-tests", "POST", tag="ab-tests", body="ABTestInput", summary="Create an A/B test",
    description="On a draft or scheduled broadcast (it starts with the broadcast) or on a sequence step "
                "(it starts at once). The answer carries the results, including the sample-size advice.",
    responses={201: ("Created", None)},
)
def create_ab_test(body: dict[str, Any]) -> ResponseReturnValue:
    """Create a test; 422 with the reason when it cannot be set up."""
    session = db_session()
    fields = {k: v for k, v in body.items() if k not in ("broadcast_id", "step_id", "kind", "variants")}
    try:
        test = setup.create_test(session, kind=body["kind"], variants=body["variants"],
                                   broadcast_id=body.get("broadcast_id"), step_id=body.get("step_id"), **fields)
    except (setup.ABError, stats.ABInputError) as exc:
        session.rollback()
        raise _rejected(exc) from None
    session.commit()
    return results.results(session, test), 201


@operation("/ab-tests", "GET", tag="ab-tests", summary="List A/B tests", query=PAGING,
           responses={200: ("A page of tests", None)})
def list_ab_tests(query: dict[str, Any]) -> ResponseReturnValue:
    """Tests in id order (read one for its results)."""
    return keyset_page(db_session(), select(ABTest), ABTest.id, query, _summary)


@operation("/ab-tests/{test_id}", "GET", tag="ab-tests", summary="Results of an A/B test",
           responses={200: ("Per-variant counts, rates, intervals, probability to be best, the decision", None)})
def get_ab_test(test_id: int) -> ResponseReturnValue:
    """The same numbers as the results page: counts per variant (human engagement within each send's
    window), the statistics, the decision and why, timelines."""
    session = db_session()
    return results.results(session, get_or_404(session, ABTest, test_id, "A/B test"))


@operation("/ab-tests/{test_id}/winner", "POST", tag="ab-tests", body="ABWinnerInput",
           summary="Pick the winner (manual mode)", responses={200: ("Decided", None)})
def pick_ab_winner(test_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """Choose the variant that goes to the rest of the audience (or becomes the step's template)."""
    session = db_session()
    test = get_or_404(session, ABTest, test_id, "A/B test")
    try:
        decision.pick_winner(session, test, body["variant"], decided_by="api")
    except setup.ABError as exc:
        session.rollback()
        raise ApiError(409 if not exc.field else 422, "rejected", str(exc), {exc.field or "test": str(exc)}) from None
    session.commit()
    return results.results(session, test)


@operation("/ab-tests/{test_id}/cancel", "POST", tag="ab-tests", summary="Cancel an A/B test",
           responses={200: ("Cancelled", None)})
def cancel_ab_test(test_id: int) -> ResponseReturnValue:
    """Stop a test that is not decided; a started broadcast then sends the control to the rest."""
    session = db_session()
    test = get_or_404(session, ABTest, test_id, "A/B test")
    try:
        decision.cancel_test(session, test)
    except setup.ABError as exc:
        session.rollback()
        raise ApiError(409, "rejected", str(exc), {"test": str(exc)}) from None
    session.commit()
    return results.results(session, test)
