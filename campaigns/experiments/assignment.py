"""A/B assignment: which contacts get which variant, and the planned sends for the test portion and the rest."""

from __future__ import annotations

import hashlib
import random
from collections import Counter, defaultdict
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, case, exists, func, insert, literal, select, update
from sqlalchemy.orm import Session

from campaigns.audience.segments import broadcast_audience
from campaigns.db import UTCDateTime, dialect_insert
from campaigns.experiments.setup import parse_send_local, resolve_versions
from campaigns.models import (
    ABAssignment,
    ABKind,
    ABStatus,
    ABTest,
    ABVariant,
    Broadcast,
    BroadcastStatus,
    Contact,
    Send,
    SendStatus,
    Template,
)
from campaigns.timezones import zone
from campaigns.users import get_account

INSERT_CHUNK = 5000


def start_broadcast_test(session: Session, broadcast: Broadcast, audience: Any, now: datetime,
                         counts: Counter[str]) -> bool:
    """Called by the scheduler as it starts a broadcast: if it has a draft test, plan the test portion only
    and return True (the scheduler then leaves the broadcast alone); else False."""
    test = session.scalar(select(ABTest).where(ABTest.broadcast_id == broadcast.id,
                                               ABTest.status == ABStatus.DRAFT))
    if test is None:
        return False
    base_template = session.get(Template, broadcast.template_id)
    assert base_template is not None
    resolve_versions(session, test, base_template)
    ids = list(session.scalars(audience))
    rng = random.SystemRandom()
    rng.shuffle(ids)
    k = len(test.variants)
    portion = ids[: int(len(ids) * test.test_portion)]
    if len(portion) < k:
        portion = ids[:k]  # a tiny audience still gets one of each where possible
    due = _due_times(session, test, portion, now)
    rows = [{"test_id": test.id, "contact_id": cid, "position": i % k, "due_at": due[cid][i % k], "planned": False}
            for i, cid in enumerate(portion)]
    for start in range(0, len(rows), INSERT_CHUNK):
        session.execute(insert(ABAssignment), rows[start : start + INSERT_CHUNK])
    test.status = ABStatus.TESTING
    test.started_at = now
    planned = plan_due_assignments(session, test, now)
    broadcast.status = BroadcastStatus.SENDING
    broadcast.started_at = now
    broadcast.options = {**(broadcast.options or {}), "planned": planned, "ab_test_id": test.id,
                         "ab_test_portion": len(portion)}
    counts["ab_test_sends"] += planned
    counts["broadcasts_started"] += 1
    session.flush()
    return True


def _due_times(session: Session, test: ABTest, contact_ids: list[int], now: datetime) -> dict[int, list[datetime]]:
    """Per contact, when each variant's send is due: now, or for send-time tests the variant's wall-clock
    time in the contact's time zone (the account's when the contact has none)."""
    k = len(test.variants)
    if test.kind is not ABKind.SEND_TIME:
        return defaultdict(lambda: [now] * k)
    fallback = get_account(session).timezone
    local = [parse_send_local(v.send_local) for v in test.variants]
    zones: dict[int, str | None] = {}
    for start in range(0, len(contact_ids), INSERT_CHUNK):
        chunk = contact_ids[start : start + INSERT_CHUNK]
        zones.update(session.execute(select(Contact.id, Contact.timezone).where(Contact.id.in_(chunk))).all())
    by_zone: dict[str, list[datetime]] = {}
    out: dict[int, list[datetime]] = {}
    for cid in contact_ids:
        name = zones.get(cid) or fallback
        if name not in by_zone:
            tz = zone(name, fallback)
            by_zone[name] = [max(now, t.replace(tzinfo=tz).astimezone(now.tzinfo)) for t in local]
        out[cid] = by_zone[name]
    return out


def plan_due_assignments(session: Session, test: ABTest, now: datetime) -> int:
    """Write the sends of due test-portion assignments (each with its variant's version and key);
    returns how many. enqueued_at stays empty, so the scheduler's enqueue step picks them up."""
    positions = [v.position for v in test.variants]
    versions = case({v.position: v.template_version_id for v in test.variants}, value=ABAssignment.position)
    keys = case({v.position: v.key for v in test.variants}, value=ABAssignment.position)
    due = and_(ABAssignment.test_id == test.id, ABAssignment.planned.is_(False), ABAssignment.due_at <= now,
               ABAssignment.position.in_(positions))
    before = _count_sends(session, test.broadcast_id)
    stmt = _insert_sends(session).from_select(
        ["contact_id", "broadcast_id", "template_version_id", "variant", "status", "attempts",
         "possible_duplicate", "error", "created_at"],
        select(ABAssignment.contact_id, literal(test.broadcast_id), versions, keys,
               literal(SendStatus.QUEUED.value), literal(0), literal(False), literal(""),
               literal(now, type_=UTCDateTime())).where(due),
    ).on_conflict_do_nothing()
    session.execute(stmt)
    session.execute(update(ABAssignment).where(due).values(planned=True).execution_options(synchronize_session=False))
    return _count_sends(session, test.broadcast_id) - before


def _count_sends(session: Session, broadcast_id: int | None) -> int:
    return int(session.scalar(select(func.count()).select_from(Send).where(Send.broadcast_id == broadcast_id)) or 0)


def _insert_sends(session: Session) -> Any:
    return dialect_insert(session, Send)


# ------------------------------------------------------------------ sequence steps
def variant_position(test_id: int, contact_id: int, variants: int) -> int:
    """Deterministic variant of a contact in a step test: hash(test, contact), stable across re-entries."""
    digest = hashlib.sha256(f"ab:{test_id}:{contact_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % variants


def split_step_rows(session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give the planned sends of tested steps their variant and version (the scheduler's step planner
    calls this before writing a chunk); other rows get variant ''."""
    for r in rows:
        r.setdefault("variant", "")
    step_ids = {r["step_id"] for r in rows if r.get("step_id")}
    if not step_ids:
        return rows
    tests = session.scalars(
        select(ABTest).where(ABTest.step_id.in_(step_ids), ABTest.status == ABStatus.TESTING,
                             ABTest.split_closed_at.is_(None))
    ).all()
    if not tests:
        return rows
    by_step = {t.step_id: (t.id, [(v.key, v.template_version_id) for v in t.variants]) for t in tests}
    for r in rows:
        found = by_step.get(r.get("step_id"))
        if found is None:
            continue
        test_id, variants = found
        key, version_id = variants[variant_position(test_id, r["contact_id"], len(variants))]
        if version_id is not None:
            r["variant"], r["template_version_id"] = key, version_id
    return rows


def send_rest(session: Session, test: ABTest, variant: ABVariant, now: datetime) -> int:
    """Plan the chosen variant for the audience outside the test portion (UNIQUE ledger: never twice)."""

    broadcast = session.get(Broadcast, test.broadcast_id)
    if broadcast is None or broadcast.status in (BroadcastStatus.CANCELLED,):
        return 0
    if variant.template_version_id is None:  # cancelled before start
        return 0
    audience = broadcast_audience(session, broadcast, now)
    if audience is None:
        return 0
    ids = audience.where(~exists().where(Send.broadcast_id == broadcast.id, Send.contact_id == Contact.id))
    before = _count_sends(session, broadcast.id)
    if test.kind is ABKind.SEND_TIME:
        # The winning wall-clock time at its next occurrence in each contact's zone.
        rest = list(session.scalars(ids))
        when = parse_send_local(variant.send_local)
        fallback = get_account(session).timezone
        zones: dict[int, str | None] = {}
        for start in range(0, len(rest), INSERT_CHUNK):
            zones.update(session.execute(select(Contact.id, Contact.timezone)
                                         .where(Contact.id.in_(rest[start : start + INSERT_CHUNK]))).all())
        rows = []
        cache: dict[str, datetime] = {}
        for cid in rest:
            name = zones.get(cid) or fallback
            if name not in cache:
                tz = zone(name, fallback)
                local_now = now.astimezone(tz)
                due = datetime.combine(local_now.date(), time(when.hour, when.minute), tzinfo=tz)
                if due < local_now:
                    due += timedelta(days=1)
                cache[name] = max(now, datetime.combine(when.date(), when.time(), tzinfo=tz), due)
            rows.append({"test_id": test.id, "contact_id": cid, "position": 100 + variant.position,
                         "due_at": cache[name], "planned": False})
        for start in range(0, len(rows), INSERT_CHUNK):
            session.execute(insert(ABAssignment), rows[start : start + INSERT_CHUNK])
        return len(rows)
    session.execute(
        _insert_sends(session).from_select(
            ["contact_id", "broadcast_id", "template_version_id", "variant", "status", "attempts",
             "possible_duplicate", "error", "created_at"],
            select(ids.subquery().c.id, literal(broadcast.id), literal(variant.template_version_id), literal(""),
                   literal(SendStatus.QUEUED.value), literal(0), literal(False), literal(""),
                   literal(now, type_=UTCDateTime())).where(literal(True)),
        ).on_conflict_do_nothing()
    )
    planned = _count_sends(session, broadcast.id) - before
    broadcast.status = BroadcastStatus.SENDING
    broadcast.options = {**(broadcast.options or {}), "ab_rest_planned": planned}
    return planned


def plan_rest_assignments(session: Session, test: ABTest, now: datetime) -> int:
    """Send-time tests: write the rest's sends as each contact's winning local time comes (tick)."""
    if test.winner_index is None:
        return 0
    variant = test.variants[test.winner_index]
    due = and_(ABAssignment.test_id == test.id, ABAssignment.planned.is_(False), ABAssignment.due_at <= now,
               ABAssignment.position >= 100)
    before = _count_sends(session, test.broadcast_id)
    session.execute(
        _insert_sends(session).from_select(
            ["contact_id", "broadcast_id", "template_version_id", "variant", "status", "attempts",
             "possible_duplicate", "error", "created_at"],
            select(ABAssignment.contact_id, literal(test.broadcast_id), literal(variant.template_version_id),
                   literal(""), literal(SendStatus.QUEUED.value), literal(0), literal(False), literal(""),
                   literal(now, type_=UTCDateTime())).where(due),
        ).on_conflict_do_nothing()
    )
    session.execute(update(ABAssignment).where(due).values(planned=True).execution_options(synchronize_session=False))
    planned = _count_sends(session, test.broadcast_id) - before
    if planned:
        broadcast = session.get(Broadcast, test.broadcast_id)
        if broadcast is not None and broadcast.status is BroadcastStatus.SENT:
            broadcast.status = BroadcastStatus.SENDING
    return planned


def holds_broadcast(broadcast_id_column: Any) -> Any:
    """SQL condition: the broadcast waits for its test, or for send-time sends still to be written
    (the scheduler must not mark it sent yet)."""
    return exists().where(
        ABTest.broadcast_id == broadcast_id_column,
        ABTest.status.in_([ABStatus.TESTING, ABStatus.AWAITING_DECISION]) | rest_waiting(ABTest.id),
    )


def rest_waiting(test_id: Any) -> Any:
    return exists().where(ABAssignment.test_id == test_id, ABAssignment.planned.is_(False))
