"""What the engine does around pauses and dates: a paused journey holds its walks and lets nobody in, but an
event a walk waits for that arrives during the pause still counts (the walk moves on when the journey is
resumed); date entry triggers on an event's property (the day before the seminar a lead registered for)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from campaigns.automation import happenings, service
from campaigns.models import Contact, Event, Journey, JourneyEnrolment
from tests.automation.engine_helpers import enrol, path, publish, sends_of, template, tick, walk
from tests.factories import make_contact


def test_an_event_during_a_pause_counts_when_the_journey_resumes_and_nobody_enters_meanwhile(app, services):
    with services.db.begin() as s:
        tid = template(s)
        journey = publish(s, {"start": "w", "nodes": [
            {"id": "w", "type": "wait_for", "until": {"kind": "event", "name": "webinar_attended"},
             "timeout": {"minutes": 60 * 24}},
            {"id": "thanks", "type": "send", "template_id": tid}],
            "edges": [{"from": "w", "exit": "happened", "to": "thanks"}]},
            settings={"entry": [{"kind": "event", "name": "whitepaper_downloaded"}]})
        jid = journey.id
        waiting, newcomer = make_contact(s, "waiting@example.jp").id, make_contact(s, "new@example.jp").id
    enrol(services, jid, [waiting])
    tick(services)  # waiting at w; the cursors start here
    with services.db.begin() as s:
        service.pause(s, s.get(Journey, jid))
    with services.db.begin() as s:
        s.add(Event(contact_id=waiting, name="webinar_attended", properties={}, source="api"))
        s.add(Event(contact_id=newcomer, name="whitepaper_downloaded", properties={}, source="api"))
    counts = tick(services)
    held = walk(services, jid, waiting)
    # The wait ended by the event: the walk stands at the next node, which does not run while paused.
    assert counts.get("happened") == 1 and not counts.get("planned")
    assert (held.node_key, held.status, held.waiting) == ("thanks", "active", False)
    assert sends_of(services, held.id) == []
    with services.db.factory() as s:  # nobody enters a paused journey
        assert s.scalar(select(JourneyEnrolment.id).where(JourneyEnrolment.contact_id == newcomer)) is None
    tick(services)
    assert sends_of(services, held.id) == []
    with services.db.begin() as s:
        service.resume(s, s.get(Journey, jid))
    assert tick(services)["planned"] == 1
    assert path(services, held.id) == [("w", "happened"), ("thanks", "next")]


def test_date_trigger_on_an_event_property_starts_a_walk_the_day_before(app, services):
    tokyo = ZoneInfo("Asia/Tokyo")
    start = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    seminar = datetime(2026, 12, 3, tzinfo=tokyo).date()  # the walk starts on 12-02 at 09:00 in Tokyo
    with services.db.begin() as s:
        journey = publish(s, {"start": "tag", "nodes": [
            {"id": "tag", "type": "action", "action": {"kind": "set_attribute", "key": "reminded", "value": "yes"}},
            {"id": "hold", "type": "wait", "wait": {"date": {"event_property": "seminar_date", "hour": 18}}}],
            "edges": [{"from": "tag", "exit": "next", "to": "hold"}]},
            settings={"entry": [{"kind": "date", "event": "seminar_registered", "event_property": "seminar_date",
                                 "offset_days": -1, "hour": 9}]})
        jid = journey.id
        lead = make_contact(s, "lead@example.jp", timezone="Asia/Tokyo").id
        other = make_contact(s, "other@example.jp", timezone="Asia/Tokyo").id
        for contact_id, name, day in ((lead, "seminar_registered", seminar), (other, "seminar_registered", seminar +
                                      timedelta(days=10)), (other, "newsletter_opened", seminar)):
            s.add(Event(contact_id=contact_id, name=name, properties={"seminar_date": day.isoformat()},
                        source="api", occurred_at=start - timedelta(days=5), created_at=start - timedelta(days=5)))

    def dates_at(when: datetime) -> None:
        services.redis.delete(happenings.DATES_KEY)  # the hourly guard
        tick(services, when)

    dates_at(start)  # the first check only starts the clock
    dates_at(datetime(2026, 12, 2, 8, 0, tzinfo=tokyo))  # an hour early: nothing yet
    with services.db.factory() as s:
        assert s.scalars(select(JourneyEnrolment).where(JourneyEnrolment.journey_id == jid)).all() == []
    dates_at(datetime(2026, 12, 2, 10, 0, tzinfo=tokyo))
    w = walk(services, jid, lead)
    assert w.source.startswith("date:seminar_date:") and w.context == {"seminar_date": seminar.isoformat()}
    # the walk carries the event's properties: its own wait on the same property ends at 18:00 that day
    assert (w.node_key, w.due_at) == ("hold", datetime(2026, 12, 3, 18, 0, tzinfo=tokyo).astimezone(UTC))
    with services.db.factory() as s:
        assert s.get(Contact, lead).attributes.get("reminded") == "yes"
        assert s.scalars(select(JourneyEnrolment).where(JourneyEnrolment.contact_id == other)).all() == []
    dates_at(datetime(2026, 12, 2, 12, 0, tzinfo=tokyo))  # once per event
    with services.db.factory() as s:
        assert len(s.scalars(select(JourneyEnrolment).where(JourneyEnrolment.journey_id == jid)).all()) == 1


def test_segment_trigger_with_reentry_starts_a_walk_each_time_a_contact_enters_the_segment(app, services):
    from campaigns.models import Segment

    with services.db.begin() as s:
        segment = Segment(name="Trial", rules={"all": [{"field": "attributes.plan", "op": "eq", "value": "trial"}]})
        s.add(segment)
        s.flush()
        journey = publish(s, {"start": "a", "nodes": [
            {"id": "a", "type": "action", "action": {"kind": "set_attribute", "key": "seen", "value": "yes"}}],
            "edges": []}, settings={"entry": [{"kind": "segment", "segment_id": segment.id}], "reentry": True})
        jid = journey.id
        lead = make_contact(s, "trial@example.jp", attributes={"plan": "trial"}).id

    def evaluate(plan: str | None = None) -> None:
        if plan is not None:
            with services.db.begin() as s:
                contact = s.get(Contact, lead)
                contact.attributes = {**contact.attributes, "plan": plan}
        services.redis.delete(happenings.PERIODIC_KEY)  # the once-a-minute guard
        tick(services)
        tick(services)  # the walk runs and completes

    def cycles() -> list[tuple[int, str]]:
        with services.db.factory() as s:
            return [(w.cycle, str(w.status)) for w in s.scalars(
                select(JourneyEnrolment).where(JourneyEnrolment.journey_id == jid).order_by(JourneyEnrolment.cycle))]

    evaluate()
    assert cycles() == [(1, "completed")]
    evaluate()  # still in the segment: no loop
    assert cycles() == [(1, "completed")]
    evaluate("paid")  # left it
    evaluate("trial")  # came back: a second walk
    assert cycles() == [(1, "completed"), (2, "completed")]
