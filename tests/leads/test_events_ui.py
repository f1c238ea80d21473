"""Events marketers can enter (issue 18): offline activities on the contact page, the event browser and its
test event (a sequence and a journey triggered by it start), the CSV event import as an RQ job with
progress, bad rows by line number, Shift_JIS files."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rq.job import Job
from sqlalchemy import func, select

from campaigns import queueing
from campaigns.db import now_utc
from campaigns.insights.event_names import event_summary
from campaigns.leads.event_import import run_event_import
from campaigns.models import Contact, Event, Journey, JourneyEnrolment
from campaigns.users import get_account
from tests.automation.engine_helpers import publish, template, tick
from tests.conftest import run_jobs
from tests.factories import make_contact, make_sequence, make_template


def _sequence(services: Any, trigger: str) -> int:
    with services.db.begin() as s:
        tpl = make_template(s, f"{trigger} mail")
        return make_sequence(s, [{"template_id": tpl.id}], name=f"After {trigger}", trigger_events=[trigger]).id


def _contact(services: Any, email: str, **fields: Any) -> int:
    with services.db.begin() as s:
        return make_contact(s, email, **fields).id


def _enrolled(services: Any, sequence_id: int, contact_id: int) -> bool:
    """The contact walks the journey the sequence runs as (started by the engine's tick)."""
    with services.db.begin() as s:
        return s.scalar(select(func.count()).select_from(JourneyEnrolment).join(
            Journey, Journey.id == JourneyEnrolment.journey_id).where(
            Journey.sequence_id == sequence_id, JourneyEnrolment.contact_id == contact_id)) == 1


# ------------------------------------------------------------------ activities on the contact page
def test_logged_activity_is_an_event_in_the_timeline_and_starts_its_sequence(ui, services):
    contact_id = _contact(services, "aiko@example.jp", last_name="佐藤")
    sequence_id = _sequence(services, "seminar_attended")
    tick(services)  # the scheduler was running before the event: its first pass starts at the present
    page = ui.get(f"/contacts/{contact_id}").get_data(as_text=True)
    assert 'data-testid="activity"' in page and 'name="occurred_at"' in page
    with services.db.begin() as s:
        zone = get_account(s).timezone
    when = (now_utc() - timedelta(minutes=30)).replace(second=0, microsecond=0)
    local = when.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")
    resp = ui.post(f"/events/activity/{contact_id}", {"kind": "seminar", "occurred_at": local,
                                                      "note": "DX セミナー 東京会場"}, page=f"/contacts/{contact_id}")
    assert resp.status_code == 302
    with services.db.begin() as s:
        event = s.scalars(select(Event).where(Event.contact_id == contact_id)).one()
        assert (event.name, event.source) == ("seminar_attended", "manual")
        assert event.properties["note"] == "DX セミナー 東京会場" and event.properties["logged_by"]
        assert event.occurred_at == when
    tick(services)  # the sequence's journey starts on the event at the scheduler's tick
    assert _enrolled(services, sequence_id, contact_id)
    page = ui.get(f"/contacts/{contact_id}").get_data(as_text=True)
    assert 'data-kind="event"' in page and "seminar_attended" in page


def test_activity_refuses_a_future_date_and_an_unknown_kind(ui, services):
    contact_id = _contact(services, "ken@example.jp")
    future = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    for data in ({"kind": "meeting", "occurred_at": future}, {"kind": "party", "occurred_at": "2024-01-01T10:00"},
                 {"kind": "call", "occurred_at": "yesterday"}):
        resp = ui.post(f"/events/activity/{contact_id}", data, page=f"/contacts/{contact_id}", follow_redirects=True)
        assert 'flash-error' in resp.get_data(as_text=True)
    with services.db.begin() as s:
        assert s.scalar(select(func.count()).select_from(Event)) == 0


# ------------------------------------------------------------------ the event browser
def test_event_browser_counts_last_seen_sources_and_example(ui, services, client):
    with services.db.begin() as s:
        a, b = make_contact(s, "a@example.com"), make_contact(s, "b@example.com")
        base = datetime(2030, 1, 15, 0, 30, tzinfo=UTC)
        for i in range(3):
            s.add(Event(contact_id=a.id, name="webinar_attended", source="api", properties={"webinar": "Q1"},
                        occurred_at=base - timedelta(days=i)))
        s.add(Event(contact_id=b.id, name="demo_booked", source="form", properties={}, occurred_at=base - timedelta(days=5)))
    with services.db.begin() as s:
        summary = {n.name: n for n in event_summary(s)}
    assert summary["webinar_attended"].count == 3 and summary["demo_booked"].count == 1
    assert summary["webinar_attended"].last_at == base and summary["webinar_attended"].sources == ["api"]
    assert summary["webinar_attended"].example == {"webinar": "Q1"}
    page = ui.get("/events/").get_data(as_text=True)
    assert page.index("webinar_attended") < page.index("demo_booked")  # most recent first
    assert '"webinar": "Q1"' in page or "&#34;webinar&#34;: &#34;Q1&#34;" in page
    names = ui.get("/events/names.json").get_json()["names"]
    assert names == ["demo_booked", "webinar_attended"]
    found = ui.get("/events/contacts.json?q=a@exa").get_json()["contacts"]
    assert [c["email"] for c in found] == ["a@example.com"]


def test_event_browser_shows_last_seen_in_the_account_zone(ui, services):
    with services.db.begin() as s:
        get_account(s).timezone = "Asia/Tokyo"
        c = make_contact(s, "tz@example.com")
        s.add(Event(contact_id=c.id, name="zone_check", source="api", occurred_at=datetime(2030, 1, 15, 0, 30, tzinfo=UTC)))
    page = ui.get("/events/").get_data(as_text=True)
    row = page.split('data-name="zone_check"')[1].split("</tr>")[0]
    assert "9:30" in row and "Asia/Tokyo" in page


def test_test_event_starts_the_sequence_and_the_journey_it_triggers(ui, services):
    contact_id = _contact(services, "trial@example.com", first_name="Mika")
    sequence_id = _sequence(services, "trial_started")
    with services.db.begin() as s:
        graph = {"start": "s1", "nodes": [{"id": "s1", "type": "send", "template_id": template(s)}], "edges": [], "layout": {}}
        journey_id = publish(s, graph, {"entry": [{"kind": "event", "name": "trial_started"}]}).id
    tick(services)  # the scheduler was running before the event: its first pass starts at the present
    resp = ui.post("/events/test", {"email": "Trial@Example.com", "name": "trial_started",
                                    "properties": '{"plan": "pro"}'}, page="/events/")
    assert resp.status_code == 302 and f"/contacts/{contact_id}" in resp.headers["Location"]
    with services.db.begin() as s:
        event = s.scalars(select(Event).where(Event.contact_id == contact_id)).one()
        assert (event.name, event.source, event.properties) == ("trial_started", "test", {"plan": "pro"})
    tick(services)  # the journeys' entry triggers (the sequence's journey's too) read the events on the tick
    assert _enrolled(services, sequence_id, contact_id)
    with services.db.begin() as s:
        assert s.scalar(select(func.count()).select_from(JourneyEnrolment).where(
            JourneyEnrolment.journey_id == journey_id, JourneyEnrolment.contact_id == contact_id)) == 1
    # the browser shows the new name at once (the cached list is dropped)
    assert "trial_started" in ui.get("/events/").get_data(as_text=True)


def test_test_event_for_an_unknown_address_or_bad_properties_records_nothing(ui, services):
    _contact(services, "known@example.com")
    for data in ({"email": "nobody@example.com", "name": "x"}, {"email": "known@example.com", "name": "x", "properties": "[1]"},
                 {"email": "known@example.com", "name": "  "}):
        resp = ui.post("/events/test", data, page="/events/", follow_redirects=True)
        assert "flash-error" in resp.get_data(as_text=True)
    with services.db.begin() as s:
        assert s.scalar(select(func.count()).select_from(Event)) == 0


# ------------------------------------------------------------------ CSV event import
CSV = (
    "メールアドレス,氏名,会社名,参加日時\n"
    "aiko@example.jp,佐藤 愛子,アクメ株式会社,2024/05/10 14:00\n"
    "not-an-address,山田 太郎,,2024/05/10 14:00\n"
    "KNOWN@example.com,,,2024/05/10 15:00\n"
    ",空欄,,2024/05/10 14:00\n"
    "late@example.jp,遅刻 太郎,,someday\n"
)


def _upload(ui: Any, data: bytes, name: str = "attendees.csv") -> str:
    resp = ui.post("/events/import", {"file": (io.BytesIO(data), name)}, page="/events/import",
                   content_type="multipart/form-data")
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return resp.headers["Location"]


def test_csv_event_import_job_with_progress_bad_rows_and_line_numbers(ui, services, app):
    known = _contact(services, "known@example.com")
    map_url = _upload(ui, CSV.encode("utf-8"))
    page = ui.get(map_url).get_data(as_text=True)
    assert "メールアドレス" in page and 'data-testid="event-map"' in page
    resp = ui.post(map_url, {"event_name": "webinar_attended", "email_column": "0", "name_column": "1",
                             "company_column": "2", "date_mode": "column", "date_column": "3", "encoding": "auto",
                             "create_contacts": "1"}, page=map_url)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    progress_url = resp.headers["Location"]
    job_id = progress_url.rstrip("/").split("/")[-1]
    job = Job.fetch(job_id, connection=services.redis)
    assert job.func_name == queueing.EVENT_IMPORT.func and job.get_status() == "queued"
    assert run_jobs(app) == 1
    status = ui.get(progress_url + "/status").get_json()
    assert status["finished"] and status["percent"] == 100
    assert (status["processed"], status["recorded"], status["created"], status["matched"], status["failed_rows"]) == (5, 2, 1, 1, 3)
    assert [(e["line"], e["email"]) for e in status["errors"]] == [(3, "not-an-address"), (5, ""), (6, "late@example.jp")]
    with services.db.begin() as s:
        aiko = s.scalars(select(Contact).where(Contact.email == "aiko@example.jp")).one()
        assert (aiko.last_name, aiko.first_name, aiko.company, aiko.source) == ("佐藤", "愛子", "アクメ株式会社", "event import")
        events = s.scalars(select(Event).order_by(Event.contact_id)).all()
        assert [(e.contact_id, e.name, e.source) for e in events] == [
            (known, "webinar_attended", "import"), (aiko.id, "webinar_attended", "import")]
        # 2024/05/10 15:00 in the account's zone
        zone = ZoneInfo(get_account(s).timezone)
        assert events[0].occurred_at == datetime(2024, 5, 10, 15, 0, tzinfo=zone).astimezone(UTC)
    html = ui.get(progress_url).get_data(as_text=True)
    assert 'data-testid="event-import-errors"' in html
    rows = ui.get(progress_url + "/errors.csv").get_data(as_text=True)
    assert rows.startswith("\ufeff") and "3,not-an-address" in rows and "6,late@example.jp" in rows


def test_the_same_file_twice_records_nothing_new(services, tmp_path):
    path = tmp_path / "badges.csv"
    path.write_text("email\na@example.com\nb@example.com\n")
    options = {"event_name": "booth_visited", "email_column": "0", "fixed_at": "2024-05-10T10:00:00+09:00"}
    seen: list[dict[str, Any]] = []
    first = run_event_import(services.db.factory(), str(path), options, seen.append)
    assert (first["recorded"], first["created"], first["done"]) == (2, 2, True) and seen[-1]["done"]
    second = run_event_import(services.db.factory(), str(path), options)
    assert (second["recorded"], second["already"], second["created"], second["matched"]) == (0, 2, 0, 2)


def test_shift_jis_file_and_unknown_addresses_reported_without_creating(services, tmp_path):
    make = services.db.begin
    with make() as s:
        make_contact(s, "tanaka@example.jp")
    path = tmp_path / "sjis.csv"
    path.write_bytes("Eメール,お名前\ntanaka@example.jp,田中 一郎\nsuzuki@example.jp,鈴木 花子\n".encode("cp932"))
    report = run_event_import(services.db.factory(), str(path), {
        "event_name": "展示会来場", "email_column": "0", "fixed_at": "2024-05-10T10:00:00+09:00",
        "create_contacts": False})
    assert report["encoding"] == "cp932"
    assert (report["recorded"], report["failed"]) == (1, 1)
    assert report["errors"] == [{"line": 3, "email": "suzuki@example.jp", "reason": "no contact has this address"}]
    with make() as s:
        assert s.scalar(select(Event.name)) == "展示会来場"
        assert s.scalar(select(func.count()).select_from(Contact)) == 1


def test_import_form_refuses_missing_event_name_and_future_date(ui, services):
    map_url = _upload(ui, b"email\na@example.com\n")
    resp = ui.post(map_url, {"event_name": "", "email_column": "0", "date_mode": "fixed",
                             "fixed_at": "2024-05-10T10:00"}, page=map_url)
    assert resp.status_code == 400 and "flash-error" in resp.get_data(as_text=True)
    future = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    resp = ui.post(map_url, {"event_name": "x", "email_column": "0", "date_mode": "fixed", "fixed_at": future}, page=map_url)
    assert resp.status_code == 400
    assert re.search(r"future", resp.get_data(as_text=True))
