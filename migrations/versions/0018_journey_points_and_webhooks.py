"""journey points and webhooks without scoring rules or hand-over triggers

A journey's add_score node wrote an event scored by a scoring rule made per node, and its webhook node signed
with an inactive hand-over trigger made per node: both showed on the marketer's scoring pages. Now the score
ledger takes entries without a rule (`score_entries.rule_id` NULL, `cause` naming the journey and node,
UNIQUE (source, source_ref) among them), and a journey keeps its own webhook secret
(`journeys.webhook_secret`), named by its deliveries (`webhook_deliveries.journey_id`).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 19:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("score_entries", schema=None) as batch_op:
        batch_op.alter_column("rule_id", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("cause", sa.String(length=200), nullable=False, server_default=""))
    op.create_index("uq_score_entries_unruled", "score_entries", ["source", "source_ref"], unique=True,
                    postgresql_where=sa.text("rule_id IS NULL"), sqlite_where=sa.text("rule_id IS NULL"))
    with op.batch_alter_table("journeys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("webhook_secret", sa.String(length=100), nullable=False, server_default=""))
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("journey_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(op.f("fk_webhook_deliveries_journey_id_journeys"), "journeys", ["journey_id"],
                                    ["id"], ondelete="SET NULL")


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_webhook_deliveries_journey_id_journeys"), type_="foreignkey")
        batch_op.drop_column("journey_id")
    with op.batch_alter_table("journeys", schema=None) as batch_op:
        batch_op.drop_column("webhook_secret")
    op.drop_index("uq_score_entries_unruled", table_name="score_entries")
    op.execute("DELETE FROM score_entries WHERE rule_id IS NULL")
    with op.batch_alter_table("score_entries", schema=None) as batch_op:
        batch_op.drop_column("cause")
        batch_op.alter_column("rule_id", existing_type=sa.Integer(), nullable=False)
