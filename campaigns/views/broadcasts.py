"""One-off broadcasts: create (template, audience, time in the account's zone), schedule, cancel, counts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.audience.segments import SegmentError, count_segment
from campaigns.db import now_utc
from campaigns.delivery.bounces import resume_broadcast
from campaigns.delivery.rendering import selectable_templates
from campaigns.i18n import _
from campaigns.journeys.broadcasts import cancel_broadcast, create_broadcast, schedule_broadcast
from campaigns.models import Broadcast, BroadcastStatus, Segment, Send, SendStatus, Template
from campaigns.params import parse_id
from campaigns.runtime import services
from campaigns.views.builder_common import account_time, account_zone, install_filters
from campaigns.views.text_input import checks_own_text, field_errors

bp = Blueprint("broadcasts", __name__, url_prefix="/broadcasts")
install_filters(bp)

T = TypeVar("T")
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends


def parse_local_time(raw: str) -> datetime | None:
    """A datetime-local value read in the account's time zone, as aware UTC; None when unparsable."""
    try:
        naive = datetime.strptime(raw.strip()[:16], LOCAL_FORMAT)
    except ValueError:
        return None
    zone = account_zone()
    aware = naive.replace(tzinfo=zone)
    # A wall time skipped by a DST jump does not survive the round trip: refuse it rather than guess.
    if aware.astimezone(zone).replace(tzinfo=None) != naive:
        return None
    return aware


def send_counts(s: Session, broadcast_ids: list[int]) -> dict[int, dict[str, int]]:
    """Sends per broadcast folded into queued / sent / failed / other (list and detail pages)."""
    counts = {bid: dict.fromkeys(("queued", "sent", "failed", "other", "total"), 0) for bid in broadcast_ids}
    if not broadcast_ids:
        return counts
    rows = s.execute(
        select(Send.broadcast_id, Send.status, func.count())
        .where(Send.broadcast_id.in_(broadcast_ids))
        .group_by(Send.broadcast_id, Send.status)
    ).all()
    for broadcast_id, status, n in rows:
        bucket = {
            SendStatus.QUEUED: "queued", SendStatus.SENDING: "queued", SendStatus.SENT: "sent", SendStatus.FAILED: "failed",
        }.get(status, "other")
        if broadcast_id is None:  # not possible with the IN filter; tells the type checker
            continue
        counts[broadcast_id][bucket] += n
        counts[broadcast_id]["total"] += n
    return counts


def _broadcast_or_404(s: Session, broadcast_id: int) -> Broadcast:
    broadcast = s.get(Broadcast, broadcast_id)
    if broadcast is None:
        abort(404)
    return broadcast


def _choices(s: Session) -> tuple[list[Template], list[Segment]]:
    templates = selectable_templates(s)
    return templates, list(s.scalars(select(Segment).order_by(Segment.name)))


@bp.get("/")
def index() -> Any:
    s = services().db.session
    broadcasts = list(s.scalars(select(Broadcast).order_by(Broadcast.created_at.desc(), Broadcast.id.desc()).limit(200)))
    names = dict(s.execute(select(Template.id, Template.name)).all())
    segments = dict(s.execute(select(Segment.id, Segment.name)).all())
    return render_template(
        "ui/broadcasts/index.html",
        broadcasts=broadcasts,
        counts=send_counts(s, [b.id for b in broadcasts]),
        template_names=names,
        segment_names=segments,
    )


@bp.route("/new", methods=["GET", "POST"])
@checks_own_text("name")
def new() -> Any:
    db = services().db
    s = db.session
    templates, segments = _choices(s)
    form = {"name": "", "template_id": "", "segment": "all", "when": "now", "scheduled_at": ""}
    errors: dict[str, str] = {}
    if request.method == "POST":
        form.update({k: request.form.get(k, "").strip() for k in form})
        errors.update(field_errors(form, [("name", "Name", False)]))
        if not form["name"]:
            errors["name"] = _("Give the broadcast a name.")
        if parse_id(form["template_id"]) not in {t.id for t in templates}:
            errors["template_id"] = _("Choose a saved template.")
        segment_id: int | None = None
        if form["segment"] != "all":
            if parse_id(form["segment"]) not in {g.id for g in segments}:
                errors["segment"] = _("Choose a segment or all active contacts.")
            else:
                segment_id = int(form["segment"])
        scheduled_at: datetime | None = None
        if form["when"] == "later":
            scheduled_at = parse_local_time(form["scheduled_at"])
            if scheduled_at is None:
                errors["scheduled_at"] = _("Enter a valid date and time.")
        elif form["when"] not in ("now", "draft"):
            errors["when"] = _("Choose when to send.")
        if not errors:
            try:
                broadcast = create_broadcast(s, form["name"], int(form["template_id"]), segment_id, scheduled_at)
                if form["when"] != "draft":
                    schedule_broadcast(s, broadcast, scheduled_at)
            except ValueError as exc:
                s.rollback()
                errors["service"] = _(str(exc))
            else:
                s.commit()
                flash(_("Broadcast saved as a draft.") if form["when"] == "draft" else
                      _("Broadcast scheduled for %(when)s.", when=account_time(broadcast.scheduled_at)), "success")
                return redirect(url_for("broadcasts.show", broadcast_id=broadcast.id))
    status = 400 if errors else 200
    return render_template(
        "ui/broadcasts/new.html", form=form, errors=errors, templates=templates, segments=segments,
        zone=account_zone().key,
    ), status


@bp.get("/<int:broadcast_id>")
def show(broadcast_id: int) -> Any:
    s = services().db.session
    broadcast = _broadcast_or_404(s, broadcast_id)
    template = s.get(Template, broadcast.template_id)
    segment = s.get(Segment, broadcast.segment_id) if broadcast.segment_id else None
    local = account_time(broadcast.scheduled_at, "%Y-%m-%dT%H:%M") if broadcast.scheduled_at else ""
    # Before planning, show how many contacts the audience holds now (suppressed and inactive left out).
    audience = None
    audience_error = ""
    if broadcast.status in (BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED, BroadcastStatus.FAILED):
        try:
            audience = count_segment(s, dict(segment.rules or {}) if segment else {})
        except SegmentError as exc:  # a rule tree stored before the rules it breaks: say so, do not fail the page
            audience_error = exc.translated(_)
    return render_template(
        "ui/broadcasts/show.html",
        broadcast=broadcast,
        template=template,
        segment=segment,
        counts=send_counts(s, [broadcast.id])[broadcast.id],
        local_scheduled=local,
        audience=audience,
        audience_error=audience_error,
        zone=account_zone().key,
        # a failed broadcast sent nothing: once its segment is fixed it can be scheduled again
        can_schedule=broadcast.status in (BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED, BroadcastStatus.FAILED),
        can_cancel=broadcast.status in (BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED, BroadcastStatus.SENDING,
                                        BroadcastStatus.PAUSED),
        can_resume=broadcast.status == BroadcastStatus.PAUSED,
    )


def _apply(s: Session, action: Callable[[], T], success: Callable[[T], str]) -> None:
    """Run a broadcast action: on a ValueError roll back and flash the reason, else commit and flash
    success(result)."""
    try:
        result = action()
    except ValueError as exc:
        s.rollback()
        flash(_(str(exc)), "error")
    else:
        s.commit()
        flash(success(result), "success")


@bp.post("/<int:broadcast_id>/schedule")
def schedule(broadcast_id: int) -> Any:
    db = services().db
    s = db.session
    broadcast = _broadcast_or_404(s, broadcast_id)
    back = url_for("broadcasts.show", broadcast_id=broadcast.id)
    when: datetime | None = None
    if request.form.get("when") == "later":
        when = parse_local_time(request.form.get("scheduled_at", ""))
        if when is None:
            flash(_("Enter a valid date and time."), "error")
            return redirect(back)
    else:
        when = now_utc()  # "send now", even when a later time was stored before
    _apply(s, lambda: schedule_broadcast(s, broadcast, when),
           lambda _r: _("Broadcast scheduled for %(when)s.", when=account_time(broadcast.scheduled_at)))
    return redirect(back)


@bp.post("/<int:broadcast_id>/resume")
def resume(broadcast_id: int) -> Any:
    """Send the rest of a broadcast that paused itself (complaint rate); the scheduler enqueues it."""

    s = services().db.session
    broadcast = _broadcast_or_404(s, broadcast_id)
    _apply(s, lambda: resume_broadcast(s, broadcast), lambda n: _("Broadcast resumed (%(n)s mails queued again).", n=n))
    return redirect(url_for("broadcasts.show", broadcast_id=broadcast.id))


@bp.post("/<int:broadcast_id>/cancel")
def cancel(broadcast_id: int) -> Any:
    db = services().db
    s = db.session
    broadcast = _broadcast_or_404(s, broadcast_id)
    _apply(s, lambda: cancel_broadcast(s, broadcast),
           lambda n: _("Broadcast cancelled (%(n)s queued mails will not go).", n=n))
    return redirect(url_for("broadcasts.show", broadcast_id=broadcast.id))
