"""tracking_hits: index (send_id, kind, classification, occurred_at) replaces (send_id, occurred_at);
no foreign keys on contact_id and link_id

The hit writer looks up, for each batch, the stored clicks of the mails it brings hits for and the
earliest human open and click of each. With the old index every hit of a mail was visited and read
from the table to test its kind and class; the new one finds the clicks directly and answers the
earliest-human lookup from the index alone. Queries joining on send_id use it as before.

The foreign keys on contact_id and link_id made every inserted hit lock its contact and link rows
(a third of the cost of storing a hit batch). Neither protects anything the send's key does not: a
contact's hits are deleted with its sends (send_id cascades), and a link belongs to the send's
template version, which cannot be deleted while sends reference it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 23:00:00
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tracking_hits", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tracking_hits_send_kind", ["send_id", "kind", "classification", "occurred_at"], unique=False
        )
        batch_op.drop_index("ix_tracking_hits_send_time")
        batch_op.drop_constraint("fk_tracking_hits_contact_id_contacts", type_="foreignkey")
        batch_op.drop_constraint("fk_tracking_hits_link_id_links", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("tracking_hits", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_tracking_hits_contact_id_contacts", "contacts", ["contact_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.create_foreign_key("fk_tracking_hits_link_id_links", "links", ["link_id"], ["id"], ondelete="SET NULL")
        batch_op.create_index("ix_tracking_hits_send_time", ["send_id", "occurred_at"], unique=False)
        batch_op.drop_index("ix_tracking_hits_send_kind")
