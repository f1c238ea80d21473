"""Helpers for the engine tests: a journey built and published through the service, ticks of the real
engine, the mails the real sender delivered, and hits through the real pixel and click endpoints."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from campaigns.automation import engine, service
from campaigns.db import now_utc
from campaigns.models import Journey, JourneyEnrolment, JourneyStep, Send
from tests.conftest import run_jobs
from tests.factories import make_contact
from tests.sending_helpers import make_version, setup_account
from tests.tracking_helpers import drain

HTML = """<html><body><h1>Hello {{ contact.first_name }}</h1>
<p><a href="https://acme.test/case-study">Read the case study</a></p>
<p><a href="https://acme.test/pricing">Pricing</a></p></body></html>"""


def template(session: Any, name: str = "Case study") -> int:
    """A compiled template (links recorded), with the account's sender identity filled in."""
    setup_account(session)
    return make_version(session, html=HTML, subject=f"{name} for {{{{ contact.first_name }}}}", name=name).template_id


def publish(session: Any, graph: dict[str, Any], settings: dict[str, Any] | None = None,
            name: str = "Nurture journey") -> Journey:
    """Create a journey with this graph and settings and publish it (live)."""
    journey = service.create_journey(session, name, graph=graph, settings=settings or {})
    service.publish(session, journey)
    session.flush()
    return journey


def branch_journey(services: Any, contacts: int = 12) -> tuple[int, list[int]]:
    """A live journey mail -> branch (employees > 100) -> big_mail / small_mail, and `contacts` contacts
    c<i>@example.jp, every other one big (the worker's crash test uses it too)."""
    with services.db.begin() as s:
        tid = template(s)
        journey = publish(s, {
            "start": "mail", "nodes": [
                {"id": "mail", "type": "send", "template_id": tid},
                {"id": "which", "type": "branch", "branches": [{"key": "big", "condition": {"rules": {"all": [
                    {"field": "attributes.employees", "op": "gt", "value": 100}]}}}]},
                {"id": "big_mail", "type": "send", "template_id": tid},
                {"id": "small_mail", "type": "send", "template_id": tid}],
            "edges": [{"from": "mail", "exit": "next", "to": "which"},
                      {"from": "which", "exit": "big", "to": "big_mail"},
                      {"from": "which", "exit": "else", "to": "small_mail"}]})
        ids = [make_contact(s, f"c{i}@example.jp", attributes={"employees": 50 + 100 * (i % 2)}).id
               for i in range(contacts)]
        return journey.id, ids


def enrol(services: Any, journey_id: int, contact_ids: list[int], context: dict[str, Any] | None = None) -> int:
    with services.db.begin() as s:
        journey = s.get(Journey, journey_id)
        return service.enrol_contacts(s, journey, contact_ids, "manual", context=context)


def tick(services: Any, now: datetime | None = None) -> dict[str, int]:
    """One engine pass (what the scheduler's journeys duty runs)."""
    return dict(engine.tick(services, now or now_utc()))


def deliver(app: Any) -> int:
    """Run the queued delivery jobs with the real sender (SMTP to the test server), then date the deliveries
    two hours back: an open seconds after delivery is a machine's prefetch by the tracking classification,
    and the tests' people read their mail later."""
    jobs = run_jobs(app)
    svc = app.extensions["nurture"]
    with svc.db.begin() as s:
        for send in s.scalars(select(Send).where(Send.sent_at.is_not(None))):
            send.sent_at = send.sent_at - timedelta(hours=2) if send.sent_at else None
    return jobs


def walk(services: Any, journey_id: int, contact_id: int) -> JourneyEnrolment:
    with services.db.factory() as s:
        row = s.scalars(select(JourneyEnrolment).where(JourneyEnrolment.journey_id == journey_id,
                                                       JourneyEnrolment.contact_id == contact_id)
                        .order_by(JourneyEnrolment.id.desc())).first()
        assert row is not None
        s.expunge(row)
        return row


def path(services: Any, walk_id: int) -> list[tuple[str, str]]:
    """(node, exit) of every step of a walk, oldest first."""
    with services.db.factory() as s:
        return [(st.node_key, st.exit) for st in s.scalars(
            select(JourneyStep).where(JourneyStep.enrolment_id == walk_id).order_by(JourneyStep.id))]


def sends_of(services: Any, walk_id: int) -> list[Send]:
    with services.db.factory() as s:
        rows = list(s.scalars(select(Send).where(Send.journey_enrolment_id == walk_id).order_by(Send.id)))
        for r in rows:
            s.expunge(r)
        return rows


def open_mail(client: Any, app: Any, mail_html: str, ua: str, ip: str) -> None:
    """Load the mail's tracking pixel as a mail client would, then let the hit writer record it."""
    match = re.search(r'src="https?://[^/"]+(/t/o/[^"]+\.gif)"', mail_html)
    assert match, "the mail has a tracking pixel"
    client.get(match.group(1), headers={"User-Agent": ua}, environ_base={"REMOTE_ADDR": ip})
    drain(app)


def click_mail(client: Any, app: Any, mail_html: str, url_part: str, ua: str, ip: str) -> None:
    """Follow the tracked link whose target contains `url_part` (the click endpoint), then record the hit."""
    links = re.findall(r'href="https?://[^/"]+(/t/c/[^"]+)"', mail_html)
    assert links, "the mail has tracked links"
    for link in links:
        resp = client.get(link, headers={"User-Agent": ua}, environ_base={"REMOTE_ADDR": ip})
        if url_part in resp.headers.get("Location", ""):
            drain(app)
            return
    raise AssertionError(f"no tracked link leads to {url_part}")


def later(minutes: float) -> datetime:
    return now_utc() + timedelta(minutes=minutes)
