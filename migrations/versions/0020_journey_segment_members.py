"""journey_segment_members: who was in a journey's trigger segment at its last evaluation

For journeys that allow re-entry, a segment trigger starts a walk when a contact *enters* the segment again
(after leaving it), not at every evaluation while it stays in; the snapshot says who was in.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 19:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journey_segment_members",
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["journey_id"], ["journeys.id"], name=op.f("fk_journey_segment_members_journey_id_journeys"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name=op.f("fk_journey_segment_members_contact_id_contacts"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("journey_id", "segment_id", "contact_id", name=op.f("pk_journey_segment_members")),
    )


def downgrade() -> None:
    op.drop_table("journey_segment_members")
