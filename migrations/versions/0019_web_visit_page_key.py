"""website visits: a page key PostgreSQL can answer page patterns from, and an index for utm_source

ix_web_visits_human_path (0015) indexed the expression lower(path): PostgreSQL cannot answer from an expression
index alone (it wants the column `path` itself), so "visited /pricing at least 3 times" read ~400,000 table rows
(21 s over 10,000,000 visits), and a path over ~2,700 bytes could not be indexed at all. Now:
- web_visits.path_key: lower(substr(path, 1, 500)), a stored generated column (computed by the database on
  every insert; on PostgreSQL adding it rewrites the table once, under a lock, so run this upgrade when the hit
  writer may wait a few minutes on a large table);
- ix_web_visits_human_page on (path_key, occurred_at) INCLUDE (contact_id), people's known visits only, replacing
  ix_web_visits_human_path: page and prefix patterns are answered from the index alone;
- ix_web_visits_human_utm on (lower(utm_source), occurred_at) INCLUDE (contact_id, utm_source), only visits that
  carry a utm_source: "came from utm_source X in N days" without reading the period's visits.
Figures: docs/benchmarks.md (bench/bench_visits_segment.py).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 18:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_PEOPLE = "classification = 'human' AND contact_id IS NOT NULL"
_TAGGED = f"{_PEOPLE} AND utm_source <> ''"
_KEY = "lower(substr(path, 1, 500))"


def upgrade() -> None:
    op.drop_index("ix_web_visits_human_path", table_name="web_visits")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE web_visits ADD COLUMN path_key TEXT GENERATED ALWAYS AS ({_KEY}) STORED")
        op.execute("CREATE INDEX ix_web_visits_human_page ON web_visits (path_key text_pattern_ops, occurred_at) "
                   f"INCLUDE (contact_id) WHERE {_PEOPLE}")
        op.execute("CREATE INDEX ix_web_visits_human_utm ON web_visits (lower(utm_source), occurred_at) "
                   f"INCLUDE (contact_id, utm_source) WHERE {_TAGGED}")
        return
    # SQLite adds a stored generated column only by rebuilding the table
    with op.batch_alter_table("web_visits", recreate="always") as batch_op:
        batch_op.add_column(sa.Column("path_key", sa.Text(), sa.Computed(_KEY, persisted=True), nullable=True))
    op.create_index("ix_web_visits_human_page", "web_visits", ["path_key", "occurred_at"],
                    sqlite_where=sa.text(_PEOPLE))
    op.create_index("ix_web_visits_human_utm", "web_visits", [sa.text("lower(utm_source)"), "occurred_at"],
                    sqlite_where=sa.text(_TAGGED))


def downgrade() -> None:
    op.drop_index("ix_web_visits_human_utm", table_name="web_visits")
    op.drop_index("ix_web_visits_human_page", table_name="web_visits")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_column("web_visits", "path_key")
        op.execute("CREATE INDEX ix_web_visits_human_path ON web_visits (lower(path) text_pattern_ops, occurred_at) "
                   f"INCLUDE (contact_id) WHERE {_PEOPLE}")
        return
    with op.batch_alter_table("web_visits", recreate="always") as batch_op:
        batch_op.drop_column("path_key")
    op.create_index("ix_web_visits_human_path", "web_visits", [sa.text("lower(path)"), "occurred_at"],
                    sqlite_where=sa.text(_PEOPLE))
