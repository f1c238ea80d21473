"""Lead scoring UI: rules, thresholds and decay, triggers (journeys, sales email, webhooks), the
hand-over delivery log with a retry button, and the sales stage form on the contact page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import func, select

from campaigns.i18n import _
from campaigns.insights.timeline import stage_cause
from campaigns.journeys import walk_entry
from campaigns.models import (
    Contact,
    DeliveryState,
    RuleKind,
    ScoreTrigger,
    ScoringRule,
    Stage,
    TriggerAction,
    WebhookDelivery,
)
from campaigns.params import parse_id
from campaigns.runtime import services
from campaigns.scoring import engine, handover, history
from campaigns.scoring import rules as scoring_rules
from campaigns.scoring import stages as scoring_stages
from campaigns.scoring import triggers as scoring_triggers

bp = Blueprint("scoring", __name__, url_prefix="/scoring")
M = TypeVar("M")

KIND_LABELS = {
    RuleKind.HUMAN_OPEN: "Email opened (human)",
    RuleKind.HUMAN_CLICK: "Link clicked (human)",
    RuleKind.LINK_CLICK: "A given link clicked",
    RuleKind.FORM_SUBMITTED: "Form submitted",
    RuleKind.PAGE_VIEWED: "Page viewed",
    RuleKind.WEBINAR_ATTENDED: "Webinar attended",
    RuleKind.CUSTOM_EVENT: "Custom event (API)",
    RuleKind.UNSUBSCRIBED: "Unsubscribed",
    RuleKind.BOUNCED: "Hard bounce",
    RuleKind.INACTIVITY: "Inactivity",
    RuleKind.PAGE_VISIT: "Website page visited",
}
ACTION_LABELS = {
    TriggerAction.ENROLL: "Start a journey",
    TriggerAction.EXIT: "Leave a journey",
    TriggerAction.EMAIL: "Notify sales by email",
    TriggerAction.WEBHOOK: "Call a webhook",
}
DELIVERY_PAGE = 50


@bp.app_template_filter("kind_label")
def _kind_label(kind: str) -> str:
    return _(KIND_LABELS.get(RuleKind(kind), str(kind))) if kind in RuleKind._value2member_map_ else str(kind)


@bp.app_template_filter("action_label")
def _action_label(action: str) -> str:
    return _(ACTION_LABELS.get(TriggerAction(action), str(action))) if action in TriggerAction._value2member_map_ else str(action)


@bp.app_template_filter("stage_cause")
def _stage_cause(cause: str, detail: str = "") -> str:
    """A stage change's cause in words ("score 33 reached 20"), as the timeline says it: the stored detail is
    a code ("score 33 >= 20") except for a rule's or a person's own words."""
    key, params = stage_cause(str(cause or ""), str(detail or ""))
    return _(key, **params)


@bp.app_template_filter("stage_label")
def _stage_label(stage: str) -> str:
    """A stage as the UI names it: MQL and SQL as acronyms, the others as words (translated)."""
    value = str(stage)
    return _(value.upper()) if value in ("mql", "sql") else _(value.capitalize())


def _db() -> Any:
    return services().db.session


def _get_or_404(model: type[M], object_id: int) -> M:
    """The row with this id, or the 404 page."""
    row = _db().get(model, object_id)
    if row is None:
        abort(404)
    return cast(M, row)


def _save_form(save: Callable[[], object], template: str, done: str, **context: Any) -> Any:
    """Run a service save from a POSTed form: on a ScoringError roll back and show the form again with the
    reason (422), else commit and go to the `done` endpoint."""
    s = _db()
    try:
        save()
    except scoring_rules.ScoringError as exc:
        s.rollback()
        return render_template(template, error=_(str(exc)), **context), 422
    s.commit()
    flash(_("Saved."), "success")
    return redirect(url_for(done))


@bp.get("")
def index() -> Any:
    s = _db()
    settings = scoring_rules.get_settings(s)
    rules = list(s.scalars(select(ScoringRule).order_by(ScoringRule.kind, ScoringRule.id)))
    counts = scoring_rules.rule_counts(s)
    stages = scoring_stages.stage_counts(s)
    pending = scoring_triggers.pending_deliveries(s)
    s.commit()
    return render_template("ui/scoring/index.html", settings=settings, rules=rules, counts=counts, stages=stages,
                           stage_order=[st.value for st in Stage], pending=pending, form=request.form)


@bp.post("/settings")
def save_settings() -> Any:
    s = _db()
    try:
        scoring_rules.update_settings(
            s, warm_at=request.form.get("warm_at"), hot_at=request.form.get("hot_at"),
            half_life_days=request.form.get("half_life_days"), mql_when_hot=bool(request.form.get("mql_when_hot")),
        )
    except scoring_rules.ScoringError as exc:
        s.rollback()
        flash(_(str(exc)), "error")
        return index(), 422
    s.commit()
    flash(_("Saved. Scores are refreshed with the new settings within a minute."), "success")
    return redirect(url_for("scoring.index"))


@bp.post("/recompute")
def recompute() -> Any:
    s = _db()
    result = engine.recompute(s)
    s.commit()
    flash(_("Scores recomputed from the history: %(n)s ledger entries.", n=result.counts.get("entries", 0)), "success")
    return redirect(url_for("scoring.index"))


def _rule_form(rule: ScoringRule | None) -> Any:
    s = _db()
    data: dict[str, Any] = dict(request.form) if request.method == "POST" else (
        scoring_rules._rule_fields(rule) if rule else {"kind": "page_viewed", "points": "5", "daily_cap": "0",
                                                          "active": True})
    if request.method == "POST":
        data["sets_mql"] = bool(request.form.get("sets_mql"))
        data["active"] = bool(request.form.get("active"))

        def save() -> None:
            if rule is None:
                scoring_rules.create_rule(s, data)
            else:
                scoring_rules.update_rule(s, rule, data)

        return _save_form(save, "ui/scoring/rule_form.html", "scoring.index", rule=rule, data=data, kinds=KIND_LABELS)
    return render_template("ui/scoring/rule_form.html", rule=rule, data=data, error="", kinds=KIND_LABELS)


@bp.route("/rules/new", methods=["GET", "POST"])
def rule_new() -> Any:
    return _rule_form(None)


@bp.route("/rules/<int:rule_id>", methods=["GET", "POST"])
def rule_edit(rule_id: int) -> Any:
    return _rule_form(_get_or_404(ScoringRule, rule_id))


@bp.post("/rules/<int:rule_id>/delete")
def rule_delete(rule_id: int) -> Any:
    s = _db()
    engine.delete_rule(s, _get_or_404(ScoringRule, rule_id))
    s.commit()
    flash(_("Rule deleted; its points were removed from the scores."), "success")
    return redirect(url_for("scoring.index"))


# ------------------------------------------------------------------ triggers
@bp.get("/triggers")
def triggers() -> Any:
    s = _db()
    rows = list(s.scalars(select(ScoreTrigger).order_by(ScoreTrigger.id)))
    # each target as the trigger reaches it (a sequence activated since is its journey now); None: deleted
    targets = [walk_entry.chosen_target(s, _target_key(t.journey_id, t.sequence_id)) for t in rows]
    s.commit()
    return render_template("ui/scoring/triggers.html", rows=list(zip(rows, targets, strict=True)))


def _target_key(journey_id: int | None, sequence_id: int | None) -> str:
    """The picker's value of a trigger's target ("journey:<id>" / "sequence:<id>"), "" for none."""
    return f"journey:{journey_id}" if journey_id else f"sequence:{sequence_id}" if sequence_id else ""


def _trigger_form(trigger: ScoreTrigger | None) -> Any:
    s = _db()
    if request.method == "POST":
        data: dict[str, Any] = dict(request.form)
        data["active"] = bool(request.form.get("active"))
    elif trigger is not None:
        data = {c: getattr(trigger, c) for c in ("name", "when", "stage", "score_at", "action", "email_to",
                                                 "webhook_url", "active")}
        target = walk_entry.chosen_target(s, _target_key(trigger.journey_id, trigger.sequence_id))
        data["target"] = target.key if target is not None else ""  # a sequence activated since: its journey
    else:
        data = {"when": "stage", "stage": "mql", "action": "email", "active": True}
    # journeys (converted sequences as theirs, canvas-built ones too) and unconverted sequences, live first
    choices = {"targets": walk_entry.target_choices(s, keep=[str(data.get("target") or "")]),
               "actions": ACTION_LABELS, "stages": [st.value for st in Stage]}
    if request.method == "POST":

        def save() -> None:
            if trigger is None:
                scoring_triggers.create_trigger(s, data)
            else:
                scoring_triggers.update_trigger(s, trigger, data)

        return _save_form(save, "ui/scoring/trigger_form.html", "scoring.triggers", trigger=trigger, data=data,
                          **choices)
    return render_template("ui/scoring/trigger_form.html", trigger=trigger, data=data, error="", **choices)


@bp.route("/triggers/new", methods=["GET", "POST"])
def trigger_new() -> Any:
    return _trigger_form(None)


@bp.route("/triggers/<int:trigger_id>", methods=["GET", "POST"])
def trigger_edit(trigger_id: int) -> Any:
    return _trigger_form(_get_or_404(ScoreTrigger, trigger_id))


@bp.post("/triggers/<int:trigger_id>/delete")
def trigger_delete(trigger_id: int) -> Any:
    s = _db()
    s.delete(_get_or_404(ScoreTrigger, trigger_id))
    s.commit()
    flash(_("Trigger deleted."), "success")
    return redirect(url_for("scoring.triggers"))


# ------------------------------------------------------------------ delivery log
@bp.get("/deliveries")
def deliveries() -> Any:
    s = _db()
    state = request.args.get("state", "")
    query = select(WebhookDelivery, Contact.email).outerjoin(Contact, Contact.id == WebhookDelivery.contact_id)
    if state in DeliveryState._value2member_map_:
        query = query.where(WebhookDelivery.state == state)
    before = parse_id(request.args.get("before"))
    if before:
        query = query.where(WebhookDelivery.id < before)
    rows = s.execute(query.order_by(WebhookDelivery.id.desc()).limit(DELIVERY_PAGE + 1)).all()
    more = len(rows) > DELIVERY_PAGE
    rows = rows[:DELIVERY_PAGE]
    totals = dict(s.execute(select(WebhookDelivery.state, func.count()).group_by(WebhookDelivery.state)).all())
    s.commit()
    next_url = url_for("scoring.deliveries", state=state or None, before=rows[-1][0].id) if more and rows else None
    return render_template("ui/scoring/deliveries.html", rows=rows, state=state, totals=totals,
                           states=[st.value for st in DeliveryState], next_url=next_url,
                           unreachable=handover.UNREACHABLE)  # the one text of a failed connection: translated


@bp.get("/deliveries/<int:delivery_id>")
def delivery(delivery_id: int) -> Any:
    s = _db()
    row = _get_or_404(WebhookDelivery, delivery_id)
    s.commit()
    return render_template("ui/scoring/delivery.html", d=row, unreachable=handover.UNREACHABLE)


@bp.post("/deliveries/<int:delivery_id>/retry")
def delivery_retry(delivery_id: int) -> Any:
    s = _db()
    row = _get_or_404(WebhookDelivery, delivery_id)
    try:
        handover.retry_now(s, row)
    except ValueError as exc:
        s.rollback()
        flash(_(str(exc)), "error")
        return redirect(url_for("scoring.delivery", delivery_id=delivery_id))
    s.commit()
    handover.enqueue_due(services())
    flash(_("Queued for another attempt."), "success")
    return redirect(url_for("scoring.delivery", delivery_id=delivery_id))


# ------------------------------------------------------------------ contact page
def contact_panel(session: Any, contact: Contact) -> dict[str, Any]:
    """What the contact page's scoring section shows (contacts.show calls this)."""
    series = history.score_series(session, contact.id)
    values = [v for _, v in series]
    low, high = min([0, *values]), max([10, *values])
    width, height = 600, 120
    span = max(1, high - low)
    points = " ".join(
        f"{round(i * width / max(1, len(series) - 1), 1)},{round(height - (v - low) * height / span, 1)}"
        for i, v in enumerate(values)
    )
    return {
        "score_history": history.score_history(session, contact.id, limit=50),
        "stage_timeline": history.stage_timeline(session, contact.id),
        "score_chart": {"points": points, "width": width, "height": height, "low": low, "high": high,
                        "first": series[0][0] if series else "", "last": series[-1][0] if series else ""},
        "sales_stages": [Stage.MQL.value, Stage.SQL.value, Stage.CUSTOMER.value],
    }


@bp.post("/contacts/<int:contact_id>/stage")
def set_contact_stage(contact_id: int) -> Any:
    s = _db()
    contact = _get_or_404(Contact, contact_id)
    who = getattr(getattr(g, "user", None), "email", "") or ""
    note = (request.form.get("note") or "").strip()[:500]
    try:
        result = scoring_triggers.set_stage(s, contact, request.form.get("stage", ""), "sales",
                                           " · ".join(p for p in (who, note) if p))
    except scoring_rules.ScoringError as exc:
        s.rollback()
        flash(_(str(exc)), "error")
        return redirect(url_for("contacts.show", contact_id=contact_id))
    s.commit()
    if result.counts.get("deliveries"):
        handover.enqueue_due(services())
    flash(_("Stage set to %(stage)s.", stage=_stage_label(str(contact.stage))), "success")
    return redirect(url_for("contacts.show", contact_id=contact_id))


__all__ = ["bp", "contact_panel"]
