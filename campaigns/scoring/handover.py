"""Hand-over deliveries: HMAC-signed webhooks and sales notification emails, with retries and a log.

A trigger (campaigns.scoring.triggers) writes a `WebhookDelivery` row in the same transaction as the stage
change; after the commit `enqueue_due` puts its id on RQ and `deliver` (jobs.deliver_hand_over) sends it.
A failed attempt is written to the row with the next retry time (exponential backoff); the scheduler's
scoring step re-enqueues due retries, so a retry survives worker restarts and never waits in RQ.

Webhook requests (like Stripe's):
    POST <url>   Content-Type: application/json
    Nurture-Delivery: <delivery id>           stable across retries: the receiver dedupes on it
    Nurture-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
Any 2xx answer is a success; anything else (or no answer within the timeout) is retried.

Only public addresses are called (server-side request forgery: a trigger's URL must not reach the
cloud metadata service, the database or an admin port on the private network). The host is resolved
once (a name through DNS; an address in any form a resolver reads, 2130706433 and 0x7f000001 too),
every address is checked, and the socket connects only to a checked address (the request keeps the
name in its Host header and TLS SNI), so nothing is connected to before the check and a name that
resolves to a public address at one moment and a private one the next gains nothing.
WEBHOOK_ALLOWED_NETWORKS lists the private networks a receiver may live in (e.g. an internal CRM:
`10.20.0.0/16`). A refused address, an unknown name, a closed port and a timeout are all logged with
the one text UNREACHABLE (the reason goes to the server log), so the delivery log cannot tell an open
port from a closed one: it is no port scanner.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import re
import secrets
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timedelta
from typing import Any

from jinja2.sandbox import ImmutableSandboxedEnvironment
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from campaigns.addresses import is_valid_address
from campaigns.config import Settings
from campaigns.db import now_utc
from campaigns.delivery.mime import message_id
from campaigns.delivery.rendering import RenderedMail
from campaigns.delivery.system_mail import deliver_system_mail
from campaigns.i18n import translate_in
from campaigns.models import Contact, DeliveryState, Journey, ScoreTrigger, TriggerAction, WebhookDelivery
from campaigns.names import display_name
from campaigns.queueing import enqueue_hand_over
from campaigns.runtime import Services
from campaigns.users import get_account

log = logging.getLogger("nurture.webhooks")

MAX_ATTEMPTS = 8
BACKOFF_BASE = 30  # seconds before the first retry; doubles each attempt
BACKOFF_MAX = 6 * 3600
ENQUEUE_LEASE = timedelta(minutes=10)  # an enqueued delivery not sent by then is enqueued again
SENDING_LEASE = timedelta(minutes=10)  # a claim older than this belonged to a worker that died
TIMEOUT = 10.0
EXCERPT = 500
SIGNATURE_HEADER = "Nurture-Signature"
DELIVERY_HEADER = "Nurture-Delivery"
TOLERANCE = 300  # seconds a receiver should accept between the signed time and its clock
# The delivery log's text for every refusal and every failure to connect: the same words, state and retry
# for a private address, a closed port or a name that does not resolve (see the module docstring).
UNREACHABLE = "no answer: the receiver could not be reached"  # translated in the UI (translations/hardening.py)


def new_secret() -> str:
    """A fresh signing secret for a webhook trigger."""
    return "whsec_" + secrets.token_hex(24)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for a body sent at `timestamp`: t=<ts>,v1=<hex>."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, now: float | None = None, tolerance: int = TOLERANCE) -> bool:
    """Check a signature header as a receiver should: the HMAC matches and the time is recent."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def backoff(attempts: int) -> timedelta:
    """Wait before the next attempt after `attempts` failures: 30 s, 1 min, 2 min, ... capped at 6 h."""
    return timedelta(seconds=min(BACKOFF_MAX, BACKOFF_BASE * 2 ** max(0, attempts - 1)))


def contact_json(contact: Contact) -> dict[str, Any]:
    return {
        "id": contact.id, "email": contact.email, "first_name": contact.first_name, "last_name": contact.last_name,
        "company": contact.company, "job_title": contact.job_title, "source": contact.source,
        "score": contact.score, "stage": str(contact.stage),
    }


def delivery_row(trigger: ScoreTrigger, contact: Contact, event: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The column values of one pending delivery for a trigger firing (scoring._fire inserts them in bulk)."""
    delivery_id = "dlv_" + uuid.uuid4().hex
    payload = {
        "id": delivery_id, "created_at": now.isoformat(), **event,
        "trigger": {"id": trigger.id, "name": trigger.name}, "contact": contact_json(contact),
    }
    email = trigger.action is TriggerAction.EMAIL
    return {
        "delivery_id": delivery_id, "trigger_id": trigger.id, "contact_id": contact.id,
        "channel": "email" if email else "webhook", "url": trigger.email_to if email else trigger.webhook_url,
        "payload": payload, "state": DeliveryState.PENDING, "attempts": 0, "last_error": "", "response_excerpt": "",
        "history": [], "next_retry_at": now, "created_at": now, "updated_at": now,
    }


def journey_delivery_row(journey_id: int, url: str, contact: Contact, event: dict[str, Any],
                         now: datetime) -> dict[str, Any]:
    """The column values of one pending webhook delivery of a journey's webhook node (no trigger: signed with
    the journey's own secret when it is sent)."""
    delivery_id = "dlv_" + uuid.uuid4().hex
    payload = {"id": delivery_id, "created_at": now.isoformat(), **event, "contact": contact_json(contact)}
    return {
        "delivery_id": delivery_id, "trigger_id": None, "journey_id": journey_id, "contact_id": contact.id,
        "channel": "webhook", "url": url, "payload": payload, "state": DeliveryState.PENDING, "attempts": 0,
        "last_error": "", "response_excerpt": "", "history": [], "next_retry_at": now, "created_at": now,
        "updated_at": now,
    }


def create_delivery(session: Session, trigger: ScoreTrigger, contact: Contact, event: dict[str, Any],
                    now: datetime) -> WebhookDelivery:
    """Write one pending delivery for a trigger firing; enqueued after the commit."""
    row = WebhookDelivery(**delivery_row(trigger, contact, event, now))
    session.add(row)
    session.flush()
    return row


def enqueue_due(svc: Services, now: datetime | None = None) -> int:
    """Enqueue deliveries that are due (new, retry time reached, or a lost claim); returns how many.

    Called by the scoring step and by views after a commit. The due time moves forward by a lease as
    the id is enqueued, so the next tick does not enqueue it again while it waits in RQ."""

    now = now or now_utc()
    with svc.db.begin() as session:
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.state == DeliveryState.SENDING, WebhookDelivery.updated_at < now - SENDING_LEASE)
            .values(state=DeliveryState.RETRYING, last_error="the worker sending it stopped", next_retry_at=now)
            .execution_options(synchronize_session=False)
        )
        ids = list(session.scalars(
            select(WebhookDelivery.id).where(
                WebhookDelivery.state.in_((DeliveryState.PENDING, DeliveryState.RETRYING)),
                WebhookDelivery.next_retry_at <= now,
            ).order_by(WebhookDelivery.id).limit(1000)
        ))
        if ids:
            session.execute(
                update(WebhookDelivery).where(WebhookDelivery.id.in_(ids))
                .values(next_retry_at=now + ENQUEUE_LEASE).execution_options(synchronize_session=False)
            )
    if ids:
        enqueue_hand_over(svc.queue, ids)
    return len(ids)


def retry_now(session: Session, delivery: WebhookDelivery, now: datetime | None = None) -> None:
    """Make a delivery due at once (the delivery log's retry button); a failed one gets a new round."""
    if delivery.state in (DeliveryState.DELIVERED, DeliveryState.SENDING):
        raise ValueError("this delivery is not waiting for a retry")
    delivery.state = DeliveryState.RETRYING if delivery.attempts else DeliveryState.PENDING
    delivery.next_retry_at = now or now_utc()
    session.flush()


def deliver(svc: Services, delivery_id: int, now: datetime | None = None) -> str:
    """Make one attempt at a delivery (jobs.deliver_hand_over); returns the new state."""
    now = now or now_utc()
    with svc.db.begin() as session:
        claimed = session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id,
                   WebhookDelivery.state.in_((DeliveryState.PENDING, DeliveryState.RETRYING)))
            .values(state=DeliveryState.SENDING, updated_at=now)
            .returning(WebhookDelivery.id)
        ).first()
        if claimed is None:
            return "skipped"  # delivered already, given up, or another worker holds it
        row = session.get(WebhookDelivery, delivery_id)
        assert row is not None
        channel, url, payload, delivery_key = row.channel, row.url, dict(row.payload), row.delivery_id
        secret = ""
        if row.trigger_id:
            secret = session.scalar(select(ScoreTrigger.webhook_secret).where(ScoreTrigger.id == row.trigger_id)) or ""
        elif row.journey_id:
            secret = session.scalar(select(Journey.webhook_secret).where(Journey.id == row.journey_id)) or ""
    if channel == "email":
        ok, status, excerpt, retryable = _send_email(svc, url, payload, delivery_key)
    else:
        ok, status, excerpt, retryable = _post(url, payload, secret, delivery_key, svc.settings)
    with svc.db.begin() as session:
        row = session.get(WebhookDelivery, delivery_id)
        assert row is not None
        row.attempts += 1
        row.last_status = status
        row.response_excerpt = excerpt[:EXCERPT]
        row.history = [*(row.history or []), {
            "attempt": row.attempts, "at": now.isoformat(), "status": status, "ok": ok, "excerpt": excerpt[:200],
        }]
        if ok:
            row.state, row.last_error, row.next_retry_at = DeliveryState.DELIVERED, "", None
        elif retryable and row.attempts < MAX_ATTEMPTS:
            row.state, row.last_error = DeliveryState.RETRYING, excerpt[:EXCERPT]
            row.next_retry_at = now + backoff(row.attempts)
        else:
            row.state, row.last_error, row.next_retry_at = DeliveryState.FAILED, excerpt[:EXCERPT], None
        row.updated_at = now
        return str(row.state)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect is an answer to report, not a URL to follow (it could point anywhere)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class BlockedAddress(OSError):
    """A webhook URL that leads to an address webhooks may not call."""


def allowed_networks(spec: str) -> list[Network]:
    """WEBHOOK_ALLOWED_NETWORKS: comma-separated networks or addresses (`10.20.0.0/16, 192.0.2.7`)."""
    networks = []
    for item in spec.replace(";", ",").split(","):
        if item.strip():
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError:
                raise ValueError(f"WEBHOOK_ALLOWED_NETWORKS: {item.strip()!r} is not a network or address") from None
    return networks


def check_address(address: str, allowed: list[Network]) -> None:
    """Raise BlockedAddress unless `address` is public or inside an allowed network."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in network for network in allowed):
        return
    if ip.is_global and not ip.is_multicast:
        return
    kind = ("loopback" if ip.is_loopback else "link-local" if ip.is_link_local else
            "unspecified" if ip.is_unspecified else "multicast" if ip.is_multicast else
            "private" if ip.is_private else "non-public")
    raise BlockedAddress(f"refused: {ip} is a {kind} address; webhooks call public addresses only "
                         "(list the network in WEBHOOK_ALLOWED_NETWORKS to allow it)")


_NUMBER_LABEL = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")
_IPV4_PART = re.compile(r"0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*")


def numeric_host(host: str) -> str | None:
    """The IPv4 address a host written as numbers stands for (`2130706433`, `0x7f000001`, `0177.1`, `127.1`),
    as a resolver reads it (inet_aton; the URL standard's rule), or None for a name. Raises BlockedAddress
    for numbers that are no address (`1.2.3.4.5`, `256.1.1.1`)."""
    labels = host.rstrip(".").split(".") if host.rstrip(".") else [host]
    if not _NUMBER_LABEL.fullmatch(labels[-1]):
        return None  # a name: its last label is not a number (URL standard, "ends in a number")
    if len(labels) > 4 or not all(_IPV4_PART.fullmatch(label) for label in labels):
        raise BlockedAddress(f"{host!r} is neither a name nor an address")
    numbers = [int(label, 16) if label[:2].lower() == "0x" and len(label) > 2 else
               0 if label.lower() == "0x" else int(label, 8) if label.startswith("0") else int(label)
               for label in labels]
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        raise BlockedAddress(f"{host!r} is out of the address range")
    value = last
    for i, n in enumerate(leading):
        value += n << (8 * (3 - i))
    return str(ipaddress.IPv4Address(value))


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` stands for: an address literal in any form, or the name's DNS answers."""
    literal = host.strip("[]")
    if not literal:
        raise BlockedAddress("the URL names no host")
    try:
        return [str(ipaddress.ip_address(literal.split("%", 1)[0]))]
    except ValueError:
        pass
    number = numeric_host(literal)
    if number is not None:
        return [number]
    addresses: list[str] = []
    for *_, sockaddr in socket.getaddrinfo(literal, port, type=socket.SOCK_STREAM):
        if str(sockaddr[0]) not in addresses:
            addresses.append(str(sockaddr[0]))
    return addresses


def checked_addresses(host: str, port: int, allowed: list[Network]) -> list[str]:
    """Resolve `host` once and check every address it resolves to; raise BlockedAddress if any is refused
    (a name with one private answer among public ones is refused: which one a connection takes is chance)."""
    addresses = resolve(host, port)
    if not addresses:
        raise BlockedAddress(f"{host!r} resolves to no address")
    for address in addresses:
        check_address(address, allowed)
    return addresses


def _pinned(cls: type[http.client.HTTPConnection], addresses: list[str]) -> Any:
    """A factory of `cls` connections that connect to the checked `addresses` only, whatever the name
    resolves to by then; the request still names the host (Host header, TLS SNI and certificate check)."""

    def create_connection(address: Any, timeout: Any = None, source_address: Any = None) -> socket.socket:
        port = address[1]
        error: OSError = OSError("no address")
        for ip in addresses:
            try:
                return socket.create_connection((ip, port), timeout, source_address)
            except OSError as exc:
                error = exc
        raise error

    def make(host: str, **kwargs: Any) -> http.client.HTTPConnection:
        conn = cls(host, **kwargs)
        conn._create_connection = create_connection  # type: ignore[attr-defined]
        return conn

    return make


class _PinnedHTTP(urllib.request.HTTPHandler):
    def __init__(self, addresses: list[str]) -> None:
        super().__init__()
        self.addresses = addresses

    def http_open(self, req: Any) -> Any:
        return self.do_open(_pinned(http.client.HTTPConnection, self.addresses), req)


class _PinnedHTTPS(urllib.request.HTTPSHandler):
    def __init__(self, addresses: list[str]) -> None:
        super().__init__()
        self.addresses = addresses

    def https_open(self, req: Any) -> Any:
        return self.do_open(_pinned(http.client.HTTPSConnection, self.addresses), req,
                            context=self._context)  # type: ignore[attr-defined]


def proxy_for(url: str) -> str | None:
    """The proxy urllib would take for `url` from the environment (http_proxy, https_proxy, no_proxy), or None."""
    parts = urllib.parse.urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(parts.hostname or ""):
        return proxy
    return None


def _unreachable(delivery_key: str, url: str, reason: object) -> tuple[bool, int | None, str, bool]:
    # The reason is for the operator's log only; the delivery log gets UNREACHABLE, retried like any
    # connection failure, so neither its text nor its state says which it was.
    log.warning("hand-over %s to %s not delivered: %s", delivery_key, url, reason)
    return False, None, UNREACHABLE, True


def _post(url: str, payload: dict[str, Any], secret: str, delivery_key: str,
          settings: Settings) -> tuple[bool, int | None, str, bool]:
    """POST the signed payload; (ok, HTTP status, response excerpt or error, worth retrying)."""
    if not url.lower().startswith(("http://", "https://")):
        return False, None, "only http and https URLs are allowed", False
    try:
        allowed = allowed_networks(settings.webhook_allowed_networks)
    except ValueError as exc:  # the operator's setting: the same for every target
        return False, None, str(exc)[:EXCERPT], False
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        # Behind an egress proxy (http_proxy/https_proxy in the worker's environment) the proxy connects:
        # the target is checked here and the proxy resolves it again; see docs/security.md.
        proxy = proxy_for(url)
        addresses = checked_addresses(host, port, allowed)  # before any connection, to anything
    except (OSError, ValueError) as exc:  # BlockedAddress, a name that does not resolve, a bad port
        return _unreachable(delivery_key, url, exc)
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "Nurture-Webhooks/1.0",
        DELIVERY_HEADER: delivery_key, SIGNATURE_HEADER: sign(secret, int(time.time()), body),
    })
    try:
        if proxy:  # the operator's proxy; the target was checked above
            opener = urllib.request.build_opener(_NoRedirect, urllib.request.ProxyHandler({parts.scheme: proxy}))
        else:
            opener = urllib.request.build_opener(_NoRedirect, urllib.request.ProxyHandler({}),
                                                 _PinnedHTTP(addresses), _PinnedHTTPS(addresses))
        with opener.open(request, timeout=TIMEOUT) as response:
            status = response.status
            excerpt = response.read(EXCERPT).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        status = exc.code
        try:
            excerpt = exc.read(EXCERPT).decode("utf-8", "replace")
        except Exception:  # the body of an error answer is only for the log
            excerpt = ""
        excerpt = excerpt or str(exc.reason)
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        return _unreachable(delivery_key, url, getattr(exc, "reason", exc))
    if 200 <= status < 300:
        return True, status, excerpt, False
    # 4xx other than 408/429 will not change by itself; still retried, since receivers misconfigure
    # briefly (a deploy) far more often than they reject a payload for good.
    return False, status, excerpt or f"HTTP {status}", True


_ENV = ImmutableSandboxedEnvironment(autoescape=True)
_TEXT_ENV = ImmutableSandboxedEnvironment(autoescape=False)
# The mail goes to the account's own sales team: its words are in the account's language (account.language),
# whoever set up the trigger; the contact's data stays as it was entered.
_SUBJECT = "[Nurture] {{ contact.name or contact.email }}: {{ headline }}"
_TEXT = """{{ headline }}

{{ contact.name or contact.email }} <{{ contact.email }}>
{% if contact.company %}{{ contact.company }}{% if contact.job_title %} / {{ contact.job_title }}{% endif %}
{% endif %}{{ words.score }}: {{ contact.score }}
{{ words.stage }}: {{ contact.stage }}
{% if change %}{{ change.text }}
{% endif %}{{ words.trigger }}: {{ trigger.name }}

{{ link }}
"""
_HTML = """<div style="font-family:sans-serif;font-size:14px">
<h2 style="font-size:18px">{{ headline }}</h2>
<p><strong>{{ contact.name or contact.email }}</strong> &lt;{{ contact.email }}&gt;<br>
{% if contact.company %}{{ contact.company }}{% if contact.job_title %} / {{ contact.job_title }}{% endif %}<br>{% endif %}
{{ words.score }}: {{ contact.score }} &middot; {{ words.stage }}: {{ contact.stage }}</p>
{% if change %}<p>{{ change.text }}</p>{% endif %}
<p>{{ words.trigger }}: {{ trigger.name }}</p>
<p><a href="{{ link }}">{{ link }}</a></p>
</div>"""
# Why a stage changed (campaigns/scoring/stages.py, engine.py) in words: the codes are never shown.
CAUSES = {"score_threshold": "Score threshold", "rule": "MQL rule", "decay": "Score decay",
          "recompute": "Recalculation", "rule_removed": "Rule removed", "score": "Score threshold",
          "manual": "Changed by hand"}


def _stage_words(stage: object, language: str) -> str:
    """A stage as the UI names it (views/scoring.py stage_label): MQL and SQL as acronyms, the others as words."""
    value = str(stage or "")
    if not value:
        return "-"
    return translate_in(language, value.upper() if value in ("mql", "sql") else value.capitalize())


def render_sales_email(payload: dict[str, Any], base_url: str, language: str = "en") -> tuple[str, str, str]:
    """(subject, text, html) of the sales notification for a delivery payload, in `language` (the account's)."""
    contact = dict(payload.get("contact") or {})
    contact["name"] = display_name(contact.get("first_name"), contact.get("last_name"))  # 山田 太郎, Emily Smith
    contact["stage"] = _stage_words(contact.get("stage"), language)
    change = payload.get("stage_change")
    if change:
        headline = translate_in(language, "Now %(stage)s", stage=_stage_words(change.get("to"), language))
        cause = change.get("cause") or ""
        why = translate_in(language, CAUSES.get(cause, cause)) if cause else ""
        if change.get("detail"):
            why = f"{why}: {change['detail']}" if why else str(change["detail"])
        change = {"text": translate_in(language, "Moved from %(from)s to %(to)s (%(why)s)",
                                       **{"from": _stage_words(change.get("from"), language),
                                          "to": _stage_words(change.get("to"), language), "why": why})}
    else:
        headline = translate_in(language, "Score reached %(score)s", score=payload.get("threshold"))
    words = {"score": translate_in(language, "Score"), "stage": translate_in(language, "Stage"),
             "trigger": translate_in(language, "Trigger")}
    context = {"contact": contact, "change": change, "trigger": payload.get("trigger") or {}, "headline": headline,
               "words": words, "link": f"{base_url.rstrip('/')}/contacts/{contact.get('id')}"}
    subject = " ".join(_TEXT_ENV.from_string(_SUBJECT).render(context).split())
    return subject, _TEXT_ENV.from_string(_TEXT).render(context), _ENV.from_string(_HTML).render(context)


def _send_email(svc: Services, to: str, payload: dict[str, Any], delivery_key: str) -> tuple[bool, int | None, str, bool]:
    """Send the sales notification as system mail, from the account's sender identity (From, Reply-To and
    the address check are the campaign mail's); (ok, SMTP code, reply, worth retrying)."""
    if not is_valid_address(to):
        return False, None, f"invalid sales address {to!r}", False
    with svc.db.begin() as session:
        account = get_account(session)
    subject, text, html = render_sales_email(payload, svc.settings.base_url, account.language)
    try:
        outcome = deliver_system_mail(svc, account, "", to, RenderedMail(subject=subject, html=html, text=text),
                                      message_id(svc, account, "handover", delivery_key),
                                      extra_headers=[("X-Nurture-Delivery", delivery_key)])
    except ValueError as exc:  # the sender address in Settings is not valid: a retry cannot help
        return False, None, str(exc), False
    if outcome.ok:
        return True, 250, "accepted", False
    return False, outcome.code or None, outcome.describe(), outcome.transient
