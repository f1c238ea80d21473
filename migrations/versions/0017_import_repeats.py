"""import_jobs.repeats: the rows repeating an address met earlier in the file, listed on the import's page

A repeated row used to be counted and merged away in silence; the page now lists the first of them (line,
address, the first row's line, merged or ignored) and offers them with the bad rows as a CSV. Existing
imports get an empty list.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 18:10:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("repeats", JSONType, nullable=False, server_default=sa.text("'[]'")))


def downgrade() -> None:
    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        batch_op.drop_column("repeats")
