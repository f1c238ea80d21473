"""Insights: reports and KPIs, read from the send ledger, events and hits.

Owns reports.py (per broadcast, sequence, step and link; series, funnel, contact timeline, CSV; the
ledger recount of live campaigns) and kpi.py (the KPI dashboard as SQL aggregates over a date range).

May import the stages below it and the platform (it uses audience: segment rules for the segment
counts); never scoring, experiments, the UI, the API or an entry point. Runs in the web process
(pages, API, CSV exports) and the scheduler (reports.refresh_live_ledgers every 30 s).
"""
