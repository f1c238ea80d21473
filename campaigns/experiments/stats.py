"""A/B test statistics: pure functions with no I/O, no Flask and no database.

The A/B service counts sends and human conversions per variant and hands them here; this module
answers "how sure are we?" and "what do we send to the rest?". Everything is standard library +
math so that the worker and the web UI compute the same numbers; tests check it against SciPy and
statsmodels. The decision rule decides only at the planned horizon (when every variant's window
has closed), which is why looking at provisional results early cannot produce a false winner;
docs/ab-testing.md explains the choice, the formulas and the measured error rates.

One job over ~900 lines: the statistics of A/B tests (intervals, tests, P(best), planning, the decision
rule), each formula beside its reasons; it stays pure (an import-linter contract keeps it so).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from statistics import NormalDist
from typing import Any, NamedTuple

_NORMAL = NormalDist()
MAX_VARIANTS = 5
MAX_COUNT = 10**12  # sends or conversions of one variant: far beyond any list, and floats stay exact
# Gamma-function evaluation: stop when a term changes the result by less than this (relative).
_EPS = 1e-16
_TINY = 1e-300


class ABInputError(ValueError):
    """Counts or parameters that cannot describe an A/B test (raised with a readable reason).

    Every public function and input class of this module raises it, and only it, for bad input: empty
    groups, negative counts, more conversions than sends, non-finite or non-numeric values, wrong types;
    never a ZeroDivisionError, TypeError or OverflowError from deep inside a formula."""


# --------------------------------------------------------------------------------------------
# Input checks shared by the public functions


def _check_int(name: str, value: Any, minimum: int | None = None) -> None:
    # Exact type check: a bool is an int subclass but never a count, an index or a size.
    if type(value) is not int:
        raise ABInputError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ABInputError(f"{name} must be at least {minimum}, got {value}")


def _check_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ABInputError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:
        raise ABInputError(f"{name} is out of range") from None
    if not math.isfinite(number):
        raise ABInputError(f"{name} must be a finite number, got {value!r}")
    return number


def _check_sequence(name: str, value: Any, minimum: int = 1) -> None:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise ABInputError(f"{name} must be a list, got {type(value).__name__}")
    if len(value) < minimum:
        raise ABInputError(f"{name} needs at least {minimum} item{'s' if minimum != 1 else ''}, got {len(value)}")


def _check_variants(variants: Any, minimum: int = 1) -> None:
    _check_sequence("variants", variants, minimum)
    for v in variants:
        if not isinstance(v, VariantCounts):
            raise ABInputError(f"each variant must be VariantCounts, got {type(v).__name__}")


def _check_pair(name: str, value: Any) -> tuple[int, int]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or len(value) != 2:
        raise ABInputError(f"{name} must be a (conversions, sends) pair, got {value!r}")
    conversions, n = value
    _check_counts(conversions, n)
    return conversions, n


# --------------------------------------------------------------------------------------------
# Per-variant counts and intervals


def _check_counts(conversions: int, n: int) -> None:
    # Exact type check: rejects floats and booleans (a bool is an int subclass) in one step.
    if type(conversions) is not int or type(n) is not int:
        raise ABInputError(f"counts must be Python integers, got {conversions!r} of {n!r}")
    if n < 0 or conversions < 0:
        raise ABInputError(f"counts cannot be negative ({conversions} of {n})")
    if conversions > n:
        raise ABInputError(f"more conversions than sends ({conversions} of {n})")
    if n > MAX_COUNT:
        raise ABInputError(f"counts above {MAX_COUNT:,} cannot be real sends ({n})")


def _normal_quantile(p: float) -> float:
    # A tail probability that rounds to 0 or 1 (alpha of 1e-300, a confidence of 1 - 1e-17) has no finite
    # quantile: NormalDist would raise StatisticsError, an error of the input rather than of the code.
    if not 0.0 < p < 1.0:
        raise ABInputError("the confidence, alpha or power is too close to 0 or 1 to compute")
    return _NORMAL.inv_cdf(p)


def _check_probability(name: str, value: float) -> None:
    if isinstance(value, bool) or not (isinstance(value, int | float) and 0.0 < value < 1.0):
        raise ABInputError(f"{name} must be strictly between 0 and 1, got {value!r}")


@functools.lru_cache(maxsize=64)
def _z_two_sided(confidence: float) -> float:
    _check_probability("confidence", confidence)
    return _normal_quantile(1.0 - (1.0 - confidence) / 2.0)


def wilson_interval(conversions: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a rate; used for every variant's interval bar (n=0 gives (0, 1))."""
    _check_counts(conversions, n)
    _check_probability("confidence", confidence)  # before the cache, which cannot hash a bad value
    if n == 0:
        return (0.0, 1.0)
    z = _z_two_sided(confidence)
    p = conversions / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denom
    # The exact bounds are 0 (resp. 1) when nothing (resp. everything) converted; say so exactly.
    low = 0.0 if conversions == 0 else max(0.0, centre - half)
    high = 1.0 if conversions == n else min(1.0, centre + half)
    return (low, high)


@dataclass(frozen=True)
class VariantCounts:
    """Sends and conversions of one variant, as counted by the A/B service."""

    name: str
    sends: int
    conversions: int

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise ABInputError(f"a variant's name must be text, got {self.name!r}")
        _check_counts(self.conversions, self.sends)

    @property
    def rate(self) -> float:
        """Conversion rate (0.0 when nothing was sent yet)."""
        return self.conversions / self.sends if self.sends else 0.0

    def interval(self, confidence: float = 0.95) -> tuple[float, float]:
        """Wilson interval of the rate; the results page draws it as a bar."""
        return wilson_interval(self.conversions, self.sends, confidence)


# --------------------------------------------------------------------------------------------
# Chi-square test of homogeneity


def _regularized_gamma_q(a: float, x: float) -> float:
    """Q(a, x) = Gamma(a, x) / Gamma(a): series below a+1, Lentz continued fraction above."""
    if a <= 0:
        raise ABInputError(f"gamma shape must be positive, got {a}")
    if x <= 0:
        return 1.0
    log_prefix = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1.0:
        # Series for P(a, x); here P is at most about one half, so 1 - P keeps full accuracy.
        term = 1.0 / a
        total = term
        ap = a
        for _ in range(100_000):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * _EPS:
                break
        return max(0.0, 1.0 - total * math.exp(log_prefix))
    # Continued fraction for Q(a, x) (modified Lentz), accurate in the far tail too.
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, 100_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < _TINY:
            d = _TINY
        c = b + an / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return min(1.0, math.exp(log_prefix) * h)


def chi2_sf(statistic: float, dof: int) -> float:
    """Survival function of the chi-square distribution (the p-value of a chi-square statistic)."""
    _check_int("degrees of freedom", dof, 1)
    if _check_number("the chi-square statistic", statistic) < 0:
        raise ABInputError(f"the chi-square statistic cannot be negative, got {statistic}")
    return _regularized_gamma_q(dof / 2.0, float(statistic) / 2.0)


class ChiSquareResult(NamedTuple):
    """Outcome of the test that all variants share one rate."""

    statistic: float
    dof: int
    p_value: float


def chi_square_homogeneity(groups: Sequence[tuple[int, int]]) -> ChiSquareResult:
    """Pearson chi-square test that all (conversions, n) groups share one rate; the results page's omnibus test.

    Groups with n=0 carry no information and are left out. With fewer than two informative groups,
    or when nobody (or everybody) converted, there is no evidence of a difference: (0, dof, 1.0).
    Fewer than two groups is no comparison at all and is refused.
    """
    _check_sequence("groups", groups, 2)
    pairs = [_check_pair("each group", group) for group in groups]
    informative = [(c, n) for c, n in pairs if n > 0]
    dof = max(len(informative) - 1, 0)
    total_n = sum(n for _, n in informative)
    total_c = sum(c for c, _ in informative)
    if dof == 0 or total_c == 0 or total_c == total_n:
        return ChiSquareResult(0.0, dof, 1.0)
    pooled = total_c / total_n
    # Sum over both cells of each column of (O - E)^2 / E, folded into one term per group.
    statistic = sum((c - n * pooled) ** 2 / (n * pooled * (1.0 - pooled)) for c, n in informative)
    return ChiSquareResult(statistic, dof, chi2_sf(statistic, dof))


# --------------------------------------------------------------------------------------------
# Pairwise comparisons against the control


class ZTestResult(NamedTuple):
    """Two-proportion z-test: z of rate1 - rate2, two-sided p-value, pooled rate."""

    z: float
    p_value: float
    pooled: float


def two_proportion_z_test(c1: int, n1: int, c2: int, n2: int) -> ZTestResult:
    """Pooled two-proportion z-test of rate1 = rate2 (z > 0 when group 1 converts more); two-sided p."""
    _check_counts(c1, n1)
    _check_counts(c2, n2)
    if n1 == 0 or n2 == 0:
        raise ABInputError("both groups need at least one send to be compared")
    pooled = (c1 + c2) / (n1 + n2)
    variance = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)
    if variance <= 0.0:
        # Nobody or everybody converted in both groups: identical rates, no evidence either way.
        return ZTestResult(0.0, 1.0, pooled)
    z = (c1 / n1 - c2 / n2) / math.sqrt(variance)
    # erfc keeps full relative precision for tiny p-values where 1 - cdf would round to 0.
    return ZTestResult(z, math.erfc(abs(z) / math.sqrt(2.0)), pooled)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values (same order as given); controls the family-wise error rate."""
    _check_sequence("p-values", p_values, 0)
    for p in p_values:
        if isinstance(p, bool) or not (isinstance(p, int | float) and 0.0 <= p <= 1.0):
            raise ABInputError(f"p-values must lie in [0, 1], got {p!r}")
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def newcombe_interval(c1: int, n1: int, c2: int, n2: int, confidence: float = 0.95) -> tuple[float, float]:
    """Interval for rate1 - rate2 from the two Wilson intervals (Newcombe's hybrid score method)."""
    _check_counts(c1, n1)
    _check_counts(c2, n2)
    if n1 == 0 or n2 == 0:
        raise ABInputError("both groups need at least one send to be compared")
    p1, p2 = c1 / n1, c2 / n2
    l1, u1 = wilson_interval(c1, n1, confidence)
    l2, u2 = wilson_interval(c2, n2, confidence)
    d = p1 - p2
    return (d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))


@dataclass(frozen=True)
class PairwiseResult:
    """One challenger against the control: difference, z-test and Holm-adjusted p-value."""

    index: int
    name: str
    difference: float  # challenger rate - control rate (absolute, e.g. 0.004 = 0.4 points)
    relative_lift: float | None  # difference / control rate; None when the control rate is 0
    difference_interval: tuple[float, float]  # 95% Newcombe interval, not adjusted for multiplicity
    z: float  # > 0 when the challenger converts more than the control
    p_value: float
    p_adjusted: float
    significant: bool  # p_adjusted < alpha


def pairwise_vs_control(
    variants: Sequence[VariantCounts], control_index: int = 0, alpha: float = 0.05
) -> list[PairwiseResult]:
    """Each challenger against the control (z-tests, Holm-adjusted); used by decide() and the results page."""
    _check_variants(variants, 2)
    _check_probability("alpha", alpha)
    _check_int("the control index", control_index)
    if not 0 <= control_index < len(variants):
        raise ABInputError(f"control index {control_index} is not one of the {len(variants)} variants")
    control = variants[control_index]
    if control.sends == 0 or any(v.sends == 0 for v in variants):
        raise ABInputError("every variant needs at least one send to be compared")
    raw: list[tuple[int, VariantCounts, ZTestResult]] = []
    for i, v in enumerate(variants):
        if i != control_index:
            raw.append(
                (i, v, two_proportion_z_test(v.conversions, v.sends, control.conversions, control.sends))
            )
    adjusted = holm([t.p_value for _, _, t in raw])
    results = []
    for (i, v, t), p_adj in zip(raw, adjusted, strict=True):
        diff = v.rate - control.rate
        results.append(
            PairwiseResult(
                index=i,
                name=v.name,
                difference=diff,
                relative_lift=diff / control.rate if control.rate > 0 else None,
                difference_interval=newcombe_interval(
                    v.conversions, v.sends, control.conversions, control.sends
                ),
                z=t.z,
                p_value=t.p_value,
                p_adjusted=p_adj,
                significant=p_adj < alpha,
            )
        )
    return results


# --------------------------------------------------------------------------------------------
# Bayesian view: probability to be best and expected loss, by quadrature over the Beta posteriors
#
# P(i best) = integral of f_i(x) * prod_{j != i} F_j(x) dx, and E[max] = x_end - integral of
# prod_j F_j(x) dx. Densities are evaluated relative to their mode (no lgamma of huge numbers),
# CDFs are accumulated with Simpson's rule on a grid that is fine where each posterior has mass
# (the region where its log-density is within 46 of the peak, so the mass outside is below 1e-17;
# at least 1,000 panels there and at least 100 per local length scale, which matters for skewed
# posteriors with few conversions), and each CDF is normalised by its own numerical total.
# Checked in the tests against the exact two-variant series and a seeded Monte Carlo: the
# probabilities are within 1e-8 of the exact values.

_LOG_DENSITY_DROP = 46.0
_PANELS_PER_POSTERIOR = 1000
_PANELS_PER_SCALE = 100


class _Beta:
    """A Beta(a, b) posterior with a, b >= 1 (log-concave), evaluated relative to its mode."""

    def __init__(self, a: float, b: float) -> None:
        self.a, self.b = a, b
        self.mode = (a - 1.0) / (a + b - 2.0) if a + b > 2.0 else 0.5
        self.peak = self.log_shape(self.mode)
        self.lo = self._edge(0.0, self.mode, rising=True)
        self.hi = self._edge(self.mode, 1.0, rising=False)
        # Local length scale at the mode: the standard deviation of the matching normal for an
        # interior mode, the decay length when the mode sits at 0 or 1 (skewed, exponential-like).
        if a > 1.0 and b > 1.0:
            self.scale = 1.0 / math.sqrt((a - 1.0) / self.mode**2 + (b - 1.0) / (1.0 - self.mode) ** 2)
        elif a + b > 2.0:
            self.scale = 1.0 / (a + b - 2.0)
        else:
            self.scale = 1.0
        self.step = min((self.hi - self.lo) / _PANELS_PER_POSTERIOR, self.scale / _PANELS_PER_SCALE)

    def log_shape(self, x: float) -> float:
        """(a-1) ln x + (b-1) ln(1-x), with 0 * ln 0 = 0 at the ends."""
        value = 0.0
        if self.a != 1.0:
            value += (self.a - 1.0) * math.log(x) if x > 0.0 else -math.inf
        if self.b != 1.0:
            value += (self.b - 1.0) * math.log1p(-x) if x < 1.0 else -math.inf
        return value

    def _edge(self, left: float, right: float, rising: bool) -> float:
        # Bisection for where the log-density is _LOG_DENSITY_DROP below the peak (concave => one crossing).
        outer = left if rising else right
        if self.log_shape(outer) >= self.peak - _LOG_DENSITY_DROP:
            return outer
        inner = right if rising else left
        for _ in range(200):
            mid = 0.5 * (outer + inner)
            if mid in (outer, inner):
                break
            if self.log_shape(mid) >= self.peak - _LOG_DENSITY_DROP:
                inner = mid
            else:
                outer = mid
        return outer

    def density(self, x: float) -> float:
        """Unnormalised density exp(log_shape - peak), in [0, 1]; 0 outside the region that holds the mass."""
        if x < self.lo or x > self.hi:
            return 0.0
        return math.exp(self.log_shape(x) - self.peak)


def _grid(posteriors: Sequence[_Beta]) -> list[tuple[float, float, int]]:
    """Segments (start, step, panels) covering all posteriors; panels even for Simpson's rule."""
    cuts = sorted({p.lo for p in posteriors} | {p.hi for p in posteriors})
    segments = []
    for u, v in zip(cuts, cuts[1:], strict=False):
        if v <= u:
            continue
        widths = [p.step for p in posteriors if p.lo <= u and p.hi >= v]
        panels = 2 if not widths else max(2, math.ceil((v - u) / min(widths)))
        panels += panels % 2
        segments.append((u, (v - u) / panels, panels))
    return segments


class BayesResult(NamedTuple):
    """Probability that each variant has the highest true rate, and the expected loss of choosing it."""

    probability_best: list[float]
    expected_loss: list[float]  # E[max_j p_j - p_i], in rate units (0.001 = 0.1 points)


def bayes(variants: Sequence[VariantCounts], prior: tuple[float, float] = (1.0, 1.0)) -> BayesResult:
    """Probability to be best and expected loss under Beta priors (exact quadrature, deterministic)."""
    _check_variants(variants)
    if isinstance(prior, str | bytes) or not isinstance(prior, Sequence) or len(prior) != 2:
        raise ABInputError(f"the prior must be an (alpha, beta) pair, got {prior!r}")
    alpha0, beta0 = (_check_number("the prior", value) for value in prior)
    if not (alpha0 >= 1.0 and beta0 >= 1.0):
        # Below 1 the posterior density can be infinite at 0 or 1, which this quadrature does not handle.
        raise ABInputError(f"prior parameters must be finite and at least 1, got {prior!r}")
    posts = [_Beta(v.conversions + alpha0, v.sends - v.conversions + beta0) for v in variants]
    k = len(posts)
    if k == 1:
        return BayesResult([1.0], [0.0])
    segments = _grid(posts)
    xs: list[float] = []
    for start, h, panels in segments:
        first = 0 if not xs else 1  # segments share their boundary node
        xs.extend(start + j * h for j in range(first, panels + 1))
    # Densities and cumulative integrals (CDFs) per posterior on the grid.
    dens: list[list[float]] = []
    cdfs: list[list[float]] = []
    for post in posts:
        f = [post.density(x) for x in xs]
        cdf = _cumulative_simpson(f, segments)
        total = cdf[-1]
        dens.append([value / total for value in f])
        cdfs.append([value / total for value in cdf])
    # Integrands: f_i * prod_{j != i} F_j for each i, and prod_j F_j for E[max].
    integrands = [[0.0] * len(xs) for _ in range(k)]
    all_cdf = [0.0] * len(xs)
    for m in range(len(xs)):
        column = [cdfs[j][m] for j in range(k)]
        product = 1.0
        for value in column:
            product *= value
        all_cdf[m] = product
        for i in range(k):
            others = 1.0
            for j in range(k):
                if j != i:
                    others *= column[j]
            integrands[i][m] = dens[i][m] * others
    prob = [_simpson(integrand, segments) for integrand in integrands]
    expected_max = xs[-1] - _simpson(all_cdf, segments)
    means = [p.a / (p.a + p.b) for p in posts]
    loss = [max(0.0, expected_max - mean) for mean in means]
    return BayesResult([min(1.0, max(0.0, p)) for p in prob], loss)


def _cumulative_simpson(f: Sequence[float], segments: Sequence[tuple[float, float, int]]) -> list[float]:
    """Running integral of f on the segmented grid: Simpson at even nodes, its 3-point partner at odd ones."""
    out = [0.0] * len(f)
    base = 0
    for _, h, panels in segments:
        for j in range(0, panels, 2):
            f0, f1, f2 = f[base + j], f[base + j + 1], f[base + j + 2]
            start = out[base + j]
            out[base + j + 1] = start + h / 12.0 * (5.0 * f0 + 8.0 * f1 - f2)
            out[base + j + 2] = start + h / 3.0 * (f0 + 4.0 * f1 + f2)
        base += panels
    return out


def _simpson(f: Sequence[float], segments: Sequence[tuple[float, float, int]]) -> float:
    """Composite Simpson integral of f over the whole segmented grid."""
    total = 0.0
    base = 0
    for _, h, panels in segments:
        acc = f[base] + f[base + panels]
        acc += 4.0 * sum(f[base + j] for j in range(1, panels, 2))
        acc += 2.0 * sum(f[base + j] for j in range(2, panels, 2))
        total += acc * h / 3.0
        base += panels
    return total


def probability_best(
    variants: Sequence[VariantCounts], prior: tuple[float, float] = (1.0, 1.0)
) -> list[float]:
    """Posterior probability that each variant has the highest true rate (Beta priors, exact quadrature)."""
    return bayes(variants, prior).probability_best


def expected_loss(variants: Sequence[VariantCounts], prior: tuple[float, float] = (1.0, 1.0)) -> list[float]:
    """Expected rate given up by choosing each variant instead of the true best (same quadrature)."""
    return bayes(variants, prior).expected_loss


# --------------------------------------------------------------------------------------------
# Planning


def sample_size_per_variant(
    baseline_rate: float,
    min_detectable_lift: float,
    alpha: float = 0.05,
    power: float = 0.8,
    variants: int = 2,
    two_sided: bool = True,
) -> int:
    """Sends needed per variant to detect a relative lift over the baseline; shown when a test is set up.

    Standard two-proportion formula (pooled variance under H0, unpooled under H1, no continuity
    correction), with alpha split over the variants - 1 comparisons with the control (Bonferroni;
    the Holm procedure used by decide() is never less powerful, so the size is safe for it).
    """
    _check_probability("baseline rate", baseline_rate)
    _check_probability("alpha", alpha)
    _check_probability("power", power)
    if isinstance(variants, bool) or not isinstance(variants, int) or not 2 <= variants <= MAX_VARIANTS:
        raise ABInputError(f"a test has 2 to {MAX_VARIANTS} variants, got {variants!r}")
    if not isinstance(two_sided, bool):
        raise ABInputError(f"two_sided must be true or false, got {two_sided!r}")
    try:
        lift = _check_number("the minimum detectable lift", min_detectable_lift)
    except ABInputError:
        lift = 0.0
    if lift == 0.0:
        raise ABInputError(
            f"the minimum detectable lift must be a non-zero number, got {min_detectable_lift!r}"
        )
    p1 = float(baseline_rate)
    p2 = p1 * (1.0 + lift)
    if not 0.0 < p2 < 1.0:
        raise ABInputError(
            f"a {lift:+.0%} lift on a {p1:.2%} baseline gives an impossible rate ({p2:.2%})"
        )
    size = _size(p1, p2, alpha, power, variants, two_sided)
    if size > MAX_COUNT:  # a lift so small (1e-9 of the rate) that no audience could show it
        raise ABInputError(f"a {lift:g} lift is too small to detect with any audience")
    return math.ceil(size)


def _size(p1: float, p2: float, alpha: float, power: float, variants: int, two_sided: bool = True) -> float:
    """The formula of sample_size_per_variant on checked inputs, unrounded (inf for p1 == p2)."""
    per_comparison_alpha = alpha / (variants - 1)
    z_alpha = _normal_quantile(1.0 - per_comparison_alpha / 2.0 if two_sided else 1.0 - per_comparison_alpha)
    z_beta = _normal_quantile(power)
    p_bar = (p1 + p2) / 2.0
    root = z_alpha * math.sqrt(2.0 * p_bar * (1.0 - p_bar)) + z_beta * math.sqrt(
        p1 * (1.0 - p1) + p2 * (1.0 - p2)
    )
    gap = (p2 - p1) ** 2
    return root * root / gap if gap > 0.0 else math.inf


def smallest_detectable_lift(
    baseline_rate: float, sends_per_variant: int, alpha: float = 0.05, power: float = 0.8, variants: int = 2
) -> float | None:
    """Smallest relative lift detectable with this many sends per variant (None if no lift is); for the warning."""
    _check_probability("baseline rate", baseline_rate)
    _check_int("sends per variant", sends_per_variant)
    _check_probability("alpha", alpha)
    _check_probability("power", power)
    _check_int("the number of variants", variants, 2)
    if variants > MAX_VARIANTS:
        raise ABInputError(f"a test has 2 to {MAX_VARIANTS} variants, got {variants!r}")
    if sends_per_variant > MAX_COUNT:
        raise ABInputError(f"counts above {MAX_COUNT:,} cannot be real sends ({sends_per_variant})")
    if sends_per_variant < 1:
        return None
    p1 = float(baseline_rate)

    def needed(lift: float) -> int:
        # Sizes beyond any audience compare as "more than sends_per_variant" (inf), not as an error.
        size = _size(p1, p1 * (1.0 + lift), alpha, power, variants)
        return math.ceil(size) if size <= MAX_COUNT else MAX_COUNT + 1

    ceiling = 1.0 / baseline_rate - 1.0  # the lift that would take the rate to 100%
    high = ceiling * (1.0 - 1e-9)
    if needed(high) > sends_per_variant:
        return None
    low = 0.0
    for _ in range(100):
        mid = 0.5 * (low + high)
        if mid > 0 and needed(mid) <= sends_per_variant:
            high = mid
        else:
            low = mid
        if high - low < 1e-6:
            break
    return high


class Fallback(StrEnum):
    """What to send to the rest when no challenger beat the control by the deadline."""

    KEEP_CONTROL = "keep_control"
    SEND_LEADER_NOT_SIGNIFICANT = "send_leader_not_significant"


@dataclass(frozen=True)
class TestPlan:
    """The planned test: its size per variant, alpha, the control and the marketer's fallback."""

    __test__ = False  # not a pytest test class despite the name

    variants: int
    sends_per_variant: int
    alpha: float = 0.05
    power: float = 0.8
    baseline_rate: float | None = None
    min_detectable_lift: float | None = None
    control_index: int = 0
    fallback: Fallback = Fallback.KEEP_CONTROL

    def __post_init__(self) -> None:
        _check_int("the number of variants", self.variants)
        if not 2 <= self.variants <= MAX_VARIANTS:
            raise ABInputError(f"a test has 2 to {MAX_VARIANTS} variants, got {self.variants}")
        _check_int("the planned size", self.sends_per_variant)
        if self.sends_per_variant < 1:
            raise ABInputError("the planned size must be at least one send per variant")
        _check_probability("alpha", self.alpha)
        _check_probability("power", self.power)
        if self.baseline_rate is not None:
            _check_probability("baseline rate", self.baseline_rate)
        if self.min_detectable_lift is not None:
            _check_number("the minimum detectable lift", self.min_detectable_lift)
        _check_int("the control index", self.control_index)
        if not 0 <= self.control_index < self.variants:
            raise ABInputError(
                f"control index {self.control_index} is not one of the {self.variants} variants"
            )
        object.__setattr__(self, "fallback", _fallback(self.fallback))


def _fallback(value: Any) -> Fallback:
    try:
        return Fallback(value)
    except ValueError:
        raise ABInputError(f"the fallback must be one of {', '.join(Fallback)}, got {value!r}") from None


def plan_test(
    baseline_rate: float,
    min_detectable_lift: float,
    variants: int = 2,
    alpha: float = 0.05,
    power: float = 0.8,
    control_index: int = 0,
    fallback: Fallback | str = Fallback.KEEP_CONTROL,
) -> TestPlan:
    """Plan a test from the marketer's expectations; the A/B setup form calls this."""
    fallback = _fallback(fallback)
    n = sample_size_per_variant(baseline_rate, min_detectable_lift, alpha, power, variants)
    return TestPlan(
        variants=variants,
        sends_per_variant=n,
        alpha=alpha,
        power=power,
        baseline_rate=baseline_rate,
        min_detectable_lift=min_detectable_lift,
        control_index=control_index,
        fallback=fallback,
    )


@dataclass(frozen=True)
class AudienceAdvice:
    """Whether the test portion of an audience reaches the planned size, with a warning if not."""

    needed_per_variant: int
    available_per_variant: int
    needed_portion: float  # share of the audience the test needs (may exceed 1)
    enough: bool
    detectable_lift: float | None  # smallest relative lift the available portion can detect
    message: str


def audience_advice(plan: TestPlan, audience_size: int, test_portion: float) -> AudienceAdvice:
    """Compare the planned size with the audience's test portion; shown on the A/B setup form."""
    if not isinstance(plan, TestPlan):
        raise ABInputError(f"the plan must be a TestPlan, got {type(plan).__name__}")
    _check_int("the audience size", audience_size)
    if audience_size < 0:
        raise ABInputError("the audience size cannot be negative")
    if not 0.0 < _check_number("the test portion", test_portion) <= 1.0:
        raise ABInputError(f"the test portion must be in (0, 1], got {test_portion!r}")
    available = int(audience_size * test_portion) // plan.variants
    needed_total = plan.sends_per_variant * plan.variants
    needed_portion = needed_total / audience_size if audience_size else math.inf
    enough = available >= plan.sends_per_variant
    lift = None
    if plan.baseline_rate is not None:
        lift = smallest_detectable_lift(plan.baseline_rate, available, plan.alpha, plan.power, plan.variants)
    if enough:
        message = (
            f"The test needs {plan.sends_per_variant:,} recipients per variant "
            f"({needed_total:,} in total); the test portion gives {available:,}."
        )
    else:
        detect = f" It can only detect lifts of {lift:.0%} or more." if lift is not None else ""
        message = (
            f"Audience too small: the test needs {plan.sends_per_variant:,} recipients per variant "
            f"({needed_total:,} in total, {needed_portion:.0%} of the audience) but the test portion "
            f"gives {available:,}.{detect} Consider fewer variants, a larger test portion, or a "
            f"metric with a higher baseline rate."
        )
    return AudienceAdvice(plan.sends_per_variant, available, needed_portion, enough, lift, message)


# --------------------------------------------------------------------------------------------
# The decision


class DecisionStatus(StrEnum):
    """Where a test stands: decided, still running, or over without a winner."""

    WINNER = "winner"
    NO_WINNER_YET = "no_winner_yet"
    INCONCLUSIVE_AT_DEADLINE = "inconclusive_at_deadline"


@dataclass(frozen=True)
class NowState:
    """The clock as the A/B service sees it: now, and when the last variant's window closes."""

    now: datetime
    deadline: datetime

    def __post_init__(self) -> None:
        if not isinstance(self.now, datetime) or not isinstance(self.deadline, datetime):
            raise ABInputError("now and deadline must be datetimes")
        if self.now.tzinfo is None or self.deadline.tzinfo is None:
            raise ABInputError("now and deadline must be timezone-aware")

    @property
    def deadline_reached(self) -> bool:
        """True once every variant's engagement window has closed."""
        return self.now >= self.deadline


@dataclass(frozen=True)
class VariantSummary:
    """One row of the results: counts, rate, Wilson interval and the Bayesian view."""

    index: int
    name: str
    sends: int
    conversions: int
    rate: float
    interval: tuple[float, float]
    probability_best: float | None
    expected_loss: float | None


@dataclass(frozen=True)
class Decision:
    """The verdict of decide(): status, what to send to the rest, why, and the numbers behind it."""

    status: DecisionStatus
    winner_index: int | None  # a challenger proven better than the control (status "winner")
    send_index: int | None  # the variant to send to the rest; None while the test is running
    significant: bool  # whether send_index is backed by a significant difference
    reason: str  # plain English for the marketer
    reason_code: str  # stable key for translations and the API
    control_index: int
    alpha: float
    planned_sends_per_variant: int
    variants: tuple[VariantSummary, ...]
    pairwise: tuple[PairwiseResult, ...]
    chi_square: ChiSquareResult | None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the API and the results page."""
        return {
            "status": str(self.status),
            "winner_index": self.winner_index,
            "send_index": self.send_index,
            "significant": self.significant,
            "reason": self.reason,
            "reason_code": self.reason_code,
            "notes": list(self.notes),
            "control_index": self.control_index,
            "alpha": self.alpha,
            "planned_sends_per_variant": self.planned_sends_per_variant,
            "variants": [
                {
                    "index": v.index,
                    "name": v.name,
                    "sends": v.sends,
                    "conversions": v.conversions,
                    "rate": v.rate,
                    "interval": list(v.interval),
                    "probability_best": v.probability_best,
                    "expected_loss": v.expected_loss,
                }
                for v in self.variants
            ],
            "pairwise": [
                {
                    "index": r.index,
                    "name": r.name,
                    "difference": r.difference,
                    "relative_lift": r.relative_lift,
                    "difference_interval": list(r.difference_interval),
                    "z": r.z,
                    "p_value": r.p_value,
                    "p_adjusted": r.p_adjusted,
                    "significant": r.significant,
                }
                for r in self.pairwise
            ],
            "chi_square": None if self.chi_square is None else self.chi_square._asdict(),
        }


def _pct(rate: float) -> str:
    return f"{rate:.2%}"


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _lift(result: PairwiseResult) -> str:
    if result.relative_lift is None:
        return f"{result.difference * 100:+.2f} points"
    return f"{result.relative_lift:+.0%}"


def decide(
    variants: Sequence[str],
    metric_counts: Sequence[tuple[int, int] | VariantCounts],
    plan: TestPlan,
    now_state: NowState,
    *,
    bayesian: bool = True,
) -> Decision:
    """Decide an A/B test from (conversions, sends) per variant; the A/B service calls it on every look.

    Fixed-horizon rule: before the deadline the answer is always "no_winner_yet" with provisional
    numbers, so looking early cannot create a false winner. At the deadline a challenger wins if
    it converts more than the control with a Holm-adjusted two-sided p-value below alpha (several
    may: the one with the highest rate wins). Otherwise the marketer's fallback applies.
    """
    _check_sequence("variant names", variants, 2)
    _check_sequence("counts", metric_counts, 2)
    if not isinstance(plan, TestPlan):
        raise ABInputError(f"the plan must be a TestPlan, got {type(plan).__name__}")
    if not isinstance(now_state, NowState):
        raise ABInputError(f"the clock must be a NowState, got {type(now_state).__name__}")
    if len(variants) != len(metric_counts):
        raise ABInputError(f"{len(variants)} variant names but {len(metric_counts)} counts")
    if len(variants) != plan.variants:
        raise ABInputError(f"the plan has {plan.variants} variants but {len(variants)} were given")
    counts = []
    for name, item in zip(variants, metric_counts, strict=True):
        if isinstance(item, VariantCounts):
            counts.append(VariantCounts(name, item.sends, item.conversions))
        else:
            conversions, sends = _check_pair("each count", item)
            counts.append(VariantCounts(name, sends, conversions))
    control = plan.control_index
    alpha = plan.alpha
    all_sent = all(v.sends > 0 for v in counts)
    pairwise = tuple(pairwise_vs_control(counts, control, alpha)) if all_sent else ()
    chi = chi_square_homogeneity([(v.conversions, v.sends) for v in counts]) if all_sent else None
    bayes_result = bayes(counts) if bayesian else None
    summaries = tuple(
        VariantSummary(
            index=i,
            name=v.name,
            sends=v.sends,
            conversions=v.conversions,
            rate=v.rate,
            interval=v.interval(),
            probability_best=bayes_result.probability_best[i] if bayes_result else None,
            expected_loss=bayes_result.expected_loss[i] if bayes_result else None,
        )
        for i, v in enumerate(counts)
    )
    # Leader: highest observed rate; ties go to the control, then to the earlier variant.
    leader = max(range(len(counts)), key=lambda i: (counts[i].rate, i == control, -i))
    notes: list[str] = []
    short = [v.name for v in counts if v.sends < plan.sends_per_variant]
    if short:
        notes.append(
            f"Below the planned {plan.sends_per_variant:,} sends per variant: {', '.join(short)}. "
            f"Smaller differences than planned may go undetected."
        )

    def verdict(
        status: DecisionStatus,
        winner: int | None,
        send: int | None,
        significant: bool,
        code: str,
        reason: str,
    ) -> Decision:
        return Decision(
            status=status,
            winner_index=winner,
            send_index=send,
            significant=significant,
            reason=reason,
            reason_code=code,
            control_index=control,
            alpha=alpha,
            planned_sends_per_variant=plan.sends_per_variant,
            variants=summaries,
            pairwise=pairwise,
            chi_square=chi,
            notes=tuple(notes),
        )

    c = counts[control]
    if not now_state.deadline_reached:
        when = now_state.deadline.strftime("%Y-%m-%d %H:%M %Z").strip()
        lead = counts[leader]
        reason = (
            f"Test running: provisional results. The decision is made at {when}, when every variant's "
            f"window has closed; looking earlier does not change it. Currently ahead: {lead.name} "
            f"({_pct(lead.rate)})."
        )
        return verdict(DecisionStatus.NO_WINNER_YET, None, None, False, "running", reason)

    if not all_sent:
        empty = ", ".join(v.name for v in counts if v.sends == 0)
        reason = (
            f"The deadline has passed but nothing was sent for {empty}, so the variants cannot be compared."
        )
        send = control if plan.fallback is Fallback.KEEP_CONTROL or leader == control else leader
        return verdict(DecisionStatus.INCONCLUSIVE_AT_DEADLINE, None, send, False, "no_sends", reason)

    better = [r for r in pairwise if r.significant and r.difference > 0]
    if better:
        best = max(better, key=lambda r: (counts[r.index].rate, -r.index))
        w = counts[best.index]
        reason = (
            f"{w.name} wins: {_pct(w.rate)} against {_pct(c.rate)} for the control {c.name} "
            f"({_lift(best)}, {_p(best.p_adjusted)}"
            f"{f' after correcting for {len(pairwise)} comparisons' if len(pairwise) > 1 else ''}). "
            f"A difference this large would rarely happen by chance."
        )
        if len(better) > 1:
            others = ", ".join(counts[r.index].name for r in better if r.index != best.index)
            reason += f" {others} also beat the control; {w.name} had the highest rate."
        return verdict(DecisionStatus.WINNER, best.index, best.index, True, "winner", reason)

    worse_all = all(r.significant and r.difference < 0 for r in pairwise)
    if worse_all:
        reason = (
            f"No challenger beat the control: {c.name} ({_pct(c.rate)}) did significantly better than "
            f"every other variant, so {c.name} is kept."
        )
        return verdict(DecisionStatus.INCONCLUSIVE_AT_DEADLINE, None, control, True, "control_better", reason)

    best_challenger = max(pairwise, key=lambda r: (r.difference, -r.index))
    evidence = (
        f"the best challenger, {best_challenger.name}, had {_pct(counts[best_challenger.index].rate)} "
        f"against {_pct(c.rate)} ({_lift(best_challenger)}, {_p(best_challenger.p_adjusted)})"
    )
    if best_challenger.difference > 0:
        evidence += ", a difference that could well be chance"
    if plan.fallback is Fallback.KEEP_CONTROL or leader == control:
        reason = (
            f"No variant did significantly better than the control {c.name} by the deadline ({evidence}). "
            f"Keeping {c.name}."
        )
        return verdict(DecisionStatus.INCONCLUSIVE_AT_DEADLINE, None, control, False, "keep_control", reason)
    lead = counts[leader]
    reason = (
        f"No variant did significantly better than the control {c.name} by the deadline ({evidence}). "
        f"As you chose, sending the leader {lead.name} ({_pct(lead.rate)}), labelled not significant."
    )
    return verdict(
        DecisionStatus.INCONCLUSIVE_AT_DEADLINE, None, leader, False, "send_leader_not_significant", reason
    )
