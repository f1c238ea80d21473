"""Typed settings read from the environment, with embedded defaults for a laptop."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = ROOT / "instance"
_LOOPBACK_NAMES = {"127.0.0.1", "localhost"}


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _secret_key() -> str:
    """Return a persistent development secret so tokens survive restarts of the dev server."""
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    path = INSTANCE_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


@dataclass(frozen=True)
class Settings:
    """Every setting the service reads; `from_env` fills it, `create_app(overrides)` may replace fields."""

    database_url: str = ""
    redis_url: str = "redis://127.0.0.1:6379/0"
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_ca_file: str = ""  # PEM bundle trusted for STARTTLS instead of the system's (a private relay's CA)
    smtp_timeout: float = 30.0
    smtp_connections: int = 4
    base_url: str = "http://127.0.0.1:8000"
    secret_key: str = ""
    mail_from: str = "Nurture Demo <marketing@example.com>"
    # Outbox: when no SMTP_HOST is configured, mail goes to a built-in development SMTP server
    outbox_port: int = 2525
    rate_limit_per_second: float = 0.0  # 0 = unlimited; shared by all workers through Redis
    # Send ids per delivery job. Each job pays fixed costs (RQ bookkeeping, loading its rows, and at its end
    # waiting for the last mails' replies: two round trips to the relay); 1,000 amortises them (bench/
    # bench_sending.py: jobs of 200 -> 1,000 took one worker from 1,666 to 1,926 mails/s on loopback and
    # a relay 20 ms away from 41% to 84% of that). A campaign spreads over at most sends/BATCH_SIZE workers.
    # Raised for a deep connection pool by sending.job_size (128 connections: jobs of 4,096).
    batch_size: int = 1000
    send_lease_seconds: int = 300
    render_seconds: float = 2.0  # CPU time one recipient's mail may take to render; past it that send fails alone
    max_lateness_hours: float = 24.0
    ip_privacy: str = "truncate"  # truncate | hash | none
    form_rate_limit: int = 20  # submissions per visitor address and window on the public forms
    form_rate_window: int = 600  # seconds
    queue_name: str = "nurture"
    proxy_hops: int = 0  # reverse proxies in front that set X-Forwarded-For/-Proto/-Host (0 = trust none)
    # Host names served besides BASE_URL's (comma-separated, `.example.com` = its subdomains); any other
    # Host header gets 400, so no redirect or link is ever built on a name an attacker sent (see served_hosts)
    trusted_hosts: str = ""
    # Tracking hits are buffered in each web process and sent to Redis in batches every few ms (see
    # campaigns/engagement/hit_writer.py); False (HIT_BUFFER=0): each hit is stored before its request answers
    hit_buffer: bool = True
    # A directory with an operator's copies of campaigns/engagement/data/*.toml (the networks and agent rules
    # that classify hits); '' = the packaged files. Read once per process: restart after editing (docs/tracking.md)
    classify_data_dir: str = ""
    # Where images uploaded for mails are stored (campaigns/delivery/assets.py); '' = instance/assets. Served
    # from BASE_URL/mail-assets/; keep it on storage that outlives a deploy (mails already sent point at it)
    asset_dir: str = ""
    # Website tracking (docs/website-tracking.md): a MaxMind-format database mapping IP ranges to organisations
    # (GeoIP2-ISP, GeoLite2-ASN or an operator's own), read at collection to name visitors' companies; '' = off.
    ip_org_database: str = ""
    # How far back a visitor's anonymous visits are attached to the contact it is identified as; the Settings ->
    # Website tracking page overrides it once saved
    web_lookback_days: int = 30
    # DKIM signing (optional): all three set = every outgoing mail is signed (see docs/operations.md)
    dkim_selector: str = ""
    dkim_domain: str = ""
    dkim_private_key_path: str = ""
    # Bounce handling (campaigns/delivery/bounces.py): shared secret of the provider webhook; broadcast auto-pause
    bounce_webhook_secret: str = ""
    unsubscribe_mailbox: str = ""  # address for mailto List-Unsubscribe, read by `nurture process-bounces`; "" = HTTPS only
    # Hand-over webhooks call public addresses only; these private networks too (campaigns/scoring/handover.py)
    webhook_allowed_networks: str = ""
    complaint_pause_rate: float = 0.003  # pause a broadcast when complaints / delivered exceed this
    complaint_pause_min_delivered: int = 500  # ... once at least this many were delivered
    # UI sessions (campaigns/users.py, docs/security.md): a session ends after this many minutes without a
    # request (idle) and this many hours after its login (absolute), whatever the browser keeps
    session_idle_minutes: int = 720
    session_max_hours: int = 168
    testing: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, overrides: dict[str, Any] | None = None) -> Settings:
        """Build settings from environment variables, then apply explicit overrides (used by tests)."""
        env = os.environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "extra":
                continue
            raw = env.get(f.name.upper())
            if raw is None:
                continue
            if f.type in ("int",):
                values[f.name] = int(raw)
            elif f.type in ("float",):
                values[f.name] = float(raw)
            elif f.type in ("bool",):
                values[f.name] = _bool(raw)
            else:
                values[f.name] = raw
        settings = cls(**values)
        if overrides:
            known = {f.name for f in fields(cls)}
            direct = {k.lower(): v for k, v in overrides.items() if k.lower() in known}
            extra = {k: v for k, v in overrides.items() if k.lower() not in known}
            settings = replace(settings, **direct, extra={**settings.extra, **extra})
        if not settings.database_url:
            INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
            settings = replace(settings, database_url=f"sqlite:///{INSTANCE_DIR / 'nurture.db'}")
        if not settings.secret_key:
            settings = replace(settings, secret_key=_secret_key())
        return settings

    @property
    def served_hosts(self) -> list[str]:
        """The Host header values the app answers (create_app's TRUSTED_HOSTS): BASE_URL's host, the
        TRUSTED_HOSTS setting, and the loopback names when BASE_URL itself is on loopback (a laptop)."""
        host = (urlsplit(self.base_url).hostname or "").lower()
        hosts = [host] if host else []
        if host in _LOOPBACK_NAMES:
            hosts += sorted(_LOOPBACK_NAMES - {host})
        hosts += [name.strip().lower() for name in self.trusted_hosts.split(",") if name.strip()]
        return hosts

    @property
    def uses_outbox(self) -> bool:
        """True when mail goes to the built-in development outbox instead of a real relay."""
        return not self.smtp_host

    @property
    def effective_smtp(self) -> tuple[str, int]:
        """Host and port the mailer connects to."""
        if self.uses_outbox:
            return "127.0.0.1", self.outbox_port
        return self.smtp_host, self.smtp_port
