"""The landing page: a summary of contacts, sequences and recent sending."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, render_template
from sqlalchemy import func, select

from campaigns.db import now_utc
from campaigns.models import Contact, ContactStatus, Send, SendStatus, Sequence, SequenceStatus
from campaigns.runtime import services

bp = Blueprint("dashboard", __name__)


@bp.get("/")
def index() -> Any:
    s = services().db.session
    since = now_utc() - timedelta(days=7)
    stats = {
        "contacts": s.scalar(select(func.count()).where(Contact.status == ContactStatus.ACTIVE)),
        "sequences": s.scalar(select(func.count()).where(Sequence.status == SequenceStatus.ACTIVE)),
        "sent_7d": s.scalar(
            select(func.count()).where(Send.status == SendStatus.SENT, Send.sent_at >= since)
        ),
        "queued": s.scalar(
            select(func.count()).where(Send.status.in_([SendStatus.QUEUED, SendStatus.SENDING]))
        ),
    }
    return render_template("ui/dashboard.html", stats=stats)
