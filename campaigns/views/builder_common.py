"""Helpers shared by the builder pages (templates, sequences, broadcasts, outbox): account-time display."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, g

from campaigns.i18n import format_datetime
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


def account_time(value: datetime | str | None, fmt: str | None = None) -> str:
    """A UTC timestamp in the account's time zone (template filter `account_time`): as the UI's language writes
    it (campaigns.i18n.format_datetime: Jan 15, 2030, 09:30 / 2030年1月15日 9:30), or with a strftime `fmt` for
    machine text (a datetime-local input's value, "%Y-%m-%dT%H:%M"). An ISO 8601 string (the JSON dicts pages
    share with the API, such as an A/B test's deadline) is read as the same instant."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if value else None
    if value is None:
        return ""
    if fmt is None:
        return format_datetime(value, zone=account_zone())
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(account_zone()).strftime(fmt)


def install_filters(bp: Blueprint) -> None:
    """Make `account_time` available to templates (each builder blueprint calls this); the locale's own
    filters (format_datetime, format_date, format_number, ...) are installed for every template by
    campaigns.i18n.init_app."""
    bp.add_app_template_filter(account_time, "account_time")
