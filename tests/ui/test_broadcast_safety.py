"""Broadcasts ask before they mail anyone (who: count and sample; when: account time or now), the count
must be typed at MASS_THRESHOLD, and scheduled broadcasts can be rescheduled, duplicated, cancelled
(after asking) and, while nothing was sent, deleted. Also the enrolment of a segment into a sequence."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from campaigns.journeys import broadcasts as service
from campaigns.models import (
    ABKind,
    ABMode,
    ABStatus,
    ABTest,
    ABVariant,
    Broadcast,
    BroadcastStatus,
    Contact,
    Journey,
    JourneyEnrolment,
    Segment,
    Send,
    SendStatus,
    Template,
)
from campaigns.views.confirm import MASS_THRESHOLD, parse_count
from tests.factories import committed, make_contact, make_contacts, make_sequence, make_template


def _broadcasts(services) -> list[Broadcast]:
    with services.db.begin() as s:
        found = list(s.scalars(select(Broadcast).order_by(Broadcast.id)))
        for b in found:
            s.expunge(b)
        return found


def _sends(services) -> int:
    with services.db.begin() as s:
        return int(s.scalar(select(func.count()).select_from(Send)) or 0)


def _confirm(data: dict, count: int | str, typed: int | str | None = None) -> dict:
    out = {**data, "confirm_step": "confirmed", "confirm_count": str(count)}
    if typed is not None:
        out["typed_count"] = str(typed)
    return out


def _draft(services, name: str = "Spring news", segment_id: int | None = None, **kw) -> int:
    tid = committed(services, make_template, compiled=True)
    with services.db.begin() as s:
        return service.create_broadcast(s, name, tid, segment_id, **kw).id


def test_new_broadcast_asks_who_and_when_before_anything_is_scheduled(ui, services):
    tid = committed(services, make_template, "April news", compiled=True)
    with services.db.begin() as s:
        make_contacts(s, 7, prefix="lead", company="Kaisha")
        make_contact(s, "gone@acme.example", status="unsubscribed", first_name="Gone")
    form = ui.get("/broadcasts/new").get_data(as_text=True)
    # No silent default: neither an audience nor a time is chosen for the user.
    assert '<option value="all" >' in form or "value=\"all\" >" in form
    assert not re.search(r'name="when" value="now"[^>]*checked', form)
    data = {"name": "April", "template_id": str(tid), "segment": "all", "when": "now"}
    resp = ui.post("/broadcasts/new", data, page="/broadcasts/new")
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200 and 'data-testid="confirm-panel"' in body
    assert 'data-testid="confirm-count">7 contacts<' in body
    assert body.count("Kaisha") == 5 and "and 2 more" in body and "Gone" not in body  # sample of 5, the rest counted
    assert re.search(r'data-testid="confirm-when"><strong>Right away</strong>', body)
    assert "April news" in body and "All active contacts" in body
    assert 'name="typed_count"' not in body  # 7 is below the threshold: one deliberate click
    # Every field of the form goes back with the confirmation.
    for name, value in data.items():
        assert f'name="{name}" value="{value}"' in body
    assert _broadcasts(services) == []
    resp = ui.post("/broadcasts/new", _confirm(data, 7), page="/broadcasts/new")
    assert resp.status_code == 302
    (b,) = _broadcasts(services)
    assert b.status is BroadcastStatus.SCHEDULED and b.segment_id is None


def test_the_audience_must_be_chosen(ui, services):
    tid = committed(services, make_template, compiled=True)
    resp = ui.post("/broadcasts/new", {"name": "x", "template_id": str(tid), "when": "now"}, page="/broadcasts/new")
    assert resp.status_code == 400 and "Choose a segment or all active contacts." in resp.get_data(as_text=True)
    resp = ui.post("/broadcasts/new", {"name": "x", "template_id": str(tid), "segment": "all"}, page="/broadcasts/new")
    assert resp.status_code == 400 and "Choose when to send." in resp.get_data(as_text=True)
    assert _broadcasts(services) == []


def test_a_later_time_is_shown_in_the_account_zone_and_change_goes_back_to_the_form(ui, services):
    tid = committed(services, make_template, compiled=True)
    committed(services, make_contact, "a@acme.example", first_name="Aiko", company="Acme")
    year = datetime.now(UTC).year + 1
    data = {"name": "Webinar", "template_id": str(tid), "segment": "all", "when": "later",
            "scheduled_at": f"{year}-12-01T10:00"}
    body = ui.post("/broadcasts/new", data, page="/broadcasts/new").get_data(as_text=True)
    assert re.search(rf"<strong>Dec 1, {year}, 10:00</strong> <span[^>]*>Asia/Tokyo</span>", body)
    assert "Aiko" in body and "Acme" in body
    back = ui.post("/broadcasts/new", {**data, "confirm_step": "back"}, page="/broadcasts/new")
    text = back.get_data(as_text=True)
    assert back.status_code == 200 and 'value="Webinar"' in text and f'value="{year}-12-01T10:00"' in text
    assert 'data-testid="confirm-panel"' not in text and _broadcasts(services) == []
    ui.post("/broadcasts/new", _confirm(data, 1), page="/broadcasts/new")
    (b,) = _broadcasts(services)
    assert b.scheduled_at == datetime(year, 12, 1, 1, 0, tzinfo=UTC)


def test_mass_send_needs_the_count_typed(ui, services):
    tid = committed(services, make_template, compiled=True)
    n = MASS_THRESHOLD + 3
    with services.db.begin() as s:
        make_contacts(s, n)
    data = {"name": "Big", "template_id": str(tid), "segment": "all", "when": "now"}
    body = ui.post("/broadcasts/new", data, page="/broadcasts/new").get_data(as_text=True)
    assert 'name="typed_count"' in body and f"Type {n:,} to confirm" in body
    for wrong in ("", "100", str(n - 1), "lots"):
        resp = ui.post("/broadcasts/new", _confirm(data, n, wrong), page="/broadcasts/new")
        assert resp.status_code == 400 and 'data-testid="confirm-error"' in resp.get_data(as_text=True)
        assert _broadcasts(services) == []
    # The count the user saw must still be true: a grown audience is asked again.
    resp = ui.post("/broadcasts/new", _confirm(data, n - 50, n - 50), page="/broadcasts/new")
    assert resp.status_code == 409 and f"from {n - 50} to {n:,}" in resp.get_data(as_text=True)
    assert _broadcasts(services) == []
    # Full-width digits, as a Japanese IME types them, are the same number.
    typed = str(n).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert ui.post("/broadcasts/new", _confirm(data, n, typed), page="/broadcasts/new").status_code == 302
    assert [b.status for b in _broadcasts(services)] == [BroadcastStatus.SCHEDULED]


def test_parse_count_reads_what_people_type():
    assert parse_count("1,234") == 1234 and parse_count(" １２３ ") == 123 and parse_count("1 234") == 1234
    assert parse_count("") is None and parse_count("12a") is None and parse_count("-5") is None
    assert parse_count("٣") is None  # other scripts' digits are not ASCII after NFKC: refused


def test_schedule_from_the_page_asks_first(ui, services):
    bid = _draft(services)
    committed(services, make_contact, "a@acme.example")
    resp = ui.post(f"/broadcasts/{bid}/schedule", {"when": "now"}, page=f"/broadcasts/{bid}")
    assert resp.status_code == 200 and "Send to 1 contacts now" in resp.get_data(as_text=True)
    assert _broadcasts(services)[0].status is BroadcastStatus.DRAFT
    resp = ui.post(f"/broadcasts/{bid}/schedule", _confirm({"when": "now"}, 1), page=f"/broadcasts/{bid}")
    assert resp.status_code == 302 and _broadcasts(services)[0].status is BroadcastStatus.SCHEDULED


def test_schedule_refusals_come_before_the_confirmation(ui, services):
    bid = _draft(services)
    resp = ui.post(f"/broadcasts/{bid}/schedule", {"when": "later", "scheduled_at": "2020-01-01T09:00"},
                   page=f"/broadcasts/{bid}", follow_redirects=True)
    body = resp.get_data(as_text=True)
    assert "the scheduled time is in the past" in body and 'data-testid="confirm-panel"' not in body


def test_reschedule_moves_the_time_in_the_account_zone_and_refuses_the_past(ui, services):
    year = datetime.now(UTC).year + 1
    bid = _draft(services)
    with services.db.begin() as s:
        service.schedule_broadcast(s, s.get(Broadcast, bid), datetime(year, 6, 1, 0, 0, tzinfo=UTC))
    data = {"when": "later", "scheduled_at": f"{year}-07-01T08:30"}
    body = ui.post(f"/broadcasts/{bid}/schedule", data, page=f"/broadcasts/{bid}").get_data(as_text=True)
    assert "Reschedule for 0 contacts" in body and f"Jul 1, {year}, 08:30" in body
    assert _broadcasts(services)[0].scheduled_at == datetime(year, 6, 1, 0, 0, tzinfo=UTC)
    resp = ui.post(f"/broadcasts/{bid}/schedule", _confirm(data, 0), page=f"/broadcasts/{bid}", follow_redirects=True)
    assert f"Broadcast rescheduled for Jul 1, {year}, 08:30" in resp.get_data(as_text=True)
    (b,) = _broadcasts(services)
    assert b.status is BroadcastStatus.SCHEDULED and b.scheduled_at == datetime(year, 6, 30, 23, 30, tzinfo=UTC)
    resp = ui.post(f"/broadcasts/{bid}/schedule", _confirm({"when": "later", "scheduled_at": "2021-07-01T08:30"}, 0),
                   page=f"/broadcasts/{bid}", follow_redirects=True)
    assert "the scheduled time is in the past" in resp.get_data(as_text=True)
    assert _broadcasts(services)[0].scheduled_at == datetime(year, 6, 30, 23, 30, tzinfo=UTC)


def test_reschedule_rules_in_the_service(services):
    bid = _draft(services)
    future = datetime.now(UTC) + timedelta(days=3)
    with services.db.begin() as s:
        b = s.get(Broadcast, bid)
        try:
            service.reschedule_broadcast(s, b, future)
        except ValueError as exc:
            assert "only a scheduled broadcast" in str(exc)
        else:
            raise AssertionError("a draft was rescheduled")
        service.schedule_broadcast(s, b, future)
        b.status = BroadcastStatus.SENDING  # the scheduler started it
    with services.db.begin() as s:
        b = s.get(Broadcast, bid)
        for when in (future + timedelta(days=1), datetime(2020, 1, 1, tzinfo=UTC)):
            try:
                service.reschedule_broadcast(s, b, when)
            except ValueError:
                pass
            else:
                raise AssertionError("a started broadcast was rescheduled")


def test_cancel_asks_first_then_cancels(ui, services):
    bid = _draft(services)
    with services.db.begin() as s:
        service.schedule_broadcast(s, s.get(Broadcast, bid), datetime.now(UTC) + timedelta(days=2))
    resp = ui.post(f"/broadcasts/{bid}/cancel", page=f"/broadcasts/{bid}")
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "Cancel “Spring news”?" in body and "confirm-danger" in body
    assert _broadcasts(services)[0].status is BroadcastStatus.SCHEDULED
    resp = ui.post(f"/broadcasts/{bid}/cancel", {"confirm_step": "confirmed"}, page=f"/broadcasts/{bid}")
    assert resp.status_code == 302 and _broadcasts(services)[0].status is BroadcastStatus.CANCELLED
    # Cancelled: nothing more to cancel; it can still be duplicated.
    resp = ui.post(f"/broadcasts/{bid}/cancel", page=f"/broadcasts/{bid}", follow_redirects=True)
    assert "flash-error" in resp.get_data(as_text=True)


def test_duplicate_makes_a_new_draft_with_the_same_template_and_audience(ui, services):
    with services.db.begin() as s:
        seg = Segment(name="Tokyo", rules={})
        s.add(seg)
        s.flush()
        seg_id = seg.id
    bid = _draft(services, "Launch", seg_id)
    with services.db.begin() as s:
        service.schedule_broadcast(s, s.get(Broadcast, bid), datetime.now(UTC) + timedelta(days=2))
    resp = ui.post(f"/broadcasts/{bid}/duplicate", page=f"/broadcasts/{bid}")
    assert resp.status_code == 302
    original, copy = _broadcasts(services)
    assert resp.headers["Location"].endswith(f"/broadcasts/{copy.id}")
    assert (copy.name, copy.status, copy.scheduled_at) == ("Launch (copy)", BroadcastStatus.DRAFT, None)
    assert (copy.template_id, copy.segment_id) == (original.template_id, seg_id)
    assert original.status is BroadcastStatus.SCHEDULED and _sends(services) == 0
    ui.post("/lang/ja", {"next": "/"})
    ui.post(f"/broadcasts/{bid}/duplicate", page=f"/broadcasts/{bid}")
    assert _broadcasts(services)[-1].name.startswith("Launch") and _broadcasts(services)[-1].name.endswith("のコピー")


def test_only_a_broadcast_that_sent_nothing_can_be_deleted(ui, services):
    bid = _draft(services)
    with services.db.begin() as s:
        b = s.get(Broadcast, bid)
        s.add(ABTest(broadcast_id=bid, kind=ABKind.SUBJECT, variants=[ABVariant(position=0, key="A"),
                                                                       ABVariant(position=1, key="B")]))
        assert service.deletable(s, b)
    page = ui.get(f"/broadcasts/{bid}").get_data(as_text=True)
    assert 'data-testid="delete-form"' in page
    resp = ui.post(f"/broadcasts/{bid}/delete", page=f"/broadcasts/{bid}")
    assert resp.status_code == 200 and "Delete “Spring news”?" in resp.get_data(as_text=True)
    assert len(_broadcasts(services)) == 1
    resp = ui.post(f"/broadcasts/{bid}/delete", {"confirm_step": "confirmed"}, page=f"/broadcasts/{bid}")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/broadcasts/")
    assert _broadcasts(services) == []
    with services.db.begin() as s:
        assert s.scalar(select(func.count()).select_from(ABTest)) == 0
        assert s.scalar(select(func.count()).select_from(ABVariant)) == 0

    # A broadcast with sends keeps its history: no delete button, and the route refuses.
    sent = _draft(services, "Sent one")
    cid = committed(services, make_contact)
    with services.db.begin() as s:
        b = s.get(Broadcast, sent)
        b.status, b.started_at = BroadcastStatus.SENT, datetime.now(UTC)
        version = s.get(Template, b.template_id).current_version_id
        s.add(Send(contact_id=cid, broadcast_id=sent, template_version_id=version, status=SendStatus.SENT))
    assert 'data-testid="delete-form"' not in ui.get(f"/broadcasts/{sent}").get_data(as_text=True)
    resp = ui.post(f"/broadcasts/{sent}/delete", {"confirm_step": "confirmed"}, page=f"/broadcasts/{sent}",
                   follow_redirects=True)
    assert "keeps its history" in resp.get_data(as_text=True) and len(_broadcasts(services)) == 1
    # Scheduled, or cancelled after it started: not deletable either.
    with services.db.begin() as s:
        b = s.get(Broadcast, _draft(services, "Scheduled"))
        service.schedule_broadcast(s, b, datetime.now(UTC) + timedelta(days=1))
        assert not service.deletable(s, b)
        b.status, b.started_at = BroadcastStatus.CANCELLED, datetime.now(UTC)
        assert not service.deletable(s, b)


def test_ab_held_back_part_is_shown_in_the_confirmation_and_on_the_page(ui, services):
    bid = _draft(services)
    with services.db.begin() as s:
        make_contacts(s, 50)
        s.add(ABTest(broadcast_id=bid, kind=ABKind.SUBJECT, test_portion=0.2, mode=ABMode.AUTO,
                     variants=[ABVariant(position=0, key="A"), ABVariant(position=1, key="B")]))
    note = "A/B test: 10 contacts get the 2 variants first. The other 40 are held back"
    assert note in ui.get(f"/broadcasts/{bid}").get_data(as_text=True)
    body = ui.post(f"/broadcasts/{bid}/schedule", {"when": "now"}, page=f"/broadcasts/{bid}").get_data(as_text=True)
    assert 'data-testid="confirm-count">50 contacts<' in body and note in body
    # Running: the page says the rest waits for the decision.
    with services.db.begin() as s:
        b = s.get(Broadcast, bid)
        b.status, b.options = BroadcastStatus.SENDING, {"ab_test_portion": 10}
        s.scalar(select(ABTest)).status = ABStatus.TESTING
    page = ui.get(f"/broadcasts/{bid}").get_data(as_text=True)
    assert "10 contacts got the variants. The rest of the audience is held back until the test decides." in page


def test_enrolment_of_a_segment_asks_first(ui, services):
    """A sequence is enrolled into on its journey's page (it runs as one): who and how many first."""
    tid = committed(services, make_template, compiled=True)
    with services.db.begin() as s:
        seq_id = make_sequence(s, [{"template_id": tid, "delay_minutes": 0}], name="Onboarding").id
        journey_id = s.scalar(select(Journey.id).where(Journey.sequence_id == seq_id))
        make_contacts(s, 3, company="Shosha")
        seg = Segment(name="Everyone", rules={})
        s.add(seg)
        s.flush()
        seg_id = seg.id
    page = f"/journeys/{journey_id}"
    resp = ui.post(f"{page}/enrol", {"segment": str(seg_id)}, page=page)
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200 and 'data-testid="confirm-count">3 contacts<' in body and "Shosha" in body
    with services.db.begin() as s:
        assert s.scalar(select(func.count()).select_from(JourneyEnrolment)) == 0
    resp = ui.post(f"{page}/enrol", _confirm({"segment": str(seg_id)}, 3), page=page, follow_redirects=True)
    assert "Enrolled 3 of 3 contacts." in resp.get_data(as_text=True)
    with services.db.begin() as s:
        assert s.scalar(select(func.count()).select_from(JourneyEnrolment)) == 3
        assert s.scalar(select(func.count()).select_from(Contact)) == 3
