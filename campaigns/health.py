"""Start-up checks that warn operators about settings that lose mail."""

from __future__ import annotations

import logging

from redis import Redis
from redis.exceptions import RedisError

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
