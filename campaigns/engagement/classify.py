"""Is a hit a person? Classifies opens and clicks as human, machine_open or scanner, with a reason.

Two levels, both pure functions:
- `network_of(ip)` and `classify_hit(...)` look at one hit: its user agent, the network its address
  belongs to (looked up before the address is truncated or hashed) and the time since delivery.
- `classify_send_hits(...)` looks at all hits of one mail together: a honeypot link clicked, or every
  link clicked within seconds, marks those clicks as a scanner's even when each looked human alone.

The buffered writer (campaigns.engagement.hit_writer) calls `classify_send_hits` each time new hits of a mail
arrive, so a later hit can reclassify earlier ones (the roll-ups are corrected by difference).
The network list is a best-effort snapshot of the ranges these services publish; see docs/tracking.md.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Protocol

from campaigns.models.tracking import HitClass, HitKind

# Published egress ranges of privacy proxies and mail security gateways (kept short on purpose:
# the prefixes are all /24 or wider so that a truncated address still matches when re-checked).
NETWORKS: dict[str, tuple[str, ...]] = {
    # Apple Mail Privacy Protection fetches remote content through Apple's own network.
    "apple": ("17.0.0.0/8",),
    # Google's image proxy (Gmail) fetches images when the recipient opens the mail.
    "google_proxy": ("66.102.0.0/20", "66.249.80.0/20", "72.14.192.0/18", "74.125.0.0/16"),
    # Microsoft Exchange Online Protection / Defender Safe Links detonation.
    "microsoft": ("40.92.0.0/15", "40.107.0.0/16", "52.100.0.0/14", "104.47.0.0/17"),
    "proofpoint": ("148.163.128.0/19", "67.231.144.0/20", "208.84.65.0/24", "208.86.202.0/24"),
    "mimecast": ("205.139.110.0/24", "207.211.30.0/24", "207.211.31.0/25", "91.220.42.0/24", "146.101.78.0/24"),
    "barracuda": ("64.235.144.0/20", "209.222.80.0/21", "35.157.190.224/27"),
}
SCANNER_NETWORKS = {"microsoft", "proofpoint", "mimecast", "barracuda"}

_PARSED = [(name, ipaddress.ip_network(net)) for name, nets in NETWORKS.items() for net in nets]

# User agents that name the gateway or a bot. Checked case-insensitively.
_SCANNER_UA = [
    ("proofpoint", re.compile(r"proofpoint|ppops", re.I)),
    ("mimecast", re.compile(r"mimecast", re.I)),
    ("barracuda", re.compile(r"barracuda", re.I)),
    ("safe_links", re.compile(r"safelinks|safe links|microsoft office protection|defender", re.I)),
]
_BOT_UA = re.compile(
    r"bot\b|bot/|spider|crawl|slurp|headlesschrome|phantomjs|python-requests|python-urllib|aiohttp|"
    r"httpx|go-http-client|java/|okhttp|curl/|wget/|libwww|scrapy|facebookexternalhit|preview|"
    r"scan|checker|validator|monitor|axios/|node-fetch",
    re.I,
)
_GOOGLE_PROXY_UA = re.compile(r"GoogleImageProxy|ggpht\.com", re.I)
_YAHOO_PROXY_UA = re.compile(r"YahooMailProxy", re.I)

CLICK_AFTER_DELIVERY_SECONDS = 10  # a person cannot read a mail and click within this
OPEN_AFTER_DELIVERY_SECONDS = 2  # a prefetching proxy loads images as the mail arrives
PROXY_PREFETCH_SECONDS = 30  # a proxy fetch this early is a prefetch, not a person opening
BURST_WINDOW_SECONDS = 5  # "every link clicked at once"
BURST_MIN_LINKS = 3
HONEYPOT_COMPANION_SECONDS = 60


@dataclass(frozen=True)
class Verdict:
    classification: HitClass
    reason: str


HUMAN = Verdict(HitClass.HUMAN, "")


@lru_cache(maxsize=65536)
def network_of(ip: str) -> str:
    """The known network ('apple', 'microsoft', ...) an address belongs to, or ''; called by the endpoints."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    for name, net in _PARSED:
        if addr.version == net.version and addr in net:
            return name
    return ""


@lru_cache(maxsize=8192)
def _ua_signal(ua: str) -> str:
    """What a user agent alone says (the same few hundred strings recur, so the regexes run once each)."""
    for name, pattern in _SCANNER_UA:
        if pattern.search(ua):
            return f"{name}_user_agent"
    if not ua:
        return "no_user_agent"
    proxy = bool(_GOOGLE_PROXY_UA.search(ua) or _YAHOO_PROXY_UA.search(ua))
    if _BOT_UA.search(ua) and not proxy:
        return "bot_user_agent"
    if proxy:
        return "image_proxy"
    if ua == "Mozilla/5.0":
        return "bare"
    return ""


def classify_hit(
    kind: HitKind, user_agent: str, network: str, seconds_after_delivery: float | None
) -> Verdict:
    """Classify one hit on its own evidence; used by classify_send_hits (and tests)."""
    return _classify_banded(kind, (user_agent or "").strip(), network, _band(seconds_after_delivery))


# The only thing the time since delivery decides is which side of these thresholds a hit falls on, so
# a verdict depends on (kind, user agent, network, band): few distinct values, cached, where the hit
# writer re-examines every stored click of a mail each time a new one arrives.
_BAND_EDGES = (0.0, OPEN_AFTER_DELIVERY_SECONDS, CLICK_AFTER_DELIVERY_SECONDS, PROXY_PREFETCH_SECONDS)


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
def _classify_banded(kind: HitKind, ua: str, network: str, band: int) -> Verdict:
    signal = _ua_signal(ua)
    if signal.endswith("_user_agent") and signal not in ("no_user_agent", "bot_user_agent"):
        return Verdict(HitClass.SCANNER, signal)  # the gateway names itself
    if network in SCANNER_NETWORKS:
        return Verdict(HitClass.SCANNER, f"{network}_network")
    if signal in ("no_user_agent", "bot_user_agent"):
        return Verdict(HitClass.SCANNER, signal)
    if kind == HitKind.OPEN:
        if network == "apple":
            return Verdict(HitClass.MACHINE_OPEN, "apple_mpp")
        if signal == "bare":
            # Privacy proxies (MPP among them) present this bare user agent; mail clients never do.
            return Verdict(HitClass.MACHINE_OPEN, "generic_proxy_user_agent")
        if signal == "image_proxy" or network == "google_proxy":
            # Gmail's and Yahoo's proxies fetch when the reader opens the mail (a person), unless the
            # fetch comes as the mail arrives, which is a prefetch.
            if _earlier_than(band, PROXY_PREFETCH_SECONDS):
                return Verdict(HitClass.MACHINE_OPEN, "proxy_prefetch")
            return Verdict(HitClass.HUMAN, "image_proxy")
        if _earlier_than(band, OPEN_AFTER_DELIVERY_SECONDS):
            return Verdict(HitClass.MACHINE_OPEN, "open_at_delivery")
        return HUMAN
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
) -> list[Verdict]:
    """Classify every hit of one mail, using the other hits as evidence; called by the hit writer."""
    verdicts = [
        _classify_banded(h.kind, (h.user_agent or "").strip(), h.network,
                         _band((h.occurred_at - delivered_at).total_seconds() if delivered_at else None))
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
