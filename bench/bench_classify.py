"""Classifier benchmark: the CPU cost per hit of campaigns.engagement.classify, which the hit writer pays for
every hit of a batch and the web processes pay for each hit's network lookup.

What runs: --hits hits (opens and clicks, a realistic mix of mail clients, browsers, Android phones that
name their model, scanners and bots, over --agents distinct user agents and as many distinct addresses),
classified with every cache of the classifier emptied first, as a writer meeting new agents would:
  network lookup  network_of(ip) for each hit's address (the endpoint's cost, per hit)
  classify        classify_send_hits over the hits in mails of 5 hits (the writer's cost, per hit)
then the same hits again with the caches warm (the same agents recur within a campaign).
The first call of a process (loading the data files, indexing CrawlerDetect's patterns) is printed apart.

--module PATH classifies with another copy of classify.py (the one of an earlier commit, for a before/after:
`git show <commit>:campaigns/engagement/classify.py > /tmp/old_classify.py`).

Reproduce (from the repository root; needs nothing running):
    .venv/bin/python bench/bench_classify.py
    .venv/bin/python bench/bench_classify.py --module /tmp/old_classify.py
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36"
ANDROID = ("Mozilla/5.0 (Linux; Android {a}; {m} Build/TP1A.{b}) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/{v}.0.{c}.{d} Mobile Safari/537.36")
FIXED = [
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.{n}; Pro)",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_{n} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
    "Mozilla/5.0",
    "python-requests/2.{n}.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/{n}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (compatible; SemrushBot/{n}~bl; +http://www.semrush.com/bot.html)",
]
ADDRESSES = ["126.15.{a}.{b}", "40.107.{a}.{b}", "17.58.{a}.{b}", "66.102.{c}.{b}", "203.0.{a}.{b}", "2400:4050:{a}::{b}"]


def load(path: str) -> ModuleType:
    if not path:
        from campaigns.engagement import classify
        return classify
    spec = importlib.util.spec_from_file_location("classify_under_test", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def clear_caches(module: ModuleType) -> None:
    """Empty every per-agent, per-address and per-verdict cache (not the once-per-process data and index)."""
    for value in vars(module).values():
        if hasattr(value, "cache_clear") and getattr(value, "__module__", "") == module.__name__:
            value.cache_clear()


def make_hits(count: int, agents: int, rng: random.Random) -> list[tuple[str, str, str, float]]:
    """(kind, agent, address, seconds after delivery) for `count` hits over `agents` distinct agents."""
    pool = []
    for i in range(agents):
        shape = i % 10
        if shape < 4:
            pool.append(ANDROID.format(a=rng.choice([11, 12, 13, 14]), m=f"SM-A{rng.randrange(100, 999)}{chr(65 + i % 26)}",
                                       b=rng.randrange(100000, 999999), v=rng.randrange(110, 132),
                                       c=rng.randrange(5000, 7000), d=rng.randrange(10, 200)))
        elif shape < 7:
            pool.append(CHROME.format(v=100 + i))
        else:
            pool.append(FIXED[i % len(FIXED)].format(n=i))
    hits = []
    for _ in range(count):
        address = rng.choice(ADDRESSES).format(a=rng.randrange(256), b=rng.randrange(1, 255), c=rng.randrange(16))
        hits.append((rng.choice(["open", "click"]), rng.choice(pool), address, rng.choice([1, 5, 20, 600, 7200])))
    return hits


def run(module: ModuleType, hits: list[tuple[str, str, str, float]]) -> tuple[float, float]:
    """Microseconds of CPU per hit: network lookup, then classification in mails of five hits."""
    from campaigns.models.tracking import HitKind

    t0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    started = time.process_time()
    networks = [module.network_of(ip) for _kind, _ua, ip, _s in hits]
    lookup = time.process_time() - started
    facts: list[Any] = [
        module.HitFacts(HitKind(kind), t0 + timedelta(seconds=s), ua, network, ip, 1 if kind == "click" else None)
        for (kind, ua, ip, s), network in zip(hits, networks, strict=True)
    ]
    started = time.process_time()
    for i in range(0, len(facts), 5):
        module.classify_send_hits(facts[i : i + 5], t0, set(), 3)
    classify = time.process_time() - started
    return lookup / len(hits) * 1e6, classify / len(hits) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hits", type=int, default=20000)
    parser.add_argument("--agents", type=int, default=2000, help="distinct user agents among the hits")
    parser.add_argument("--module", default="", help="path of another classify.py to measure instead")
    args = parser.parse_args()

    from campaigns.models.tracking import HitKind

    started = time.process_time()
    module = load(args.module)
    module.classify_hit(HitKind.OPEN, "Mozilla/5.0 (compatible; FirstBot/1.0)", module.network_of("192.0.2.1"), 60.0)
    print(f"# {args.module or 'campaigns/engagement/classify.py'}: first hit of a process (import, data, index) "
          f"{(time.process_time() - started) * 1000:.0f} ms of CPU")
    hits = make_hits(args.hits, args.agents, random.Random(16))
    clear_caches(module)
    cold = run(module, hits)
    warm = run(module, hits)
    print(f"{args.hits} hits, {args.agents} distinct agents, caches empty: network lookup {cold[0]:.1f} us/hit, "
          f"classify {cold[1]:.1f} us/hit")
    print(f"same hits again, caches warm:            network lookup {warm[0]:.1f} us/hit, classify {warm[1]:.1f} us/hit")
    print("reproduce: .venv/bin/python bench/bench_classify.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
