"""Is a hit a person? Classifies opens and clicks as human, machine_open or scanner, with a reason.

Two levels, both pure functions:
- `network_of(ip)` and `classify_hit(...)` look at one hit: its user agent, the network its address
  belongs to (looked up before the address is truncated or hashed) and the time since delivery.
- `classify_send_hits(...)` looks at all hits of one mail together: a honeypot link clicked, or every
  link clicked within seconds, marks those clicks as a scanner's even when each looked human alone.

The buffered writer (campaigns.engagement.hit_writer) calls `classify_send_hits` each time new hits of a mail
arrive, so a later hit can reclassify earlier ones (the roll-ups are corrected by difference).

What a network or an agent is comes from data, not code: the address ranges and agent rules of
campaigns/engagement/data/ (or an operator's copies, CLASSIFY_DATA_DIR), loaded by classify_data.py,
and, for agents no rule decided, the CrawlerDetect patterns (crawlers.py). Each function takes the
data in force as its last argument (the packaged data when omitted); see docs/tracking.md.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Protocol

from campaigns.engagement.classify_data import ClassificationData, classification_data
from campaigns.engagement.crawlers import crawler_match
from campaigns.models.tracking import HitClass, HitKind

CLICK_AFTER_DELIVERY_SECONDS = 10  # a person cannot read a mail and click within this
OPEN_AFTER_DELIVERY_SECONDS = 2  # a prefetching proxy loads images as the mail arrives
# A browser (not a mail client) loading the images this soon after delivery is a gateway's sandbox
# rendering the mail: a person reading webmail needs longer for the mail to arrive, be noticed and opened.
BROWSER_OPEN_AFTER_DELIVERY_SECONDS = 10
PROXY_PREFETCH_SECONDS = 30  # a proxy fetch this early is a prefetch, not a person opening
BURST_WINDOW_SECONDS = 5  # "every link clicked at once"
BURST_MIN_LINKS = 3
HONEYPOT_COMPANION_SECONDS = 60

# A browser engine's own product token: what sandboxes and people's browsers send, and mail clients do not
# (Apple Mail, Outlook and Thunderbird do not name Chrome, Firefox or Safari). Android web views ("; wv)")
# are mail apps, not browsers.
_BROWSER = re.compile(r"\b(?:Chrome|Chromium|CriOS|Firefox|FxiOS|Edg|EdgA|EdgiOS|OPR)/\d|\bVersion/[\d.]+ (?:Mobile/\S+ )?Safari/")
_WEB_VIEW = re.compile(r"; wv\)")


@dataclass(frozen=True)
class Verdict:
    classification: HitClass
    reason: str


HUMAN = Verdict(HitClass.HUMAN, "")


def network_of(ip: str, data: ClassificationData | None = None) -> str:
    """The known network ('apple', 'microsoft', ...) an address belongs to, or ''; called by the endpoints."""
    return _network_of(ip, data or classification_data())


@lru_cache(maxsize=65536)
def _network_of(ip: str, data: ClassificationData) -> str:
    return data.network_of(ip)


@dataclass(frozen=True)
class _Agent:
    """What a user agent alone says: the deciding rule's verdict and reason, and whether a browser sent it."""

    verdict: str  # an agents.toml verdict, "crawler" (CrawlerDetect), "none" (no agent) or "" (nothing known)
    reason: str
    browser: bool


@lru_cache(maxsize=8192)
def _agent(ua: str, data: ClassificationData) -> _Agent:
    """The same few hundred agents recur, so the rules and CrawlerDetect run once for each."""
    if not ua:
        return _Agent("none", "no_user_agent", False)
    browser = bool(_BROWSER.search(ua)) and not _WEB_VIEW.search(ua)
    for rule in data.agents:
        if rule.pattern.search(ua):
            return _Agent(rule.verdict, rule.reason, browser)
    if crawler_match(ua):
        return _Agent("crawler", "bot_user_agent", browser)
    return _Agent("", "", browser)


def classify_hit(
    kind: HitKind, user_agent: str, network: str, seconds_after_delivery: float | None,
    data: ClassificationData | None = None,
) -> Verdict:
    """Classify one hit on its own evidence; used by classify_send_hits (and tests)."""
    return _classify_banded(kind, (user_agent or "").strip(), network, _band(seconds_after_delivery),
                            data or classification_data())


# The only thing the time since delivery decides is which side of these thresholds a hit falls on, so
# a verdict depends on (kind, user agent, network, band): few distinct values, cached, where the hit
# writer re-examines every stored click of a mail each time a new one arrives.
_BAND_EDGES = tuple(sorted({0.0, OPEN_AFTER_DELIVERY_SECONDS, CLICK_AFTER_DELIVERY_SECONDS,
                            BROWSER_OPEN_AFTER_DELIVERY_SECONDS, PROXY_PREFETCH_SECONDS}))


def _band(seconds_after_delivery: float | None) -> int:
    """-1 without a delivery time, else how many of _BAND_EDGES the delay has reached (0: before delivery)."""
    if seconds_after_delivery is None:
        return -1
    for band, edge in enumerate(_BAND_EDGES):
        if seconds_after_delivery < edge:
            return band
    return len(_BAND_EDGES)


def _earlier_than(band: int, edge: float) -> bool:
    """Whether a hit in `band` came less than `edge` seconds after delivery (or before it)."""
    return 0 <= band <= _BAND_EDGES.index(edge)


@lru_cache(maxsize=16384)
def _classify_banded(kind: HitKind, ua: str, network: str, band: int, data: ClassificationData) -> Verdict:
    agent = _agent(ua, data)
    if agent.verdict == "scanner":
        return Verdict(HitClass.SCANNER, agent.reason)  # the gateway names itself
    known = data.networks.get(network)
    role, network_reason = (known.role, known.reason) if known else ("", "")
    if role == "scanner" or (role == "fetcher" and agent.verdict != "client"):
        return Verdict(HitClass.SCANNER, network_reason)
    if agent.verdict in ("none", "bot", "crawler"):
        return Verdict(HitClass.SCANNER, agent.reason)
    if kind == HitKind.OPEN:
        if role == "privacy_proxy" and not agent.browser and agent.verdict != "client":
            return Verdict(HitClass.MACHINE_OPEN, network_reason)
        if agent.verdict == "bare_proxy":
            # Privacy proxies (MPP among them) present this bare user agent; mail clients never do.
            return Verdict(HitClass.MACHINE_OPEN, "generic_proxy_user_agent")
        if agent.verdict == "image_proxy" or role == "image_proxy":
            # Gmail's and Yahoo's proxies fetch when the reader opens the mail (a person), unless the
            # fetch comes as the mail arrives, which is a prefetch.
            if _earlier_than(band, PROXY_PREFETCH_SECONDS):
                return Verdict(HitClass.MACHINE_OPEN, "proxy_prefetch")
            return Verdict(HitClass.HUMAN, "image_proxy")
        if _earlier_than(band, OPEN_AFTER_DELIVERY_SECONDS):
            return Verdict(HitClass.MACHINE_OPEN, "open_at_delivery")
        if agent.browser and _earlier_than(band, BROWSER_OPEN_AFTER_DELIVERY_SECONDS):
            return Verdict(HitClass.SCANNER, "browser_open_at_delivery")
        return HUMAN
    # Clicks. Proxies fetch images, they do not follow links: a click through one is the service's own
    # link check (Google's from its proxy ranges), and the bare agent is no browser's.
    if role == "image_proxy" or agent.verdict == "image_proxy":
        return Verdict(HitClass.SCANNER, network_reason if role == "image_proxy" else "image_proxy_click")
    if agent.verdict == "bare_proxy":
        return Verdict(HitClass.SCANNER, "bare_user_agent")
    if _earlier_than(band, CLICK_AFTER_DELIVERY_SECONDS):
        return Verdict(HitClass.SCANNER, "click_at_delivery")
    return HUMAN


class HitLike(Protocol):
    """What classification reads of one hit of a mail (HitFacts, or the hit writer's own rows)."""

    @property
    def kind(self) -> HitKind: ...
    @property
    def occurred_at(self) -> datetime: ...
    @property
    def user_agent(self) -> str: ...
    @property
    def network(self) -> str: ...
    @property
    def ip(self) -> str: ...
    @property
    def link_id(self) -> int | None: ...


@dataclass(frozen=True)
class HitFacts:
    """What classification needs to know about one hit of a mail."""

    kind: HitKind
    occurred_at: datetime
    user_agent: str
    network: str
    ip: str
    link_id: int | None


def classify_send_hits(
    hits: Sequence[HitLike],
    delivered_at: datetime | None,
    honeypot_link_ids: set[int],
    tracked_link_count: int,
    data: ClassificationData | None = None,
) -> list[Verdict]:
    """Classify every hit of one mail, using the other hits as evidence; called by the hit writer."""
    data = data or classification_data()
    verdicts = [
        _classify_banded(h.kind, (h.user_agent or "").strip(), h.network,
                         _band((h.occurred_at - delivered_at).total_seconds() if delivered_at else None), data)
        for h in hits
    ]

    clicks = sorted(
        (i for i, h in enumerate(hits) if h.kind == HitKind.CLICK), key=lambda i: hits[i].occurred_at
    )
    # A hidden honeypot link is never clicked by a person; the same client's other clicks around it
    # are the scanner walking every link.
    for i in clicks:
        if hits[i].link_id in honeypot_link_ids:
            verdicts[i] = Verdict(HitClass.SCANNER, "honeypot")
            for j in clicks:
                same_client = hits[j].ip == hits[i].ip and hits[j].user_agent == hits[i].user_agent
                close = abs((hits[j].occurred_at - hits[i].occurred_at).total_seconds()) <= HONEYPOT_COMPANION_SECONDS
                if j != i and same_client and close and verdicts[j].classification == HitClass.HUMAN:
                    verdicts[j] = Verdict(HitClass.SCANNER, "honeypot_companion")

    # Every link of the mail (or at least BURST_MIN_LINKS distinct ones) clicked within a few seconds
    # by one client (a forwarded mail read by two people is not a burst).
    if tracked_link_count < 2:
        return verdicts
    needed = min(tracked_link_count, BURST_MIN_LINKS)
    by_client: dict[tuple[str, str], list[int]] = {}
    for i in clicks:
        by_client.setdefault((hits[i].ip, hits[i].user_agent), []).append(i)
    for group in by_client.values():
        start = 0
        for end in range(len(group)):
            while (hits[group[end]].occurred_at - hits[group[start]].occurred_at).total_seconds() > BURST_WINDOW_SECONDS:
                start += 1
            window = group[start : end + 1]
            distinct = {hits[i].link_id for i in window if hits[i].link_id not in honeypot_link_ids}
            if len(distinct) >= needed:
                for i in window:
                    if verdicts[i].classification == HitClass.HUMAN:
                        verdicts[i] = Verdict(HitClass.SCANNER, "all_links_at_once")
    return verdicts
