"""contacts: search_text (folded for search, trigram index on PostgreSQL), last_activity_at, and an
index per sortable column of the contact list

The contact list searches the way Japanese is typed (full- and half-width, hiragana and katakana,
upper and lower case, with and without spaces) over one stored column, contacts.search_text, written
on every contact write by campaigns.search_text's rule; existing rows are filled here with a copy of
that rule as of this revision. On PostgreSQL a pg_trgm GIN index serves LIKE '%word%' (pg_trgm is a
trusted extension since PostgreSQL 13: the database owner may create it). last_activity_at is the
latest event about the contact, filled here from events. Each sortable column gets an index ending in
id, so a keyset page in any order is one index range; (source, id) replaces the index on source alone.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 17:00:00
"""

import re
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# campaigns.search_text as of this revision
_KANA = {code: code + 0x60 for code in range(0x3041, 0x3097)} | {0x309D: 0x30FD, 0x309E: 0x30FE}
_SPACE = re.compile(r"\s+")


def _fold(text: str | None) -> str:
    folded = unicodedata.normalize("NFKC", text or "").lower().translate(_KANA)
    return _SPACE.sub("", folded)


def _search_text(email: str, first: str, last: str, company: str, title: str) -> str:
    first, last = _fold(first), _fold(last)
    parts = [_fold(email), first + last, last + first, _fold(company), _fold(title)]
    return "|".join(p.replace("|", "") for p in parts)


_SORT_INDEXES = {
    "ix_contacts_score_id": ["score", "id"],
    "ix_contacts_stage_id": ["stage", "id"],
    "ix_contacts_status_id": ["status", "id"],
    "ix_contacts_activity_id": ["last_activity_at", "id"],
    "ix_contacts_name_id": ["last_name", "first_name", "id"],
    "ix_contacts_company_id": ["company", "id"],
    "ix_contacts_job_title_id": ["job_title", "id"],
    "ix_contacts_source_id": ["source", "id"],
}


def upgrade() -> None:
    conn = op.get_bind()
    pg = conn.dialect.name == "postgresql"
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("search_text", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=True))

    # Backfill in id order, a batch at a time (memory stays flat at millions of contacts).
    update = sa.text("UPDATE contacts SET search_text = :text WHERE id = :id")
    last = 0
    while True:
        rows = conn.execute(sa.text(
            "SELECT id, email, first_name, last_name, company, job_title FROM contacts WHERE id > :last "
            "ORDER BY id LIMIT 5000"), {"last": last}).all()
        if not rows:
            break
        conn.execute(update, [{"id": r[0], "text": _search_text(*r[1:])} for r in rows])
        last = rows[-1][0]
    conn.execute(sa.text(
        "UPDATE contacts SET last_activity_at = (SELECT max(e.occurred_at) FROM events AS e "
        "WHERE e.contact_id = contacts.id) WHERE EXISTS (SELECT 1 FROM events AS e WHERE e.contact_id = contacts.id)"))

    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_contacts_source")
        for name, columns in _SORT_INDEXES.items():
            batch_op.create_index(name, columns, unique=False)
    if pg:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE INDEX ix_contacts_search_trgm ON contacts USING gin (search_text gin_trgm_ops)")
    else:  # no trigram index in SQLite: a plain one of the same name keeps the two schemas alike
        op.create_index("ix_contacts_search_trgm", "contacts", ["search_text"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_contacts_search_trgm", table_name="contacts")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        for name in _SORT_INDEXES:
            batch_op.drop_index(name)
        batch_op.create_index("ix_contacts_source", ["source"], unique=False)
        batch_op.drop_column("last_activity_at")
        batch_op.drop_column("search_text")
