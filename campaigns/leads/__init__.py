"""Leads: contacts and the ways they arrive and leave (CSV imports, hosted forms, unsubscribes).

Owns contacts.py (clean contact data, upsert by address, contact_by_email), csv_reader.py and
imports.py (the streamed, resumable CSV import job), forms.py (hosted forms: consent record, spam
protection, double opt-in), subscriptions.py (unsubscribe, leave one sequence, preferences) and
unsubscribe_mail.py (mailto unsubscribe requests, read by `nurture process-bounces`). The rules these
use are the platform's: addresses, names, time zones, the suppression list, IP privacy.

May import delivery (the confirmation mail), journeys (events, enrolment, exits), engagement (campaign
counts) and the platform; never audience, scoring, experiments, insights, the UI, the API or an entry
point. Runs in the web process (contact pages, import preview, hosted forms, unsubscribes from
tracking/), the worker (import and confirmation jobs), the scheduler (restarts stalled imports),
`nurture import-csv` and `nurture process-bounces` (unsubscribe requests).
"""
