"""A/B tests on journey send nodes: ab_tests.journey_id + node_key, ab_variants.percent; running step tests of
converted sequences move to their journey's send node

A test running on a sequence step that migration 0012 turned into a journey got no new sends (journey mails
carried no variant). Its row now names the journey and the node (`step-<step id>`), keeps its step_id for
history, and the node's `ab` settings are written into the journey's draft and live graph, so the engine
splits new walks again and the decision runs as before (campaigns.experiments.journeys).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 20:30:00
"""

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

def _graph(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value or "{}")
    return dict(value or {})


def _with_ab(graph: dict[str, Any], node_key: str, ab: dict[str, Any]) -> dict[str, Any] | None:
    """The graph with `ab` on its send node `node_key` (None when the graph has no such send node)."""
    changed = False
    for node in graph.get("nodes") or []:
        if isinstance(node, dict) and node.get("id") == node_key and node.get("type") == "send":
            node["ab"] = ab
            node["template_id"] = ab["variants"][0]["template_id"]  # variant A is the node's own mail
            changed = True
    return graph if changed else None


def _keep_children(sqlite: bool) -> None:
    """SQLite's batch mode rebuilds ab_tests, and dropping the old table cascades (foreign keys are on) to its
    variants and assignments: keep them aside while it does."""
    if sqlite:
        for child in ("ab_variants", "ab_assignments"):
            op.execute(f"CREATE TEMP TABLE keep_{child} AS SELECT * FROM {child}")


def _restore_children(sqlite: bool) -> None:
    if sqlite:
        for child in ("ab_variants", "ab_assignments"):
            op.execute(f"DELETE FROM {child}")
            op.execute(f"INSERT INTO {child} SELECT * FROM keep_{child}")
            op.execute(f"DROP TABLE keep_{child}")


def upgrade() -> None:
    conn = op.get_bind()
    sqlite = conn.dialect.name == "sqlite"
    _keep_children(sqlite)
    with op.batch_alter_table("ab_tests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("journey_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("node_key", sa.String(length=40), nullable=False, server_default=""))
        batch_op.create_foreign_key(op.f("fk_ab_tests_journey_id_journeys"), "journeys", ["journey_id"], ["id"],
                                    ondelete="CASCADE")
        batch_op.create_index(op.f("ix_ab_tests_journey_id"), ["journey_id"], unique=False)
    _restore_children(sqlite)
    op.add_column("ab_variants", sa.Column("percent", sa.Integer(), nullable=False, server_default="0"))
    move_step_tests(conn)


def move_step_tests(conn: Any) -> None:
    """Running (or waiting) tests of converted sequences' steps onto their journeys' send nodes; tests already
    moved are skipped, so a later conversion (migration 0027, after 0026) runs it again."""
    pg = conn.dialect.name == "postgresql"
    js = "CAST(:g AS jsonb)" if pg else ":g"
    rows = conn.execute(sa.text(
        "SELECT t.id, t.step_id, t.metric, t.goal_event, t.goal_days, t.window_hours, t.test_days, t.mode,"
        " t.planned_per_variant, j.id, j.draft_graph, j.live_version_id"
        " FROM ab_tests t JOIN steps s ON s.id = t.step_id JOIN journeys j ON j.sequence_id = s.sequence_id"
        " WHERE t.journey_id IS NULL AND t.status IN ('draft', 'testing', 'awaiting_decision')"
    )).all()
    for (test_id, step_id, metric, goal_event, goal_days, window, days, mode, planned, journey_id, draft,
         live_version_id) in rows:
        variants = conn.execute(sa.text(
            "SELECT id, template_id, label FROM ab_variants WHERE test_id = :t ORDER BY position"), {"t": test_id}
        ).all()
        if len(variants) < 2 or any(v[1] is None for v in variants):
            continue  # a draft test never resolved its templates: nothing to carry on
        k = len(variants)
        shares = [100 // k + (1 if i < 100 % k else 0) for i in range(k)]
        for (variant_id, _, _), share in zip(variants, shares, strict=True):
            conn.execute(sa.text("UPDATE ab_variants SET percent = :p WHERE id = :v"), {"p": share, "v": variant_id})
        node_key = f"step-{step_id}"
        ab: dict[str, Any] = {
            "variants": [{"template_id": int(tid), "percent": share, **({"label": label} if label else {})}
                         for (_, tid, label), share in zip(variants, shares, strict=True)],
            "metric": metric, "days": int(days), "window_hours": int(window),
            "per_variant": int(planned or 0), "winner": mode,
        }
        if metric == "goal":
            ab.update(goal_event=goal_event, goal_days=int(goal_days))
        conn.execute(sa.text("UPDATE ab_tests SET journey_id = :j, node_key = :n WHERE id = :t"),
                     {"j": journey_id, "n": node_key, "t": test_id})
        new_draft = _with_ab(_graph(draft), node_key, ab)
        if new_draft is not None:
            conn.execute(sa.text(f"UPDATE journeys SET draft_graph = {js} WHERE id = :j"),
                         {"g": json.dumps(new_draft), "j": journey_id})
        if live_version_id is not None:
            live = conn.scalar(sa.text("SELECT graph FROM journey_versions WHERE id = :v"), {"v": live_version_id})
            new_live = _with_ab(_graph(live), node_key, ab)
            if new_live is not None:
                conn.execute(sa.text(f"UPDATE journey_versions SET graph = {js} WHERE id = :v"),
                             {"g": json.dumps(new_live), "v": live_version_id})


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("ab_variants", schema=None) as batch_op:
        batch_op.drop_column("percent")
    _keep_children(sqlite)
    with op.batch_alter_table("ab_tests", schema=None) as batch_op:
        batch_op.drop_index(op.f("ix_ab_tests_journey_id"))
        batch_op.drop_constraint(op.f("fk_ab_tests_journey_id_journeys"), type_="foreignkey")
        batch_op.drop_column("node_key")
        batch_op.drop_column("journey_id")
    _restore_children(sqlite)
