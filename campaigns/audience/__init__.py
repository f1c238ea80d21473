"""Audience: who a campaign reaches (segment rules compiled to SQL, static lists, segment triggers).

Owns segments.py (the rule tree compiled to one SQL query; broadcast_audience, the one query of who a
broadcast goes to), lists.py (static lists) and segment_triggers.py (contacts entering a segment join
a sequence, leaving one ends it; the set-based enrolment) and web_conditions.py (website visits as
conditions, registered here on import, and the page-pattern rule every visit feature uses).

May import the stages below it and the platform (it uses leads: the attribute key rule, the CSV reader
for list files; journeys: enrolment, exits); never scoring, experiments, insights, the UI, the API or
an entry point. Runs in the web process (live counts, list pages, small manual enrolments), the
worker (jobs.enroll_segment) and the scheduler (segment triggers at most once a minute, broadcast
audiences).
"""

from campaigns.audience import web_conditions as _web_conditions  # noqa: E402,F401  registers the visit conditions
