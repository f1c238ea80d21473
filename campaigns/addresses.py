"""Email addresses: the one rule for what a valid address is and how it is written (normalised).

Every path that takes an address uses `normalize_email`: CSV imports, the API, hosted forms, pasted
lists, the suppression list, the UI (test sends, the suppression page). `is_valid_address` asks the
same question of an address about to go into an envelope or a header (sending, system mail, the
sales hand-over): valid, and already written the way normalisation writes it (plain ASCII, no
"mailto:", no surrounding spaces), so nothing that reaches a header needs encoding or escaping.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

_LOCAL_OK = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
_LABEL_OK = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")

_ATEXT = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_FAST_LOCAL = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")
_FAST_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?")


def normalize_email(raw: Any) -> str | None:
    """Trim, lower-case the domain (IDNA for non-ASCII) and validate; None if invalid (every input path)."""
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if text.isascii():
        # the common case in one pass (imports call this a million times); the rest takes the long way
        local, _at, domain = text.rpartition("@")
        domain = domain.lower()
        if (len(local) <= 64 and len(text) <= 254 and _FAST_LOCAL.fullmatch(local)
                and _FAST_DOMAIN.fullmatch(domain)):
            return f"{local}@{domain}"
    else:
        # Excel sheets in Japan often hold full-width letters, "＠" or ideographic spaces.
        text = unicodedata.normalize("NFKC", text).strip()
    if text.startswith("mailto:"):
        text = text[7:]
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain or len(text) > 254:
        return None
    if not _LOCAL_OK.match(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        return None
    domain = domain.rstrip(".").lower()
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL_OK.match(label) for label in labels):
        return None
    if labels[-1].isdigit():
        return None
    email = f"{local}@{domain}"
    return email if len(email) <= 254 else None


def is_valid_address(address: str | None) -> bool:
    """True for an address that may go into an envelope and a header as it is: valid by normalize_email
    and already in its written form, letter case aside (sending, system mail, hand-over, sender checks)."""
    if not address:
        return False
    normalized = normalize_email(address)
    return normalized is not None and normalized.lower() == address.lower()
