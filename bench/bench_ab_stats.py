"""Benchmark and design comparison for the A/B statistics (campaigns/experiments/stats.py).

Reproduce:  .venv/bin/python bench/bench_ab_stats.py            (about 30 s; numpy + scipy needed)
            .venv/bin/python bench/bench_ab_stats.py --quick    (fewer repeats and runs)

Part 1 times the statistics for a test on a 1,000,000-recipient broadcast (20% test portion):
decide() with the Bayesian view, for 2 to 5 variants. Counting the engagement is the A/B
service's job and is benchmarked there; this is the pure-computation share of the 2 s budget.

Part 2 compares decision rules on the same simulated data (10% baseline, +20% true lift,
48 hourly looks over a 48 h window, sends fixed at the planned size): our fixed-horizon rule,
naive peeking ("stop at the first p < 0.05"), and a normal-approximation mSPRT (Johari et al.),
which is valid under peeking but needs a larger test to reach the same power.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from campaigns.experiments import stats as experiments_stats

LOOKS = 48
BASELINE = 0.10
LIFT = 0.20


def time_decisions(repeats: int) -> None:
    """Print the median time of decide() (with the Bayesian view) at 1M-broadcast scale."""
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    state = experiments_stats.NowState(now=now, deadline=now)
    print("Part 1: decide() incl. probability-best/expected-loss, 1,000,000 recipients, 20% test portion")
    for k in range(2, 6):
        per_variant = 200_000 // k
        rates = [0.21, 0.22, 0.205, 0.215, 0.2][:k]
        counts = [(int(per_variant * r), per_variant) for r in rates]
        plan = experiments_stats.TestPlan(variants=k, sends_per_variant=per_variant)
        names = [chr(65 + i) for i in range(k)]
        samples, cpu = [], []
        for _ in range(repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            experiments_stats.decide(names, counts, plan, state)
            samples.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        print(
            f"  {k} variants x {per_variant:,} sends: median {statistics.median(samples) * 1e3:.1f} ms, "
            f"max {max(samples) * 1e3:.1f} ms, median CPU {statistics.median(cpu) * 1e3:.1f} ms over {repeats} runs"
        )


def simulate(rates: list[float], n: int, runs: int, seed: int) -> np.ndarray:
    """Cumulative conversions (runs, variants, LOOKS) with exponential delays (mean 8 h) in 48 h."""
    rng = np.random.default_rng(seed)
    edges = 1.0 - np.exp(-np.arange(LOOKS + 1) / 8.0)
    weights = np.diff(edges) / edges[-1]
    out = np.empty((runs, len(rates), LOOKS), dtype=np.int64)
    for v, rate in enumerate(rates):
        out[:, v, :] = np.cumsum(rng.multinomial(rng.binomial(n, rate, size=runs), weights), axis=1)
    return out


def fixed_horizon_wins(data: np.ndarray, n: int, alpha: float = 0.05) -> np.ndarray:
    """Our rule for two variants: at the last look, B beats A with two-sided p < alpha."""
    a, b = data[:, 0, -1].astype(float), data[:, 1, -1].astype(float)
    pooled = (a + b) / (2 * n)
    z = (b - a) / n / np.sqrt(np.maximum(pooled * (1 - pooled) * 2 / n, 1e-300))
    return z > stats.norm.ppf(1 - alpha / 2)


def naive_wins(data: np.ndarray, n: int, alpha: float = 0.05) -> np.ndarray:
    """Peeking: B is declared the winner at the first look where it beats A with p < alpha."""
    a, b = data[:, 0, :].astype(float), data[:, 1, :].astype(float)
    pooled = (a + b) / (2 * n)
    z = (b - a) / n / np.sqrt(np.maximum(pooled * (1 - pooled) * 2 / n, 1e-300))
    return (z > stats.norm.ppf(1 - alpha / 2)).any(axis=1)


def msprt_wins(data: np.ndarray, n: int, tau2: float, alpha: float = 0.05) -> np.ndarray:
    """Normal mixture SPRT on the difference of rates: B wins when Lambda >= 1/alpha with B ahead."""
    a, b = data[:, 0, :] / n, data[:, 1, :] / n
    v = np.maximum((a * (1 - a) + b * (1 - b)) / n, 1e-300)
    theta = b - a
    log_lambda = 0.5 * np.log(v / (v + tau2)) + tau2 * theta**2 / (2 * v * (v + tau2))
    return ((log_lambda >= math.log(1 / alpha)) & (theta > 0)).any(axis=1)


def compare_rules(runs: int) -> None:
    """Print false-winner rates and power of the three rules, and the size mSPRT needs for 80%."""
    n = experiments_stats.sample_size_per_variant(BASELINE, LIFT)
    null = simulate([BASELINE, BASELINE], n, runs, seed=1)
    alt = simulate([BASELINE, BASELINE * (1 + LIFT)], n, runs, seed=2)
    print(
        f"\nPart 2: rules on {runs:,} simulated tests each, n = {n:,} per variant (planned for 80% power), "
        f"{LOOKS} hourly looks"
    )
    print(
        f"  fixed horizon (ours):     A/A false winner {fixed_horizon_wins(null, n).mean():6.2%}   "
        f"power {fixed_horizon_wins(alt, n).mean():6.2%}"
    )
    print(
        f"  naive peeking p<0.05:     A/A false winner {naive_wins(null, n).mean():6.2%}   "
        f"power {naive_wins(alt, n).mean():6.2%}"
    )
    v_final = 2 * BASELINE * (1 - BASELINE) / n
    best = None
    for r in (1.0, 4.0, 8.0, 16.0):
        fp, power = msprt_wins(null, n, r * v_final).mean(), msprt_wins(alt, n, r * v_final).mean()
        print(f"  mSPRT tau^2={r:>4.0f} x V_n:  A/A false winner {fp:6.2%}   power {power:6.2%}")
        if best is None or power > best[1]:
            best = (r, power)
    assert best is not None
    r = best[0]
    for factor in (1.25, 1.5, 1.75, 2.0, 2.5):
        m = math.ceil(n * factor)
        alt_m = simulate([BASELINE, BASELINE * (1 + LIFT)], m, runs, seed=3)
        power = msprt_wins(alt_m, m, r * 2 * BASELINE * (1 - BASELINE) / m).mean()
        print(f"  mSPRT (tau^2={r:.0f} x V_n) with {factor:.2f} x n = {m:,} per variant: power {power:6.2%}")
        if power >= 0.8:
            break


def main() -> None:
    """Run both parts and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and simulated tests")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}; machine shared, figures are noisy")
    time_decisions(repeats=5 if args.quick else 20)
    compare_rules(runs=4000 if args.quick else 20000)


if __name__ == "__main__":
    main()
