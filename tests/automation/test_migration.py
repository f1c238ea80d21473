"""Migration 0006 on its own: the journey tables and the ledger's (walk, node, visit) key, on a database at
0005 (tests/platform/test_migrations.py checks the whole chain against the models)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command

from campaigns.db import make_engine
from campaigns.migrate import alembic_config, upgrade
from tests.platform.test_migrations import _fresh_url


@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_0006_adds_the_journey_tables_and_a_ledger_that_refuses_a_second_send_per_visit(tmp_path):
    url = _fresh_url(tmp_path)
    upgrade(url, "0005")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO contacts (email, first_name, last_name, company, job_title, source, "
                             "attributes, status, stage, score, consent_method, consent_source, consent_text, "
                             "created_at, updated_at) VALUES ('a@example.jp', '', '', '', '', '', '{}', 'active', "
                             "'cold', 0, '', '', '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        conn.execute(sa.text("INSERT INTO templates (name, created_at, updated_at) VALUES ('T', CURRENT_TIMESTAMP, "
                             "CURRENT_TIMESTAMP)"))
        conn.execute(sa.text("INSERT INTO template_versions (template_id, version, subject, preheader, from_name, "
                             "html_source, text_source, compiled_html, compiled_text, created_at) VALUES "
                             "(1, 1, 's', '', '', '', '', '', '', CURRENT_TIMESTAMP)"))
        conn.execute(sa.text("INSERT INTO sends (contact_id, template_version_id, variant, status, attempts, "
                             "possible_duplicate, error, created_at) VALUES (1, 1, '', 'sent', 1, false, '', "
                             "CURRENT_TIMESTAMP)"))
    upgrade(url, "0006")
    tables = set(sa.inspect(engine).get_table_names())
    assert {"journeys", "journey_versions", "journey_enrolments", "journey_steps", "journey_cursors"} <= tables
    with engine.begin() as conn:
        # the send written before 0006 keeps NULL journey columns, outside the partial unique index
        assert conn.execute(sa.text("SELECT journey_enrolment_id, node_key, visit FROM sends")).one() == (
            None, None, None)
        conn.execute(sa.text("INSERT INTO journeys (name, description, status, draft_graph, settings, created_at, "
                             "updated_at) VALUES ('J', '', 'live', '{}', '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        conn.execute(sa.text("INSERT INTO journey_enrolments (journey_id, contact_id, cycle, version_id, status, "
                             "node_key, node_entered_at, visit, visits, waiting, source, context, test, exit_reason, "
                             "enrolled_at) VALUES (1, 1, 1, 1, 'active', 'n1', CURRENT_TIMESTAMP, 1, '{}', false, "
                             "'', '{}', false, '', CURRENT_TIMESTAMP)"))
    ledger = ("INSERT INTO sends (contact_id, template_version_id, variant, status, attempts, possible_duplicate, "
              "error, created_at, journey_enrolment_id, node_key, visit) VALUES (1, 1, '', 'queued', 0, false, '', "
              "CURRENT_TIMESTAMP, 1, 'n1', :visit)")
    with engine.begin() as conn:
        conn.execute(sa.text(ledger), {"visit": 1})
        conn.execute(sa.text(ledger), {"visit": 2})  # a second visit of a loop may send again
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.text(ledger), {"visit": 1})
    with engine.begin() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM sends")).scalar() == 3
    # and back: 0006's downgrade removes what it added, the old send survives
    command.downgrade(alembic_config(url), "0005")
    assert "journeys" not in set(sa.inspect(engine).get_table_names())
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM sends WHERE id > 1"))
        assert conn.execute(sa.text("SELECT count(*) FROM sends")).scalar() == 1
    engine.dispose()
