"""One contact's data as a download (a subject access request under the APPI / GDPR, or for a CRM).

`contact_export(session, contact_id, zone)` -> a JSON-ready dict: profile, attributes, consent, lists,
events, sends, opens and clicks (with their human / machine mark), form submissions, score history and
stage changes. `export_csv(data)` -> the same as one CSV in long form (section, at, name, value, detail), with a BOM,
one line per fact, formulas neutralised (csv_safe). Times are ISO 8601 in the account's zone, with
their offset, so a reader sees the clock they are in and a program can still parse them.

Everything is read (no paging): this is one person's history, asked for rarely. Request-free: the contact
page and GET /api/v1/contacts/<id>/export call it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.insights.timeline import stage_cause
from campaigns.models import (
    Broadcast,
    Contact,
    ContactList,
    ContactListMember,
    Event,
    Form,
    FormSubmission,
    Hit,
    Link,
    ScoreEntry,
    ScoringRule,
    Send,
    Sequence,
    StageChange,
    Step,
    TemplateVersion,
)
from campaigns.spreadsheet import to_csv

CSV_HEADER = ("section", "at", "name", "value", "detail")


def _iso(at: datetime | None, zone: ZoneInfo) -> str | None:
    if at is None:
        return None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(zone).isoformat()


def contact_export(session: Session, contact_id: int, zone: ZoneInfo) -> dict[str, Any] | None:
    """Everything Nurture holds about one contact, or None for an unknown id (contact page, API)."""
    c = session.get(Contact, contact_id)
    if c is None:
        return None
    lists = list(session.scalars(
        select(ContactList.name).join(ContactListMember, ContactListMember.list_id == ContactList.id)
        .where(ContactListMember.contact_id == contact_id).order_by(ContactList.name)))
    sends = session.execute(
        select(Send, TemplateVersion.subject, Sequence.name, Step.position, Broadcast.name)
        .join(TemplateVersion, TemplateVersion.id == Send.template_version_id)
        .outerjoin(Step, Step.id == Send.step_id)
        .outerjoin(Sequence, Sequence.id == Step.sequence_id)
        .outerjoin(Broadcast, Broadcast.id == Send.broadcast_id)
        .where(Send.contact_id == contact_id).order_by(Send.id)
    ).all()
    hits = session.execute(
        select(Hit.id, Hit.send_id, Hit.kind, Hit.occurred_at, Hit.classification, Hit.ip, Hit.user_agent, Link.url)
        .outerjoin(Link, Link.id == Hit.link_id)
        .where(Hit.contact_id == contact_id).order_by(Hit.occurred_at, Hit.id)
    ).all()
    events = session.scalars(select(Event).where(Event.contact_id == contact_id)
                             .order_by(Event.occurred_at, Event.id)).all()
    forms = session.execute(
        select(FormSubmission, Form.name).join(Form, Form.id == FormSubmission.form_id)
        .where(FormSubmission.contact_id == contact_id).order_by(FormSubmission.submitted_at, FormSubmission.id)
    ).all()
    scores = session.execute(
        select(ScoreEntry, func.coalesce(ScoringRule.name, ScoreEntry.cause))
        .outerjoin(ScoringRule, ScoringRule.id == ScoreEntry.rule_id)  # journey points have no rule
        .where(ScoreEntry.contact_id == contact_id).order_by(ScoreEntry.occurred_at, ScoreEntry.id)
    ).all()
    stages = session.scalars(select(StageChange).where(StageChange.contact_id == contact_id)
                             .order_by(StageChange.changed_at, StageChange.id)).all()
    return {
        "exported_at": _iso(datetime.now(UTC), zone), "time_zone": zone.key,
        "profile": {
            "id": c.id, "email": c.email, "first_name": c.first_name, "last_name": c.last_name,
            "company": c.company, "job_title": c.job_title, "source": c.source, "time_zone": c.timezone,
            "status": str(c.status), "stage": str(c.stage), "score": c.score,
            "created_at": _iso(c.created_at, zone), "updated_at": _iso(c.updated_at, zone),
        },
        "attributes": c.attributes or {},
        "consent": {"at": _iso(c.consent_at, zone), "method": c.consent_method, "source": c.consent_source,
                    "text": c.consent_text},
        "lists": lists,
        "sends": [{
            "id": s.id, "subject": subject, "sequence": seq_name, "step": position, "broadcast": broadcast_name,
            "variant": s.variant, "status": str(s.status), "created_at": _iso(s.created_at, zone),
            "sent_at": _iso(s.sent_at, zone), "error": s.error,
        } for s, subject, seq_name, position, broadcast_name in sends],
        "hits": [{
            "id": h.id, "send_id": h.send_id, "kind": str(h.kind), "at": _iso(h.occurred_at, zone),
            "classification": str(h.classification), "url": h.url, "ip": h.ip, "user_agent": h.user_agent,
        } for h in hits],
        "events": [{"id": e.id, "name": e.name, "source": e.source, "at": _iso(e.occurred_at, zone),
                    "properties": e.properties or {}} for e in events],
        "form_submissions": [{
            "id": f.id, "form": name, "status": str(f.status), "at": _iso(f.submitted_at, zone),
            "confirmed_at": _iso(f.confirmed_at, zone), "values": f.values or {}, "consent_text": f.consent_text,
            "ip": f.ip, "user_agent": f.user_agent, "referrer": f.referrer,
        } for f, name in forms],
        "score_history": [{"id": e.id, "rule": name, "points": e.points, "source": e.source,
                           "source_ref": e.source_ref, "at": _iso(e.occurred_at, zone)} for e, name in scores],
        "stage_changes": [{"id": s.id, "from": s.from_stage, "to": s.to_stage, "cause": s.cause, "detail": s.detail,
                           "at": _iso(s.changed_at, zone)} for s in stages],
    }


def _value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def export_csv(data: dict[str, Any]) -> str:
    """The export as one CSV (section, at, name, value, detail); to_csv neutralises formulas."""
    rows: list[tuple[Any, ...]] = []
    for key, value in data["profile"].items():
        rows.append(("profile", "", key, _value(value), ""))
    for key, value in sorted(data["attributes"].items()):
        rows.append(("attribute", "", key, _value(value), ""))
    for key, value in data["consent"].items():
        rows.append(("consent", "", key, _value(value), ""))
    rows += [("list", "", name, "", "") for name in data["lists"]]
    for s in data["sends"]:
        where = s["sequence"] and f"{s['sequence']} #{s['step']}" or s["broadcast"] or ""
        rows.append(("send", s["sent_at"] or s["created_at"], s["subject"], s["status"], where))
    for h in data["hits"]:
        rows.append((h["kind"], h["at"], h["url"] or f"send {h['send_id']}", h["classification"],
                     _value({"ip": h["ip"], "user_agent": h["user_agent"]})))
    for e in data["events"]:
        rows.append(("event", e["at"], e["name"], e["source"], _value(e["properties"])))
    for f in data["form_submissions"]:
        rows.append(("form", f["at"], f["form"], f["status"], _value(f["values"])))
    for e in data["score_history"]:
        rows.append(("score", e["at"], e["rule"], e["points"], f"{e['source']} {e['source_ref']}"))
    for s in data["stage_changes"]:
        words, params = stage_cause(s["cause"], s["detail"])
        rows.append(("stage", s["at"], f"{s['from'] or '-'} -> {s['to']}", words % params if params else words, ""))
    # numbers stay numbers (a signed "+10" as text would be a formula to a spreadsheet, and get quoted)
    return to_csv(CSV_HEADER, [[v if isinstance(v, int) else _value(v) for v in row] for row in rows])
