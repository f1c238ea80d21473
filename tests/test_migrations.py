"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from campaigns import models  # noqa: F401
from campaigns.db import Base, make_engine
from campaigns.migrate import upgrade


def _fresh_url(tmp_path) -> str:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgresql"):
        # a separate schema-less database would need CREATEDB; use a dedicated one next to the test db
        base = sa.engine.make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
        name = f"{base.database}_migrations"
        admin = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return base.set(database=name).render_as_string(hide_password=False)
    return f"sqlite:///{tmp_path / 'migrated.db'}"


def test_migrations_match_models(tmp_path):
    url = _fresh_url(tmp_path)
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(ctx, Base.metadata)
    engine.dispose()
    assert diff == []


def test_upgrade_twice_is_a_no_op(tmp_path):
    url = _fresh_url(tmp_path)
    upgrade(url)
    upgrade(url)
    engine = make_engine(url)
    assert "alembic_version" in sa.inspect(engine).get_table_names()
    engine.dispose()
