"""Experiments: A/B tests (pure statistics, set-up, assignment, counting, decision, results).

Owns stats.py (pure statistics: standard library only, kept so by an import-linter contract),
setup.py (validate and create a test, plan advice), assignment.py (who gets which variant, the
planned sends), counting.py (human engagement per variant), decision.py (deadline, decision, the
winner; the scheduler's tick), results.py (what the page, the API and the journey canvas show) and
journeys.py (tests on journey send nodes: kept in step with the published graph, the variant of each
walk; the engine in campaigns.automation asks it, the counting and the decision are the ones above).

May import the stages below it and the platform (it uses audience: broadcast audiences; delivery:
rendering, for the variants' templates); never scoring, insights, the UI, the API or an entry point.
Runs in the scheduler (decision.tick; the planners call assignment; the journey engine calls
journeys.node_split) and the web process (set-up, results, pick winner, journey publish).
"""
