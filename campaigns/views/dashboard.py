"""The landing page: headline counts, weekly trends, the campaigns running now, and a getting-started checklist.

Trends are the last 13 weeks (Monday to Sunday in the account's zone): mails sent, human opens and clicks
(tracking hits classified human; machine opens and scanner clicks are left out as everywhere), new leads
and new MQLs, counted by campaigns.insights.trends and kept a minute (the page says when they were counted).
The checklist reads real state only (nothing is ticked by hand): the sender identity, DKIM configured, an import done, a journey live, a website visit received (the snippet is installed), a form
published.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, render_template, url_for
from sqlalchemy import and_, exists, func, select

from campaigns.db import now_utc
from campaigns.i18n import format_date
from campaigns.i18n import gettext as _
from campaigns.insights.trends import WEEKS, weekly_series
from campaigns.models import (
    ABStatus,
    ABTest,
    Broadcast,
    BroadcastStatus,
    Contact,
    ContactStatus,
    Form,
    ImportJob,
    ImportStatus,
    Journey,
    JourneyEnrolment,
    JourneyStatus,
    Send,
    SendStatus,
)
from campaigns.models.forms import FormStatus
from campaigns.models.web import WebVisit
from campaigns.runtime import services
from campaigns.users import get_account
from campaigns.views.builder_common import account_zone, install_filters

bp = Blueprint("dashboard", __name__)
install_filters(bp)

def trends(session: Any, now: datetime) -> dict[str, Any]:
    """The weekly series the chart and its table show (campaigns.insights.trends, cached a minute), labelled."""
    zone = account_zone()
    starts, series, counted_at = weekly_series(session, services().redis, now, zone)
    labels = [format_date(s.astimezone(zone).date(), "MMMd") for s in starts[:WEEKS]]
    return {"labels": labels, "series": series, "counted_at": counted_at,
            "empty": not any(any(v) for v in series.values())}


def running(session: Any) -> list[dict[str, Any]]:
    """What is going out now: live journeys (with their active walks), sending or scheduled broadcasts,
    and A/B tests still testing or waiting for the marketer."""
    items: list[dict[str, Any]] = []
    walks = dict(session.execute(
        select(JourneyEnrolment.journey_id, func.count()).where(JourneyEnrolment.status == "active",
                                                                JourneyEnrolment.test.is_(False))
        .group_by(JourneyEnrolment.journey_id)).all())
    for j in session.scalars(select(Journey).where(Journey.status == JourneyStatus.LIVE).order_by(Journey.name)):
        items.append({"kind": _("Journey"), "name": j.name, "url": url_for("journeys.show", journey_id=j.id),
                      "status": _("Live"), "detail": _("%(n)s contacts in the journey", n=walks.get(j.id, 0)),
                      "at": None, "testid": "running-journey"})
    for b in session.scalars(select(Broadcast).where(Broadcast.status.in_(
            [BroadcastStatus.SENDING, BroadcastStatus.SCHEDULED])).order_by(Broadcast.scheduled_at)):
        sending = b.status is BroadcastStatus.SENDING
        items.append({"kind": _("Broadcast"), "name": b.name, "url": url_for("broadcasts.show", broadcast_id=b.id),
                      "status": _("Sending") if sending else _("Scheduled to send"),
                      "detail": "" if sending else _("Goes out at"), "at": None if sending else b.scheduled_at,
                      "testid": "running-broadcast"})
    tests = session.execute(
        select(ABTest, Broadcast.name).outerjoin(Broadcast, Broadcast.id == ABTest.broadcast_id)
        .where(ABTest.status.in_([ABStatus.TESTING, ABStatus.AWAITING_DECISION])).order_by(ABTest.id)).all()
    for t, name in tests:
        waiting = t.status is ABStatus.AWAITING_DECISION
        items.append({"kind": _("A/B test"), "name": name or _("A/B test #%(id)s", id=t.id),
                      "url": url_for("abtests.show", test_id=t.id),
                      "status": _("Waiting for your decision") if waiting else _("Testing"),
                      "detail": "" if waiting or t.deadline_at is None else _("Decided at"),
                      "at": None if waiting else t.deadline_at, "testid": "running-abtest"})
    return items


def checklist(session: Any) -> list[dict[str, Any]]:
    """The getting-started steps, each ticked from what is really there, with where to do it."""
    account = get_account(session)
    cfg = services().settings
    done = {
        "sender": bool(account.from_email and account.from_name and account.postal_address),
        "dkim": bool(cfg.dkim_selector and cfg.dkim_domain and cfg.dkim_private_key_path),
        "import": bool(session.scalar(select(exists().where(ImportJob.status == ImportStatus.DONE)))),
        "journey": bool(session.scalar(select(exists().where(Journey.status == JourneyStatus.LIVE)))),
        "snippet": bool(session.scalar(select(exists().where(WebVisit.id.isnot(None))))),
        "form": bool(session.scalar(select(exists().where(Form.status == FormStatus.ACTIVE)))),
    }
    steps = [
        ("sender", _("Set your sender identity"), _("Sender name, address and postal address"),
         url_for("settings.account")),
        ("dkim", _("Configure DKIM signing"), _("Set DKIM_SELECTOR, DKIM_DOMAIN and DKIM_PRIVATE_KEY_PATH"),
         url_for("settings.account")),
        ("import", _("Import your contacts"), _("Upload a CSV file"), url_for("contacts.import_upload")),
        ("journey", _("Publish your first journey"), _("Or install a playbook"), url_for("journeys.index")),
        ("snippet", _("Install the tracking snippet"), _("Ticked when the first website visit arrives"),
         url_for("website.index")),
        ("form", _("Publish a form"), _("A hosted or embedded sign-up form"), url_for("forms.index")),
    ]
    return [{"key": k, "title": t, "hint": h, "url": u, "done": done[k]} for k, t, h, u in steps]


@bp.get("/")
def index() -> Any:
    s = services().db.session
    now = now_utc()
    since = now - timedelta(days=7)
    stats = {
        "contacts": s.scalar(select(func.count()).where(Contact.status == ContactStatus.ACTIVE)),
        "journeys": s.scalar(select(func.count()).where(Journey.status == JourneyStatus.LIVE)),
        "sent_7d": s.scalar(
            select(func.count()).where(and_(Send.status == SendStatus.SENT, Send.sent_at >= since))
        ),
        "queued": s.scalar(
            select(func.count()).where(Send.status.in_([SendStatus.QUEUED, SendStatus.SENDING]))
        ),
    }
    steps = checklist(s)
    return render_template("ui/dashboard.html", stats=stats, trends=trends(s, now), running=running(s),
                           steps=steps, steps_done=sum(1 for x in steps if x["done"]),
                           zone=account_zone().key)
