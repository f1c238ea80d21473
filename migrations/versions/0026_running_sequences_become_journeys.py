"""sequences still running on the sequence planner become journeys (the planner is removed)

Migration 0012 turned every sequence of its day into a journey. Sequences made after it and activated before
the sequence planner was removed (issue 17: a sequence now becomes a live linear journey when it is
activated, campaigns.automation.linear.activate_sequence) still ran on the planner: the active and paused
ones, with their enrolments and mails. The same conversion runs for them alone (0012's
`convert_sequences(only_running=True)`: the same graph rule, walks with their enrolments' ids shifted past
the existing walks, the ledger re-keyed, the path log, the enrolments ended "converted to journey", the
sequences `converted`). Drafts stay drafts: they become journeys when activated. Nothing to do on a database
without such sequences.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 20:50:00
"""

import importlib.util
from pathlib import Path

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def _migration_0012():  # type: ignore[no-untyped-def]
    # Loaded from its file (migration modules are not a package); a migration may reuse a frozen migration.
    path = Path(__file__).with_name("0012_sequences_become_journeys.py")
    spec = importlib.util.spec_from_file_location("nurture_migration_0012", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    _migration_0012().convert_sequences(only_running=True)


def downgrade() -> None:
    """Not undone: the journeys they became keep running (0012's downgrade undoes every converted sequence)."""
