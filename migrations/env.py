"""Alembic environment: the models' metadata is the target; the URL comes from campaigns.migrate."""

from __future__ import annotations

from alembic import context

from campaigns import models  # noqa: F401  (registers every table)
from campaigns.db import Base, make_engine

config = context.config


def render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Render the project's column types as plain SQLAlchemy types so migrations need no app code."""
    from campaigns.db import StrEnumType, UTCDateTime

    if type_ == "type" and isinstance(obj, StrEnumType):
        return f"sa.String(length={obj.impl.length})"  # type: ignore[attr-defined]
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False

target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True, render_item=render_item)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                          compare_type=True, render_item=render_item)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
