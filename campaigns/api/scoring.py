"""Lead scoring API: scoring rules (CRUD), triggers (CRUD: what a stage or score starts, a journey among them),
a contact's score history and stage timeline, and setting a contact's stage to SQL or customer (the hand-over
from the CRM side)."""

from __future__ import annotations

from typing import Any

from flask.typing import ResponseReturnValue
from sqlalchemy import select

from campaigns.api.core import ApiError, db_session, get_or_404, iso, keyset_page, operation
from campaigns.api.schemas import DATE_TIME, EVENT_NAME, ID, PAGING, SCHEMAS, line, name, nullable, ref, text
from campaigns.journeys import walk_entry
from campaigns.models import (
    Contact,
    Journey,
    RuleKind,
    ScoreTrigger,
    ScoringRule,
    Stage,
    StageChange,
    TriggerAction,
    TriggerWhen,
)
from campaigns.runtime import services
from campaigns.scoring import engine, rules, triggers
from campaigns.scoring import history as scoring_history
from campaigns.scoring.handover import enqueue_due

POINTS = {"type": "integer", "minimum": -rules.MAX_POINTS, "maximum": rules.MAX_POINTS}
RULE_FIELDS: dict[str, Any] = {
    "name": name(200),
    "kind": {"type": "string", "enum": [k.value for k in RuleKind],
             "description": "What the rule counts. Opens and clicks count human hits only."},
    "points": {**POINTS, "description": "Points per matching activity; negative for unsubscribes, bounces, inactivity."},
    "daily_cap": {"type": "integer", "minimum": 0, "maximum": rules.MAX_CAP, "default": 0,
                  "description": "At most this many entries per contact per UTC day; 0 = no cap."},
    "event_name": {"anyOf": [EVENT_NAME, {"type": "string", "maxLength": 0}],
                   "description": "custom_event: the event name sent to POST /events."},
    "property_key": line(100),
    "property_value": line(500),
    "link_url": {**line(2000), "description": "link_click: the exact URL, or a prefix ending in *."},
    "inactivity_days": {"type": "integer", "minimum": 0, "maximum": rules.MAX_IDLE_DAYS, "default": 0},
    "sets_mql": {"type": "boolean", "default": False, "description": "Firing makes the contact an MQL."},
    "active": {"type": "boolean", "default": True},
}

TRIGGER_FIELDS: dict[str, Any] = {
    "name": name(200),
    "when": {"type": "string", "enum": [w.value for w in TriggerWhen],
             "description": "stage: the contact enters `stage`; score: the score rises to `score_at` or above."},
    "stage": {"type": "string", "enum": ["", *(st.value for st in Stage)], "description": "when = stage."},
    "score_at": {"type": "integer", "minimum": 0, "maximum": 1_000_000, "description": "when = score: at least 1."},
    "action": {"type": "string", "enum": [a.value for a in TriggerAction],
               "description": "enroll: start a walk of `journey_id` (live journeys only: a paused, draft or archived "
               "one takes nobody; its own re-entry setting applies); exit: end the contact's walk there; email: "
               "notify `email_to`; webhook: a signed POST to `webhook_url`."},
    "journey_id": {**nullable(ID), "description": "enroll / exit: the journey (GET /journeys)."},
    "sequence_id": {**nullable(ID), "deprecated": True,
                    "description": "Deprecated: give `journey_id`. Still accepted: a sequence converted to a journey "
                    "is stored as that journey (the response has its `journey_id` and `sequence_id` null); a sequence "
                    "not converted is kept here."},
    "email_to": {**line(254), "description": "email: the sales address."},
    "webhook_url": {**line(2000), "description": "webhook: an http(s) URL."},
    "active": {"type": "boolean", "default": True},
}

SCHEMAS.update({
    "ScoreTriggerInput": {
        "type": "object", "required": ["name", "when", "action"], "properties": TRIGGER_FIELDS,
        "additionalProperties": False,
    },
    "ScoreTriggerUpdate": {
        "type": "object", "properties": TRIGGER_FIELDS, "additionalProperties": False, "minProperties": 1,
    },
    "ScoreTrigger": {
        "type": "object",
        "properties": {"id": ID, **TRIGGER_FIELDS, "journey_name": {"type": ["string", "null"]},
                       "journey_status": {"type": ["string", "null"],
                                          "description": "Only a live journey takes contacts."},
                       "created_at": DATE_TIME},
    },
    "ScoreTriggerPage": {
        "type": "object",
        "properties": {"data": {"type": "array", "items": ref("ScoreTrigger")}, "next_after": nullable(ID)},
    },
    "ScoringRuleInput": {
        "type": "object", "required": ["name", "kind", "points"], "properties": RULE_FIELDS,
        "additionalProperties": False,
    },
    "ScoringRuleUpdate": {
        "type": "object", "properties": RULE_FIELDS, "additionalProperties": False, "minProperties": 1,
    },
    "ScoringRule": {
        "type": "object",
        "properties": {"id": ID, **RULE_FIELDS, "entries": {"type": "integer"}, "created_at": DATE_TIME},
    },
    "ScoringRulePage": {
        "type": "object",
        "properties": {"data": {"type": "array", "items": ref("ScoringRule")}, "next_after": nullable(ID)},
    },
    "Deleted": {"type": "object", "properties": {"deleted": {"type": "boolean"}, "id": ID}},
    "StageInput": {
        "type": "object", "required": ["stage"],
        "properties": {
            "stage": {"type": "string", "enum": [Stage.MQL.value, Stage.SQL.value, Stage.CUSTOMER.value],
                      "description": "Stages set by hand; cold, warm and hot follow the score."},
            "note": {**text(2000), "description": "Why (stored in the timeline)."},
        },
        "additionalProperties": False,
    },
    "StageChange": {
        "type": "object",
        "properties": {
            "id": ID, "from_stage": {"type": "string"}, "to_stage": {"type": "string"}, "cause": {"type": "string"},
            "detail": {"type": "string"}, "changed_at": DATE_TIME,
        },
    },
    "ScoreEntry": {
        "type": "object",
        "properties": {
            "id": ID, "rule_id": ID, "rule": {"type": "string"}, "kind": {"type": "string"},
            "points": {"type": "integer"}, "source": {"type": "string"}, "source_ref": {"type": "string"},
            "occurred_at": DATE_TIME,
        },
    },
    "ContactScoring": {
        "type": "object",
        "properties": {
            "contact_id": ID, "score": {"type": "integer"}, "stage": {"type": "string"},
            "history": {"type": "array", "items": ref("ScoreEntry")},
            "timeline": {"type": "array", "items": ref("StageChange")},
        },
    },
})


def _rule_json(rule: ScoringRule, entries: int | None = None) -> dict[str, Any]:
    return {
        "id": rule.id, "name": rule.name, "kind": str(rule.kind), "points": rule.points, "daily_cap": rule.daily_cap,
        "event_name": rule.event_name, "property_key": rule.property_key, "property_value": rule.property_value,
        "link_url": rule.link_url, "inactivity_days": rule.inactivity_days, "sets_mql": rule.sets_mql,
        "active": rule.active, "entries": entries or 0, "created_at": iso(rule.created_at),
    }


def _change_json(change: StageChange) -> dict[str, Any]:
    return {"id": change.id, "from_stage": change.from_stage, "to_stage": change.to_stage, "cause": change.cause,
            "detail": change.detail, "changed_at": iso(change.changed_at)}


def _rejected(exc: ValueError) -> ApiError:
    return ApiError(422, "rejected", str(exc), {"body": str(exc)})


@operation(
    "/scoring/rules", "GET", tag="scoring", summary="List scoring rules", query=PAGING,
    responses={200: ("A page of rules", "ScoringRulePage")},
)
def list_scoring_rules(query: dict[str, Any]) -> ResponseReturnValue:
    """Rules in id order, with how many ledger entries each has written."""
    session = db_session()
    counts = rules.rule_counts(session)
    return keyset_page(session, select(ScoringRule), ScoringRule.id, query, lambda r: _rule_json(r, counts.get(r.id)))


@operation(
    "/scoring/rules", "POST", tag="scoring", body="ScoringRuleInput", summary="Create a scoring rule",
    description="The rule scores activity recorded from now on; entries already scored keep their points.",
    responses={201: ("Created", "ScoringRule")},
)
def create_scoring_rule(body: dict[str, Any]) -> ResponseReturnValue:
    """Create a rule through the scoring service (422 with the reason when it is not consistent)."""
    session = db_session()
    try:
        rule = rules.create_rule(session, body)
    except rules.ScoringError as exc:
        session.rollback()
        raise _rejected(exc) from None
    session.commit()
    return _rule_json(rule), 201


@operation(
    "/scoring/rules/{rule_id}", "GET", tag="scoring", summary="Read a scoring rule",
    responses={200: ("The rule", "ScoringRule")},
)
def get_scoring_rule(rule_id: int) -> ResponseReturnValue:
    """One rule."""
    session = db_session()
    rule = get_or_404(session, ScoringRule, rule_id, "scoring rule")
    return _rule_json(rule, rules.rule_counts(session).get(rule.id))


@operation(
    "/scoring/rules/{rule_id}", "PUT", tag="scoring", body="ScoringRuleUpdate", summary="Edit a scoring rule",
    description="Fields not given stay as they are. Ledger entries already written keep their points.",
    responses={200: ("The rule", "ScoringRule")},
)
def update_scoring_rule(rule_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """Apply the given fields."""
    session = db_session()
    rule = get_or_404(session, ScoringRule, rule_id, "scoring rule")
    try:
        rules.update_rule(session, rule, body)
    except rules.ScoringError as exc:
        session.rollback()
        raise _rejected(exc) from None
    session.commit()
    return _rule_json(rule, rules.rule_counts(session).get(rule.id))


@operation(
    "/scoring/rules/{rule_id}", "DELETE", tag="scoring", summary="Delete a scoring rule",
    description="Its ledger entries are removed and the scores they touched are recomputed.",
    responses={200: ("Deleted", "Deleted")},
)
def delete_scoring_rule(rule_id: int) -> ResponseReturnValue:
    """Delete the rule and its points."""
    session = db_session()
    rule = get_or_404(session, ScoringRule, rule_id, "scoring rule")
    engine.delete_rule(session, rule)
    session.commit()
    return {"deleted": True, "id": rule_id}


def _trigger_json(session: Any, trigger: ScoreTrigger) -> dict[str, Any]:
    journey_id, sequence_id = trigger.journey_id, trigger.sequence_id
    if sequence_id is not None and journey_id is None:  # a draft sequence activated since: shown as its journey
        target = walk_entry.chosen_target(session, f"sequence:{sequence_id}")
        if target is not None and target.journey_id is not None:
            journey_id, sequence_id = target.journey_id, None
    journey = session.get(Journey, journey_id) if journey_id else None
    return {
        "id": trigger.id, "name": trigger.name, "when": str(trigger.when), "stage": trigger.stage,
        "score_at": trigger.score_at, "action": str(trigger.action), "journey_id": journey_id,
        "sequence_id": sequence_id, "email_to": trigger.email_to, "webhook_url": trigger.webhook_url,
        "active": trigger.active, "journey_name": journey.name if journey else None,
        "journey_status": str(journey.status) if journey else None, "created_at": iso(trigger.created_at),
    }


def _trigger_fields(trigger: ScoreTrigger, body: dict[str, Any]) -> dict[str, Any]:
    """A PUT's body over the trigger's current fields; a new target replaces the old one whichever field held it."""
    fields: dict[str, Any] = {c: getattr(trigger, c) for c in (
        "name", "when", "stage", "score_at", "action", "journey_id", "sequence_id", "email_to", "webhook_url",
        "active")}
    if "journey_id" in body or "sequence_id" in body:
        fields["journey_id"] = fields["sequence_id"] = None
    return {**fields, **body}


@operation(
    "/scoring/triggers", "GET", tag="scoring", summary="List scoring triggers", query=PAGING,
    responses={200: ("A page of triggers", "ScoreTriggerPage")},
)
def list_score_triggers(query: dict[str, Any]) -> ResponseReturnValue:
    """Triggers in id order, each with its journey's name and status."""
    session = db_session()
    return keyset_page(session, select(ScoreTrigger), ScoreTrigger.id, query, lambda t: _trigger_json(session, t))


@operation(
    "/scoring/triggers", "POST", tag="scoring", body="ScoreTriggerInput", summary="Create a scoring trigger",
    description="An enroll or exit trigger names a journey (`journey_id`); `sequence_id` is deprecated (a converted "
    "sequence is stored as its journey). An unknown journey or sequence: 422 with the reason.",
    responses={201: ("Created", "ScoreTrigger")},
)
def create_score_trigger(body: dict[str, Any]) -> ResponseReturnValue:
    """Create a trigger through the scoring service."""
    session = db_session()
    try:
        trigger = triggers.create_trigger(session, body)
    except rules.ScoringError as exc:
        session.rollback()
        raise _rejected(exc) from None
    session.commit()
    return _trigger_json(session, trigger), 201


@operation(
    "/scoring/triggers/{trigger_id}", "GET", tag="scoring", summary="Read a scoring trigger",
    responses={200: ("The trigger", "ScoreTrigger")},
)
def get_score_trigger(trigger_id: int) -> ResponseReturnValue:
    """One trigger."""
    session = db_session()
    return _trigger_json(session, get_or_404(session, ScoreTrigger, trigger_id, "scoring trigger"))


@operation(
    "/scoring/triggers/{trigger_id}", "PUT", tag="scoring", body="ScoreTriggerUpdate", summary="Edit a scoring trigger",
    description="Fields not given stay as they are; `journey_id` (or the deprecated `sequence_id`) replaces the "
    "target. An unknown journey or sequence: 422 with the reason.",
    responses={200: ("The trigger", "ScoreTrigger")},
)
def update_score_trigger(trigger_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """Apply the given fields."""
    session = db_session()
    trigger = get_or_404(session, ScoreTrigger, trigger_id, "scoring trigger")
    try:
        triggers.update_trigger(session, trigger, _trigger_fields(trigger, body))
    except rules.ScoringError as exc:
        session.rollback()
        raise _rejected(exc) from None
    session.commit()
    return _trigger_json(session, trigger)


@operation(
    "/scoring/triggers/{trigger_id}", "DELETE", tag="scoring", summary="Delete a scoring trigger",
    description="Its hand-over deliveries stay in the log.", responses={200: ("Deleted", "Deleted")},
)
def delete_score_trigger(trigger_id: int) -> ResponseReturnValue:
    """Delete the trigger."""
    session = db_session()
    session.delete(get_or_404(session, ScoreTrigger, trigger_id, "scoring trigger"))
    session.commit()
    return {"deleted": True, "id": trigger_id}


def _contact_scoring(session: Any, contact: Contact) -> dict[str, Any]:
    history = scoring_history.score_history(session, contact.id)
    return {
        "contact_id": contact.id, "score": contact.score, "stage": str(contact.stage),
        "history": [{**h, "occurred_at": iso(h["occurred_at"])} for h in history],
        "timeline": [_change_json(c) for c in scoring_history.stage_timeline(session, contact.id)],
    }


@operation(
    "/contacts/{contact_id}/scoring", "GET", tag="scoring", summary="A contact's score history and stage timeline",
    description="`history`: the latest 200 ledger entries, newest first. `timeline`: every stage change, oldest first.",
    responses={200: ("Score, history and timeline", "ContactScoring")},
)
def get_contact_scoring(contact_id: int) -> ResponseReturnValue:
    """Score, ledger and stage changes of one contact."""
    session = db_session()
    return _contact_scoring(session, get_or_404(session, Contact, contact_id, "contact"))


@operation(
    "/contacts/{contact_id}/stage", "PUT", tag="scoring", body="StageInput",
    summary="Set a contact's stage (mql, sql or customer)",
    description="Recorded in the timeline with cause \"api\"; the stage's triggers fire (sequences, sales email, "
    "webhook). The score never moves a contact back out of these stages.",
    responses={200: ("Score, history and timeline", "ContactScoring")},
)
def set_contact_stage(contact_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """Set the stage, commit, then enqueue the hand-over deliveries the triggers created."""

    session = db_session()
    contact = get_or_404(session, Contact, contact_id, "contact")
    try:
        result = triggers.set_stage(session, contact, body["stage"], "api", body.get("note", ""))
    except rules.ScoringError as exc:
        session.rollback()
        raise _rejected(exc) from None
    session.commit()
    if result.counts.get("deliveries"):
        enqueue_due(services())
    return _contact_scoring(session, contact)
