"""A background job's progress page, the parts every kind shares (bulk contact actions, the CSV event import):
the RQ job an URL names, and its state in the page's words.

The job id in the URL is checked for shape, fetched from Redis and must be of the page's kind (a bulk page
never shows an import's meta), else 404. Progress is a percentage held below 100 until the job finishes.
"""

from __future__ import annotations

import re
from typing import Any

from flask import abort
from rq.exceptions import NoSuchJobError
from rq.job import Job

from campaigns.i18n import _
from campaigns.queueing import JobPolicy
from campaigns.runtime import services

JOB_ID = re.compile(r"^[0-9a-zA-Z-]{1,64}$")


def job_or_404(job_id: str, policy: JobPolicy) -> Job:
    """The RQ job `job_id` names if it is one of `policy`'s kind; 404 otherwise."""
    if not JOB_ID.match(job_id):
        abort(404)
    try:
        job = Job.fetch(job_id, connection=services().redis)
    except NoSuchJobError:
        abort(404)
    if job.func_name != policy.func:
        abort(404)
    return job


def job_state(job: Job, done: int, total: int) -> dict[str, Any]:
    """finished, failed, percent (of `done` out of `total`, 100 only once finished) and state_label."""
    state = job.get_status(refresh=True)
    finished = state == "finished"
    failed = state in ("failed", "stopped", "canceled")
    return {
        "finished": finished, "failed": failed,
        "percent": 100 if finished else (min(99, int(100 * done / total)) if total else 0),
        "state_label": _("Done") if finished else _("Failed") if failed else _("Running"),
    }
