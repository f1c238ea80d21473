"""Time zones: the one rule for zone names, for every zone Nurture reads or stores.

`normalize_timezone` is the strict check for input (contacts from the API, forms and CSV imports; the
settings page offers TIMEZONE_CHOICES only): a known IANA name in any letter case (plus "JST") becomes its canonical spelling, and
anything else is refused. `zone` is the lenient reader for planning and reporting (send windows, A/B
send times, KPIs, the UI's clock): a stored name that is unknown falls back to the account's zone, then
UTC, so one bad value never stops a tick. `TIMEZONE_CHOICES` is what a person may pick.
"""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

# Names in the tz database that are no place a person lives in (links to the host's own setting).
_NOT_PLACES = {"localtime", "Factory", "posixrules"}
# The zones a person may choose (settings page); sorted for the picker.
TIMEZONE_CHOICES = sorted(available_timezones() - _NOT_PLACES)

_zones: dict[str, ZoneInfo] = {}


class UnknownTimeZone(ValueError):
    """A zone name that is not in the tz database; the message names it."""


@lru_cache(maxsize=1)
def _canonical_names() -> dict[str, str]:
    names = {z.lower(): z for z in TIMEZONE_CHOICES}
    names.setdefault("jst", "Asia/Tokyo")  # what Japanese spreadsheets write
    return names


def normalize_timezone(raw: str) -> str:
    """The canonical IANA name of a time zone given in any letter case; raises UnknownTimeZone (contacts,
    imports, API)."""
    name = _canonical_names().get(raw.strip().lower())
    if name is None:
        raise UnknownTimeZone(f"unknown time zone {raw.strip()[:64]!r}")
    return name


def zone(name: str | None, fallback: str = "UTC") -> ZoneInfo:
    """A ZoneInfo for a contact's or the account's time zone name; unknown names fall back (planner)."""
    for candidate in (name, fallback, "UTC"):
        if not candidate:
            continue
        cached = _zones.get(candidate)
        if cached is not None:
            return cached
        try:
            cached = ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError):
            continue
        _zones[candidate] = cached
        return cached
    return ZoneInfo("UTC")
