"""block mails: template_versions.editor and .blocks, the mail_assets library, account.brand_kit

A template version written in the block editor keeps its block document (docs/mail-blocks.md) beside
the HTML compiled from it; existing versions are HTML versions. Uploaded mail images get a table (the
files live under ASSET_DIR). The brand kit is one JSON value on the account (NULL: the defaults).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 19:30:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("template_versions") as batch:
        batch.add_column(sa.Column("editor", sa.String(10), nullable=False, server_default="html"))
        batch.add_column(sa.Column("blocks", JSONType, nullable=True))
    with op.batch_alter_table("account") as batch:
        batch.add_column(sa.Column("brand_kit", JSONType, nullable=True))
    op.create_table(
        "mail_assets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("stored_name", sa.String(80), nullable=False),
        sa.Column("media_type", sa.String(40), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("stored_name"),
    )


def downgrade() -> None:
    op.drop_table("mail_assets")
    with op.batch_alter_table("account") as batch:
        batch.drop_column("brand_kit")
    with op.batch_alter_table("template_versions") as batch:
        batch.drop_column("blocks")
        batch.drop_column("editor")
