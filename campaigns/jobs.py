"""RQ entry points only, thin: take ids, call a service under the worker's app context.

Enqueued by name through campaigns.queueing (which holds each job's retry and limits); nothing imports
this module but the worker, so it may import every package.

Jobs let unexpected exceptions propagate so RQ records them and retries.
"""

from __future__ import annotations

import os
from typing import Any

from rq import get_current_job

from campaigns import bulk
from campaigns.audience.segment_triggers import enroll_matching
from campaigns.automation.service import enrol_segment as enrol_journey_segment_now
from campaigns.delivery.sending import deliver_batch as deliver_sends
from campaigns.leads.event_import import run_event_import as import_events
from campaigns.leads.forms import send_confirmation
from campaigns.leads.imports import run_import as run_csv_import
from campaigns.models import Journey, JourneyStatus, Segment
from campaigns.models import Sequence as SequenceModel
from campaigns.runtime import services
from campaigns.scoring.handover import deliver as deliver_hand_over_attempt


def deliver_batch(send_ids: list[int]) -> dict[str, int]:
    """Deliver a batch of planned sends (enqueued by the scheduler)."""
    svc = services()
    try:
        return deliver_sends(svc, send_ids)
    finally:
        # The worker runs jobs in one process: no scoped session may carry state into the next job.
        svc.db.remove_session()


def run_import(import_id: int) -> None:
    """Run a CSV import job (queueing.enqueue_import)."""
    svc = services()
    try:
        run_csv_import(svc, import_id)
    finally:
        svc.db.remove_session()


def enroll_segment(sequence_id: int, segment_id: int | None) -> int:
    """Enrol a segment's contacts (None = every active contact) in a sequence, set-based (enqueued by the
    sequence page for large segments). Returns how many were enrolled."""
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


def enrol_journey_segment(journey_id: int, segment_id: int) -> int:
    """Enrol a segment's contacts in a live journey, set-based (queueing.enqueue_journey_segment_enrolment).
    Returns how many walks started; 0 when the journey or segment is gone or the journey is no longer live."""
    svc = services()
    try:
        with svc.db.begin() as session:
            journey = session.get(Journey, journey_id)
            if journey is None or journey.status != JourneyStatus.LIVE or session.get(Segment, segment_id) is None:
                return 0  # deleted, paused or archived meanwhile: nothing to do
            return enrol_journey_segment_now(session, journey, segment_id)
    finally:
        svc.db.remove_session()


def send_form_confirmation(submission_id: int) -> bool:
    """Send a form's double opt-in confirmation mail (enqueued by the public form view after its commit)."""
    svc = services()
    try:
        return send_confirmation(svc, submission_id)
    finally:
        svc.db.remove_session()


def deliver_hand_over(delivery_id: int) -> str:
    """Make one attempt at a hand-over webhook or sales email (scoring.handover.enqueue_due)."""
    svc = services()
    try:
        return deliver_hand_over_attempt(svc, delivery_id)
    finally:
        svc.db.remove_session()


def run_bulk_action(action: str, params: dict[str, Any], ids: list[int] | None, filter_args: dict[str, str],
                    zone: str) -> int:
    """Run a bulk action on contacts batch by batch (queueing.enqueue_bulk_action); progress goes to the job's
    meta ({"done", "changed"}) for the contact list's progress bar. Returns how many contacts changed."""
    svc = services()
    job = get_current_job()

    def progress(done: int, changed: int) -> None:
        if job is not None:
            job.meta.update(done=done, changed=changed)
            job.save_meta()

    try:
        return bulk.run_target(svc.db.begin, action, params, bulk.Target(ids, filter_args, zone), progress)
    finally:
        svc.db.remove_session()


def run_event_import(path: str, options: dict[str, Any]) -> dict[str, Any]:
    """Import a CSV file's rows as events (queueing.enqueue_event_import); progress goes to the job's meta
    (the report so far), the final report is the job's result. The uploaded file is deleted at the end."""
    svc = services()
    job = get_current_job()

    def progress(report: dict[str, Any]) -> None:
        if job is not None:
            job.meta.update(report=report)
            job.save_meta()

    try:
        return import_events(svc.db.session, path, options, progress)
    finally:
        svc.db.remove_session()
        try:
            os.unlink(path)
        except OSError:
            pass
