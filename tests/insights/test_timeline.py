"""The contact timeline (campaigns.insights.timeline): one story, newest first, in the account's zone, with
opens and clicks marked human or machine and score changes given their causes in words; paging by cursor
loses and repeats nothing; the contact page, its export (JSON, CSV, API) and the erase confirmation."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from campaigns.engagement.hit_buffer import make_entry
from campaigns.engagement.hit_writer import STREAM
from campaigns.insights.timeline import Cursor, contact_programs, contact_timeline
from campaigns.journeys.sequences import enroll_contact, record_event
from campaigns.models import (
    Account,
    AuditEntry,
    Contact,
    Enrollment,
    Form,
    FormSubmission,
    RuleKind,
    ScoreEntry,
    ScoringRule,
    StageChange,
)
from campaigns.models.tracking import HitKind
from tests.factories import make_contact
from tests.tracking_helpers import (
    IP_APPLE,
    IP_HOME_JP,
    UA_APPLE_MAIL,
    UA_CHROME,
    drain,
    make_broadcast,
    make_send,
    make_sequence_campaign,
)

T0 = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)  # 10:00 in Tokyo
TOKYO = ZoneInfo("Asia/Tokyo")


def _hit(services: Any, kind: HitKind, send_id: int, link_id: int = 0, ua: str = UA_CHROME, ip: str = IP_HOME_JP,
         after: timedelta = timedelta(hours=1)) -> None:
    services.redis.xadd(STREAM, make_entry(services, kind, send_id, link_id, ua, ip, at=T0 + after))


@pytest.fixture
def story(services: Any, app: Any) -> dict[str, Any]:
    """Yuki: the case-study mail at 10:00 JST, an Apple MPP open at 10:01, her own open at 11:00 and click at
    11:05, a form at 12:00, an API event at 13:00, points for the open and the form, and a move to warm."""
    with services.db.begin() as s:
        yuki = make_contact(s, "yuki@example.jp", first_name="由紀", last_name="佐藤", company="佐藤商事")
        news = make_broadcast(s, name="11月のお知らせ")
        from campaigns.models import TemplateVersion
        s.get(TemplateVersion, news.template_version_id).subject = "導入事例のご紹介"
        send_id = make_send(s, news, yuki, sent_at=T0).id
        seq = make_sequence_campaign(s, steps=2, name="ホワイトペーパー フォローアップ")
        enroll_contact(s, yuki, s.get(__import__("campaigns.models", fromlist=["Sequence"]).Sequence, seq.sequence_id))
        form = Form(name="資料ダウンロード", slug="download", fields=[])
        s.add(form)
        s.flush()
        sub = FormSubmission(form_id=form.id, contact_id=yuki.id, email=yuki.email, submitted_at=T0 + timedelta(hours=3))
        s.add(sub)
        s.flush()
        form_event = record_event(s, yuki, "form_submitted", {"form": form.name, "submission_id": sub.id},
                                  occurred_at=T0 + timedelta(hours=3), source="form")
        record_event(s, yuki, "webinar_attended", {"webinar": "MA入門"}, occurred_at=T0 + timedelta(hours=4))
        open_rule = ScoringRule(name="開封", kind=RuleKind.HUMAN_OPEN, points=5)
        form_rule = ScoringRule(name="フォーム", kind=RuleKind.FORM_SUBMITTED, points=10)
        s.add_all([open_rule, form_rule])
        s.get(Account, 1).timezone = "Asia/Tokyo"
        ids = {"contact": yuki.id, "send": send_id, "form_event": form_event.id, "open_rule": None,
               "link": news.link_ids[0], "sequence": seq.sequence_id}
        s.flush()
        ids["open_rule"], ids["form_rule"] = open_rule.id, form_rule.id
    _hit(services, HitKind.OPEN, send_id, ua=UA_APPLE_MAIL, ip=IP_APPLE, after=timedelta(minutes=1))
    _hit(services, HitKind.OPEN, send_id, after=timedelta(hours=1))
    _hit(services, HitKind.CLICK, send_id, ids["link"], after=timedelta(hours=1, minutes=5))
    drain(app)
    with services.db.begin() as s:
        from campaigns.models import Hit
        human_open = s.scalar(select(Hit.id).where(Hit.kind == HitKind.OPEN, Hit.classification == "human"))
        s.add(ScoreEntry(contact_id=ids["contact"], rule_id=ids["open_rule"], points=5, source="hit",
                         source_ref=str(human_open), occurred_at=T0 + timedelta(hours=1)))
        s.add(ScoreEntry(contact_id=ids["contact"], rule_id=ids["form_rule"], points=10, source="event",
                         source_ref=str(ids["form_event"]), occurred_at=T0 + timedelta(hours=3)))
        s.add(StageChange(contact_id=ids["contact"], from_stage="cold", to_stage="warm", cause="score_threshold",
                          detail="score 15 >= 10", changed_at=T0 + timedelta(hours=3)))
    return ids


def test_the_story_reads_newest_first_in_the_account_zone_with_causes_and_marks(services, story):
    with services.db.factory() as s:
        page = contact_timeline(s, story["contact"], TOKYO)
    assert page.zone == "Asia/Tokyo" and page.next_cursor is None
    lines = [(i.at.strftime("%H:%M"), i.kind, i.text % i.params, i.mark, i.points) for i in page.items]
    ats = [i.at for i in page.items]
    assert ats == sorted(ats, reverse=True) and all(a.utcoffset() == timedelta(hours=9) for a in ats)
    # the stage change sits above the score change that caused it, and that above the form it scored
    assert lines[:3] == [
        ("14:00", "event", "event webinar_attended", "", None),
        ("13:00", "stage", "stage cold → warm", "", None),
        ("13:00", "score", "「資料ダウンロード」 form submitted", "", 10),
    ]
    assert ("13:00", "form", "「資料ダウンロード」 form submitted", "", None) in lines  # once: not also as an event
    assert [line for line in lines if line[1] == "event"] == [lines[0]]
    assert ("11:00", "score", "opened 「導入事例のご紹介」", "", 5) in lines
    assert ("11:05", "click", "clicked a link in 「導入事例のご紹介」", "human", None) in lines
    assert ("11:00", "open", "opened 「導入事例のご紹介」", "human", None) in lines
    assert ("10:01", "open", "opened 「導入事例のご紹介」", "machine_open", None) in lines
    assert lines[-1] == ("10:00", "sent", "mail sent: 「導入事例のご紹介」", "", None)
    stage = next(i for i in page.items if i.kind == "stage")
    assert stage.detail % stage.detail_params == "score 15 reached 10"
    sent = page.items[-1]
    assert sent.detail % sent.detail_params == "broadcast 11月のお知らせ"


def test_pages_lose_and_repeat_nothing_even_at_one_instant(services, story):
    with services.db.factory() as s:
        whole = [(i.kind, i.row_id) for i in contact_timeline(s, story["contact"], TOKYO, limit=500).items]
        seen: list[tuple[str, int]] = []
        cursor = None
        for _ in range(20):
            page = contact_timeline(s, story["contact"], TOKYO, before=cursor, limit=2)
            seen += [(i.kind, i.row_id) for i in page.items]
            if page.next_cursor is None:
                break
            cursor = Cursor.parse(page.next_cursor.token())
    assert seen == whole and len(whole) == 9
    assert Cursor.parse("1.2") is None and Cursor.parse("１.2.3") is None and Cursor.parse("1.99.3") is None


def test_a_contact_with_many_hits_reads_one_page(services, story):
    with services.db.begin() as s:
        from campaigns.models import Hit
        s.add_all([Hit(event_id=f"bulk{i}", kind=HitKind.OPEN, send_id=story["send"], contact_id=story["contact"],
                       occurred_at=T0 - timedelta(minutes=i), classification="machine_open") for i in range(300)])
    with services.db.factory() as s:
        page = contact_timeline(s, story["contact"], TOKYO, limit=50)
    assert len(page.items) == 50 and page.next_cursor is not None


def test_programs_say_where_the_contact_is_and_what_comes_next(services, story):
    from campaigns.models import Journey, JourneyEnrolment, JourneyVersion

    with services.db.begin() as s:
        journey = Journey(name="展示会フォロー", status="live")
        s.add(journey)
        s.flush()
        version = JourneyVersion(journey_id=journey.id, number=1, graph={"start": "n1", "nodes": [
            {"id": "n1", "type": "send", "template_id": 1, "name": "お礼"}, {"id": "n2", "type": "wait_for"}]})
        s.add(version)
        s.flush()
        s.add(JourneyEnrolment(journey_id=journey.id, contact_id=story["contact"], version_id=version.id,
                               node_key="n2", due_at=T0 + timedelta(days=7)))
    with services.db.factory() as s:
        programs = contact_programs(s, story["contact"], TOKYO)
    # the sequence runs as a journey: its walk waits at its first step's delay, listed after the sooner one
    assert [(p.kind, p.name, p.status, p.position, p.next_text % p.next_params) for p in programs] == [
        ("journey", "展示会フォロー", "active", "", "waiting for the contact to act"),
        ("journey", "ホワイトペーパー フォローアップ", "active", "", "waiting")]
    assert programs[0].next_at == datetime(2026, 11, 27, 10, 0, tzinfo=TOKYO)


def test_contact_page_in_both_languages(ui, services, story):
    page = ui.get(f"/contacts/{story['contact']}").get_data(as_text=True)
    assert "opened 「導入事例のご紹介」" in page and "+5" in page and "Machine: image proxy" in page
    assert "times in Asia/Tokyo" in page and "ホワイトペーパー フォローアップ" in page
    ja = ui.get(f"/contacts/{story['contact']}", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "「導入事例のご紹介」を開封" in ja and "「資料ダウンロード」フォーム送信" in ja
    assert "機械：画像プロキシ" in ja and "時刻は Asia/Tokyo" in ja


def test_export_json_and_csv_from_the_page_and_the_api(ui, client, api_key, services, story):
    cid = story["contact"]
    data = ui.get(f"/contacts/{cid}/export.json").get_json(force=True)
    assert data["profile"]["email"] == "yuki@example.jp" and data["time_zone"] == "Asia/Tokyo"
    assert {h["classification"] for h in data["hits"]} == {"human", "machine_open"}
    assert [e["points"] for e in data["score_history"]] == [5, 10]
    assert data["sends"][0]["subject"] == "導入事例のご紹介" and data["sends"][0]["sent_at"].endswith("+09:00")
    resp = ui.get(f"/contacts/{cid}/export.csv")
    assert resp.headers["Content-Disposition"] == f'attachment; filename="contact-{cid}.csv"'
    body = resp.get_data(as_text=True)
    assert body.startswith("\ufeff") and not body.startswith("\ufeff\ufeff")  # one BOM, for Excel
    rows = list(csv.reader(io.StringIO(body[1:])))
    assert rows[0] == ["section", "at", "name", "value", "detail"]
    assert ["profile", "", "last_name", "佐藤", ""] in rows
    assert any(r[0] == "score" and r[3] == "10" for r in rows)
    headers = {"Authorization": f"Bearer {api_key}"}
    api_json = client.get(f"/api/v1/contacts/{cid}/export", headers=headers).get_json()
    assert api_json["profile"] == data["profile"]
    api_csv = client.get(f"/api/v1/contacts/{cid}/export?format=csv", headers=headers)
    assert api_csv.mimetype == "text/csv" and "佐藤" in api_csv.get_data(as_text=True)
    bad = client.get(f"/api/v1/contacts/{cid}/export?format=xml", headers=headers)
    assert bad.status_code == 422 and "format" in bad.get_json()["details"]
    assert client.get("/api/v1/contacts/999999/export", headers=headers).status_code == 404
    assert ui.get(f"/contacts/{cid}/export.xml").status_code == 404


def test_erase_asks_for_the_address_or_erase_and_refuses_anything_else(ui, client, api_key, services, story):
    cid = story["contact"]
    for wrong in ("", "yes", "yuki@example.com", "erase me"):
        resp = ui.post(f"/contacts/{cid}/erase", {"confirm": wrong}, page=f"/contacts/{cid}")
        assert resp.status_code == 302
    with services.db.factory() as s:
        assert s.get(Contact, cid).email == "yuki@example.jp"
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == 0
    headers = {"Authorization": f"Bearer {api_key}"}
    refused = client.post(f"/api/v1/contacts/{cid}/erase", json={"confirm": "yes"}, headers=headers)
    assert refused.status_code == 422 and refused.get_json()["details"] == {
        "confirm": "must be the contact's email address or ERASE"}
    assert client.post(f"/api/v1/contacts/{cid}/erase", json={}, headers=headers).status_code == 422
    assert client.post("/api/v1/contacts/999999/erase", json={"confirm": "ERASE"}, headers=headers).status_code == 404
    page = ui.post(f"/contacts/{cid}/erase", {"confirm": "削除"}, page=f"/contacts/{cid}", follow_redirects=True)
    text = page.get_data(as_text=True)
    assert "personal data was erased" in text and "yuki@example.jp" not in text and "佐藤" not in text
    assert text.count("「資料ダウンロード」 form submitted") == 2  # the story still reads: the form and its points
    with services.db.factory() as s:
        entry = s.scalar(select(AuditEntry))
        assert (entry.actor, entry.object_id) == ("user:marketer@acme.test", cid)
        assert s.scalar(select(func.count()).select_from(Enrollment).where(Enrollment.status == "active")) == 0
    again = client.post(f"/api/v1/contacts/{cid}/erase", json={"confirm": "ERASE"}, headers=headers)
    assert again.status_code == 200 and again.get_json()["already_erased"] is True
