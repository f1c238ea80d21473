"""RQ entry points only, thin: take ids, call a service under the worker's app context.

Jobs let unexpected exceptions propagate so RQ records them and retries.
"""

from __future__ import annotations

from collections.abc import Sequence

from rq import Queue, Retry

from campaigns.runtime import services

DELIVERY_RETRY = Retry(max=5, interval=[10, 30, 60, 300, 900])


def deliver_batch(send_ids: list[int]) -> dict[str, int]:
    """Deliver a batch of planned sends (enqueued by the scheduler)."""
    from campaigns.sending import deliver_batch as deliver

    svc = services()
    try:
        return deliver(svc, send_ids)
    finally:
        # The worker runs jobs in one process: no scoped session may carry state into the next job.
        svc.db.remove_session()


def enqueue_import(queue: Queue, import_id: int) -> None:
    """Queue run_import for an import job (the import view; the scheduler for an import whose worker died)."""
    queue.enqueue(run_import, import_id, job_timeout=6 * 3600, result_ttl=3600)


def run_import(import_id: int) -> None:
    """Run a CSV import job (enqueued by enqueue_import)."""
    from campaigns.contacts import run_import as run

    svc = services()
    try:
        run(svc, import_id)
    finally:
        svc.db.remove_session()


def enroll_segment(sequence_id: int, segment_id: int | None) -> int:
    """Enrol a segment's contacts (None = every active contact) in a sequence, set-based (enqueued by the
    sequence page for large segments). Returns how many were enrolled."""
    from campaigns.models import Segment
    from campaigns.models import Sequence as SequenceModel
    from campaigns.segments import enroll_matching

    svc = services()
    try:
        with svc.db.begin() as session:
            sequence = session.get(SequenceModel, sequence_id)
            segment = session.get(Segment, segment_id) if segment_id is not None else None
            if sequence is None or (segment_id is not None and segment is None):
                return 0  # deleted meanwhile: nothing to do
            return enroll_matching(session, sequence, dict(segment.rules or {}) if segment else {})
    finally:
        svc.db.remove_session()


def send_form_confirmation(submission_id: int) -> bool:
    """Send a form's double opt-in confirmation mail (enqueued by the public form view after its commit)."""
    from campaigns.leadforms import send_confirmation

    svc = services()
    try:
        return send_confirmation(svc, submission_id)
    finally:
        svc.db.remove_session()


def delivery_timeout(batch_size: int, rate_per_second: float = 0.0) -> int:
    """RQ's time limit for a deliver_batch job: ten minutes, or three times what a per-server rate limit
    makes a full batch take (a job stopped by its limit is retried; its mails in flight get flagged)."""
    if rate_per_second <= 0:
        return 600
    return max(600, int(3 * batch_size / rate_per_second))


def enqueue_deliveries(queue: Queue, send_ids: Sequence[int], batch_size: int, rate_per_second: float = 0.0) -> int:
    """Enqueue `deliver_batch` jobs of at most `batch_size` ids each; returns the number of jobs."""
    jobs = 0
    timeout = delivery_timeout(batch_size, rate_per_second)
    with queue.connection.pipeline() as pipe:
        for start in range(0, len(send_ids), batch_size):
            chunk = list(send_ids[start : start + batch_size])
            queue.enqueue_call(
                deliver_batch, args=(chunk,), retry=DELIVERY_RETRY, timeout=timeout, result_ttl=60,
                failure_ttl=7 * 86400, pipeline=pipe,
            )
            jobs += 1
        pipe.execute()
    return jobs


HAND_OVER_RETRY = Retry(max=3, interval=[30, 120, 600])  # only for crashes; failed attempts are rescheduled by the row


def deliver_hand_over(delivery_id: int) -> str:
    """Make one attempt at a hand-over webhook or sales email (enqueued by webhooks.enqueue_due)."""
    from campaigns.webhooks import deliver

    svc = services()
    try:
        return deliver(svc, delivery_id)
    finally:
        svc.db.remove_session()


def enqueue_hand_over(queue: Queue, delivery_ids: Sequence[int]) -> None:
    """Enqueue one deliver_hand_over job per delivery id (after the commit that wrote them)."""
    with queue.connection.pipeline() as pipe:
        for delivery_id in delivery_ids:
            queue.enqueue_call(deliver_hand_over, args=(int(delivery_id),), retry=HAND_OVER_RETRY, timeout=120,
                               result_ttl=60, failure_ttl=7 * 86400, pipeline=pipe)
        pipe.execute()
