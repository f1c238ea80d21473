"""Builders for tracking and report tests: campaigns (a template version with its links, and a broadcast or
a sequence) and sends written directly with the models, so these tests do not depend on the rendering and
sending services. Contacts, templates and sequences come from tests/factories.py."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from campaigns.db import now_utc
from campaigns.engagement.hit_buffer import flush_hits
from campaigns.engagement.hit_writer import drain_once, ensure_group
from campaigns.journeys.sequences import live_steps
from campaigns.models import (
    Broadcast,
    BroadcastStatus,
    Contact,
    Enrollment,
    Link,
    Send,
    SendStatus,
    TemplateVersion,
)
from tests.factories import make_sequence, make_template

# Realistic user agents (as seen in access logs of tracking endpoints).
UA_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
UA_IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.6 Mobile/15E148 Safari/604.1"
)
UA_APPLE_MAIL = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
UA_OUTLOOK = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)"
UA_THUNDERBIRD = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0"
UA_GMAIL_PROXY = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
UA_YAHOO_PROXY = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"
UA_BARE = "Mozilla/5.0"
UA_PYTHON = "python-requests/2.32.3"
UA_PROOFPOINT = "Mozilla/5.0 (compatible; Proofpoint URL Defense)"
UA_MIMECAST = "Mimecast-URL-Protect/1.0"
UA_BARRACUDA = "Barracuda Sentinel (EE)"
UA_HEADLESS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36"
)

IP_HOME_JP = "126.15.34.77"  # a residential ISP address
IP_OFFICE = "203.0.113.45"
IP_APPLE = "17.58.101.12"
IP_GOOGLE = "66.102.8.40"
IP_MICROSOFT = "40.107.222.12"
IP_PROOFPOINT = "148.163.150.20"
IP_MIMECAST = "207.211.30.66"
IP_BARRACUDA = "209.222.82.9"


@dataclass
class Campaign:
    template_version_id: int
    link_ids: list[int]
    honeypot_id: int | None
    broadcast_id: int | None = None
    sequence_id: int | None = None
    step_ids: list[int] = field(default_factory=list)


def make_version(session: Session, urls: list[str], honeypot: bool = False, untracked: list[str] | None = None,
                 name: str = "Newsletter") -> tuple[int, list[int], int | None]:
    """A template with one version and its links (tracked, plus an optional honeypot and untracked ones)."""
    template = make_template(session, name, subject="Hello {{ contact.first_name }}", html="<p>hi</p>", text="")
    version_id = template.current_version_id
    assert version_id is not None
    link_ids = []
    position = 0
    for url in urls:
        position += 1
        link = Link(template_version_id=version_id, position=position, url=url)
        session.add(link)
        session.flush()
        link_ids.append(link.id)
    for url in untracked or []:
        position += 1
        session.add(Link(template_version_id=version_id, position=position, url=url, tracked=False))
    honeypot_id = None
    if honeypot:
        position += 1
        hp = Link(template_version_id=version_id, position=position, url="https://acme.test/hp", honeypot=True)
        session.add(hp)
        session.flush()
        honeypot_id = hp.id
    session.flush()
    return version_id, link_ids, honeypot_id


def make_broadcast(session: Session, urls: list[str] | None = None, honeypot: bool = True,
                   name: str = "November news") -> Campaign:
    """A sent broadcast with a template version and links; no sends yet."""
    version_id, link_ids, hp = make_version(
        session, urls if urls is not None else ["https://acme.test/a", "https://acme.test/b", "https://acme.test/c"],
        honeypot=honeypot,
    )
    template_id = session.get(TemplateVersion, version_id).template_id  # type: ignore[union-attr]
    b = Broadcast(name=name, template_id=template_id, status=BroadcastStatus.SENT)
    session.add(b)
    session.flush()
    return Campaign(version_id, link_ids, hp, broadcast_id=b.id)


def make_sequence_campaign(session: Session, steps: int = 2, goal_event: str = "demo_booked",
                           name: str = "Whitepaper follow-up", active: bool = True) -> Campaign:
    """A sequence with `steps` steps a day apart sharing one template version with links; activated (a live
    linear journey) unless active=False (a sequence whose report pages are its own, not its journey's)."""
    version_id, link_ids, hp = make_version(session, ["https://acme.test/demo", "https://acme.test/pricing"],
                                            honeypot=True)
    template_id = session.get(TemplateVersion, version_id).template_id  # type: ignore[union-attr]
    seq = make_sequence(session, [{"template_id": template_id, "delay_minutes": 60 * 24}] * steps, name=name,
                        goal_event=goal_event, active=active)
    step_ids = [step.id for step in live_steps(session, seq.id)]
    return Campaign(version_id, link_ids, hp, sequence_id=seq.id, step_ids=step_ids)


def make_send(session: Session, campaign: Campaign, contact: Contact, *, step_index: int | None = None,
              status: SendStatus = SendStatus.SENT, sent_at: datetime | None = None,
              enrollment: Enrollment | None = None, variant: str = "") -> Send:
    """A ledger row for the campaign (broadcast, or the step at step_index of the sequence)."""
    send = Send(
        contact_id=contact.id, template_version_id=campaign.template_version_id, status=status, variant=variant,
        sent_at=(sent_at or now_utc() - timedelta(hours=2)) if status == SendStatus.SENT else None,
    )
    if step_index is None:
        send.broadcast_id = campaign.broadcast_id
    else:
        send.step_id = campaign.step_ids[step_index]
        send.enrollment_id = enrollment.id if enrollment else None
    session.add(send)
    session.flush()
    return send


def drain(app: Any, rounds: int = 5) -> None:
    """Send this process's buffered hits to the stream (flush_hits), then run the buffered writer until
    the stream is empty (what the writer process does)."""
    flush_hits()
    svc = app.extensions["nurture"]
    ensure_group(svc.redis)
    with app.app_context():
        for _ in range(rounds):
            if not drain_once(svc, "test-writer", block_ms=None):
                break


class WriterThread:
    """The real run_writer loop in a thread, for tests that need it running while hits arrive."""

    def __init__(self, svc: Any) -> None:
        from campaigns.engagement.hit_writer import run_writer

        self.stop = threading.Event()
        self.thread = threading.Thread(target=run_writer, args=(svc, self.stop), kwargs={"block_ms": 100},
                                       daemon=True)

    def __enter__(self) -> WriterThread:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join(10)
