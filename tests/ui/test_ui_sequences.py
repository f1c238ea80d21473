"""Sequences UI: the step builder, validation that keeps the input, reorder/remove, activate/pause,
manual enrolment of a segment, and per-step send counts."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from campaigns.models import (
    Enrollment,
    Journey,
    JourneyEnrolment,
    JourneyStatus,
    Send,
    SendStatus,
    Sequence,
    SequenceStatus,
    Step,
    Template,
)
from tests.factories import committed, make_contact, make_template

CONFIRMED = {"confirm_step": "confirmed"}  # the enrolment is confirmed (campaigns/views/confirm.py)


def _step(i, template_id, delay="0", unit="days", days="1234567", start="", end="", step_id=""):
    fields = [(f"steps-{i}-id", str(step_id)), (f"steps-{i}-template_id", str(template_id)),
              (f"steps-{i}-delay_value", str(delay)), (f"steps-{i}-delay_unit", unit),
              (f"steps-{i}-start_hour", str(start)), (f"steps-{i}-end_hour", str(end)),
              (f"steps-{i}-days_present", "1")]
    fields += [(f"steps-{i}-days", d) for d in days]
    return fields


def _post(ui, url, pairs, page="/sequences/new", **kw):
    form = MultiDict(pairs)
    form.add("csrf_token", ui.token(page))
    return ui.client.post(url, data=form, **kw)


def _base(name="Whitepaper follow-up", **over):
    data = {"name": name, "description": "After the download", "trigger_events": "whitepaper_downloaded, webinar.joined",
            "exit_events": "demo_booked", "goal_event": "demo_booked"}
    data.update(over)
    return list(data.items())


def _steps_of(services, sequence_id):
    with services.db.begin() as s:
        return [(st.id, st.position, st.template_id, st.delay_minutes, st.window_days, st.window_start_hour,
                 st.window_end_hour, st.deleted)
                for st in s.scalars(select(Step).where(Step.sequence_id == sequence_id).order_by(Step.id))]


def test_build_a_two_step_sequence(ui, services):
    t1, t2 = (committed(services, make_template, n, compiled=True) for n in ("Welcome", "Case study"))
    page = ui.get("/sequences/new").get_data(as_text=True)
    assert 'id="step-prototype"' in page and "Welcome" in page and "Case study" in page
    pairs = _base() + [("exit_stages", "sql"), ("exit_stages", "customer"), ("allow_reentry", "1")]
    pairs += _step(0, t1, delay="10", unit="minutes")
    pairs += _step(1, t2, delay="2", unit="days", days="12345", start="9", end="17")
    resp = _post(ui, "/sequences/new", pairs)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    with services.db.begin() as s:
        seq = s.scalar(select(Sequence))
        assert resp.headers["Location"].endswith(f"/sequences/{seq.id}")
        assert seq.status == SequenceStatus.DRAFT
        assert seq.trigger_events == ["whitepaper_downloaded", "webinar.joined"]
        assert seq.exit_events == ["demo_booked"] and seq.goal_event == "demo_booked"
        assert sorted(seq.exit_stages) == ["customer", "sql"] and seq.allow_reentry is True
        seq_id = seq.id
    steps = _steps_of(services, seq_id)
    assert [(p, t, d, w, a, b) for _id, p, t, d, w, a, b, _del in steps] == [
        (1, t1, 10, "", None, None),  # all seven days ticked means "any day"
        (2, t2, 2880, "12345", 9, 17),
    ]
    show = ui.get(f"/sequences/{seq_id}").get_data(as_text=True)
    assert "Welcome" in show and "Case study" in show and "2 days" in show and "09:00–17:00" in show


def test_invalid_input_is_explained_and_kept(ui, services):
    t1 = committed(services, make_template, compiled=True)
    long_name = "x" * 101
    pairs = _base(name="", trigger_events=f"ok_event, {long_name}") + _step(0, "", delay="5") + \
        _step(1, t1, delay="1", unit="hours", start="18", end="9") + _step(2, t1, days="")
    resp = _post(ui, "/sequences/new", pairs)
    assert resp.status_code == 400
    body = resp.get_data(as_text=True)
    assert "Give the sequence a name." in body
    assert "Event names are at most 100 characters" in body
    assert f'value="ok_event, {long_name}"' in body  # both names kept as typed, the bad one to correct
    assert "Choose a saved template." in body
    assert "The send window must start before it ends" in body
    assert "Pick at least one day" in body
    # what the marketer typed is still there
    assert 'value="After the download"' in body and 'value="demo_booked"' in body
    assert re.search(r'name="steps-1-start_hour".*?<option value="18" selected', body, re.S)
    with services.db.begin() as s:
        assert s.scalar(select(func.count()).select_from(Sequence)) == 0


def test_event_names_the_api_accepts_survive_the_builder(ui, services, api_key, client):
    # Japanese names and names with spaces are events too: a sequence made through the API and saved
    # unchanged in the builder keeps its start and stop events (it once lost them: demo bookers kept
    # getting mail).
    t1 = committed(services, make_template, compiled=True)
    created = client.post("/api/v1/sequences", headers={"Authorization": f"Bearer {api_key}"}, json={
        "name": "資料請求フォロー", "trigger_events": ["資料ダウンロード", "Whitepaper downloaded"],
        "exit_events": ["商談 予約"], "steps": [{"template_id": t1, "delay_minutes": 0}]})
    assert created.status_code == 201, created.get_json()
    seq_id = created.get_json()["id"]
    edit = ui.get(f"/sequences/{seq_id}/edit").get_data(as_text=True)
    assert 'value="資料ダウンロード, Whitepaper downloaded"' in edit and 'value="商談 予約"' in edit
    form = {k: v for k, v in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', edit)}
    pairs = _base(name="資料請求フォロー", trigger_events=form["trigger_events"], exit_events=form["exit_events"],
                  goal_event="") + _step(0, t1, delay="0", step_id=form["steps-0-id"])
    resp = _post(ui, f"/sequences/{seq_id}/edit", pairs)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    with services.db.begin() as s:
        seq = s.get(Sequence, seq_id)
        assert seq.trigger_events == ["資料ダウンロード", "Whitepaper downloaded"] and seq.exit_events == ["商談 予約"]


def test_no_steps_is_refused(ui, services):
    committed(services, make_template, compiled=True)
    resp = _post(ui, "/sequences/new", _base())
    assert resp.status_code == 400 and "Add at least one step." in resp.get_data(as_text=True)


def test_edit_reorders_removes_and_adds_steps(ui, services):
    t1, t2, t3 = (committed(services, make_template, n, compiled=True) for n in ("A", "B", "C"))
    _post(ui, "/sequences/new", _base() + _step(0, t1) + _step(1, t2, delay="1") + _step(2, t3, delay="2"))
    with services.db.begin() as s:
        seq_id = s.scalar(select(Sequence.id))
    (a, *_), (b, *_), (c, *_) = _steps_of(services, seq_id)
    edit = ui.get(f"/sequences/{seq_id}/edit").get_data(as_text=True)
    assert f'name="steps-2-id" value="{c}"' in edit
    # New order: C, A (B removed), then a new step with template B.
    pairs = _base(name="Renamed") + _step(0, t3, delay="3", step_id=c) + _step(1, t1, step_id=a) + _step(2, t2, delay="4", unit="hours")
    resp = _post(ui, f"/sequences/{seq_id}/edit", pairs, page=f"/sequences/{seq_id}/edit")
    assert resp.status_code == 302, resp.get_data(as_text=True)
    rows = {r[0]: r for r in _steps_of(services, seq_id)}
    assert rows[c][1] == 1 and rows[c][3] == 3 * 1440 and rows[c][7] is False
    assert rows[a][1] == 2 and rows[a][7] is False
    assert rows[b][7] is True  # soft-deleted, so the send ledger keeps its meaning
    new = [r for r in rows.values() if r[0] not in (a, b, c)]
    assert len(new) == 1 and new[0][1] == 3 and new[0][2] == t2 and new[0][3] == 240
    with services.db.begin() as s:
        assert s.get(Sequence, seq_id).name == "Renamed"


def test_step_ids_of_another_sequence_are_not_taken_over(ui, services):
    t1 = committed(services, make_template, compiled=True)
    _post(ui, "/sequences/new", _base(name="One") + _step(0, t1))
    _post(ui, "/sequences/new", _base(name="Two") + _step(0, t1))
    with services.db.begin() as s:
        one, two = s.scalars(select(Sequence.id).order_by(Sequence.id)).all()
    foreign = _steps_of(services, one)[0][0]
    resp = _post(ui, f"/sequences/{two}/edit", _base(name="Two") + _step(0, t1, step_id=foreign))
    assert resp.status_code == 302
    assert _steps_of(services, one)[0][7] is False  # untouched
    assert all(r[0] != foreign for r in _steps_of(services, two))


def test_activate_by_post_only_and_it_runs_as_a_journey(ui, services):
    t1 = committed(services, make_template, compiled=True)
    _post(ui, "/sequences/new", _base() + _step(0, t1))
    with services.db.begin() as s:
        seq_id = s.scalar(select(Sequence.id))
    resp = ui.post(f"/sequences/{seq_id}/status", {"status": "exploded"}, page=f"/sequences/{seq_id}",
                   follow_redirects=True)
    assert "Unknown status." in resp.get_data(as_text=True)
    assert ui.get(f"/sequences/{seq_id}/status").status_code == 405
    resp = ui.post(f"/sequences/{seq_id}/status", {"status": "active"}, page=f"/sequences/{seq_id}")
    with services.db.begin() as s:
        journey = s.scalar(select(Journey).where(Journey.sequence_id == seq_id))
        assert s.get(Sequence, seq_id).status == SequenceStatus.CONVERTED
        assert journey is not None and journey.status == JourneyStatus.LIVE and journey.live_version_id
        journey_id = journey.id
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/journeys/{journey_id}")
    canvas = ui.get(f"/journeys/{journey_id}").get_data(as_text=True)
    assert "it runs as a journey now" in canvas
    listing = ui.get("/sequences/").get_data(as_text=True)
    assert f'data-testid="status-{seq_id}">Runs as a journey<' in listing
    assert f'href="/journeys/{journey_id}"' in listing
    # its pages are the journey's from now on (edit, pause and enrol there)
    for path in (f"/sequences/{seq_id}", f"/sequences/{seq_id}/edit", f"/reports/sequences/{seq_id}"):
        page = ui.get(path)
        assert page.status_code == 302 and page.headers["Location"].endswith(f"/journeys/{journey_id}"), path


def test_activation_problems_are_shown(ui, services):
    from campaigns.journeys.sequences import create_sequence

    with services.db.begin() as s:
        seq_id = create_sequence(s, "Empty", steps=[]).id
    resp = ui.post(f"/sequences/{seq_id}/status", {"status": "active"}, page=f"/sequences/{seq_id}", follow_redirects=True)
    body = resp.get_data(as_text=True)
    assert "at least one step" in body and "flash-error" in body
    with services.db.begin() as s:
        assert s.get(Sequence, seq_id).status == SequenceStatus.DRAFT


def test_a_draft_enrols_nobody_and_says_why(ui, services):
    t1 = committed(services, make_template, compiled=True)
    _post(ui, "/sequences/new", _base() + _step(0, t1))
    committed(services, make_contact, "p0@acme.example")
    with services.db.begin() as s:
        seq_id = s.scalar(select(Sequence.id))
    page = ui.get(f"/sequences/{seq_id}").get_data(as_text=True)
    assert 'data-testid="sequence-draft-note"' in page and 'data-testid="enroll-form"' not in page
    resp = ui.post(f"/sequences/{seq_id}/enroll", {"segment": "all", **CONFIRMED, "confirm_count": "1"},
                   page=f"/sequences/{seq_id}", follow_redirects=True)
    assert "activate it first" in resp.get_data(as_text=True)
    with services.db.begin() as s:
        assert s.scalar(select(JourneyEnrolment.id)) is None and s.scalar(select(Enrollment.id)) is None


def test_sequence_page_counts_sends_per_step(ui, services):
    t1, t2 = (committed(services, make_template, n, compiled=True) for n in ("A", "B"))
    _post(ui, "/sequences/new", _base() + _step(0, t1) + _step(1, t2))
    contacts = [committed(services, make_contact, f"c{i}@acme.example") for i in range(6)]
    with services.db.begin() as s:
        seq_id = s.scalar(select(Sequence.id))
        step1, step2 = s.scalars(select(Step).where(Step.sequence_id == seq_id).order_by(Step.position)).all()
        v1 = s.get(Template, t1).current_version_id
        v2 = s.get(Template, t2).current_version_id
        statuses1 = [SendStatus.SENT, SendStatus.SENT, SendStatus.SENT, SendStatus.FAILED, SendStatus.QUEUED, SendStatus.SENDING]
        statuses2 = [SendStatus.SENT, SendStatus.CANCELLED]
        for i, contact_id in enumerate(contacts):
            enrolment = Enrollment(contact_id=contact_id, sequence_id=seq_id)
            s.add(enrolment)
            s.flush()
            s.add(Send(contact_id=contact_id, enrollment_id=enrolment.id, step_id=step1.id,
                       template_version_id=v1, status=statuses1[i]))
            if i < len(statuses2):
                s.add(Send(contact_id=contact_id, enrollment_id=enrolment.id, step_id=step2.id,
                           template_version_id=v2, status=statuses2[i]))
        ids = (step1.id, step2.id)
    body = ui.get(f"/sequences/{seq_id}").get_data(as_text=True)

    def counts(step_id):
        row = re.search(rf'<tr data-step-id="{step_id}">(.*?)</tr>', body, re.S).group(1)
        return dict(re.findall(r'data-count="(\w+)">(\d+)<', row))

    assert counts(ids[0]) == {"queued": "2", "sent": "3", "failed": "1", "other": "0"}
    assert counts(ids[1]) == {"queued": "0", "sent": "1", "failed": "0", "other": "1"}


def test_sequences_in_japanese(ui, services):
    t1 = committed(services, make_template, compiled=True)
    _post(ui, "/sequences/new", _base() + _step(0, t1))
    ui.post("/lang/ja", {"next": "/"})
    assert "ステップを追加" in ui.get("/sequences/new").get_data(as_text=True)
    listing = ui.get("/sequences/").get_data(as_text=True)
    assert "下書き" in listing and "新規ステップメール" in listing


def test_unknown_sequence_is_404(ui):
    assert ui.get("/sequences/12345").status_code == 404
    assert ui.post("/sequences/12345/status", {"status": "active"}).status_code == 404


def test_counts_follow_the_real_pipeline(ui, services, app, smtp_server):
    """Built and activated through the UI, enrolled, mailed by the journey engine in the scheduler tick and
    delivered by a real worker over SMTP: the journey's report (where the sequence's pages lead) shows what
    the ledger holds."""
    from campaigns.journeys.sequences import enroll_segment
    from campaigns.scheduler import tick
    from tests.conftest import run_jobs

    t1 = committed(services, make_template, compiled=True)
    _post(ui, "/sequences/new", _base() + _step(0, t1, delay="0", unit="minutes") + _step(1, t1, delay="2"))
    with services.db.begin() as s:
        seq_id = s.scalar(select(Sequence.id))
    ids = [committed(services, make_contact, f"lead{i}@acme.example", first_name=f"Lead{i}") for i in range(3)]
    ui.post(f"/sequences/{seq_id}/status", {"status": "active"}, page=f"/sequences/{seq_id}")
    with services.db.begin() as s:
        assert enroll_segment(s, s.get(Sequence, seq_id), ids) == 3
        journey_id = s.scalar(select(Journey.id).where(Journey.sequence_id == seq_id))
        first, second = (st.id for st in s.get(Sequence, seq_id).steps)
    with app.app_context():
        tick(services)
    run_jobs(app)
    assert len(smtp_server.wait_for(3)) == 3
    assert ui.get(f"/reports/sequences/{seq_id}").headers["Location"].endswith(f"/journeys/{journey_id}")
    stats = ui.get(f"/journeys/{journey_id}/stats.json").get_json()
    assert stats["nodes"][f"step-{first}"]["send"]["sent"] == 3
    assert stats["nodes"][f"step-{second}"]["send"]["sent"] == 0  # two days later
    assert stats["totals"]["active"] == 3
