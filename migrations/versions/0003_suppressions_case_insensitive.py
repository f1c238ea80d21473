"""suppressions: keys folded to lower case (A-Z), one row per address whatever its case; contacts
whose case-variant is suppressed marked; index on the folded contact address

The suppression list compared addresses case-sensitively, so after ito@example.jp unsubscribed, a
second contact Ito@example.jp (the same mailbox at every real provider) still got mail. Contacts keep
the local part's case (two contacts), but a suppression now holds the address with A-Z folded and
stops every contact whose folded address equals it.

Existing keys are folded here; where several rows fold to one key the earliest is kept, except that
an unsubscribe, bounce or complaint outranks a manual entry (removing a manual entry on the
suppression page must not lift a recipient's opt-out): the earliest non-manual row is kept then.
Active contacts whose address is suppressed in another case get the status the application gives on
suppression (unsubscribed, bounced, complained; a manual entry leaves the status alone). The fold is
the same as campaigns.sql_functions.ascii_lower: A-Z only, as SQLite's lower() does; PostgreSQL uses
lower() under the "C" collation because its lower() otherwise follows the database's locale.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 10:00:00
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_FOLD = str.maketrans(_UPPER, _UPPER.lower())
# campaigns.contacts.SUPPRESSION_STATUS as of this revision
_STATUS = {"unsubscribed": "unsubscribed", "hard_bounce": "bounced", "bounce": "bounced", "complaint": "complained"}


def _fold_sql(column: str) -> str:
    if op.get_bind().dialect.name == "postgresql":
        return f'(lower((({column})::text COLLATE "C")) COLLATE "default")'
    return f"lower({column})"


def upgrade() -> None:
    conn = op.get_bind()
    # Folded in Python (the same A-Z fold): one pass in id order decides which row of each key stays.
    kept: dict[str, tuple[int, str]] = {}  # key -> (id, reason) of the row kept so far
    drop: list[int] = []
    for row_id, email, reason in conn.execute(sa.text("SELECT id, email, reason FROM suppressions ORDER BY id")):
        key = email.translate(_FOLD)
        if key not in kept:
            kept[key] = (row_id, reason)
        elif kept[key][1] == "manual" and reason != "manual":
            drop.append(kept[key][0])
            kept[key] = (row_id, reason)
        else:
            drop.append(row_id)
    delete = sa.text("DELETE FROM suppressions WHERE id = :id")
    for start in range(0, len(drop), 1000):
        conn.execute(delete, [{"id": i} for i in drop[start : start + 1000]])
    conn.execute(sa.text(f"UPDATE suppressions SET email = {_fold_sql('email')} WHERE email <> {_fold_sql('email')}"))

    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index("ix_contacts_email_folded", [sa.text(_fold_sql("email"))], unique=False)

    now = datetime.now(UTC)
    if conn.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # stored as naive UTC text there, like campaigns.db.UTCDateTime does
    cases = " ".join(f"WHEN '{reason}' THEN '{status}'" for reason, status in _STATUS.items())
    reasons = ", ".join(f"'{reason}'" for reason in _STATUS)
    conn.execute(sa.text(
        f"UPDATE contacts SET status = (SELECT CASE s.reason {cases} END FROM suppressions AS s "
        f"WHERE s.email = {_fold_sql('contacts.email')}), updated_at = :now "
        f"WHERE status = 'active' AND EXISTS (SELECT 1 FROM suppressions AS s "
        f"WHERE s.email = {_fold_sql('contacts.email')} AND s.reason IN ({reasons}))"
    ).bindparams(sa.bindparam("now", now, type_=sa.DateTime(timezone=True))))


def downgrade() -> None:
    # The folded keys and merged rows stay: the old case-sensitive lookups still find lower-case
    # addresses, and restoring the dropped duplicates would bring nothing back that matters.
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_contacts_email_folded")
