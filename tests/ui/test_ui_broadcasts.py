"""Broadcasts UI: create for a segment or everyone, times in the account's zone, schedule, cancel, counts.
(The confirmation step itself: tests/ui/test_broadcast_safety.py.)"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from campaigns.models import Broadcast, BroadcastStatus, Segment, Send, SendStatus, Template
from campaigns.users import get_account
from tests.factories import committed, make_contact, make_template


def confirmed(count: int | None) -> dict[str, str]:
    """The fields of the confirming POST (campaigns/views/confirm.py) for an audience of `count`."""
    return {"confirm_step": "confirmed", "confirm_count": "" if count is None else str(count)}


def _only_broadcast(services):
    with services.db.begin() as s:
        b = s.scalar(select(Broadcast))
        s.expunge(b)
        return b


def test_send_now_to_everyone(ui, services):
    tid = committed(services, make_template, "November news", compiled=True)
    page = ui.get("/broadcasts/new").get_data(as_text=True)
    assert "November news" in page and "Asia/Tokyo" in page
    before = datetime.now(UTC)
    resp = ui.post("/broadcasts/new", {"name": "Newsletter", "template_id": str(tid), "segment": "all", "when": "now",
                                       **confirmed(0)}, page="/broadcasts/new")
    assert resp.status_code == 302
    b = _only_broadcast(services)
    assert b.status == BroadcastStatus.SCHEDULED and b.segment_id is None and b.template_id == tid
    assert before - timedelta(seconds=1) <= b.scheduled_at <= datetime.now(UTC) + timedelta(seconds=1)
    listing = ui.get("/broadcasts/").get_data(as_text=True)
    assert "Newsletter" in listing and "All active contacts" in listing and "badge-scheduled" in listing


def test_scheduled_time_is_read_in_the_account_time_zone(ui, services):
    tid = committed(services, make_template, compiled=True)
    with services.db.begin() as s:
        seg = Segment(name="Tokyo leads", rules={})
        s.add(seg)
        s.flush()
        seg_id = seg.id
    year = datetime.now(UTC).year + 1  # 1 December next year: always in the future, and standard time in New York
    resp = ui.post("/broadcasts/new", {"name": "Webinar invite", "template_id": str(tid), "segment": str(seg_id),
                                       "when": "later", "scheduled_at": f"{year}-12-01T10:00", **confirmed(0)},
                   page="/broadcasts/new")
    assert resp.status_code == 302
    b = _only_broadcast(services)
    assert b.scheduled_at == datetime(year, 12, 1, 1, 0, tzinfo=UTC)  # 10:00 in Asia/Tokyo (UTC+9)
    assert b.segment_id == seg_id and b.status == BroadcastStatus.SCHEDULED
    page = ui.get(f"/broadcasts/{b.id}").get_data(as_text=True)
    assert f"Dec 1, {year}, 10:00" in page and "Tokyo leads" in page  # i18n.format_datetime
    assert 'data-testid="broadcast-audience">0 contacts<' in page
    # A different account zone reads the same wall time differently.
    with services.db.begin() as s:
        get_account(s).timezone = "America/New_York"
    ui.post(f"/broadcasts/{b.id}/schedule", {"when": "later", "scheduled_at": f"{year}-12-01T10:00", **confirmed(0)},
            page=f"/broadcasts/{b.id}")
    assert _only_broadcast(services).scheduled_at == datetime(year, 12, 1, 15, 0, tzinfo=UTC)


def test_draft_then_schedule_then_cancel(ui, services):
    tid = committed(services, make_template, compiled=True)
    ui.post("/broadcasts/new", {"name": "Later", "template_id": str(tid), "segment": "all", "when": "draft"},
            page="/broadcasts/new")
    b = _only_broadcast(services)
    assert b.status == BroadcastStatus.DRAFT and b.scheduled_at is None
    assert ui.get(f"/broadcasts/{b.id}/cancel").status_code == 405  # a GET never changes state
    resp = ui.post(f"/broadcasts/{b.id}/schedule", {"when": "later", "scheduled_at": "2030-01-15T09:30", **confirmed(0)},
                   page=f"/broadcasts/{b.id}", follow_redirects=True)
    assert "Broadcast scheduled for Jan 15, 2030, 09:30" in resp.get_data(as_text=True)  # i18n.format_datetime
    assert _only_broadcast(services).status == BroadcastStatus.SCHEDULED
    resp = ui.post(f"/broadcasts/{b.id}/cancel", confirmed(None), page=f"/broadcasts/{b.id}", follow_redirects=True)
    assert "Broadcast cancelled" in resp.get_data(as_text=True)
    assert _only_broadcast(services).status == BroadcastStatus.CANCELLED
    # A cancelled broadcast cannot be cancelled or scheduled again; the reason is shown, nothing breaks.
    resp = ui.post(f"/broadcasts/{b.id}/schedule", {"when": "now", **confirmed(0)}, page=f"/broadcasts/{b.id}",
                   follow_redirects=True)
    assert "flash-error" in resp.get_data(as_text=True)
    assert _only_broadcast(services).status == BroadcastStatus.CANCELLED


def test_invalid_input_is_refused_and_kept(ui, services):
    tid = committed(services, make_template, compiled=True)
    resp = ui.post("/broadcasts/new", {"name": "", "template_id": "999", "segment": "77", "when": "later",
                                       "scheduled_at": "tomorrow-ish"}, page="/broadcasts/new")
    assert resp.status_code == 400
    body = resp.get_data(as_text=True)
    for message in ("Give the broadcast a name.", "Choose a saved template.", "Choose a segment or all active contacts.",
                    "Enter a valid date and time."):
        assert message in body
    assert 'value="tomorrow-ish"' in body
    resp = ui.post("/broadcasts/new", {"name": "Keep me", "template_id": str(tid), "when": "later", "scheduled_at": ""},
                   page="/broadcasts/new")
    assert resp.status_code == 400 and 'value="Keep me"' in resp.get_data(as_text=True)
    resp = ui.post("/broadcasts/new", {"name": "Wrong year", "template_id": str(tid), "segment": "all", "when": "later",
                                       "scheduled_at": "2020-12-01T10:00"}, page="/broadcasts/new")
    assert resp.status_code == 400 and "the scheduled time is in the past" in resp.get_data(as_text=True)
    with services.db.begin() as s:
        assert s.scalar(select(func.count()).select_from(Broadcast)) == 0


def test_counts_of_sends(ui, services):
    tid = committed(services, make_template, compiled=True)
    ui.post("/broadcasts/new", {"name": "Counted", "template_id": str(tid), "segment": "all", "when": "now",
                                **confirmed(0)}, page="/broadcasts/new")
    b = _only_broadcast(services)
    statuses = [SendStatus.SENT] * 4 + [SendStatus.FAILED, SendStatus.QUEUED, SendStatus.SUPPRESSED]
    contacts = [committed(services, make_contact, f"r{i}@acme.example") for i in range(len(statuses))]
    committed(services, make_contact, "gone@acme.example", status="unsubscribed")
    assert 'data-testid="broadcast-audience">7 contacts<' in ui.get(f"/broadcasts/{b.id}").get_data(as_text=True)
    with services.db.begin() as s:
        vid = s.get(Template, tid).current_version_id
        for contact_id, status in zip(contacts, statuses, strict=True):
            s.add(Send(contact_id=contact_id, broadcast_id=b.id, template_version_id=vid, status=status))
    body = ui.get(f"/broadcasts/{b.id}").get_data(as_text=True)
    found = dict(re.findall(r'data-testid="count-(\w+)">(\d+)<', body))
    assert found == {"total": "7", "queued": "1", "sent": "4", "failed": "1", "other": "1"}
    listing = ui.get("/broadcasts/").get_data(as_text=True)
    assert re.search(r'<td class="num">1</td><td class="num">4</td><td class="num">1</td>', listing)


def test_broadcasts_in_japanese(ui, services):
    ui.post("/lang/ja", {"next": "/"})
    assert "新規一斉配信" in ui.get("/broadcasts/").get_data(as_text=True)
    assert "今すぐ送信" in ui.get("/broadcasts/new").get_data(as_text=True)


def test_unknown_broadcast_is_404(ui):
    assert ui.get("/broadcasts/4242").status_code == 404
    assert ui.post("/broadcasts/4242/cancel").status_code == 404


def test_send_now_goes_out_and_the_page_counts_it(ui, services, app, smtp_server):
    """Created in the UI, planned by the scheduler, delivered by a real worker: the counts come from the ledger."""
    from campaigns.scheduler import tick
    from tests.conftest import run_jobs

    tid = committed(services, make_template, compiled=True)
    for i in range(4):
        committed(services, make_contact, f"all{i}@acme.example")
    committed(services, make_contact, "left@acme.example", status="unsubscribed")
    ui.post("/broadcasts/new", {"name": "Now", "template_id": str(tid), "segment": "all", "when": "now",
                                **confirmed(4)}, page="/broadcasts/new")
    b = _only_broadcast(services)
    with app.app_context():
        tick(services)
    run_jobs(app)
    assert sorted(m.rcpt_tos[0] for m in smtp_server.wait_for(4)) == [f"all{i}@acme.example" for i in range(4)]
    body = ui.get(f"/broadcasts/{b.id}").get_data(as_text=True)
    assert dict(re.findall(r'data-testid="count-(\w+)">(\d+)<', body))["sent"] == "4"
