"""broadcasts.failure_reason: why the scheduler marked a broadcast failed

One broadcast whose audience cannot be built is now marked failed with its reason while the rest of the
tick carries on (campaigns/scheduler.py); the reason is shown on the broadcast pages. Existing rows get an
empty reason. Statuses are plain text columns, so the new "failed" value (of broadcasts and A/B tests,
whose reason goes into their decision record) needs no change.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failure_reason", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.drop_column("failure_reason")
