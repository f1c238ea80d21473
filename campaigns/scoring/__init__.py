"""Scoring: points, decay, stages, triggers, history and the sales hand-over."""
