"""The decision rule under repeated looks: simulated A/A and A/B tests checked every hour.

Each simulated test sends the planned number of emails per variant at once; conversions then
arrive over a 48-hour window (exponential delays, mean 8 h, truncated to the window) and the real
campaigns.experiments.stats.decide() is called after every hour, as the A/B service does. `pytest -s` prints the
measured rates; docs/ab-testing.md records them. numpy draws the data; the decisions are ours.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from scipy import stats

from campaigns.experiments import stats as experiments_stats
from campaigns.experiments.stats import DecisionStatus, TestPlan

pytestmark = pytest.mark.slow  # about a minute of CPU: `-m "not slow"` skips it in quick runs

LOOKS = 48  # one look per hour over a 48-hour window
RUNS = 2000
BASELINE = 0.10  # e.g. a human click-to-open or open rate
LIFT = 0.20  # the relative lift the plan is sized for
START = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
DEADLINE = START + timedelta(hours=LOOKS)


def _hourly_weights(mean_hours: float = 8.0) -> np.ndarray:
    """Share of the window's conversions that arrive in each hour (exponential delays, truncated)."""
    edges = 1.0 - np.exp(-np.arange(LOOKS + 1) / mean_hours)
    return np.diff(edges) / edges[-1]


def _simulate(rates: list[float], n: int, runs: int, seed: int) -> np.ndarray:
    """Cumulative conversions, shape (runs, variants, LOOKS): final counts are Binomial(n, rate)."""
    rng = np.random.default_rng(seed)
    weights = _hourly_weights()
    out = np.empty((runs, len(rates), LOOKS), dtype=np.int64)
    for v, rate in enumerate(rates):
        finals = rng.binomial(n, rate, size=runs)
        out[:, v, :] = np.cumsum(rng.multinomial(finals, weights), axis=1)
    return out


def _run_decisions(cumulative: np.ndarray, plan: TestPlan) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Call decide() at every hourly look; return per run: first winner look (-1), winner index, early flag."""
    runs, k, looks = cumulative.shape
    names = [chr(65 + i) for i in range(k)]
    n = plan.sends_per_variant
    winner_look = np.full(runs, -1)
    winner_index = np.full(runs, -1)
    early = np.zeros(runs, dtype=bool)
    for r in range(runs):
        for h in range(looks):
            state = experiments_stats.NowState(now=START + timedelta(hours=h + 1), deadline=DEADLINE)
            counts = [(int(cumulative[r, v, h]), n) for v in range(k)]
            decision = experiments_stats.decide(names, counts, plan, state, bayesian=False)
            if decision.status is DecisionStatus.WINNER:
                winner_look[r], winner_index[r] = h, decision.winner_index
                early[r] = not state.deadline_reached
                break
            assert (decision.status is DecisionStatus.NO_WINNER_YET) == (not state.deadline_reached)
    return winner_look, winner_index, early


def _naive_peeking_rate(cumulative: np.ndarray, n: int, alpha: float = 0.05) -> float:
    """Share of runs where 'stop as soon as B beats A with p < alpha at any look' declares a winner."""
    a, b = cumulative[:, 0, :].astype(float), cumulative[:, 1, :].astype(float)
    pooled = (a + b) / (2 * n)
    se = np.sqrt(np.maximum(pooled * (1 - pooled) * 2 / n, 1e-300))
    z = (b - a) / n / se
    return float(np.mean((z > stats.norm.ppf(1 - alpha / 2)).any(axis=1)))


def _se(p: float, runs: int) -> float:
    return math.sqrt(p * (1 - p) / runs)


def test_aa_two_variants_checked_hourly_rarely_pick_a_false_winner():
    n = experiments_stats.sample_size_per_variant(BASELINE, LIFT)
    plan = TestPlan(variants=2, sends_per_variant=n)
    data = _simulate([BASELINE, BASELINE], n, RUNS, seed=20261122)
    look, _, early = _run_decisions(data, plan)
    rate = float(np.mean(look >= 0))
    naive = _naive_peeking_rate(data, n)
    print(
        f"\nA/A, 2 variants, n={n}/variant, {RUNS} runs x {LOOKS} hourly looks: false winner rate "
        f"{rate:.2%} (MC s.e. {_se(rate, RUNS):.2%}); naive 'stop at first p<0.05' rule: {naive:.2%}"
    )
    assert not early.any()  # the fixed-horizon rule never decides before the deadline
    assert rate <= 0.05
    # The same data would fool a peeking rule: the simulation is able to catch that failure.
    assert naive > 0.05


def test_aa_four_variants_checked_hourly_rarely_pick_a_false_winner():
    n = experiments_stats.sample_size_per_variant(BASELINE, LIFT, variants=4)
    plan = TestPlan(variants=4, sends_per_variant=n)
    runs = RUNS // 2  # four variants cost twice as much per look; keeps the file near a minute
    data = _simulate([BASELINE] * 4, n, runs, seed=20261123)
    look, _, early = _run_decisions(data, plan)
    rate = float(np.mean(look >= 0))
    print(
        f"\nA/A, 4 variants, n={n}/variant, {runs} runs x {LOOKS} hourly looks: false winner rate "
        f"{rate:.2%} (MC s.e. {_se(rate, runs):.2%})"
    )
    assert not early.any()
    assert rate <= 0.05


def _exact_win_probability(plan: TestPlan, control_rate: float, challenger_rate: float) -> float:
    """P(decide() names B the winner at the deadline), summed exactly over the binomial counts.

    For each control count, bisection over the challenger's count finds the smallest count that
    decide() itself calls a win (the z-statistic grows with it), so the sum measures our code.
    """
    n = plan.sends_per_variant
    deadline = experiments_stats.NowState(now=DEADLINE, deadline=DEADLINE)

    def wins(c_control: int, c_challenger: int) -> bool:
        decision = experiments_stats.decide(["A", "B"], [(c_control, n), (c_challenger, n)], plan, deadline, bayesian=False)
        return decision.status is DecisionStatus.WINNER

    sd = math.sqrt(n * control_rate * (1 - control_rate))
    low = max(0, int(n * control_rate - 10 * sd))
    high = min(n, int(n * control_rate + 10 * sd) + 1)
    total = 0.0
    for c1 in range(low, high + 1):
        if not wins(c1, n):
            continue
        lo, hi = c1, n  # wins(c1, c1) is False, wins(c1, n) is True
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if wins(c1, mid) else (mid, hi)
        total += stats.binom.pmf(c1, n, control_rate) * stats.binom.sf(hi - 1, n, challenger_rate)
    return float(total)


def test_a_true_lift_at_the_planned_size_is_found_80_percent_of_the_time():
    n = experiments_stats.sample_size_per_variant(BASELINE, LIFT)
    plan = TestPlan(variants=2, sends_per_variant=n)
    exact_power = _exact_win_probability(plan, BASELINE, BASELINE * (1 + LIFT))
    exact_size = _exact_win_probability(plan, BASELINE, BASELINE)
    data = _simulate([BASELINE, BASELINE * (1 + LIFT)], n, RUNS, seed=20261124)
    look, index, early = _run_decisions(data, plan)
    found = float(np.mean((look >= 0) & (index == 1)))
    print(
        f"\nTrue +20% lift ({BASELINE:.0%} -> {BASELINE * (1 + LIFT):.0%}), n={n}/variant: exact power of "
        f"decide() {exact_power:.2%} (exact A/A false winner rate {exact_size:.2%}); simulated with "
        f"{LOOKS} hourly looks: found in {found:.2%} of {RUNS} runs (MC s.e. {_se(found, RUNS):.2%})"
    )
    assert not early.any()
    # The exact sum has no Monte Carlo noise: the planned size delivers the promised power.
    assert exact_power >= 0.80
    assert exact_size <= 0.05
    # The simulation (same rule, hourly looks) agrees with the exact figure within its noise:
    # with 2,000 runs one standard error is 0.9 points, so a power of 80% reads 77.3% or more.
    assert abs(found - exact_power) <= 3 * _se(exact_power, RUNS)
    assert found >= 0.80 - 3 * _se(0.80, RUNS)


def test_a_true_lift_among_four_variants_is_found_at_the_planned_size():
    # One real +20% challenger and two null ones; the plan splits alpha over 3 comparisons.
    n = experiments_stats.sample_size_per_variant(BASELINE, LIFT, variants=4)
    plan = TestPlan(variants=4, sends_per_variant=n)
    data = _simulate([BASELINE, BASELINE, BASELINE * (1 + LIFT), BASELINE], n, RUNS // 2, seed=20261125)
    look, index, early = _run_decisions(data, plan)
    found = float(np.mean((look >= 0) & (index == 2)))
    wrong = float(np.mean((look >= 0) & (index != 2)))
    print(
        f"\nTrue +20% lift in 1 of 3 challengers, n={n}/variant, {RUNS // 2} runs: found {found:.2%} "
        f"(MC s.e. {_se(found, RUNS // 2):.2%}), a null challenger named winner {wrong:.2%}"
    )
    assert not early.any()
    # Holm is at least as powerful as the Bonferroni split the plan assumes, so power >= 80%.
    assert found >= 0.80 - 3 * _se(0.80, RUNS // 2)
    assert wrong <= 0.05
