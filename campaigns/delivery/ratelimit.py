"""A messages-per-second limit per SMTP server, shared by every worker process through Redis.

Each caller reserves slots for the mails it is about to send: one atomic Lua script keeps the
"next free slot" time (GCRA-style) under a key per server, using Redis's clock so that workers on
different machines agree. The caller sleeps until its first slot, then sends. Reservations are
made per small group of mails, so the cost is one Redis round trip per group, not per mail.
"""

from __future__ import annotations

import time

from redis import Redis

_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local next_free = tat + interval * n
redis.call('SET', KEYS[1], string.format('%d', next_free), 'PX', math.ceil((next_free - now) / 1000) + 1000)
return tat - now
"""


class RateLimiter:
    """Reserve send slots at `per_second` for one server key; used by the sender once per group."""

    def __init__(self, redis: Redis, key: str, per_second: float) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self.redis = redis
        self.key = f"nurture:ratelimit:{key}"
        self.per_second = per_second
        self._interval_us = max(1, int(round(1_000_000 / per_second)))
        self._script = redis.register_script(_RESERVE)

    def reserve(self, count: int) -> float:
        """Book `count` slots; returns the seconds to wait before the first of them may be used."""
        if count <= 0:
            return 0.0
        wait_us = self._script(keys=[self.key], args=[self._interval_us, count])
        return max(0.0, int(wait_us) / 1_000_000)

    def acquire(self, count: int) -> float:
        """Book `count` slots and sleep until they start; returns the time slept (sender)."""
        wait = self.reserve(count)
        if wait > 0:
            time.sleep(wait)
        return wait

    def group_size(self, preferred: int) -> int:
        """A group size that keeps bursts short under this rate (about a quarter second of sending)."""
        return max(1, min(preferred, int(self.per_second / 4) or 1))
