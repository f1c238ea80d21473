"""Experiments: A/B tests (pure statistics, set-up, assignment, counting, decision, results)."""
