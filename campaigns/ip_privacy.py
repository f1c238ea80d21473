"""IP privacy: how a visitor's address is stored (tracking hits, form submissions, rate limits).

IP_PRIVACY chooses 'truncate' (the /24 or /48 network, the default), 'hash' (a keyed hash) or 'none'.
`stored_ip` is the one entry every caller uses; the hash key is derived from SECRET_KEY once, so the
same visitor gets the same hash wherever it is seen.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from functools import lru_cache

from campaigns.config import Settings


def ip_for_storage(ip: str, mode: str, key: bytes) -> str:
    """The address as stored: /24 or /48 network ('truncate'), keyed hash ('hash') or as is ('none')."""
    if not ip:
        return ""
    if mode == "none":
        return ip[:64]
    if mode == "hash":
        # Keyed, so the 2^32 IPv4 addresses cannot simply be hashed and looked up.
        return hmac.new(key, ip.encode(), hashlib.sha256).hexdigest()[:32]
    head, dot, last = ip.rpartition(".")
    if dot and last.isdigit() and ":" not in ip and head.count(".") == 2 and all(
        p.isdigit() and int(p) < 256 for p in head.split(".")
    ) and int(last) < 256:
        return f"{head}.0"  # the common IPv4 case without ipaddress objects (hot path)
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    prefix = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False).network_address)


@lru_cache(maxsize=8)
def ip_hash_key(secret_key: str) -> bytes:
    """The key of the 'hash' mode, derived from SECRET_KEY (never the raw secret: a hash key is one purpose)."""
    return hmac.new(secret_key.encode(), b"nurture-ip-hash-v1", hashlib.sha256).digest()


def stored_ip(settings: Settings, ip: str, mode: str | None = None) -> str:
    """The address as Nurture stores it under IP_PRIVACY (or the mode given), with the one derived key, so a
    visitor hashes alike in its hits, its form submissions and the forms' rate limit (every caller)."""
    return ip_for_storage(ip, mode or settings.ip_privacy, ip_hash_key(settings.secret_key))
