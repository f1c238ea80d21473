"""The legal minimum of marketing mail: sender name, postal address, contact, opt-out statement and link in
both parts of every delivered mail; nothing can be scheduled, activated or sent without them."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from campaigns.automation.linear import activate_sequence
from campaigns.compliance import SenderNotConfigured, sender_problems
from campaigns.delivery.sending import deliver_batch
from campaigns.journeys.broadcasts import create_broadcast, schedule_broadcast
from campaigns.journeys.sequences import sequence_problems
from campaigns.models import Send, SendStatus
from campaigns.users import get_account
from tests.factories import make_sequence, make_template
from tests.sending_helpers import standard_setup

OPT_OUT_JA = "今後このようなメールの配信を希望されない場合は"
OPT_OUT_EN = "If you no longer wish to receive these emails"


def _parts(message: Any) -> tuple[str, str]:
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    return text, html


def test_every_delivered_mail_carries_sender_address_contact_and_opt_out_in_both_parts(
        services: Any, smtp_server: Any) -> None:
    _, contact_ids, ids = standard_setup(services, count=3)
    assert deliver_batch(services, ids)["sent"] == 3
    for mail in smtp_server.wait_for(3):
        text, html = _parts(mail.message)
        unsubscribe = mail.message["List-Unsubscribe"].split(",")[0].strip().strip("<>")
        for part in (text, html):
            assert "Acme 株式会社" in part  # the sender's name (setup_account)
            assert "東京都千代田区丸の内1-1-1" in part  # postal address
            assert "support@acme.test" in part  # contact for enquiries
            assert OPT_OUT_JA in part and OPT_OUT_EN in part  # the opt-out statement
            assert unsubscribe in part  # the opt-out link, the same one as in the header


@pytest.mark.parametrize("field", ["postal_address", "contact_info", "name"])
def test_incomplete_sender_identity_refuses_scheduling_activation_and_sending(
        services: Any, smtp_server: Any, field: str) -> None:
    _, _, ids = standard_setup(services, count=2)
    with services.db.begin() as s:
        account = get_account(s)
        if field == "name":
            account.company_name = account.from_name = " "
        else:
            setattr(account, field, "")
        assert sender_problems(account)
        template = make_template(s, "Announcement")
        broadcast = create_broadcast(s, "Launch", template.id)
        sequence = make_sequence(s, [{"template_id": template.id}], active=False)
        broadcast_id, sequence_id = broadcast.id, sequence.id

    with services.db.begin() as s:
        from campaigns.models import Broadcast, Sequence

        broadcast = s.get(Broadcast, broadcast_id)
        with pytest.raises(SenderNotConfigured, match="fill in Settings"):
            schedule_broadcast(s, broadcast)
        sequence = s.get(Sequence, sequence_id)
        assert any("fill in Settings" in p for p in sequence_problems(s, sequence))
        with pytest.raises(ValueError, match="fill in Settings"):
            activate_sequence(s, sequence)
        s.rollback()

    # Sends planned before the fields were cleared: the sender refuses, and loses nothing.
    with pytest.raises(SenderNotConfigured):
        deliver_batch(services, ids)
    assert smtp_server.messages == []
    with services.db.begin() as s:
        statuses = set(s.scalars(select(Send.status).where(Send.id.in_(ids))))
    assert statuses == {SendStatus.QUEUED}

    # Filled in again: the same sends go out.
    with services.db.begin() as s:
        account = get_account(s)
        account.company_name, account.postal_address, account.contact_info = "Acme", "Osaka 1-1", "info@acme.test"
    assert deliver_batch(services, ids)["sent"] == 2


def test_ui_and_api_show_the_refusal(ui: Any, client: Any, api_key: str, services: Any) -> None:
    with services.db.begin() as s:
        get_account(s).postal_address = ""
        template = make_template(s, "Announcement")
        broadcast_id = create_broadcast(s, "Launch", template.id).id
    resp = ui.post(f"/broadcasts/{broadcast_id}/schedule", {"when": "now"}, page=f"/broadcasts/{broadcast_id}",
                   follow_redirects=True)
    assert "postal address" in resp.get_data(as_text=True)
    api = client.post(f"/api/v1/broadcasts/{broadcast_id}/schedule", json={},
                      headers={"Authorization": f"Bearer {api_key}"})
    assert 400 <= api.status_code < 500 and "postal address" in api.get_data(as_text=True)
    from campaigns.models import Broadcast, BroadcastStatus

    with services.db.begin() as s:
        assert s.get(Broadcast, broadcast_id).status == BroadcastStatus.DRAFT
