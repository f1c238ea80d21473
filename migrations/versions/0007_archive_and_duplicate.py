"""archive and duplicate: templates, segments, contact lists and forms can be archived

`archived_at` is NULL for a live object and the moment it was archived otherwise. Archived objects leave
the lists and pickers (broadcast, sequence and A/B template pickers, segment and list pickers) but keep
every row their history and reports point at; restoring sets the column back to NULL. Nothing to
back-fill: every existing object stays live.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 17:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLES = ("templates", "segments", "contact_lists", "forms")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("archived_at")
