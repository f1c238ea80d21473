"""Time zones: the one rule for turning a stored zone name into a ZoneInfo (contacts, accounts, send windows)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# ------------------------------------------------------------------ when may a mail go
_zones: dict[str, ZoneInfo] = {}


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
