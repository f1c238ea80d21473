"""What goes on the RQ queue and how: one policy (retry, timeout, result and failure TTLs) per job kind.

Every enqueue in Nurture goes through this module: deliveries (scheduler, requeue), CSV imports
(import view, scheduler restart), segment enrolment (sequence page), form confirmation mails (public
form view) and sales hand-overs (scoring). Callers pass ids, never ORM objects, and enqueue only
after the commit that wrote what the job reads.

Jobs are named by dotted path ("campaigns.jobs.deliver_batch"), so this module imports no job
module: the job bodies import services from every package, and a queue that imported them would
tie the platform to all of them (and did: jobs <-> sending / leadforms / webhooks was a circle).
RQ resolves the name in the worker, which imports `campaigns.jobs` when it runs the job.

The size of a delivery job is the delivery package's business (it depends on the SMTP pipeline,
see `delivery.sending.job_size`); the time limit that follows from it is here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from redis.client import Pipeline
from rq import Queue, Retry
from rq.job import Job

JOBS = "campaigns.jobs"
DAY = 86400


@dataclass(frozen=True)
class JobPolicy:
    """How one kind of job is queued: its function's dotted name and RQ's limits for it."""

    func: str
    timeout: int  # seconds RQ lets one attempt run
    retry: Retry | None  # retries after a crash or an unexpected exception (RQ's scheduler runs them)
    result_ttl: int = 60  # nobody reads results later: keep them a minute (tests and rq info)
    failure_ttl: int = 7 * DAY  # a failed job stays visible for a week (rq info, the failed registry)


# Delivery: a crash mid-batch is recovered by the send ledger's leases; RQ's retries add a faster
# second chance for a worker that died. The timeout is set per enqueue (delivery_timeout).
DELIVERY = JobPolicy(f"{JOBS}.deliver_batch", timeout=600, retry=Retry(max=5, interval=[10, 30, 60, 300, 900]))
# An import can take hours for millions of rows; the scheduler restarts one whose worker died.
IMPORT = JobPolicy(f"{JOBS}.run_import", timeout=6 * 3600, retry=None, result_ttl=3600)
# Enrolling a large segment in a sequence, set-based.
ENROLL_SEGMENT = JobPolicy(f"{JOBS}.enroll_segment", timeout=3600, retry=None, result_ttl=3600)
# A bulk action on the contact list's whole filter (campaigns.bulk): a transaction per batch, progress in
# the job's meta; not retried, since a second run would redo what the first did before it died.
BULK = JobPolicy(f"{JOBS}.run_bulk_action", timeout=3 * 3600, retry=None, result_ttl=DAY)
# Enrolling a large segment in a journey, set-based (campaigns.automation.service.enrol_segment): not
# retried: a rerun would find the contacts it enrolled already walking (an active walk never enters twice).
ENROL_JOURNEY_SEGMENT = JobPolicy(f"{JOBS}.enrol_journey_segment", timeout=3600, retry=None, result_ttl=3600)
# Events from a CSV file (campaigns.leads.event_import): progress in the job's meta, the report is the job's
# result (kept a week: the result page and its bad rows' download read it). Not retried: a rerun would find
# the events it recorded already stored and skip them, but the marketer would see two reports.
EVENT_IMPORT = JobPolicy(f"{JOBS}.run_event_import", timeout=6 * 3600, retry=None, result_ttl=7 * DAY)
# A double opt-in mail: retried, because the person is waiting for it.
FORM_CONFIRMATION = JobPolicy(f"{JOBS}.send_form_confirmation", timeout=120, retry=Retry(max=3, interval=[10, 60, 300]))
# Hand-over: only crashes are retried here; failed attempts are rescheduled by the delivery row.
HAND_OVER = JobPolicy(f"{JOBS}.deliver_hand_over", timeout=120, retry=Retry(max=3, interval=[30, 120, 600]))


def enqueue(queue: Queue, policy: JobPolicy, *args: object, timeout: int | None = None, pipeline: Pipeline | None = None) -> Job:
    """Put one job on the queue under its policy (every enqueue below; tests)."""
    return queue.enqueue_call(
        policy.func, args=args, timeout=timeout or policy.timeout, retry=policy.retry,
        result_ttl=policy.result_ttl, failure_ttl=policy.failure_ttl, pipeline=pipeline,
    )


def delivery_timeout(batch_size: int, rate_per_second: float = 0.0) -> int:
    """RQ's time limit for a deliver_batch job: ten minutes, or three times what a per-server rate limit
    makes a full batch take (a job stopped by its limit is retried; its mails in flight get flagged)."""
    if rate_per_second <= 0:
        return DELIVERY.timeout
    return max(DELIVERY.timeout, int(3 * batch_size / rate_per_second))


def enqueue_deliveries(queue: Queue, send_ids: Sequence[int], batch_size: int, rate_per_second: float = 0.0) -> int:
    """Enqueue deliver_batch jobs of at most `batch_size` ids each, in one round trip; returns the number
    of jobs (delivery.sending.enqueue_sends)."""
    jobs = 0
    timeout = delivery_timeout(batch_size, rate_per_second)
    with queue.connection.pipeline() as pipe:
        for start in range(0, len(send_ids), batch_size):
            enqueue(queue, DELIVERY, list(send_ids[start : start + batch_size]), timeout=timeout, pipeline=pipe)
            jobs += 1
        pipe.execute()
    return jobs


def enqueue_import(queue: Queue, import_id: int) -> None:
    """Queue an import job (the import view and CLI; the scheduler for an import whose worker died)."""
    enqueue(queue, IMPORT, import_id)


def enqueue_event_import(queue: Queue, path: str, options: Mapping[str, object]) -> Job:
    """Queue a CSV event import (the event import form, after the upload); the job's id is its progress key."""
    return enqueue(queue, EVENT_IMPORT, path, dict(options))


def enqueue_segment_enrolment(queue: Queue, sequence_id: int, segment_id: int | None) -> None:
    """Queue the enrolment of a segment (None = every active contact) in a sequence (sequence page)."""
    enqueue(queue, ENROLL_SEGMENT, sequence_id, segment_id)


def enqueue_journey_segment_enrolment(queue: Queue, journey_id: int, segment_id: int) -> None:
    """Queue the enrolment of a segment in a live journey (the journeys API and canvas, large segments)."""
    enqueue(queue, ENROL_JOURNEY_SEGMENT, journey_id, segment_id)


def enqueue_confirmation(queue: Queue, submission_id: int) -> None:
    """Queue the confirmation mail of a pending form submission (public form view, after its commit)."""
    enqueue(queue, FORM_CONFIRMATION, submission_id)


def enqueue_hand_over(queue: Queue, delivery_ids: Iterable[int]) -> None:
    """Enqueue one hand-over attempt per delivery id, in one round trip (scoring, after the commit)."""
    with queue.connection.pipeline() as pipe:
        for delivery_id in delivery_ids:
            enqueue(queue, HAND_OVER, int(delivery_id), pipeline=pipe)
        pipe.execute()


def enqueue_bulk_action(queue: Queue, action: str, params: Mapping[str, object], ids: list[int] | None,
                        filter_args: dict[str, str], zone: str) -> Job:
    """Queue a bulk action on contacts (the contact list, after its commit); the job's id is its progress key."""
    return enqueue(queue, BULK, action, params, ids, filter_args, zone)
