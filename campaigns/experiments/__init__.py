"""Experiments: A/B tests (pure statistics, set-up, assignment, counting, decision, results).

Owns stats.py (pure statistics: standard library only, kept so by an import-linter contract),
setup.py (validate and create a test, plan advice), assignment.py (who gets which variant, the
planned sends), counting.py (human engagement per variant), decision.py (deadline, decision, the
winner; the scheduler's tick) and results.py (what the page and the API show).

May import the stages below it and the platform (it uses audience: broadcast audiences; delivery:
rendering, for the variants' templates); never scoring, insights, the UI, the API or an entry point.
Runs in the scheduler (decision.tick; the planners call assignment) and the web process (set-up,
results, pick winner).
"""
