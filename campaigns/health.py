"""Start-up checks that warn operators about settings that lose mail."""

from __future__ import annotations

import logging

from redis import Redis
from redis.exceptions import RedisError

from campaigns.config import Settings
from campaigns.delivery.dkim_signing import DkimConfigError, signer_for
from campaigns.engagement.classify_data import data_problems

log = logging.getLogger("nurture.health")


def redis_warnings(redis: Redis) -> list[str]:
    """Reasons queued jobs could be lost with this Redis (eviction policy, no persistence)."""
    warnings: list[str] = []
    try:
        policy = redis.config_get("maxmemory-policy").get("maxmemory-policy", "")
        if policy and policy != "noeviction":
            warnings.append(f"Redis maxmemory-policy is {policy!r}: queued jobs may be evicted; use 'noeviction'")
        persistence = redis.config_get("appendonly").get("appendonly", "no")
        save = redis.config_get("save").get("save", "")
        if persistence != "yes" and not save:
            warnings.append(
                "Redis persists nothing (appendonly no, no save points): a restart forgets the queue; "
                "the scheduler re-enqueues from the database, but enable AOF in production"
            )
    except RedisError as exc:  # CONFIG may be disabled on managed Redis
        warnings.append(f"could not read Redis config: {exc}")
    return warnings


def warn_about_redis(redis: Redis) -> None:
    """Log each Redis warning at start (worker and scheduler call this)."""
    for warning in redis_warnings(redis):
        log.warning(warning)


def settings_warnings(settings: Settings) -> list[str]:
    """Settings that will stop or weaken delivery: half-configured DKIM, an unreadable key, plain-HTTP links,
    unusable classification data files."""

    warnings: list[str] = []
    dkim = [settings.dkim_selector, settings.dkim_domain, settings.dkim_private_key_path]
    if any(dkim) and not all(dkim):
        warnings.append("DKIM is half configured: set DKIM_SELECTOR, DKIM_DOMAIN and DKIM_PRIVATE_KEY_PATH together")
    elif all(dkim):
        try:
            signer_for(settings)
        except DkimConfigError as exc:
            warnings.append(f"DKIM: {exc}; delivery will stop until it is fixed")
    if not settings.testing and settings.base_url.startswith("http://") and not settings.uses_outbox:
        warnings.append("BASE_URL is plain http://: tracking and unsubscribe links should use https://")
    warnings.extend(data_problems(settings.classify_data_dir))  # an operator's broken copy of the data files
    return warnings


def warn_about_settings(settings: Settings) -> None:
    """Log each settings warning at start (worker and scheduler call this)."""
    for warning in settings_warnings(settings):
        log.warning(warning)


