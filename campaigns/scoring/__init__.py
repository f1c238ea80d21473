"""Scoring: points, decay, stages, triggers, history and the sales hand-over.

Owns rules.py (rules and settings), engine.py (run_scoring: the score ledger, decay, the hourly
refresh, recompute), stages.py, triggers.py (what a stage or a score starts; manual stage changes),
history.py and handover.py (signed webhooks and sales emails with retries).

May import the stages below it and the platform (it uses journeys: enrol or exit by trigger; delivery:
the sales email); never experiments, insights, the UI, the API or an entry point. Runs in the
scheduler (run_scoring after every tick, then the due hand-overs), the worker (jobs.deliver_hand_over)
and the web process (rules, triggers, the delivery log, stage changes by sales or the API).
"""
