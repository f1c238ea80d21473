"""Scoring triggers and forms name journeys (migration 0022): a journey built on the canvas is a trigger's or a
form's target; a contact reaching MQL, or a (confirmed) form submission, starts one walk there through
journeys.walk_entry.enrol_live, which the real engine, run by the scheduler tick, mails exactly once through the
SMTP sink; never two walks when the journey also has the form as its entry; a paused journey takes nobody. The
migration maps the sequence ids that triggers and forms held to the journeys those sequences became. The trigger
editor and the form builder list journeys (English and Japanese); the API takes journey ids (and the deprecated
sequence id) and answers 422 with a reason for an unknown one. SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import select

from campaigns import scheduler
from campaigns.automation import service as journeys
from campaigns.db import make_engine, now_utc
from campaigns.journeys import walk_entry
from campaigns.leads import forms
from campaigns.migrate import alembic_config
from campaigns.models import Contact, Form, FormSubmission, Journey, JourneyEnrolment, ScoreTrigger
from campaigns.scoring import triggers
from tests.api.test_api import Api
from tests.conftest import run_jobs
from tests.factories import make_contact
from tests.platform.test_migrations import _fresh_url
from tests.sending_helpers import make_version, setup_account

CONSENT = "メール受信に同意します。配信はいつでも停止できます。"
FIELDS = {"last_name": "山田", "first_name": "太郎", "company": "サンプル株式会社", "consent": "1"}


def _canvas_journey(s: Any, name: str = "展示会フォロー", entry: list[dict[str, Any]] | None = None,
                    publish: bool = True) -> int:
    """A journey made as the canvas makes one (no sequence behind it): one send node; its id."""
    setup_account(s)
    template_id = make_version(s, subject=f"{name}: ご挨拶", name=f"{name}-mail").template_id
    graph = {"start": "hello", "nodes": [{"id": "hello", "type": "send", "template_id": template_id}],
             "edges": [], "layout": {}}
    journey = journeys.create_journey(s, name, graph=graph, settings={"entry": entry or [], "reentry": False})
    if publish:
        journeys.publish(s, journey)
    s.flush()
    return journey.id


def _run_engine(app: Any) -> None:
    svc = app.extensions["nurture"]
    for minutes in (1, 3):
        scheduler.tick(svc, now=now_utc() + timedelta(minutes=minutes), lock=False)
        run_jobs(app)


def _mails(smtp_server: Any) -> list[tuple[str, str]]:
    return sorted((str(m.message["To"]).split("<")[-1].rstrip(">"), str(m.message["Subject"]))
                  for m in smtp_server.messages)


def _walks(s: Any, journey_id: int) -> list[tuple[str, str]]:
    return sorted((s.get(Contact, w.contact_id).email, w.source) for w in s.scalars(
        select(JourneyEnrolment).where(JourneyEnrolment.journey_id == journey_id)))


def test_a_contact_reaching_mql_starts_a_walk_of_a_canvas_journey(app, services, smtp_server) -> None:
    with services.db.begin() as s:
        journey_id = _canvas_journey(s)
        trigger = triggers.create_trigger(s, {"name": "MQL → 展示会フォロー", "when": "stage", "stage": "mql",
                                              "action": "enroll", "target": f"journey:{journey_id}", "active": True})
        trigger_id = trigger.id
        assert (trigger.journey_id, trigger.sequence_id) == (journey_id, None)
        ann = make_contact(s, "ann@example.jp", first_name="Ann")
        make_contact(s, "ben@example.jp", first_name="Ben")  # never an MQL
        triggers.set_stage(s, ann, "mql", "sales")
        assert _walks(s, journey_id) == [("ann@example.jp", f"trigger:{trigger_id}")]
    _run_engine(app)
    assert _mails(smtp_server) == [("ann@example.jp", "展示会フォロー: ご挨拶")]
    with services.db.begin() as s:  # a paused journey takes nobody; the trigger keeps its target
        journeys.pause(s, s.get(Journey, journey_id))
        cho = make_contact(s, "cho@example.jp", first_name="Cho")
        triggers.set_stage(s, cho, "mql", "sales")
        assert [email for email, _source in _walks(s, journey_id)] == ["ann@example.jp"]
    with services.db.begin() as s:  # an exit trigger on the journey ends the walk
        journeys.resume(s, s.get(Journey, journey_id))
        triggers.create_trigger(s, {"name": "SQL stops", "when": "stage", "stage": "sql", "action": "exit",
                                    "journey_id": journey_id})
        dan = make_contact(s, "dan@example.jp", first_name="Dan")
        triggers.set_stage(s, dan, "mql", "sales")
        triggers.set_stage(s, dan, "sql", "sales")
        walk = s.scalar(select(JourneyEnrolment).where(JourneyEnrolment.contact_id == dan.id))
        assert (walk.status, walk.exit_reason) == ("exited", "trigger: SQL stops")
    _run_engine(app)
    assert _mails(smtp_server) == [("ann@example.jp", "展示会フォロー: ご挨拶")]


def test_a_confirmed_submission_starts_one_walk_even_when_the_journey_has_the_form_as_entry(
        app, services, smtp_server, client) -> None:
    with services.db.begin() as s:
        form = forms.create_form(s, forms.FormInput(name="資料請求", slug="docs", consent_text=CONSENT,
                                                    double_opt_in=True))
        form_id = form.id
        plain = _canvas_journey(s, "資料フォロー")
        both = _canvas_journey(s, "二重入口", entry=[{"kind": "form", "form_id": form_id}])
        form.journey_ids = [plain, both]
        assert walk_entry.enters_on_form(s, s.get(Journey, both), form_id)
    _run_engine(app)  # the engine's first pass starts its cursors at the present
    assert client.post("/f/docs", data={**FIELDS, "email": "eri@example.jp"}).status_code in (200, 302, 303)
    with services.db.begin() as s:  # double opt-in: nothing starts before the confirmation
        assert _walks(s, plain) == [] and _walks(s, both) == []
        submission = s.scalar(select(FormSubmission).where(FormSubmission.form_id == form_id))
        assert forms.confirm_submission(s, submission)
        assert _walks(s, plain) == [("eri@example.jp", f"form:{form_id}")]
        assert _walks(s, both) == []  # left to the journey's own form entry
    _run_engine(app)
    with services.db.begin() as s:
        assert len(_walks(s, plain)) == 1 and [e for e, _src in _walks(s, both)] == ["eri@example.jp"]
    assert _mails(smtp_server) == [("eri@example.jp", "二重入口: ご挨拶"), ("eri@example.jp", "資料フォロー: ご挨拶")]


def test_a_form_into_a_draft_journey_starts_nothing_and_the_builder_says_so(app, services, ui) -> None:
    with services.db.begin() as s:
        draft = _canvas_journey(s, "準備中のシナリオ", publish=False)
        live = _canvas_journey(s, "Trade show follow-up")
        form = forms.create_form(s, forms.FormInput(name="Seminar", slug="seminar", consent_text=CONSENT,
                                                    journey_ids=[draft, live]))
        form_id = form.id
    for language, words in (("en", ("Start these journeys", "nobody starts until it is published or resumed")),
                            ("ja", ("開始するシナリオ", "公開または再開するまで誰も開始しません"))):
        page = ui.get(f"/forms/{form_id}/edit", headers={"Accept-Language": language}).get_data(as_text=True)
        assert "準備中のシナリオ" in page and "Trade show follow-up" in page
        for word in words:
            assert word in page, (language, word)
        assert len(re.findall(r'name="targets" value="journey:\d+" checked', page)) == 2
    show = ui.get(f"/forms/{form_id}", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "準備中のシナリオ" in show and "未公開：誰も開始しません" in show
    # saving from the builder: one journey unticked
    data = {"name": "Seminar", "slug": "seminar", "consent_text": CONSENT, "status": "active",
            "fields-0-key": "email", "fields-0-label": "Email", "fields-0-required": "1",
            "targets": [f"journey:{live}"]}
    assert ui.post(f"/forms/{form_id}/edit", data, page=f"/forms/{form_id}/edit").status_code == 302
    with services.db.begin() as s:
        assert s.get(Form, form_id).journey_ids == [live]
        contact = make_contact(s, "fumi@example.jp")
        sub = FormSubmission(form_id=form_id, contact_id=contact.id, email=contact.email, consent_text=CONSENT)
        s.add(sub)
        s.flush()
        forms._start(s, s.get(Form, form_id), contact, sub, now_utc())  # noqa: SLF001 (the submit's consequences)
        assert _walks(s, draft) == [] and len(_walks(s, live)) == 1


def test_the_trigger_editor_offers_journeys_live_first(app, services, ui) -> None:
    with services.db.begin() as s:
        paused = _canvas_journey(s, "Old nurture")
        journeys.pause(s, s.get(Journey, paused))
        live = _canvas_journey(s, "展示会フォロー")
    for language, group in (("en", "Live: contacts start at once"), ("ja", "公開中：すぐに開始します")):
        page = ui.get("/scoring/triggers/new", headers={"Accept-Language": language}).get_data(as_text=True)
        assert group in page
        assert page.index(f'value="journey:{live}"') < page.index(f'value="journey:{paused}"')
    resp = ui.post("/scoring/triggers/new", {"name": "MQL", "when": "stage", "stage": "mql", "action": "enroll",
                                             "target": f"journey:{live}", "active": "1"}, page="/scoring/triggers/new")
    assert resp.status_code == 302
    with services.db.begin() as s:
        assert s.scalar(select(ScoreTrigger.journey_id)) == live
    listing = ui.get("/scoring/triggers", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "展示会フォロー" in listing and "シナリオを開始" in listing
    bad = ui.post("/scoring/triggers/new", {"name": "x", "when": "stage", "stage": "mql", "action": "enroll",
                                            "target": "journey:999999"}, page="/scoring/triggers/new",
                  headers={"Accept-Language": "ja"})
    assert bad.status_code == 422 and "選んだシナリオまたはステップメールは存在しません" in bad.get_data(as_text=True)


def test_the_api_takes_journey_ids_and_the_deprecated_sequence_id(app, services, client, api_key) -> None:
    from tests.automation.test_enrol_converted import _converted

    api = Api(client, api_key)
    with services.db.begin() as s:
        canvas = _canvas_journey(s)
        sequence_id, converted = _converted(s)
    body = {"name": "MQL", "when": "stage", "stage": "mql", "action": "enroll", "journey_id": canvas}
    created = api.post("/scoring/triggers", json=body)
    assert created.status_code == 201
    trigger = created.get_json()
    assert (trigger["journey_id"], trigger["journey_name"], trigger["journey_status"]) == (canvas, "展示会フォロー", "live")
    moved = api.put(f"/scoring/triggers/{trigger['id']}", json={"sequence_id": sequence_id})
    assert (moved.get_json()["journey_id"], moved.get_json()["sequence_id"]) == (converted, None)
    for wrong in ({"journey_id": 999999}, {"sequence_id": 999999}, {"journey_id": None}):
        resp = api.put(f"/scoring/triggers/{trigger['id']}", json=wrong)
        assert resp.status_code == 422 and resp.get_json()["message"], wrong
    assert api.get(f"/scoring/triggers/{trigger['id']}").get_json()["journey_id"] == converted
    assert [t["id"] for t in api.get("/scoring/triggers").get_json()["data"]] == [trigger["id"]]
    form = api.post("/forms", json={"name": "Seminar", "consent_text": CONSENT, "journey_ids": [canvas],
                                    "sequence_ids": [sequence_id]})
    assert form.status_code == 201
    assert (form.get_json()["journey_ids"], form.get_json()["sequence_ids"]) == ([canvas, converted], [])
    bad = api.put(f"/forms/{form.get_json()['id']}", json={"journey_ids": [999999]})
    assert bad.status_code == 422 and "journey_ids" in bad.get_json()["details"]
    assert api.put(f"/forms/{form.get_json()['id']}", json={"journey_ids": [converted]}).get_json()["journey_ids"] == [
        converted]
    assert api.get(f"/forms/{form.get_json()['id']}").get_json()["journey_ids"] == [converted]
    typo = api.post("/scoring/triggers", json={**body, "journey_id": "x"})  # not an id: the schema's 422
    assert typo.status_code == 422 and "journey_id" in str(typo.get_json()["details"])


@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_migration_0022_maps_sequence_ids_to_their_journeys(tmp_path) -> None:
    url = _fresh_url(tmp_path)
    cfg = alembic_config(url)
    command.upgrade(cfg, "0021")
    engine = make_engine(url)
    now = now_utc()
    with engine.begin() as conn:
        def insert(table_name: str, /, **values: Any) -> int:  # into the table as it is at 0021 (reflected)
            table = sa.Table(table_name, sa.MetaData(), autoload_with=conn)
            return conn.execute(table.insert().values(**values).returning(table.c.id)).scalar_one()

        seq = {"description": "", "public_name": "", "trigger_events": [], "exit_events": [], "exit_stages": [],
               "allow_reentry": False, "goal_event": "", "exit_segment_when": "in", "created_at": now, "updated_at": now}
        converted = insert("sequences", name="Converted", status="converted", **seq)
        plain = insert("sequences", name="Still a sequence", status="active", **seq)
        journey = insert("journeys", name="Converted journey", description="", status="live", draft_graph={},
                         settings={}, sequence_id=converted, created_at=now, updated_at=now, public_name="",
                         webhook_secret="")
        trig = {"when": "stage", "stage": "mql", "score_at": 0, "action": "enroll", "email_to": "", "webhook_url": "",
                "webhook_secret": "", "active": True, "created_at": now}
        t_converted = insert("score_triggers", name="a", sequence_id=converted, **trig)
        t_plain = insert("score_triggers", name="b", sequence_id=plain, **trig)
        form = {"title": "", "description": "", "fields": [], "submit_label": "", "consent_text": "ok",
                "double_opt_in": False, "confirmation_subject": "", "confirmation_html": "", "source": "",
                "thank_you_message": "", "redirect_url": "", "status": "active", "created_at": now,
                "updated_at": now}
        f_both = insert("forms", name="both", slug="both", sequence_ids=[converted, plain], **form)
        f_none = insert("forms", name="none", slug="none", sequence_ids=[], **form)
    command.upgrade(cfg, "0022")
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.text("SELECT id, journey_id FROM score_triggers")).all())
        seqs = dict(conn.execute(sa.text("SELECT id, sequence_id FROM score_triggers")).all())
        assert (rows[t_converted], seqs[t_converted]) == (journey, None)
        assert (rows[t_plain], seqs[t_plain]) == (None, plain)
        forms_table = sa.table("forms", sa.column("id"), sa.column("journey_ids", sa.JSON),
                               sa.column("sequence_ids", sa.JSON))
        got = {i: (j, q) for i, j, q in conn.execute(sa.select(forms_table.c.id, forms_table.c.journey_ids,
                                                                forms_table.c.sequence_ids))}
        assert got[f_both] == ([journey], [plain]) and got[f_none] == ([], [])
    command.downgrade(cfg, "0021")
    with engine.connect() as conn:
        assert dict(conn.execute(sa.text("SELECT id, sequence_id FROM score_triggers")).all()) == {
            t_converted: converted, t_plain: plain}
    engine.dispose()


def test_a_draft_sequence_target_activated_later_is_shown_and_used_as_its_journey(app, services, ui) -> None:
    """Activating a sequence makes it a journey (automation.linear.activate_sequence): a trigger and a form that
    named the draft reach that journey, and the editors show it ticked, so a save keeps it."""
    from campaigns.automation import linear
    from campaigns.journeys import sequences as seq

    with services.db.begin() as s:
        setup_account(s)
        template_id = make_version(s, subject="Welcome", name="welcome-mail").template_id
        sequence = seq.create_sequence(s, "Welcome series", steps=[{"template_id": template_id, "delay_minutes": 0}])
        trigger = triggers.create_trigger(s, {"name": "MQL", "when": "stage", "stage": "mql", "action": "enroll",
                                              "target": f"sequence:{sequence.id}"})
        form = forms.create_form(s, forms.FormInput(name="Seminar", slug="seminar", consent_text=CONSENT,
                                                    sequence_ids=[sequence.id]))
        assert (trigger.journey_id, trigger.sequence_id, form.journey_ids) == (None, sequence.id, [])
        journey_id = linear.activate_sequence(s, sequence).id
        trigger_id, form_id = trigger.id, form.id
    page = ui.get(f"/scoring/triggers/{trigger_id}").get_data(as_text=True)
    assert f'<option value="journey:{journey_id}" selected>' in page
    assert f'value="journey:{journey_id}" checked' in ui.get(f"/forms/{form_id}/edit").get_data(as_text=True)
    with services.db.begin() as s:
        gin = make_contact(s, "gin@example.jp")
        triggers.set_stage(s, gin, "mql", "sales")
        assert _walks(s, journey_id) == [("gin@example.jp", f"sequence {s.get(ScoreTrigger, trigger_id).sequence_id}: "
                                                            f"trigger:{trigger_id}")]
