"""Seed one object of every kind (ids start at 1) with hostile text in every field a person or a remote
party controls: contact fields, template names, user agents, referrers, form inputs, bounce texts."""

from __future__ import annotations

from typing import Any

from campaigns.db import now_utc

# Each payload breaks out of a different context if it is not escaped: element text, a quoted
# attribute, a <textarea>/<title>, an inline script string. MARKERS are what an unescaped copy contains.
PAYLOADS = [
    '<script>alert("xss-1")</script>',
    '"><img src=x onerror=alert("xss-2")>',
    "'><svg onload=alert('xss-3')>",
    '</textarea></title><script>alert("xss-4")</script>',
    '";alert("xss-5");//',
]
MARKERS = ['<script>alert("xss-1")', '<img src=x onerror', "<svg onload", '</textarea></title><script>']
XSS = " ".join(PAYLOADS)


def seed_objects(services: Any, text: str = "Plain") -> dict[str, int]:
    """Create the objects and return their ids by URL parameter name (contact_id, template_id, ...)."""
    from campaigns.delivery import rendering
    from campaigns.journeys.sequences import create_sequence
    from campaigns.models import (
        ApiKey,
        Broadcast,
        Contact,
        Event,
        ImportJob,
        OutboxMessage,
        Segment,
        Send,
        SendStatus,
    )
    from campaigns.models.tracking import Hit, HitClass, HitKind
    from campaigns.suppression import suppress

    ids: dict[str, int] = {}
    with services.db.begin() as s:
        contact = Contact(
            email="lead1@example.com", first_name=f"{text}F", last_name=f"{text}L", company=f"{text}Co",
            job_title=f"{text}Title", source=f"{text}Src"[:100], attributes={"plan": text, text[:40]: "v"},
            consent_text=text, consent_source=text[:200],
        )
        s.add(contact)
        s.flush()
        template = rendering.create_template(
            s, f"{text} template", subject=f"Hello {{{{ contact.first_name }}}} {text}"[:300],
            html_source="<p>{{ contact.company }}</p><p><a href='https://example.com/a'>read</a></p>",
        )
        version_id = template.current_version_id
        assert version_id is not None
        broadcast = Broadcast(name=f"{text} broadcast", template_id=template.id, status="draft", options={})
        s.add(broadcast)
        sequence = create_sequence(s, f"{text} sequence", steps=[{"template_id": template.id}],
                                   description=text) if _takes_description() else \
            create_sequence(s, f"{text} sequence", steps=[{"template_id": template.id}])
        segment = Segment(name=f"{text} segment", rules={"all": [{"field": "company", "op": "contains",
                                                                   "value": text[:50]}]})
        s.add(segment)
        s.flush()
        send = Send(contact_id=contact.id, broadcast_id=broadcast.id, template_version_id=version_id,
                    status=SendStatus.FAILED, error=f"bounced (hard): 5.1.1 {text}", sent_at=now_utc())
        s.add(send)
        s.flush()
        s.add(Hit(event_id="seed-hit-1", kind=HitKind.OPEN, send_id=send.id, contact_id=contact.id,
                  occurred_at=now_utc(), user_agent=text[:512], ip="192.0.2.0", classification=HitClass.HUMAN,
                  reason=text[:40]))
        s.add(Event(contact_id=contact.id, name="bounced", source="bounce",
                    properties={"send_id": send.id, "diagnostic": text, "status": "5.1.1"}))
        s.add(Event(contact_id=contact.id, name="webinar_registered", source="api", properties={"title": text}))
        suppress(s, "gone@example.com", "hard_bounce", f"smtp; 550 {text}")
        s.add(ImportJob(filename=f"{text}.csv"[:255], path="/nonexistent.csv", status="failed", message=text,
                        errors=[{"line": 2, "reason": text, "email": text}]))
        s.add(OutboxMessage(mail_from="a@example.com", recipients="lead1@example.com", subject=text,
                            raw=f"Subject: {text}\r\n\r\n{text}"))
        api_key = ApiKey(name=f"{text} key"[:200], prefix="nk_seedkey", key_hash="0" * 64)  # matches no key
        s.add(api_key)
        s.flush()
        ids["key_id"] = api_key.id
        ids.update(contact_id=contact.id, template_id=template.id, version_id=version_id,
                   broadcast_id=broadcast.id, sequence_id=sequence.id, segment_id=segment.id, send_id=send.id)
        _seed_forms(s, contact.id, text, ids)
        _seed_journey(s, template.id, text, ids)
    return ids


def _seed_journey(s: Any, template_id: int, text: str, ids: dict[str, int]) -> None:
    """A live journey of one mail (the canvas at /journeys/<journey_id>), when journeys exist."""
    try:
        from campaigns.automation import service
    except ImportError:
        return
    graph = {"start": "n1", "nodes": [{"id": "n1", "type": "send", "template_id": template_id, "name": text[:200]}],
             "edges": [], "layout": {}}
    journey = service.create_journey(s, f"{text} シナリオ"[:200], graph=graph)
    service.publish(s, journey)
    ids["journey_id"] = journey.id


def _takes_description() -> bool:
    import inspect

    from campaigns.journeys.sequences import create_sequence

    return "description" in inspect.signature(create_sequence).parameters


def _seed_forms(s: Any, contact_id: int, text: str, ids: dict[str, int]) -> None:
    """Lead forms and a submission (referrer, user agent, the visitor's answers), when forms exist."""
    try:
        from campaigns.models.forms import Form, FormSubmission
    except ImportError:
        return
    form = Form(name=f"{text} form", slug="seed-form", title=text[:200], description=text,
                fields=[{"key": "email", "label": text[:100], "required": True},
                        {"key": "company", "label": text[:100], "required": False}],
                consent_text=text, thank_you_message=text)
    s.add(form)
    s.flush()
    s.add(FormSubmission(form_id=form.id, contact_id=contact_id, email="lead1@example.com",
                         values={"email": "lead1@example.com", "company": text, "message": text},
                         consent_text=text, user_agent=text[:512], referrer=text[:500], ip="192.0.2.0"))
    s.flush()
    ids["form_id"] = form.id
