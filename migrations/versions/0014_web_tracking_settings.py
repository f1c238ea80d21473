"""web_tracking_settings: the Settings -> Website tracking page (allowed site domains, consent mode, Global
Privacy Control, look-back); a single row, created on first save (docs/website-tracking.md)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 20:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_tracking_settings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("allowed_domains", sa.Text(), nullable=False),
        sa.Column("consent_required", sa.Boolean(), nullable=False),
        sa.Column("honour_gpc", sa.Boolean(), nullable=False),
        sa.Column("lookback_days", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("web_tracking_settings")
