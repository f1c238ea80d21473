"""Automation: journeys, the branching scenarios contacts walk node by node (docs/journeys.md).

Owns graph.py (the graph format's rules), service.py (create, edit, publish as a new version, pause,
archive, duplicate, enrol), engine.py (the walk: matching what happened to waiting walks, triggers and
goals; running due nodes in batches) and report.py (per-node counts, paths, split statistics).

Sits above experiments, insights and scoring and below the UI and the API: a branch compiles segment
rules (audience), actions score, set stages and hand over (scoring), a split's report uses the A/B
statistics (experiments). Nothing below imports it: the engine pulls what happened by id cursors.
Runs in the web process (canvas, API), the scheduler (engine.tick) and the worker (bulk enrolment).
"""
