"""Website visits everywhere they matter: the people's known visits by page (segments, scoring's page rules,
reports) and the scoring run's cursor over web_visits

ix_web_visits_human_path: lower(path) then time, only human visits of known contacts; on PostgreSQL the path
with text_pattern_ops (a LIKE '/pricing%' prefix is a range of it) and the contact as an INCLUDE column, so
"visited /pricing* at least twice in 30 days" over 10,000,000 visits reads only the index (docs/benchmarks.md).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 21:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_WHERE = "classification = 'human' AND contact_id IS NOT NULL"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE INDEX ix_web_visits_human_path ON web_visits (lower(path) text_pattern_ops, occurred_at) "
                   f"INCLUDE (contact_id) WHERE {_WHERE}")
    else:
        op.create_index("ix_web_visits_human_path", "web_visits", [sa.text("lower(path)"), "occurred_at"],
                        sqlite_where=sa.text(_WHERE))
    with op.batch_alter_table("scoring_settings") as batch_op:
        batch_op.add_column(sa.Column("visit_cursor", sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("visit_cursor_prev", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("scoring_settings") as batch_op:
        batch_op.drop_column("visit_cursor_prev")
        batch_op.drop_column("visit_cursor")
    op.drop_index("ix_web_visits_human_path", table_name="web_visits")
