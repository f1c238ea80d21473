"""campaigns.engagement.crawlers answers as crawlerdetect does (same patterns, indexed), except that an
Android device model never makes an agent a crawler."""

from __future__ import annotations

import json
import random
import re
import re._constants as sre  # the standard library's regex parser: only to write a sample match of each pattern
import re._parser as sre_parse
from pathlib import Path
from typing import Any

import pytest
from crawlerdetect import CrawlerDetect
from crawlerdetect.providers.crawlers import data as crawler_patterns

from campaigns.engagement.crawlers import crawler_match, mask_device_model

CORPUS_FILE = Path(__file__).parent / "corpus" / "hits.jsonl"
CORPUS_AGENTS = {json.loads(line)["ua"] for line in CORPUS_FILE.read_text(encoding="utf-8").splitlines()}


def sample_of(pattern: str, rng: random.Random) -> str:
    """A string the pattern matches (one branch of each alternation chosen at random)."""
    out: list[str] = []

    def walk(items: Any) -> None:
        for op, av in items:
            if op is sre.LITERAL:
                out.append(chr(av))
            elif op is sre.NOT_LITERAL:
                out.append("x" if av != ord("x") else "y")
            elif op is sre.ANY:
                out.append("x")
            elif op is sre.IN:
                for inner, value in av:
                    if inner is sre.NEGATE:
                        out.append("q" if "q" != chr(av[1][1]) else "z")
                        break
                    if inner is sre.LITERAL:
                        out.append(chr(value))
                        break
                    if inner is sre.RANGE:
                        out.append(chr(value[0]))
                        break
                    if inner is sre.CATEGORY:
                        out.append("5" if "DIGIT" in str(value) else "a")
                        break
            elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
                low, high, sub = av
                for _ in range(max(low, 1) if high > 0 else 0):
                    walk(sub)
            elif op is sre.SUBPATTERN:
                walk(av[-1])
            elif op is sre.BRANCH:
                walk(rng.choice(av[1]))
            elif op is sre.ASSERT:
                walk(av[1])
            elif op is sre.CATEGORY:
                out.append("5")
            # AT (^, $, \b) and ASSERT_NOT add nothing

    walk(sre_parse.parse(pattern, re.IGNORECASE))
    return "".join(out)


WRAPPERS = [
    "{s}",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 {s}",
    "Mozilla/5.0 (compatible; {s}/2.1; +http://example.com/bot.html)",
    "{s} (Linux; Android 10; K)",
]


def test_the_fast_path_agrees_with_crawlerdetect_on_a_sample_of_every_pattern():
    detector = CrawlerDetect()
    rng = random.Random(16)
    disagree = []
    for pattern in crawler_patterns:
        sample = sample_of(pattern, rng)
        for wrapper in WRAPPERS:
            agent = wrapper.format(s=sample)
            if detector.is_crawler(agent) != bool(crawler_match(agent)):
                disagree.append((pattern, agent))
    assert disagree == []


@pytest.mark.parametrize("agent", sorted(agent for agent in CORPUS_AGENTS if "Android" not in agent))
def test_the_fast_path_agrees_with_crawlerdetect_on_the_corpus(agent):
    assert bool(crawler_match(agent)) == CrawlerDetect().is_crawler(agent)


def test_non_ascii_agents_take_crawlerdetect_s_own_path():
    agent = "Mozilla/5.0 (compatible; Яндекс.Бот/3.0) ЯндексБот"
    assert bool(crawler_match(agent)) == CrawlerDetect().is_crawler(agent)
    assert crawler_match("Mozilla/5.0 (Windows NT 10.0; ja-JP) 日本語ブラウザ/1.0") == ""


@pytest.mark.parametrize("model", ["Robot X1", "Botslab T1", "KidsReader 10", "Bot", "TalkBot"])
def test_a_device_model_never_makes_an_android_agent_a_crawler(model):
    agent = (f"Mozilla/5.0 (Linux; Android 13; {model} Build/TP1A.220624.014) AppleWebKit/537.36 "
             "(KHTML, like Gecko) Chrome/120.0.6099.230 Mobile Safari/537.36")
    assert CrawlerDetect().is_crawler(agent)  # CrawlerDetect alone takes the phone for a crawler
    assert crawler_match(agent) == ""


def test_a_crawler_token_outside_the_device_model_is_still_seen():
    googlebot = ("Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/131.0.6778.69 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")
    assert crawler_match(googlebot) == "Googlebot"
    assert mask_device_model(googlebot).startswith("Mozilla/5.0 (Linux; Android 6.0.1; K Build/MMB29P) AppleWebKit")
    assert mask_device_model("Mozilla/5.0 (Linux; U; Android 4.0.3; ko-kr; LG-L160L Build/IML74K) AppleWebkit/534.30") \
        == "Mozilla/5.0 (Linux; U; Android 4.0.3; ko-kr; K Build/IML74K) AppleWebkit/534.30"
    assert mask_device_model("Mozilla/5.0 (Linux; Android 12; CUBOT P40; wv) AppleWebKit/537.36") \
        == "Mozilla/5.0 (Linux; Android 12; K; wv) AppleWebKit/537.36"
