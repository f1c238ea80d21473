"""Events in the UI (/events): the event browser, a test event for a chosen contact, offline activities
logged on a contact page, and the CSV event import.

- index: every event name seen (campaigns.insights.event_names: count, last seen in the account's zone,
  recent sources, an example of properties) and the "send a test event" form;
- test_event (POST): the event goes through journeys.sequences.record_event (source "test") for the
  contact picked by address (contacts.json searches by address or name): sequences it triggers start now,
  journeys on the next scheduler tick; the flash links to the contact's timeline;
- names.json: the names the pickers offer (static/event_names.js fills a <datalist> with them);
- log_activity (POST, from templates/ui/events/_activity_form.html on the contact page): an offline touch
  (campaigns.leads.activities) in the account's zone;
- import_upload -> import_map -> import_progress (+ status JSON, errors.csv): the CSV event import
  (campaigns.leads.event_import), run as an RQ job (queueing.EVENT_IMPORT) whose meta is its progress.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from rq.job import Job
from sqlalchemy import or_, select

from campaigns import queueing
from campaigns.addresses import normalize_email
from campaigns.db import now_utc
from campaigns.i18n import _
from campaigns.insights.event_names import event_names, event_summary, forget
from campaigns.journeys.sequences import MAX_NAME_LENGTH, clean_name, record_event
from campaigns.leads.activities import ACTIVITIES, ActivityError, log_activity
from campaigns.leads.contacts import contact_by_email
from campaigns.leads.csv_reader import ImportFileError
from campaigns.leads.event_import import check_import, read_head
from campaigns.models import Contact
from campaigns.params import loads as json_loads
from campaigns.runtime import services
from campaigns.spreadsheet import to_csv
from campaigns.views.builder_common import account_zone
from campaigns.views.jobs import job_or_404, job_state
from campaigns.views.text_input import checks_own_text
from campaigns.views.uploads import find_upload, receive_csv, upload_dir

bp = Blueprint("events", __name__, url_prefix="/events")

TEST_SOURCE = "test"
LOCAL_INPUT = "%Y-%m-%dT%H:%M"  # a datetime-local input's value
EXAMPLE_CHARS = 200
# Where events come from, in words (Event.source); another source is shown as stored.
SOURCE_LABELS = {
    "api": "API", "form": "Form", "tracking": "Tracking", "bounce": "Bounce", "manual": "Logged by hand",
    "import": "CSV import", "test": "Test event",
}


@bp.app_template_global()
def activity_kinds() -> list[tuple[str, str]]:
    """(kind, English label) of the activities the contact page's form offers."""
    return [(kind, label) for kind, (_name, label) in ACTIVITIES.items()]


@bp.app_template_global()
def event_source_label(source: str) -> str:
    """The English words for an event's source ("" for one this list does not know)."""
    return SOURCE_LABELS.get(source, "")


@bp.app_template_global()
def example_json(properties: dict[str, Any]) -> str:
    """An event's example properties as one line of JSON, Japanese as written, cut at EXAMPLE_CHARS."""
    text = json.dumps(properties, ensure_ascii=False, default=str)
    return text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1] + "…"


@bp.app_template_global()
def local_now_input() -> str:
    """Now in the account's zone as a datetime-local value (the forms' default date)."""
    return now_utc().astimezone(account_zone()).strftime(LOCAL_INPUT)


def _local_input(raw: str) -> datetime | None:
    try:
        return datetime.strptime((raw or "").strip(), LOCAL_INPUT).replace(tzinfo=account_zone())
    except ValueError:
        return None


# ------------------------------------------------------------------ the event browser
@bp.get("/")
def index() -> Any:
    """Every event name seen, and the test event form."""
    svc = services()
    names = event_summary(svc.db.session, svc.redis)
    svc.db.session.commit()
    return render_template("ui/events/index.html", names=names, zone_name=account_zone().key,
                           chosen=request.args.get("name", ""))


@bp.get("/names.json")
def names_json() -> Any:
    """The event names seen, for the pickers (static/event_names.js)."""
    svc = services()
    names = event_names(svc.db.session, svc.redis)
    svc.db.session.commit()
    return jsonify(names=names)


@bp.get("/contacts.json")
def contacts_json() -> Any:
    """Up to 10 contacts whose address starts with, or whose name or company contains, `q` (the test
    event's contact picker)."""
    q = (request.args.get("q") or "").strip()[:100]
    if len(q) < 2:
        return jsonify(contacts=[])
    s = services().db.session
    like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = s.scalars(
        select(Contact).where(or_(Contact.email.ilike(like[1:], escape="\\"), Contact.last_name.ilike(like, escape="\\"),
                                  Contact.first_name.ilike(like, escape="\\"), Contact.company.ilike(like, escape="\\")))
        .order_by(Contact.id.desc()).limit(10)
    ).all()
    out = [{"email": c.email, "label": " · ".join(x for x in (c.name, c.company) if x)} for c in rows]
    s.commit()
    return jsonify(contacts=out)


@bp.post("/test")
def test_event() -> Any:
    """Record a test event for the chosen contact, as the API would (sequences it triggers start)."""
    svc = services()
    s = svc.db.session
    name_raw = request.form.get("name", "")
    back = url_for("events.index", name=name_raw.strip()[:MAX_NAME_LENGTH] or None)
    try:
        name = clean_name(name_raw, "event name", MAX_NAME_LENGTH)
    except ValueError:
        flash(_("Choose or type the event's name."), "error")
        return redirect(back)
    contact = None
    email = (request.form.get("email") or "").strip()
    normalized = normalize_email(email) if email else None
    if normalized:
        contact = contact_by_email(s, normalized)
    if contact is None:
        s.rollback()
        flash(_("No contact has the address %(email)s.", email=email) if email else _("Choose a contact."), "error")
        return redirect(back)
    properties: dict[str, Any] = {}
    raw_props = (request.form.get("properties") or "").strip()
    if raw_props:
        try:
            parsed = json_loads(raw_props)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            flash(_("Properties must be a JSON object, such as {\"plan\": \"pro\"}."), "error")
            return redirect(back)
        properties = parsed
    record_event(s, contact, name, properties, source=TEST_SOURCE)
    s.commit()
    forget(svc.redis)
    flash(_("Test event %(name)s recorded for %(email)s: sequences it starts have begun, journeys follow within "
            "seconds.", name=name, email=contact.email), "success")
    return redirect(url_for("contacts.show", contact_id=contact.id, _anchor="timeline"))


# ------------------------------------------------------------------ offline activities (contact page)
@bp.post("/activity/<int:contact_id>")
@checks_own_text("note")  # log_activity applies the text rule
def log_contact_activity(contact_id: int) -> Any:
    """Log an offline touch on a contact (the contact page's activity form)."""
    svc = services()
    s = svc.db.session
    contact = s.get(Contact, contact_id)
    if contact is None:
        abort(404)
    back = url_for("contacts.show", contact_id=contact_id, _anchor="activity")
    when = _local_input(request.form.get("occurred_at", ""))
    if when is None:
        flash(_("Enter the date and time of the activity."), "error")
        return redirect(back)
    user = getattr(getattr(g, "user", None), "email", "") or ""
    try:
        log_activity(s, contact, request.form.get("kind", ""), when, request.form.get("note", ""), user)
    except ActivityError as exc:
        s.rollback()
        flash(_(str(exc)), "error")
        return redirect(back)
    s.commit()
    forget(svc.redis)
    flash(_("Activity logged."), "success")
    return redirect(url_for("contacts.show", contact_id=contact_id, _anchor="timeline"))


# ------------------------------------------------------------------ CSV event import
def _upload_dir() -> Path:
    return upload_dir("events")


@bp.route("/import", methods=["GET", "POST"])
def import_upload() -> Any:
    """Upload the attendee list or badge scans; the mapping page comes next."""
    if request.method == "POST":
        token = receive_csv(_upload_dir())
        if token:
            return redirect(url_for("events.import_map", token=token))
        return render_template("ui/events/import.html"), 400
    return render_template("ui/events/import.html")


@bp.route("/import/<token>", methods=["GET", "POST"])
def import_map(token: str) -> Any:
    """Choose the email column, the event name and its date; "start" queues the import."""
    path, filename = find_upload(_upload_dir(), token)
    svc = services()
    encoding = request.form.get("encoding", "auto")
    try:
        head = read_head(path, encoding)
    except ImportFileError as exc:
        flash(_(str(exc)), "error")
        return redirect(url_for("events.import_upload"))
    zone = account_zone()
    form: dict[str, Any] = {
        "email_column": head["email_column"], "name_column": head["name_column"],
        "company_column": head["company_column"], "date_mode": "fixed", "date_column": None,
        "fixed_local": local_now_input(), "event_name": request.args.get("name", ""), "encoding": encoding,
        "create_contacts": True,
    }
    status = 200
    if request.method == "POST":
        fixed = _local_input(request.form.get("fixed_at", ""))
        raw = {
            "event_name": request.form.get("event_name", ""), "email_column": request.form.get("email_column"),
            "name_column": request.form.get("name_column"), "company_column": request.form.get("company_column"),
            "date_mode": request.form.get("date_mode", "fixed"), "date_column": request.form.get("date_column"),
            "fixed_at": fixed.isoformat() if fixed else "", "zone": zone.key, "encoding": encoding,
            "create_contacts": request.form.get("create_contacts") == "1",
        }
        form.update({k: (int(v) if k.endswith("_column") and v not in (None, "") and str(v).isdigit() else v)
                     for k, v in raw.items() if k != "fixed_at"})
        form["fixed_local"] = request.form.get("fixed_at", "")
        try:
            options = check_import(path, raw)
        except ImportFileError as exc:
            flash(_(str(exc)), "error")
            status = 400
        else:
            job = queueing.enqueue_event_import(svc.queue, path, options.as_dict())
            job.meta.update(filename=filename, event_name=options.event_name, report={})
            job.save_meta()
            return redirect(url_for("events.import_progress", job_id=job.id))
    return render_template("ui/events/import_map.html", token=token, filename=filename, head=head, form=form,
                           zone_name=zone.key), status


def _import_job(job_id: str) -> Job:
    return job_or_404(job_id, queueing.EVENT_IMPORT)


def _import_status(job: Job) -> dict[str, Any]:
    meta = job.get_meta(refresh=True)
    finished = job.get_status(refresh=True) == "finished"
    report = dict((job.result if finished else None) or meta.get("report") or {})
    total, done = int(report.get("bytes_total") or 0), int(report.get("bytes_done") or 0)
    return {
        "filename": meta.get("filename", ""), "event_name": meta.get("event_name", ""),
        **job_state(job, done, total),
        **{key: int(report.get(key) or 0) for key in ("processed", "recorded", "created", "matched", "already")},
        "failed_rows": int(report.get("failed") or 0),
        "errors": [{**e, "reason": _(e.get("reason", ""))} for e in report.get("errors") or []],
    }


@bp.get("/imports/<job_id>")
def import_progress(job_id: str) -> Any:
    """The import's progress, then its report with the bad rows (polled by static/events.js)."""
    job = _import_job(job_id)
    return render_template("ui/events/import_progress.html", job_id=job.id, status=_import_status(job))


@bp.get("/imports/<job_id>/status")
def import_status(job_id: str) -> Any:
    """The small JSON the progress page polls."""
    return jsonify(_import_status(_import_job(job_id)))


@bp.get("/imports/<job_id>/errors.csv")
def import_errors_csv(job_id: str) -> Any:
    """The bad rows (line, address, reason) as a CSV to fix and import again (UTF-8 with a BOM for Excel)."""
    status = _import_status(_import_job(job_id))
    rows = [[e.get("line", ""), e.get("email", ""), e.get("reason", "")] for e in status["errors"]]
    text = to_csv([_("Line"), _("Email"), _("Problem")], rows)
    return Response(text, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="event-import-{job_id[:12]}-rows.csv"'})
