"""The machine's own ceiling for "two worker processes vs one": a pure Python loop (no I/O, nothing
shared) in one process, two at once, one again; two / the mean of the ones, repeated.

On a VM the second vCPU adds whatever the host gives it; this is the ratio no sender could beat here.
bench/bench_sending.py measures the same once per round next to its two-worker ratio.

Reproduce (from the repository root):
    .venv/bin/python bench/bench_machine.py --repeats 12
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import machine_ceiling  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=12)
    parser.add_argument("--iterations", type=int, default=8_000_000, help="loop iterations per process")
    args = parser.parse_args()
    print(f"# {os.cpu_count()} cores, load average at start {os.getloadavg()[0]:.1f}, python {sys.version.split()[0]}")
    ratios = []
    for number in range(1, args.repeats + 1):
        ratios.append(machine_ceiling(args.iterations))
        print(f"triple {number:2d}: 2 processes vs 1  {ratios[-1]:.2f}x", flush=True)
    share = sum(r >= 1.7 for r in ratios) / len(ratios)
    print(f"# median {statistics.median(ratios):.2f}x, range {min(ratios):.2f}-{max(ratios):.2f}x; "
          f"{share:.0%} of the triples at or above 1.7x")
    print("# reproduce: .venv/bin/python bench/bench_machine.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
