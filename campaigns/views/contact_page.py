"""The contact page (`contacts.show`): who the contact is, the story so far, and the privacy actions.

- show: profile, lists, scoring panel, the sequences the contact is in with what comes next, the path the
  latest walk of each journey took (node by node: entered, left, by which exit, in words), and one
  timeline (campaigns.insights.timeline) paged by `?before=<cursor>` ("show more");
- erase: a POST that must carry the contact's address or the word ERASE / 削除 typed again, then calls
  campaigns.leads.erase.erase_contact (the audit line names the logged-in user);
- export: the contact's data as JSON or CSV (campaigns.insights.contact_export).

Routes hang on the `contacts` blueprint of campaigns.views.contacts so that endpoint names stay
`contacts.*`; campaigns.views imports this module before it registers the blueprint.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Response, abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.automation.service import contact_path
from campaigns.i18n import _
from campaigns.insights.contact_export import contact_export, export_csv
from campaigns.insights.timeline import Cursor, contact_programs, contact_timeline
from campaigns.leads.erase import EraseError, erase_contact, is_erased
from campaigns.models import Contact, Journey, JourneyEnrolment, JourneyEnrolmentStatus, JourneyVersion
from campaigns.runtime import services
from campaigns.suppression import suppression_entry
from campaigns.views.builder_common import account_zone
from campaigns.views.contacts import bp
from campaigns.views.scoring import contact_panel

ERASE_WORDS = ("ERASE", "削除", "消去")
PATH_ROWS = 30  # rows of a walk's path shown; older ones are counted ("and N more")

# A node's type in words, for nodes the marketer did not name (docs/journeys.md).
NODE_TYPE_WORDS = {
    "send": "Send mail", "wait": "Wait", "wait_for": "Wait for an event", "branch": "Branch",
    "split": "Random split", "action": "Action", "end": "End",
}
# The exits every node type shares, in words; branch and split paths are worded from the graph.
EXIT_WORDS = {
    "next": "Next", "yes": "Matched the condition", "no": "Did not match", "else": "Matched no condition",
    "happened": "It happened", "timeout": "Timed out", "end": "Finished the journey", "exit": "Left the journey",
    "goal": "Reached the goal", "removed": "Taken out when a new version was published",
    "moved": "Moved by a new version",
}
# What started a walk (the first step's "entered: <source>"), by the source's prefix.
SOURCE_WORDS = {
    "manual": "Added by hand", "segment": "Entered from a segment", "event": "Entered by an event",
    "form": "Entered by a form", "stage": "Entered by a stage change", "journey": "Sent here by another journey",
    "sequence": "Moved from a sequence", "api": "Added through the API", "test": "A test run",
}


def _contact_or_404(contact_id: int) -> Contact:
    contact = services().db.session.get(Contact, contact_id)
    if contact is None:
        abort(404)
    return contact


@bp.get("/<int:contact_id>")
def show(contact_id: int) -> Any:
    """The contact page: profile, lists, scoring, sequences, the timeline (one page of it)."""
    s = services().db.session
    contact = _contact_or_404(contact_id)
    zone = account_zone()
    cursor = Cursor.parse(request.args.get("before"))
    page = contact_timeline(s, contact.id, zone, before=cursor)
    programs = contact_programs(s, contact.id, zone)
    paths = journey_paths(s, contact.id)
    suppressed = suppression_entry(s, contact.email)
    panel = contact_panel(s, contact)  # score chart, stage timeline, sales stage form
    s.commit()
    more_url = (url_for("contacts.show", contact_id=contact.id, before=page.next_cursor.token(), _anchor="timeline")
                if page.next_cursor else None)
    return render_template(
        "ui/contacts/show.html", contact=contact, timeline=page, programs=programs, suppression=suppressed,
        more_url=more_url, first_url=url_for("contacts.show", contact_id=contact.id, _anchor="timeline")
        if cursor else None, erased=is_erased(contact), zone_name=zone.key, paths=paths, **panel,
    )


@dataclass
class PathRow:
    """One node a walk entered, in words: `label` is the node's name (data) or, unnamed, its type (an English
    key); `exit_text` / `exit_params` the exit taken (English key); `here` for the node an active walk is at."""

    label: str
    named: bool
    entered_at: datetime
    left_at: datetime | None
    exit_text: str
    exit_params: dict[str, str]
    here: bool
    note: str  # what started the walk (English key), first row only


@dataclass
class WalkPath:
    journey_id: int
    active: bool
    rows: list[PathRow]
    total: int  # rows in the whole path; rows holds the latest PATH_ROWS

    @property
    def more(self) -> int:
        return self.total - len(self.rows)


def journey_paths(session: Session, contact_id: int) -> dict[tuple[str, datetime], WalkPath]:
    """The path of the latest walk of each journey the contact is or was in, keyed by (journey name, enrolled
    at) as the contact page's programs carry them (campaigns.insights.timeline._journeys)."""
    walks = session.execute(
        select(JourneyEnrolment, Journey.name).join(Journey, Journey.id == JourneyEnrolment.journey_id)
        .where(JourneyEnrolment.contact_id == contact_id).order_by(JourneyEnrolment.id.desc()).limit(100)).all()
    latest: dict[int, tuple[JourneyEnrolment, str]] = {}
    for walk, name in walks:
        latest.setdefault(walk.journey_id, (walk, name))
    graphs: dict[int, dict[str, dict[str, Any]]] = {}
    out: dict[tuple[str, datetime], WalkPath] = {}
    for walk, name in latest.values():
        steps = contact_path(session, walk)
        active = walk.status == JourneyEnrolmentStatus.ACTIVE
        rows = []
        for index, step in enumerate(steps):
            vid = int(step["version_id"])
            if vid not in graphs:
                version = session.get(JourneyVersion, vid)
                graphs[vid] = {str(n.get("id")): n for n in ((version.graph or {}).get("nodes", []) if version else [])
                               if isinstance(n, dict)}
            node = graphs[vid].get(str(step["node"]), {})
            here = active and step["left_at"] is None
            text, params = ("", {}) if here else _exit_words(str(step["exit"] or ""), node)
            rows.append(PathRow(
                label=str(step["name"] or NODE_TYPE_WORDS.get(str(step["type"]), "Step")), named=bool(step["name"]),
                entered_at=step["entered_at"], left_at=step["left_at"], exit_text=text, exit_params=params, here=here,
                note=_source_words(str(step["detail"] or "")) if index == 0 else ""))
        out[(name, _aware(walk.enrolled_at))] = WalkPath(walk.journey_id, active, rows[-PATH_ROWS:], len(rows))
    return out


def _exit_words(exit: str, node: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The exit a step left by, as an English key with parameters: never the raw code."""
    if exit in EXIT_WORDS:
        return EXIT_WORDS[exit], {}
    if node.get("type") == "branch":
        for branch in node.get("branches") or []:
            if isinstance(branch, dict) and str(branch.get("key")) == exit and branch.get("label"):
                return "Matched: %(label)s", {"label": str(branch["label"])}
        return "Matched the condition", {}
    if node.get("type") == "split":
        keys = [str(p.get("key")) for p in node.get("paths") or [] if isinstance(p, dict)]
        if exit in keys:  # paths are lettered A, B, C ... in the order the marketer drew them
            return "Path %(key)s", {"key": chr(ord("A") + keys.index(exit)) if keys.index(exit) < 26 else exit}
    return ("Moved on", {}) if exit else ("", {})


def _source_words(detail: str) -> str:
    if not detail.startswith("entered: "):
        return ""
    return SOURCE_WORDS.get(detail.removeprefix("entered: ").split(":", 1)[0], "")


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def confirmation_matches(typed: str, contact: Contact) -> bool:
    """The erase form's check: the contact's address (any letter case) or ERASE / 削除 / 消去, as typed (NFKC, so
    a full-width ＥＲＡＳＥ counts)."""
    text = unicodedata.normalize("NFKC", typed or "").strip()
    return bool(text) and (text in ERASE_WORDS or text.upper() == "ERASE" or text.lower() == contact.email.lower())


@bp.post("/<int:contact_id>/erase")
def erase(contact_id: int) -> Any:
    """Erase the contact's personal data after the typed confirmation; a wrong one changes nothing."""
    db = services().db
    contact = _contact_or_404(contact_id)
    if not confirmation_matches(request.form.get("confirm", ""), contact):
        db.session.rollback()
        flash(_("Nothing was erased: type the contact's email address or ERASE to confirm."), "error")
        return redirect(url_for("contacts.show", contact_id=contact_id, _anchor="erase"))
    who = getattr(getattr(g, "user", None), "email", "") or "unknown"
    try:
        erase_contact(db.session, contact_id, actor=f"user:{who}")
    except EraseError as exc:
        db.session.rollback()
        flash(_(str(exc)), "error")
        return redirect(url_for("contacts.show", contact_id=contact_id))
    db.session.commit()
    flash(_("The contact's personal data was erased. The address stays on the suppression list."), "success")
    return redirect(url_for("contacts.show", contact_id=contact_id))


@bp.get("/<int:contact_id>/export.json")
def export_json(contact_id: int) -> Any:
    """Download everything held about the contact as JSON."""
    return _export(contact_id, "json")


@bp.get("/<int:contact_id>/export.csv")
def export_csv_file(contact_id: int) -> Any:
    """Download everything held about the contact as one CSV."""
    return _export(contact_id, "csv")


def _export(contact_id: int, fmt: str) -> Any:
    s = services().db.session
    data = contact_export(s, contact_id, account_zone())
    s.commit()
    if data is None:
        abort(404)
    name = f"contact-{contact_id}.{fmt}"
    if fmt == "json":
        body, mimetype = json.dumps(data, ensure_ascii=False, indent=2), "application/json"
    else:
        body, mimetype = export_csv(data), "text/csv; charset=utf-8"  # with a BOM: Excel reads UTF-8
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'})
