"""Fault: the whole service down for 4 hours over scheduled mail (controlled clock).

Broadcasts: one was a third delivered when the service went down (its jobs still in Redis), one came due
during the outage. On restart, with max_lateness_hours = 2 nothing stale goes out (the late broadcast is
cancelled with its reason; the half-sent one's remaining sends are cancelled at delivery); with 6 hours
both complete, each recipient once. Sequences (linear journeys, run by the journey engine): steps that fell due during the outage wait for their
contacts' send windows (per time zone) and the steps after them keep their delays from the real send."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from campaigns import scheduler
from campaigns.db import now_utc
from campaigns.delivery import sending
from campaigns.journeys.broadcasts import create_broadcast, schedule_broadcast
from campaigns.journeys.sequences import enroll_segment
from campaigns.models import Broadcast, BroadcastStatus, Contact, JourneyEnrolment, Send, SendStatus
from campaigns.users import get_account
from tests.conftest import run_jobs
from tests.factories import make_contacts, make_sequence
from tests.fault_helpers import received_by_rcpt
from tests.sending_helpers import make_version, setup_account

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")
DOWN = timedelta(hours=4)


@pytest.fixture
def app_overrides(app_overrides: dict[str, Any], request: Any) -> dict[str, Any]:
    return {**app_overrides, "max_lateness_hours": getattr(request, "param", 24.0)}


def _subjects(server: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for m in server.messages:
        subject = str(m.message["Subject"])
        out[subject] = out.get(subject, 0) + len(m.rcpt_tos)
    return out


@pytest.mark.parametrize("app_overrides", [2.0, 6.0], indirect=True, ids=["limit-2h", "limit-6h"])
def test_broadcasts_after_four_hours_down_respect_the_maximum_lateness(
    app: Any, services: Any, smtp_server: Any, app_overrides: dict[str, Any]
) -> None:
    limit = app_overrides["max_lateness_hours"]
    restart = now_utc()
    went_down = restart - DOWN
    with services.db.begin() as s:
        setup_account(s)
        get_account(s).freq_cap_count = 0
        make_contacts(s, 30)
        half = make_version(s, name="digest", subject="Monthly digest")
        late = make_version(s, name="webinar", subject="Webinar starts in one hour")
        half_sent = create_broadcast(s, "Digest", half.template_id)
        due_while_down = create_broadcast(s, "Webinar reminder", late.template_id)
        # Scheduled (days ago, on the controlled clock) for these moments around the outage.
        for broadcast, when in ((half_sent, went_down - timedelta(minutes=5)),
                                (due_while_down, went_down + timedelta(hours=1))):
            schedule_broadcast(s, broadcast)
            broadcast.scheduled_at = when
        ids = half_sent.id, due_while_down.id
    # Before the outage: the digest is planned and a third of it delivered; its jobs stay in Redis.
    counts = scheduler.tick(services, now=went_down - timedelta(minutes=5))
    assert counts.get("broadcast_sends") == 30, counts
    with services.db.begin() as s:
        digest_ids = sorted(s.scalars(select(Send.id).where(Send.broadcast_id == ids[0])))
    with pytest.MonkeyPatch.context() as clock:  # the sender's clock, too, reads the minute before the outage
        clock.setattr(sending, "now_utc", lambda: went_down - timedelta(minutes=1))
        sending.deliver_batch(services, digest_ids[:10])
    assert len(smtp_server.messages) == 10
    smtp_server.clear()

    # The restart, 4 hours later: the scheduler ticks and the workers drain what is queued.
    counts = scheduler.tick(services, now=restart)
    run_jobs(app)
    counts.update({f"after_{k}": v for k, v in scheduler.tick(services, now=restart).items()})
    got = _subjects(smtp_server)
    with services.db.begin() as s:
        digest, webinar = s.get(Broadcast, ids[0]), s.get(Broadcast, ids[1])
        digest_rows = list(s.scalars(select(Send).where(Send.broadcast_id == ids[0])))
        webinar_sends = list(s.scalars(select(Send).where(Send.broadcast_id == ids[1])))
    if limit < 3:
        # 3 hours late with a 2-hour limit: nothing of it goes, and the marketer sees why.
        assert webinar.status == BroadcastStatus.CANCELLED and "3.0 hours late" in webinar.options["cancel_reason"]
        assert webinar_sends == []
        # The digest's remaining sends were planned 4 h 5 min ago: cancelled at delivery, not blasted.
        assert got == {}
        assert Counter(r.status for r in digest_rows) == {SendStatus.SENT: 10, SendStatus.CANCELLED: 20}
        assert all("planned more than 2 hours" in r.error for r in digest_rows if r.status == SendStatus.CANCELLED)
    else:
        assert got == {"Webinar starts in one hour": 30, "Monthly digest": 20}
        assert received_by_rcpt(smtp_server).most_common(1)[0][1] == 2  # one of each, nobody twice of one
        assert all(r.status == SendStatus.SENT for r in digest_rows + webinar_sends)
        assert webinar.status == BroadcastStatus.SENT
    assert digest.status == BroadcastStatus.SENT  # nothing left pending either way
    print(f"\nlimit {limit:g} h, down {DOWN}: delivered after restart {got or 'nothing'}; tick {counts}")


def _next_monday_tokyo() -> datetime:
    """A Monday 00:00 in Tokyo at least a week ahead: the controlled clock never runs behind the real one,
    so sends planned on it are never 'late' at delivery whatever day the suite runs."""
    day = (now_utc() + timedelta(days=7)).astimezone(TOKYO).date()
    day += timedelta(days=(7 - day.weekday()) % 7)
    return datetime(day.year, day.month, day.day, tzinfo=TOKYO)


def test_sequences_resume_in_their_send_windows_after_four_hours_down(app: Any, services: Any, smtp_server: Any) -> None:
    monday = _next_monday_tokyo()
    window = {"window_days": "12345", "window_start_hour": 9, "window_end_hour": 17}
    with services.db.begin() as s:
        setup_account(s)
        get_account(s).freq_cap_count = 0
        first = make_version(s, name="first", subject="Step one")
        second = make_version(s, name="second", subject="Step two")
        third = make_version(s, name="third", subject="Step three")
        sequence = make_sequence(s, [
            {"template_id": first.template_id, "delay_minutes": 0, **window},
            {"template_id": second.template_id, "delay_minutes": 60, **window},
            {"template_id": third.template_id, "delay_minutes": 60, **window},
        ])
        tokyo = Contact(email="tokyo@example.com", timezone="Asia/Tokyo")
        new_york = Contact(email="ny@example.com", timezone="America/New_York")
        s.add_all([tokyo, new_york])
        s.flush()
        # Enrolled Monday 15:00 Tokyo = Monday 01:00 in New York.
        enrolled = monday.replace(hour=15).astimezone(UTC)
        enroll_segment(s, sequence, [tokyo.id, new_york.id], now=enrolled)
    # 15:00 Tokyo: step one goes to Tokyo; New York (01:00) waits for 09:00 its time.
    assert scheduler.tick(services, now=enrolled)["planned"] == 1
    run_jobs(app)
    went_down = enrolled + timedelta(minutes=30)  # 15:30 Tokyo: down until 19:30 Tokyo (05:30 New York)
    restart = went_down + DOWN
    # Tokyo's step two fell due at 16:00 Tokyo, inside the window, while nothing ran. At the restart it
    # is 19:30 there: outside the window, so it is not sent now but at Tuesday 09:00 Tokyo.
    counts = scheduler.tick(services, now=restart)
    assert counts.get("planned", 0) == 0, counts
    with services.db.begin() as s:
        due = {w.contact_id: w.due_at for w in s.scalars(select(JourneyEnrolment))}  # the sequence runs as a journey
    tuesday_nine_tokyo = (monday + timedelta(days=1)).replace(hour=9)
    nine_new_york = datetime.combine(enrolled.astimezone(NEW_YORK).date(), datetime.min.time(), NEW_YORK).replace(hour=9)
    assert due[tokyo.id] == tuesday_nine_tokyo
    assert due[new_york.id] == nine_new_york  # Monday 09:00 in New York, not at once
    assert scheduler.tick(services, now=nine_new_york - timedelta(seconds=1)).get("planned", 0) == 0
    assert scheduler.tick(services, now=nine_new_york)["planned"] == 1  # New York's step one
    # Tuesday 09:00 Tokyo: step two; step three keeps its 60-minute delay from the real send.
    assert scheduler.tick(services, now=tuesday_nine_tokyo)["planned"] == 1
    assert scheduler.tick(services, now=tuesday_nine_tokyo + timedelta(minutes=59)).get("planned", 0) == 0
    assert scheduler.tick(services, now=tuesday_nine_tokyo + timedelta(minutes=60))["planned"] == 1
    run_jobs(app)
    by_rcpt: dict[str, list[str]] = {}
    for m in smtp_server.messages:
        for r in m.rcpt_tos:
            by_rcpt.setdefault(r, []).append(str(m.message["Subject"]))
    assert by_rcpt == {"tokyo@example.com": ["Step one", "Step two", "Step three"], "ny@example.com": ["Step one"]}
