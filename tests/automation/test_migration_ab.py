"""Migration 0021 on its own: a test running on a converted sequence's step moves to the journey's send node
(journey_id, node_key `step-<id>`, even shares), and the node's `ab` is written into the draft and the live
graph, which the graph validator accepts; a finished test stays where it was."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from campaigns.automation.graph import validate_graph
from campaigns.db import make_engine
from campaigns.migrate import alembic_config, upgrade
from tests.platform.test_migrations import _fresh_url

NOW = "CURRENT_TIMESTAMP"


def _templates_and_sequence(run: Any, name: str, status: str) -> None:
    """Templates 1 (Control) and 2 (Challenger), each with its version 1, and sequence 1 in `status`."""
    for title in ("Control", "Challenger"):
        run(sa.text(f"INSERT INTO templates (name, created_at, updated_at) VALUES (:n, {NOW}, {NOW})"), {"n": title})
    for tid in (1, 2):
        run(sa.text("INSERT INTO template_versions (template_id, version, subject, preheader, from_name, html_source,"
                    " text_source, compiled_html, compiled_text, created_at) VALUES (:t, 1, 's', '', '', '', '', '',"
                    f" '', {NOW})"), {"t": tid})
        run(sa.text("UPDATE templates SET current_version_id = :t WHERE id = :t"), {"t": tid})
    run(sa.text("INSERT INTO sequences (name, description, status, trigger_events, allow_reentry, exit_events,"
                " exit_stages, goal_event, exit_segment_when, created_at, updated_at) VALUES (:n, '', :s, '[]', false,"
                f" '[]', '[]', '', 'out', {NOW}, {NOW})"), {"n": name, "s": status})


def _graph(step_id: int, template_id: int) -> str:
    return json.dumps({"start": f"step-{step_id}", "nodes": [
        {"id": f"step-{step_id}", "type": "send", "template_id": template_id}], "edges": [], "layout": {}})


@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_0021_moves_running_step_tests_to_their_journey_send_node(tmp_path):
    url = _fresh_url(tmp_path)
    upgrade(url, "0020")
    engine = make_engine(url)
    with engine.begin() as conn:
        run = conn.execute
        _templates_and_sequence(run, "Welcome", "converted")
        for _ in range(2):
            run(sa.text("INSERT INTO steps (sequence_id, position, delay_minutes, template_id, window_days, deleted)"
                        " VALUES (1, 1, 0, 1, '', false)"))
        run(sa.text("INSERT INTO journeys (name, description, status, draft_graph, settings, sequence_id, created_at,"
                    f" updated_at) VALUES ('Welcome', '', 'live', :g, '{{}}', 1, {NOW}, {NOW})"), {"g": _graph(1, 1)})
        run(sa.text("INSERT INTO journey_versions (journey_id, number, graph, settings, moves, published_at,"
                    f" published_by) VALUES (1, 1, :g, '{{}}', '{{}}', {NOW}, '')"), {"g": _graph(1, 1)})
        run(sa.text("UPDATE journeys SET live_version_id = 1"))
        test_row = ("INSERT INTO ab_tests (step_id, kind, metric, goal_event, goal_days, test_portion, window_hours,"
                    " test_days, fallback, mode, status, baseline_rate, min_lift, alpha, power, planned_per_variant,"
                    " created_at, started_at, decided_by, decision, rest_planned) VALUES (:step, 'content', 'click',"
                    " '', 7, 1.0, 48, 10, 'keep_control', 'auto', :status, 0.2, 0.2, 0.05, 0.8, 500,"
                    f" {NOW}, {NOW}, '', '{{}}', 0)")
        run(sa.text(test_row), {"step": 1, "status": "testing"})
        run(sa.text(test_row), {"step": 2, "status": "decided"})
        for test_id in (1, 2):
            for position, (key, tid) in enumerate((("A", 1), ("B", 2))):
                run(sa.text("INSERT INTO ab_variants (test_id, position, key, label, subject, preheader, from_name,"
                            " template_id, send_local, template_version_id) VALUES (:t, :p, :k, '', '', '', '', :tid,"
                            " '', :tid)"), {"t": test_id, "p": position, "k": key, "tid": tid})
    engine.dispose()  # PostgreSQL: the migration's own connection must not wait on this pool
    upgrade(url, "0021")
    with engine.begin() as conn:
        tests = conn.execute(sa.text("SELECT id, journey_id, node_key, step_id FROM ab_tests ORDER BY id")).all()
        assert tests == [(1, 1, "step-1", 1), (2, None, "", 2)]  # the running one moves; the decided one stays
        shares = conn.execute(sa.text("SELECT test_id, percent FROM ab_variants ORDER BY id")).all()
        assert shares == [(1, 50), (1, 50), (2, 0), (2, 0)]
        draft = conn.scalar(sa.text("SELECT draft_graph FROM journeys"))
        live = conn.scalar(sa.text("SELECT graph FROM journey_versions"))
    for raw in (draft, live):
        graph = json.loads(raw) if isinstance(raw, str) else raw
        node = validate_graph(None, graph).nodes["step-1"]
        assert node.data["ab"] == {
            "variants": [{"template_id": 1, "percent": 50}, {"template_id": 2, "percent": 50}],
            "metric": "click", "days": 10, "per_variant": 500, "window_hours": 48, "winner": "auto"}
    # and back: the tests and their variants survive the downgrade (SQLite rebuilds ab_tests there)
    command.downgrade(alembic_config(url), "0020")
    with engine.begin() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM ab_tests")).scalar() == 2
        assert conn.execute(sa.text("SELECT count(*) FROM ab_variants")).scalar() == 4
    engine.dispose()


@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_0027_moves_the_step_tests_of_sequences_0026_converted(tmp_path):
    url = _fresh_url(tmp_path)
    upgrade(url, "0025")
    engine = make_engine(url)
    with engine.begin() as conn:
        run = conn.execute
        _templates_and_sequence(run, "Late", "active")
        run(sa.text("INSERT INTO steps (sequence_id, position, delay_minutes, template_id, window_days, deleted)"
                    " VALUES (1, 1, 0, 1, '', false)"))
        run(sa.text("INSERT INTO ab_tests (step_id, node_key, kind, metric, goal_event, goal_days, test_portion,"
                    " window_hours, test_days, fallback, mode, status, baseline_rate, min_lift, alpha, power,"
                    " planned_per_variant, created_at, started_at, decided_by, decision, rest_planned) VALUES (1, '',"
                    " 'content', 'open', '', 7, 1.0, 24, 14, 'keep_control', 'manual', 'testing', 0.2, 0.2, 0.05,"
                    f" 0.8, 300, {NOW}, {NOW}, '', '{{}}', 0)"))
        for position, (key, tid) in enumerate((("A", 1), ("B", 2))):
            run(sa.text("INSERT INTO ab_variants (test_id, position, key, label, subject, preheader, from_name,"
                        " template_id, send_local, template_version_id, percent) VALUES (1, :p, :k, '', '', '', '',"
                        " :tid, '', :tid, 0)"), {"p": position, "k": key, "tid": tid})
    engine.dispose()
    upgrade(url, "0027")
    with engine.begin() as conn:
        journey_id = conn.scalar(sa.text("SELECT id FROM journeys WHERE sequence_id = 1"))
        assert journey_id is not None  # 0026 converted the running sequence
        assert conn.execute(sa.text("SELECT journey_id, node_key FROM ab_tests")).one() == (journey_id, "step-1")
        live = conn.scalar(sa.text("SELECT j.graph FROM journey_versions j JOIN journeys ON journeys.live_version_id"
                                   " = j.id"))
    graph = json.loads(live) if isinstance(live, str) else live
    ab = validate_graph(None, graph).nodes["step-1"].data["ab"]
    assert ab["variants"] == [{"template_id": 1, "percent": 50}, {"template_id": 2, "percent": 50}]
    assert ab["winner"] == "manual" and ab["per_variant"] == 300
    engine.dispose()
