"""Action nodes, applied to a batch of walks in the batch's transaction (nodes.run_node calls `run_action`).

Each action goes through the module that owns the thing it changes, so its usual record is kept:
- set_attribute: the contacts' attributes (one value, merged into the JSON);
- add_to_list / remove_from_list: campaigns.audience.lists;
- add_score: an event `journey_points` {action: "<journey>:<node>"} per contact, scored by a scoring rule
  of that journey node (created on first use, named after the journey and node, points as on the node):
  the score ledger then says why the points came, decay and recomputes treat them like any other points,
  and the event's id makes the ledger entry unique;
- set_stage: campaigns.scoring.triggers.set_stage (cause "journey"; the stage's triggers fire);
- notify_sales: a hand-over delivery of the chosen trigger (its sales email or signed webhook);
- webhook: a signed POST through the hand-over deliveries; the signing secret is that of a hand-over
  trigger kept per journey node (inactive, so it never fires on its own; created on first use);
- enrol_journey: walks.enrol into the other journey's live version (nothing when it is not live).

Walks of a batch are locked by it and written once, so an action runs once per visit of a node.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, insert, select, text
from sqlalchemy.orm import Session

from campaigns.audience.lists import add_to_list
from campaigns.automation.batch import Batch, JourneyBroken
from campaigns.automation.walks import Plan, Walk, enrol, live_journeys, load_plans
from campaigns.models import (
    Contact,
    ContactListMember,
    Event,
    RuleKind,
    ScoreTrigger,
    ScoringRule,
    TriggerAction,
    TriggerWhen,
)
from campaigns.scoring.handover import create_delivery, new_secret
from campaigns.scoring.rules import ScoringError
from campaigns.scoring.triggers import set_stage
from campaigns.sql_functions import among, pg_array

_PG_EVENTS = (
    "INSERT INTO events (contact_id, name, source, occurred_at, created_at, properties)"
    " SELECT c, :name, 'journey', :now, :now, CAST(p AS jsonb)"
    " FROM unnest(CAST(:contact AS integer[]), CAST(:properties AS text[])) AS t(c, p)"
)
SCORE_EVENT = "journey_points"
SCORE_PROPERTY = "action"


def run_action(batch: Batch, plan: Plan, action: dict[str, Any], walks: list[Walk]) -> None:
    """Apply one action node to these walks (all active, at the node)."""
    kind = action.get("kind")
    handler = _ACTIONS.get(str(kind))
    if handler is None:
        raise JourneyBroken(f"unknown action {kind!r}")
    handler(batch, plan, action, walks)
    batch.counts[f"action_{kind}"] += len(walks)


def _contacts(session: Session, walks: list[Walk]) -> dict[int, Contact]:
    ids = sorted({w.contact_id for w in walks})
    return {c.id: c for c in session.scalars(select(Contact).where(among(session, Contact.id, ids)))}


def _set_attribute(batch: Batch, plan: Plan, action: dict[str, Any], walks: list[Walk]) -> None:
    key, value = str(action["key"]), action.get("value")
    for contact in _contacts(batch.session, walks).values():
        contact.attributes = {**(contact.attributes or {}), key: value}
        contact.updated_at = batch.now
    batch.session.flush()


def _add_to_list(batch: Batch, plan: Plan, action: dict[str, Any], walks: list[Walk]) -> None:
    add_to_list(batch.session, int(action["list_id"]), sorted({w.contact_id for w in walks}))


def _remove_from_list(batch: Batch, plan: Plan, action: dict[str, Any], walks: list[Walk]) -> None:
    session = batch.session
    session.execute(delete(ContactListMember).where(
        ContactListMember.list_id == int(action["list_id"]),
        among(session, ContactListMember.contact_id, sorted({w.contact_id for w in walks}))))


def score_rule(session: Session, plan: Plan, node_key: str, points: int) -> ScoringRule:
    """The scoring rule that gives a journey node's points (created on first use, points kept current)."""
    ref = f"{plan.journey_id}:{node_key}"
    rule = session.scalar(select(ScoringRule).where(
        ScoringRule.kind == RuleKind.CUSTOM_EVENT, ScoringRule.event_name == SCORE_EVENT,
        ScoringRule.property_key == SCORE_PROPERTY, ScoringRule.property_value == ref).limit(1))
    name = f"Journey “{plan.journey_name}”: {_node_name(plan, node_key)}"[:200]
    if rule is None:
        rule = ScoringRule(name=name, kind=RuleKind.CUSTOM_EVENT, event_name=SCORE_EVENT,
                           property_key=SCORE_PROPERTY, property_value=ref, points=points, active=True)
        session.add(rule)
    elif rule.points != points:
        rule.points = points
    session.flush()
    return rule


def _node_name(plan: Plan, node_key: str) -> str:
    node = plan.node(node_key)
    return node.name if node is not None and node.name else node_key


def _add_score(batch: Batch, plan: Plan, action: dict[str, Any], walks: list[Walk]) -> None:
    node_key = walks[0].node_key
    score_rule(batch.session, plan, node_key, int(action["points"]))
    ref = f"{plan.journey_id}:{node_key}"
    rows = [{"contact_id": w.contact_id, "name": SCORE_EVENT, "source": "journey", "occurred_at": batch.now,
             "created_at": batch.now,
             "properties": {SCORE_PROPERTY: ref, "journey_id": plan.journey_id, "node": node_key, "walk_id": w.id}}
            for w in walks]
    if batch.postgres:  # one statement of arrays: executemany of JSON rows cost ~0.3 ms a row
        batch.session.execute(text(_PG_EVENTS), {
            "contact": pg_array([r["contact_id"] for r in rows]), "name": SCORE_EVENT, "now": batch.now,
            "properties": pg_array([json.dumps(r["properties"]) for r in rows])})
    else:
        batch.session.execute(insert(Event), rows)


def _set_stage(batch: Batch, plan: Plan, action: dict[str, Any], walks: list[Walk]) -> None:
    for contact in _contacts(batch.session, walks).values():
        try:
            set_stage(batch.session, contact, str(action["stage"]), "journey", plan.journey_name, now=batch.now)
        except ScoringError:
            batch.counts["stage_not_set"] += 1  # cold / warm / hot follow the score; the validator refuses them


def _notify_sales(batch: Batch, plan: Plan, action: dict[str, Any], walks: list[Walk]) -> None:
    trigger = batch.session.get(ScoreTrigger, int(action["trigger_id"]))
    if trigger is None or trigger.action not in (TriggerAction.EMAIL, TriggerAction.WEBHOOK):
        raise JourneyBroken(f"hand-over trigger {action.get('trigger_id')} is gone")
    _deliver(batch, plan, trigger, walks)


def _webhook(batch: Batch, plan: Plan, action: dict[str, Any], walks: list[Walk]) -> None:
    node_key = walks[0].node_key
    url = str(action["url"])
    name = f"Journey “{plan.journey_name}”: {_node_name(plan, node_key)}"[:200]
    session = batch.session
    trigger = session.scalar(select(ScoreTrigger).where(
        ScoreTrigger.action == TriggerAction.WEBHOOK, ScoreTrigger.active.is_(False),
        ScoreTrigger.name == name).limit(1))
    if trigger is None:
        trigger = ScoreTrigger(name=name, when=TriggerWhen.STAGE, stage="", action=TriggerAction.WEBHOOK,
                               webhook_url=url, webhook_secret=new_secret(), active=False)
        session.add(trigger)
    trigger.webhook_url = url
    session.flush()
    _deliver(batch, plan, trigger, walks)


def _deliver(batch: Batch, plan: Plan, trigger: ScoreTrigger, walks: list[Walk]) -> None:
    contacts = _contacts(batch.session, walks)
    for w in walks:
        contact = contacts.get(w.contact_id)
        if contact is None:
            continue
        create_delivery(batch.session, trigger, contact, {
            "type": "journey.action", "journey": {"id": plan.journey_id, "name": plan.journey_name,
                                                  "node": w.node_key, "walk_id": w.id}}, batch.now)
        batch.deliveries += 1


def _enrol_journey(batch: Batch, plan: Plan, action: dict[str, Any], walks: list[Walk]) -> None:
    target = int(action["journey_id"])
    version_id = live_journeys(batch.session).get(target)
    if version_id is None:
        batch.counts["enrol_not_live"] += len(walks)
        return
    other = load_plans(batch.session, [version_id]).get(version_id)
    if other is None:
        return
    new = enrol(batch.session, other, [w.contact_id for w in walks], batch.now,
                source=f"journey:{plan.journey_id}", contexts={w.contact_id: w.context for w in walks})
    batch.counts["enrolled_by_action"] += len(new)


_ACTIONS = {
    "set_attribute": _set_attribute, "add_to_list": _add_to_list, "remove_from_list": _remove_from_list,
    "add_score": _add_score, "set_stage": _set_stage, "notify_sales": _notify_sales, "webhook": _webhook,
    "enrol_journey": _enrol_journey,
}
