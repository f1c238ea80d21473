"""Enrolment, exit conditions, and what is due when (send windows, time zones, frequency cap).

Contract:
- enroll_contact(session, contact, sequence, source_event="", now=None) -> Enrollment | None
- record_event(session, contact, name, properties, occurred_at=None, source="api") -> Event
  (stores the event, enrols in sequences it triggers, exits enrolments it ends)
- exit_contact(session, contact_id, reason) -> int: exits every active enrolment and cancels queued sends
- plan_due_steps(session, now, limit) -> list[int] of new Send ids; plan_broadcasts(session, now) -> list[int]
"""
