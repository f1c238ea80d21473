"""Action nodes, applied to a batch of walks in the batch's transaction (nodes.run_node calls `run_action`).

Each action goes through the module that owns the thing it changes, so its usual record is kept:
- set_attribute: the contacts' attributes (one value, merged into the JSON);
- add_to_list / remove_from_list: campaigns.audience.lists;
- add_score: a score ledger entry per walk and visit without a scoring rule (source "journey", cause
  naming the journey and node), so nothing appears on the marketer's rule list; the next scoring run claims
  the entries and refreshes those scores (stages and score triggers follow), decay treats them like any
  other points, and a recompute keeps them (they are facts, not derived from events by rules);
- set_stage: campaigns.scoring.triggers.set_stage (cause "journey"; the stage's triggers fire);
- notify_sales: a hand-over delivery of the chosen trigger (its sales email or signed webhook);
- webhook: a signed POST through the hand-over deliveries (retries, the delivery log), signed with the
  journey's own secret (journeys.webhook_secret, made on first use), no hand-over trigger involved;
- enrol_journey: walk_entry.enrol_version into the other journey's live version (nothing when it is not live);
- suppress: the contacts' addresses on the suppression list with the reason (campaigns.suppression, e.g.
  "sunset": no more marketing mail from any broadcast, sequence or journey; the status stays active, the
  marketer can take it back on the suppression page); later send nodes of the same walk stop at once.

Walks of a batch are locked by it and written once, so an action runs once per visit of a node.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, text
from sqlalchemy.orm import Session

from campaigns.audience.lists import add_to_list
from campaigns.automation.batch import Batch, JourneyBroken
from campaigns.automation.walks import Plan, Walk, live_journeys, load_plans
from campaigns.db import dialect_insert
from campaigns.journeys import walk_entry
from campaigns.models import (
    Contact,
    ContactListMember,
    Journey,
    ScoreEntry,
    ScoreTrigger,
    TriggerAction,
    WebhookDelivery,
)
from campaigns.scoring.handover import create_delivery, journey_delivery_row, new_secret
from campaigns.scoring.rules import ScoringError
from campaigns.scoring.triggers import set_stage
from campaigns.sql_functions import among, pg_array
from campaigns.suppression import SUNSET, suppress_contacts

SCORE_SOURCE = "journey"
_PG_POINTS = (
    "INSERT INTO score_entries (contact_id, rule_id, points, source, source_ref, cause, occurred_at, created_at, batch)"
    " SELECT c, NULL, :points, 'journey', r, :cause, :now, :now, 0"
    " FROM unnest(CAST(:contact AS integer[]), CAST(:ref AS varchar[])) AS t(c, r)"
    " ON CONFLICT DO NOTHING"
)


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


def _cause(plan: Plan, node_key: str) -> str:
    """The journey and node in words (a score entry's cause; stays as it was when the points were given)."""
    return f"“{plan.journey_name}” › {_node_name(plan, node_key)}"[:200]


def _node_name(plan: Plan, node_key: str) -> str:
    node = plan.node(node_key)
    return node.name if node is not None and node.name else node_key


def _add_score(batch: Batch, plan: Plan, action: dict[str, Any], walks: list[Walk]) -> None:
    node_key = walks[0].node_key
    points, cause = int(action["points"]), _cause(plan, node_key)
    refs = [f"{w.id}:{node_key}:{w.visit}" for w in walks]  # one entry per visit (UNIQUE among rule-less entries)
    if batch.postgres:
        batch.session.execute(text(_PG_POINTS), {
            "contact": pg_array([w.contact_id for w in walks]), "ref": pg_array(refs), "points": points,
            "cause": cause, "now": batch.now})
        return
    batch.session.execute(
        dialect_insert(batch.session, ScoreEntry).on_conflict_do_nothing(),
        [{"contact_id": w.contact_id, "rule_id": None, "points": points, "source": SCORE_SOURCE, "source_ref": ref,
          "cause": cause, "occurred_at": batch.now, "created_at": batch.now, "batch": 0}
         for w, ref in zip(walks, refs, strict=True)])


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
    session = batch.session
    journey = session.get(Journey, plan.journey_id)
    if journey is None:
        raise JourneyBroken(f"journey {plan.journey_id} is gone")
    if not journey.webhook_secret:
        journey.webhook_secret = new_secret()
    url = str(action["url"])
    contacts = _contacts(session, walks)
    rows = [journey_delivery_row(plan.journey_id, url, contacts[w.contact_id], _payload(plan, w), batch.now)
            for w in walks if w.contact_id in contacts]
    if rows:
        session.execute(insert(WebhookDelivery), rows)
    batch.deliveries += len(rows)


def _payload(plan: Plan, w: Walk) -> dict[str, Any]:
    return {"type": "journey.action", "journey": {"id": plan.journey_id, "name": plan.journey_name,
                                                  "node": w.node_key, "walk_id": w.id}}


def _deliver(batch: Batch, plan: Plan, trigger: ScoreTrigger, walks: list[Walk]) -> None:
    contacts = _contacts(batch.session, walks)
    for w in walks:
        contact = contacts.get(w.contact_id)
        if contact is None:
            continue
        create_delivery(batch.session, trigger, contact, _payload(plan, w), batch.now)
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
    # walks that share a context (most: none) start together, each context stored with its own walks
    by_context: dict[str, list[Walk]] = {}
    for w in walks:
        by_context.setdefault(w.context_json, []).append(w)
    for group in by_context.values():
        new = walk_entry.enrol_version(
            batch.session, other.journey_id, other.version_id, other.graph.start, [w.contact_id for w in group],
            source=f"journey:{plan.journey_id}", reentry=bool(other.settings.get("reentry", False)), now=batch.now,
            context=group[0].context)
        batch.counts["enrolled_by_action"] += len(new)


def _suppress(batch: Batch, plan: Plan, action: dict[str, Any], walks: list[Walk]) -> None:
    reason = str(action.get("reason") or SUNSET)
    node = plan.node(walks[0].node_key)
    # the journey and step by their names (shown as the entry's note on the suppression list, in any language)
    detail = f"“{plan.journey_name}” › {(node.name if node is not None else '') or walks[0].node_key}"[:500]
    batch.counts["suppressed"] += suppress_contacts(batch.session, [w.contact_id for w in walks], reason, detail)
    for w in walks:
        w.suppressed = True  # a send node later in this pass ends the walk instead of mailing


_ACTIONS = {
    "set_attribute": _set_attribute, "add_to_list": _add_to_list, "remove_from_list": _remove_from_list,
    "add_score": _add_score, "set_stage": _set_stage, "notify_sales": _notify_sales, "webhook": _webhook,
    "enrol_journey": _enrol_journey, "suppress": _suppress,
}
