"""Helpers for the rendering, sending and crash tests: an account, a compiled template version, planned sends
(contacts come from tests/factories.py), and an SMTP server that pipelines."""

from __future__ import annotations

from typing import Any

from aiosmtpd.controller import Controller

from campaigns.models import Contact, Send, SendStatus, TemplateVersion
from campaigns.users import get_account
from tests.conftest import SmtpHandler, SmtpServer
from tests.factories import make_contacts, make_template

HTML = """<html><head><style>
  h1 { color: #2f6fde; font-size: 22px; }
  .button { background: #2f6fde; color: #ffffff; padding: 10px 18px; }
</style></head><body>
<h1>{{ contact.first_name | default("there") }}, hello</h1>
<p>Plan: {{ contact.attributes.plan | default("none") }}</p>
<p><a class="button" href="https://example.com/guide.pdf">Read the guide</a></p>
<p>More at <a href="https://example.com/cases?a=1&amp;b=2">our cases</a>.</p>
</body></html>"""


def setup_account(session: Any) -> Any:
    """Fill the account's sender identity and legal footer fields."""
    account = get_account(session)
    account.company_name = "Acme 株式会社"
    account.from_name = "Acme Marketing"
    account.from_email = "marketing@acme.test"
    account.postal_address = "東京都千代田区丸の内1-1-1"
    account.contact_info = "support@acme.test"
    session.flush()
    return account


def make_version(session: Any, *, html: str = HTML, subject: str = "Hello {{ contact.first_name }}",
                 name: str = "welcome", **kw: Any) -> TemplateVersion:
    """Create a template through the rendering service and return its compiled first version."""
    template = make_template(session, name, subject=subject, html=html, compiled=True, **kw)
    assert template.current_version is not None
    return template.current_version


def plan_sends(session: Any, version: TemplateVersion, contacts: list[Contact]) -> list[int]:
    """One queued Send per contact (what the scheduler writes), returns the ids."""
    sends = [Send(contact_id=c.id, template_version_id=version.id, status=SendStatus.QUEUED) for c in contacts]
    session.add_all(sends)
    session.flush()
    return [s.id for s in sends]


def standard_setup(services: Any, count: int = 3, **kw: Any) -> tuple[int, list[int], list[int]]:
    """Account + template + `count` contacts + queued sends, committed; returns (version_id, contact_ids, send_ids)."""
    with services.db.begin() as s:
        setup_account(s)
        version = make_version(s, **kw)
        contacts = make_contacts(s, count)
        ids = plan_sends(s, version, contacts)
        return version.id, [c.id for c in contacts], ids


class PipeliningHandler(SmtpHandler):
    """The test SMTP handler, advertising ESMTP PIPELINING (aiosmtpd reads pipelined commands in order)."""

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]


class PipeliningServer(SmtpServer):
    def __init__(self) -> None:
        super().__init__()
        self.handler = PipeliningHandler()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
