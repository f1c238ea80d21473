"""The development outbox: mails caught by the local SMTP server, listed and shown like MailHog."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from campaigns.delivery.outbox import clear_outbox, parse_raw
from campaigns.i18n import _
from campaigns.models import OutboxMessage
from campaigns.params import parse_id
from campaigns.runtime import services
from campaigns.views.builder_common import MAIL_CSP, install_filters

bp = Blueprint("outbox", __name__, url_prefix="/outbox")
install_filters(bp)

PAGE_SIZE = 50



def _message_or_404(message_id: int) -> OutboxMessage:
    message = services().db.session.get(OutboxMessage, message_id)
    if message is None:
        abort(404)
    return message


@bp.get("/")
def index() -> Any:
    s = services().db.session
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(PAGE_SIZE + 1)
    before = parse_id(request.args.get("before"))
    if before:
        query = query.where(OutboxMessage.id < before)
    rows = list(s.scalars(query))
    next_before = rows[PAGE_SIZE - 1].id if len(rows) > PAGE_SIZE else None
    return render_template(
        "ui/outbox/index.html",
        messages=rows[:PAGE_SIZE],
        next_before=next_before,
        paged=bool(before),
        uses_outbox=services().settings.uses_outbox,
        outbox_port=services().settings.outbox_port,
    )


def _part(message: Any, kind: str) -> str:
    part = message.get_body(preferencelist=(kind,))
    if part is None:
        return ""
    try:
        return str(part.get_content())
    except (LookupError, ValueError):  # unknown charset or broken encoding: show what we can
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", errors="replace")


@bp.get("/<int:message_id>")
def show(message_id: int) -> Any:
    message = _message_or_404(message_id)
    parsed = parse_raw(message.raw)
    headers = [(name, str(value)) for name, value in parsed.items()]
    return render_template(
        "ui/outbox/show.html",
        message=message,
        headers=headers,
        has_html=parsed.get_body(preferencelist=("html",)) is not None,
        text=_part(parsed, "plain"),
    )


@bp.get("/<int:message_id>/html")
def html(message_id: int) -> Any:
    """The mail's HTML part alone, for the sandboxed iframe of the show page, under a strict CSP."""
    message = _message_or_404(message_id)
    body = _part(parse_raw(message.raw), "html")
    response = Response(body, mimetype="text/html")
    response.headers["Content-Security-Policy"] = MAIL_CSP
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/<int:message_id>/raw")
def raw(message_id: int) -> Any:
    message = _message_or_404(message_id)
    response = Response(message.raw, mimetype="text/plain")
    response.headers["Content-Disposition"] = f'inline; filename="message-{message.id}.eml"'
    return response


@bp.post("/clear")
def clear() -> Any:
    db = services().db
    count = clear_outbox(db.session)
    db.session.commit()
    flash(_("Deleted %(count)s messages.", count=count), "success")
    return redirect(url_for("outbox.index"))
