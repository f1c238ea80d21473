"""account.language: the language of what the account sends to its own team and of default texts

The sales hand-over mail (campaigns/scoring/handover.py) and the default consent wording of a new form follow
it, not the language of whoever happens to be logged in. Existing accounts keep English, which both were
written in until now; Settings changes it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=8), nullable=False, server_default="en"))


def downgrade() -> None:
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.drop_column("language")
