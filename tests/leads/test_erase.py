"""Erasing a contact (campaigns.leads.erase): nothing personal is left in any column of any table, while
report numbers, row counts and the suppression of the address stay; one audit line is written."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import JSON, String, Text, func, select

from campaigns.db import Base
from campaigns.engagement.hit_buffer import make_entry
from campaigns.engagement.hit_writer import STREAM
from campaigns.insights.reports import broadcast_report, sequence_report
from campaigns.journeys.sequences import record_event
from campaigns.leads.contacts import contact_by_email
from campaigns.leads.erase import EraseError, erase_contact, erased_address, is_erased
from campaigns.models import (
    AuditEntry,
    Contact,
    ContactList,
    ContactListMember,
    ContactStatus,
    DeliveryState,
    Form,
    FormSubmission,
    Hit,
    ImportJob,
    OutboxMessage,
    ScoreTrigger,
    SendStatus,
    StageChange,
    Suppression,
    TriggerAction,
    TriggerWhen,
    WebhookDelivery,
)
from campaigns.models.journeys import Journey, JourneyEnrolment
from campaigns.models.tracking import HitKind
from campaigns.suppression import is_suppressed, suppression_key
from tests.factories import make_contact
from tests.tracking_helpers import (
    IP_HOME_JP,
    IP_OFFICE,
    UA_CHROME,
    UA_IPHONE_SAFARI,
    drain,
    make_broadcast,
    make_send,
    make_sequence_campaign,
)

ADDRESS = "Hanako.Yamada@example.co.jp"
PHONE = "090-1234-5678"
T0 = datetime.now(UTC) - timedelta(hours=6)
# Every piece of her data, as it may appear anywhere (lower-cased: the walk compares lower-cased text).
PERSONAL = [ADDRESS.lower(), "hanako", "山田", "花子", "山田商事", "マーケティング部長", PHONE, "横浜",
            "yamada.example", "126.15.34", "chrome/"]


def _hit(services: Any, kind: HitKind, send_id: int, link_id: int = 0, ip: str = IP_HOME_JP, ua: str = UA_CHROME) -> None:
    services.redis.xadd(STREAM, make_entry(services, kind, send_id, link_id, ua, ip, at=T0 + timedelta(hours=1)))


@pytest.fixture
def story(services: Any, app: Any) -> dict[str, Any]:
    """Hanako, with her data in every table that can hold it, and a bystander with the same kinds of rows."""
    with services.db.begin() as s:
        her = make_contact(s, ADDRESS, first_name="花子", last_name="山田", company="山田商事株式会社",
                           job_title="マーケティング部長", timezone="Asia/Tokyo", source="web",
                           attributes={"phone": PHONE, "city": "横浜"}, consent_method="form",
                           consent_source="https://yamada.example/form", consent_text="同意します")
        other = make_contact(s, "other@example.jp", first_name="太郎", company="Other KK")
        news = make_broadcast(s)
        seq = make_sequence_campaign(s)
        sends = {"her": make_send(s, news, her, sent_at=T0).id, "other": make_send(s, news, other, sent_at=T0).id}
        failed = make_send(s, seq, her, step_index=0, status=SendStatus.FAILED)
        failed.error = f"550 5.1.1 <{ADDRESS.lower()}>: user unknown"
        make_send(s, seq, her, step_index=1, status=SendStatus.QUEUED)
        record_event(s, her, "page_viewed", {"url": "https://yamada.example/?tel=" + PHONE, "name": "山田 花子"})
        record_event(s, other, "page_viewed", {"url": "https://acme.test/pricing"})
        form = Form(name="資料ダウンロード", slug="download", fields=[], consent_text="ご案内の送付に同意します")
        s.add(form)
        s.flush()
        s.add(FormSubmission(form_id=form.id, contact_id=her.id, email=ADDRESS, ip="126.15.34.0",
                             values={"email": ADDRESS, "last_name": "山田", "phone": PHONE}, user_agent=UA_CHROME,
                             referrer="https://yamada.example/blog", consent_text=form.consent_text))
        s.add(StageChange(contact_id=her.id, from_stage="hot", to_stage="sql", cause="sales",
                          detail=f"sales@acme.test · 山田様から電話 {PHONE}"))
        trigger = ScoreTrigger(name="to sales", when=TriggerWhen.STAGE, stage="sql", action=TriggerAction.WEBHOOK,
                               webhook_url="https://crm.acme.test/hook")
        s.add(trigger)
        s.flush()
        s.add(WebhookDelivery(delivery_id="dlv_her", trigger_id=trigger.id, contact_id=her.id,
                              url="https://crm.acme.test/hook", state=DeliveryState.RETRYING,
                              payload={"id": "dlv_her", "contact": {"id": her.id, "email": ADDRESS, "last_name": "山田"}},
                              history=[{"attempt": 1, "at": T0.isoformat(), "status": 500, "ok": False,
                                        "excerpt": f"duplicate {ADDRESS}"}],
                              response_excerpt=f"duplicate {ADDRESS}", last_error=f"duplicate {ADDRESS}"))
        s.add(ImportJob(filename="leads.csv", path="/tmp/x.csv", failed=2, errors=[
            {"line": 3, "email": ADDRESS, "reason": "attributes.phone is too long"},
            {"line": 4, "email": "broken@", "reason": "not a valid email address"}]))
        body = base64.b64encode(f"山田 花子 <{ADDRESS}> is now an SQL".encode()).decode()
        s.add(OutboxMessage(mail_from="marketing@acme.test", recipients=ADDRESS, subject="Hello 花子",
                            raw=f"To: {ADDRESS}\r\nSubject: Hello\r\n\r\nHi"))
        s.add(OutboxMessage(mail_from="marketing@acme.test", recipients="sales@acme.test", subject="New SQL",
                            raw="To: sales@acme.test\r\nSubject: New SQL\r\nMIME-Version: 1.0\r\n"
                                "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                                f"{body}\r\n"))
        s.add(OutboxMessage(mail_from="marketing@acme.test", recipients="other@example.jp", subject="Hi",
                            raw="To: other@example.jp\r\nSubject: Hi\r\n\r\nHi"))
        lst = ContactList(name="展示会2026")
        s.add(lst)
        s.flush()
        s.add(ContactListMember(list_id=lst.id, contact_id=her.id))
        journey = Journey(name="Onboarding")
        s.add(journey)
        s.flush()
        s.add(JourneyEnrolment(journey_id=journey.id, contact_id=her.id, version_id=0, node_key="n1",
                               context={"event": {"phone": PHONE}}))
        her_id, other_id = her.id, other.id
    _hit(services, HitKind.OPEN, sends["her"])
    _hit(services, HitKind.CLICK, sends["her"], news.link_ids[0])
    _hit(services, HitKind.OPEN, sends["other"], ip=IP_OFFICE, ua=UA_IPHONE_SAFARI)  # not her data
    drain(app)
    return {"her": her_id, "other": other_id, "broadcast": news.broadcast_id, "sequence": seq.sequence_id}


def _text_columns() -> list[tuple[Any, Any]]:
    return [(table, column) for table in Base.metadata.sorted_tables for column in table.columns
            if isinstance(column.type, (String, Text, JSON)) or "JSON" in type(column.type).__name__.upper()]


def _leftovers(session: Any) -> list[str]:
    """Every (table.column = value) in the whole database that still holds a piece of her data."""
    found = []
    for table, column in _text_columns():
        for value in session.execute(select(column).where(column.isnot(None))).scalars():
            text = (value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)).lower()
            hits = [needle for needle in PERSONAL if needle in text]
            if hits and not (table.name == "suppressions" and column.name == "email"):
                found.append(f"{table.name}.{column.name} = {text[:120]!r} ({hits})")
    return found


def _numbers(session: Any, story: dict[str, Any]) -> dict[str, Any]:
    report = broadcast_report(session, story["broadcast"])
    seq = sequence_report(session, story["sequence"])
    assert report is not None and seq is not None
    counts = {name: session.scalar(select(func.count()).select_from(Base.metadata.tables[name]))
              for name in ("contacts", "sends", "tracking_hits", "events", "engagement_rollups", "form_submissions",
                           "stage_changes", "score_entries")}
    return {"broadcast": repr(report["summary"]), "links": repr(report["links"]), "sequence": repr(seq["summary"]),
            "counts": counts}


def test_erase_leaves_nothing_personal_and_keeps_the_numbers(services, story):
    with services.db.factory() as s:
        assert len(_leftovers(s)) > 15  # the fixture really spread her data everywhere
        before = _numbers(s, story)
    with services.db.begin() as s:
        result = erase_contact(s, story["her"], actor="user:marketer@acme.test")
    assert result.counts["tracking_hits"] == 2 and result.counts["outbox_messages"] == 2
    with services.db.factory() as s:
        assert _leftovers(s) == []
        # every count stays; only the mail that had not gone yet is cancelled (it must never go)
        before["sequence"] = before["sequence"].replace("queued=1", "queued=0")
        assert _numbers(s, story) == before
        her = s.get(Contact, story["her"])
        assert is_erased(her) and her.email == erased_address(her.id) and her.status == ContactStatus.UNSUBSCRIBED
        assert (her.source, her.consent_method) == ("web", "form")  # not personal; KPIs by source stay
        # the address stays suppressed, in plain form, and no new contact with it can be mailed
        assert is_suppressed(s, ADDRESS) and is_suppressed(s, ADDRESS.upper())
        entry = s.scalar(select(Suppression).where(Suppression.email == suppression_key(ADDRESS)))
        assert entry is not None and (entry.reason, entry.detail) == ("erased", "")
        assert contact_by_email(s, ADDRESS) is None
        # one audit line: who, what, which id, counts; nothing personal (the walk above read it too)
        audit = s.scalars(select(AuditEntry)).all()
        assert [(a.actor, a.action, a.object_type, a.object_id) for a in audit] == [
            ("user:marketer@acme.test", "contact_erased", "contact", story["her"])]
        assert audit[0].detail["tracking_hits"] == 2
        # a hand-over not yet delivered never goes out with the emptied payload
        delivery = s.scalar(select(WebhookDelivery))
        assert delivery.state == DeliveryState.FAILED and delivery.payload["contact"] == {"id": her.id, "erased": True}
        # the import keeps its other error row as it was
        job = s.scalar(select(ImportJob))
        assert job.errors[1]["email"] == "broken@" and job.errors[0]["line"] == 3
        # the bystander is untouched: address, hits' IP and user agent, outbox mail
        other = s.get(Contact, story["other"])
        assert (other.email, other.first_name, other.company) == ("other@example.jp", "太郎", "Other KK")
        assert all(h.ip and h.user_agent for h in s.scalars(select(Hit).where(Hit.contact_id == other.id)))
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 1
        assert s.scalar(select(FormSubmission.consent_text)) == "ご案内の送付に同意します"  # the record of consent


def test_erase_is_repeatable_and_refuses_an_unknown_id(services, story):
    with services.db.begin() as s:
        erase_contact(s, story["her"], actor="api-key:1")
    with services.db.begin() as s:
        again = erase_contact(s, story["her"], actor="api-key:1")
        assert again.already_erased
        with pytest.raises(EraseError):
            erase_contact(s, 999_999, actor="api-key:1")
    with services.db.factory() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == 2
        assert is_suppressed(s, ADDRESS)


def test_a_manual_suppression_becomes_one_nobody_lifts_by_accident(services, story):
    from campaigns.suppression import SuppressionError, suppress, unsuppress

    with services.db.begin() as s:
        suppress(s, ADDRESS, "manual", f"asked by phone {PHONE}")
    with services.db.begin() as s:
        erase_contact(s, story["her"], actor="cli")
    with services.db.begin() as s:
        with pytest.raises(SuppressionError):
            unsuppress(s, ADDRESS)
        assert _leftovers(s) == []
