"""Is a user agent a crawler, by the CrawlerDetect patterns (the `crawlerdetect` package, MIT), answered fast.

`crawlerdetect` keeps the patterns of the well-kept PHP project JayBizzle/Crawler-Detect (about 1,500 of
them): it strips the ordinary browser tokens from the agent, then searches one big alternation of every
pattern. Python's `re` tries each alternative at each position, about 1-3 ms per agent on the benchmark
machine; the hit writer meets thousands of distinct agents (Android agents name the device) in a busy
batch, so `crawler_match` answers the same question with the same patterns another way:
each pattern is indexed under a three-letter piece of text it cannot match without, and only the
patterns whose piece occurs in the agent are tried: about 0.1 ms an agent instead of 1-3 ms, most of it
crawlerdetect's own stripping of browser tokens, which is kept as it is. Patterns with no usable piece
(an alternation inside, under three letters) are tried together every time. Agents with non-ASCII
characters take crawlerdetect's own path, since case-insensitive matching of those is not plain
`str.lower()`. tests/engagement/test_crawlers.py checks both paths agree on a sample string of every
pattern and on the corpus.

One thing is deliberately different: the device model of an Android agent ("CUBOT P40", "M bot 51",
a model with "Robot" in it) is blanked before the patterns run, so a phone's name can never make its
owner a bot; a crawler's own token sits outside that part of the agent and is still seen.

Called by campaigns.engagement.classify (in the hit writer) for agents that none of the operator's
agent rules decided.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

# No type information is published for crawlerdetect; its pattern lists are plain lists of strings.
from crawlerdetect.providers.crawlers import data as crawler_patterns  # type: ignore[import-untyped]
from crawlerdetect.providers.exclusions import data as exclusion_patterns  # type: ignore[import-untyped]

# "(Linux; Android 12; CUBOT P40 Build/SP1A.210812.016; wv)", "(Linux; U; Android 4.0.3; ko-kr; LG-L160L Build/IML74K)",
# "(Linux; Android 10; K)": group 1 ends before the model, group 2 is the model, up to " Build/", ";" or ")".
_ANDROID_MODEL = re.compile(r"(\(Linux;(?: U;)? Android[^;)]*;(?: [a-z]{2}[-_][A-Za-z]{2};)?) ([^;)]+?)(?= Build/|[;)])")

_PIECE = 3  # letters per index key
_META = set(".^$*+?{}[]()|\\")
_QUANTIFIERS = set("*+?{")


def mask_device_model(user_agent: str) -> str:
    """The agent with an Android device model replaced by "K" (what Chrome's reduced agent sends)."""
    return _ANDROID_MODEL.sub(r"\1 K", user_agent, count=1)


def _required_text(pattern: str) -> str | None:
    """The longest run of plain characters every match of `pattern` contains, lower-cased; None when the
    pattern has an alternation (then no single run is required)."""
    runs: list[str] = []
    run: list[str] = []
    depth = 0  # inside (...): not counted, a group may be optional, repeated or an assertion
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "[":  # a class: one character of a set, never a required letter; skip to its end
            i += 1
            if i < len(pattern) and pattern[i] == "^":
                i += 1
            if i < len(pattern) and pattern[i] == "]":
                i += 1
            while i < len(pattern) and pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
            i += 1
            runs.append("".join(run))
            run = []
            continue
        if c == "\\" and i + 1 < len(pattern):
            char = pattern[i + 1]
            i += 2
            if char.isalnum():  # \d, \w, \b, \1 ...: a class or an assertion, not that letter
                runs.append("".join(run))
                run = []
                continue
        else:
            char = c
            i += 1
            if c == "|":
                return None
            if c == "(":
                depth += 1
            elif c == ")" and depth:
                depth -= 1
            if c in _META:
                runs.append("".join(run))
                run = []
                continue
        if depth:
            continue
        if i < len(pattern) and pattern[i] in _QUANTIFIERS:
            # "ab?" requires only "a": the quantified character ends the run without joining it
            runs.append("".join(run))
            run = []
            continue
        run.append(char)
    runs.append("".join(run))
    best = max(runs, key=len)
    return best.lower() if best.isascii() else None


@dataclass(frozen=True)
class _Index:
    exclusions: re.Pattern[str]
    everything: re.Pattern[str]  # crawlerdetect's own alternation: the path for non-ASCII agents
    by_piece: dict[str, tuple[re.Pattern[str], ...]]
    always: re.Pattern[str] | None


@lru_cache(maxsize=1)
def _index() -> _Index:
    """Compile the patterns once per process (about 0.3 s, on the first agent the process classifies)."""
    required = {p: _required_text(p) for p in crawler_patterns}
    pieces: Counter[str] = Counter()
    for text in required.values():
        if text and len(text) >= _PIECE:
            pieces.update({text[j : j + _PIECE] for j in range(len(text) - _PIECE + 1)})
    grouped: dict[str, list[re.Pattern[str]]] = {}
    always: list[str] = []
    for pattern, text in required.items():
        if not text or len(text) < _PIECE:
            always.append(pattern)
            continue
        # The rarest piece of its required text: fewer patterns to try for any agent that contains it.
        piece = min((text[j : j + _PIECE] for j in range(len(text) - _PIECE + 1)), key=lambda k: (pieces[k], k))
        grouped.setdefault(piece, []).append(re.compile(pattern, re.IGNORECASE))
    return _Index(
        exclusions=re.compile("|".join(exclusion_patterns), re.IGNORECASE),
        everything=re.compile(f"({'|'.join(crawler_patterns)})", re.IGNORECASE),
        by_piece={k: tuple(v) for k, v in grouped.items()},
        always=re.compile("|".join(f"(?:{p})" for p in always), re.IGNORECASE) if always else None,
    )


def crawler_match(user_agent: str) -> str:
    """The text of the agent that a CrawlerDetect pattern matched ('' when none did); called by classify."""
    index = _index()
    agent = index.exclusions.sub("", mask_device_model(user_agent.strip()))
    if not agent:
        return ""
    if not agent.isascii():
        found = index.everything.search(agent)
        return found.group(0) if found else ""
    lower = agent.lower()
    tried: set[str] = set()
    for j in range(len(lower) - _PIECE + 1):
        piece = lower[j : j + _PIECE]
        if piece in tried:
            continue
        tried.add(piece)
        for pattern in index.by_piece.get(piece, ()):
            found = pattern.search(agent)
            if found:
                return found.group(0)
    if index.always is not None:
        found = index.always.search(agent)
        if found:
            return found.group(0)
    return ""
