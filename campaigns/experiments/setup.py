"""A/B test set-up: validate and create a test, plan advice, audience size, what a test holds."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.audience.segments import broadcast_audience
from campaigns.db import now_utc
from campaigns.delivery import rendering
from campaigns.experiments import stats
from campaigns.models import (
    ABKind,
    ABMetric,
    ABMode,
    ABStatus,
    ABTest,
    ABVariant,
    Broadcast,
    BroadcastStatus,
    Link,
    SequenceStatus,
    Step,
    Template,
    TemplateVersion,
)
from campaigns.models.ab import VARIANT_KEYS

ACTIVE_STATUSES = (ABStatus.DRAFT, ABStatus.TESTING, ABStatus.AWAITING_DECISION)

_SEND_LOCAL_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$")

MAX_WINDOW_HOURS = 24 * 30


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
    plan = stats.plan_test(baseline_rate, min_lift, variants, alpha, power)
    out: dict[str, Any] = {"per_variant": plan.sends_per_variant, "total": plan.sends_per_variant * variants,
                           "audience": audience, "enough": None, "message": "", "detectable_lift": None,
                           "available_per_variant": None}
    if audience is not None:
        advice = stats.audience_advice(plan, audience, test_portion)
        out.update(enough=advice.enough, message=advice.message, detectable_lift=advice.detectable_lift,
                   available_per_variant=advice.available_per_variant)
    else:
        out["message"] = (f"The test needs {plan.sends_per_variant:,} recipients per variant "
                          f"({plan.sends_per_variant * variants:,} in total).")
    return out


def broadcast_audience_size(session: Session, broadcast: Broadcast) -> int | None:
    """How many contacts the broadcast would go to now (None if its segment cannot be evaluated)."""

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
        fallback_e = stats.Fallback(fallback)
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
    if not 2 <= len(variants) <= stats.MAX_VARIANTS:
        raise ABError(f"a test has 2 to {stats.MAX_VARIANTS} variants", "variants")

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
        sequence = target.sequence
        if sequence is not None and sequence.status == SequenceStatus.CONVERTED:
            # Its mails go out from the journey's send node now: a step test there would get no sends.
            raise ABError("this sequence runs as a journey: set up the A/B test on its mail in the journey",
                          "step_id")
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

    plan = stats.plan_test(baseline_rate, min_lift, len(rows), alpha, power, fallback=fallback_e)
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
        resolve_versions(session, test, base_template)
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


def resolve_versions(session: Session, test: ABTest, base_template: Template) -> None:
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
