"""Journeys: the list and the canvas (a vertical flow chart edited in the browser), publishing with the impact
shown first, the status actions, duplicate, a test walk with the marketer's own address, manual enrolment,
and on a live journey each node's counts and rates and the contacts at a node.

The canvas is static/journeys.js: it edits the graph JSON (docs/journeys.md) in the page and posts it here;
every rule is checked on the server by campaigns.automation.graph (through the service), and a refusal comes
back as {"error": sentence in the user's language, "node": id} so the canvas can show it beside that node.
The page hands the script everything it shows (the graph, the settings, the pickers' options, the labels in
the user's language, the statistics) as one JSON block: the CSP allows no inline script.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns import queueing
from campaigns.archive import COPY_PATTERN, copy_name
from campaigns.audience.segments import segment_contact_ids
from campaigns.automation import report, service
from campaigns.automation.graph import GraphError, graph_problem, validate_settings
from campaigns.db import now_utc
from campaigns.delivery.rendering import selectable_templates
from campaigns.experiments.results import node_results
from campaigns.i18n import _
from campaigns.models import (
    ContactList,
    Form,
    Journey,
    JourneyEnrolment,
    JourneyEnrolmentStatus,
    JourneyStatus,
    ScoreTrigger,
    Segment,
    Stage,
)
from campaigns.runtime import services
from campaigns.views import confirm
from campaigns.views.builder_common import account_time, account_zone, install_filters
from campaigns.views.entry_words import entry_words, journey_entries
from campaigns.views.text_input import checks_own_text

bp = Blueprint("journeys", __name__, url_prefix="/journeys")
install_filters(bp)

MAX_NAME = 200
NODE_TYPES = {"send": "Send email", "wait": "Wait", "wait_for": "Wait for", "branch": "Branch (if / else)",
              "split": "Split (A/B paths)", "action": "Action", "end": "End"}
STATUS_LABELS = {JourneyStatus.DRAFT: "Draft", JourneyStatus.LIVE: "Live", JourneyStatus.PAUSED: "Paused",
                 JourneyStatus.ARCHIVED: "Archived"}


@bp.context_processor
def _status_label() -> dict[str, Any]:
    def status_label(status: Any) -> str:
        """A journey's status in words, in the user's language (list and canvas)."""
        return _(STATUS_LABELS.get(status, str(status)))

    return {"status_label": status_label}


def _journey_or_404(s: Session, journey_id: int) -> Journey:
    journey = s.get(Journey, journey_id)
    if journey is None:
        abort(404)
    return journey


def _message(exc: Exception) -> str:
    """A service's refusal (GraphError, JourneyError or another ValueError) in the user's language."""
    translated = getattr(exc, "translated", None)
    return str(translated(_)) if callable(translated) else _(str(exc))


def _error_json(exc: Exception, status: int = 422) -> Any:
    """A refused graph or action as the canvas shows it: the sentence in the user's language and the node."""
    return jsonify({"error": _message(exc), "node": getattr(exc, "node", None)}), status


# ------------------------------------------------------------------------------------------------ list


@bp.get("/")
def index() -> Any:
    s = services().db.session
    journeys = list(s.scalars(select(Journey).order_by(Journey.updated_at.desc(), Journey.id.desc())))
    active = dict(s.execute(
        select(JourneyEnrolment.journey_id, func.count())
        .where(JourneyEnrolment.status == JourneyEnrolmentStatus.ACTIVE)
        .group_by(JourneyEnrolment.journey_id)
    ).all())
    triggers = entry_words(s, journey_entries(s, journeys))
    return render_template("ui/journeys/index.html", journeys=journeys, active=active, triggers=triggers,
                           zone=account_zone().key)


@bp.route("/new", methods=["GET", "POST"])
@checks_own_text("name")
def new() -> Any:
    name, error = "", ""
    if request.method == "POST":
        name = request.form.get("name", "").strip()
        if not name:
            error = _("Give the journey a name.")
        elif len(name) > MAX_NAME:
            error = _("The name is too long (200 characters at most).")
        else:
            s = services().db.session
            try:
                journey = service.create_journey(s, name)
            except ValueError as exc:  # GraphError and JourneyError included
                s.rollback()
                error = _message(exc)
            else:
                s.commit()
                return redirect(url_for("journeys.show", journey_id=journey.id))
    return render_template("ui/journeys/new.html", name=name, error=error), 400 if error else 200


# ------------------------------------------------------------------------------------------------ canvas


def _options(s: Session, journey: Journey) -> dict[str, Any]:
    """What the side panel's pickers offer: templates, lists, forms, segments, stages, triggers, journeys."""
    def named(rows: Any) -> list[dict[str, Any]]:
        return [{"id": r.id, "name": r.name} for r in rows]

    return {
        "templates": named(selectable_templates(s)),
        "lists": named(s.scalars(select(ContactList).where(ContactList.archived_at.is_(None)).order_by(ContactList.name))),
        "forms": named(s.scalars(select(Form).where(Form.archived_at.is_(None)).order_by(Form.name))),
        "segments": named(s.scalars(select(Segment).where(Segment.archived_at.is_(None)).order_by(Segment.name))),
        "triggers": named(s.scalars(select(ScoreTrigger).order_by(ScoreTrigger.name))),
        "journeys": named(s.scalars(select(Journey).where(Journey.id != journey.id,
                                                          Journey.status != JourneyStatus.ARCHIVED)
                                    .order_by(Journey.name))),
        "stages": [{"id": st.value, "name": _(st.value)} for st in Stage],
    }


def _labels() -> dict[str, str]:
    """Every text the script shows, in the user's language (the canvas builds its DOM from these)."""
    words = {
        # node types, as the "+" menu offers them
        "type_send": "Send email", "type_wait": "Wait", "type_wait_for": "Wait for",
        "type_branch": "Branch (if / else)", "type_split": "Split (A/B paths)", "type_action": "Action",
        "type_end": "End",
        "add_node": "Add a step here", "choose_type": "What happens next?", "start": "Contacts enter",
        "journey_ends": "The journey ends here", "goes_to": "Then goes to", "delete": "Delete",
        "delete_confirm": "Delete this step?",
        "delete_subtree": "Delete this step and the %(n)s steps after it?",
        "end_only_last": "An End can only be added where a path ends.",
        "close": "Close", "name": "Name (optional)", "settings": "Entry, goal and exit",
        # exits
        "exit_next": "Next", "exit_happened": "It happened", "exit_timeout": "Timed out", "exit_else": "Everyone else",
        # send
        "template": "Template", "choose_template": "Choose a template", "no_templates": "You need a saved template first.",
        # wait
        "wait_how": "Wait", "wait_duration": "For a while", "wait_window": "Until a weekday and hour",
        "wait_date": "Until a date", "minutes": "minutes", "hours": "hours", "days": "days",
        "weekdays": "Days", "from_hour": "From (hour)", "to_hour": "Until (hour)",
        "date_attribute": "Date from the contact's attribute", "date_event": "Date from the triggering event's property",
        "offset_days": "Days before (-) or after (+)", "at_hour": "At (hour, contact's time zone)",
        "mon": "Mon", "tue": "Tue", "wed": "Wed", "thu": "Thu", "fri": "Fri", "sat": "Sat", "sun": "Sun",
        # wait for
        "until_kind": "Wait until", "until_event": "An event arrives", "until_open": "They open a mail",
        "until_click": "They click in a mail", "until_form": "They submit a form", "until_stage": "They reach a stage",
        "event_name": "Event name", "property": "Property (optional)", "value": "Value",
        "mail_node": "Which mail", "link_url": "Only this link (optional)", "form": "Form", "stage": "Stage",
        "timeout": "Stop waiting after",
        # branch
        "conditions": "Conditions (the first that matches wins)", "condition": "Condition", "label": "Label",
        "cond_opened": "Opened the previous mail", "cond_clicked": "Clicked the previous mail",
        "cond_rules": "Matches these rules", "add_condition": "Add a condition", "add_rule": "Add a rule",
        "remove": "Remove", "else_note": "Everyone else takes the \"Everyone else\" path.",
        "all_rules": "All of these", "any_rules": "Any of these",
        "field_company": "Company", "field_job_title": "Job title", "field_source": "Source", "field_stage": "Stage",
        "field_score": "Score", "field_email": "Email", "field_timezone": "Time zone",
        "field_attribute": "Attribute", "attribute_name": "Attribute name",
        "op_eq": "is", "op_neq": "is not", "op_contains": "contains", "op_starts_with": "starts with",
        "op_gt": "is more than", "op_lt": "is less than", "op_exists": "has a value",
        "rule_event": "Did an event", "within_days": "within (days)", "rule_list": "Is on the list",
        # split
        "paths": "Paths", "path": "Path", "percent": "%", "add_path": "Add a path",
        "percent_total": "The percentages add up to %(n)s, not 100.",
        "split_goal": "Goal to compare the paths on",
        "split_goal_none": "The journey's goal", "split_goal_event": "An event",
        # action
        "action_kind": "Action", "act_set_attribute": "Set an attribute", "act_add_to_list": "Add to a list",
        "act_remove_from_list": "Remove from a list", "act_add_score": "Add score points",
        "act_set_stage": "Set the stage", "act_notify_sales": "Notify sales", "act_webhook": "Call a webhook",
        "act_enrol_journey": "Enrol in another journey", "act_suppress": "Stop marketing mail (sunset)",
        "suppress_hint": "The contact goes on the suppression list with the reason “sunset”: no broadcast, sequence or "
                         "journey mail reaches them any more. You can lift it on the suppression list.",
        "list": "List", "points": "Points",
        "trigger": "Hand-over", "url": "Address (https://...)", "journey": "Journey", "key": "Attribute name",
        # settings
        "entry": "Contacts enter when", "add_trigger": "Add a trigger", "entry_none": "Only when you enrol them yourself.",
        "entry_event": "An event arrives", "entry_form": "They submit a form", "entry_segment": "They join a segment",
        "entry_list": "They are added to a list", "entry_stage": "They reach a stage", "entry_date": "A date comes",
        "segment": "Segment", "reentry": "A contact may go through this journey again",
        "goal": "Goal (ends the journey as converted)", "goal_none": "No goal",
        "goal_event": "An event arrives", "goal_form": "They submit a form", "goal_stage": "They reach a stage",
        "goal_segment": "They join a segment",
        "exit": "Contacts leave when", "exit_events": "One of these events arrives (separate with commas)",
        "exit_stages": "They reach one of these stages", "exit_segment": "Segment",
        "exit_segment_in": "They are in this segment", "exit_segment_out": "They leave this segment",
        "no_segment": "No segment", "max_visits": "Times a contact may enter the same step (loops)",
        "always_exit": "Unsubscribes, bounces and suppressed addresses always leave the journey.",
        # client-side checks
        "need_template": "Choose a template.", "need_event": "Give the event name.", "need_mail": "Choose a mail.",
        "need_list": "Choose a list.", "need_form": "Choose a form.", "need_journey": "Choose a journey.",
        "need_trigger": "Choose a hand-over.", "need_url": "Give an address starting with http:// or https://.",
        "need_points": "Give a number of points other than 0.", "need_key": "Give the attribute name.",
        "need_number": "Give a whole number of at least 1.", "need_segment": "Choose a segment.",
        "need_days": "Pick at least one day.", "need_hours": "The window must start before it ends (hours 0-24).",
        "need_condition": "Add at least one condition.",
        # saving and publishing
        "save": "Save draft", "saving": "Saving…", "saved": "Draft saved.", "unsaved": "Unsaved changes",
        "checking": "Checking…", "valid": "No problems found.", "problem": "Problem",
        "publish": "Publish", "publish_title": "Publish this version",
        "publish_nothing_moves": "Every contact now in the journey stays where they are.",
        "publish_removed": "These steps are removed. Choose where their contacts go:",
        "publish_contacts": "%(n)s contacts", "move_exit": "Leave the journey", "move_to": "Move to",
        "publish_confirm": "Publish", "cancel": "Cancel", "published": "Published.",
        "network": "The server could not be reached. Try again.",
        # statistics
        "now": "Now", "passed": "Passed", "reached_goal": "Reached the goal", "sent": "Sent", "open_rate": "Opened", "click_rate": "Clicked",
        "took": "took this path", "human_only": "Only people count: machine opens and link scanners are left out.",
        "goal_rate": "Goal rate", "chance_best": "Chance to be best", "counted": "counted",
        "planned": "planned per path: %(n)s", "contacts_here": "Contacts at this step",
        "no_contacts_here": "Nobody is at this step now.", "entered": "Arrived", "waiting": "waiting",
        "test_walk": "test", "more": "More", "new_node": "New in this draft",
        "decision_running": "Still collecting: the paths are compared once each has the planned number of contacts.",
        "decision_winner": "Path %(name)s wins.", "decision_none": "No path is clearly better.",
        "interval": "95% interval",
        # A/B test of a send node
        "ab_on": "Test variants of this mail (A/B test)",
        "ab_hint": "Send different versions of this mail to shares of the contacts; the better one then goes to "
                   "everyone after them.",
        "ab_variants": "Variants (A is the mail above)", "ab_variant": "Variant %(key)s",
        "ab_share": "Share of contacts for variant %(key)s", "ab_add": "Add a variant",
        "ab_metric": "The winner is the variant with more", "ab_metric_open": "Opens (people only)",
        "ab_metric_click": "Clicks (people only)",
        "ab_days": "Split new contacts for at most (days)", "ab_per_variant": "…or until each variant has (mails)",
        "ab_auto": "recommended", "ab_window": "Count opens and clicks for (hours after each mail)",
        "ab_winner": "After the test", "ab_winner_auto": "Send the winner to everyone after",
        "ab_winner_manual": "I choose the winner myself",
        "ab_need_two": "An A/B test needs at least two variants.", "ab_need_template": "Choose a template for each variant.",
        "ab_short": "A/B test",
        "ab_running": "Testing: the split goes on until each variant has %(n)s mails or the days are up.",
        "ab_waiting": "Split closed: waiting for the last opens and clicks, then the statistics decide.",
        "ab_awaiting": "Decided by the statistics: waiting for you to choose the winner.",
        "ab_decided": "Variant %(name)s goes to everyone from now on.", "ab_stopped": "Stopped.",
        "ab_results": "See the A/B test results",
    }
    return {key: _(text) for key, text in words.items()}


def _page_data(s: Session, journey: Journey) -> dict[str, Any]:
    stats = None
    live_graph = None
    if journey.live_version_id is not None:
        stats = _stats(s, journey)
        live_graph, _version = report.journey_graph(s, journey)
    return {
        "journey": {"id": journey.id, "name": journey.name, "status": str(journey.status)},
        "graph": journey.draft_graph or {"start": "", "nodes": [], "edges": [], "layout": {}},
        "settings": journey.settings or {},
        "live_nodes": [n.get("id") for n in (live_graph or {}).get("nodes", [])],
        "options": _options(s, journey),
        "labels": _labels(),
        "stats": stats,
        "editable": journey.status != JourneyStatus.ARCHIVED,
        "urls": {
            "save": url_for("journeys.save", journey_id=journey.id),
            "check": url_for("journeys.check", journey_id=journey.id),
            "impact": url_for("journeys.impact", journey_id=journey.id),
            "publish": url_for("journeys.publish", journey_id=journey.id),
            "stats": url_for("journeys.stats_json", journey_id=journey.id),
            "contacts": url_for("journeys.contacts_json", journey_id=journey.id, node_key="__node__"),
            "show": url_for("journeys.show", journey_id=journey.id),
        },
    }


@bp.get("/<int:journey_id>")
def show(journey_id: int) -> Any:
    s = services().db.session
    journey = _journey_or_404(s, journey_id)
    segments = list(s.scalars(select(Segment).where(Segment.archived_at.is_(None)).order_by(Segment.name)))
    return render_template("ui/journeys/show.html", journey=journey, data=_page_data(s, journey),
                           segments=segments, zone=account_zone().key, user_email=g.user.email)


def _posted_json() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400)
    return body


@bp.post("/<int:journey_id>/check")
def check(journey_id: int) -> Any:
    """The canvas's validation as you edit: the first rule the graph breaks, nothing saved."""
    s = services().db.session
    journey = _journey_or_404(s, journey_id)
    body = _posted_json()
    problem = graph_problem(s, body.get("graph"), journey_id=journey.id, allow_empty=True)
    if problem is None and "settings" in body:
        try:
            validate_settings(s, body.get("settings"))
        except GraphError as exc:
            problem = exc
    if problem is not None:
        return _error_json(problem, 200)
    return jsonify({"ok": True})


@bp.post("/<int:journey_id>/draft")
def save(journey_id: int) -> Any:
    """Save the draft graph, settings and name (the canvas's Save); refused with the node named."""
    s = services().db.session
    journey = _journey_or_404(s, journey_id)
    if journey.status == JourneyStatus.ARCHIVED:
        return jsonify({"error": _("An archived journey cannot be edited. Duplicate it instead."), "node": None}), 409
    body = _posted_json()
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_NAME):
        return jsonify({"error": _("Give the journey a name (200 characters at most)."), "node": None}), 422
    try:
        service.update_draft(s, journey, graph=body.get("graph"), settings=body.get("settings"),
                             name=name.strip() if isinstance(name, str) else None)
    except ValueError as exc:  # GraphError and JourneyError included
        s.rollback()
        return _error_json(exc)
    s.commit()
    return jsonify({"ok": True, "updated_at": account_time(journey.updated_at), "zone": account_zone().key})


@bp.get("/<int:journey_id>/impact.json")
def impact(journey_id: int) -> Any:
    """What publishing the draft would do to contacts at removed nodes (shown before the publish button)."""
    s = services().db.session
    journey = _journey_or_404(s, journey_id)
    found = service.publish_impact(s, journey, journey.draft_graph or {})
    live, _version = report.journey_graph(s, journey) if journey.live_version_id else ({}, None)
    old = {n.get("id"): n for n in live.get("nodes", []) if isinstance(n, dict)}

    def described(key: str) -> str:
        node = old.get(key, {})
        kind = _(NODE_TYPES.get(str(node.get("type", "")), "Step"))
        return f"{node['name']} ({kind})" if node.get("name") else f"{kind} {key}"

    return jsonify({"removed": [{"node": key, "name": described(key), "count": n} for key, n in found.items()]})


@bp.post("/<int:journey_id>/publish")
def publish(journey_id: int) -> Any:
    """Publish the draft as a new version, moving contacts at removed nodes where the publisher chose."""
    s = services().db.session
    journey = _journey_or_404(s, journey_id)
    body = _posted_json()
    moves = body.get("moves") or {}
    if not isinstance(moves, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in moves.items()):
        return jsonify({"error": _("Choose where the contacts of each removed step go."), "node": None}), 422
    try:
        service.publish(s, journey, moves=moves, published_by=g.user.email)
    except ValueError as exc:  # GraphError and JourneyError included
        s.rollback()
        return _error_json(exc)
    s.commit()
    flash(_("Journey published."), "success")
    return jsonify({"ok": True, "redirect": url_for("journeys.show", journey_id=journey.id)})


@bp.post("/<int:journey_id>/status")
def change_status(journey_id: int) -> Any:
    s = services().db.session
    journey = _journey_or_404(s, journey_id)
    wanted = request.form.get("action", "")
    actions: dict[str, tuple[Callable[[Session, Journey], Any], str]] = {"pause": (service.pause, _("Journey paused.")), "resume": (service.resume, _("Journey resumed.")),
               "archive": (service.archive, _("Journey archived."))}
    if wanted not in actions:
        flash(_("Unknown action."), "error")
        return redirect(url_for("journeys.show", journey_id=journey.id))
    action, done = actions[wanted]
    try:
        action(s, journey)
    except ValueError as exc:  # GraphError and JourneyError included
        s.rollback()
        flash(_message(exc), "error")
    else:
        s.commit()
        flash(done, "success")
    return redirect(url_for("journeys.show", journey_id=journey.id))


@bp.post("/<int:journey_id>/duplicate")
def duplicate(journey_id: int) -> Any:
    s = services().db.session
    journey = _journey_or_404(s, journey_id)
    try:
        copy = service.duplicate(s, journey, copy_name(journey.name, _(COPY_PATTERN), MAX_NAME))
    except ValueError as exc:
        s.rollback()
        flash(_message(exc), "error")
        return redirect(url_for("journeys.show", journey_id=journey.id))
    s.commit()
    flash(_("Journey duplicated: the copy is a draft."), "success")
    return redirect(url_for("journeys.show", journey_id=copy.id))


@bp.post("/<int:journey_id>/test")
def test_walk(journey_id: int) -> Any:
    """Walk the journey with the marketer's own address, waits shortened (before going live)."""
    s = services().db.session
    journey = _journey_or_404(s, journey_id)
    try:
        service.start_test(s, journey, g.user.email)
    except ValueError as exc:  # GraphError and JourneyError included
        s.rollback()
        flash(_message(exc), "error")
    else:
        s.commit()
        flash(_("Test started: %(email)s walks the journey with waits shortened.", email=g.user.email), "success")
    return redirect(url_for("journeys.show", journey_id=journey.id))


@bp.post("/<int:journey_id>/enrol")
def enrol(journey_id: int) -> Any:
    """Enrol a segment's contacts in a live journey, after the confirmation of who; a large segment is enrolled
    by the worker (jobs.enrol_journey_segment) after the commit."""
    s = services().db.session
    journey = _journey_or_404(s, journey_id)
    back = url_for("journeys.show", journey_id=journey.id)
    choice = request.form.get("segment", "")
    segment = s.get(Segment, int(choice)) if choice.isdigit() else None
    if segment is None:
        flash(_("Choose a segment."), "error")
        return redirect(back)
    if journey.status != JourneyStatus.LIVE:
        flash(_("Publish the journey before you enrol contacts."), "error")
        return redirect(back)
    ids = segment_contact_ids(dict(segment.rules or {}))
    count = confirm.count_of(s, ids)
    gate = confirm.gate(confirm.Confirmation(
        title=_("Enrol contacts in “%(name)s”", name=journey.name),
        action=_("Enrol %(n)s contacts", n=f"{count:,}"),
        count=count, sample=confirm.sample_of(s, ids), when=None,
        when_text=_("Each contact starts at the first step now; mails follow the journey's steps."),
        details=[(_("Segment"), segment.name)],
        back_url=back,
    ))
    if gate is not None:
        return gate
    if count > service.INLINE_SEGMENT_LIMIT:
        s.commit()
        queueing.enqueue_journey_segment_enrolment(services().queue, journey.id, segment.id)
        flash(_("Enrolling %(total)s contacts in the background.", total=f"{count:,}"), "success")
        return redirect(back)
    try:
        enrolled = service.enrol_segment(s, journey, segment.id)
    except ValueError as exc:
        s.rollback()
        flash(_message(exc), "error")
    else:
        s.commit()
        flash(_("Enrolled %(n)s of %(total)s contacts.", n=f"{enrolled:,}", total=f"{count:,}"), "success")
    return redirect(back)


# ------------------------------------------------------------------------------------------ live figures


@bp.get("/<int:journey_id>/stats.json")
def stats_json(journey_id: int) -> Any:
    """Per-node counts and rates (the canvas refreshes them)."""
    s = services().db.session
    journey = _journey_or_404(s, journey_id)
    return jsonify(_stats(s, journey))


def _stats(s: Session, journey: Journey) -> dict[str, Any]:
    """The report's per-node figures, plus each send node's A/B test as the A/B statistics see it (with a link
    to its results page)."""
    out = dict(report.journey_stats(s, journey))
    tests = node_results(s, journey.id, now_utc())
    for figures in tests.values():
        figures["url"] = url_for("abtests.show", test_id=figures["test_id"])
    out["ab"] = tests
    return out


@bp.get("/<int:journey_id>/nodes/<node_key>/contacts.json")
def contacts_json(journey_id: int, node_key: str) -> Any:
    """The contacts at a node now, one page, with links to their pages (the canvas's side panel)."""
    s = services().db.session
    journey = _journey_or_404(s, journey_id)
    page = request.args.get("page", "1")
    # "²" is a digit to str.isdigit and 10**30 overflows the database's integers: ASCII, and a sane size only
    number = int(page) if page.isascii() and page.isdigit() and len(page) <= 6 else 1
    found = report.node_contacts(s, journey, node_key[:40], number)
    for c in found["contacts"]:
        c["url"] = url_for("contacts.show", contact_id=c["id"])
        c["name"] = " ".join(p for p in (c.pop("last_name"), c.pop("first_name")) if p)
        c["entered_at"] = account_time(c["entered_at"])
        c["due_at"] = account_time(c["due_at"]) if c["due_at"] else ""
    found["zone"] = account_zone().key
    return jsonify(found)
