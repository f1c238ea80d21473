"""UI area: website visitors (Insights -> Recent visitors, and the website report).

- index (`/visitors`): known and anonymous visitors (anonymous ones by the company found for their IP),
  newest last visit first, filterable by page pattern (/pricing*), known / anonymous and period; times in
  the account's zone, labelled; keyset pages (`?before=`). A bad pattern is a 400 with the reason, not a 500.
- report (`/visitors/report`): the pages known leads visit most, per stage; and for a chosen mail (a broadcast,
  or a journey's mail node: `?mail=b:<id>` / `j:<journey>:<node>`, or `?broadcast=<id>` from the broadcast
  report), what its clickers visited within 1, 24 or 72 hours of their click; it links back to that report.
Read-only: every number comes from campaigns.insights.web_reports.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, render_template, request, url_for

from campaigns.audience.web_conditions import PatternError, clean_pattern
from campaigns.db import now_utc
from campaigns.i18n import _
from campaigns.insights import web_reports
from campaigns.models import Stage
from campaigns.runtime import services
from campaigns.views.builder_common import account_zone, install_filters

bp = Blueprint("visitors", __name__, url_prefix="/visitors")
install_filters(bp)

PERIODS = (1, 7, 30, 90)
AFTER_CLICK_HOURS = (1, 24, 72)


def _choice(name: str, allowed: tuple[Any, ...], default: Any) -> Any:
    raw = (request.args.get(name) or "").strip()
    for value in allowed:
        if raw == str(value):
            return value
    return default


@bp.get("")
def index() -> Any:
    """Recent visitors, newest first (filters in the query string)."""
    session = services().db.session
    days = _choice("days", PERIODS, 7)
    who = _choice("who", web_reports.WHO, "all")
    raw_pattern = (request.args.get("page") or "").strip()
    error, pattern = "", None
    if raw_pattern:
        try:
            pattern = clean_pattern(raw_pattern)
        except PatternError as exc:
            error = _(str(exc))
    page = web_reports.VisitorPage([], None)
    if not error:
        page = web_reports.recent_visitors(session, now_utc() - timedelta(days=days), pattern=pattern, who=who,
                                           before=request.args.get("before"))
    session.commit()
    args = {"days": days, "who": who, **({"page": raw_pattern} if raw_pattern else {})}
    more_url = url_for("visitors.index", before=page.next_cursor, **args) if page.next_cursor else None
    first_url = url_for("visitors.index", **args) if request.args.get("before") else None
    return render_template("ui/visitors/index.html", page=page, days=days, who=who, pattern=raw_pattern,
                           periods=PERIODS, error=error, more_url=more_url, first_url=first_url,
                           zone_name=account_zone().key), (400 if error else 200)


def _chosen_mail(choices: list[web_reports.MailChoice]) -> web_reports.MailChoice | None:
    """The mail named by ?mail= ("b:12", "j:3:n1") or ?broadcast=12 (the broadcast report's link), if it is one
    of the choices; else the newest."""
    raw = (request.args.get("mail") or "").strip()
    broadcast = (request.args.get("broadcast") or "").strip()
    if not raw and broadcast:
        raw = f"b:{broadcast}"
    by_value = {c.value: c for c in choices}
    return by_value.get(raw) or (choices[0] if choices else None)


@bp.get("/report")
def report() -> Any:
    """Top pages among known leads by stage; a mail's (broadcast or journey mail) clickers' visits after the click."""
    session = services().db.session
    days = _choice("days", PERIODS, 30)
    hours = _choice("hours", AFTER_CLICK_HOURS, 24)
    top = web_reports.top_pages_by_stage(session, now_utc() - timedelta(days=days), per_stage=5)
    choices = web_reports.mail_choices(session)
    chosen = _chosen_mail(choices)
    after = None
    if chosen is not None:
        after = web_reports.visits_after_click(session, broadcast_id=chosen.broadcast_id,
                                               journey_id=chosen.journey_id, node_key=chosen.node_key, hours=hours)
    session.commit()
    broadcasts = [c for c in choices if c.broadcast_id is not None]
    journeys: dict[str, list[web_reports.MailChoice]] = {}
    for c in choices:
        if c.journey_id is not None:
            journeys.setdefault(f"{c.journey_id}", []).append(c)
    return render_template("ui/visitors/report.html", top=top, stages=[s.value for s in Stage], days=days,
                           periods=PERIODS, broadcasts=broadcasts, journeys=list(journeys.values()), chosen=chosen,
                           after=after, hours=hours, hour_choices=AFTER_CLICK_HOURS)
