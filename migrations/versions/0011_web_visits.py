"""web_visitors and web_visits: website behaviour from the tracking snippet (docs/website-tracking.md)

Visitors are first-party random ids, anonymous until identified by a tracked mail click or a form; visits
are page views stored in batches by the hit writer, classified like mail hits.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 17:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BigIntKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "web_visitors",
        sa.Column("id", BigIntKey, primary_key=True),
        sa.Column("visitor_key", sa.String(32), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("identified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("identified_by", sa.String(20), nullable=False),
        sa.Column("organisation", sa.String(200), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("visitor_key"),
    )
    op.create_index("ix_web_visitors_contact", "web_visitors", ["contact_id"])
    op.create_index("ix_web_visitors_last_seen", "web_visitors", ["last_seen_at"])
    op.create_table(
        "web_visits",
        sa.Column("id", BigIntKey, primary_key=True),
        sa.Column("event_id", sa.String(32), nullable=False),
        sa.Column("visitor_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("host", sa.String(253), nullable=False),
        sa.Column("path", sa.String(2000), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("referrer", sa.Text(), nullable=False),
        sa.Column("utm_source", sa.String(200), nullable=False),
        sa.Column("utm_medium", sa.String(200), nullable=False),
        sa.Column("utm_campaign", sa.String(200), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("organisation", sa.String(200), nullable=False),
        sa.Column("user_agent", sa.String(512), nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("classification", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("event_id"),
    )
    op.create_index("ix_web_visits_contact_time", "web_visits", ["contact_id", "occurred_at"])
    op.create_index("ix_web_visits_visitor_time", "web_visits", ["visitor_id", "occurred_at"])
    op.create_index("ix_web_visits_time", "web_visits", ["occurred_at"])


def downgrade() -> None:
    op.drop_table("web_visits")
    op.drop_table("web_visitors")
