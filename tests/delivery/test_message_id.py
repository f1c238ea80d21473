"""Message-IDs (campaigns/delivery/mime.py): globally unique, the sender's domain on the right, stable for one
send across a redelivery, and read back by the bounce matcher, which refuses an id it did not make. Mails
go through the real sender to the aiosmtpd server; a second installation is the same code under another
SECRET_KEY."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from campaigns.db import now_utc
from campaigns.delivery.bounces import BounceKind, BounceReport, record_bounce
from campaigns.delivery.mime import campaign_frame, message_id_domain, send_message_id
from campaigns.delivery.sending import deliver_batch
from campaigns.delivery.system_mail import send_test_email
from campaigns.models import Contact, ContactStatus, Send, SendStatus, TemplateVersion
from campaigns.runtime import Services
from campaigns.users import get_account
from tests.sending_helpers import standard_setup

SEND_ID = re.compile(r"<(\d+)\.([0-9a-f]{24})@acme\.test>")


@pytest.fixture
def other_installation(services: Any) -> Iterator[Services]:
    """The same code and database under another SECRET_KEY: what a second installation is to the ids."""
    other = Services.build(replace(services.settings, secret_key="another-installation-secret"))
    yield other
    other.db.dispose()
    other.redis.close()


def _deliver_again(svc: Any, send_id: int, *, crashed: bool = False, created_at: Any = None) -> None:
    """Put a delivered send back in the ledger and deliver it: as a stale claim of a worker that died with it
    in flight (`crashed`), or as queued; `created_at` replants it (a rebuilt database's send of that id)."""
    with svc.db.begin() as s:
        send = s.get(Send, send_id)
        send.status = SendStatus.SENDING if crashed else SendStatus.QUEUED
        send.claimed_at = now_utc() - timedelta(seconds=svc.settings.send_lease_seconds + 60) if crashed else None
        if created_at is not None:
            send.created_at = created_at
    assert deliver_batch(svc, [send_id])["sent"] == 1


def _ids(smtp_server: Any) -> list[str]:
    return [mail.message["Message-ID"] for mail in smtp_server.messages]


def test_a_redelivered_send_carries_the_same_message_id(services: Any, smtp_server: Any) -> None:
    _, _, [send_id] = standard_setup(services, count=1)
    assert deliver_batch(services, [send_id])["sent"] == 1
    _deliver_again(services, send_id, crashed=True)  # the crash-recovery path: a stale claim taken over
    first, second = _ids(smtp_server)
    assert first == second
    match = SEND_ID.fullmatch(first)
    assert match is not None and int(match.group(1)) == send_id  # the sender's domain on the right
    with services.db.begin() as s:
        assert s.get(Send, send_id).possible_duplicate


def test_another_installation_or_a_rebuilt_database_never_repeats_a_message_id(
        services: Any, smtp_server: Any, other_installation: Services) -> None:
    _, _, [send_id] = standard_setup(services, count=1)
    assert deliver_batch(services, [send_id])["sent"] == 1
    # send 1 of another installation (another secret), with everything else equal
    _deliver_again(other_installation, send_id)
    # send 1 of this database rebuilt (same secret): planned at another moment
    with services.db.begin() as s:
        planned = s.get(Send, send_id).created_at
    _deliver_again(services, send_id, created_at=planned + timedelta(microseconds=1))
    ours, theirs, rebuilt = _ids(smtp_server)
    assert len({ours, theirs, rebuilt}) == 3
    assert all(SEND_ID.fullmatch(i) and i.startswith(f"<{send_id}.") for i in (ours, theirs, rebuilt))


def test_bounces_find_their_send_by_message_id_and_a_forged_or_foreign_one_finds_none(
        services: Any, smtp_server: Any) -> None:
    version_id, _, ids = standard_setup(services, count=2)
    assert deliver_batch(services, ids)["sent"] == 2
    real = {mail.rcpt_tos[0]: mail.message["Message-ID"] for mail in smtp_server.wait_for(2)}
    a_id, b_id = ids
    with services.db.begin() as s:
        version = s.get(TemplateVersion, version_id)
        foreign_frame = campaign_frame(replace(services, settings=replace(
            services.settings, secret_key="another-installation-secret")), get_account(s), version)
        foreign = send_message_id(foreign_frame, a_id, s.get(Send, a_id).created_at)
    forged = [
        f"<{a_id}.{'0' * 24}@acme.test>",  # the right form, a made-up tag
        foreign,  # another installation's id for its own send of that number
        f"<send-{a_id}@nurture>",  # the old form, which anyone could write
        real["lead0@example.com"].replace(f"<{a_id}.", f"<{b_id}."),  # a real tag on another send
    ]
    assert foreign != real["lead0@example.com"]

    def bounce(message_id: str, recipient: str = "") -> Any:
        with services.db.begin() as s:
            report = BounceReport(BounceKind.HARD, recipient, message_id, "5.1.1", "user unknown", "dsn")
            return record_bounce(s, report, services.settings)

    for message_id in forged:
        assert not bounce(message_id).matched, message_id
    # with the recipient's address it falls back to that address's newest mail, never the forged id's send
    result = bounce(forged[0], "lead1@example.com")
    assert result.matched and result.send_id == b_id
    # the real id finds its send with no address at all (some providers drop it)
    result = bounce(real["lead0@example.com"])
    assert result.matched and result.send_id == a_id
    with services.db.begin() as s:
        statuses = dict(s.execute(select(Contact.email, Contact.status)).all())
    assert statuses == {"lead0@example.com": ContactStatus.BOUNCED, "lead1@example.com": ContactStatus.BOUNCED}


def test_one_off_mail_has_a_unique_message_id_with_the_sender_domain(
        services: Any, smtp_server: Any, other_installation: Services) -> None:
    version_id, _, _ = standard_setup(services, count=1)
    send_test_email(services, version_id, "qa@example.com")
    send_test_email(services, version_id, "qa@example.com")
    send_test_email(other_installation, version_id, "qa@example.com")
    ours, again, theirs = _ids(smtp_server)
    pattern = re.compile(r"<test\.[0-9a-f]{32}\.([0-9a-f]{12})@acme\.test>")
    matches = [pattern.fullmatch(i) for i in (ours, again, theirs)]
    assert all(matches) and len({ours, again, theirs}) == 3
    tokens = [m.group(1) for m in matches if m]
    assert tokens[0] == tokens[1] != tokens[2]  # the installation's token: stable, and its own


def test_the_right_side_is_the_sender_domain_in_ascii() -> None:
    assert message_id_domain("Marketing@Acme.Test") == "acme.test"
    assert message_id_domain("info@例え.jp") == "xn--r8jz45g.jp"  # IDNA, as a header must be ASCII
    assert message_id_domain("broken@") == "nurture.invalid"
