"""scoring triggers and forms name journeys, not only sequences

A scoring trigger's enrol/exit target and a form's "enrol on submit" list held sequence ids, so a journey
built on the canvas could not be their target. `score_triggers.journey_id` (ON DELETE SET NULL, as the
sequence id was) and `forms.journey_ids` (a JSON list, as `sequence_ids` is) name journeys; every reference
to a converted sequence (migration 0012) becomes the journey it became (`journeys.sequence_id`, the lowest
journey id when several name it, as walk_entry.journey_of_sequence picks) and leaves the sequence column.

The sequence columns stay for draft sequences (not converted yet): a trigger or form may name one, and reaches
the journey it becomes when it is activated (campaigns.automation.linear.activate_sequence; walk_entry maps the
id). After this migration a trigger has either `journey_id` or `sequence_id` (a sequence not converted).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 20:30:00
"""

import json

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _ids(value: object) -> list[int]:
    """A JSON list of ids as read back by either driver (SQLite gives text, PostgreSQL a list)."""
    if isinstance(value, str):
        value = json.loads(value or "[]")
    return [int(i) for i in value or [] if str(i).lstrip("-").isdigit()]


def upgrade() -> None:
    with op.batch_alter_table("score_triggers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("journey_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(op.f("fk_score_triggers_journey_id_journeys"), "journeys", ["journey_id"], ["id"],
                                    ondelete="SET NULL")
    with op.batch_alter_table("forms", schema=None) as batch_op:
        batch_op.add_column(sa.Column("journey_ids", JSON, nullable=False, server_default=sa.text("'[]'")))

    bind = op.get_bind()
    journey_of = {int(s): int(j) for s, j in bind.execute(sa.text(
        "SELECT sequence_id, MIN(id) FROM journeys WHERE sequence_id IS NOT NULL GROUP BY sequence_id"))}
    for trigger_id, sequence_id in bind.execute(sa.text(
            "SELECT id, sequence_id FROM score_triggers WHERE sequence_id IS NOT NULL")).all():
        if int(sequence_id) in journey_of:
            bind.execute(sa.text("UPDATE score_triggers SET journey_id = :j, sequence_id = NULL WHERE id = :id"),
                         {"j": journey_of[int(sequence_id)], "id": trigger_id})
    forms = sa.table("forms", sa.column("id", sa.Integer()), sa.column("sequence_ids", JSON),
                     sa.column("journey_ids", JSON))
    for form_id, sequence_ids in bind.execute(sa.select(forms.c.id, forms.c.sequence_ids)).all():
        ids = _ids(sequence_ids)
        journeys = list(dict.fromkeys(journey_of[i] for i in ids if i in journey_of))
        if journeys:
            bind.execute(forms.update().where(forms.c.id == form_id).values(
                sequence_ids=[i for i in ids if i not in journey_of], journey_ids=journeys))


def downgrade() -> None:
    bind = op.get_bind()
    sequence_of = {int(j): int(s) for j, s in bind.execute(sa.text(
        "SELECT id, sequence_id FROM journeys WHERE sequence_id IS NOT NULL"))}
    for trigger_id, journey_id in bind.execute(sa.text(
            "SELECT id, journey_id FROM score_triggers WHERE journey_id IS NOT NULL")).all():
        # a journey built on the canvas has no sequence: the trigger loses its target (as a deleted one would)
        bind.execute(sa.text("UPDATE score_triggers SET sequence_id = :s WHERE id = :id"),
                     {"s": sequence_of.get(int(journey_id)), "id": trigger_id})
    forms = sa.table("forms", sa.column("id", sa.Integer()), sa.column("sequence_ids", JSON),
                     sa.column("journey_ids", JSON))
    for form_id, sequence_ids, journey_ids in bind.execute(
            sa.select(forms.c.id, forms.c.sequence_ids, forms.c.journey_ids)).all():
        back = [sequence_of[j] for j in _ids(journey_ids) if j in sequence_of]
        if back:
            bind.execute(forms.update().where(forms.c.id == form_id).values(
                sequence_ids=list(dict.fromkeys(_ids(sequence_ids) + back))))
    with op.batch_alter_table("forms", schema=None) as batch_op:
        batch_op.drop_column("journey_ids")
    with op.batch_alter_table("score_triggers", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_score_triggers_journey_id_journeys"), type_="foreignkey")
        batch_op.drop_column("journey_id")
