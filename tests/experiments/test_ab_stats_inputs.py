"""Every public function and input class of the A/B statistics module refuses bad input with the module's
own error (ABInputError, a ValueError with a readable reason): empty groups, negative counts, more
conversions than sends, non-finite and non-numeric values, wrong types. Never a ZeroDivisionError,
TypeError, OverflowError or StatisticsError from inside a formula, which a page would show as a 500.

The public names are read from the module itself, so a function added later without a case here fails
test_every_public_name_has_bad_input_cases."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from campaigns.experiments import stats
from campaigns.experiments.stats import ABInputError, NowState, TestPlan, VariantCounts

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
CLOCK = NowState(now=NOW, deadline=NOW + timedelta(hours=1))
PLAN = TestPlan(variants=2, sends_per_variant=100)
A, B = VariantCounts("A", 100, 10), VariantCounts("B", 100, 20)
EMPTY = VariantCounts("E", 0, 0)
HUGE = 10**400  # a Python int no float can hold

# Classes that are results (built by the module from checked input), not inputs a caller builds.
RESULTS = {"ChiSquareResult", "ZTestResult", "PairwiseResult", "BayesResult", "AudienceAdvice", "VariantSummary",
           "Decision", "DecisionStatus", "Fallback", "ABInputError"}

BAD_INPUTS: dict[str, list[Callable[[], Any]]] = {
    "wilson_interval": [
        lambda: stats.wilson_interval(-1, 10), lambda: stats.wilson_interval(11, 10),
        lambda: stats.wilson_interval(1.5, 10), lambda: stats.wilson_interval(True, 10),
        lambda: stats.wilson_interval(1, 10, math.nan), lambda: stats.wilson_interval(0, 0, 1.5),
        lambda: stats.wilson_interval(1, 10, [0.95]), lambda: stats.wilson_interval(1, HUGE),
        lambda: stats.wilson_interval(1, 10, 1 - 1e-17),
    ],
    "chi2_sf": [
        lambda: stats.chi2_sf(math.inf, 1), lambda: stats.chi2_sf(math.nan, 1), lambda: stats.chi2_sf(1.0, 0),
        lambda: stats.chi2_sf(1.0, 1.5), lambda: stats.chi2_sf(-1.0, 1), lambda: stats.chi2_sf("3", 1),
        lambda: stats.chi2_sf(HUGE, 1), lambda: stats.chi2_sf(1.0, True),
    ],
    "chi_square_homogeneity": [
        lambda: stats.chi_square_homogeneity([]), lambda: stats.chi_square_homogeneity([(1, 10)]),
        lambda: stats.chi_square_homogeneity([(1, 10), (11, 10)]), lambda: stats.chi_square_homogeneity([(1,), (2, 3)]),
        lambda: stats.chi_square_homogeneity([(1, 10), None]), lambda: stats.chi_square_homogeneity(None),
        lambda: stats.chi_square_homogeneity([(1, 10), (-1, 10)]), lambda: stats.chi_square_homogeneity("ab"),
    ],
    "two_proportion_z_test": [
        lambda: stats.two_proportion_z_test(0, 0, 1, 10), lambda: stats.two_proportion_z_test(1, 10, 0, 0),
        lambda: stats.two_proportion_z_test(-1, 10, 1, 10), lambda: stats.two_proportion_z_test(1.0, 10, 1, 10),
        lambda: stats.two_proportion_z_test(HUGE, HUGE, 1, 10),
    ],
    "holm": [
        lambda: stats.holm([0.5, math.nan]), lambda: stats.holm([1.5]), lambda: stats.holm([-0.1]),
        lambda: stats.holm(["0.5"]), lambda: stats.holm(None), lambda: stats.holm(0.5), lambda: stats.holm([True]),
    ],
    "newcombe_interval": [
        lambda: stats.newcombe_interval(0, 0, 1, 10), lambda: stats.newcombe_interval(1, 10, 0, 0),
        lambda: stats.newcombe_interval(-1, 10, 1, 10), lambda: stats.newcombe_interval(12, 10, 1, 10),
        lambda: stats.newcombe_interval(1, 10, 1, 10, 0.0), lambda: stats.newcombe_interval(1, 10.0, 1, 10),
    ],
    "pairwise_vs_control": [
        lambda: stats.pairwise_vs_control([]), lambda: stats.pairwise_vs_control([A]),
        lambda: stats.pairwise_vs_control([EMPTY, B]), lambda: stats.pairwise_vs_control([A, (20, 100)]),
        lambda: stats.pairwise_vs_control([A, B], control_index=2), lambda: stats.pairwise_vs_control([A, B], -1),
        lambda: stats.pairwise_vs_control([A, B], 0.0), lambda: stats.pairwise_vs_control([A, B], alpha=math.inf),
        lambda: stats.pairwise_vs_control(None),
    ],
    "bayes": [
        lambda: stats.bayes([]), lambda: stats.bayes(None), lambda: stats.bayes([A, (1, 2)]),
        lambda: stats.bayes([A, B], prior=(0.5, 1.0)), lambda: stats.bayes([A, B], prior=(math.inf, 1.0)),
        lambda: stats.bayes([A, B], prior=(1.0,)), lambda: stats.bayes([A, B], prior="ab"),
        lambda: stats.bayes([A, B], prior=(math.nan, 1.0)),
    ],
    "probability_best": [lambda: stats.probability_best([]), lambda: stats.probability_best([A, B], (0.0, 1.0)),
                         lambda: stats.probability_best([A, (20, 100)])],
    "expected_loss": [lambda: stats.expected_loss([]), lambda: stats.expected_loss([A, "B"])],
    "sample_size_per_variant": [
        lambda: stats.sample_size_per_variant(0.0, 0.2), lambda: stats.sample_size_per_variant(0.1, 0.0),
        lambda: stats.sample_size_per_variant(0.1, math.nan), lambda: stats.sample_size_per_variant(0.1, math.inf),
        lambda: stats.sample_size_per_variant(0.5, 2.0), lambda: stats.sample_size_per_variant(0.1, 0.2, variants=1),
        lambda: stats.sample_size_per_variant(0.1, 0.2, variants=10**30),
        lambda: stats.sample_size_per_variant(0.1, 0.2, alpha=1e-300),
        lambda: stats.sample_size_per_variant(0.1, 1e-300), lambda: stats.sample_size_per_variant(0.1, HUGE),
        lambda: stats.sample_size_per_variant(0.1, True), lambda: stats.sample_size_per_variant(0.1, 0.2, two_sided=2),
    ],
    "smallest_detectable_lift": [
        lambda: stats.smallest_detectable_lift(0.0, 100), lambda: stats.smallest_detectable_lift(0.1, 100.5),
        lambda: stats.smallest_detectable_lift(0.1, "100"), lambda: stats.smallest_detectable_lift(0.1, HUGE),
        lambda: stats.smallest_detectable_lift(0.1, 0, alpha=2.0), lambda: stats.smallest_detectable_lift(0.1, 100, 0.05, 0.8, 1),
        lambda: stats.smallest_detectable_lift(0.1, 100, variants=10**30),
    ],
    "plan_test": [
        lambda: stats.plan_test(0.1, 0.0), lambda: stats.plan_test(math.nan, 0.2),
        lambda: stats.plan_test(0.1, 0.2, variants=6), lambda: stats.plan_test(0.1, 0.2, control_index=2),
        lambda: stats.plan_test(0.1, 0.2, fallback="guess"), lambda: stats.plan_test(0.1, 0.2, power=1.0),
    ],
    "audience_advice": [
        lambda: stats.audience_advice(PLAN, -1, 0.5), lambda: stats.audience_advice(PLAN, 100, 0.0),
        lambda: stats.audience_advice(PLAN, 100, math.nan), lambda: stats.audience_advice(PLAN, 100, math.inf),
        lambda: stats.audience_advice(PLAN, 100.5, 0.5), lambda: stats.audience_advice(None, 100, 0.5),
        lambda: stats.audience_advice(PLAN, "100", 0.5),
    ],
    "decide": [
        lambda: stats.decide([], [], PLAN, CLOCK), lambda: stats.decide(["A", "B"], [(1, 10)], PLAN, CLOCK),
        lambda: stats.decide(["A", "B"], [(1, 10), (11, 10)], PLAN, CLOCK),
        lambda: stats.decide(["A", "B"], [(1, 10), (-1, 10)], PLAN, CLOCK),
        lambda: stats.decide(["A", "B"], [(1, 10), (1,)], PLAN, CLOCK),
        lambda: stats.decide(["A", "B"], [(1, 10), None], PLAN, CLOCK),
        lambda: stats.decide(["A", "B"], [(1, 10), (2, 10)], None, CLOCK),
        lambda: stats.decide(["A", "B"], [(1, 10), (2, 10)], PLAN, None),
        lambda: stats.decide(["A", 2], [(1, 10), (2, 10)], PLAN, CLOCK),
        lambda: stats.decide(["A", "B", "C"], [(1, 10), (2, 10), (3, 10)], PLAN, CLOCK),
        lambda: stats.decide("AB", [(1, 10), (2, 10)], PLAN, CLOCK),
    ],
    "VariantCounts": [
        lambda: VariantCounts("A", -1, 0), lambda: VariantCounts("A", 10, 11), lambda: VariantCounts("A", 10.0, 1),
        lambda: VariantCounts(None, 10, 1), lambda: VariantCounts("A", HUGE, 1),
    ],
    "TestPlan": [
        lambda: TestPlan(variants=1, sends_per_variant=10), lambda: TestPlan(variants=2, sends_per_variant=0),
        lambda: TestPlan(variants=2.0, sends_per_variant=10), lambda: TestPlan(variants=2, sends_per_variant="10"),
        lambda: TestPlan(variants=2, sends_per_variant=10, alpha=math.nan),
        lambda: TestPlan(variants=2, sends_per_variant=10, baseline_rate=2.0),
        lambda: TestPlan(variants=2, sends_per_variant=10, min_detectable_lift=math.inf),
        lambda: TestPlan(variants=2, sends_per_variant=10, control_index=True),
        lambda: TestPlan(variants=2, sends_per_variant=10, fallback="guess"),  # type: ignore[arg-type]
    ],
    "NowState": [
        lambda: NowState(now=NOW.replace(tzinfo=None), deadline=NOW), lambda: NowState(now="now", deadline=NOW),
        lambda: NowState(now=NOW, deadline=None),
    ],
}


def _public_names() -> list[str]:
    """Functions and classes defined by the module itself (not imported names), without a leading underscore."""
    return sorted(
        name for name, value in vars(stats).items()
        if not name.startswith("_") and (inspect.isfunction(value) or inspect.isclass(value))
        and value.__module__ == stats.__name__
    )


def test_every_public_name_has_bad_input_cases() -> None:
    names = _public_names()
    functions = [n for n in names if inspect.isfunction(getattr(stats, n))]
    assert len(functions) >= 14, functions  # a sanity floor: the enumeration found the module's functions
    unchecked = [n for n in names if n not in BAD_INPUTS and n not in RESULTS]
    assert not unchecked, f"public names of campaigns.experiments.stats without bad-input cases: {unchecked}"
    assert set(dir(stats)) >= set(BAD_INPUTS)


@pytest.mark.parametrize(("name", "index"), [(n, i) for n, cases in BAD_INPUTS.items() for i in range(len(cases))])
def test_bad_input_raises_the_module_s_own_error(name: str, index: int) -> None:
    # pytest.raises(ABInputError) lets any other exception through, which fails the test.
    with pytest.raises(ABInputError) as caught:
        BAD_INPUTS[name][index]()
    assert isinstance(caught.value, ValueError) and str(caught.value)


def test_good_input_still_works_at_the_edges() -> None:
    """The checks refuse only what is wrong: n=0 intervals, empty groups left out of chi-square, a test
    decided with an empty variant, and big but real counts."""
    assert stats.wilson_interval(0, 0) == (0.0, 1.0)
    assert stats.chi_square_homogeneity([(5, 100), (0, 0)]) == (0.0, 0, 1.0)
    assert stats.holm([]) == []
    late = NowState(now=NOW + timedelta(hours=2), deadline=NOW)
    assert stats.decide(["A", "B"], [(10, 100), (0, 0)], PLAN, late).reason_code == "no_sends"
    big = [VariantCounts("A", 10**11, 10**9), VariantCounts("B", 10**11, 10**9 + 10**6)]
    assert stats.pairwise_vs_control(big)[0].significant
    assert stats.smallest_detectable_lift(0.1, 10**11) is not None
    assert stats.audience_advice(PLAN, 0, 0.5).enough is False
