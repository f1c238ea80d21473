"""Scoring triggers: what a stage change or score starts (enrol, exit, notify sales, webhook), and manual stage changes.

An enrol or exit trigger names a journey (`journey_id`, migration 0022) or a sequence not converted to one
(`sequence_id`: a draft, reached as its journey once activated). Enrolling into a journey goes through
journeys.walk_entry.enrol_live: a walk at the live version's start node under the journey's own re-entry
rule; a paused, draft or archived journey takes nobody (logged; the trigger editor shows its status).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import (
    func,
    insert,
    select,
)
from sqlalchemy.orm import Session

from campaigns.addresses import is_valid_address
from campaigns.db import now_utc
from campaigns.journeys import sequences as sequences_service
from campaigns.journeys import walk_entry
from campaigns.models import (
    Contact,
    DeliveryState,
    Enrollment,
    EnrollmentStatus,
    Journey,
    ScoreTrigger,
    Sequence,
    Stage,
    StageChange,
    TriggerAction,
    TriggerWhen,
    WebhookDelivery,
)
from campaigns.scoring.handover import delivery_row, new_secret
from campaigns.scoring.rules import WEBHOOK_URL, ScoringError, clean_int, clean_line, core_table
from campaigns.scoring.stages import SALES_STAGES, STAGE_ORDER, ScoringResult
from campaigns.sql_functions import among

log = logging.getLogger(__name__)


# ------------------------------------------------------------------ stages set by people
def set_stage(
    session: Session, contact: Contact, stage: Stage | str, cause: str, detail: str = "", now: datetime | None = None,
) -> ScoringResult:
    """Set a contact's stage by hand (sales in the UI: cause "sales"; the API: cause "api"), record it and
    fire the stage's triggers. Only MQL, SQL and customer may be set this way."""
    try:
        target = Stage(str(stage))
    except ValueError:
        raise ScoringError("stage must be one of: " + ", ".join(s.value for s in Stage)) from None
    if target not in (Stage.MQL, *SALES_STAGES):
        raise ScoringError("only mql, sql and customer can be set by hand; cold, warm and hot follow the score")
    result = ScoringResult()
    if contact.stage is target:
        return result
    now = now or now_utc()
    change = {"contact_id": contact.id, "from_stage": contact.stage.value, "to_stage": target.value,
              "cause": cause[:50], "detail": detail[:2000], "changed_at": now}
    session.add(StageChange(**change))
    contact.stage = target
    session.flush()
    result.counts["stage_changes"] += 1
    triggers = list(session.scalars(select(ScoreTrigger).where(ScoreTrigger.active.is_(True))))
    fire_triggers(session, triggers, [change], [], now, result)
    return result


# ------------------------------------------------------------------ triggers
def clean_trigger(session: Session, fields: dict[str, Any]) -> dict[str, Any]:
    """Validate trigger fields (UI form, API) into column values, or raise ScoringError."""
    try:
        when = TriggerWhen(str(fields.get("when", "")))
        action = TriggerAction(str(fields.get("action", "")))
    except ValueError:
        raise ScoringError("choose when the trigger fires and what it does") from None
    out: dict[str, Any] = {
        "name": clean_line(fields.get("name"), "name", 200, required=True), "when": when, "action": action,
        "stage": "", "score_at": 0, "journey_id": None, "sequence_id": None, "email_to": "", "webhook_url": "",
        "active": bool(fields.get("active", True)),
    }
    if when is TriggerWhen.STAGE:
        stage = str(fields.get("stage") or "")
        if stage not in STAGE_ORDER:
            raise ScoringError("choose the stage that fires the trigger")
        out["stage"] = stage
    else:
        out["score_at"] = clean_int(fields.get("score_at"), "score threshold", 1, 1_000_000)
    if action in (TriggerAction.ENROLL, TriggerAction.EXIT):
        target = trigger_target(session, fields)
        out["journey_id"] = target.journey_id
        out["sequence_id"] = target.sequence_id if target.journey_id is None else None
    elif action is TriggerAction.EMAIL:

        address = clean_line(fields.get("email_to"), "sales address", 254, required=True)
        if not is_valid_address(address):
            raise ScoringError(f"{address!r} is not a valid email address")
        out["email_to"] = address
    else:
        url = clean_line(fields.get("webhook_url"), "webhook URL", 2000, required=True)
        if not WEBHOOK_URL.match(url):
            raise ScoringError("the webhook URL must start with http:// or https://")
        out["webhook_url"] = url
    return out


def trigger_target(session: Session, fields: dict[str, Any]) -> walk_entry.Choice:
    """The journey (or unconverted sequence) an enrol/exit trigger names: `target` ("journey:<id>" /
    "sequence:<id>", the editor's picker), `journey_id`, or the deprecated `sequence_id` (a converted
    sequence gives its journey); ScoringError when none is given or it does not exist."""
    key = ""
    if fields.get("target"):
        key = str(fields["target"])
    elif fields.get("journey_id") not in (None, ""):
        key = f"journey:{fields['journey_id']}"
    elif fields.get("sequence_id") not in (None, ""):
        key = f"sequence:{fields['sequence_id']}"
    if not key:
        raise ScoringError("choose the journey")
    target = walk_entry.chosen_target(session, key)
    if target is None:
        raise ScoringError("the chosen journey or sequence does not exist")
    return target


def create_trigger(session: Session, fields: dict[str, Any]) -> ScoreTrigger:
    """Add a trigger (UI, API); webhook triggers get their signing secret here."""

    trigger = ScoreTrigger(**clean_trigger(session, fields))
    if trigger.action is TriggerAction.WEBHOOK:
        trigger.webhook_secret = new_secret()
    session.add(trigger)
    session.flush()
    return trigger


def update_trigger(session: Session, trigger: ScoreTrigger, fields: dict[str, Any]) -> ScoreTrigger:
    """Change a trigger; a webhook trigger keeps its secret (or gets one when it becomes a webhook)."""

    for key, value in clean_trigger(session, fields).items():
        setattr(trigger, key, value)
    if trigger.action is TriggerAction.WEBHOOK and not trigger.webhook_secret:
        trigger.webhook_secret = new_secret()
    session.flush()
    return trigger


def fire_triggers(
    session: Session, triggers: list[ScoreTrigger], changes: list[dict[str, Any]],
    crossed: list[tuple[int, ScoreTrigger, int]], now: datetime, result: ScoringResult,
) -> None:
    """Run the triggers of these stage changes and score crossings (same transaction as the change)."""

    by_stage: dict[str, list[ScoreTrigger]] = defaultdict(list)
    for trigger in triggers:
        if trigger.when is TriggerWhen.STAGE:
            by_stage[trigger.stage].append(trigger)
    firings: list[tuple[ScoreTrigger, int, dict[str, Any]]] = []
    for change in changes:
        for trigger in by_stage.get(change["to_stage"], []):
            firings.append((trigger, change["contact_id"], {
                "type": "contact.stage_changed",
                "stage_change": {"from": change["from_stage"], "to": change["to_stage"], "cause": change["cause"],
                                 "detail": change["detail"], "changed_at": now.isoformat()},
            }))
    for contact_id, trigger, score in crossed:
        firings.append((trigger, contact_id, {"type": "contact.score_reached", "threshold": trigger.score_at,
                                              "score": score}))
    if not firings:
        return
    session.expire_all()  # scores and stages were just written with set-based UPDATEs
    wanted = sorted({f[1] for f in firings})
    contacts: dict[int, Contact] = {}
    for start in range(0, len(wanted), 5000):
        chunk = wanted[start:start + 5000]
        contacts.update((c.id, c) for c in session.scalars(select(Contact).where(among(session, Contact.id, chunk))))
    deliveries: list[dict[str, Any]] = []
    exits: dict[tuple[int, str], list[int]] = defaultdict(list)
    walks: dict[tuple[int, int], list[int]] = defaultdict(list)  # (journey, trigger): one INSERT .. SELECT each
    for trigger, contact_id, event in firings:
        contact = contacts.get(contact_id)
        if contact is None:
            continue
        result.counts[f"trigger_{trigger.action.value}"] += 1
        if trigger.action is TriggerAction.ENROLL and trigger.journey_id:
            walks[(trigger.journey_id, trigger.id)].append(contact.id)
        elif trigger.action is TriggerAction.ENROLL and trigger.sequence_id:
            sequence = session.get(Sequence, trigger.sequence_id)
            if sequence is not None and sequence_enrollable(sequence):
                sequences_service.enroll_contact(session, contact, sequence, source_event=f"trigger:{trigger.id}", now=now)
        elif trigger.action is TriggerAction.EXIT and trigger.journey_id:
            for_journey = f"trigger: {trigger.name}"[:200]
            sequences_service.exit_contact(session, contact.id, for_journey, journey_id=trigger.journey_id)
        elif trigger.action is TriggerAction.EXIT and trigger.sequence_id:
            exits[(trigger.sequence_id, f"trigger: {trigger.name}"[:200])].append(contact.id)
        elif trigger.action in (TriggerAction.EMAIL, TriggerAction.WEBHOOK):
            deliveries.append(delivery_row(trigger, contact, event, now))
    for (journey_id, trigger_id), contact_ids in walks.items():
        journey = session.get(Journey, journey_id)
        reason = walk_entry.refusal(session, journey)
        if journey is None or reason:
            log.info("trigger %s: %s, contacts not enrolled", trigger_id, reason)
            continue
        walk_entry.enrol_live(session, journey, contact_ids, f"trigger:{trigger_id}", now=now)
    for (sequence_id, reason), contact_ids in exits.items():
        enrollment_ids = list(session.scalars(select(Enrollment.id).where(
            Enrollment.sequence_id == sequence_id, among(session, Enrollment.contact_id, contact_ids),
            Enrollment.status == EnrollmentStatus.ACTIVE)))
        sequences_service.exit_enrollments(session, enrollment_ids, reason)
        sequence = session.get(Sequence, sequence_id)
        if sequence is not None and str(sequence.status) == "converted":
            # it runs as a journey: end the contacts' walks there (path log closed, queued mails cancelled)
            for contact_id in contact_ids:
                sequences_service.exit_contact(session, contact_id, reason, sequence_id=sequence_id)
    if deliveries:  # sent by enqueue_due after the commit, which finds them by state
        session.execute(insert(core_table(WebhookDelivery)), deliveries)
        result.counts["deliveries"] += len(deliveries)


def sequence_enrollable(sequence: Sequence) -> bool:
    """Triggers enrol only into active sequences (a paused or draft one would hold the contact silently)
    and converted ones (a trigger saved before migration 0022 and not yet mapped: enroll_contact maps it to
    its journey at enrol time)."""
    return str(sequence.status) in ("active", "converted")


def pending_deliveries(session: Session) -> int:
    """How many hand-over deliveries wait to be sent or retried (scoring page)."""
    return session.scalar(select(func.count()).select_from(WebhookDelivery).where(
        WebhookDelivery.state.in_((DeliveryState.PENDING, DeliveryState.RETRYING)))) or 0
