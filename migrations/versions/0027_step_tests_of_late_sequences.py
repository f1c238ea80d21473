"""A/B tests of the sequences 0026 converted go on at their journeys' send nodes

Migration 0021 moved the running step tests of the sequences 0012 had converted; sequences made after 0012 and
converted by 0026 had theirs left on the step, where nothing sends any more. The same move runs again
(0021's `move_step_tests`: it skips tests already moved): the test names the journey and its `step-<id>` node,
shares are even, and the node's `ab` is written into the journey's draft and live graph.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 21:00:00
"""

import importlib.util
from pathlib import Path

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def _migration_0021():  # type: ignore[no-untyped-def]
    # Loaded from its file (migration modules are not a package), as 0026 loads 0012.
    path = Path(__file__).with_name("0021_journey_ab_tests.py")
    spec = importlib.util.spec_from_file_location("nurture_migration_0021", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    _migration_0021().move_step_tests(op.get_bind())


def downgrade() -> None:
    """Not undone: the tests stay with the journeys (0021's downgrade drops the journey columns)."""
