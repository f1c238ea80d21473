"""journey_steps holds one row per node LEFT: drop the open rows of the nodes walks are at now

The path log used to get a row when a walk entered a node and an UPDATE when it left; it now gets one row
when the walk leaves (campaigns.automation.walks), and the node a walk is at is the walk's own (node_key,
visit, node_entered_at). The open rows of active walks' current positions would otherwise stay open for
ever beside the row written on leaving: they are removed (what started the walk is journey_enrolments.source).
Downgrade writes them back from the walks.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 20:40:00
"""

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "DELETE FROM journey_steps WHERE left_at IS NULL AND EXISTS (SELECT 1 FROM journey_enrolments e"
        " WHERE e.id = journey_steps.enrolment_id AND e.status = 'active' AND e.node_key = journey_steps.node_key"
        " AND e.visit = journey_steps.visit)"
    )


def downgrade() -> None:
    op.execute(
        "INSERT INTO journey_steps (journey_id, enrolment_id, version_id, node_key, visit, entered_at, left_at, exit,"
        " detail) SELECT journey_id, id, version_id, node_key, visit, node_entered_at, NULL, '', '' FROM"
        " journey_enrolments WHERE status = 'active'"
    )
