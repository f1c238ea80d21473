"""The shared services of one app instance (settings, database, Redis, queue, token signer).

Built once by `create_app`; views reach them through `services()`, jobs and the scheduler through
the app context the worker pushes. Nothing here touches a request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Flask, current_app
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError

from campaigns.config import Settings
from campaigns.db import Database
from campaigns.links import TokenSigner, TrackingUrls


@dataclass
class Services:
    settings: Settings
    db: Database
    redis: Redis
    queue: Queue
    signer: TokenSigner
    urls: TrackingUrls

    @classmethod
    def build(cls, settings: Settings) -> Services:
        redis = Redis.from_url(settings.redis_url)
        signer = TokenSigner(settings.secret_key)
        return cls(
            settings=settings,
            db=Database(settings.database_url),
            redis=redis,
            queue=Queue(settings.queue_name, connection=redis, default_timeout=600),
            signer=signer,
            urls=TrackingUrls(settings.base_url, signer),
        )

    def init_app(self, app: Flask) -> None:
        app.extensions["nurture"] = self

        @app.teardown_appcontext
        def _remove_session(_exc: BaseException | None) -> None:
            self.db.remove_session()


def services() -> Services:
    """The services of the current app (views, jobs under the worker's app context)."""
    return current_app.extensions["nurture"]  # type: ignore[no-any-return]


def is_outage(exc: BaseException) -> bool:
    """True when `exc` says Redis or the database is out of reach or busy (a restart, a failover, a lost
    connection, a lock or deadlock timeout), as opposed to a failure that belongs to one object's data.
    The scheduler lets these end the tick (the next one retries everything) and settles the others on
    the one object (a broadcast, an enrolment, an A/B test, an import) with its reason."""
    if isinstance(exc, RedisConnectionError | RedisTimeoutError | OSError | SQLAlchemyTimeoutError):
        return True
    if isinstance(exc, OperationalError | InterfaceError):
        return True  # the DBAPI's own word for "not the statement's fault": connection, locks, deadlocks
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def log_loop_failure(logger: logging.Logger, what: str, exc: BaseException) -> None:
    """Log a failed pass of a background loop (scheduler, hit writer) that will retry by itself: Redis
    out of reach is a one-line warning (a restart or failover, seen and survived); anything else keeps
    its traceback, because it is a bug to find."""
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        logger.warning("%s: Redis unreachable (%s); retrying", what, exc)
    else:
        logger.error("%s", what, exc_info=exc)
