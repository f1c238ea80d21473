"""website visits: per-contact roll-ups by day and of all time, kept by triggers

"Visited any page at least 3 times in 30 days" counted the period's visits (1.3 s over 10,000,000 visits;
"at least twice, any time" 6.9 s). web_visit_days (contact, UTC day, visits) and web_visit_totals (contact,
visits, the times of its 8 latest visits) hold people's visits attached to a contact, kept by triggers on web_visits (statement triggers over
transition tables on PostgreSQL, row triggers on SQLite) so every writer follows: the hit writer's COPY, an
anonymous history attached at identification, deletions. Filled here from the existing visits (one grouped
pass; on a large table run it when the hit writer may wait). The SQL repeats campaigns/models/web.py (a
migration must not import the app). Figures: docs/benchmarks.md (bench/bench_visits_segment.py).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 20:30:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

RECENT_VISITS = 8
_COUNTED = "classification = 'human' AND contact_id IS NOT NULL"

# PostgreSQL: statement triggers over the transition tables, so a COPY of a thousand visits is one grouped
# upsert per roll-up, not a thousand; rows in key order, so two writers' upserts cannot deadlock. An UPDATE
# (time on page, attachment) nets the old rows against the new; a net 0 (a duration) writes nothing.
_PG_DELTA = {
    "INSERT": f"SELECT contact_id, occurred_at, 1 AS n FROM new_rows WHERE {_COUNTED}",
    "DELETE": f"SELECT contact_id, occurred_at, -1 AS n FROM old_rows WHERE {_COUNTED}",
    "UPDATE": (f"SELECT contact_id, occurred_at, 1 AS n FROM new_rows WHERE {_COUNTED} UNION ALL "
               f"SELECT contact_id, occurred_at, -1 AS n FROM old_rows WHERE {_COUNTED}"),
}


# The latest visit times of a contact `t`, read from web_visits (after a visit moved away or was deleted).
_PG_RECENT = (f"ARRAY(SELECT v.occurred_at FROM web_visits v WHERE v.contact_id = t.contact_id "
              f"AND v.classification = 'human' ORDER BY v.occurred_at DESC LIMIT {RECENT_VISITS})")
# Contacts whose counted visits an UPDATE changed (a duration update changes none: nothing is read again).
_PG_CHANGED = {
    "DELETE": f"SELECT contact_id FROM old_rows WHERE {_COUNTED}",
    "UPDATE": ("SELECT x.contact_id FROM old_rows o JOIN new_rows n ON n.id = o.id, "
               "LATERAL (VALUES (o.contact_id, o.classification), (n.contact_id, n.classification)) AS x(contact_id, c) "
               "WHERE (o.contact_id, o.classification, o.occurred_at) IS DISTINCT FROM "
               "(n.contact_id, n.classification, n.occurred_at) AND x.c = 'human' AND x.contact_id IS NOT NULL"),
}


def _pg_function(op: str) -> str:
    delta = _PG_DELTA[op]
    if op == "INSERT":  # new visits: merged into the kept latest times, no read of web_visits
        totals = f"""
  INSERT INTO web_visit_totals AS t (contact_id, visits, recent)
    SELECT contact_id, count(*), (array_agg(occurred_at ORDER BY occurred_at DESC))[1:{RECENT_VISITS}]
    FROM new_rows WHERE {_COUNTED} GROUP BY 1 ORDER BY 1
    ON CONFLICT (contact_id) DO UPDATE SET visits = t.visits + EXCLUDED.visits,
      recent = ARRAY(SELECT x FROM unnest(t.recent || EXCLUDED.recent) AS x ORDER BY x DESC LIMIT {RECENT_VISITS});"""
    else:
        totals = f"""
  INSERT INTO web_visit_totals AS t (contact_id, visits)
    SELECT contact_id, sum(n) FROM ({delta}) AS delta GROUP BY 1 HAVING sum(n) <> 0 ORDER BY 1
    ON CONFLICT (contact_id) DO UPDATE SET visits = t.visits + EXCLUDED.visits;
  UPDATE web_visit_totals AS t SET recent = {_PG_RECENT}
    WHERE t.contact_id IN ({_PG_CHANGED[op]});"""
    return f"""
CREATE OR REPLACE FUNCTION web_visits_rollup_{op.lower()}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO web_visit_days AS d (contact_id, day, visits)
    SELECT contact_id, (occurred_at AT TIME ZONE 'UTC')::date, sum(n) FROM ({delta}) AS delta
    GROUP BY 1, 2 HAVING sum(n) <> 0 ORDER BY 1, 2
    ON CONFLICT (contact_id, day) DO UPDATE SET visits = d.visits + EXCLUDED.visits;{totals}
  RETURN NULL;
END $$"""


_PG_REFERENCING = {"INSERT": "NEW TABLE AS new_rows", "DELETE": "OLD TABLE AS old_rows",
                   "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows"}

PG_ROLLUP_DDL = [
    statement for op in ("INSERT", "UPDATE", "DELETE") for statement in (
        _pg_function(op),
        f"CREATE OR REPLACE TRIGGER web_visits_rollup_{op.lower()} AFTER {op} ON web_visits "
        f"REFERENCING {_PG_REFERENCING[op]} FOR EACH STATEMENT EXECUTE FUNCTION web_visits_rollup_{op.lower()}()",
    )
]


def _sqlite_add(row: str, sign: str) -> str:
    return (f"INSERT INTO web_visit_days (contact_id, day, visits) SELECT {row}.contact_id, date({row}.occurred_at), "
            f"{sign}1 WHERE {row}.classification = 'human' AND {row}.contact_id IS NOT NULL "
            f"ON CONFLICT (contact_id, day) DO UPDATE SET visits = visits {sign} 1; "
            f"INSERT INTO web_visit_totals (contact_id, visits) SELECT {row}.contact_id, {sign}1 "
            f"WHERE {row}.classification = 'human' AND {row}.contact_id IS NOT NULL "
            f"ON CONFLICT (contact_id) DO UPDATE SET visits = visits {sign} 1; "
            # the contact's latest times read again (a row trigger: one contact, by ix_web_visits_contact_time)
            f"UPDATE web_visit_totals SET recent = (SELECT json_group_array(occurred_at) FROM (SELECT occurred_at "
            f"FROM web_visits WHERE contact_id = {row}.contact_id AND classification = 'human' "
            f"ORDER BY occurred_at DESC LIMIT {RECENT_VISITS})) WHERE contact_id = {row}.contact_id;")


# SQLite: row triggers (no statement triggers there); an UPDATE only of the columns that decide the count.
SQLITE_ROLLUP_DDL = [
    f"CREATE TRIGGER IF NOT EXISTS web_visits_rollup_insert AFTER INSERT ON web_visits BEGIN {_sqlite_add('NEW', '+')} END",
    f"CREATE TRIGGER IF NOT EXISTS web_visits_rollup_delete AFTER DELETE ON web_visits BEGIN {_sqlite_add('OLD', '-')} END",
    "CREATE TRIGGER IF NOT EXISTS web_visits_rollup_update AFTER UPDATE OF contact_id, classification, occurred_at "
    f"ON web_visits BEGIN {_sqlite_add('OLD', '-')} {_sqlite_add('NEW', '+')} END",
]



def upgrade() -> None:
    op.create_table(
        "web_visit_days",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("contact_id", "day", name=op.f("pk_web_visit_days")),
    )
    op.create_table(
        "web_visit_totals",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.Column("recent", sa.Text().with_variant(postgresql.ARRAY(sa.DateTime(timezone=True)), "postgresql"),
                  nullable=True),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_web_visit_totals")),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    day = "(occurred_at AT TIME ZONE 'UTC')::date" if postgres else "date(occurred_at)"
    # the existing visits first, then the triggers (a table lock keeps writers out in between on PostgreSQL)
    if postgres:
        op.execute("LOCK TABLE web_visits IN SHARE ROW EXCLUSIVE MODE")
    op.execute(f"INSERT INTO web_visit_days (contact_id, day, visits) SELECT contact_id, {day}, count(*) "
               f"FROM web_visits WHERE {_COUNTED} GROUP BY 1, 2")
    if postgres:
        op.execute(f"INSERT INTO web_visit_totals (contact_id, visits, recent) SELECT contact_id, count(*), "
                   f"(array_agg(occurred_at ORDER BY occurred_at DESC))[1:{RECENT_VISITS}] "
                   f"FROM web_visits WHERE {_COUNTED} GROUP BY 1")
    else:
        op.execute(f"INSERT INTO web_visit_totals (contact_id, visits) SELECT contact_id, count(*) "
                   f"FROM web_visits WHERE {_COUNTED} GROUP BY 1")
        op.execute("UPDATE web_visit_totals SET recent = (SELECT json_group_array(occurred_at) FROM (SELECT "
                   "occurred_at FROM web_visits WHERE web_visits.contact_id = web_visit_totals.contact_id AND "
                   f"classification = 'human' ORDER BY occurred_at DESC LIMIT {RECENT_VISITS}))")
    if postgres:
        op.execute("CREATE INDEX ix_web_visit_days_day ON web_visit_days (day) INCLUDE (contact_id, visits)")
        for op_name in ("INSERT", "UPDATE", "DELETE"):
            op.execute(_pg_function(op_name))
            op.execute(f"CREATE OR REPLACE TRIGGER web_visits_rollup_{op_name.lower()} AFTER {op_name} ON web_visits "
                       f"REFERENCING {_PG_REFERENCING[op_name]} FOR EACH STATEMENT "
                       f"EXECUTE FUNCTION web_visits_rollup_{op_name.lower()}()")
        return
    op.create_index("ix_web_visit_days_day", "web_visit_days", ["day"])
    op.execute(f"CREATE TRIGGER web_visits_rollup_insert AFTER INSERT ON web_visits BEGIN {_sqlite_add('NEW', '+')} END")
    op.execute(f"CREATE TRIGGER web_visits_rollup_delete AFTER DELETE ON web_visits BEGIN {_sqlite_add('OLD', '-')} END")
    op.execute("CREATE TRIGGER web_visits_rollup_update AFTER UPDATE OF contact_id, classification, occurred_at "
               f"ON web_visits BEGIN {_sqlite_add('OLD', '-')} {_sqlite_add('NEW', '+')} END")


def downgrade() -> None:
    for op_name in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS web_visits_rollup_{op_name}" +
                   (" ON web_visits" if op.get_bind().dialect.name == "postgresql" else ""))
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP FUNCTION IF EXISTS web_visits_rollup_{op_name}()")
    op.drop_index("ix_web_visit_days_day", table_name="web_visit_days")
    op.drop_table("web_visit_totals")
    op.drop_table("web_visit_days")
