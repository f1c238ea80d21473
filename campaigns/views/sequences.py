"""Step-mail sequences: list, step builder, triggers and exit conditions, and activation.

A sequence is a linear journey (docs/journeys.md, "From sequences to journeys"): it is built here as a
draft, and "Activate" turns it into a live journey (campaigns.automation.linear.activate_sequence). From
then on its pages redirect to the journey canvas, where it is paused, edited as new versions, enrolled
into and reported on; the list shows it "Runs as a journey" with a link there."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from campaigns.automation.linear import activate_sequence
from campaigns.delivery.rendering import selectable_templates
from campaigns.i18n import _
from campaigns.journeys.sequences import (
    EVENT_NAME_PATTERN,
    MAX_DELAY_MINUTES,
    MAX_NAME_LENGTH,
    create_sequence,
    update_sequence,
)
from campaigns.models import (
    Journey,
    JourneyEnrolment,
    JourneyEnrolmentStatus,
    Send,
    SendStatus,
    Sequence,
    SequenceStatus,
    Stage,
    Step,
    Template,
)
from campaigns.runtime import services
from campaigns.text import text_problem
from campaigns.views.builder_common import install_filters
from campaigns.views.entry_words import (
    entry_words,
    forms_enrolling_sequences,
    journey_entries,
    sequence_entries,
)
from campaigns.views.text_input import checks_own_text, field_errors

bp = Blueprint("sequences", __name__, url_prefix="/sequences")
install_filters(bp)

UNITS = {"minutes": 1, "hours": 60, "days": 1440}
MAX_STEPS = 50
_EVENT_NAME = re.compile(EVENT_NAME_PATTERN)  # the API's rule: "資料ダウンロード" and "Demo booked" are names


def _valid_event_name(name: str) -> bool:
    return len(name) <= MAX_NAME_LENGTH and _EVENT_NAME.match(name) is not None and text_problem(name, "event") is None
WEEKDAYS = [("1", "Mon"), ("2", "Tue"), ("3", "Wed"), ("4", "Thu"), ("5", "Fri"), ("6", "Sat"), ("7", "Sun")]
_STEP_KEY = re.compile(r"^steps-(\d{1,3})-(\w+)$")


@dataclass
class StepRow:
    """One step as the builder shows it: the raw input survives a failed validation unchanged."""

    id: str = ""
    template_id: str = ""
    delay_value: str = "0"
    delay_unit: str = "days"
    days: list[str] = field(default_factory=list)
    start_hour: str = ""
    end_hour: str = ""
    error: str = ""

    @classmethod
    def from_step(cls, step: Step) -> StepRow:
        value, unit = split_delay(step.delay_minutes)
        return cls(
            id=str(step.id),
            template_id=str(step.template_id),
            delay_value=str(value),
            delay_unit=unit,
            days=list(step.window_days or ""),
            start_hour="" if step.window_start_hour is None else str(step.window_start_hour),
            end_hour="" if step.window_end_hour is None else str(step.window_end_hour),
        )


@dataclass
class SequenceInput:
    """The builder form, parsed: service arguments when valid, else the messages to show."""

    name: str = ""
    description: str = ""
    trigger_events: list[str] = field(default_factory=list)
    exit_events: list[str] = field(default_factory=list)
    exit_stages: list[str] = field(default_factory=list)
    allow_reentry: bool = False
    goal_event: str = ""
    trigger_segment_id: int | None = None  # contacts entering it are enrolled (campaigns.audience.segments)
    exit_segment_id: int | None = None
    exit_segment_when: str = "left"
    rows: list[StepRow] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.errors and not any(r.error for r in self.rows)

    def fields(self) -> dict[str, Any]:
        return {
            "trigger_events": self.trigger_events,
            "exit_events": self.exit_events,
            "exit_stages": self.exit_stages,
            "allow_reentry": self.allow_reentry,
            "goal_event": self.goal_event,
            "description": self.description,
            "trigger_segment_id": self.trigger_segment_id,
            "exit_segment_id": self.exit_segment_id,
            "exit_segment_when": self.exit_segment_when,
        }

    def steps(self) -> list[dict[str, Any]]:
        out = []
        for row in self.rows:
            step: dict[str, Any] = {
                "template_id": int(row.template_id),
                "delay_minutes": int(row.delay_value) * UNITS[row.delay_unit],
                "window_days": "" if len(row.days) == 7 else "".join(row.days),
                "window_start_hour": int(row.start_hour) if row.start_hour else None,
                "window_end_hour": int(row.end_hour) if row.end_hour else None,
            }
            if row.id:
                step["id"] = int(row.id)
            out.append(step)
        return out


def split_delay(minutes: int) -> tuple[int, str]:
    """Show a delay in the largest unit that divides it exactly (builder display)."""
    if minutes and minutes % 1440 == 0:
        return minutes // 1440, "days"
    if minutes and minutes % 60 == 0:
        return minutes // 60, "hours"
    return minutes, "minutes"


BAD_EVENT_NAMES = "Event names are at most 100 characters, without control characters: %(names)s"


def _event_list(raw: str) -> tuple[list[str], list[str]]:
    names: list[str] = []
    bad: list[str] = []
    for name in re.split(r"[,、，\r\n]+", raw):  # commas (as the hint says) or lines; names may hold spaces
        name = name.strip()
        if not name:
            continue
        (names if _valid_event_name(name) else bad).append(name)
    return list(dict.fromkeys(names)), bad


def _hour(raw: str, low: int, high: int) -> int | None:
    if not raw.strip().isdigit():
        return None
    value = int(raw)
    return value if low <= value <= high else None


def parse_sequence_form(form: MultiDict[str, str], template_ids: set[int], known_step_ids: set[int]) -> SequenceInput:
    """Parse and check the builder form; every problem becomes a message, nothing is dropped (views)."""
    data = SequenceInput(
        name=form.get("name", "").strip(),
        description=form.get("description", "").strip(),
        allow_reentry=form.get("allow_reentry") in {"1", "on", "y", "true"},
        goal_event=form.get("goal_event", "").strip(),
        exit_stages=[s for s in form.getlist("exit_stages") if s in {st.value for st in Stage}],
        trigger_segment_id=int(form["trigger_segment_id"]) if form.get("trigger_segment_id", "").isdigit() else None,
        exit_segment_id=int(form["exit_segment_id"]) if form.get("exit_segment_id", "").isdigit() else None,
        exit_segment_when="in" if form.get("exit_segment_when") == "in" else "left",
    )
    data.errors.update(field_errors(form, [("name", "Name", False), ("description", "Description", True)]))
    if not data.name:
        data.errors["name"] = _("Give the sequence a name.")
    elif len(data.name) > 200:
        data.errors["name"] = _("The name is too long (200 characters at most).")
    for key in ("trigger_events", "exit_events"):
        names, bad = _event_list(form.get(key, ""))
        setattr(data, key, names + bad)  # shown again as typed; the error keeps them from being saved
        if bad:
            data.errors[key] = _(BAD_EVENT_NAMES, names=", ".join(bad))
    if data.goal_event and not _valid_event_name(data.goal_event):
        data.errors["goal_event"] = _(BAD_EVENT_NAMES, names=data.goal_event)

    indices = sorted({int(m.group(1)) for key in form if (m := _STEP_KEY.match(key))})
    for i in indices:
        prefix = f"steps-{i}-"
        row = StepRow(
            id=form.get(prefix + "id", "").strip(),
            template_id=form.get(prefix + "template_id", "").strip(),
            delay_value=form.get(prefix + "delay_value", "0").strip() or "0",
            delay_unit=form.get(prefix + "delay_unit", "days"),
            days=sorted({d for d in form.getlist(prefix + "days") if d in "1234567" and len(d) == 1}),
            start_hour=form.get(prefix + "start_hour", "").strip(),
            end_hour=form.get(prefix + "end_hour", "").strip(),
        )
        data.rows.append(row)
        if row.id and (not row.id.isdigit() or int(row.id) not in known_step_ids):
            row.id = ""  # a step id from another sequence or a stale page: treat the row as a new step
        if not row.template_id.isdigit() or int(row.template_id) not in template_ids:
            row.error = _("Choose a saved template.")
        elif row.delay_unit not in UNITS or not row.delay_value.isdigit():
            row.error = _("The delay must be a whole number of minutes, hours or days.")
        elif int(row.delay_value) * UNITS[row.delay_unit] > MAX_DELAY_MINUTES:
            row.error = _("The delay can be at most five years.")  # the API's limit too
        elif not row.days and form.get(prefix + "days_present"):
            row.error = _("Pick at least one day for the send window.")
        elif bool(row.start_hour) != bool(row.end_hour):
            row.error = _("Give both hours of the send window, or neither.")
        elif row.start_hour:
            start, end = _hour(row.start_hour, 0, 23), _hour(row.end_hour, 1, 24)
            if start is None or end is None or start >= end:
                row.error = _("The send window must start before it ends (hours 0-24).")
    if not data.rows:
        data.errors["steps"] = _("Add at least one step.")
    elif len(data.rows) > MAX_STEPS:
        data.errors["steps"] = _("A sequence can have at most %(n)s steps.", n=MAX_STEPS)
    return data


class _RunsAsJourney(Exception):
    """A converted sequence's page was asked for: its journey's canvas answers instead."""

    def __init__(self, journey_id: int) -> None:
        super().__init__(journey_id)
        self.journey_id = journey_id


@bp.errorhandler(_RunsAsJourney)
def _to_journey(exc: _RunsAsJourney) -> Any:
    # Converted by migration 0012 (docs/journeys.md, "From sequences to journeys"): one place to edit it.
    flash(_("This sequence runs as a journey now: edit it, pause it and enrol contacts here."), "info")
    return redirect(url_for("journeys.show", journey_id=exc.journey_id))


def converted_journeys(s: Session) -> dict[int, int]:
    """{sequence id: journey id} of the sequences that run as journeys (index, redirects)."""
    return {int(sid): int(jid) for sid, jid in s.execute(
        select(Journey.sequence_id, Journey.id).where(Journey.sequence_id.is_not(None))).all() if sid is not None}


def _sequence_or_404(s: Session, sequence_id: int) -> Sequence:
    sequence = s.get(Sequence, sequence_id)
    if sequence is None:
        abort(404)
    if sequence.status == SequenceStatus.CONVERTED:
        journey_id = converted_journeys(s).get(sequence.id)
        if journey_id is None:
            abort(404)
        raise _RunsAsJourney(journey_id)
    return sequence


def _usable_templates(s: Session) -> list[Template]:
    return selectable_templates(s)


def _render_builder(sequence: Sequence | None, data: SequenceInput, templates: list[Template], status: int = 200) -> Any:
    return render_template(
        "ui/sequences/edit.html",
        sequence=sequence,
        data=data,
        templates=templates,
        units=list(UNITS),
        weekdays=WEEKDAYS,
        stages=[st.value for st in Stage],
        blank=StepRow(days=[d for d, _label in WEEKDAYS]),
    ), status


@bp.get("/")
def index() -> Any:
    s = services().db.session
    sequences = list(s.scalars(select(Sequence).order_by(Sequence.created_at.desc(), Sequence.id.desc())))
    # In progress: the active walks of the journey each sequence runs as (a draft has none).
    active = dict(
        s.execute(
            select(Journey.sequence_id, func.count())
            .join(JourneyEnrolment, JourneyEnrolment.journey_id == Journey.id)
            .where(Journey.sequence_id.is_not(None), JourneyEnrolment.status == JourneyEnrolmentStatus.ACTIVE,
                   JourneyEnrolment.test.is_(False))
            .group_by(Journey.sequence_id)
        ).all()
    )
    journeys = converted_journeys(s)
    # Triggers in words: a converted sequence's are its journey's entry triggers (edited on the canvas since).
    by_journey = journey_entries(s, s.scalars(select(Journey).where(Journey.id.in_(journeys.values()))))
    forms_of = forms_enrolling_sequences(s)
    entries = {seq.id: by_journey.get(journeys[seq.id], []) if seq.id in journeys
               else sequence_entries(seq, forms_of.get(seq.id, [])) for seq in sequences}
    return render_template("ui/sequences/index.html", sequences=sequences, active=active,
                           journeys=journeys, triggers=entry_words(s, entries))


@bp.route("/new", methods=["GET", "POST"])
@checks_own_text("name", "description", "trigger_events", "exit_events", "goal_event")
def new() -> Any:
    db = services().db
    s = db.session
    templates = _usable_templates(s)
    if request.method == "GET":
        return _render_builder(None, SequenceInput(rows=[StepRow(days=[d for d, _l in WEEKDAYS])]), templates)
    data = parse_sequence_form(request.form, {t.id for t in templates}, set())
    if data.valid:
        try:
            sequence = create_sequence(s, data.name, steps=data.steps(), **data.fields())
        except ValueError as exc:
            s.rollback()
            data.errors["service"] = _(str(exc))
        else:
            s.commit()
            flash(_("Sequence saved."), "success")
            return redirect(url_for("sequences.show", sequence_id=sequence.id))
    return _render_builder(None, data, templates, 400)


@bp.route("/<int:sequence_id>/edit", methods=["GET", "POST"])
@checks_own_text("name", "description", "trigger_events", "exit_events", "goal_event")
def edit(sequence_id: int) -> Any:
    db = services().db
    s = db.session
    sequence = _sequence_or_404(s, sequence_id)
    templates = _usable_templates(s)
    if request.method == "GET":
        data = SequenceInput(
            name=sequence.name,
            description=sequence.description,
            trigger_events=list(sequence.trigger_events or []),
            exit_events=list(sequence.exit_events or []),
            exit_stages=list(sequence.exit_stages or []),
            allow_reentry=sequence.allow_reentry,
            goal_event=sequence.goal_event,
            trigger_segment_id=sequence.trigger_segment_id,
            exit_segment_id=sequence.exit_segment_id,
            exit_segment_when=str(sequence.exit_segment_when or "left"),
            rows=[StepRow.from_step(step) for step in sequence.steps],
        )
        for row in data.rows:
            row.days = row.days or [d for d, _l in WEEKDAYS]
        if not data.rows:  # e.g. made through the API without steps: offer one to fill in
            data.rows = [StepRow(days=[d for d, _l in WEEKDAYS])]
        return _render_builder(sequence, data, templates)
    data = parse_sequence_form(request.form, {t.id for t in templates}, {st.id for st in sequence.steps})
    if data.valid:
        try:
            update_sequence(s, sequence, steps=data.steps(), name=data.name, **data.fields())
        except ValueError as exc:
            s.rollback()
            data.errors["service"] = _(str(exc))
        else:
            s.commit()
            flash(_("Sequence saved."), "success")
            return redirect(url_for("sequences.show", sequence_id=sequence.id))
    return _render_builder(sequence, data, templates, 400)


def step_send_counts(s: Session, step_ids: list[int]) -> dict[int, dict[str, int]]:
    """Sends per step and status, with queued and in-flight folded together (sequence page)."""
    counts: dict[int, dict[str, int]] = {sid: dict.fromkeys(("queued", "sent", "failed", "other"), 0) for sid in step_ids}
    if not step_ids:
        return counts
    rows = s.execute(
        select(Send.step_id, Send.status, func.count()).where(Send.step_id.in_(step_ids)).group_by(Send.step_id, Send.status)
    ).all()
    for step_id, status, n in rows:
        bucket = {
            SendStatus.QUEUED: "queued", SendStatus.SENDING: "queued", SendStatus.SENT: "sent", SendStatus.FAILED: "failed",
        }.get(status, "other")
        if step_id is not None:
            counts[step_id][bucket] += n
    return counts


@bp.get("/<int:sequence_id>")
def show(sequence_id: int) -> Any:
    s = services().db.session
    sequence = _sequence_or_404(s, sequence_id)
    steps = list(sequence.steps)
    names = dict(s.execute(select(Template.id, Template.name)).all())
    return render_template(
        "ui/sequences/show.html",
        sequence=sequence,
        steps=steps,
        counts=step_send_counts(s, [st.id for st in steps]),
        template_names=names,
        split_delay=split_delay,
        weekdays=dict(WEEKDAYS),
    )


@bp.post("/<int:sequence_id>/status")
def change_status(sequence_id: int) -> Any:
    """Activate a draft: it becomes a live linear journey, and its journey's canvas answers from then on
    (pausing is done there)."""
    db = services().db
    s = db.session
    sequence = _sequence_or_404(s, sequence_id)
    if request.form.get("status", "") != SequenceStatus.ACTIVE:
        flash(_("Unknown status."), "error")
        return redirect(url_for("sequences.show", sequence_id=sequence.id))
    try:
        journey = activate_sequence(s, sequence, published_by="sequence builder")
    except ValueError as exc:
        s.rollback()
        flash(_(str(exc)), "error")
        return redirect(url_for("sequences.show", sequence_id=sequence.id))
    s.commit()
    flash(_("Sequence activated: it runs as a journey now. Pause it, edit it and enrol contacts here."), "success")
    return redirect(url_for("journeys.show", journey_id=journey.id))


@bp.post("/<int:sequence_id>/enroll")
def enroll(sequence_id: int) -> Any:
    """Enrolment into a draft is refused (it takes nobody until it is activated; an active sequence's page
    is its journey's, which enrols)."""
    sequence = _sequence_or_404(services().db.session, sequence_id)
    flash(_("This sequence is a draft: activate it first, then enrol contacts on its journey."), "error")
    return redirect(url_for("sequences.show", sequence_id=sequence.id))
