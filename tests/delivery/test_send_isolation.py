"""A delivery job settles each send on its own: a recipient whose mail cannot be built (data that cannot be
encoded, a template that fails or explodes on their data, the sandbox's CPU limit) gets a failed send with a
reason a marketer can read; the rest of the batch goes out exactly once, nobody is flagged as a possible
duplicate, and the job itself succeeds. Real RQ worker, real Redis, real SMTP (aiosmtpd)."""

from __future__ import annotations

from typing import Any

import pytest
from rq.registry import FailedJobRegistry, FinishedJobRegistry
from sqlalchemy import select, text

from campaigns.delivery import sending
from campaigns.models import Contact, Send, SendStatus
from tests.conftest import run_jobs
from tests.factories import make_contacts
from tests.sending_helpers import make_version, plan_sends, setup_account


def _plan(services: Any, html: str, attributes: list[dict[str, Any]]) -> tuple[list[int], list[str]]:
    """An account, a template, one contact per attributes dict, and their queued sends."""
    with services.db.begin() as s:
        setup_account(s)
        version = make_version(s, html=html)
        contacts = []
        for i, attrs in enumerate(attributes):
            contacts += make_contacts(s, 1, prefix=f"lead{i}-", attributes=attrs)
        return plan_sends(s, version, contacts), [c.email for c in contacts]


def _deliver_through_rq(app: Any, services: Any, ids: list[int]) -> None:
    """Enqueue the sends as one job and run it with a real worker; the job must succeed."""
    finished = FinishedJobRegistry(queue=services.queue)
    failed = FailedJobRegistry(queue=services.queue)
    assert sending.enqueue_sends(services, ids) == 1
    run_jobs(app)
    assert failed.count == 0, "the delivery job failed"
    assert finished.count == 1


def _sends(services: Any, ids: list[int]) -> list[Send]:
    with services.db.begin() as s:
        return list(s.scalars(select(Send).where(Send.id.in_(ids)).order_by(Send.id)))


def _mails_by_rcpt(smtp_server: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for mail in smtp_server.messages:
        for rcpt in mail.rcpt_tos:
            counts[rcpt] = counts.get(rcpt, 0) + 1
    return counts


def _assert_settled(app: Any, services: Any, smtp_server: Any, ids: list[int], emails: list[str], bad: int,
                    reason: str) -> Send:
    """Everyone but `bad` got exactly one mail, also after the stale-send sweep and another worker run;
    `bad` failed with `reason`; nothing is left in flight or flagged."""
    smtp_server.wait_for(len(ids) - 1)
    sending.requeue_stale(services)  # nothing is stale or forgotten: the sweep finds no work
    run_jobs(app)
    expected = {email: 1 for i, email in enumerate(emails) if i != bad}
    assert _mails_by_rcpt(smtp_server) == expected
    rows = _sends(services, ids)
    assert [r.status for r in rows] == [SendStatus.FAILED if i == bad else SendStatus.SENT for i in range(len(ids))]
    assert not any(r.possible_duplicate for r in rows)
    assert all(r.attempts == 1 for r in rows)
    failed = rows[bad]
    assert reason in failed.error, failed.error
    assert "Traceback" not in failed.error
    return failed


def test_a_contact_with_unencodable_data_fails_alone(app: Any, services: Any, smtp_server: Any) -> None:
    """An unpaired surrogate stored before input was validated (written here as SQL, as an old import did)
    used to crash the job: its group stayed `sending`, was requeued as possible duplicates, crashed again."""
    if services.db.engine.dialect.name == "postgresql":
        # jsonb refuses an unpaired surrogate escape, so PostgreSQL cannot hold such data
        pytest.skip("PostgreSQL cannot store an unpaired surrogate")
    ids, emails = _plan(services, "<p>Plan {{ contact.attributes.plan }}</p>", [{"plan": "pro"}] * 6)
    with services.db.begin() as s:
        contact_id = s.scalar(select(Contact.id).where(Contact.email == emails[2]))
        s.execute(text("UPDATE contacts SET attributes = :raw WHERE id = :id"),
                  {"raw": '{"plan": "\\ud800"}', "id": contact_id})
    with services.db.begin() as s:  # the stored value really is the surrogate
        assert s.get(Contact, contact_id).attributes == {"plan": "\ud800"}
    _deliver_through_rq(app, services, ids)
    failed = _assert_settled(app, services, smtp_server, ids, emails, bad=2,
                             reason="the contact's attribute plan contains a character that cannot be sent (U+D800)")
    assert failed.error.endswith("correct it on the contact's page")


@pytest.mark.parametrize(("html", "reason"), [
    # an amplification that is small on the sample data and on everyone else's data
    ("<p>{{ 'x' | center(contact.attributes.n | default(1)) }}</p>",
     "template error: while rendering: not allowed in templates (the result would be longer than "
     "100,000 characters)"),
    # loops over one contact's long text: billions of rounds without the step budget
    ("<p>{% for a in contact.attributes.s | default('') %}{% for b in contact.attributes.s | default('') %}"
     "{% endfor %}{% endfor %}ok</p>",
     "template error: while rendering: takes too long to render (more than 500,000 steps"),
    # recursion as deep as a contact's number (Python's RecursionError, which used to end the job)
    ("{% macro countdown(n) %}{{ n }}{% if n > 0 %} {{ countdown(n - 1) }}{% endif %}{% endmacro %}"
     "<p>{{ countdown(contact.attributes.n | default(3)) }}</p>",
     "template error: while rendering: macros or loops call themselves too deeply"),
])
def test_a_template_that_fails_on_one_contacts_data_fails_that_send_only(app: Any, services: Any, smtp_server: Any,
                                                                          html: str, reason: str) -> None:
    ordinary = {"n": 3, "s": "abc"}
    explosive = {"n": 10_000_000, "s": "x" * 50_000}
    ids, emails = _plan(services, html, [ordinary, ordinary, ordinary, explosive, ordinary])
    _deliver_through_rq(app, services, ids)
    _assert_settled(app, services, smtp_server, ids, emails, bad=3, reason=reason)


class TestRenderSeconds:
    @pytest.fixture
    def app_overrides(self, app_overrides: dict[str, Any]) -> dict[str, Any]:
        return {**app_overrides, "render_seconds": 0.0}

    def test_the_cpu_time_per_render_is_a_setting(self, app: Any, services: Any, smtp_server: Any) -> None:
        """RENDER_SECONDS bounds each recipient's render: with 0 s, a render long enough to read the CPU clock
        twice (a loop of 20,000 rounds; the step budget alone would allow it) fails that send with its
        reason, while a short mail still goes out."""
        assert services.settings.render_seconds == 0.0
        html = "<p>{% for i in range(contact.attributes.rounds | default(1)) %}{{ i }}{% endfor %}</p>"
        ids, emails = _plan(services, html, [{"rounds": 3}, {"rounds": 20_000}])
        _deliver_through_rq(app, services, ids)
        _assert_settled(app, services, smtp_server, ids, emails, bad=1,
                        reason="template error: while rendering: takes too long to render (more than 0 s of "
                               "processing time)")
