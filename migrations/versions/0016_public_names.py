"""public_names: what recipients see on the preference page. A journey's and a sequence's public_name
(shown instead of the internal name; empty = a neutral wording). The public pages' logo is the brand
kit's (Settings), which needs no column of its own.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 18:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("journeys") as batch:
        batch.add_column(sa.Column("public_name", sa.String(200), nullable=False, server_default=""))
    with op.batch_alter_table("sequences") as batch:
        batch.add_column(sa.Column("public_name", sa.String(200), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("sequences") as batch:
        batch.drop_column("public_name")
    with op.batch_alter_table("journeys") as batch:
        batch.drop_column("public_name")
