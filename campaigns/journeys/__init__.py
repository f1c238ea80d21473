"""Journeys: sequences and broadcasts (definitions, enrolment, exits, when a step may go).

Owns sequences.py (building sequences, enrolment, exits, record_event, send windows and the frequency
cap the planner asks), walk_entry.py (enrol contacts into a journey now: the walks at its start node, shared by
campaigns.automation and by the sequence enrolment of a converted sequence) and broadcasts.py (create, schedule and cancel one-off campaigns; the scheduler
plans their audience).

May import engagement and the platform, and needs only the platform (models; compliance for the sender
minimum); never leads, delivery or anything above them. Runs in the web process (builders, the event
API, forms and unsubscribes that enrol or exit), the scheduler (the step planner, segment and scoring
triggers) and the worker (jobs.enroll_segment).
"""
