"""Step-mail sequences: create with steps, list, read, edit, activate and pause.

A sequence is a view of a linear journey (docs/journeys.md, "From sequences to journeys"): it is created and
edited here as a draft; activating it publishes it as a live journey (automation.linear.activate_sequence),
after which GET answers from the journey (status `converted`, `journey_id`, `journey_status`, the steps read
back from its send nodes), pause and activate pause and resume the journey, and edits are refused with a 422
naming the journey, where they are made (PUT /journeys/{id} and POST /journeys/{id}/publish)."""

from __future__ import annotations

from typing import Any

from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.api.core import ApiError, db_session, get_or_404, keyset_page, operation
from campaigns.api.schemas import PAGING
from campaigns.api.serialize import sequence_json, sequence_summary_json
from campaigns.automation import linear
from campaigns.journeys import sequences as sequences_service
from campaigns.journeys import walk_entry
from campaigns.models import Sequence, SequenceStatus


def rejected(exc: ValueError) -> ApiError:
    """The sequences service refused the change: a 422 with its reason."""
    return ApiError(422, "rejected", str(exc), {"sequence": str(exc)})


def _get(session: Session, object_id: int) -> Sequence:
    return get_or_404(session, Sequence, object_id, "sequence")


def _runs_as_journey(session: Session, sequence: Sequence, what: str) -> ApiError | None:
    """The 422 for an edit of a sequence that runs as a journey, naming the journey; None for a draft."""
    if sequence.status != SequenceStatus.CONVERTED:
        return None
    journey = walk_entry.journey_of_sequence(session, sequence.id)
    if journey is None:
        return ApiError(422, "rejected", "this sequence ran as a journey that no longer exists",
                        {"sequence": "runs as a journey"})
    exc = linear.SequenceRunsAsJourney(journey.id, what)
    return ApiError(422, "runs_as_journey", str(exc), {"sequence": str(exc), "journey_id": str(journey.id)})


@operation(
    "/sequences", "POST", tag="sequences", body="SequenceInput", summary="Create a draft sequence with its steps",
    responses={201: ("Created (status draft)", "Sequence")},
)
def create_sequence(body: dict[str, Any]) -> ResponseReturnValue:
    """Create a draft; activate it with POST /sequences/{id}/activate."""
    session = db_session()
    fields = dict(body)
    name = fields.pop("name")
    steps = fields.pop("steps", [])
    try:
        sequence = sequences_service.create_sequence(session, name, steps=steps, **fields)
    except ValueError as exc:
        session.rollback()
        raise rejected(exc) from None
    session.commit()
    return sequence_json(session, sequence), 201


@operation(
    "/sequences", "GET", tag="sequences", summary="List sequences", query=PAGING,
    responses={200: ("A page of sequences", "SequencePage")},
)
def list_sequences(query: dict[str, Any]) -> ResponseReturnValue:
    """Sequences in id order with status and triggers."""
    return keyset_page(db_session(), select(Sequence), Sequence.id, query, sequence_summary_json)


@operation(
    "/sequences/{sequence_id}", "GET", tag="sequences", summary="Read a sequence, its steps and enrolment counts",
    responses={200: ("The sequence", "Sequence")},
)
def get_sequence(sequence_id: int) -> ResponseReturnValue:
    """One sequence with its live steps in order."""
    session = db_session()
    return sequence_json(session, _get(session, sequence_id))


@operation(
    "/sequences/{sequence_id}", "PUT", tag="sequences", body="SequenceUpdate", summary="Edit a sequence",
    description="Edits a draft. Fields not given stay as they are. `steps`, when given, is the new list in "
    "order: steps with an `id` are kept and updated, new ones are added, missing ones are removed. A sequence "
    "that was activated runs as a journey: 422 `runs_as_journey`, whose `journey_id` names the journey to edit "
    "(PUT /journeys/{journey_id}, then POST /journeys/{journey_id}/publish; its send nodes are the steps).",
    responses={200: ("The sequence", "Sequence"), 422: ("Refused; the reason", "Error")},
)
def update_sequence(sequence_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """Apply the given fields and steps through the sequences service."""
    session = db_session()
    sequence = _get(session, sequence_id)
    refused = _runs_as_journey(session, sequence, "edit it")
    if refused is not None:
        raise refused
    fields = dict(body)
    steps = fields.pop("steps", None)
    try:
        sequences_service.update_sequence(session, sequence, steps=steps, **fields)
    except ValueError as exc:
        session.rollback()
        raise rejected(exc) from None
    session.commit()
    return sequence_json(session, sequence)


@operation(
    "/sequences/{sequence_id}/activate", "POST", tag="sequences", summary="Activate a sequence",
    description="A draft becomes a live linear journey (its steps the journey's waits and sends, its triggers "
    "and exits the journey's settings), published as version 1; the answer has `journey_id`. Needs at least "
    "one step whose template has a saved version; otherwise 422 with the reason. A sequence already running "
    "as a paused journey resumes it; a live one is answered as it is.",
    responses={200: ("The sequence, running as its journey", "Sequence"),
               422: ("Cannot be activated; the reason", "Error")},
)
def activate_sequence(sequence_id: int) -> ResponseReturnValue:
    """Publish the sequence as a live linear journey (automation.linear.activate_sequence)."""
    session = db_session()
    sequence = _get(session, sequence_id)
    try:
        linear.activate_sequence(session, sequence, published_by="api")
    except ValueError as exc:
        session.rollback()
        raise rejected(exc) from None
    session.commit()
    return sequence_json(session, sequence)


@operation(
    "/sequences/{sequence_id}/pause", "POST", tag="sequences", summary="Pause a sequence",
    description="Pauses the journey the sequence runs as: nobody enters or moves until it is activated (or the "
    "journey resumed) again; positions are kept. A draft is not running: 422.",
    responses={200: ("The sequence, its journey paused", "Sequence"), 422: ("Refused; the reason", "Error")},
)
def pause_sequence(sequence_id: int) -> ResponseReturnValue:
    """Pause the journey the sequence runs as (automation.linear.pause_sequence)."""
    session = db_session()
    sequence = _get(session, sequence_id)
    try:
        linear.pause_sequence(session, sequence)
    except ValueError as exc:
        session.rollback()
        raise rejected(exc) from None
    session.commit()
    return sequence_json(session, sequence)
