"""A/B decision: deadlines, the decision at the planned horizon, the winner applied to the rest; the scheduler's tick."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from campaigns.db import now_utc
from campaigns.experiments import stats
from campaigns.experiments.assignment import (
    plan_due_assignments,
    plan_rest_assignments,
    rest_waiting,
    send_rest,
)
from campaigns.experiments.counting import (
    count_variants,
    metric_counts,
    pending_test_sends,
    test_scope,
    window_hours,
)
from campaigns.experiments.journeys import planned_size_reached
from campaigns.experiments.setup import ACTIVE_STATUSES, ABError
from campaigns.models import (
    ABAssignment,
    ABKind,
    ABMode,
    ABStatus,
    ABTest,
    ABVariant,
    Broadcast,
    BroadcastStatus,
    Send,
    SendStatus,
    Step,
)
from campaigns.runtime import Services, is_outage
from campaigns.text import storable
from campaigns.timezones import zone
from campaigns.users import get_account

log = logging.getLogger("nurture.abtests")


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


def _plan(test: ABTest) -> stats.TestPlan:
    return stats.TestPlan(variants=len(test.variants), sends_per_variant=max(1, test.planned_per_variant),
                       alpha=test.alpha, power=test.power, baseline_rate=test.baseline_rate,
                       min_detectable_lift=test.min_lift, control_index=0, fallback=stats.Fallback(test.fallback))


def variant_name(v: ABVariant) -> str:
    """How a variant is named in reasons and charts: 'A (label)'."""
    return f"{v.key} ({v.label})" if v.label else v.key


def compute_deadline(session: Session, test: ABTest) -> datetime | None:
    """When the last variant's window closes: the last test send's delivery plus the window; None while
    test sends are still to go (or, for steps, while new sends are still being split)."""
    if test.status is not ABStatus.TESTING:
        return test.deadline_at
    if _splits_new_sends(test) and test.split_closed_at is None:
        return None
    if pending_test_sends(session, test):
        return None
    last = session.scalar(select(func.max(Send.sent_at)).where(test_scope(test), Send.status == SendStatus.SENT))
    base = last or test.split_closed_at or test.started_at or now_utc()
    return base + timedelta(hours=window_hours(test))


def expected_deadline(session: Session, test: ABTest, now: datetime) -> datetime:
    """The deadline if known, else the best estimate (for the 'decided at' line while running)."""
    if test.deadline_at is not None:
        return test.deadline_at
    start = test.started_at or now
    if _splits_new_sends(test):
        start = test.split_closed_at or (start + timedelta(days=test.test_days))
    elif test.kind is ABKind.SEND_TIME:
        last_due = session.scalar(select(func.max(ABAssignment.due_at)).where(ABAssignment.test_id == test.id))
        start = max(start, last_due or start)
    return max(start, now) + timedelta(hours=window_hours(test))


def _splits_new_sends(test: ABTest) -> bool:
    """Step and journey-node tests split new sends until their horizon; broadcast tests plan a portion."""
    return test.journey_id is not None or test.step_id is not None


def evaluate(session: Session, test: ABTest, now: datetime,
             counts: dict[str, dict[str, int]] | None = None) -> tuple[stats.Decision, dict[str, dict[str, int]]]:
    """Run the statistics on the current counts (results page, API, the decision step)."""
    counts = counts if counts is not None else count_variants(session, test)
    deadline = test.deadline_at if test.deadline_at is not None and test.status is not ABStatus.DRAFT else None
    state = stats.NowState(now=now, deadline=deadline or expected_deadline(session, test, now))
    if deadline is None:  # the deadline is not fixed yet: the test is still running whatever the clock says
        state = stats.NowState(now=now, deadline=max(state.deadline, now + timedelta(seconds=1)))
    # The statistician writes the deadline into its reason as given: hand it over on the account's clock, so the
    # results page and the API read "2030-01-15 18:00 JST" like every other time (the comparison is the same).
    state = stats.NowState(now=now, deadline=state.deadline.astimezone(zone(get_account(session).timezone)))
    decision = stats.decide([variant_name(v) for v in test.variants], metric_counts(test, counts), _plan(test), state)
    return decision, counts


def decide_if_due(session: Session, test: ABTest, now: datetime) -> str:
    """The decision step for one testing test (tick): fix the deadline, and at it decide; auto mode sends
    the chosen variant, manual mode waits for the marketer. Returns what happened."""
    if test.status is not ABStatus.TESTING:
        return ""
    if _splits_new_sends(test) and test.split_closed_at is None and test.started_at is not None \
            and now >= test.started_at + timedelta(days=test.test_days):
        test.split_closed_at = now
    if test.journey_id is not None and test.split_closed_at is None and planned_size_reached(session, test):
        test.split_closed_at = now  # the planned horizon: every variant has its planned sends
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
        test.rest_planned = send_rest(session, test, variant, now)
    elif test.journey_id is not None:
        # Later walks get the winner (experiments.journeys.node_split reads winner_index); the graph is left
        # as the marketer drew it.
        if test.split_closed_at is None:
            test.split_closed_at = now
    elif test.step_id is not None and variant.template_id is not None:
        step = session.get(Step, test.step_id)
        if step is not None:
            step.template_id = variant.template_id
        if test.split_closed_at is None:
            test.split_closed_at = now
    session.flush()


def tick(svc: Services, now: datetime | None = None) -> Counter[str]:
    """The scheduler's A/B step: plan due send-time sends, fix deadlines, decide tests whose last window
    closed (auto mode also plans the rest). Each test in its own transaction."""
    now = now or now_utc()
    counts: Counter[str] = Counter()
    with svc.db.begin() as session:
        ids = list(session.scalars(select(ABTest.id).where(ABTest.status == ABStatus.TESTING)))
        ids += list(session.scalars(
            select(ABTest.id).where(ABTest.status == ABStatus.DECIDED, ABTest.kind == ABKind.SEND_TIME,
                                    rest_waiting(ABTest.id))
        ))
    for test_id in ids:
        done: Counter[str] = Counter()
        try:
            with svc.db.begin() as session:
                _tick_test(session, test_id, now, done)
        except Exception as exc:
            if is_outage(exc):
                raise  # not this test's fault: the next tick tries again
            # One test that cannot be decided must not hold up the others: it stops, with the reason shown.
            log.error("A/B test %s failed; it is stopped with the reason", test_id, exc_info=exc)
            done = Counter({"ab_failed": fail_test(svc, test_id, now, exc)})
        counts.update(done)
    return Counter({k: v for k, v in counts.items() if v})


def _tick_test(session: Session, test_id: int, now: datetime, counts: Counter[str]) -> None:
    """The tick's work on one test, in the caller's transaction (tick)."""
    test = session.get(ABTest, test_id)
    if test is None:
        return
    if test.broadcast_id is not None:
        broadcast = session.get(Broadcast, test.broadcast_id)
        if broadcast is None or broadcast.status is BroadcastStatus.CANCELLED:
            # The marketer cancelled the broadcast: nothing more may go, test sends included.
            _stop_assignments(session, test)
            test.status = ABStatus.CANCELLED
            counts["ab_cancelled"] += 1
            return
    if test.status is ABStatus.TESTING:
        if test.broadcast_id is not None and test.kind is ABKind.SEND_TIME:
            counts["ab_test_sends"] += plan_due_assignments(session, test, now)
        outcome = decide_if_due(session, test, now)
        if outcome:
            counts[f"ab_{outcome}"] += 1
            log.info("A/B test %s %s", test.id, outcome)
    if test.status is ABStatus.DECIDED and test.kind is ABKind.SEND_TIME:
        counts["ab_rest_sends"] += plan_rest_assignments(session, test, now)


def _stop_assignments(session: Session, test: ABTest) -> None:
    session.execute(update(ABAssignment).where(ABAssignment.test_id == test.id, ABAssignment.planned.is_(False))
                    .values(planned=True).execution_options(synchronize_session=False))


# The reasons a marketer reads on the test's page (English keys; Japanese in translations/text_rule.py).
TEST_FAILED_BROADCAST = ("The test stopped because of an unexpected error, which has been logged for your "
                         "administrator: no winner was chosen and the rest of the audience was not sent.")
TEST_FAILED_REST = ("The test stopped because of an unexpected error, which has been logged for your "
                    "administrator: the winner was chosen but the rest of the audience was not sent.")
TEST_FAILED_STEP = ("The test stopped because of an unexpected error, which has been logged for your "
                    "administrator: no winner was chosen and the step sends its own template again.")


def fail_test(svc: Services, test_id: int, now: datetime, exc: BaseException) -> int:
    """Stop a test whose tick failed: status failed with the reason, no more test sends (a broadcast
    then finishes with what went out); 1 if it was stopped (tick)."""
    with svc.db.begin() as session:
        test = session.get(ABTest, test_id, with_for_update=True)
        if test is None or test.status not in (ABStatus.TESTING, ABStatus.DECIDED):
            return 0
        _stop_assignments(session, test)
        test.status = ABStatus.FAILED
        if test.split_closed_at is None:
            test.split_closed_at = now
        if isinstance(exc, ABError):
            reason = str(exc)  # written for the marketer already
        elif test.broadcast_id is None:
            reason = TEST_FAILED_STEP
        else:
            reason = TEST_FAILED_REST if test.winner_index is not None else TEST_FAILED_BROADCAST
        test.decision = {**(test.decision or {}), "failure_reason": storable(reason)}
        return 1
