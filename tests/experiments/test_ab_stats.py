"""campaigns.experiments.stats checked against SciPy and statsmodels on many seeded random cases, and its decisions."""

from __future__ import annotations

import gc
import json
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from scipy import special, stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_confint, proportion_effectsize, proportions_ztest

from campaigns.experiments import stats as experiments_stats
from campaigns.experiments.stats import (
    ABInputError,
    DecisionStatus,
    Fallback,
    NowState,
    TestPlan,
    VariantCounts,
)

CASES = 1000


def _random_counts(rng: np.random.Generator) -> tuple[int, int]:
    """A (conversions, n) pair: n log-uniform in 1..1e6, rate anywhere, with zeros and all-converted."""
    n = int(10 ** rng.uniform(0, 6))
    kind = rng.random()
    if kind < 0.05:
        return 0, n
    if kind < 0.08:
        return n, n
    rate = 10 ** rng.uniform(-4, 0) if rng.random() < 0.7 else rng.random()
    return int(rng.binomial(n, min(rate, 1.0))), n


# --- Wilson interval -------------------------------------------------------------------------


def test_wilson_matches_statsmodels_on_random_cases():
    rng = np.random.default_rng(401)
    worst = 0.0
    for _ in range(CASES):
        c, n = _random_counts(rng)
        confidence = float(rng.choice([0.8, 0.9, 0.95, 0.99, 0.999]))
        low, high = experiments_stats.wilson_interval(c, n, confidence)
        ref_low, ref_high = proportion_confint(c, n, alpha=1 - confidence, method="wilson")
        worst = max(worst, abs(low - ref_low), abs(high - ref_high))
        assert 0.0 <= low <= c / n <= high <= 1.0
    assert worst < 1e-12, worst


def test_wilson_edges_and_bad_input():
    assert experiments_stats.wilson_interval(0, 0) == (0.0, 1.0)
    low, high = experiments_stats.wilson_interval(0, 10)
    assert low == 0.0 and 0.0 < high < 0.35
    low, high = experiments_stats.wilson_interval(10, 10)
    assert high == 1.0 and 0.65 < low < 1.0
    # A wider confidence gives a wider interval.
    assert experiments_stats.wilson_interval(30, 100, 0.99)[0] < experiments_stats.wilson_interval(30, 100, 0.9)[0]
    for bad in [(5, 3), (-1, 3), (1, -3)]:
        with pytest.raises(ABInputError):
            experiments_stats.wilson_interval(*bad)
    with pytest.raises(ABInputError):
        experiments_stats.wilson_interval(1, 10, confidence=1.0)
    with pytest.raises(ABInputError):
        experiments_stats.wilson_interval(1.5, 10)  # type: ignore[arg-type]
    with pytest.raises(ABInputError):
        VariantCounts("A", sends=10, conversions=11)


def test_variant_counts_rate_and_interval():
    v = VariantCounts("A", sends=200, conversions=30)
    assert v.rate == 0.15
    assert v.interval() == experiments_stats.wilson_interval(30, 200)
    assert VariantCounts("B", 0, 0).rate == 0.0


# --- Chi-square ------------------------------------------------------------------------------


def test_chi2_survival_matches_scipy_to_1e9_relative():
    rng = np.random.default_rng(402)
    worst = 0.0
    for _ in range(CASES):
        dof = int(rng.integers(1, 200)) if rng.random() < 0.7 else int(rng.integers(1, 6))
        # Statistics from far below to far above the mean, reaching p-values near 1e-300.
        x = float(rng.uniform(0, 1) * rng.choice([1, 5, 50, 300, 1500]) * max(1, dof / 10))
        ours = experiments_stats.chi2_sf(x, dof)
        ref = stats.chi2.sf(x, dof)
        if ref < 1e-290:
            assert ours < 1e-280
            continue
        worst = max(worst, abs(ours - ref) / ref)
    assert worst < 1e-9, worst


def test_chi2_survival_fixed_points():
    assert experiments_stats.chi2_sf(0.0, 3) == 1.0
    assert experiments_stats.chi2_sf(3.841458820694124, 1) == pytest.approx(0.05, rel=1e-12)
    assert experiments_stats.chi2_sf(5.991464547107979, 2) == pytest.approx(0.05, rel=1e-12)
    with pytest.raises(ABInputError):
        experiments_stats.chi2_sf(1.0, 0)
    with pytest.raises(ABInputError):
        experiments_stats.chi2_sf(math.inf, 1)


def test_chi_square_homogeneity_matches_scipy_on_random_cases():
    rng = np.random.default_rng(403)
    checked = 0
    while checked < CASES:
        k = int(rng.integers(2, 6))
        groups = []
        base = 10 ** rng.uniform(-3, -0.3)
        for _ in range(k):
            n = int(10 ** rng.uniform(1, 6))
            # Half the cases share one rate (the null), half differ.
            rate = base if rng.random() < 0.5 else min(0.99, base * rng.uniform(0.5, 1.5))
            groups.append((int(rng.binomial(n, rate)), n))
        total_c = sum(c for c, _ in groups)
        if total_c == 0 or total_c == sum(n for _, n in groups):
            continue
        stat, dof, p = experiments_stats.chi_square_homogeneity(groups)
        table = np.array([[c for c, _ in groups], [n - c for c, n in groups]])
        ref = stats.chi2_contingency(table, correction=False)
        assert dof == ref.dof == k - 1
        assert stat == pytest.approx(ref.statistic, rel=1e-9, abs=1e-12)
        assert p == pytest.approx(ref.pvalue, rel=1e-8, abs=1e-12)
        checked += 1


def test_chi_square_degenerate_tables():
    # Nobody converted, everybody converted, or one group only: no evidence of a difference.
    assert experiments_stats.chi_square_homogeneity([(0, 100), (0, 50)]) == (0.0, 1, 1.0)
    assert experiments_stats.chi_square_homogeneity([(100, 100), (50, 50)]) == (0.0, 1, 1.0)
    assert experiments_stats.chi_square_homogeneity([(5, 100), (0, 0)]) == (0.0, 0, 1.0)
    # A group with no sends is left out instead of breaking the test.
    with_empty = experiments_stats.chi_square_homogeneity([(5, 100), (20, 100), (0, 0)])
    assert with_empty == experiments_stats.chi_square_homogeneity([(5, 100), (20, 100)])
    assert with_empty.p_value < 0.01
    with pytest.raises(ABInputError):
        experiments_stats.chi_square_homogeneity([(5, 4), (1, 10)])


# --- z-test and Holm -------------------------------------------------------------------------


def test_z_test_matches_statsmodels_on_random_cases():
    rng = np.random.default_rng(404)
    checked = 0
    while checked < CASES:
        c1, n1 = _random_counts(rng)
        c2, n2 = _random_counts(rng)
        pooled = (c1 + c2) / (n1 + n2)
        if pooled in (0.0, 1.0):
            continue
        z, p, pooled_ours = experiments_stats.two_proportion_z_test(c1, n1, c2, n2)
        ref_z, ref_p = proportions_ztest([c1, c2], [n1, n2])
        assert pooled_ours == pytest.approx(pooled, rel=1e-15)
        assert z == pytest.approx(ref_z, rel=1e-9, abs=1e-12)
        # statsmodels computes 2 * norm.sf(|z|); we use erfc, equal to rounding.
        assert p == pytest.approx(ref_p, rel=1e-9, abs=1e-300)
        checked += 1


def test_z_test_degenerate_and_bad_input():
    assert experiments_stats.two_proportion_z_test(0, 10, 0, 20) == (0.0, 1.0, 0.0)
    assert experiments_stats.two_proportion_z_test(10, 10, 20, 20) == (0.0, 1.0, 1.0)
    z, p, _ = experiments_stats.two_proportion_z_test(60, 1000, 30, 1000)
    assert z > 0 and p < 0.01
    with pytest.raises(ABInputError):
        experiments_stats.two_proportion_z_test(0, 0, 1, 10)


def test_holm_matches_statsmodels_on_random_cases(monkeypatch):
    # multipletests runs gc.collect() on every call (a second each inside a large pytest process);
    # skipping that changes nothing in its result.
    monkeypatch.setattr(gc, "collect", lambda generation=2: 0)
    rng = np.random.default_rng(405)
    for _ in range(CASES):
        m = int(rng.integers(1, 8))
        p = rng.uniform(0, 1, m) ** rng.uniform(1, 6)
        if rng.random() < 0.2:
            p[0] = p[-1]  # ties
        ours = experiments_stats.holm(list(p))
        ref = multipletests(p, method="holm")[1]
        assert ours == pytest.approx(list(ref), abs=1e-15)
    assert experiments_stats.holm([]) == []
    with pytest.raises(ABInputError):
        experiments_stats.holm([0.1, 1.2])


def test_pairwise_vs_control_uses_holm_over_the_challengers():
    variants = [
        VariantCounts("A", 5000, 250),
        VariantCounts("B", 5000, 310),
        VariantCounts("C", 5000, 260),
        VariantCounts("D", 5000, 200),
    ]
    results = experiments_stats.pairwise_vs_control(variants, control_index=0)
    assert [r.index for r in results] == [1, 2, 3]
    raw = [experiments_stats.two_proportion_z_test(v.conversions, v.sends, 250, 5000) for v in variants[1:]]
    assert [r.p_value for r in results] == [t.p_value for t in raw]
    assert [r.p_adjusted for r in results] == experiments_stats.holm([t.p_value for t in raw])
    b = results[0]
    assert b.difference == pytest.approx(0.012)
    assert b.relative_lift == pytest.approx(0.24)
    assert b.z > 0 and results[2].z < 0
    low, high = b.difference_interval
    assert low < b.difference < high
    # Another control changes who is compared with whom.
    assert [r.index for r in experiments_stats.pairwise_vs_control(variants, control_index=2)] == [0, 1, 3]
    with pytest.raises(ABInputError):
        experiments_stats.pairwise_vs_control(variants, control_index=4)
    with pytest.raises(ABInputError):
        experiments_stats.pairwise_vs_control([VariantCounts("A", 0, 0), VariantCounts("B", 10, 1)])


def test_newcombe_interval_covers_the_true_difference_about_95_percent():
    rng = np.random.default_rng(406)
    covered = 0
    runs = 2000
    for _ in range(runs):
        c1, c2 = int(rng.binomial(800, 0.12)), int(rng.binomial(800, 0.1))
        low, high = experiments_stats.newcombe_interval(c1, 800, c2, 800)
        covered += low <= 0.02 <= high
    # Binomial noise of 2,000 runs is about 0.5 points; the method's coverage is close to 95%.
    assert 0.93 <= covered / runs <= 0.97


# --- Bayesian --------------------------------------------------------------------------------


def _exact_prob_b_beats_a(a_a: int, b_a: int, a_b: int, b_b: int) -> float:
    """P(p_B > p_A) for Beta posteriors with integer a_B (Evan Miller's closed form), via scipy."""
    i = np.arange(a_b)
    terms = (
        special.betaln(a_a + i, b_a + b_b)
        - np.log(b_b + i)
        - special.betaln(1 + i, b_b)
        - special.betaln(a_a, b_a)
    )
    return float(np.exp(terms).sum())


def test_probability_best_matches_exact_two_variant_series():
    rng = np.random.default_rng(407)
    worst = 0.0
    for _ in range(200):
        n1, n2 = int(10 ** rng.uniform(0, 5)), int(10 ** rng.uniform(0, 5))
        rate = 10 ** rng.uniform(-3, -0.2)
        c1 = int(rng.binomial(n1, rate))
        c2 = int(rng.binomial(n2, min(0.99, rate * rng.uniform(0.7, 1.4))))
        probs = experiments_stats.probability_best([VariantCounts("A", n1, c1), VariantCounts("B", n2, c2)])
        exact = _exact_prob_b_beats_a(c1 + 1, n1 - c1 + 1, c2 + 1, n2 - c2 + 1)
        worst = max(worst, abs(probs[1] - exact), abs(probs[0] - (1 - exact)))
    assert worst < 1e-8, worst


def test_probability_best_and_expected_loss_match_seeded_monte_carlo():
    rng = np.random.default_rng(408)
    draws = 400_000
    for case in range(40):
        k = int(rng.integers(2, 6))
        base = 10 ** rng.uniform(-2.5, -0.5)
        variants = []
        for i in range(k):
            n = int(10 ** rng.uniform(1.5, 4.5))
            variants.append(
                VariantCounts(chr(65 + i), n, int(rng.binomial(n, min(0.95, base * rng.uniform(0.8, 1.25)))))
            )
        result = experiments_stats.bayes(variants)
        assert sum(result.probability_best) == pytest.approx(1.0, abs=1e-8)
        mc = np.random.default_rng(10_000 + case)
        samples = np.column_stack(
            [mc.beta(v.conversions + 1, v.sends - v.conversions + 1, draws) for v in variants]
        )
        winners = np.bincount(samples.argmax(axis=1), minlength=k) / draws
        loss_samples = samples.max(axis=1)[:, None] - samples
        for i in range(k):
            se_prob = math.sqrt(max(winners[i] * (1 - winners[i]), 1e-12) / draws)
            assert abs(result.probability_best[i] - winners[i]) < 5 * se_prob + 1e-6, (case, i)
            se_loss = loss_samples[:, i].std() / math.sqrt(draws)
            assert abs(result.expected_loss[i] - loss_samples[:, i].mean()) < 5 * se_loss + 1e-9, (case, i)


def test_bayes_symmetry_extremes_and_priors():
    same = [VariantCounts(name, 2000, 100) for name in "ABCDE"]
    probs = experiments_stats.probability_best(same)
    assert probs == pytest.approx([0.2] * 5, abs=1e-7)
    assert len(set(experiments_stats.expected_loss(same))) == 1
    # Overwhelming evidence: the probability goes to 1 and the winner's expected loss to 0.
    clear = experiments_stats.bayes([VariantCounts("A", 100_000, 0), VariantCounts("B", 10, 10)])
    assert clear.probability_best[1] == pytest.approx(1.0, abs=1e-12)
    assert clear.expected_loss[1] < 1e-9
    # No data: uniform posteriors, one half each; E[max of two uniforms] - 1/2 = 1/6.
    empty = experiments_stats.bayes([VariantCounts("A", 0, 0), VariantCounts("B", 0, 0)])
    assert empty.probability_best == pytest.approx([0.5, 0.5], abs=1e-9)
    assert empty.expected_loss == pytest.approx([1 / 6, 1 / 6], abs=1e-9)
    # A stronger prior pulls small samples together.
    small = [VariantCounts("A", 20, 2), VariantCounts("B", 20, 6)]
    assert experiments_stats.probability_best(small, prior=(10, 90))[1] < experiments_stats.probability_best(small)[1]
    with pytest.raises(ABInputError):
        experiments_stats.probability_best(small, prior=(0.5, 0.5))


# --- Sample size -----------------------------------------------------------------------------


def _reference_sample_size(p1, lift, alpha, power, variants, two_sided):
    p2 = p1 * (1 + lift)
    a = alpha / (variants - 1)
    z_a = stats.norm.ppf(1 - a / 2) if two_sided else stats.norm.ppf(1 - a)
    z_b = stats.norm.ppf(power)
    p_bar = (p1 + p2) / 2
    n = (z_a * math.sqrt(2 * p_bar * (1 - p_bar)) + z_b * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2 / (
        p2 - p1
    ) ** 2
    return n


def test_sample_size_matches_scipy_reference_on_random_cases():
    rng = np.random.default_rng(409)
    checked = 0
    while checked < CASES:
        p1 = float(10 ** rng.uniform(-3, -0.2))
        lift = float(rng.uniform(-0.6, 1.5))
        if abs(lift) < 0.01 or not 0 < p1 * (1 + lift) < 1:
            continue
        alpha = float(rng.choice([0.01, 0.05, 0.1]))
        power = float(rng.choice([0.7, 0.8, 0.9, 0.95]))
        variants = int(rng.integers(2, 6))
        two_sided = bool(rng.random() < 0.8)
        ours = experiments_stats.sample_size_per_variant(p1, lift, alpha, power, variants, two_sided)
        ref = _reference_sample_size(p1, lift, alpha, power, variants, two_sided)
        # Equal to the ceiling unless the reference sits within rounding noise of an integer.
        assert ours == math.ceil(ref) or abs(ref - round(ref)) < 1e-6 * ref
        checked += 1


def test_sample_size_is_close_to_the_arcsine_formula_of_statsmodels():
    # statsmodels uses Cohen's h (arcsine transform): a different approximation that must agree roughly.
    for p1, lift in [(0.2, 0.2), (0.05, 0.2), (0.03, 0.1), (0.1, 0.5), (0.4, 0.1)]:
        ours = experiments_stats.sample_size_per_variant(p1, lift)
        h = proportion_effectsize(p1 * (1 + lift), p1)
        theirs = NormalIndPower().solve_power(effect_size=h, alpha=0.05, power=0.8, ratio=1.0)
        assert abs(ours - theirs) / theirs < 0.03, (p1, lift, ours, theirs)


def test_sample_size_orders_and_monotonicity():
    n = experiments_stats.sample_size_per_variant
    assert n(0.2, 0.2) == 1683  # 20% -> 24%: the textbook figure for this formula
    lifts = [0.05, 0.1, 0.2, 0.5, 1.0]
    assert [n(0.05, x) for x in lifts] == sorted((n(0.05, x) for x in lifts), reverse=True)
    powers = [0.6, 0.7, 0.8, 0.9, 0.95]
    assert [n(0.05, 0.2, power=x) for x in powers] == sorted(n(0.05, 0.2, power=x) for x in powers)
    alphas = [0.2, 0.1, 0.05, 0.01, 0.001]
    assert [n(0.05, 0.2, alpha=x) for x in alphas] == sorted(n(0.05, 0.2, alpha=x) for x in alphas)
    counts = [2, 3, 4, 5]
    assert [n(0.05, 0.2, variants=x) for x in counts] == sorted(n(0.05, 0.2, variants=x) for x in counts)
    assert n(0.05, 0.2, variants=3) > n(0.05, 0.2)  # Bonferroni over 2 comparisons
    assert n(0.05, 0.2, two_sided=False) < n(0.05, 0.2)
    # Rarer events need more recipients for the same relative lift.
    baselines = [0.01, 0.02, 0.05, 0.1, 0.2]
    assert [n(b, 0.2) for b in baselines] == sorted((n(b, 0.2) for b in baselines), reverse=True)


def test_sample_size_bad_input():
    for args in [(0.0, 0.2), (1.0, 0.2), (0.5, 1.5), (0.2, 0.0), (0.2, -1.0), (0.2, math.nan)]:
        with pytest.raises(ABInputError):
            experiments_stats.sample_size_per_variant(*args)
    with pytest.raises(ABInputError):
        experiments_stats.sample_size_per_variant(0.2, 0.2, variants=1)
    with pytest.raises(ABInputError):
        experiments_stats.sample_size_per_variant(0.2, 0.2, power=1.0)


def test_smallest_detectable_lift_inverts_the_sample_size():
    n = experiments_stats.sample_size_per_variant(0.05, 0.2)
    lift = experiments_stats.smallest_detectable_lift(0.05, n)
    assert lift is not None and 0.19 < lift <= 0.2
    assert experiments_stats.sample_size_per_variant(0.05, lift) <= n
    assert experiments_stats.smallest_detectable_lift(0.05, 2) is None


def test_audience_advice_warns_when_the_test_portion_is_too_small():
    plan = experiments_stats.plan_test(0.03, 0.2, variants=2)
    assert plan.sends_per_variant == experiments_stats.sample_size_per_variant(0.03, 0.2)
    small = experiments_stats.audience_advice(plan, audience_size=20_000, test_portion=0.2)
    assert not small.enough
    assert small.available_per_variant == 2000
    assert small.detectable_lift is not None and small.detectable_lift > 0.5
    assert "Audience too small" in small.message
    big = experiments_stats.audience_advice(plan, audience_size=1_000_000, test_portion=0.2)
    assert big.enough and "Audience too small" not in big.message
    with pytest.raises(ABInputError):
        experiments_stats.audience_advice(plan, 1000, 0.0)


# --- The decision ----------------------------------------------------------------------------

START = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
BEFORE = NowState(now=START, deadline=START + timedelta(hours=24))
AFTER = NowState(now=START + timedelta(hours=25), deadline=START + timedelta(hours=24))


def _plan(variants=2, fallback=Fallback.KEEP_CONTROL, n=5000, control=0):
    return TestPlan(variants=variants, sends_per_variant=n, fallback=fallback, control_index=control)


def test_before_the_deadline_there_is_never_a_winner():
    counts = [(100, 5000), (400, 5000)]  # an enormous difference
    decision = experiments_stats.decide(["A", "B"], counts, _plan(), BEFORE)
    assert decision.status is DecisionStatus.NO_WINNER_YET
    assert decision.winner_index is None and decision.send_index is None
    assert "provisional" in decision.reason and "B" in decision.reason
    # The numbers are there for the results page all the same.
    assert decision.pairwise[0].significant
    assert decision.variants[1].probability_best == pytest.approx(1.0)


def test_a_challenger_that_beats_the_control_wins_at_the_deadline():
    decision = experiments_stats.decide(["A", "B"], [(250, 5000), (330, 5000)], _plan(), AFTER)
    assert decision.status is DecisionStatus.WINNER
    assert decision.winner_index == 1 and decision.send_index == 1 and decision.significant
    assert decision.reason.startswith("B wins: 6.60% against 5.00% for the control A (+32%, p < 0.001). ")
    assert decision.reason_code == "winner"
    json.dumps(decision.to_dict())  # the API serialises it as is


def test_among_several_significant_challengers_the_highest_rate_wins():
    counts = [(250, 5000), (340, 5000), (380, 5000), (255, 5000)]
    decision = experiments_stats.decide(list("ABCD"), counts, _plan(variants=4), AFTER)
    assert decision.status is DecisionStatus.WINNER and decision.winner_index == 2
    assert "after correcting for 3 comparisons" in decision.reason
    assert "B also beat the control" in decision.reason


def test_no_significant_difference_applies_the_fallback():
    counts = [(250, 5000), (270, 5000)]
    keep = experiments_stats.decide(["A", "B"], counts, _plan(fallback=Fallback.KEEP_CONTROL), AFTER)
    assert keep.status is DecisionStatus.INCONCLUSIVE_AT_DEADLINE
    assert keep.winner_index is None and keep.send_index == 0 and not keep.significant
    assert keep.reason_code == "keep_control" and "Keeping A" in keep.reason
    leader = experiments_stats.decide(["A", "B"], counts, _plan(fallback=Fallback.SEND_LEADER_NOT_SIGNIFICANT), AFTER)
    assert leader.status is DecisionStatus.INCONCLUSIVE_AT_DEADLINE
    assert leader.winner_index is None and leader.send_index == 1 and not leader.significant
    assert leader.reason_code == "send_leader_not_significant"
    assert "labelled not significant" in leader.reason
    # When the control leads, "send the leader" sends the control.
    ahead = experiments_stats.decide(
        ["A", "B"], [(270, 5000), (250, 5000)], _plan(fallback="send_leader_not_significant"), AFTER
    )
    assert ahead.send_index == 0 and ahead.reason_code == "keep_control"


def test_a_control_better_than_every_challenger_is_kept_and_said_so():
    decision = experiments_stats.decide(["A", "B", "C"], [(400, 5000), (250, 5000), (260, 5000)], _plan(variants=3), AFTER)
    assert decision.status is DecisionStatus.INCONCLUSIVE_AT_DEADLINE
    assert decision.send_index == 0 and decision.significant
    assert decision.reason_code == "control_better"


def test_significance_needs_holm_not_just_a_raw_p_value():
    # B vs A alone has p ~ 0.03 (< 0.05) but with four challengers Holm needs more evidence.
    counts = [(250, 5000), (295, 5000), (250, 5000), (250, 5000), (250, 5000)]
    raw = experiments_stats.two_proportion_z_test(295, 5000, 250, 5000).p_value
    assert raw < 0.05
    decision = experiments_stats.decide(list("ABCDE"), counts, _plan(variants=5), AFTER)
    assert decision.status is DecisionStatus.INCONCLUSIVE_AT_DEADLINE
    assert decision.pairwise[0].p_adjusted >= 0.05
    two = experiments_stats.decide(["A", "B"], counts[:2], _plan(), AFTER)
    assert two.status is DecisionStatus.WINNER


def test_a_variant_never_sent_cannot_win_and_short_tests_say_so():
    decision = experiments_stats.decide(["A", "B"], [(10, 100), (0, 0)], _plan(), AFTER)
    assert decision.status is DecisionStatus.INCONCLUSIVE_AT_DEADLINE and decision.send_index == 0
    assert decision.reason_code == "no_sends" and "B" in decision.reason
    short = experiments_stats.decide(["A", "B"], [(25, 500), (60, 500)], _plan(n=5000), AFTER)
    assert short.status is DecisionStatus.WINNER
    assert any("Below the planned 5,000" in note for note in short.notes)


def test_decide_accepts_variant_counts_and_a_non_default_control():
    counts = [VariantCounts("x", 5000, 330), VariantCounts("y", 5000, 250)]
    decision = experiments_stats.decide(["B", "A"], counts, _plan(control=1), AFTER)
    assert decision.winner_index == 0 and decision.variants[0].name == "B"
    assert decision.control_index == 1


def test_decide_rejects_inconsistent_input():
    with pytest.raises(ABInputError):
        experiments_stats.decide(["A", "B"], [(1, 10)], _plan(), AFTER)
    with pytest.raises(ABInputError):
        experiments_stats.decide(["A", "B", "C"], [(1, 10)] * 3, _plan(), AFTER)
    with pytest.raises(ABInputError):
        experiments_stats.decide(["A", "B"], [(11, 10), (1, 10)], _plan(), AFTER)
    with pytest.raises(ABInputError):
        TestPlan(variants=6, sends_per_variant=100)
    with pytest.raises(ABInputError):
        NowState(now=datetime(2026, 1, 1), deadline=datetime(2026, 1, 2))
    with pytest.raises(ValueError):
        _plan(fallback="flip_a_coin")


def test_provisional_results_work_before_anything_was_sent_to_a_variant():
    decision = experiments_stats.decide(["A", "B"], [(3, 40), (0, 0)], _plan(), BEFORE)
    assert decision.status is DecisionStatus.NO_WINNER_YET
    assert decision.pairwise == () and decision.chi_square is None
    assert decision.variants[1].interval == (0.0, 1.0)
    assert sum(v.probability_best for v in decision.variants) == pytest.approx(1.0, abs=1e-8)


def test_the_reason_names_the_best_challenger_and_does_not_call_a_loss_chance():
    # C is a bit ahead of the control (not significant), B clearly behind.
    counts = [(250, 5000), (150, 5000), (262, 5000)]
    decision = experiments_stats.decide(list("ABC"), counts, _plan(variants=3), AFTER)
    assert decision.reason_code == "keep_control"
    assert "the best challenger, C, had 5.24%" in decision.reason
    assert "could well be chance" in decision.reason
    behind = experiments_stats.decide(list("AB"), [(250, 5000), (240, 5000)], _plan(), AFTER)
    assert "the best challenger, B, had 4.80%" in behind.reason
    assert "chance" not in behind.reason
