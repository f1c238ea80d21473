"""Entry triggers start walks by the one rule of campaigns.journeys.walk_entry, the same as the canvas and the
API: unsubscribed and suppressed contacts never enter, a contact with an active walk never enters twice, one
that walked before only with re-entry, and a trigger seen twice (a late commit re-read) starts one walk. The
walk records what started it (`source`), and its path shows it on the start node until it leaves."""

from __future__ import annotations

from sqlalchemy import select

from campaigns.automation import service
from campaigns.db import now_utc
from campaigns.journeys import walk_entry
from campaigns.models import (
    ContactStatus,
    Event,
    Journey,
    JourneyEnrolment,
    JourneyEnrolmentStatus,
    Suppression,
)
from tests.automation.engine_helpers import enrol, publish, tick
from tests.factories import make_contact

GRAPH = {"start": "w", "nodes": [{"id": "w", "type": "wait", "wait": {"minutes": 60 * 24}}], "edges": []}


def _walks(services, journey_id: int) -> dict[int, list[JourneyEnrolment]]:
    with services.db.factory() as s:
        out: dict[int, list[JourneyEnrolment]] = {}
        for w in s.scalars(select(JourneyEnrolment).where(JourneyEnrolment.journey_id == journey_id)
                           .order_by(JourneyEnrolment.id)):
            s.expunge(w)
            out.setdefault(w.contact_id, []).append(w)
        return out


def test_an_event_trigger_starts_walks_by_the_one_rule(app, services):
    with services.db.begin() as s:
        journey = publish(s, GRAPH, settings={"entry": [{"kind": "event", "name": "signed_up"}]})
        jid = journey.id
        fresh = make_contact(s, "fresh@example.jp").id
        gone = make_contact(s, "gone@example.jp", status=ContactStatus.UNSUBSCRIBED).id
        blocked = make_contact(s, "blocked@example.jp").id
        s.add(Suppression(email="blocked@example.jp", reason="manual"))
        walking = make_contact(s, "walking@example.jp").id
    enrol(services, jid, [walking])  # already walking, by hand
    tick(services)  # the cursors start here
    with services.db.begin() as s:
        for contact in (fresh, gone, blocked, walking):
            s.add(Event(contact_id=contact, name="signed_up", properties={"plan": "pro"}, source="api"))
    assert tick(services).get("enrolled") == 1
    walks = _walks(services, jid)
    assert set(walks) == {fresh, walking} and len(walks[walking]) == 1
    (started,) = walks[fresh]
    with services.db.factory() as s:
        event_id = s.scalar(select(Event.id).where(Event.contact_id == fresh))
        assert (started.source, started.context, started.cycle, started.test) == (
            f"event:{event_id}", {"plan": "pro"}, 1, False)
        path = service.contact_path(s, s.get(JourneyEnrolment, started.id))
    assert [(p["node"], p["left_at"], p["detail"]) for p in path] == [("w", None, f"entered: event:{event_id}")]

    # The same trigger seen again after the walk ended, with re-entry allowed: nothing (once per source);
    # another source: a second cycle. Without re-entry, never.
    with services.db.begin() as s:
        s.get(JourneyEnrolment, started.id).status = JourneyEnrolmentStatus.COMPLETED
        version = s.get(Journey, jid).live_version_id

        def again(source: str, reentry: bool) -> list[int]:
            return walk_entry.enrol_version(s, jid, version, "w", [fresh], source=source, reentry=reentry,
                                            now=now_utc(), once_per_source=True)

        assert again(f"event:{event_id}", True) == []
        assert again("event:other", False) == []
        assert len(again("event:other", True)) == 1
    assert [w.cycle for w in _walks(services, jid)[fresh]] == [1, 2]
