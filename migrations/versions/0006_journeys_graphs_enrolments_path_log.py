"""journeys: graphs, versions, walks (enrolments), the path log, cursors; the ledger's (walk, node, visit) key

Creates the tables of campaigns/models/journeys.py (docs/journeys.md) and adds to `sends` the journey
columns (journey_enrolment_id, node_key, visit) with the partial UNIQUE index that makes a mail node
send at most once per visit of a walk. Nothing existing changes: the new columns are NULL for sequence
and broadcast sends, which the partial index leaves out.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 17:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _when() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "journeys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("draft_graph", _json(), nullable=False),
        sa.Column("live_version_id", sa.Integer(), nullable=True),
        sa.Column("settings", _json(), nullable=False),
        sa.Column("sequence_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journeys")),
    )
    op.create_table(
        "journey_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("graph", _json(), nullable=False),
        sa.Column("settings", _json(), nullable=False),
        sa.Column("moves", _json(), nullable=False),
        sa.Column("published_at", _when(), nullable=False),
        sa.Column("published_by", sa.String(length=254), nullable=False),
        sa.ForeignKeyConstraint(["journey_id"], ["journeys.id"], name=op.f("fk_journey_versions_journey_id_journeys"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journey_versions")),
        sa.UniqueConstraint("journey_id", "number", name=op.f("uq_journey_versions_journey_id_number")),
    )
    op.create_table(
        "journey_enrolments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("node_key", sa.String(length=40), nullable=False),
        sa.Column("node_entered_at", _when(), nullable=False),
        sa.Column("due_at", _when(), nullable=True),
        sa.Column("visit", sa.Integer(), nullable=False),
        sa.Column("visits", _json(), nullable=False),
        sa.Column("waiting", sa.Boolean(), nullable=False),
        sa.Column("last_send_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("context", _json(), nullable=False),
        sa.Column("test", sa.Boolean(), nullable=False),
        sa.Column("exit_reason", sa.String(length=200), nullable=False),
        sa.Column("enrolled_at", _when(), nullable=False),
        sa.Column("finished_at", _when(), nullable=True),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name=op.f("fk_journey_enrolments_contact_id_contacts"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["journey_id"], ["journeys.id"], name=op.f("fk_journey_enrolments_journey_id_journeys"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journey_enrolments")),
        sa.UniqueConstraint("contact_id", "journey_id", "cycle",
                            name=op.f("uq_journey_enrolments_contact_id_journey_id_cycle")),
    )
    with op.batch_alter_table("journey_enrolments", schema=None) as batch_op:
        batch_op.create_index("ix_journey_enrolments_due", ["due_at", "id"], unique=False,
                              postgresql_where=sa.text("status = 'active'"), sqlite_where=sa.text("status = 'active'"))
        batch_op.create_index("ix_journey_enrolments_waiting", ["contact_id"], unique=False,
                              postgresql_where=sa.text("waiting IS true"), sqlite_where=sa.text("waiting IS 1"))
        batch_op.create_index("ix_journey_enrolments_node", ["journey_id", "node_key", "status"], unique=False)
    op.create_table(
        "journey_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column("enrolment_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("node_key", sa.String(length=40), nullable=False),
        sa.Column("visit", sa.Integer(), nullable=False),
        sa.Column("entered_at", _when(), nullable=False),
        sa.Column("left_at", _when(), nullable=True),
        sa.Column("exit", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["enrolment_id"], ["journey_enrolments.id"],
                                name=op.f("fk_journey_steps_enrolment_id_journey_enrolments"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journey_steps")),
    )
    with op.batch_alter_table("journey_steps", schema=None) as batch_op:
        batch_op.create_index("ix_journey_steps_enrolment", ["enrolment_id", "id"], unique=False)
        batch_op.create_index("ix_journey_steps_node", ["journey_id", "node_key", "exit"], unique=False)
    op.create_table(
        "journey_cursors",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_journey_cursors")),
    )
    with op.batch_alter_table("sends", schema=None) as batch_op:
        batch_op.add_column(sa.Column("journey_enrolment_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("node_key", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("visit", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(op.f("fk_sends_journey_enrolment_id_journey_enrolments"), "journey_enrolments",
                                    ["journey_enrolment_id"], ["id"], ondelete="CASCADE")
        batch_op.create_index("uq_sends_journey_node_visit", ["journey_enrolment_id", "node_key", "visit"], unique=True,
                              postgresql_where=sa.text("journey_enrolment_id IS NOT NULL"),
                              sqlite_where=sa.text("journey_enrolment_id IS NOT NULL"))


def downgrade() -> None:
    with op.batch_alter_table("sends", schema=None) as batch_op:
        batch_op.drop_index("uq_sends_journey_node_visit")
        batch_op.drop_constraint(op.f("fk_sends_journey_enrolment_id_journey_enrolments"), type_="foreignkey")
        batch_op.drop_column("visit")
        batch_op.drop_column("node_key")
        batch_op.drop_column("journey_enrolment_id")
    op.drop_table("journey_cursors")
    op.drop_table("journey_steps")
    op.drop_table("journey_enrolments")
    op.drop_table("journey_versions")
    op.drop_table("journeys")
