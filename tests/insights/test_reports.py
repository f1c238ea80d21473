"""Report numbers against hand-counted fixtures, CSV safety, the report pages, and a browser test of the chart."""

from __future__ import annotations

import csv
import io
import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from campaigns.engagement.hit_buffer import make_entry
from campaigns.engagement.hit_writer import STREAM
from campaigns.insights.reports import (
    broadcast_report,
    contact_timeline,
    sequence_report,
    timeseries,
)
from campaigns.models import Enrollment, Event, Send, SendStatus, Step, TemplateVersion
from campaigns.models.tracking import HitKind, RollupScope
from campaigns.spreadsheet import csv_safe, to_csv
from tests.conftest import USER_EMAIL, USER_PASSWORD
from tests.factories import make_contact
from tests.tracking_helpers import (
    IP_APPLE,
    IP_HOME_JP,
    IP_OFFICE,
    IP_PROOFPOINT,
    UA_APPLE_MAIL,
    UA_CHROME,
    UA_IPHONE_SAFARI,
    drain,
    make_broadcast,
    make_send,
    make_sequence_campaign,
)

T0 = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)  # delivery time of every send below


def hit(services, kind, send_id, link_id=0, ua=UA_CHROME, ip=IP_HOME_JP, after=timedelta(hours=2)):
    services.redis.xadd(STREAM, make_entry(services, kind, send_id, link_id, ua, ip, at=T0 + after))


@pytest.fixture
def newsletter(services, app, client):
    """Six sends of one broadcast, hits by people, Apple MPP, a link scanner, and one unsubscribe.

    Hand count: delivered 4 (A, B, C, D), bounced 1, queued 1; unique human opens 2 (A by opening,
    C only by clicking), unique human clicks 2 (A, C); B's open is Apple MPP; D is a gateway that
    fetched the pixel and clicked every link plus the honeypot within two seconds.
    """
    with services.db.begin() as s:
        campaign = make_broadcast(s, name='=HYPERLINK("http://evil.test","Nov")')
        people = {name: make_contact(s, email=f"{name.lower()}@example.jp") for name in "ABCDEF"}
        sends = {name: make_send(s, campaign, people[name], sent_at=T0).id for name in "ABCD"}
        sends["E"] = make_send(s, campaign, people["E"], status=SendStatus.FAILED).id
        sends["F"] = make_send(s, campaign, people["F"], status=SendStatus.QUEUED).id
        contact_ids = {n: c.id for n, c in people.items()}
    a, b, c, d = sends["A"], sends["B"], sends["C"], sends["D"]
    l0, l1, l2 = campaign.link_ids
    hit(services, HitKind.OPEN, a, ua=UA_APPLE_MAIL, after=timedelta(hours=2, minutes=5))
    hit(services, HitKind.OPEN, a, ua=UA_APPLE_MAIL, after=timedelta(hours=3, minutes=1))
    hit(services, HitKind.CLICK, a, l0, ua=UA_APPLE_MAIL, after=timedelta(hours=3, minutes=2))
    hit(services, HitKind.OPEN, b, ua=UA_APPLE_MAIL, ip=IP_APPLE, after=timedelta(minutes=1))
    hit(services, HitKind.CLICK, c, l1, ua=UA_IPHONE_SAFARI, after=timedelta(hours=5, minutes=30))
    hit(services, HitKind.OPEN, d, ip=IP_PROOFPOINT, after=timedelta(seconds=20))
    for i, link in enumerate([l0, l1, l2, campaign.honeypot_id]):
        hit(services, HitKind.CLICK, d, link, ip=IP_OFFICE, after=timedelta(seconds=30 + i * 0.5))
    drain(app)
    client.post(services.urls.unsubscribe(contact_ids["C"], c).replace("http://nurture.test", ""))
    return campaign, sends, contact_ids


def test_broadcast_numbers_match_the_hand_count(services, newsletter):
    campaign, _sends, _ids = newsletter
    with services.db.factory() as s:
        report = broadcast_report(s, campaign.broadcast_id)
    summary = report["summary"]
    assert (summary.sends, summary.delivered, summary.bounced, summary.queued) == (6, 4, 1, 1)
    assert (summary.unique_opens, summary.implied_opens, summary.unique_clicks) == (2, 1, 2)
    assert (summary.open_rate, summary.click_rate, summary.click_to_open_rate) == (0.5, 0.5, 1.0)
    assert summary.unsubscribes == 1 and summary.complaints == 0
    assert summary.raw == {"open_human": 2, "open_machine_open": 1, "open_scanner": 1,
                           "click_human": 2, "click_scanner": 4}
    links = {row.url: (row.human_clicks, row.unique_clicks, row.scanner_clicks, row.honeypot)
             for row in report["links"]}
    assert links == {
        "https://acme.test/a": (1, 1, 1, False),
        "https://acme.test/b": (1, 1, 1, False),
        "https://acme.test/c": (0, 0, 1, False),
        "https://acme.test/hp": (0, 0, 1, True),
    }


def test_series_put_hits_in_their_hours_and_days(services, newsletter):
    campaign, _sends, _ids = newsletter
    with services.db.factory() as s:
        hourly = timeseries(s, RollupScope.BROADCAST, [campaign.broadcast_id], "hour")
        daily = timeseries(s, RollupScope.BROADCAST, [campaign.broadcast_id], "day")
    # From 01:00 (the scanner and MPP) to 06:00 (C's click at 06:30), every hour present.
    assert hourly["labels"] == [f"2026-11-20 {h:02d}:00" for h in range(1, 7)]
    assert hourly["series"]["unique_open"] == [0, 0, 1, 0, 0, 1]
    assert hourly["series"]["open_human"] == [0, 0, 1, 1, 0, 0]
    assert hourly["series"]["click_scanner"] == [4, 0, 0, 0, 0, 0]
    assert hourly["series"]["open_machine_open"] == [1, 0, 0, 0, 0, 0]
    assert daily["labels"] == ["2026-11-20"]
    assert daily["series"]["unique_click"] == [2]
    with pytest.raises(ValueError):
        timeseries(s, RollupScope.BROADCAST, [campaign.broadcast_id], "minute")


def test_days_and_hours_are_the_account_zone(services, app, ui):
    """Rollups are UTC hours; a Tokyo account reads them in Tokyo: an open at 23:30 UTC on Nov 20 is 08:30 on
    Nov 21 in Tokyo, so the day series has two days there and one in UTC."""
    with services.db.begin() as s:
        campaign = make_broadcast(s, name="Late")
        sends = [make_send(s, campaign, make_contact(s, email=f"late{i}@example.jp"), sent_at=T0).id for i in range(2)]
        reader = s.get_one(Send, sends[1]).contact_id
    hit(services, HitKind.OPEN, sends[0], ua=UA_APPLE_MAIL, after=timedelta(hours=2))  # 03:00 UTC, 12:00 JST
    hit(services, HitKind.OPEN, sends[1], ua=UA_APPLE_MAIL, after=timedelta(hours=22, minutes=30))  # 23:30 UTC
    drain(app)
    tokyo = ZoneInfo("Asia/Tokyo")
    b = campaign.broadcast_id
    with services.db.factory() as s:
        in_utc = timeseries(s, RollupScope.BROADCAST, [b], "day")
        daily = timeseries(s, RollupScope.BROADCAST, [b], "day", zone=tokyo)
        hourly = timeseries(s, RollupScope.BROADCAST, [b], "hour", zone=tokyo)
    assert (in_utc["labels"], in_utc["series"]["unique_open"]) == (["2026-11-20"], [2])
    assert (daily["labels"], daily["series"]["unique_open"]) == (["2026-11-20", "2026-11-21"], [1, 1])
    assert hourly["labels"][0] == "2026-11-20 12:00" and hourly["labels"][-1] == "2026-11-21 08:00"
    assert len(hourly["labels"]) == 21 and hourly["series"]["unique_open"][-1] == 1

    # the pages, JSON and CSV use the account's zone (Asia/Tokyo in the test account)
    assert ui.get(f"/reports/broadcasts/{b}/series.json?granularity=day").get_json()["labels"] == \
        ["2026-11-20", "2026-11-21"]
    rows = list(csv.reader(io.StringIO(ui.get(f"/reports/broadcasts/{b}/export.csv?part=series&granularity=day")
                                       .get_data(as_text=True).lstrip("\ufeff"))))
    assert [(r[0], r[rows[0].index("unique_open")]) for r in rows[1:]] == [("2026-11-20", "1"), ("2026-11-21", "1")]
    page = ui.get(f"/reports/broadcasts/{b}").get_data(as_text=True)
    assert "Times in Asia/Tokyo." in page and "UTC" not in page
    timeline = ui.get(f"/reports/contacts/{reader}").get_data(as_text=True)
    assert "When (Asia/Tokyo)" in timeline and "Nov 21, 2026, 08:30:00" in timeline and "23:30" not in timeline
    ja = ui.get(f"/reports/contacts/{reader}", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "日時（Asia/Tokyo）" in ja


def test_sequence_steps_and_funnel(services, app):
    with services.db.begin() as s:
        seq = make_sequence_campaign(s, steps=2, goal_event="demo_booked")
        people = [make_contact(s) for _ in range(3)]
        step1, step2 = {}, {}
        for i, person in enumerate(people):
            enrollment = Enrollment(contact_id=person.id, sequence_id=seq.sequence_id,
                                    enrolled_at=T0 - timedelta(days=1))
            s.add(enrollment)
            s.flush()
            step1[i] = make_send(s, seq, person, step_index=0, enrollment=enrollment, sent_at=T0).id
            if i < 2:
                step2[i] = make_send(s, seq, person, step_index=1, enrollment=enrollment,
                                     sent_at=T0 + timedelta(days=1)).id
        # Person 0 reached the goal after enrolling; person 2's goal event predates the enrolment.
        s.add(Event(contact_id=people[0].id, name="demo_booked", occurred_at=T0 + timedelta(days=2)))
        s.add(Event(contact_id=people[2].id, name="demo_booked", occurred_at=T0 - timedelta(days=3)))
        ids = [p.id for p in people]
    hit(services, HitKind.OPEN, step1[0])
    hit(services, HitKind.OPEN, step1[1])
    hit(services, HitKind.CLICK, step1[1], seq.link_ids[0], after=timedelta(hours=3))
    hit(services, HitKind.OPEN, step2[0], after=timedelta(days=1, hours=1))
    drain(app)
    with services.db.factory() as s:
        report = sequence_report(s, seq.sequence_id)
    by_position = {r["step"].position: r["summary"] for r in report["steps"]}
    assert (by_position[1].delivered, by_position[1].unique_opens, by_position[1].unique_clicks) == (3, 2, 1)
    assert (by_position[2].delivered, by_position[2].unique_opens, by_position[2].unique_clicks) == (2, 1, 0)
    total = report["summary"]
    assert (total.delivered, total.unique_opens, total.unique_clicks) == (5, 3, 1)
    assert [(f.label, f.position, f.contacts) for f in report["funnel"]] == [
        ("enrolled", None, 3), ("step", 1, 3), ("step", 2, 2), ("goal", None, 1)]
    assert ids  # contacts exist


def test_contact_timeline_merges_sends_hits_and_events(services, newsletter):
    _campaign, _sends, ids = newsletter
    with services.db.factory() as s:
        contact, items = contact_timeline(s, ids["A"])
        assert contact is not None
        assert [i.kind for i in items] == ["click", "open", "open", "send"]
        assert items[0].detail == "https://acme.test/a" and items[0].classification == "human"
        _c, items_c = contact_timeline(s, ids["C"])
        assert [i.kind for i in items_c][0] == "event" and items_c[0].title == "unsubscribed"
        assert contact_timeline(s, 999_999) == (None, [])


# ------------------------------------------------------------------ CSV
@pytest.mark.parametrize("value,expected", [
    ("=1+1", "'=1+1"), ("+81 3 1234", "'+81 3 1234"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=cmd", "'\t=cmd"), ("\r=cmd", "'\r=cmd"), ("＝1+1", "'＝1+1"), ("plain", "plain"), ("a=b", "a=b"),
    (42, 42), (-3, -3), (0.5, 0.5), (None, ""), (True, "yes"),
])
def test_csv_cells_are_defused(value, expected):
    assert csv_safe(value) == expected


def test_csv_export_round_trips_and_defuses(ui, services, newsletter):
    campaign, _sends, _ids = newsletter
    resp = ui.get(f"/reports/broadcasts/{campaign.broadcast_id}/export.csv?part=summary")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    text = resp.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    header, first = rows[0], rows[1]
    assert first[0] == '\'=HYPERLINK("http://evil.test","Nov")'
    record = dict(zip(header, first, strict=True))
    assert (record["delivered"], record["unique_human_opens"], record["unique_human_clicks"]) == ("4", "2", "2")
    assert record["open_rate"] == "50.00%" and record["scanner_clicks"] == "4"
    links = list(csv.reader(io.StringIO(ui.get(
        f"/reports/broadcasts/{campaign.broadcast_id}/export.csv?part=links").get_data(as_text=True).lstrip("\ufeff"))))
    assert links[0][:3] == ["mail", "position", "url"] and len(links) == 5
    series = ui.get(f"/reports/broadcasts/{campaign.broadcast_id}/export.csv?part=series&granularity=day")
    assert series.status_code == 200 and "2026-11-20" in series.get_data(as_text=True)
    assert ui.get(f"/reports/broadcasts/{campaign.broadcast_id}/export.csv?part=secrets").status_code == 400
    assert to_csv(["a"], [["=x"]]).splitlines()[1] == "'=x"


# ------------------------------------------------------------------ pages
def test_report_pages_render_and_need_login(client, ui, services, newsletter):
    campaign, _sends, ids = newsletter
    b = campaign.broadcast_id
    anonymous = client.application.test_client()
    assert anonymous.get(f"/reports/broadcasts/{b}").status_code == 302
    page = ui.get("/reports/").get_data(as_text=True)
    assert f"/reports/broadcasts/{b}" in page and "HYPERLINK" in page
    page = ui.get(f"/reports/broadcasts/{b}").get_data(as_text=True)
    assert 'data-testid="unique-opens">2<' in page and 'data-testid="scanner-clicks">4<' in page
    assert "<script>" not in page  # CSP: no inline scripts
    data = ui.get(f"/reports/broadcasts/{b}.json").get_json()
    assert data["summary"]["unique_opens"] == 2 and data["summary"]["click_to_open_rate"] == 1.0
    series = ui.get(f"/reports/broadcasts/{b}/series.json?granularity=day").get_json()
    assert series["labels"] == ["2026-11-20"]
    bad = ui.get(f"/reports/broadcasts/{b}/series.json?granularity=minute", headers={"Accept": "application/json"})
    assert bad.status_code == 400 and "granularity" in bad.get_json()["message"]
    assert ui.get("/reports/broadcasts/999999").status_code == 404
    timeline = ui.get(f"/reports/contacts/{ids['A']}").get_data(as_text=True)
    assert "https://acme.test/a" in timeline
    ja = ui.get(f"/reports/broadcasts/{b}", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "ユニーク" in ja


def test_sequence_report_page(ui, services, app):
    with services.db.begin() as s:
        seq = make_sequence_campaign(s, steps=2, active=False)  # its own report (an activated one: its journey's)
        person = make_contact(s)
        s.add(Enrollment(contact_id=person.id, sequence_id=seq.sequence_id))
        make_send(s, seq, person, step_index=0, sent_at=T0)
    page = ui.get(f"/reports/sequences/{seq.sequence_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="funnel-chart"' in html and 'data-testid="funnel-1">1<' in html
    data = ui.get(f"/reports/sequences/{seq.sequence_id}.json").get_json()
    assert [f["contacts"] for f in data["funnel"]] == [1, 1, 0, 0]
    assert ui.get(f"/reports/sequences/{seq.sequence_id}/series.json?step=999999").status_code == 404
    csv_text = ui.get(f"/reports/sequences/{seq.sequence_id}/export.csv").get_data(as_text=True)
    assert "step 1:" in csv_text
    assert "<th>Mail</th>" not in html  # one template: its links need no mail column


def test_sequence_report_links_say_which_mail_they_are_in(ui, services):
    from tests.tracking_helpers import make_version

    with services.db.begin() as s:
        seq = make_sequence_campaign(s, steps=2, active=False)  # its own report (an activated one: its journey's)
        other_version, _links, _hp = make_version(s, ["https://acme.test/case-study"], name="Case study mail")
        s.get(Step, seq.step_ids[1]).template_id = s.get(TemplateVersion, other_version).template_id
        s.get(TemplateVersion, seq.template_version_id).template.name = "Welcome mail"
    html = ui.get(f"/reports/sequences/{seq.sequence_id}").get_data(as_text=True)
    links = html.split('data-testid="links"', 1)[1].split("</table>", 1)[0]
    assert "<th>Mail</th>" in links
    assert links.index("Welcome mail v1") < links.index("https://acme.test/demo") < links.index("Case study mail v1") \
        < links.index("https://acme.test/case-study")
    csv_text = ui.get(f"/reports/sequences/{seq.sequence_id}/export.csv?part=links").get_data(as_text=True)
    assert "Case study mail v1,1,https://acme.test/case-study" in csv_text


# ------------------------------------------------------------------ browser
@pytest.mark.browser
def test_browser_sees_the_report_chart(app, user, services, newsletter):
    playwright = pytest.importorskip("playwright.sync_api")
    campaign, _sends, _ids = newsletter
    server = make_server("127.0.0.1", 0, app, threaded=True)
    port = server.server_port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                      "--disable-component-update", "--disable-sync", "--no-first-run"],
            )
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: errors.append(msg.text)
                    if msg.type == "error" and "Failed to load resource" not in msg.text else None)
            page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
                    if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
            base = f"http://127.0.0.1:{port}"
            page.goto(f"{base}/login")
            page.fill("input[name=email]", USER_EMAIL)
            page.fill("input[name=password]", USER_PASSWORD)
            page.click("main button.primary[type=submit]")
            page.wait_for_url(f"{base}/")
            page.goto(f"{base}/reports/broadcasts/{campaign.broadcast_id}")
            page.wait_for_selector("#series-chart[data-rendered]", timeout=15000)
            assert page.get_attribute("#series-chart", "data-rendered") == "6"  # six hourly buckets
            points = page.evaluate(
                "() => Chart.getChart(document.getElementById('series-chart')).data.datasets[0].data"
            )
            assert points == [0, 0, 1, 0, 0, 1]
            box = page.locator("#series-chart").bounding_box()
            assert box and box["width"] > 200 and box["height"] > 50
            page.click("button[data-granularity=day]")
            page.wait_for_selector("#series-chart[data-rendered='1']", timeout=15000)
            assert errors == []
            browser.close()
    finally:
        server.shutdown()
        thread.join(5)
    with services.db.factory() as s:
        assert s.scalar(select(Event.id).where(Event.name == "unsubscribed")) is not None


def test_reports_over_the_api(client, api_key, services, newsletter):
    campaign, _sends, ids = newsletter
    b = campaign.broadcast_id
    auth = {"Authorization": f"Bearer {api_key}"}
    assert client.get(f"/api/v1/reports/broadcasts/{b}").status_code == 401
    data = client.get(f"/api/v1/reports/broadcasts/{b}", headers=auth).get_json()
    assert (data["summary"]["delivered"], data["summary"]["unique_opens"], data["summary"]["unique_clicks"]) == (4, 2, 2)
    assert data["summary"]["machine_opens"] == 2 and data["summary"]["scanner_clicks"] == 4
    series = client.get(f"/api/v1/reports/broadcasts/{b}/series?granularity=day", headers=auth).get_json()
    assert series["labels"] == ["2026-11-20"] and series["series"]["unique_open"] == [2]
    bad = client.get(f"/api/v1/reports/broadcasts/{b}/series?granularity=week", headers=auth)
    assert bad.status_code == 422
    assert client.get("/api/v1/reports/broadcasts/999999", headers=auth).status_code == 404
    timeline = client.get(f"/api/v1/reports/contacts/{ids['A']}/timeline", headers=auth).get_json()
    assert [i["kind"] for i in timeline["items"]] == ["click", "open", "open", "send"]
    doc = client.get("/api/v1/openapi.json").get_json()
    assert "/reports/broadcasts/{broadcast_id}" in doc["paths"]


def test_the_scheduler_recounts_live_campaigns_for_the_report_cache(services, newsletter):
    from campaigns import scheduler
    from campaigns.db import now_utc
    from campaigns.models import Broadcast, BroadcastStatus, Send

    campaign, sends, _ids = newsletter
    bid = campaign.broadcast_id

    def summary():
        with services.db.factory() as s:
            return broadcast_report(s, bid, cache=services.redis)["summary"]

    with services.db.begin() as s:
        s.get(Broadcast, bid).status = BroadcastStatus.SENDING
    assert (summary().delivered, summary().queued) == (4, 1)  # counted on the first view, then cached
    with services.db.begin() as s:  # the last queued mail goes out
        s.get(Send, sends["F"]).status = SendStatus.SENT
    assert summary().queued == 1  # a page view reads the cached count...
    assert scheduler.refresh_report_counts(services, now_utc())["report_scopes"] == 1
    assert (summary().delivered, summary().queued) == (5, 0)  # ...which the scheduler keeps fresh
    assert not scheduler.refresh_report_counts(services, now_utc())  # at most once per interval

    # A broadcast finished days ago is no longer recounted: its numbers stopped moving.
    with services.db.begin() as s:
        broadcast = s.get(Broadcast, bid)
        broadcast.status, broadcast.finished_at = BroadcastStatus.SENT, now_utc() - timedelta(days=3)
    services.redis.delete(scheduler.REPORTS_KEY)
    assert scheduler.refresh_report_counts(services, now_utc())["report_scopes"] == 0
