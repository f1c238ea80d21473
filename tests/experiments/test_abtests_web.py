"""A/B tests through the UI (setup form with the sample-size advice, results page, pick winner, links from
the broadcast and sequence pages, Japanese) and the JSON API (create, results, decide, 4xx reasons)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from campaigns import scheduler
from campaigns.db import now_utc
from campaigns.experiments import setup
from campaigns.journeys.broadcasts import create_broadcast, schedule_broadcast
from campaigns.journeys.sequences import create_sequence
from campaigns.models import ABStatus, ABTest, Broadcast, Send, Step, Template
from tests.conftest import run_jobs
from tests.factories import make_contacts
from tests.sending_helpers import make_version, setup_account


def _broadcast(services, n: int = 12) -> int:
    with services.db.begin() as s:
        setup_account(s)
        version = make_version(s, subject="Spring news", name="News")
        make_contacts(s, n)
        return create_broadcast(s, "Spring", version.template_id).id


def _headers(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


# ------------------------------------------------------------------ UI
def test_setup_form_shows_advice_validates_and_saves(ui, services):
    broadcast_id = _broadcast(services)
    page = ui.get(f"/broadcasts/{broadcast_id}").get_data(as_text=True)
    assert f"/ab/new?broadcast_id={broadcast_id}" in page
    form = ui.get(f"/ab/new?broadcast_id={broadcast_id}")
    html = form.get_data(as_text=True)
    assert form.status_code == 200 and 'value="Spring news"' in html  # the control defaults to the template's
    assert "Audience too small" in html  # 12 contacts cannot carry a 20% -> 24% test
    advice = ui.get(f"/ab/advice.json?baseline=10&lift=20&variants=2&portion=20&broadcast_id={broadcast_id}").get_json()
    assert advice["per_variant"] == 3841 and advice["audience"] == 12 and advice["enough"] is False
    assert ui.get("/ab/advice.json?baseline=0&lift=20").status_code == 400

    data = {"kind": "subject", "metric": "open", "portion": "50", "window_hours": "24", "fallback": "keep_control",
            "mode": "manual", "baseline": "20", "lift": "20", "v0_subject": "Spring news", "v1_subject": "",
            "broadcast_id": str(broadcast_id)}
    data.update(v0_label="Control", v1_label="Warmer subject")
    bad = ui.post(f"/ab/new?broadcast_id={broadcast_id}", data, page=f"/ab/new?broadcast_id={broadcast_id}")
    assert bad.status_code == 400 and "2 to 5 variants" in bad.get_data(as_text=True)
    # what was typed is still there to correct, labels included
    assert 'value="Control"' in bad.get_data(as_text=True) and 'value="Warmer subject"' in bad.get_data(as_text=True)
    data["v1_subject"] = "Spring is here, {{ contact.first_name }}"
    ok = ui.post(f"/ab/new?broadcast_id={broadcast_id}", data, page=f"/ab/new?broadcast_id={broadcast_id}")
    assert ok.status_code == 302
    with services.db.begin() as s:
        test = s.scalar(select(ABTest))
        assert [v.subject for v in test.variants] == ["Spring news", "Spring is here, {{ contact.first_name }}"]
        assert [v.label for v in test.variants] == ["Control", "Warmer subject"]
        assert test.test_portion == 0.5 and test.mode.value == "manual"
    page = ui.get(ok.headers["Location"]).get_data(as_text=True)
    assert "Waiting for the broadcast to start" in page and "Spring is here" in page
    listing = ui.get("/ab/").get_data(as_text=True)
    assert f'href="/ab/{test.id}"' in listing and "Broadcast: Spring" in listing


def test_the_copies_a_test_makes_are_not_offered_as_templates(ui, services):
    broadcast_id = _broadcast(services)
    with services.db.begin() as s:
        test_id = setup.create_test(s, broadcast_id=broadcast_id, kind="subject", test_portion=0.5,
                                      variants=[{"subject": "Spring news"}, {"subject": "Spring is here"}]).id
        schedule_broadcast(s, s.get(Broadcast, broadcast_id))
    scheduler.tick(services, now=now_utc(), lock=False)  # the test starts: variant B gets its copy
    with services.db.begin() as s:
        test = s.get(ABTest, test_id)
        copy = s.get(Template, test.variants[1].template_id)
        assert copy is not None and copy.ab_test_id == test.id and copy.name.startswith("News · A/B")
        copy_name, test_id = copy.name, test.id
    for page in ("/broadcasts/new", "/sequences/new", f"/ab/new?broadcast_id={broadcast_id}", "/templates/"):
        html = ui.get(page).get_data(as_text=True)
        assert ">News<" in html or "News</a>" in html, page  # the marketer's own template is offered
        assert copy_name not in html, page
    assert ui.get(f"/ab/{test_id}").status_code == 200  # the test itself still shows its variants


def test_results_page_pick_winner_and_japanese(app, ui, services, smtp_server):
    broadcast_id = _broadcast(services, 10)
    with services.db.begin() as s:
        test = setup.create_test(s, broadcast_id=broadcast_id, kind="from_name", test_portion=0.4, mode="manual",
                                   variants=[{"from_name": "Acme"}, {"from_name": "Hanako at Acme"}])
        test_id = test.id
        schedule_broadcast(s, s.get(Broadcast, broadcast_id))
    scheduler.tick(services, now=now_utc(), lock=False)
    run_jobs(app)
    froms = sorted(m.message["From"] for m in smtp_server.wait_for(4))
    assert froms == ["Acme <marketing@acme.test>"] * 2 + ["Hanako at Acme <marketing@acme.test>"] * 2
    page = ui.get(f"/ab/{test_id}").get_data(as_text=True)
    assert "The test is running" in page and 'data-testid="ab-pick-form"' in page  # manual: may stop early
    scheduler.tick(services, now=now_utc() + timedelta(hours=25), lock=False)
    page = ui.get(f"/ab/{test_id}").get_data(as_text=True)
    assert "Waiting for your decision" in page and "so the control is kept" in page
    resp = ui.post(f"/ab/{test_id}/winner", {"variant": "1"}, page=f"/ab/{test_id}")
    assert resp.status_code == 302
    with services.db.begin() as s:
        test = s.get(ABTest, test_id)
        assert test.status is ABStatus.DECIDED and test.winner_index == 1 and test.decided_by == "marketer@acme.test"
        assert s.scalar(select(func.count()).select_from(Send).where(Send.broadcast_id == broadcast_id)) == 10
    page = ui.get(f"/ab/{test_id}").get_data(as_text=True)
    assert 'data-testid="ab-chosen">B' in page and 'data-testid="ab-pick-form"' not in page
    ui.client.set_cookie("nurture-none", "1")
    ui.post("/lang/ja", {"next": f"/ab/{test_id}"}, page=f"/ab/{test_id}")
    page = ui.get(f"/ab/{test_id}").get_data(as_text=True)
    assert "最良である確率" in page and "決定済み" in page
    assert ui.get("/ab/999999").status_code == 404


def test_sequence_page_links_to_a_step_test(ui, services):
    with services.db.begin() as s:
        setup_account(s)
        version = make_version(s, subject="Welcome", name="Welcome")
        sequence = create_sequence(s, "Onboarding", steps=[{"template_id": version.template_id, "delay_minutes": 0}])
        step_id = s.scalar(select(Step.id).where(Step.sequence_id == sequence.id))
        seq_id = sequence.id
    page = ui.get(f"/sequences/{seq_id}").get_data(as_text=True)
    assert f"/ab/new?step_id={step_id}" in page
    form = ui.get(f"/ab/new?step_id={step_id}").get_data(as_text=True)
    assert 'value="send_time"' not in form  # send-time tests are for broadcasts
    resp = ui.post(f"/ab/new?step_id={step_id}", {
        "kind": "subject", "metric": "click", "window_hours": "48", "test_days": "7", "fallback": "keep_control",
        "mode": "auto", "baseline": "5", "lift": "30", "v0_subject": "Welcome", "v1_subject": "Welcome aboard",
        "step_id": str(step_id)}, page=f"/ab/new?step_id={step_id}")
    assert resp.status_code == 302
    results = ui.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Testing" in results and "Welcome aboard" in results and "Human unique click rate" in results
    page = ui.get(f"/sequences/{seq_id}").get_data(as_text=True)
    assert 'data-testid="step-ab-link"' in page


# ------------------------------------------------------------------ API
def test_api_create_read_decide(client, services, api_key, app, smtp_server):
    broadcast_id = _broadcast(services, 8)
    h = _headers(api_key)
    bad = client.post("/api/v1/ab-tests", json={"broadcast_id": broadcast_id, "kind": "subject",
                                                "variants": [{"subject": "x"}, {"subject": "x"}]}, headers=h)
    assert bad.status_code == 422 and "must differ" in bad.get_json()["message"]
    schema = client.post("/api/v1/ab-tests", json={"kind": "subject", "variants": [{}]}, headers=h)
    assert schema.status_code == 422 and "variants" in str(schema.get_json()["details"])
    both = client.post("/api/v1/ab-tests", json={"kind": "subject", "broadcast_id": broadcast_id, "step_id": 1,
                                                 "variants": [{"subject": "a"}, {"subject": "b"}]}, headers=h)
    assert both.status_code == 422
    resp = client.post("/api/v1/ab-tests", json={
        "broadcast_id": broadcast_id, "kind": "subject", "test_portion": 0.5, "mode": "manual",
        "baseline_rate": 0.1, "min_lift": 0.2, "variants": [{"subject": "One"}, {"subject": "Two"}]}, headers=h)
    assert resp.status_code == 201, resp.get_json()
    created = resp.get_json()
    assert created["planned_per_variant"] == 3841 and created["advice"]["enough"] is False
    test_id = created["id"]
    assert client.post(f"/api/v1/ab-tests/{test_id}/winner", json={"variant": 1}, headers=h).status_code == 409
    with services.db.begin() as s:
        schedule_broadcast(s, s.get(Broadcast, broadcast_id))
    scheduler.tick(services, now=now_utc(), lock=False)
    run_jobs(app)
    smtp_server.wait_for(4)
    scheduler.tick(services, now=now_utc() + timedelta(hours=25), lock=False)
    data = client.get(f"/api/v1/ab-tests/{test_id}", headers=h).get_json()
    assert data["status"] == "awaiting_decision" and data["decision"]["reason_code"] == "keep_control"
    assert [v["delivered"] for v in data["variants"]] == [2, 2]
    assert [v["sends"] for v in data["decision"]["variants"]] == [2, 2]
    # The results page and the API show the same numbers.
    assert client.get(f"/api/v1/ab-tests/{test_id}", headers=h).get_json()["decision"] == data["decision"]
    assert client.post(f"/api/v1/ab-tests/{test_id}/winner", json={"variant": 9}, headers=h).status_code == 422
    decided = client.post(f"/api/v1/ab-tests/{test_id}/winner", json={"variant": 0}, headers=h).get_json()
    assert decided["status"] == "decided" and decided["winner_index"] == 0 and decided["rest_planned"] == 4
    assert client.get("/api/v1/ab-tests", headers=h).get_json()["data"][0]["id"] == test_id
    assert client.get("/api/v1/ab-tests/424242", headers=h).status_code == 404
    assert client.get(f"/api/v1/ab-tests/{test_id}").status_code == 401
