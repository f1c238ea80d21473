"""The scheduler tick: plan due sequence steps and broadcasts into the send ledger, then enqueue.

(Placeholder until the sequences/sending work lands.)
"""

from __future__ import annotations

from campaigns.runtime import Services


def tick(svc: Services) -> dict[str, int]:
    """One pass of planning and enqueueing; returns counts for the log."""
    return {}
