"""sequences become journeys: every sequence a linear journey, every enrolment a walk, the ledger re-keyed

Each sequence becomes a journey (`journeys.sequence_id` = the sequence id; name, description; status
draft / active / paused -> draft / live / paused; settings from its triggers, re-entry, goal and exits,
and the forms that enrolled into it) with a linear graph published as version 1. The graph rule is
campaigns/automation/linear.py, repeated here as plain code (a migration must not import the app's
changing modules; tests/automation/test_sequence_conversion.py checks both agree): per live step in
position order `step-<id>-delay` (a wait of its delay, if > 0), `step-<id>-window` (a wait for its send
window, if it has one), `step-<id>` (the send). A sequence without live steps becomes one `end` node.

Enrolments become walks with the same id (plus the highest walk id already there, 0 on a fresh install),
set-based, so the ledger re-keys with one UPDATE: a sequence send (enrolment, step) is the journey send
(walk, "step-<step id>", visit 1). It keeps enrollment_id and step_id, so the sequence report and the A/B
results still count it. An active enrolment continues exactly where it was: at the first node of its next
step (the first live step, in position order, it has no send for), entered when its previous step was
planned (or when it was enrolled), due at its next_due_at. A delay wait whose end is set then ends at that
moment, a window wait then finds the next opening, as the sequence planner did when the step came due.
An active enrolment with every live step sent is completed; one whose contact already stands at an exit
stage of its sequence is exited (what the planner would have done at its next due time). Finished
enrolments keep their status, reason and finish time (a goal reached becomes "converted").

The path log gets one finished row per sequence mail sent (at its send node) and one row at the walk's
current node (open for active walks; closed with the walk's status for finished walks that sent nothing).
The old enrolments end (exited, "converted to journey") and the sequences take the status "converted":
the sequence planner, event and segment triggers, forms and scoring triggers act on active sequences only,
so nothing can enrol or plan through them again; the journey engine runs them from the next tick.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 18:30:00
"""

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

CONVERTED_REASON = "converted to journey"
STATUS = {"draft": "draft", "active": "live", "paused": "paused"}


# ------------------------------------------------------------------ the graph rule (as campaigns/automation/linear.py)
def _has_window(step: dict[str, Any]) -> bool:
    return bool(step["window_days"]) or step["window_start_hour"] is not None or step["window_end_hour"] is not None


def _step_nodes(step: dict[str, Any]) -> list[dict[str, Any]]:
    sid, nodes = int(step["id"]), []
    if int(step["delay_minutes"] or 0) > 0:
        nodes.append({"id": f"step-{sid}-delay", "type": "wait", "wait": {"minutes": int(step["delay_minutes"])}})
    if _has_window(step):
        start, end = step["window_start_hour"], step["window_end_hour"]
        nodes.append({"id": f"step-{sid}-window", "type": "wait", "wait": {"window": {
            "days": "".join(sorted(step["window_days"] or "1234567")),
            "start_hour": 0 if start is None else int(start), "end_hour": 24 if end is None else int(end)}}})
    nodes.append({"id": f"step-{sid}", "type": "send", "template_id": int(step["template_id"])})
    return nodes


def _graph(steps: list[dict[str, Any]]) -> dict[str, Any]:
    nodes = [node for step in steps for node in _step_nodes(step)]
    if not nodes:
        return {"start": "end", "nodes": [{"id": "end", "type": "end"}], "edges": [], "layout": {}}
    edges = [{"from": a["id"], "exit": "next", "to": b["id"]} for a, b in zip(nodes, nodes[1:], strict=False)]
    return {"start": nodes[0]["id"], "nodes": nodes, "edges": edges, "layout": {}}


def _settings(seq: dict[str, Any], form_ids: list[int]) -> dict[str, Any]:
    entry: list[dict[str, Any]] = [{"kind": "event", "name": n} for n in _list(seq["trigger_events"])]
    if seq["trigger_segment_id"]:
        entry.append({"kind": "segment", "segment_id": int(seq["trigger_segment_id"])})
    entry.extend({"kind": "form", "form_id": int(f)} for f in sorted(set(form_ids)))
    return {
        "entry": entry, "reentry": bool(seq["allow_reentry"]),
        "goal": {"kind": "event", "name": seq["goal_event"]} if seq["goal_event"] else None,
        "exit": {"events": _list(seq["exit_events"]), "stages": _list(seq["exit_stages"]),
                 "segment_id": int(seq["exit_segment_id"]) if seq["exit_segment_id"] else None,
                 "segment_when": "in" if seq["exit_segment_when"] == "in" else "out"},
        "max_visits": 3,
    }


def _list(value: Any) -> list[Any]:
    if isinstance(value, str):
        value = json.loads(value or "[]")
    return list(value or [])


# ------------------------------------------------------------------ upgrade
def upgrade() -> None:
    convert_sequences()


def convert_sequences(only_running: bool = False) -> None:
    """The conversion above, for every sequence (0012), or with `only_running` for the sequences still
    active or paused on the sequence planner (migration 0026, when the planner was removed: sequences
    made after 0012 and activated before then); their enrolments, mails and path log only."""
    conn = op.get_bind()
    pg = conn.dialect.name == "postgresql"
    now = datetime.now(UTC)
    when = sa.DateTime(timezone=True)
    bind_now = now if pg else now.replace(tzinfo=None)
    js = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

    def as_json(expr: str) -> str:
        return f"CAST({expr} AS jsonb)" if pg else expr

    offset = int(conn.scalar(sa.text("SELECT max(id) FROM journey_enrolments")) or 0)
    forms: dict[int, list[int]] = {}
    for form_id, raw in conn.execute(sa.text("SELECT id, sequence_ids FROM forms")):
        for sequence_id in _list(raw):
            forms.setdefault(int(sequence_id), []).append(int(form_id))

    op.create_table("conv_sequences",
                    sa.Column("sequence_id", sa.Integer, primary_key=True), sa.Column("journey_id", sa.Integer),
                    sa.Column("version_id", sa.Integer), sa.Column("first_node", sa.String(40)))
    op.create_table("conv_steps",
                    sa.Column("step_id", sa.Integer, primary_key=True), sa.Column("sequence_id", sa.Integer),
                    sa.Column("position", sa.Integer), sa.Column("entry_node", sa.String(40)))
    op.create_index("ix_conv_steps_sequence", "conv_steps", ["sequence_id", "position", "step_id"])

    journeys = sa.table("journeys", sa.column("id", sa.Integer), sa.column("name"), sa.column("description"),
                        sa.column("status"), sa.column("draft_graph", js), sa.column("live_version_id", sa.Integer),
                        sa.column("settings", js), sa.column("sequence_id", sa.Integer),
                        sa.column("created_at", when), sa.column("updated_at", when))
    versions = sa.table("journey_versions", sa.column("id", sa.Integer), sa.column("journey_id", sa.Integer),
                        sa.column("number", sa.Integer), sa.column("graph", js), sa.column("settings", js),
                        sa.column("moves", js), sa.column("published_at", when), sa.column("published_by"))
    sequences = conn.execute(sa.text(
        "SELECT id, name, description, status, trigger_events, allow_reentry, exit_events, exit_stages, goal_event,"
        " trigger_segment_id, exit_segment_id, exit_segment_when FROM sequences"
        + (" WHERE status IN ('active', 'paused')" if only_running else "") + " ORDER BY id")).mappings().all()
    stage_exits: dict[int, list[str]] = {}
    for seq in sequences:
        steps = [dict(r) for r in conn.execute(sa.text(
            "SELECT id, position, delay_minutes, template_id, window_days, window_start_hour, window_end_hour"
            " FROM steps WHERE sequence_id = :s AND deleted = :no ORDER BY position, id"),
            {"s": seq["id"], "no": False}).mappings()]
        graph, settings = _graph(steps), _settings(dict(seq), forms.get(int(seq["id"]), []))
        journey_id = conn.execute(sa.insert(journeys).values(
            name=seq["name"][:200], description=seq["description"] or "",
            status=STATUS.get(str(seq["status"]), "paused"), draft_graph=graph, settings=settings,
            sequence_id=seq["id"], created_at=now, updated_at=now).returning(journeys.c.id)).scalar_one()
        version_id = conn.execute(sa.insert(versions).values(
            journey_id=journey_id, number=1, graph=graph, settings=settings, moves={}, published_at=now,
            published_by=f"migration 0012 (sequence {seq['id']})").returning(versions.c.id)).scalar_one()
        conn.execute(sa.update(journeys).where(journeys.c.id == journey_id).values(live_version_id=version_id))
        conn.execute(sa.text("INSERT INTO conv_sequences (sequence_id, journey_id, version_id, first_node)"
                             " VALUES (:s, :j, :v, :n)"), {"s": seq["id"], "j": journey_id, "v": version_id,
                                                           "n": graph["start"]})
        if steps:
            conn.execute(sa.text("INSERT INTO conv_steps (step_id, sequence_id, position, entry_node)"
                                 " VALUES (:id, :s, :p, :n)"),
                         [{"id": st["id"], "s": seq["id"], "p": st["position"], "n": _step_nodes(st)[0]["id"]}
                          for st in steps])
        if _list(seq["exit_stages"]):
            stage_exits[int(seq["id"])] = _list(seq["exit_stages"])

    # Enrolments -> walks, one INSERT .. SELECT. `next_node`: the first node of the first live step (in
    # position order) this enrolment has no send for; NULL when every live step was sent.
    params = {"off": offset, "now": bind_now}
    visits = as_json("'{\"' || x.node || '\": 1}'")
    empty = as_json("'{}'")
    conn.execute(sa.text(f"""
        INSERT INTO journey_enrolments (id, journey_id, contact_id, cycle, version_id, status, node_key,
            node_entered_at, due_at, visit, visits, waiting, last_send_id, source, context, test, exit_reason,
            enrolled_at, finished_at)
        SELECT x.id + :off, cs.journey_id, x.contact_id, x.cycle, cs.version_id,
            CASE WHEN x.status = 'active' AND x.next_node IS NOT NULL THEN 'active'
                 WHEN x.status = 'active' THEN 'completed'
                 WHEN x.status = 'completed' AND x.exit_reason LIKE 'goal:%' THEN 'converted'
                 ELSE x.status END,
            x.node,
            COALESCE(x.last_planned_at, x.enrolled_at),
            CASE WHEN x.status = 'active' AND x.next_node IS NOT NULL THEN COALESCE(x.next_due_at, :now) END,
            1, {visits}, false, x.last_send_id, x.source_event,
            {empty}, false,
            CASE WHEN x.status = 'active' THEN '' ELSE x.exit_reason END,
            x.enrolled_at,
            CASE WHEN x.status = 'active' AND x.next_node IS NOT NULL THEN NULL
                 ELSE COALESCE(x.finished_at, :now) END
        FROM (
            SELECT e.*, n.next_node,
                COALESCE(CASE WHEN e.status = 'active' THEN n.next_node END,
                         CASE WHEN e.last_step_id IS NOT NULL THEN 'step-' || e.last_step_id END,
                         c.first_node) AS node,
                (SELECT max(s.id) FROM sends s WHERE s.enrollment_id = e.id) AS last_send_id
            FROM enrollments e
            JOIN conv_sequences c ON c.sequence_id = e.sequence_id
            JOIN (SELECT e2.id AS enrollment_id,
                      (SELECT st.entry_node FROM conv_steps st
                       WHERE st.sequence_id = e2.sequence_id
                         AND NOT EXISTS (SELECT 1 FROM sends s2 WHERE s2.enrollment_id = e2.id
                                         AND s2.step_id = st.step_id)
                       ORDER BY st.position, st.step_id LIMIT 1) AS next_node
                  FROM enrollments e2) n ON n.enrollment_id = e.id
        ) x
        JOIN conv_sequences cs ON cs.sequence_id = x.sequence_id
    """).bindparams(sa.bindparam("now", type_=when)), params)

    # Contacts already at an exit stage of their sequence: exited, as the planner would have at their next due.
    for sequence_id, stages in stage_exits.items():
        conn.execute(sa.text(
            "UPDATE journey_enrolments SET status = 'exited', due_at = NULL, finished_at = :now,"
            " exit_reason = 'stage: ' || (SELECT c.stage FROM contacts c WHERE c.id = journey_enrolments.contact_id)"
            " WHERE status = 'active' AND journey_id = (SELECT journey_id FROM conv_sequences WHERE sequence_id = :s)"
            " AND contact_id IN (SELECT id FROM contacts WHERE stage IN :stages)"
        ).bindparams(sa.bindparam("now", type_=when), sa.bindparam("stages", expanding=True)),
            {"now": bind_now, "s": sequence_id, "stages": stages})

    # The ledger: a sequence send is its walk's send at the step's node, visit 1 (one UPDATE).
    mine = (" AND enrollment_id IN (SELECT e.id FROM enrollments e JOIN conv_sequences c"
            " ON c.sequence_id = e.sequence_id)") if only_running else ""
    conn.execute(sa.text("UPDATE sends SET journey_enrolment_id = enrollment_id + :off,"
                         " node_key = 'step-' || step_id, visit = 1 WHERE enrollment_id IS NOT NULL" + mine),
                 {"off": offset})

    # The path log: each mail sent, then the node each walk stands at.
    conn.execute(sa.text(
        "INSERT INTO journey_steps (journey_id, enrolment_id, version_id, node_key, visit, entered_at, left_at, exit,"
        " detail) SELECT w.journey_id, w.id, w.version_id, s.node_key, 1, s.created_at, s.created_at, 'next',"
        " 'sequence step (converted)' FROM sends s JOIN journey_enrolments w ON w.id = s.journey_enrolment_id"
        " WHERE s.enrollment_id IS NOT NULL" + mine.replace("enrollment_id IN", "s.enrollment_id IN")
        + " ORDER BY s.id"))
    conn.execute(sa.text(
        "INSERT INTO journey_steps (journey_id, enrolment_id, version_id, node_key, visit, entered_at, left_at, exit,"
        " detail) SELECT w.journey_id, w.id, w.version_id, w.node_key, 1, w.node_entered_at,"
        " CASE WHEN w.status = 'active' THEN NULL ELSE w.finished_at END,"
        " CASE WHEN w.status = 'active' THEN '' ELSE w.status END, 'converted from sequence'"
        " FROM journey_enrolments w JOIN conv_sequences c ON c.journey_id = w.journey_id"
        " WHERE w.status = 'active' OR w.last_send_id IS NULL ORDER BY w.id"))

    # The old side ends: nothing can plan or enrol through it again.
    conn.execute(sa.text(
        "UPDATE enrollments SET status = 'exited', exit_reason = :reason, finished_at = :now, next_due_at = NULL"
        " WHERE status = 'active'" + (" AND sequence_id IN (SELECT sequence_id FROM conv_sequences)"
                                      if only_running else "")).bindparams(sa.bindparam("now", type_=when)),
        {"reason": CONVERTED_REASON, "now": bind_now})
    conn.execute(sa.text("UPDATE sequences SET status = 'converted'"
                         + (" WHERE id IN (SELECT sequence_id FROM conv_sequences)" if only_running else "")))
    if pg:  # ids were written explicitly: the id sequence continues after them
        conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('journey_enrolments', 'id'),"
                             " COALESCE((SELECT max(id) FROM journey_enrolments), 0) + 1, false)"))
    op.drop_index("ix_conv_steps_sequence", table_name="conv_steps")
    op.drop_table("conv_steps")
    op.drop_table("conv_sequences")


def downgrade() -> None:
    """Back to sequences: enrolments ended by the conversion take their walk's state (an active walk's due time
    becomes next_due_at, its next step is found from the ledger again by the planner), the sequences their
    journey's status; the ledger loses its journey keys and the converted journeys go (with their walks and
    path log). Mails the engine sent after the conversion stay in the ledger without their journey key."""
    conn = op.get_bind()
    walk = ("SELECT {col} FROM journey_enrolments w JOIN journeys j ON j.id = w.journey_id"
            " WHERE j.sequence_id = enrollments.sequence_id AND w.contact_id = enrollments.contact_id"
            " AND w.cycle = enrollments.cycle")
    conn.execute(sa.text(
        f"UPDATE enrollments SET next_due_at = ({walk.format(col='w.due_at')}),"
        f" status = CASE WHEN ({walk.format(col='w.status')}) = 'active' THEN 'active' ELSE 'exited' END,"
        " finished_at = CASE WHEN ({w}) = 'active' THEN NULL ELSE finished_at END,"
        " exit_reason = CASE WHEN ({w}) = 'active' THEN '' ELSE exit_reason END"
        " WHERE exit_reason = :reason".replace("{w}", walk.format(col="w.status"))), {"reason": CONVERTED_REASON})
    conn.execute(sa.text(
        "UPDATE sequences SET status = COALESCE((SELECT CASE j.status WHEN 'live' THEN 'active' WHEN 'draft'"
        " THEN 'draft' ELSE 'paused' END FROM journeys j WHERE j.sequence_id = sequences.id), 'paused')"
        " WHERE status = 'converted'"))
    converted = "SELECT w.id FROM journey_enrolments w JOIN journeys j ON j.id = w.journey_id WHERE j.sequence_id IS NOT NULL"
    conn.execute(sa.text(f"UPDATE sends SET journey_enrolment_id = NULL, node_key = NULL, visit = NULL"
                         f" WHERE journey_enrolment_id IN ({converted}) AND enrollment_id IS NOT NULL"))
    # journey mails sent after the conversion: kept, detached from the walks that go
    conn.execute(sa.text(f"UPDATE sends SET journey_enrolment_id = NULL WHERE journey_enrolment_id IN ({converted})"))
    conn.execute(sa.text(f"DELETE FROM journey_steps WHERE enrolment_id IN ({converted})"))
    conn.execute(sa.text("DELETE FROM journey_enrolments WHERE journey_id IN"
                         " (SELECT id FROM journeys WHERE sequence_id IS NOT NULL)"))
    conn.execute(sa.text("DELETE FROM journey_versions WHERE journey_id IN"
                         " (SELECT id FROM journeys WHERE sequence_id IS NOT NULL)"))
    conn.execute(sa.text("DELETE FROM journeys WHERE sequence_id IS NOT NULL"))
