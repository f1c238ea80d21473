"""The request side of website tracking: the snippet served, page views taken in, mail links that identify.

Contract (tracking/web.py adapts these to WSGI; the writer side is campaigns.engagement.web_writer):
- `collect(svc, ...)`: one beacon from the snippet. Only an Origin among the allowed site domains (Settings ->
  Website tracking) is taken, and only for a page on an allowed domain; anything else is refused and never
  stored. A taken beacon becomes one hit-stream entry (hit_buffer.buffer_entry: a deque append, the flusher's
  pipelined XADD) and the answer is 204 with CORS for that origin only. The raw address is used here to find
  its known network and organisation, then stored as ip_privacy says, as for mail hits.
- `snippet_source(svc)`: the JavaScript (snippet.js) with the collector's URL and the consent settings filled
  in; the tracking app serves it cacheable for a few minutes, so a changed setting reaches sites that soon.
- `identifier_url(svc, url, send_id)`: the click redirect's destination with `_nid`, a signed identifier (send
  id and an expiry IDENTIFIER_SECONDS ahead, campaigns.links), when the link points into an allowed domain.
- `record_identification(svc, visitor_key, contact_id)`: a Nurture form submitted on the site names the visitor.
- `web_config(svc)`: the settings row, read at most every CONFIG_SECONDS per process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import select

from campaigns.engagement.classify import network_of
from campaigns.engagement.classify_data import classification_data
from campaigns.engagement.hit_buffer import buffer_entry
from campaigns.engagement.web_writer import IDENTIFIER_PARAM, IDENTIFY, MAX_DURATION_SECONDS, VISIT, VISIT_END
from campaigns.ip_privacy import stored_ip
from campaigns.links import TokenKind
from campaigns.models.web import WebTrackingSettings

if TYPE_CHECKING:
    from campaigns.config import Settings
    from campaigns.runtime import Services

log = logging.getLogger("nurture.tracking")

IDENTIFIER_SECONDS = 600  # a mail link's _nid is good for this long: enough to load the page, useless if shared
CONFIG_SECONDS = 5.0  # how stale the allowed domains may be in a web process
BODY_MAX = 8 * 1024  # a beacon is a few hundred bytes
SCRIPT_MAX_AGE = 300  # seconds sites' visitors may cache the snippet (a changed setting takes this long)
_VISITOR = re.compile(r"[0-9a-f]{32}")
_PAGE = re.compile(r"[0-9a-f]{24}")
_DOMAIN = re.compile(r"\.?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
SNIPPET = Path(__file__).with_name("snippet.js")


@dataclass(frozen=True)
class WebConfig:
    """The website tracking settings in force (web_config)."""

    hosts: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()  # ".example.com": the domain and every subdomain
    consent_required: bool = False
    honour_gpc: bool = True
    lookback_days: int = 30

    def allows(self, host: str | None) -> bool:
        """Whether pages on `host` may send visits (and mail links into it get an identifier)."""
        if not host:
            return False
        host = host.lower().rstrip(".")
        return host in self.hosts or any(host.endswith(s) or host == s[1:] for s in self.suffixes)


def parse_domains(text: str) -> tuple[list[str], list[str]]:
    """(normalised domains, entries that are not host names) of the settings page's list: one a line (commas
    and spaces also separate), a pasted URL reduced to its host, IDNs to their ASCII form; a name without a
    dot (other than localhost) is a typing slip, not a site."""
    good: list[str] = []
    bad: list[str] = []
    for raw in re.split(r"[\s,]+", text or ""):
        entry = raw.strip()
        if not entry:
            continue
        prefix = "." if entry.startswith(".") or entry.startswith("*.") else ""
        host = entry.lstrip("*").lstrip(".")
        if "://" in host:
            host = urlsplit(host).hostname or ""
        host = host.split("/")[0].rstrip(".").lower()
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            bad.append(entry)
            continue
        name = prefix + host
        if not host or len(host) > 253 or not _DOMAIN.fullmatch(name) or ("." not in host and host != "localhost"):
            bad.append(entry)
        elif name not in good:
            good.append(name)
    return good, bad


def load_config(session: Any, settings: Settings) -> WebConfig:
    """The settings row as a WebConfig (the defaults, with WEB_LOOKBACK_DAYS, before the page is saved)."""
    row = session.scalar(select(WebTrackingSettings).where(WebTrackingSettings.id == 1))
    if row is None:
        return WebConfig(lookback_days=settings.web_lookback_days)
    domains, _bad = parse_domains(row.allowed_domains)
    return WebConfig(
        hosts=frozenset(d for d in domains if not d.startswith(".")),
        suffixes=tuple(d for d in domains if d.startswith(".")),
        consent_required=bool(row.consent_required), honour_gpc=bool(row.honour_gpc),
        lookback_days=int(row.lookback_days),
    )


# id(services) -> (expiry, config, a weak reference telling a reused id from its first owner)
_configs: dict[int, tuple[float, WebConfig, weakref.ref[Any]]] = {}
_config_lock = threading.Lock()


def web_config(svc: Services) -> WebConfig:
    """The settings in force for this process, re-read every CONFIG_SECONDS (the endpoints call it per request).
    A database that cannot answer keeps the last one read (or collects nothing, before any)."""
    now = time.monotonic()
    found = _configs.get(id(svc))
    if found is not None and found[0] > now and found[2]() is svc:
        return found[1]
    with _config_lock:
        found = _configs.get(id(svc))
        if found is not None and found[2]() is not svc:
            found = None
        if found is not None and found[0] > now:
            return found[1]
        try:
            with svc.db.factory() as session:
                config = load_config(session, svc.settings)
        except Exception:
            log.exception("website tracking: cannot read the settings; keeping the last ones")
            config = found[1] if found else WebConfig()
        _configs[id(svc)] = (now + CONFIG_SECONDS, config, weakref.ref(svc))
        return config


def forget_config() -> None:
    """Drop the cached settings of this process (the settings page, after saving; tests)."""
    _configs.clear()
    _snippets.clear()


# ------------------------------------------------------------------ organisations (IP_ORG_DATABASE)
@lru_cache(maxsize=4)
def _org_reader(path: str) -> Any:
    import maxminddb

    try:
        return maxminddb.open_database(path)
    except (OSError, ValueError) as exc:
        log.error("IP_ORG_DATABASE %s cannot be read (%s): visits get no organisation", path, exc)
        return None


@lru_cache(maxsize=65536)
def _organisation(path: str, ip: str) -> str:
    reader = _org_reader(path)
    if reader is None:
        return ""
    try:
        record = reader.get(ip)
    except ValueError:  # not an address
        return ""
    if not isinstance(record, dict):
        return ""
    # GeoIP2-ISP / GeoIP2-Enterprise name the organisation; GeoLite2-ASN only the network's owner.
    for key in ("organization", "autonomous_system_organization", "isp"):
        value = record.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:200]
    return ""


def organisation_of(settings: Settings, ip: str) -> str:
    """The organisation IP_ORG_DATABASE names for a raw address, or '' (none configured, unknown address)."""
    if not settings.ip_org_database or not ip:
        return ""
    return _organisation(settings.ip_org_database, ip)


# ------------------------------------------------------------------ the snippet
_snippets: dict[tuple[str, WebConfig], tuple[bytes, str]] = {}


def snippet_source(svc: Services) -> tuple[bytes, str]:
    """(JavaScript, ETag) of the snippet as this install serves it (GET /w/nurture.js)."""
    config = web_config(svc)
    base = svc.settings.base_url.rstrip("/")
    key = (base, config)
    found = _snippets.get(key)
    if found is None:
        filled = json.dumps({"endpoint": f"{base}/w/collect", "forms": f"{base}/f/",
                             "consent": config.consent_required, "gpc": config.honour_gpc})
        source = SNIPPET.read_text(encoding="utf-8").replace("/*CONFIG*/{}", filled).encode()
        found = _snippets[key] = (source, '"' + hashlib.sha256(source).hexdigest()[:20] + '"')
    return found


def script_tag(base_url: str) -> str:
    """The exact HTML a site pastes (the settings page shows it): a stub so that `nurture.consent(true)` works
    before the snippet arrives (or if it never does), then the snippet itself, loaded without blocking."""
    base = base_url.rstrip("/")
    return (
        '<script>window.nurture=window.nurture||{q:[],consent:function(v){this.q.push(["consent",v])},'
        'page:function(){this.q.push(["page"])},visitorId:function(){return null}};</script>\n'
        f'<script async src="{base}/w/nurture.js"></script>'
    )


# ------------------------------------------------------------------ the beacon
@dataclass(frozen=True)
class Answer:
    """What the collection endpoint answers: a status and the origin CORS allows ('' = no CORS headers)."""

    status: int
    origin: str = ""


def origin_host(origin: str) -> str | None:
    """The host of an Origin header, or None when it is not an http(s) origin ("null", missing)."""
    parts = urlsplit(origin or "")
    return parts.hostname if parts.scheme in ("http", "https") else None


def _text(payload: dict[str, Any], key: str, limit: int) -> str:
    value = payload.get(key)
    return value[:limit] if isinstance(value, str) else ""


def collect(svc: Services, body: bytes, origin: str, user_agent: str, ip: str, purpose: str = "",
            gpc: str = "") -> Answer:
    """Take one beacon (POST /w/collect): refuse foreign origins and malformed payloads, buffer the rest."""
    config = web_config(svc)
    if not config.allows(origin_host(origin)):
        return Answer(403)
    if len(body) > BODY_MAX:
        return Answer(413, origin)
    if config.honour_gpc and gpc.strip() == "1":
        return Answer(204, origin)  # the browser asked not to be tracked: answered, nothing kept
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return Answer(400, origin)
    if not isinstance(payload, dict):
        return Answer(400, origin)
    kind, visitor, page = payload.get("k"), payload.get("v"), payload.get("p")
    if not (isinstance(visitor, str) and _VISITOR.fullmatch(visitor) and isinstance(page, str)
            and _PAGE.fullmatch(page)):
        return Answer(400, origin)
    now = f"{datetime.now(UTC).timestamp():.6f}"
    entry: dict[str, str]
    if kind == "end":
        seconds = payload.get("d")
        if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 0:
            return Answer(400, origin)
        entry = {"e": page, "k": VISIT_END, "v": visitor, "t": now, "d": str(min(seconds, MAX_DURATION_SECONDS))}
    elif kind == "view":
        url = _text(payload, "u", 2000)
        if not config.allows(urlsplit(url).hostname if url.startswith(("http://", "https://")) else None):
            return Answer(403)  # a page of a site not allowed, whatever Origin said
        flags = []
        if payload.get("w"):
            flags.append("webdriver")
        if "prefetch" in purpose or "prerender" in purpose:  # Sec-Purpose of a speculative load
            flags.append("prefetch")
        data = classification_data(svc.settings.classify_data_dir)
        entry = {
            "e": page, "k": VISIT, "v": visitor, "t": now, "u": url, "ti": _text(payload, "t", 500),
            "r": _text(payload, "r", 2000), "ua": (user_agent or "")[:512], "ip": stored_ip(svc.settings, ip),
            "n": network_of(ip, data) if ip else "", "o": organisation_of(svc.settings, ip), "x": ",".join(flags),
            "s": str(_identified_send(svc, _text(payload, "n", 64))), "lb": str(config.lookback_days),
        }
    else:
        return Answer(400, origin)
    buffer_entry(svc, entry)
    return Answer(204, origin)


def _identified_send(svc: Services, token: str) -> int:
    """The send a mail link's `_nid` names while it is fresh, else 0."""
    if not token:
        return 0
    verified = svc.signer.verify(token, TokenKind.WEB_IDENTIFY)
    if verified is None or verified.b < time.time():
        return 0
    return verified.a


def identifier_url(svc: Services, url: str, send_id: int, now: float | None = None) -> str:
    """The click redirect's destination: with `_nid` when it points into an allowed site (tracking calls it)."""
    config = web_config(svc)
    if not (config.hosts or config.suffixes) or not config.allows(urlsplit(url).hostname):
        return url
    token = svc.signer.sign(TokenKind.WEB_IDENTIFY, send_id, int((now or time.time()) + IDENTIFIER_SECONDS))
    head, hash_mark, fragment = url.partition("#")
    joiner = "&" if "?" in head else "?"
    return f"{head}{joiner}{IDENTIFIER_PARAM}={token}{hash_mark}{fragment}"


def record_identification(svc: Services, visitor_key: str, contact_id: int) -> bool:
    """A Nurture form on the site named the visitor's contact (the form view, after its commit)."""
    if not _VISITOR.fullmatch(visitor_key or "") or not contact_id:
        return False
    entry = {"e": hashlib.sha256(f"{visitor_key}:{contact_id}:{time.time_ns()}".encode()).hexdigest()[:32],
             "k": IDENTIFY, "v": visitor_key, "t": f"{datetime.now(UTC).timestamp():.6f}",
             "c": str(contact_id), "lb": str(web_config(svc).lookback_days)}
    return buffer_entry(svc, entry)
