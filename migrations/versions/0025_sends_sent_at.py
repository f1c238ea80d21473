"""sends: an index on sent_at alone (the dashboard's weekly trend and its "sent in the last 7 days")

Both read a range of sent_at over every mail; without an index on it PostgreSQL scanned the whole table. With
(sent_at) INCLUDE (status): an index-only range scan (bench/bench_dashboard_trends.py, 3,000,000 sends at load 9:
13 weeks 847 -> 400 ms, 7 days 391 -> 87 ms; docs/benchmarks.md). Building it reads the table once (CONCURRENTLY is not used inside
Alembic's transaction; on a very large table create it by hand first with CONCURRENTLY under this name).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 20:40:00
"""

from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE INDEX IF NOT EXISTS ix_sends_sent_at ON sends (sent_at) INCLUDE (status)")
        return
    op.create_index("ix_sends_sent_at", "sends", ["sent_at"])


def downgrade() -> None:
    op.drop_index("ix_sends_sent_at", table_name="sends")
