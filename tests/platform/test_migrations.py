"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.orm import Session

from campaigns.db import Base, make_engine
from campaigns.migrate import upgrade
from campaigns.models import Contact, ContactStatus, Suppression
from campaigns.suppression import is_suppressed


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


# SQLite cannot reflect expression indexes, so ix_contacts_email_folded is compared on PostgreSQL only
# (test_0003_folds_suppression_keys_... checks that it exists on both).
@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_migrations_match_models(tmp_path):
    url = _fresh_url(tmp_path)
    upgrade(url)
    engine = make_engine(url)
    # Alembic reflects an expression index without its column collation, so it cannot compare
    # ix_contacts_email_folded (`lower(email COLLATE "C") COLLATE "default"`): its definition is checked here.
    def compared(obj, name, type_, reflected, compare_to):
        return name != "ix_contacts_email_folded"

    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False, "include_object": compared})
        diff = compare_metadata(ctx, Base.metadata)
        if conn.dialect.name == "postgresql":
            definition = conn.scalar(sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_contacts_email_folded'"))
            assert definition.endswith('(lower(((email)::text COLLATE "C")) COLLATE "default")'), definition
    engine.dispose()
    assert diff == []


def test_upgrade_twice_is_a_no_op(tmp_path):
    url = _fresh_url(tmp_path)
    upgrade(url)
    upgrade(url)
    engine = make_engine(url)
    assert "alembic_version" in sa.inspect(engine).get_table_names()
    engine.dispose()


def _insert_at_revision(conn, model, rows):
    """Insert rows into a table as an older revision built it: the model's Python-side defaults fill the
    columns that exist then (later columns, e.g. contacts.search_text from 0008, are left out)."""
    table = sa.Table(model.__tablename__, sa.MetaData(), autoload_with=conn)
    filled = []
    for row in rows:
        values = dict(row)
        for column in model.__table__.columns:
            if column.name in values or column.name not in table.c or column.default is None:
                continue
            default = column.default
            if default.is_scalar:
                values[column.name] = default.arg
            elif default.is_callable:
                values[column.name] = default.arg(None)
        filled.append(values)
    conn.execute(table.insert(), filled)
    return table


def test_0003_folds_suppression_keys_merges_variants_and_marks_case_variant_contacts(tmp_path):
    url = _fresh_url(tmp_path)
    upgrade(url, "0002")
    engine = make_engine(url)
    with engine.begin() as conn:
        _insert_at_revision(conn, Suppression, [
            {"email": "Ito@example.jp", "reason": "manual"},  # earliest, but manual:
            {"email": "ito@example.jp", "reason": "unsubscribed"},  # the opt-out is kept instead
            {"email": "ITO@example.jp", "reason": "hard_bounce"},
            {"email": "Sato@example.jp", "reason": "manual"},  # earliest of two manual ones
            {"email": "SATO@example.jp", "reason": "manual"},
            {"email": "Kato@example.jp", "reason": "complaint"},
            {"email": "Raw-ÄB@x", "reason": "manual"},  # an unparsable bounce recipient: only A-Z fold
        ])
        contacts = _insert_at_revision(conn, Contact, [
            {"email": e} for e in ("Ito@example.jp", "ito@example.jp", "Sato@example.jp", "KATO@example.jp",
                                   "other@example.jp")
        ])
        conn.execute(sa.update(contacts).where(contacts.c.email == "other@example.jp").values(status="pending"))
    upgrade(url)
    with engine.begin() as conn:
        rows = conn.execute(sa.select(Suppression.id, Suppression.email, Suppression.reason)
                            .order_by(Suppression.id)).all()
        assert [tuple(r) for r in rows] == [
            (2, "ito@example.jp", "unsubscribed"), (4, "sato@example.jp", "manual"),
            (6, "kato@example.jp", "complaint"), (7, "raw-Äb@x", "manual"),
        ]
        statuses = dict(conn.execute(sa.select(Contact.email, Contact.status)).all())
        assert statuses == {
            "Ito@example.jp": ContactStatus.UNSUBSCRIBED, "ito@example.jp": ContactStatus.UNSUBSCRIBED,
            "Sato@example.jp": ContactStatus.ACTIVE,  # manual: suppressed, status left alone
            "KATO@example.jp": ContactStatus.COMPLAINED, "other@example.jp": ContactStatus.PENDING,
        }
        if engine.dialect.name == "postgresql":
            index = "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_contacts_email_folded'"
        else:
            index = "SELECT sql FROM sqlite_master WHERE name = 'ix_contacts_email_folded'"
        assert conn.execute(sa.text(index)).scalar() is not None
    with Session(engine) as s:
        assert is_suppressed(s, "SATO@example.jp") and is_suppressed(s, "RAW-Äb@x")
        assert not is_suppressed(s, "raw-äb@x")  # non-ASCII letters keep their case, in SQL and Python alike
    engine.dispose()


def test_0004_marks_the_copies_ab_tests_made_and_nothing_else(tmp_path):
    from campaigns.models import ABTest, ABVariant, Template

    url = _fresh_url(tmp_path)
    upgrade(url, "0003")
    engine = make_engine(url)
    names = ["Welcome", "Welcome · A/B #1 B", "Case study", "Spring · A/B #2 B"]
    with engine.begin() as conn:
        for n in names:
            _insert_at_revision(conn, Template, [{"name": n}])
        templates = sa.Table("templates", sa.MetaData(), autoload_with=conn)
        by_name = dict(conn.execute(sa.select(templates.c.name, templates.c.id)).all())
        ids = [by_name[n] for n in names]
        _insert_at_revision(conn, ABTest, [{"id": 1, "kind": "subject"}, {"id": 2, "kind": "content"}])
        _insert_at_revision(conn, ABVariant, [
            {"test_id": 1, "position": 0, "key": "A", "template_id": ids[0]},  # the control: the marketer's own
            {"test_id": 1, "position": 1, "key": "B", "template_id": ids[1]},  # the copy the test made
            {"test_id": 2, "position": 0, "key": "A", "template_id": ids[2]},  # content test: own templates,
            {"test_id": 2, "position": 1, "key": "B", "template_id": ids[3]},  # whatever their names
        ])
    upgrade(url)
    with engine.begin() as conn:
        marked = dict(conn.execute(sa.select(Template.name, Template.ab_test_id)).all())
    assert marked == {"Welcome": None, "Welcome · A/B #1 B": 1, "Case study": None, "Spring · A/B #2 B": None}
    engine.dispose()
