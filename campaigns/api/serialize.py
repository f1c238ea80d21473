"""Models -> JSON dicts of the API (shapes documented in campaigns.api.schemas)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.api.core import iso
from campaigns.automation.linear import steps_from_graph
from campaigns.models import (
    Broadcast,
    Contact,
    Enrollment,
    Journey,
    JourneyEnrolment,
    JourneyVersion,
    Send,
    Sequence,
    SequenceStatus,
    Step,
    Template,
    TemplateVersion,
)


def contact_json(c: Contact) -> dict[str, Any]:
    """A contact with its consent record (GET/POST /contacts)."""
    return {
        "id": c.id, "email": c.email, "first_name": c.first_name or "", "last_name": c.last_name or "",
        "company": c.company or "", "job_title": c.job_title or "", "source": c.source or "",
        "timezone": c.timezone, "attributes": c.attributes or {}, "status": str(c.status), "stage": str(c.stage),
        "score": c.score or 0,
        "consent": {
            "at": iso(c.consent_at), "method": c.consent_method or "", "source": c.consent_source or "",
            "text": c.consent_text or "",
        },
        "created_at": iso(c.created_at), "updated_at": iso(c.updated_at),
    }


def version_json(v: TemplateVersion) -> dict[str, Any]:
    return {
        "id": v.id, "version": v.version, "subject": v.subject, "preheader": v.preheader or "",
        "from_name": v.from_name or "", "html_source": v.html_source or "", "text_source": v.text_source or "",
        "created_at": iso(v.created_at),
        "links": [{"position": link.position, "url": link.url, "tracked": bool(link.tracked)} for link in v.links],
    }


def template_json(t: Template) -> dict[str, Any]:
    """A template with its current version and that version's links (GET /templates/<id>)."""
    return {
        "id": t.id, "name": t.name, "created_at": iso(t.created_at), "updated_at": iso(t.updated_at),
        "archived_at": iso(t.archived_at),
        "current_version": version_json(t.current_version) if t.current_version else None,
    }


def template_summary_json(t: Template) -> dict[str, Any]:
    v = t.current_version
    return {
        "id": t.id, "name": t.name, "current_version_id": t.current_version_id,
        "version": v.version if v else None, "subject": v.subject if v else None, "updated_at": iso(t.updated_at),
        "archived_at": iso(t.archived_at),
    }


def step_json(s: Step) -> dict[str, Any]:
    return {
        "id": s.id, "position": s.position, "template_id": s.template_id, "delay_minutes": s.delay_minutes,
        "window_days": s.window_days or "", "window_start_hour": s.window_start_hour,
        "window_end_hour": s.window_end_hour,
    }


def sequence_json(session: Session, seq: Sequence) -> dict[str, Any]:
    """A sequence with its live steps and enrolment counts by status (GET /sequences/<id>)."""
    steps = session.scalars(
        select(Step).where(Step.sequence_id == seq.id, Step.deleted.is_(False)).order_by(Step.position)
    ).all()
    counts = session.execute(
        select(Enrollment.status, func.count()).where(Enrollment.sequence_id == seq.id).group_by(Enrollment.status)
    ).all()
    journey = session.scalar(select(Journey).where(Journey.sequence_id == seq.id)) \
        if seq.status == SequenceStatus.CONVERTED else None
    if journey is not None:
        return _converted_json(session, seq, journey)
    return {
        "id": seq.id, "name": seq.name, "description": seq.description or "", "status": str(seq.status),
        "trigger_events": list(seq.trigger_events or []), "exit_events": list(seq.exit_events or []),
        "exit_stages": list(seq.exit_stages or []), "allow_reentry": bool(seq.allow_reentry),
        "goal_event": seq.goal_event or "", "steps": [step_json(s) for s in steps],
        "trigger_segment_id": seq.trigger_segment_id, "exit_segment_id": seq.exit_segment_id,
        "exit_segment_when": str(seq.exit_segment_when or "left"),
        "enrollments": {str(status): n for status, n in counts},
        "created_at": iso(seq.created_at), "updated_at": iso(seq.updated_at),
    }


def _converted_json(session: Session, seq: Sequence, journey: Journey) -> dict[str, Any]:
    """A sequence that runs as a journey (migration 0012), read from the journey: its steps are the send nodes
    of the live version (linear.steps_from_graph: the waits before each give its delay and window; a node
    added on the canvas has no step id), its settings the journey's, its enrolments the walks by status."""
    version = session.get(JourneyVersion, journey.live_version_id) if journey.live_version_id else None
    steps = steps_from_graph(version.graph if version is not None else journey.draft_graph or {})
    settings = journey.settings or {}
    exit_rule = settings.get("exit") or {}
    entry = settings.get("entry") or []
    segment = next((t["segment_id"] for t in entry if t.get("kind") == "segment"), None)
    walks = session.execute(
        select(JourneyEnrolment.status, func.count()).where(JourneyEnrolment.journey_id == journey.id,
                                                            JourneyEnrolment.test.is_(False))
        .group_by(JourneyEnrolment.status)).all()
    return {
        "id": seq.id, "name": journey.name, "description": journey.description or "", "status": str(seq.status),
        "journey_id": journey.id, "journey_status": str(journey.status),
        "trigger_events": [t["name"] for t in entry if t.get("kind") == "event"],
        "exit_events": list(exit_rule.get("events") or []), "exit_stages": list(exit_rule.get("stages") or []),
        "allow_reentry": bool(settings.get("reentry")),
        "goal_event": (settings.get("goal") or {}).get("name", "") if (settings.get("goal") or {}).get(
            "kind") == "event" else "",
        "steps": [{"id": st["step_id"], "position": i, "template_id": st["template_id"],
                   "delay_minutes": st["delay_minutes"], "window_days": st["window_days"],
                   "window_start_hour": st["window_start_hour"], "window_end_hour": st["window_end_hour"]}
                  for i, st in enumerate(steps, start=1)],
        "trigger_segment_id": segment, "exit_segment_id": exit_rule.get("segment_id"),
        "exit_segment_when": "in" if exit_rule.get("segment_when") == "in" else "left",
        "enrollments": {str(status): n for status, n in walks},
        "created_at": iso(seq.created_at), "updated_at": iso(journey.updated_at),
    }


def sequence_summary_json(seq: Sequence) -> dict[str, Any]:
    return {
        "id": seq.id, "name": seq.name, "status": str(seq.status),
        "trigger_events": list(seq.trigger_events or []), "updated_at": iso(seq.updated_at),
    }


def broadcast_json(b: Broadcast, counts: dict[str, int] | None = None) -> dict[str, Any]:
    """A broadcast and, on the detail endpoint, its sends counted by status (GET /broadcasts/<id>)."""
    return {
        "id": b.id, "name": b.name, "template_id": b.template_id, "segment_id": b.segment_id,
        "status": str(b.status), "scheduled_at": iso(b.scheduled_at), "started_at": iso(b.started_at),
        "finished_at": iso(b.finished_at), "created_at": iso(b.created_at), "sends": counts or {},
    }


def broadcast_send_counts(session: Session, broadcast_id: int) -> dict[str, int]:
    rows = session.execute(
        select(Send.status, func.count()).where(Send.broadcast_id == broadcast_id).group_by(Send.status)
    ).all()
    return {str(status): n for status, n in rows}


def send_json(row: Any) -> dict[str, Any]:
    """A send with its contact's address and sequence (rows of select(Send, email, sequence_id))."""
    send, email, sequence_id = row
    return {
        "id": send.id, "contact_id": send.contact_id, "email": email, "enrollment_id": send.enrollment_id,
        "step_id": send.step_id, "sequence_id": sequence_id, "broadcast_id": send.broadcast_id,
        "template_version_id": send.template_version_id, "variant": send.variant or "", "status": str(send.status),
        "attempts": send.attempts or 0, "possible_duplicate": bool(send.possible_duplicate),
        "error": send.error or "", "created_at": iso(send.created_at), "enqueued_at": iso(send.enqueued_at),
        "sent_at": iso(send.sent_at),
    }
