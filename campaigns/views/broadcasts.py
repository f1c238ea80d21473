"""One-off broadcasts: create (template, audience, time in the account's zone), schedule, reschedule,
duplicate, cancel, delete, counts.

Nothing here mails anyone on the first POST: "send now", "schedule", "reschedule" and "resume" show a
confirmation (campaigns/views/confirm.py) with who (the audience counted now, a sample) and when, and
go ahead only on the confirming POST; "cancel" and "delete" ask first too. An A/B test's held-back part
(the rest of the audience, which gets the winner once the test decides) is said as such.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.audience.archive import selectable_segments
from campaigns.audience.segments import SegmentError, broadcast_audience
from campaigns.db import now_utc
from campaigns.delivery.bounces import PAUSED_ERROR, resume_broadcast
from campaigns.delivery.rendering import selectable_templates
from campaigns.i18n import _
from campaigns.journeys.broadcasts import (
    PAST_GRACE,
    PAST_TIME,
    cancel_broadcast,
    create_broadcast,
    deletable,
    delete_broadcast,
    duplicate_broadcast,
    reschedule_broadcast,
    schedule_broadcast,
    schedule_problem,
)
from campaigns.models import (
    ABMode,
    ABStatus,
    ABTest,
    Broadcast,
    BroadcastStatus,
    Segment,
    Send,
    SendStatus,
    Template,
)
from campaigns.params import parse_id
from campaigns.runtime import services
from campaigns.views import confirm
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
    return templates, selectable_segments(s)  # archived segments leave the picker (campaigns.archive)


def _audience_name(s: Session, segment_id: int | None) -> str:
    segment = s.get(Segment, segment_id) if segment_id is not None else None
    return segment.name if segment is not None else _("All active contacts")


def _audience_ids(s: Session, segment_id: int | None) -> Any:
    """The contact ids the broadcast would reach now (the scheduler's own query: active, not suppressed,
    in the segment, under the frequency cap). Raises SegmentError; None when the segment is gone."""
    # A transient Broadcast: never added to the session, only read by broadcast_audience.
    return broadcast_audience(s, Broadcast(segment_id=segment_id), now_utc())


def _draft_test(s: Session, broadcast_id: int | None) -> ABTest | None:
    if broadcast_id is None:
        return None
    return s.scalar(select(ABTest).where(ABTest.broadcast_id == broadcast_id, ABTest.status == ABStatus.DRAFT))


def ab_split(test: ABTest, audience: int) -> tuple[int, int]:
    """(test portion, held back) for an audience of this size: the rule of
    experiments.assignment.start_broadcast_test (a tiny audience still gets one of each variant)."""
    k = max(1, len(test.variants))
    portion = int(audience * test.test_portion)
    if portion < k:
        portion = min(k, audience)
    return portion, audience - portion


def _ab_note(test: ABTest, audience: int) -> str:
    portion, rest = ab_split(test, audience)
    if test.mode is ABMode.MANUAL:
        return _("A/B test: %(portion)s contacts get the %(k)s variants first. The other %(rest)s are held back "
                 "and get the variant you choose once the test has run.",
                 portion=f"{portion:,}", k=len(test.variants), rest=f"{rest:,}")
    return _("A/B test: %(portion)s contacts get the %(k)s variants first. The other %(rest)s are held back "
             "and get the winning variant once the test decides.",
             portion=f"{portion:,}", k=len(test.variants), rest=f"{rest:,}")


def _confirm_send(s: Session, *, name: str, template_id: int, segment_id: int | None, when: datetime | None,
                  broadcast_id: int | None, back_url: str | None, rescheduling: bool = False) -> Any:
    """The confirmation of a broadcast going out (new form, schedule, reschedule); None once confirmed.
    Raises SegmentError when the audience cannot be counted."""
    ids = _audience_ids(s, segment_id)
    if ids is None:
        raise SegmentError("the segment does not exist")
    count = confirm.count_of(s, ids)
    template = s.get(Template, template_id)
    notes = []
    test = _draft_test(s, broadcast_id)
    if test is not None:
        notes.append(_ab_note(test, count))
    if when is not None:
        notes.append(_("The audience is counted again when the broadcast starts: contacts who join or leave it "
                       "before then are included or left out."))
    if rescheduling:
        title = _("Reschedule “%(name)s”", name=name)
        action = _("Reschedule for %(n)s contacts", n=f"{count:,}")
    elif when is None:
        title = _("Send “%(name)s” now", name=name)
        action = _("Send to %(n)s contacts now", n=f"{count:,}")
    else:
        title = _("Schedule “%(name)s”", name=name)
        action = _("Schedule for %(n)s contacts", n=f"{count:,}")
    return confirm.gate(confirm.Confirmation(
        title=title, action=action, count=count, sample=confirm.sample_of(s, ids), when=when,
        details=[(_("Template"), template.name if template else "—"), (_("Audience"), _audience_name(s, segment_id))],
        notes=notes, back_url=back_url,
    ))


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
    # No audience and no time are chosen for the user: "everyone, now" must be a deliberate pick.
    form = {"name": "", "template_id": "", "segment": "", "when": "", "scheduled_at": ""}
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
            elif scheduled_at < now_utc() - PAST_GRACE:
                errors["scheduled_at"] = _(PAST_TIME)
        elif form["when"] not in ("now", "draft"):
            errors["when"] = _("Choose when to send.")
        if not errors and form["when"] != "draft" and not confirm.going_back():
            try:
                gate = _confirm_send(s, name=form["name"], template_id=int(form["template_id"]), segment_id=segment_id,
                                     when=scheduled_at, broadcast_id=None, back_url=None)
            except SegmentError as exc:
                errors["segment"] = _("The audience cannot be counted: %(problem)s", problem=exc.translated(_))
            else:
                if gate is not None:
                    return gate
        if not errors and not confirm.going_back():
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


def _held_back(s: Session, broadcast: Broadcast, audience: int | None) -> str:
    """The page's line about an A/B test's held-back part, or ""."""
    test = s.scalar(select(ABTest).where(ABTest.broadcast_id == broadcast.id).order_by(ABTest.id.desc()))
    if test is None:
        return ""
    if test.status is ABStatus.DRAFT and audience is not None:
        return _ab_note(test, audience)
    if test.status in (ABStatus.TESTING, ABStatus.AWAITING_DECISION):
        sent_to = int((broadcast.options or {}).get("ab_test_portion", 0))
        return _("A/B test running: %(portion)s contacts got the variants. The rest of the audience is held back "
                 "until the test decides.", portion=f"{sent_to:,}")
    if test.status is ABStatus.DECIDED:
        return _("A/B test decided: the held-back part of the audience (%(n)s contacts) gets the chosen variant.",
                 n=f"{test.rest_planned:,}")
    return ""


@bp.get("/<int:broadcast_id>")
def show(broadcast_id: int) -> Any:
    s = services().db.session
    broadcast = _broadcast_or_404(s, broadcast_id)
    template = s.get(Template, broadcast.template_id)
    segment = s.get(Segment, broadcast.segment_id) if broadcast.segment_id else None
    local = account_time(broadcast.scheduled_at, "%Y-%m-%dT%H:%M") if broadcast.scheduled_at else ""
    # Before planning, show how many contacts the audience holds now (the scheduler's own query).
    audience = None
    audience_error = ""
    if broadcast.status in (BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED, BroadcastStatus.FAILED):
        try:
            ids = _audience_ids(s, broadcast.segment_id)
            audience = confirm.count_of(s, ids) if ids is not None else None
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
        held_back=_held_back(s, broadcast, audience),
        zone=account_zone().key,
        # a failed broadcast sent nothing: once its segment is fixed it can be scheduled again
        can_schedule=broadcast.status in (BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED, BroadcastStatus.FAILED),
        can_cancel=broadcast.status in (BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED, BroadcastStatus.SENDING,
                                        BroadcastStatus.PAUSED),
        can_resume=broadcast.status == BroadcastStatus.PAUSED,
        can_delete=deletable(s, broadcast),
    )


def _apply(s: Session, action: Callable[[], T], success: Callable[[T], str]) -> bool:
    """Run a broadcast action: on a ValueError roll back and flash the reason, else commit and flash
    success(result). True when it was done."""
    try:
        result = action()
    except ValueError as exc:
        s.rollback()
        flash(_(str(exc)), "error")
        return False
    s.commit()
    flash(success(result), "success")
    return True


@bp.post("/<int:broadcast_id>/schedule")
def schedule(broadcast_id: int) -> Any:
    """Send now, schedule, or reschedule (a scheduled broadcast moved to another time), after confirming."""
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
    rescheduling = when is not None and broadcast.status is BroadcastStatus.SCHEDULED
    problem = schedule_problem(s, broadcast, when)
    if problem is not None:
        flash(_(problem), "error")
        return redirect(back)
    try:
        gate = _confirm_send(s, name=broadcast.name, template_id=broadcast.template_id, segment_id=broadcast.segment_id,
                             when=when, broadcast_id=broadcast.id, back_url=back, rescheduling=rescheduling)
    except SegmentError as exc:
        flash(_("The audience cannot be counted: %(problem)s", problem=exc.translated(_)), "error")
        return redirect(back)
    if gate is not None:
        return gate
    if rescheduling:
        assert when is not None
        _apply(s, lambda: reschedule_broadcast(s, broadcast, when),
               lambda _r: _("Broadcast rescheduled for %(when)s.", when=account_time(broadcast.scheduled_at)))
    else:
        # "send now" even when a later time was stored before
        _apply(s, lambda: schedule_broadcast(s, broadcast, when or now_utc()),
               lambda _r: _("Broadcast scheduled for %(when)s.", when=account_time(broadcast.scheduled_at)))
    return redirect(back)


@bp.post("/<int:broadcast_id>/resume")
def resume(broadcast_id: int) -> Any:
    """Send the rest of a broadcast that paused itself (complaint rate), after confirming; the scheduler
    enqueues it."""
    s = services().db.session
    broadcast = _broadcast_or_404(s, broadcast_id)
    back = url_for("broadcasts.show", broadcast_id=broadcast.id)
    if broadcast.status is not BroadcastStatus.PAUSED:
        flash(_(f"a {broadcast.status} broadcast cannot be resumed"), "error")
        return redirect(back)
    held = select(Send.contact_id).where(Send.broadcast_id == broadcast.id, Send.status == SendStatus.CANCELLED,
                                         Send.error.like(f"{PAUSED_ERROR}:%"))
    gate = confirm.gate(confirm.Confirmation(
        title=_("Resume “%(name)s”", name=broadcast.name), action=_("Resume broadcast"),
        count=confirm.count_of(s, held), sample=confirm.sample_of(s, held), back_url=back,
        notes=[_("This broadcast paused itself because too many recipients marked it as spam. Check the content "
                 "and the audience before you resume it.")],
    ))
    if gate is not None:
        return gate
    _apply(s, lambda: resume_broadcast(s, broadcast), lambda n: _("Broadcast resumed (%(n)s mails queued again).", n=n))
    return redirect(back)


@bp.post("/<int:broadcast_id>/cancel")
def cancel(broadcast_id: int) -> Any:
    """Cancel a broadcast (until it has finished: queued mails do not go), after asking."""
    db = services().db
    s = db.session
    broadcast = _broadcast_or_404(s, broadcast_id)
    back = url_for("broadcasts.show", broadcast_id=broadcast.id)
    if broadcast.status in (BroadcastStatus.SENT, BroadcastStatus.CANCELLED, BroadcastStatus.FAILED):
        flash(_(f"a {broadcast.status} broadcast cannot be cancelled"), "error")
        return redirect(back)
    counts = send_counts(s, [broadcast.id])[broadcast.id]
    details = [(_("Status"), _(broadcast.status.value))]
    if broadcast.scheduled_at is not None:
        details.append((_("Scheduled"), f"{account_time(broadcast.scheduled_at)} ({account_zone().key})"))
    if counts["total"]:
        details += [(_("Sent"), f"{counts['sent']:,}"), (_("Queued"), f"{counts['queued']:,}")]
    gate = confirm.gate(confirm.Confirmation(
        title=_("Cancel “%(name)s”?", name=broadcast.name), action=_("Cancel broadcast"), count=None,
        show_when=False, details=details, danger=True, back_url=back,
        notes=[_("Mails already sent stay sent; nothing else of this broadcast will go. A cancelled broadcast cannot "
                 "be scheduled again: duplicate it to send it later.") if counts["total"] else
               _("Nothing of this broadcast has been sent, and nothing will be. A cancelled broadcast cannot be "
                 "scheduled again: duplicate it to send it later.")],
    ))
    if gate is not None:
        return gate
    _apply(s, lambda: cancel_broadcast(s, broadcast),
           lambda n: _("Broadcast cancelled (%(n)s queued mails will not go).", n=n))
    return redirect(back)


@bp.post("/<int:broadcast_id>/duplicate")
def duplicate(broadcast_id: int) -> Any:
    """A copy of the broadcast as a new draft (same template and audience, no time); nothing is sent."""
    s = services().db.session
    broadcast = _broadcast_or_404(s, broadcast_id)
    try:
        copy = duplicate_broadcast(s, broadcast, _("%(name)s (copy)"))
    except ValueError as exc:
        s.rollback()
        flash(_(str(exc)), "error")
        return redirect(url_for("broadcasts.show", broadcast_id=broadcast.id))
    s.commit()
    flash(_("Duplicated as a draft: choose when to send it."), "success")
    return redirect(url_for("broadcasts.show", broadcast_id=copy.id))


@bp.post("/<int:broadcast_id>/delete")
def delete(broadcast_id: int) -> Any:
    """Delete a broadcast that never mailed anyone (a draft), after asking."""
    s = services().db.session
    broadcast = _broadcast_or_404(s, broadcast_id)
    back = url_for("broadcasts.show", broadcast_id=broadcast.id)
    if not deletable(s, broadcast):
        flash(_("Only a broadcast that sent nothing can be deleted; this one keeps its history."), "error")
        return redirect(back)
    gate = confirm.gate(confirm.Confirmation(
        title=_("Delete “%(name)s”?", name=broadcast.name), action=_("Delete"), count=None, show_when=False,
        danger=True, back_url=back, notes=[_("The draft is deleted. This cannot be undone.")],
    ))
    if gate is not None:
        return gate
    if _apply(s, lambda: delete_broadcast(s, broadcast), lambda _r: _("Broadcast deleted.")):
        return redirect(url_for("broadcasts.index"))
    return redirect(back)

