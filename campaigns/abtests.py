"""The A/B service: set up tests, split audiences, count human engagement per variant, decide, send the winner.

Request-free: the UI (campaigns.views.abtests), the API (campaigns.api.abtests) and the scheduler call it.
The statistics live in campaigns.ab (pure); this module feeds it counts from the ledger and the hits.

Broadcasts: when the scheduler starts a broadcast that carries a test, `start_broadcast_test` draws the
test portion at random (recorded in ab_assignments, split evenly) and plans only those sends, each with
its variant's template version and key (`Send.variant`). `tick` (every scheduler tick) plans send-time
variants when their local time comes, and decides once the last variant's window has closed; the rest
of the audience then gets the chosen variant. The send ledger is UNIQUE per (broadcast, contact), so
nobody in the test portion can be mailed twice.

Sequence steps: `split_step_rows` (called by the scheduler's step planner) gives each new send of a
tested step a variant by hash(test, contact), so a contact keeps its variant; after `test_days` new
sends get the control until the decision, which makes the winner the step's template.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, case, exists, func, insert, literal, select, text, update
from sqlalchemy.orm import Session

from campaigns import ab, rendering
from campaigns.db import UTCDateTime, dialect_insert, now_utc
from campaigns.models import (
    ABAssignment,
    ABKind,
    ABMetric,
    ABMode,
    ABStatus,
    ABTest,
    ABVariant,
    Broadcast,
    BroadcastStatus,
    Contact,
    Event,
    Link,
    Send,
    SendStatus,
    Step,
    Template,
    TemplateVersion,
)
from campaigns.models.ab import VARIANT_KEYS
from campaigns.models.tracking import EngagementRollup, Hit, HitClass, HitKind, RollupScope
from campaigns.runtime import Services
from campaigns.sequences import zone
from campaigns.users import get_account

log = logging.getLogger("nurture.abtests")

ACTIVE_STATUSES = (ABStatus.DRAFT, ABStatus.TESTING, ABStatus.AWAITING_DECISION)
_SEND_LOCAL_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$")
MAX_WINDOW_HOURS = 24 * 30
INSERT_CHUNK = 5000


class ABError(ValueError):
    """A test cannot be set up or acted on as asked; the message says why (shown to the user)."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


# ------------------------------------------------------------------ set-up
def _num(value: Any, what: str, low: float, high: float, *, integer: bool = False) -> Any:
    try:
        number = int(value) if integer else float(value)
    except (TypeError, ValueError):
        raise ABError(f"{what}: a number is required", what) from None
    if not low <= number <= high or number != number:
        raise ABError(f"{what}: must be between {low:g} and {high:g}", what)
    return number


def parse_send_local(value: str) -> datetime:
    """'YYYY-MM-DDTHH:MM' (a wall-clock time, no zone) as a naive datetime; raises ABError."""
    value = (value or "").strip()
    if not _SEND_LOCAL_RE.match(value):
        raise ABError("send time: use the form YYYY-MM-DDTHH:MM", "send_local")
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M")
    except ValueError:
        raise ABError(f"send time: {value} is not a valid date and time", "send_local") from None


def plan_advice(baseline_rate: float, min_lift: float, variants: int, audience: int | None,
                test_portion: float, alpha: float = 0.05, power: float = 0.8) -> dict[str, Any]:
    """The sample-size advice for the setup form (live and after submit): size per variant and a warning."""
    plan = ab.plan_test(baseline_rate, min_lift, variants, alpha, power)
    out: dict[str, Any] = {"per_variant": plan.sends_per_variant, "total": plan.sends_per_variant * variants,
                           "audience": audience, "enough": None, "message": "", "detectable_lift": None,
                           "available_per_variant": None}
    if audience is not None:
        advice = ab.audience_advice(plan, audience, test_portion)
        out.update(enough=advice.enough, message=advice.message, detectable_lift=advice.detectable_lift,
                   available_per_variant=advice.available_per_variant)
    else:
        out["message"] = (f"The test needs {plan.sends_per_variant:,} recipients per variant "
                          f"({plan.sends_per_variant * variants:,} in total).")
    return out


def broadcast_audience_size(session: Session, broadcast: Broadcast) -> int | None:
    """How many contacts the broadcast would go to now (None if its segment cannot be evaluated)."""
    from campaigns.scheduler import broadcast_audience

    query = broadcast_audience(session, broadcast, now_utc())
    if query is None:
        return None
    return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def create_test(
    session: Session, *, kind: str, variants: Sequence[dict[str, Any]], broadcast_id: int | None = None,
    step_id: int | None = None, metric: str = "open", goal_event: str = "", goal_days: int = 7,
    test_portion: float = 0.2, window_hours: int = 24, test_days: int = 14, fallback: str = "keep_control",
    mode: str = "auto", baseline_rate: float = 0.2, min_lift: float = 0.2, alpha: float = 0.05,
    power: float = 0.8, now: datetime | None = None,
) -> ABTest:
    """Validate and create a test on a draft/scheduled broadcast or on a step (UI, API); raises ABError.

    Step tests start at once (new sends of the step are split from now on); broadcast tests start with
    the broadcast."""
    now = now or now_utc()
    if (broadcast_id is None) == (step_id is None):
        raise ABError("a test belongs to exactly one broadcast or one sequence step", "target")
    try:
        kind_e = ABKind(kind)
    except ValueError:
        raise ABError(f"kind: one of {', '.join(k.value for k in ABKind)}", "kind") from None
    try:
        metric_e = ABMetric(metric)
    except ValueError:
        raise ABError(f"metric: one of {', '.join(m.value for m in ABMetric)}", "metric") from None
    try:
        fallback_e = ab.Fallback(fallback)
        mode_e = ABMode(mode)
    except ValueError:
        raise ABError("fallback or decision mode is not one of the offered choices", "fallback") from None
    goal_event = (goal_event or "").strip()
    if metric_e is ABMetric.GOAL and not goal_event:
        raise ABError("goal event: required for the goal metric", "goal_event")
    if len(goal_event) > 100:
        raise ABError("goal event: at most 100 characters", "goal_event")
    goal_days = _num(goal_days, "goal days", 1, 90, integer=True)
    test_portion = _num(test_portion, "test portion", 0.01, 1.0)
    window_hours = _num(window_hours, "test window", 1, MAX_WINDOW_HOURS, integer=True)
    test_days = _num(test_days, "test days", 1, 365, integer=True)
    baseline_rate = _num(baseline_rate, "baseline rate", 0.0001, 0.9999)
    min_lift = _num(min_lift, "minimum detectable lift", 0.001, 10.0)
    alpha = _num(alpha, "alpha", 0.001, 0.2)
    power = _num(power, "power", 0.5, 0.99)
    if not 2 <= len(variants) <= ab.MAX_VARIANTS:
        raise ABError(f"a test has 2 to {ab.MAX_VARIANTS} variants", "variants")

    target: Broadcast | Step | None
    if broadcast_id is not None:
        target = session.get(Broadcast, broadcast_id)
        if target is None:
            raise ABError(f"broadcast {broadcast_id} does not exist", "broadcast_id")
        if target.status not in (BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED):
            raise ABError(f"a {target.status} broadcast cannot get a test any more", "broadcast_id")
        active = select(ABTest.id).where(ABTest.broadcast_id == broadcast_id, ABTest.status.in_(ACTIVE_STATUSES))
    else:
        target = session.get(Step, step_id)
        if target is None or target.deleted:
            raise ABError(f"step {step_id} does not exist", "step_id")
        if kind_e is ABKind.SEND_TIME:
            raise ABError("send-time tests are for broadcasts; a step's timing is its delay and send window", "kind")
        active = select(ABTest.id).where(ABTest.step_id == step_id, ABTest.status.in_(ACTIVE_STATUSES))
    if session.scalar(active) is not None:
        raise ABError("there is already a test running on it: cancel or finish that one first", "target")
    base_template = session.get(Template, target.template_id)
    if base_template is None or base_template.current_version is None:
        raise ABError("its template has no saved version yet", "template")
    base = base_template.current_version

    rows: list[ABVariant] = []
    seen: set[Any] = set()
    for position, raw in enumerate(variants):
        if not isinstance(raw, dict):
            raise ABError(f"variant {position + 1}: must be an object", "variants")
        key = VARIANT_KEYS[position]
        v = ABVariant(position=position, key=key, label=str(raw.get("label") or "").strip()[:200])
        where = f"variant {key}"
        if kind_e in (ABKind.SUBJECT, ABKind.PREHEADER, ABKind.FROM_NAME):
            field = kind_e.value
            value = " ".join(str(raw.get(field) or "").split())
            if not value and position == 0:
                value = getattr(base, field)  # the control defaults to the template's own
            if not value and kind_e is not ABKind.PREHEADER:
                raise ABError(f"{where}: {field.replace('_', ' ')} is required", field)
            if len(value) > (200 if kind_e is ABKind.FROM_NAME else 998):
                raise ABError(f"{where}: {field.replace('_', ' ')} is too long", field)
            setattr(v, field, value)
            marker: Any = value
        elif kind_e is ABKind.CONTENT:
            raw_template = raw.get("template_id") or (target.template_id if position == 0 else None)
            try:
                template_id = int(str(raw_template))
            except (TypeError, ValueError):
                raise ABError(f"{where}: choose a template", "template_id") from None
            template = session.get(Template, template_id)
            if template is None or template.current_version_id is None:
                raise ABError(f"{where}: template {template_id} does not exist or has no saved version",
                              "template_id")
            v.template_id = template_id
            marker = template_id
        else:
            when = parse_send_local(str(raw.get("send_local") or ""))
            if when < now.replace(tzinfo=None) - timedelta(hours=14):  # earliest zone is UTC+14
                raise ABError(f"{where}: the send time {when:%Y-%m-%d %H:%M} has passed", "send_local")
            v.send_local = when.strftime("%Y-%m-%dT%H:%M")
            marker = v.send_local
        if marker in seen:
            raise ABError(f"{where}: the same as an earlier variant; variants must differ", "variants")
        seen.add(marker)
        if not v.label:
            v.label = _default_label(v, kind_e, session)
        rows.append(v)
    if kind_e is ABKind.SEND_TIME:
        times = sorted(parse_send_local(v.send_local) for v in rows)
        if times[-1] - times[0] > timedelta(days=14):
            raise ABError("send times: keep the variants within 14 days of each other", "send_local")

    plan = ab.plan_test(baseline_rate, min_lift, len(rows), alpha, power, fallback=fallback_e)
    test = ABTest(
        broadcast_id=broadcast_id, step_id=step_id, kind=kind_e, metric=metric_e, goal_event=goal_event,
        goal_days=goal_days, test_portion=test_portion if broadcast_id is not None else 1.0,
        window_hours=window_hours, test_days=test_days, fallback=fallback_e.value, mode=mode_e,
        status=ABStatus.DRAFT, baseline_rate=baseline_rate, min_lift=min_lift, alpha=alpha, power=power,
        planned_per_variant=plan.sends_per_variant, created_at=now, decision={},
    )
    test.variants = rows
    session.add(test)
    session.flush()
    if step_id is not None:
        _resolve_versions(session, test, base_template)
        test.status = ABStatus.TESTING
        test.started_at = now
    return test


def _default_label(v: ABVariant, kind: ABKind, session: Session) -> str:
    if kind is ABKind.CONTENT and v.template_id is not None:
        template = session.get(Template, v.template_id)
        return template.name[:200] if template else ""
    if kind is ABKind.SEND_TIME:
        return v.send_local.replace("T", " ")
    return str(getattr(v, kind.value) or "")[:200]


def cancel_test(session: Session, test: ABTest) -> None:
    """Cancel a test that has not been decided (UI, API); a started broadcast then gets the control."""
    if test.status not in ACTIVE_STATUSES:
        raise ABError(f"a {test.status} test cannot be cancelled")
    if test.status is ABStatus.DRAFT:
        test.status = ABStatus.CANCELLED
        session.flush()
        return
    # Started: cancelling means "stop testing, keep the control" without waiting for the windows.
    apply_winner(session, test, 0, decided_by="cancelled", now=now_utc(), reason="Test cancelled: keeping the control.")
    test.status = ABStatus.CANCELLED
    session.flush()


def _resolve_versions(session: Session, test: ABTest, base_template: Template) -> None:
    """Fix the template version each variant sends. Subject, preheader and sender-name variants get a
    copy of the template with that one field changed (their own template, so the winner can become a
    step's template without touching other users of the original)."""
    base = base_template.current_version
    assert base is not None
    untracked = list(session.scalars(
        select(Link.url).where(Link.template_version_id == base.id, Link.tracked.is_(False))
    ))
    for v in test.variants:
        if test.kind is ABKind.CONTENT:
            template = session.get(Template, v.template_id or base_template.id)
            assert template is not None and template.current_version_id is not None
            v.template_id = template.id
            v.template_version_id = template.current_version_id
            continue
        if test.kind is ABKind.SEND_TIME:
            v.template_id, v.template_version_id = base_template.id, base.id
            continue
        fields = {"subject": base.subject, "preheader": base.preheader, "from_name": base.from_name}
        fields[test.kind.value] = getattr(v, test.kind.value)
        if fields[test.kind.value] == getattr(base, test.kind.value):
            v.template_id, v.template_version_id = base_template.id, base.id
            continue
        try:
            copy = rendering.create_template(
                session, f"{base_template.name} · A/B #{test.id} {v.key}"[:200], html_source=base.html_source,
                text_source=base.text_source, untracked_urls=untracked, **fields,
            )
        except rendering.TemplateError as exc:
            raise ABError(f"variant {v.key}: {exc}", test.kind.value) from None
        copy.ab_test_id = test.id  # the test's own: kept out of template lists and pickers
        v.template_id = copy.id
        v.template_version_id = copy.current_version_id
    session.flush()


# ------------------------------------------------------------------ broadcasts: the test portion
def active_broadcast_test(session: Session, broadcast_id: int) -> ABTest | None:
    """The broadcast's test that has not finished or been cancelled, if any."""
    return session.scalar(select(ABTest).where(ABTest.broadcast_id == broadcast_id,
                                               ABTest.status.in_(ACTIVE_STATUSES)))


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
    _resolve_versions(session, test, base_template)
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


# ------------------------------------------------------------------ counting human engagement
def _plus_hours(dialect: str, column: Any, hours: float) -> Any:
    if dialect == "sqlite":
        return func.julianday(column) + hours / 24.0
    return column + literal(timedelta(hours=hours))


def _time(dialect: str, column: Any) -> Any:
    return func.julianday(column) if dialect == "sqlite" else column


def _hours_since(dialect: str, later: Any, earlier: Any) -> Any:
    if dialect == "sqlite":
        return func.cast((func.julianday(later) - func.julianday(earlier)) * 24, _Int())
    return func.floor(func.extract("epoch", later - earlier) / 3600)


def _Int() -> Any:
    from sqlalchemy import Integer

    return Integer()


def _scope(test: ABTest) -> Any:
    keys = [v.key for v in test.variants]
    column = Send.broadcast_id if test.broadcast_id is not None else Send.step_id
    target = test.broadcast_id if test.broadcast_id is not None else test.step_id
    return and_(column == target, Send.variant.in_(keys))


def window_hours(test: ABTest) -> int:
    """How long after each send its engagement counts: the test window, or the goal's days."""
    return test.goal_days * 24 if test.metric is ABMetric.GOAL else test.window_hours


def count_variants(session: Session, test: ABTest) -> dict[str, dict[str, int]]:
    """Per variant key: sends, delivered, and what the metric needs of human openers, human clickers and
    goal reachers (the others stay 0), each counted only within the window after that send's own
    delivery. One grouped query over the ledger, one over the hits (or events)."""
    dialect = session.get_bind().dialect.name
    hours = window_hours(test)
    end = _plus_hours(dialect, Send.sent_at, hours)
    out = {v.key: {"sends": 0, "delivered": 0, "opened": 0, "clicked": 0, "goal": 0} for v in test.variants}
    for key, status, n in session.execute(
        select(Send.variant, Send.status, func.count()).where(_scope(test)).group_by(Send.variant, Send.status)
    ):
        out[key]["sends"] += int(n)
        if status == SendStatus.SENT:
            out[key]["delivered"] += int(n)
    delivered = and_(_scope(test), Send.status == SendStatus.SENT)
    if dialect == "postgresql":
        # The per-send aggregation of a million-send test needs ~10 MB of hash table: the default 4 MB
        # spills it to disk. Local to this transaction.
        session.execute(text("SET LOCAL work_mem = '64MB'"))
    if test.metric is ABMetric.GOAL:
        reached = (
            select(Send.id.label("send_id"), Send.variant.label("variant"))
            .join(Event, and_(Event.contact_id == Send.contact_id, Event.name == test.goal_event))
            .where(delivered, Event.occurred_at >= Send.sent_at, _time(dialect, Event.occurred_at) < end)
            .group_by(Send.id, Send.variant).subquery()
        )
        for key, n in session.execute(select(reached.c.variant, func.count()).group_by(reached.c.variant)):
            out[key]["goal"] = int(n)
        return out
    if test.metric in (ABMetric.OPEN, ABMetric.CLICK):
        # One semi-join for the one number the metric needs: cheaper than aggregating every hit per
        # send (0.7 s against 1.1 s of database CPU for a million sends).
        field = "opened" if test.metric is ABMetric.OPEN else "clicked"
        human = [Hit.send_id == Send.id, Hit.classification == HitClass.HUMAN, _time(dialect, Hit.occurred_at) < end]
        if test.metric is ABMetric.CLICK:
            human.append(Hit.kind == HitKind.CLICK)
        for key, n in session.execute(
            select(Send.variant, func.count()).where(delivered, exists().where(*human)).group_by(Send.variant)
        ):
            out[key][field] = int(n)
        return out
    # Click-to-open needs both. A human click implies an open (as in the reports): openers are sends
    # with any human hit.
    per_send = (
        select(Send.variant.label("variant"),
               func.max(case((Hit.kind == HitKind.CLICK, 1), else_=0)).label("clicked"))
        .join(Hit, Hit.send_id == Send.id)
        .where(delivered, Hit.classification == HitClass.HUMAN, _time(dialect, Hit.occurred_at) < end)
        .group_by(Send.id, Send.variant).subquery()
    )
    for key, opened, clicked in session.execute(
        select(per_send.c.variant, func.count(), func.sum(per_send.c.clicked)).group_by(per_send.c.variant)
    ):
        out[key]["opened"] = int(opened)
        out[key]["clicked"] = int(clicked or 0)
    return out


def metric_counts(test: ABTest, counts: dict[str, dict[str, int]]) -> list[tuple[int, int]]:
    """(conversions, trials) per variant for the test's metric, in variant order."""
    out = []
    for v in test.variants:
        c = counts[v.key]
        if test.metric is ABMetric.OPEN:
            out.append((c["opened"], c["delivered"]))
        elif test.metric is ABMetric.CLICK:
            out.append((c["clicked"], c["delivered"]))
        elif test.metric is ABMetric.CLICK_TO_OPEN:
            out.append((c["clicked"], c["opened"]))
        else:
            out.append((c["goal"], c["delivered"]))
    return out


def _plan(test: ABTest) -> ab.TestPlan:
    return ab.TestPlan(variants=len(test.variants), sends_per_variant=max(1, test.planned_per_variant),
                       alpha=test.alpha, power=test.power, baseline_rate=test.baseline_rate,
                       min_detectable_lift=test.min_lift, control_index=0, fallback=ab.Fallback(test.fallback))


def variant_name(v: ABVariant) -> str:
    """How a variant is named in reasons and charts: 'A (label)'."""
    return f"{v.key} ({v.label})" if v.label else v.key


# ------------------------------------------------------------------ the deadline and the decision
def pending_test_sends(session: Session, test: ABTest) -> bool:
    """True while some test send is not delivered yet (or, for broadcasts, not even planned)."""
    if test.broadcast_id is not None and session.scalar(
        select(ABAssignment.contact_id).where(ABAssignment.test_id == test.id, ABAssignment.planned.is_(False))
        .limit(1)
    ) is not None:
        return True
    return session.scalar(
        select(Send.id).where(_scope(test), Send.status.in_([SendStatus.QUEUED, SendStatus.SENDING])).limit(1)
    ) is not None


def compute_deadline(session: Session, test: ABTest) -> datetime | None:
    """When the last variant's window closes: the last test send's delivery plus the window; None while
    test sends are still to go (or, for steps, while new sends are still being split)."""
    if test.status is not ABStatus.TESTING:
        return test.deadline_at
    if test.step_id is not None and test.split_closed_at is None:
        return None
    if pending_test_sends(session, test):
        return None
    last = session.scalar(select(func.max(Send.sent_at)).where(_scope(test), Send.status == SendStatus.SENT))
    base = last or test.split_closed_at or test.started_at or now_utc()
    return base + timedelta(hours=window_hours(test))


def expected_deadline(session: Session, test: ABTest, now: datetime) -> datetime:
    """The deadline if known, else the best estimate (for the 'decided at' line while running)."""
    if test.deadline_at is not None:
        return test.deadline_at
    start = test.started_at or now
    if test.step_id is not None:
        start = test.split_closed_at or (start + timedelta(days=test.test_days))
    elif test.kind is ABKind.SEND_TIME:
        last_due = session.scalar(select(func.max(ABAssignment.due_at)).where(ABAssignment.test_id == test.id))
        start = max(start, last_due or start)
    return max(start, now) + timedelta(hours=window_hours(test))


def evaluate(session: Session, test: ABTest, now: datetime,
             counts: dict[str, dict[str, int]] | None = None) -> tuple[ab.Decision, dict[str, dict[str, int]]]:
    """Run the statistics on the current counts (results page, API, the decision step)."""
    counts = counts if counts is not None else count_variants(session, test)
    deadline = test.deadline_at if test.deadline_at is not None and test.status is not ABStatus.DRAFT else None
    state = ab.NowState(now=now, deadline=deadline or expected_deadline(session, test, now))
    if deadline is None:  # the deadline is not fixed yet: the test is still running whatever the clock says
        state = ab.NowState(now=now, deadline=max(state.deadline, now + timedelta(seconds=1)))
    decision = ab.decide([variant_name(v) for v in test.variants], metric_counts(test, counts), _plan(test), state)
    return decision, counts


def decide_if_due(session: Session, test: ABTest, now: datetime) -> str:
    """The decision step for one testing test (tick): fix the deadline, and at it decide; auto mode sends
    the chosen variant, manual mode waits for the marketer. Returns what happened."""
    if test.status is not ABStatus.TESTING:
        return ""
    if test.step_id is not None and test.split_closed_at is None and test.started_at is not None \
            and now >= test.started_at + timedelta(days=test.test_days):
        test.split_closed_at = now
    if test.deadline_at is None:
        test.deadline_at = compute_deadline(session, test)
    if test.deadline_at is None or now < test.deadline_at:
        return ""
    decision, counts = evaluate(session, test, now)
    record = decision.to_dict()
    record["counts"] = counts
    record["evaluated_at"] = now.isoformat()
    test.decision = record
    if test.mode is ABMode.MANUAL:
        test.status = ABStatus.AWAITING_DECISION
        return "awaiting"
    assert decision.send_index is not None
    apply_winner(session, test, decision.send_index, decided_by="auto", now=now)
    return "decided"


def pick_winner(session: Session, test: ABTest, index: int, decided_by: str, now: datetime | None = None) -> ABTest:
    """The marketer's choice in manual mode (or an override while the decision waits); UI, API."""
    now = now or now_utc()
    if test.status not in (ABStatus.AWAITING_DECISION, ABStatus.TESTING):
        raise ABError(f"a {test.status} test cannot be decided")
    if not 0 <= index < len(test.variants):
        raise ABError(f"variant {index} does not exist", "variant")
    if test.status is ABStatus.TESTING:
        if test.mode is not ABMode.MANUAL:
            raise ABError("the test decides itself when the last window closes (automatic mode)")
        if pending_test_sends(session, test):
            raise ABError("the test portion is still being sent: wait until it is delivered")
        # Manual mode lets the marketer stop early; the record keeps the provisional numbers and says so.
        decision, counts = evaluate(session, test, now)
        record = decision.to_dict()
        record.update(counts=counts, evaluated_at=now.isoformat(), early=True)
        test.decision = record
    apply_winner(session, test, index, decided_by=decided_by, now=now)
    return test


def apply_winner(session: Session, test: ABTest, index: int, *, decided_by: str, now: datetime,
                 reason: str = "") -> None:
    """Record the chosen variant and act on it: a broadcast's rest gets it; a step takes its template."""
    variant = test.variants[index]
    test.winner_index = index
    test.decided_by = decided_by[:200]
    test.decided_at = now
    test.status = ABStatus.DECIDED
    record = dict(test.decision or {})
    record["chosen_index"] = index
    record["decided_by"] = test.decided_by
    if reason:
        record["override_reason"] = reason
    elif decided_by != "auto" and record.get("send_index") not in (None, index):
        record["override_reason"] = f"Chosen by {test.decided_by}: {variant_name(variant)}."
    test.decision = record
    if test.broadcast_id is not None:
        test.rest_planned = _send_rest(session, test, variant, now)
    elif test.step_id is not None and variant.template_id is not None:
        step = session.get(Step, test.step_id)
        if step is not None:
            step.template_id = variant.template_id
        if test.split_closed_at is None:
            test.split_closed_at = now
    session.flush()


def _send_rest(session: Session, test: ABTest, variant: ABVariant, now: datetime) -> int:
    """Plan the chosen variant for the audience outside the test portion (UNIQUE ledger: never twice)."""
    from campaigns.scheduler import broadcast_audience

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
        ABTest.status.in_([ABStatus.TESTING, ABStatus.AWAITING_DECISION]) | _rest_waiting(ABTest.id),
    )


def _rest_waiting(test_id: Any) -> Any:
    return exists().where(ABAssignment.test_id == test_id, ABAssignment.planned.is_(False))


def tick(svc: Services, now: datetime | None = None) -> Counter[str]:
    """The scheduler's A/B step: plan due send-time sends, fix deadlines, decide tests whose last window
    closed (auto mode also plans the rest). Each test in its own transaction."""
    now = now or now_utc()
    counts: Counter[str] = Counter()
    with svc.db.begin() as session:
        ids = list(session.scalars(select(ABTest.id).where(ABTest.status == ABStatus.TESTING)))
        ids += list(session.scalars(
            select(ABTest.id).where(ABTest.status == ABStatus.DECIDED, ABTest.kind == ABKind.SEND_TIME,
                                    _rest_waiting(ABTest.id))
        ))
    for test_id in ids:
        with svc.db.begin() as session:
            test = session.get(ABTest, test_id)
            if test is None:
                continue
            if test.broadcast_id is not None:
                broadcast = session.get(Broadcast, test.broadcast_id)
                if broadcast is None or broadcast.status is BroadcastStatus.CANCELLED:
                    # The marketer cancelled the broadcast: nothing more may go, test sends included.
                    session.execute(update(ABAssignment).where(ABAssignment.test_id == test.id,
                                                               ABAssignment.planned.is_(False))
                                    .values(planned=True).execution_options(synchronize_session=False))
                    test.status = ABStatus.CANCELLED
                    counts["ab_cancelled"] += 1
                    continue
            if test.status is ABStatus.TESTING:
                if test.broadcast_id is not None and test.kind is ABKind.SEND_TIME:
                    counts["ab_test_sends"] += plan_due_assignments(session, test, now)
                outcome = decide_if_due(session, test, now)
                if outcome:
                    counts[f"ab_{outcome}"] += 1
                    log.info("A/B test %s %s", test.id, outcome)
            if test.status is ABStatus.DECIDED and test.kind is ABKind.SEND_TIME:
                counts["ab_rest_sends"] += plan_rest_assignments(session, test, now)
    return Counter({k: v for k, v in counts.items() if v})


# ------------------------------------------------------------------ results (page and API)
def describe_variant(test: ABTest, v: ABVariant, session: Session) -> str:
    """What this variant changes, in words (results page, API)."""
    if test.kind is ABKind.CONTENT:
        template = session.get(Template, v.template_id) if v.template_id else None
        return template.name if template else ""
    if test.kind is ABKind.SEND_TIME:
        return v.send_local.replace("T", " ")
    return str(getattr(v, test.kind.value) or "")


def timeline(session: Session, test: ABTest) -> dict[str, Any]:
    """Hourly human engagement per variant (UTC buckets, from the roll-ups) for the timeline chart."""
    scope = RollupScope.BROADCAST if test.broadcast_id is not None else RollupScope.STEP
    scope_id = test.broadcast_id if test.broadcast_id is not None else test.step_id
    metric = "unique_open" if test.metric is ABMetric.OPEN else "unique_click"
    rows = session.execute(
        select(EngagementRollup.bucket, EngagementRollup.variant, func.sum(EngagementRollup.count))
        .where(EngagementRollup.scope == scope, EngagementRollup.scope_id == scope_id,
               EngagementRollup.link_id == 0, EngagementRollup.metric == metric,
               EngagementRollup.variant.in_([v.key for v in test.variants]))
        .group_by(EngagementRollup.bucket, EngagementRollup.variant)
    ).all()
    buckets = sorted({r[0] for r in rows})[-24 * 31:]
    index = {b: i for i, b in enumerate(buckets)}
    series = {v.key: [0] * len(buckets) for v in test.variants}
    for bucket, key, n in rows:
        if bucket in index:
            series[key][index[bucket]] += int(n or 0)
    return {"metric": metric, "labels": [b.strftime("%Y-%m-%d %H:00") for b in buckets], "series": series}


def aligned_curves(session: Session, test: ABTest,
                   counts: dict[str, dict[str, int]] | None = None) -> dict[str, Any]:
    """Cumulative conversion rate per variant by hours since each send (the equal-window comparison)."""
    dialect = session.get_bind().dialect.name
    hours = window_hours(test)
    end = _plus_hours(dialect, Send.sent_at, hours)
    delivered = and_(_scope(test), Send.status == SendStatus.SENT)
    if test.metric is ABMetric.GOAL:
        first = (
            select(Send.variant.label("variant"), Send.sent_at.label("sent_at"),
                   func.min(Event.occurred_at).label("at"))
            .join(Event, and_(Event.contact_id == Send.contact_id, Event.name == test.goal_event))
            .where(delivered, Event.occurred_at >= Send.sent_at, _time(dialect, Event.occurred_at) < end)
            .group_by(Send.id, Send.variant, Send.sent_at).subquery()
        )
    else:
        kinds = [HitKind.CLICK] if test.metric in (ABMetric.CLICK, ABMetric.CLICK_TO_OPEN) else [HitKind.OPEN, HitKind.CLICK]
        first = (
            select(Send.variant.label("variant"), Send.sent_at.label("sent_at"), func.min(Hit.occurred_at).label("at"))
            .join(Hit, Hit.send_id == Send.id)
            .where(delivered, Hit.classification == HitClass.HUMAN, Hit.kind.in_(kinds),
                   _time(dialect, Hit.occurred_at) < end)
            .group_by(Send.id, Send.variant, Send.sent_at).subquery()
        )
    offset = _hours_since(dialect, first.c.at, first.c.sent_at)
    step = max(1, hours // 48)  # at most ~48 points per curve
    raw: dict[str, list[int]] = {v.key: [0] * (hours // step + 1) for v in test.variants}
    for key, off, n in session.execute(select(first.c.variant, offset, func.count()).group_by(first.c.variant, offset)):
        slot = min(max(int(off or 0), 0) // step, len(raw[key]) - 1)
        raw[key][slot] += int(n)
    counts = counts or count_variants(session, test)
    denominators = {v.key: (counts[v.key]["opened"] if test.metric is ABMetric.CLICK_TO_OPEN
                            else counts[v.key]["delivered"]) for v in test.variants}
    curves = {}
    for key, slots in raw.items():
        total, acc = denominators[key], 0
        cum = []
        for n in slots:
            acc += n
            cum.append(acc / total if total else 0.0)
        curves[key] = cum
    return {"hours": [i * step for i in range(len(next(iter(raw.values()))))], "curves": curves,
            "window_hours": hours}


def results(session: Session, test: ABTest, now: datetime | None = None) -> dict[str, Any]:
    """Everything the results page and the API show, as JSON-ready data (the same numbers in both)."""
    now = now or now_utc()
    if test.status in (ABStatus.DECIDED, ABStatus.AWAITING_DECISION) and test.decision.get("variants"):
        # Frozen at the deadline: every window had closed, so counting again would give the same numbers.
        decision = dict(test.decision)
        counts = decision.get("counts") or count_variants(session, test)
        live = False
    else:
        evaluated, counts = evaluate(session, test, now)
        decision = evaluated.to_dict()
        live = True
    audience = None
    if test.broadcast_id is not None and test.status is ABStatus.DRAFT:
        broadcast = session.get(Broadcast, test.broadcast_id)
        audience = broadcast_audience_size(session, broadcast) if broadcast is not None else None
    advice = plan_advice(test.baseline_rate, test.min_lift, len(test.variants), audience, test.test_portion,
                         test.alpha, test.power)
    target: dict[str, Any]
    if test.broadcast_id is not None:
        b = session.get(Broadcast, test.broadcast_id)
        target = {"type": "broadcast", "id": test.broadcast_id, "name": b.name if b else ""}
    else:
        step = session.get(Step, test.step_id)
        target = {"type": "step", "id": test.step_id, "sequence_id": step.sequence_id if step else None,
                  "position": step.position if step else None}
    return {
        "id": test.id,
        "target": target,
        "kind": str(test.kind),
        "metric": str(test.metric),
        "goal_event": test.goal_event,
        "goal_days": test.goal_days,
        "window_hours": window_hours(test),
        "test_portion": test.test_portion,
        "test_days": test.test_days,
        "fallback": test.fallback,
        "mode": str(test.mode),
        "status": str(test.status),
        "planned_per_variant": test.planned_per_variant,
        "baseline_rate": test.baseline_rate,
        "min_lift": test.min_lift,
        "alpha": test.alpha,
        "power": test.power,
        "created_at": test.created_at.isoformat(),
        "started_at": test.started_at.isoformat() if test.started_at else None,
        "deadline_at": test.deadline_at.isoformat() if test.deadline_at else None,
        "expected_deadline": expected_deadline(session, test, now).isoformat(),
        "decided_at": test.decided_at.isoformat() if test.decided_at else None,
        "decided_by": test.decided_by,
        "winner_index": test.winner_index,
        "rest_planned": test.rest_planned,
        "variants": [
            {"index": v.position, "key": v.key, "label": v.label, "describes": describe_variant(test, v, session),
             "template_id": v.template_id, "template_version_id": v.template_version_id,
             "send_local": v.send_local or None, **counts[v.key]}
            for v in test.variants
        ],
        "decision": decision,
        "decision_is_live": live,
        "advice": advice,
        "timeline": timeline(session, test),
        "aligned": aligned_curves(session, test, counts),
    }


def tests_for(session: Session, *, broadcast_id: int | None = None, step_ids: Sequence[int] = ()) -> list[ABTest]:
    """Tests of a broadcast or of some steps, newest first (links on the broadcast and sequence pages)."""
    stmt = select(ABTest).order_by(ABTest.id.desc())
    if broadcast_id is not None:
        stmt = stmt.where(ABTest.broadcast_id == broadcast_id)
    else:
        stmt = stmt.where(ABTest.step_id.in_(list(step_ids)))
    return list(session.scalars(stmt))


def version_subject(session: Session, version_id: int | None) -> str:
    """The subject of a version (setup form hints)."""
    if version_id is None:
        return ""
    return session.scalar(select(TemplateVersion.subject).where(TemplateVersion.id == version_id)) or ""
