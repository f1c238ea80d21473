"""The start-up warning about a Redis that would lose queued jobs, against the real Redis: its eviction
policy and persistence are read with CONFIG GET; settings changed for a check are restored at once."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from redis import Redis

from campaigns.health import redis_warnings


@contextmanager
def redis_config(redis: Redis, **values: str) -> Iterator[None]:
    """Set CONFIG values for the block and put the previous ones back (the server is shared)."""
    names = [name.replace("_", "-") for name in values]
    saved = {name: redis.config_get(name)[name] for name in names}
    try:
        for name, value in zip(names, values.values(), strict=True):
            redis.config_set(name, value)
        yield
    finally:
        for name, value in saved.items():
            redis.config_set(name, value)
        assert {name: redis.config_get(name)[name] for name in names} == saved


def _expected(redis: Redis) -> tuple[bool, bool]:
    policy = redis.config_get("maxmemory-policy")["maxmemory-policy"]
    persists = redis.config_get("appendonly")["appendonly"] == "yes" or bool(redis.config_get("save")["save"])
    return policy != "noeviction", not persists


def _kinds(warnings: list[str]) -> tuple[bool, bool]:
    return any("maxmemory-policy" in w for w in warnings), any("persists nothing" in w for w in warnings)


def test_warnings_match_the_servers_actual_configuration(redis_conn: Redis) -> None:
    assert _kinds(redis_warnings(redis_conn)) == _expected(redis_conn)


def test_an_evicting_policy_is_reported_and_noeviction_is_not(redis_conn: Redis) -> None:
    for policy in ("allkeys-lru", "volatile-lru", "allkeys-random", "volatile-ttl"):
        with redis_config(redis_conn, maxmemory_policy=policy):
            warnings = redis_warnings(redis_conn)
            assert any(policy in w and "noeviction" in w for w in warnings), warnings
    with redis_config(redis_conn, maxmemory_policy="noeviction"):
        assert not _kinds(redis_warnings(redis_conn))[0]


def test_missing_persistence_is_reported_and_rdb_or_aof_is_enough(redis_conn: Redis) -> None:
    aof_on = redis_conn.config_get("appendonly")["appendonly"] == "yes"
    with redis_config(redis_conn, save=""):
        if not aof_on:
            assert _kinds(redis_warnings(redis_conn))[1]
    with redis_config(redis_conn, save="3600 1"):  # RDB snapshots: a restart keeps the queue
        assert not _kinds(redis_warnings(redis_conn))[1]


def test_worker_and_scheduler_log_the_warnings_at_start(app_overrides: dict[str, Any], redis_conn: Redis,
                                                        caplog: Any) -> None:
    import signal

    import worker

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    with redis_config(redis_conn, maxmemory_policy="allkeys-lru"), caplog.at_level(logging.WARNING, "nurture.health"):
        worker.run_worker(burst=True, overrides=app_overrides)
        worker_logs = [r.getMessage() for r in caplog.records if r.name == "nurture.health"]
        caplog.clear()
        try:
            worker.run_scheduler(overrides=app_overrides, once=True)
        finally:  # run_scheduler installs its own stop handlers: give pytest its own back
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
        scheduler_logs = [r.getMessage() for r in caplog.records if r.name == "nurture.health"]
    for logs in (worker_logs, scheduler_logs):
        assert any("allkeys-lru" in m for m in logs), logs



def test_background_loops_log_an_unreachable_redis_in_one_line_and_bugs_with_a_traceback(caplog: Any) -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    from campaigns.runtime import log_loop_failure
    from tests.conftest import free_port

    logger = logging.getLogger("nurture.test-loop")
    with caplog.at_level(logging.INFO, "nurture.test-loop"):
        try:  # a real refused connection, as after a Redis restart
            Redis(port=free_port(), socket_connect_timeout=1).ping()
        except RedisConnectionError as exc:
            log_loop_failure(logger, "hit writer: batch failed", exc)
        try:
            {}["missing"]
        except KeyError as exc:
            log_loop_failure(logger, "scheduler tick failed", exc)
    outage, bug = caplog.records
    assert outage.levelno == logging.WARNING and outage.exc_info is None
    assert "Redis unreachable" in outage.getMessage() and "hit writer: batch failed" in outage.getMessage()
    assert bug.levelno == logging.ERROR and bug.exc_info is not None and bug.exc_info[0] is KeyError
