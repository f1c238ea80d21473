"""The sunset policy as real suppression: a journey's "suppress" action (reason sunset) puts the address on the
suppression list, so a broadcast to all active contacts, sent by the scheduler through the real sender, does not
reach it; the contact stays active (the person did not opt out), the contact page and the suppression page say
why, and the marketer can lift it there."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from campaigns import scheduler
from campaigns.db import now_utc
from campaigns.models import Broadcast, BroadcastStatus, Contact, ContactStatus, Suppression
from campaigns.suppression import is_suppressed
from tests.automation.engine_helpers import deliver, enrol, publish, template, tick
from tests.factories import make_contact


def test_a_sunset_contact_gets_no_broadcast_to_all_active_contacts(app, services, smtp_server, ui):
    with services.db.begin() as s:
        tid = template(s, "Newsletter")
        jid = publish(s, {"start": "sunset", "nodes": [
            {"id": "sunset", "type": "action", "name": "配信停止にする", "action": {"kind": "suppress", "reason": "sunset"}},
            {"id": "mail", "type": "send", "template_id": tid}],
            "edges": [{"from": "sunset", "exit": "next", "to": "mail"}]}, name="Win-back").id
        dormant = make_contact(s, "dormant@example.jp", first_name="Dormant").id
        reader = make_contact(s, "reader@example.jp", first_name="Reader").id
    assert enrol(services, jid, [dormant]) == 1
    counts = tick(services)
    assert counts.get("suppressed") == 1 and counts.get("planned", 0) == 0  # the walk's own next mail stops too
    with services.db.factory() as s:
        entry = s.scalar(select(Suppression).where(Suppression.email == "dormant@example.jp"))
        assert entry is not None and entry.reason == "sunset" and "Win-back" in entry.detail
        assert s.get(Contact, dormant).status == ContactStatus.ACTIVE  # not an unsubscribe
        assert s.get(Contact, reader).status == ContactStatus.ACTIVE and not is_suppressed(s, "reader@example.jp")

    with services.db.begin() as s:
        s.add(Broadcast(name="December news", template_id=tid, segment_id=None, status=BroadcastStatus.SCHEDULED,
                        scheduled_at=now_utc() - timedelta(minutes=1), options={}))
    scheduler.tick(services, now=now_utc())
    deliver(app)
    mails = smtp_server.wait_for(1)
    assert [m.message["To"] for m in mails] == ["Reader <reader@example.jp>"] or \
        [m.message["To"].split("<")[-1].rstrip(">") for m in mails] == ["reader@example.jp"]

    # visible with its reason, and reversible by the marketer
    contact_page = ui.get(f"/contacts/{dormant}").get_data(as_text=True)
    assert "Sunset: no reaction to re-engagement" in contact_page
    page = ui.get("/contacts/suppressions").get_data(as_text=True)
    assert "Sunset: no reaction to re-engagement" in page and 'value="remove"' in page
    resp = ui.post("/contacts/suppressions", {"email": "dormant@example.jp", "action": "remove"},
                   page="/contacts/suppressions")
    assert resp.status_code == 302
    with services.db.factory() as s:
        assert not is_suppressed(s, "dormant@example.jp")
