"""Helpers shared by the builder pages (templates, sequences, broadcasts, outbox): account-time display."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, g

from campaigns.runtime import services
from campaigns.timezones import zone
from campaigns.users import get_account

# Mail HTML is untrusted: no scripts, no forms, no plugins; only inline styles and remote https images.
# http: images are left out on purpose: a local tracking pixel would record an "open" on every look.
MAIL_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data: https:; font-src data: https:; "
    "form-action 'none'; frame-ancestors 'self'; base-uri 'none'; sandbox"
)


def account_zone() -> ZoneInfo:
    """The account's time zone (cached per request); UTC if the stored name is unknown."""
    found = g.get("_account_zone")
    if found is None:
        found = g._account_zone = zone(get_account(services().db.session).timezone)
    return found


def account_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Format a UTC timestamp in the account's time zone (template filter `account_time`)."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(account_zone()).strftime(fmt)


def install_filters(bp: Blueprint) -> None:
    """Make `account_time` available to templates (each builder blueprint calls this)."""
    bp.add_app_template_filter(account_time, "account_time")
