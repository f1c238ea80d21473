"""A/B tests in the UI: set up a test on a broadcast or a step, the results page, pick a winner, cancel.

Numbers come from campaigns.experiments.results.results (the API serves the same dict); the page only words them.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.delivery.rendering import selectable_templates
from campaigns.experiments import counting, decision, results, setup, stats
from campaigns.i18n import _
from campaigns.models import (
    ABKind,
    ABMetric,
    ABStatus,
    ABTest,
    Broadcast,
    BroadcastStatus,
    Sequence,
    Step,
    Template,
)
from campaigns.params import parse_id, parse_int
from campaigns.runtime import services
from campaigns.views.builder_common import install_filters

bp = Blueprint("abtests", __name__, url_prefix="/ab")
install_filters(bp)


@bp.app_template_global("ab_tests_for")
def ab_tests_for(broadcast_id: int | None = None, step_ids: list[int] | None = None) -> dict[Any, list[ABTest]]:
    """Tests of a broadcast ({broadcast_id: [...]}) or of steps ({step_id: [...]}), newest first; the
    broadcast and sequence pages link to them."""
    s = services().db.session  # the request's Session
    found = setup.tests_for(s, broadcast_id=broadcast_id, step_ids=step_ids or [])
    out: dict[Any, list[ABTest]] = {}
    for t in found:
        out.setdefault(t.broadcast_id if broadcast_id is not None else t.step_id, []).append(t)
    return out

KIND_LABELS = {
    "subject": "Subject line", "preheader": "Preheader", "from_name": "Sender name",
    "content": "Content (template)", "send_time": "Send time",
}
METRIC_LABELS = {
    "open": "Human unique open rate", "click": "Human unique click rate",
    "click_to_open": "Click-to-open rate (human)", "goal": "Goal event within N days",
}
FALLBACK_LABELS = {
    "keep_control": "Keep the control (variant A)",
    "send_leader_not_significant": "Send the leader, labelled \"not significant\"",
}
STATUS_LABELS = {
    "draft": "Waiting for the broadcast to start", "testing": "Testing", "awaiting_decision": "Waiting for your decision",
    "decided": "Decided", "cancelled": "Cancelled", "failed": "Stopped by an error",
}


def _test_or_404(s: Session, test_id: int) -> ABTest:
    test = s.get(ABTest, test_id)
    if test is None:
        abort(404)
    return test


def _target(s: Session) -> tuple[Broadcast | None, Step | None, Sequence | None]:
    broadcast = step = sequence = None
    broadcast_id, step_id = parse_id(request.values.get("broadcast_id")), parse_id(request.values.get("step_id"))
    if broadcast_id is not None:
        broadcast = s.get(Broadcast, broadcast_id)
    elif step_id is not None:
        step = s.get(Step, step_id)
        if step is not None:
            sequence = s.get(Sequence, step.sequence_id)
    if broadcast is None and (step is None or step.deleted):
        abort(404)
    return broadcast, step, sequence


def _float(raw: str, default: float, percent: bool = False) -> float:
    try:
        value = float(raw.replace(",", "."))
    except (ValueError, AttributeError):
        return default
    return value / 100 if percent else value


def plain_decision(data: dict[str, Any]) -> str:
    """The decision in one translated sentence for the marketer (the statistician's reason is shown too)."""
    text = _plain(data)
    if data["status"] == "awaiting_decision":
        return _("Recommendation:") + " " + text
    return text


def _plain(data: dict[str, Any]) -> str:
    d = data["decision"]
    variants = data["variants"]
    code = d.get("reason_code", "running")
    send = d.get("send_index")
    name = variants[send]["key"] if send is not None else ""
    control = variants[0]["key"]
    if data["status"] == "cancelled":
        return _("The test was cancelled; the control was kept.")
    if data["status"] == "failed":  # the scheduler stopped it (experiments.decision.fail_test); the reason is shown
        return _("The test stopped because of an error; the reason is shown above.")
    if code == "running":
        return _("The test is running. The numbers below are provisional: the decision is made when every "
                 "variant's window has closed, and looking earlier does not change it.")
    if code == "winner":
        return _("%(name)s won: it did better than the control %(control)s, and a difference this large would "
                 "rarely happen by chance.", name=name, control=control)
    if code == "control_better":
        return _("The control %(control)s did better than every other variant, so it is kept.", control=control)
    if code == "send_leader_not_significant":
        return _("No variant did clearly better than the control. As you chose, the leader %(name)s is sent, "
                 "labelled \"not significant\": the difference could be chance.", name=name)
    if code == "no_sends":
        return _("Some variants were not sent, so they could not be compared.")
    return _("No variant did clearly better than the control %(control)s by the deadline, so the control is "
             "kept.", control=control)


@bp.get("/")
def index() -> Any:
    s = services().db.session  # the request's Session
    tests = list(s.scalars(select(ABTest).order_by(ABTest.id.desc()).limit(200)))
    names = dict(s.execute(select(Broadcast.id, Broadcast.name).where(
        Broadcast.id.in_([t.broadcast_id for t in tests if t.broadcast_id]))).all())
    steps = {st.id: st for st in s.scalars(select(Step).where(Step.id.in_([t.step_id for t in tests if t.step_id])))}
    seq_names = dict(s.execute(select(Sequence.id, Sequence.name).where(
        Sequence.id.in_([st.sequence_id for st in steps.values()]))).all())
    return render_template("ui/abtests/index.html", tests=tests, names=names, steps=steps, seq_names=seq_names,
                           kinds=KIND_LABELS, statuses=STATUS_LABELS)


@bp.get("/advice.json")
def advice() -> Any:
    """Sample-size advice for the setup form, recomputed as the marketer types (read only)."""
    s = services().db.session  # the request's Session
    baseline = _float(request.args.get("baseline", ""), 20, percent=False) / 100
    lift = _float(request.args.get("lift", ""), 20) / 100
    portion = _float(request.args.get("portion", ""), 20) / 100
    try:
        variants = int(request.args.get("variants", "2"))
    except ValueError:
        variants = 2
    audience = None
    broadcast_id = parse_id(request.args.get("broadcast_id"))
    if broadcast_id is not None:
        broadcast = s.get(Broadcast, broadcast_id)
        if broadcast is not None:
            audience = setup.broadcast_audience_size(s, broadcast)
    try:
        out = setup.plan_advice(baseline, lift, variants, audience, portion if audience is not None else 1.0)
    except stats.ABInputError as exc:
        return jsonify({"error": _(str(exc))}), 400
    out["message_local"] = _advice_text(out)
    return jsonify(out)


def _advice_text(out: dict[str, Any]) -> str:
    if out.get("enough") is False:
        lift = out.get("detectable_lift")
        text = _("Audience too small: the test needs %(n)s recipients per variant but the test portion gives "
                 "%(m)s.", n=f"{out['per_variant']:,}", m=f"{out['available_per_variant']:,}")
        if lift is not None:
            text += " " + _("It can only detect lifts of %(lift)s or more.", lift=f"{lift:.0%}")
        return text
    return _("The test needs %(n)s recipients per variant (%(total)s in total).",
             n=f"{out['per_variant']:,}", total=f"{out['total']:,}")


def _choose(s: Session) -> Any:
    """/ab/new without a target (the A/B tab's button): the broadcasts that can still be tested (draft or
    scheduled, no test running) and each sequence's steps, each a link to the set-up form for it."""
    busy = set(s.scalars(select(ABTest.broadcast_id).where(
        ABTest.broadcast_id.is_not(None), ABTest.status.in_(setup.ACTIVE_STATUSES))))
    broadcasts = [b for b in s.scalars(select(Broadcast).where(
        Broadcast.status.in_((BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED))).order_by(Broadcast.id.desc()).limit(100))
        if b.id not in busy]
    sequences = list(s.scalars(select(Sequence).order_by(Sequence.name).limit(100)))
    steps: dict[int, list[Step]] = {}
    for step in s.scalars(select(Step).where(Step.sequence_id.in_([q.id for q in sequences]), Step.deleted.is_(False))
                          .order_by(Step.sequence_id, Step.position)):
        steps.setdefault(step.sequence_id, []).append(step)
    template_names = dict(s.execute(select(Template.id, Template.name)).all())
    return render_template("ui/abtests/choose.html", broadcasts=broadcasts,
                           sequences=[q for q in sequences if steps.get(q.id)], steps=steps,
                           template_names=template_names)


@bp.route("/new", methods=["GET", "POST"])
def new() -> Any:
    s = services().db.session  # the request's Session
    if request.method == "GET" and not request.args.get("broadcast_id") and not request.args.get("step_id"):
        return _choose(s)
    broadcast, step, sequence = _target(s)
    base_id = broadcast.template_id if broadcast else step.template_id  # type: ignore[union-attr]
    base = s.get(Template, base_id)
    version = base.current_version if base else None
    templates = selectable_templates(s)
    form: dict[str, Any] = {
        "kind": "subject", "metric": "open", "goal_event": (sequence.goal_event if sequence else ""), "goal_days": "7",
        "portion": "20", "window_hours": "24", "test_days": "14", "fallback": "keep_control", "mode": "auto",
        "baseline": "20", "lift": "20",
        "variants": [{"label": "", "subject": version.subject if version else "",
                      "preheader": version.preheader if version else "",
                      "from_name": version.from_name if version else "", "template_id": str(base_id),
                      "send_local": ""}] + [{"label": "", "subject": "", "preheader": "", "from_name": "",
                                              "template_id": "", "send_local": ""} for _i in range(4)],
    }
    errors: dict[str, str] = {}
    result_advice = None
    if request.method == "POST":
        for key in ("kind", "metric", "goal_event", "goal_days", "portion", "window_hours", "test_days", "fallback",
                    "mode", "baseline", "lift"):
            form[key] = request.form.get(key, "").strip()
        rows = []
        for i in range(5):
            row = {f: request.form.get(f"v{i}_{f}", "").strip()
                   for f in ("label", "subject", "preheader", "from_name", "template_id", "send_local")}
            form["variants"][i] = row  # shown again as typed when the test is refused
            field = {"content": "template_id"}.get(form["kind"], form["kind"])
            if i == 0 or row.get(field):
                rows.append(row)
        try:
            test = setup.create_test(
                s, kind=form["kind"], variants=rows,
                broadcast_id=broadcast.id if broadcast else None, step_id=step.id if step else None,
                metric=form["metric"], goal_event=form["goal_event"], goal_days=form["goal_days"] or 7,
                test_portion=_float(form["portion"], -1, percent=True) if broadcast else 1.0, window_hours=form["window_hours"],
                test_days=form["test_days"] or 14, fallback=form["fallback"], mode=form["mode"],
                baseline_rate=_float(form["baseline"], -1, percent=True), min_lift=_float(form["lift"], -1, percent=True),
            )
        except (setup.ABError, stats.ABInputError) as exc:
            s.rollback()
            errors[getattr(exc, "field", "") or "service"] = _(str(exc))
        else:
            s.commit()
            flash(_("A/B test saved."), "success")
            return redirect(url_for("abtests.show", test_id=test.id))
    if not errors or "baseline" not in errors:
        try:
            audience = setup.broadcast_audience_size(s, broadcast) if broadcast else None
            variants = max(2, sum(1 for i, v in enumerate(form["variants"]) if i == 0 or any(v.values())))
            result_advice = setup.plan_advice(_float(form["baseline"], 20) / 100, _float(form["lift"], 20) / 100,
                                                min(variants, 5), audience,
                                                _float(form["portion"], 20) / 100 if broadcast else 1.0)
            result_advice["message_local"] = _advice_text(result_advice)
        except (stats.ABInputError, ValueError):
            result_advice = None
    return render_template(
        "ui/abtests/new.html", form=form, errors=errors, broadcast=broadcast, step=step, sequence=sequence,
        templates=templates, kinds=KIND_LABELS, metrics=METRIC_LABELS, fallbacks=FALLBACK_LABELS,
        advice=result_advice, base=base,
    ), (400 if errors else 200)


@bp.get("/<int:test_id>")
def show(test_id: int) -> Any:
    s = services().db.session  # the request's Session
    test = _test_or_404(s, test_id)
    data = results.results(s, test)
    sequence = None
    if data["target"]["type"] == "step" and data["target"]["sequence_id"]:
        sequence = s.get(Sequence, data["target"]["sequence_id"])
    can_pick = test.status is ABStatus.AWAITING_DECISION or (
        test.status is ABStatus.TESTING and test.mode.value == "manual" and not counting.pending_test_sends(s, test))
    return render_template(
        "ui/abtests/show.html", test=test, data=data, plain=plain_decision(data), sequence=sequence,
        kinds=KIND_LABELS, metrics=METRIC_LABELS, fallbacks=FALLBACK_LABELS, statuses=STATUS_LABELS,
        can_pick=can_pick, can_cancel=test.status in setup.ACTIVE_STATUSES,
        is_send_time=test.kind is ABKind.SEND_TIME, metric_is_cto=test.metric is ABMetric.CLICK_TO_OPEN,
    )


@bp.get("/<int:test_id>.json")
def show_json(test_id: int) -> Any:
    s = services().db.session  # the request's Session
    return jsonify(results.results(s, _test_or_404(s, test_id)))


@bp.post("/<int:test_id>/winner")
def winner(test_id: int) -> Any:
    s = services().db.session  # the request's Session
    test = _test_or_404(s, test_id)
    raw = request.form.get("variant", "")
    try:
        decision.pick_winner(s, test, parse_int(raw, -1, low=0), decided_by=g.user.email)
    except setup.ABError as exc:
        s.rollback()
        flash(_(str(exc)), "error")
    else:
        s.commit()
        flash(_("Variant %(key)s chosen.", key=test.variants[test.winner_index or 0].key), "success")
    return redirect(url_for("abtests.show", test_id=test_id))


@bp.post("/<int:test_id>/cancel")
def cancel(test_id: int) -> Any:
    s = services().db.session  # the request's Session
    test = _test_or_404(s, test_id)
    try:
        decision.cancel_test(s, test)
    except setup.ABError as exc:
        s.rollback()
        flash(_(str(exc)), "error")
    else:
        s.commit()
        flash(_("A/B test cancelled."), "success")
    return redirect(url_for("abtests.show", test_id=test_id))
