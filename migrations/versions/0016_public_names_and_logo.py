"""public_names_and_logo: what recipients see of the sender on public pages. A journey's and a sequence's
public_name (the preference page shows it instead of the internal name; empty = a neutral wording), the
account's logo (a small image stored as a data: URL, shown with the company name on hosted forms, the
unsubscribe page and the preference page; empty = the name only).

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
    with op.batch_alter_table("account") as batch:
        batch.add_column(sa.Column("logo", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("account") as batch:
        batch.drop_column("logo")
    with op.batch_alter_table("sequences") as batch:
        batch.drop_column("public_name")
    with op.batch_alter_table("journeys") as batch:
        batch.drop_column("public_name")
