"""Step-mail sequences: create with steps, list, read, edit, activate and pause."""

from __future__ import annotations

from typing import Any

from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.api.core import ApiError, db_session, get_or_404, keyset_page, operation
from campaigns.api.schemas import PAGING
from campaigns.api.serialize import sequence_json, sequence_summary_json
from campaigns.journeys import sequences as sequences_service
from campaigns.models import Sequence, SequenceStatus


def rejected(exc: ValueError) -> ApiError:
    """The sequences service refused the change: a 422 with its reason."""
    return ApiError(422, "rejected", str(exc), {"sequence": str(exc)})


def _get(session: Session, object_id: int) -> Sequence:
    return get_or_404(session, Sequence, object_id, "sequence")


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
    description="Fields not given stay as they are. `steps`, when given, is the new list in order: steps with "
    "an `id` are kept and updated, new ones are added, missing ones are removed. Safe on an active sequence: "
    "no contact receives a step twice.",
    responses={200: ("The sequence", "Sequence")},
)
def update_sequence(sequence_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """Apply the given fields and steps through the sequences service."""
    session = db_session()
    sequence = _get(session, sequence_id)
    fields = dict(body)
    steps = fields.pop("steps", None)
    try:
        sequences_service.update_sequence(session, sequence, steps=steps, **fields)
    except ValueError as exc:
        session.rollback()
        raise rejected(exc) from None
    session.commit()
    return sequence_json(session, sequence)


def _set_status(sequence_id: int, status: SequenceStatus) -> ResponseReturnValue:
    session = db_session()
    sequence = _get(session, sequence_id)
    try:
        sequences_service.set_sequence_status(session, sequence, status)
    except ValueError as exc:
        session.rollback()
        raise rejected(exc) from None
    session.commit()
    return sequence_json(session, sequence)


@operation(
    "/sequences/{sequence_id}/activate", "POST", tag="sequences", summary="Activate a sequence",
    description="Needs at least one step whose template has a saved version; otherwise 422 with the reason.",
    responses={200: ("The active sequence", "Sequence"), 422: ("Cannot be activated; the reason", "Error")},
)
def activate_sequence(sequence_id: int) -> ResponseReturnValue:
    """Start enrolling by trigger events and sending due steps."""
    return _set_status(sequence_id, SequenceStatus.ACTIVE)


@operation(
    "/sequences/{sequence_id}/pause", "POST", tag="sequences", summary="Pause a sequence",
    description="Nothing more is sent until it is activated again; enrolments are kept.",
    responses={200: ("The paused sequence", "Sequence"), 422: ("Refused; the reason", "Error")},
)
def pause_sequence(sequence_id: int) -> ResponseReturnValue:
    """Stop sending its steps; enrolments wait."""
    return _set_status(sequence_id, SequenceStatus.PAUSED)
