"""Idempotency records of the JSON API: a retried POST /events finds the event it already recorded."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from campaigns.db import Base, JSONType, UTCDateTime, now_utc

IDEMPOTENCY_TTL = timedelta(days=7)  # a retry later than this is a new request; the scheduler prunes older rows


class IdempotencyKey(Base):
    """One accepted request (or one event id) and what it produced.

    A UNIQUE column rather than a Redis key with a TTL: the row is written in the same transaction as
    the event, so a retry either sees both or neither, even across a Redis restart or a failed commit.
    """

    __tablename__ = "api_idempotency_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Namespaced: "event:<event_id>" for the body field, "hdr:<route>:<Idempotency-Key>" for the header.
    key: Mapped[str] = mapped_column(String(300), unique=True)
    request_hash: Mapped[str] = mapped_column(String(64))  # sha256 of the canonical request, to spot reuse
    # The answer given the first time (event ids and contact ids), replayed to a retry.
    response: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc, index=True)
