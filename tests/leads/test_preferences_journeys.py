"""The recipient's preference page lists the journeys the contact is walking now (a journey built on the
canvas as much as a sequence's), by their public names in English and Japanese; GET changes nothing, and
leaving one (a POST through the signed link) ends that walk: the journey's next mail never goes out, while
another contact walking the same journey still gets it. Real engine ticks, real delivery to the test SMTP."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from campaigns.models import Event, Journey, JourneyEnrolmentStatus, Send, SendStatus, Sequence
from tests.automation.engine_helpers import deliver, enrol, later, publish, template, tick, walk
from tests.factories import make_contact
from tests.tracking_helpers import make_sequence_campaign


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def _two_mail_journey(services: Any) -> int:
    """Mail, wait an hour, mail: drawn on the canvas (not a converted sequence), named for recipients."""
    with services.db.begin() as s:
        first, second = template(s, "Welcome"), template(s, "Case study")
        journey = publish(s, {"start": "m1", "nodes": [
            {"id": "m1", "type": "send", "template_id": first},
            {"id": "w", "type": "wait", "wait": {"minutes": 60}},
            {"id": "m2", "type": "send", "template_id": second}],
            "edges": [{"from": "m1", "exit": "next", "to": "w"}, {"from": "w", "exit": "next", "to": "m2"}]},
            name="Q3 webinar nurture - SMB (internal)")
        journey.public_name = "Webinar tips"
        assert journey.sequence_id is None
        return int(journey.id)


def test_preference_page_lists_a_canvas_journey_and_leaving_ends_the_walk(app, services, client, smtp_server):
    jid = _two_mail_journey(services)
    with services.db.begin() as s:
        leaver = make_contact(s, "leaver@example.jp", first_name="Leaver").id
        stayer = make_contact(s, "stayer@example.jp", first_name="Stayer").id
    assert enrol(services, jid, [leaver, stayer]) == 2
    tick(services)
    deliver(app)
    assert len(smtp_server.wait_for(2)) == 2  # the first mail to both

    url = _path(services.urls.preferences(leaver))
    english = client.get(url).get_data(as_text=True)
    assert f'data-testid="series-journey-{jid}"' in english
    assert "Webinar tips" in english and "internal" not in english and "Stop this series" in english
    japanese = client.get(url, headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "Webinar tips" in japanese and "メール配信設定" in japanese and "このメールの配信を停止" in japanese
    assert "Stop this series" not in japanese and "Email preferences" not in japanese
    assert walk(services, jid, leaver).status == JourneyEnrolmentStatus.ACTIVE  # GET changed nothing

    resp = client.post(url, data={"action": "leave", "journey_id": str(jid)})
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    assert "Webinar tips" not in page and "You are not in any email series right now." in page
    left = walk(services, jid, leaver)
    assert left.status == JourneyEnrolmentStatus.EXITED and left.exit_reason == "left via preferences"
    with services.db.factory() as s:
        assert "left_journey" in s.scalars(select(Event.name).where(Event.contact_id == leaver)).all()
        assert s.get(Journey, jid) is not None

    # An hour later the engine sends the second mail: to the contact who stayed only.
    smtp_server.messages.clear()
    tick(services, later(61))
    deliver(app)
    mails = smtp_server.wait_for(1)
    assert [m.message["To"].split("<")[-1].rstrip(">") for m in mails] == ["stayer@example.jp"]
    with services.db.factory() as s:
        leaver_sends = list(s.scalars(select(Send).where(Send.contact_id == leaver)))
        assert len(leaver_sends) == 1 and leaver_sends[0].status == SendStatus.SENT  # the first mail only
    # Leaving again is a clear 400; the page still offers "unsubscribe from all".
    assert client.post(url, data={"action": "leave", "journey_id": str(jid)}).status_code == 400


def test_converted_sequence_journey_without_its_own_public_name_shows_the_sequences(services, client):
    """A sequence's journey named only on the sequence (before the journey got public names of its own)."""
    jid = _two_mail_journey(services)
    with services.db.begin() as s:
        seq = make_sequence_campaign(s, steps=1)
        sequence = s.get(Sequence, seq.sequence_id)
        sequence.public_name = "Tips after your download"
        journey = s.get(Journey, jid)
        journey.public_name, journey.sequence_id = "", sequence.id
        contact = make_contact(s, "reader@example.jp").id
    assert enrol(services, jid, [contact]) == 1
    page = client.get(_path(services.urls.preferences(contact)), headers={"Accept-Language": "ja"})
    assert "Tips after your download" in page.get_data(as_text=True)
