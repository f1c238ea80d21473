"""templates.ab_test_id: the copies an A/B test makes for its variants are marked, so the template lists
and pickers (broadcasts, sequences, A/B content tests) no longer offer "Welcome · A/B #3 B"

Existing copies are found as the variant templates of subject, preheader and sender-name tests that
bear the name the test gave them ("<base> · A/B #<test> <key>"); a content test's variants are the
marketer's own templates and stay listed.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 01:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("templates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ab_test_id", sa.Integer(), nullable=True))
    op.get_bind().execute(sa.text(
        "UPDATE templates SET ab_test_id = ("
        "  SELECT v.test_id FROM ab_variants v JOIN ab_tests t ON t.id = v.test_id"
        "  WHERE v.template_id = templates.id AND t.kind <> 'content' ORDER BY v.test_id LIMIT 1) "
        "WHERE name LIKE '% · A/B #%' AND EXISTS ("
        "  SELECT 1 FROM ab_variants v JOIN ab_tests t ON t.id = v.test_id"
        "  WHERE v.template_id = templates.id AND t.kind <> 'content')"
    ))


def downgrade() -> None:
    with op.batch_alter_table("templates", schema=None) as batch_op:
        batch_op.drop_column("ab_test_id")
