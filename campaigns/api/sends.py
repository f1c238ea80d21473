"""Send status: the ledger rows, filtered by contact, broadcast, sequence or status."""

from __future__ import annotations

from typing import Any

from flask.typing import ResponseReturnValue
from sqlalchemy import Select, select

from campaigns.api.core import db_session, keyset_page, not_found, operation
from campaigns.api.schemas import ID, PAGING
from campaigns.api.serialize import send_json
from campaigns.models import Contact, Send, SendStatus, Step


def _send_rows() -> Select[Send, str, int]:
    return (
        select(Send, Contact.email, Step.sequence_id)
        .join(Contact, Contact.id == Send.contact_id)
        .outerjoin(Step, Step.id == Send.step_id)
    )


@operation(
    "/sends", "GET", tag="sends", summary="List sends (keyset pagination) with filters",
    query={
        **PAGING,
        "contact_id": ID, "broadcast_id": ID, "sequence_id": ID,
        "status": {"type": "string", "enum": [s.value for s in SendStatus]},
    },
    responses={200: ("A page of sends", "SendPage")},
)
def list_sends(query: dict[str, Any]) -> ResponseReturnValue:
    """Sends in id order, narrowed by any of the filters."""
    stmt = _send_rows()
    if query.get("contact_id"):
        stmt = stmt.where(Send.contact_id == query["contact_id"])
    if query.get("broadcast_id"):
        stmt = stmt.where(Send.broadcast_id == query["broadcast_id"])
    if query.get("sequence_id"):
        stmt = stmt.where(Step.sequence_id == query["sequence_id"])
    if query.get("status"):
        stmt = stmt.where(Send.status == SendStatus(query["status"]))
    return keyset_page(db_session(), stmt, Send.id, query, send_json, scalar=False)


@operation(
    "/sends/{send_id}", "GET", tag="sends", summary="Read one send", responses={200: ("The send", "Send")},
)
def get_send(send_id: int) -> ResponseReturnValue:
    """One ledger row: status, attempts, error, times."""
    row = db_session().execute(_send_rows().where(Send.id == send_id)).first()
    if row is None:
        raise not_found("send")
    return send_json(row)
