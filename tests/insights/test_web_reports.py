"""Website visits for marketers (campaigns.insights.web_reports and the pages of campaigns.views.visitors): the
recent visitors (known and anonymous by company, newest first, by page pattern, keyset pages, bots left out),
the top pages of known leads by stage, and what a mail's clickers visited after their click: a broadcast's or a
journey mail's (the report's picker offers both, and links to and from the broadcast report).
Run on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from campaigns.db import now_utc
from campaigns.insights import web_reports
from campaigns.models import (
    Account,
    Broadcast,
    BroadcastStatus,
    Hit,
    HitClass,
    HitKind,
    JourneyEnrolment,
    Send,
    SendStatus,
)
from tests.factories import linear_graph, make_contact, make_journey, make_template, make_visit, make_visitor


@pytest.fixture
def site(services: Any) -> dict[str, Any]:
    now = now_utc()
    with services.db.begin() as s:
        hot = make_contact(s, "sato@acme.test", first_name="一郎", last_name="佐藤", company="Acme", stage="hot")
        cold = make_contact(s, "ito@beta.test", stage="cold")
        vh, vc = make_visitor(s, hot.id), make_visitor(s, cold.id)
        anon = make_visitor(s, None, organisation="Gamma Holdings")
        bot = make_visitor(s, None, organisation="Crawler Inc")
        make_visit(s, vh, "/pricing", title="料金プラン", at=now - timedelta(hours=3))
        make_visit(s, vh, "/pricing", title="料金プラン", at=now - timedelta(hours=2))
        make_visit(s, vh, "/case-studies/tokyo", title="導入事例", at=now - timedelta(hours=1))
        make_visit(s, vc, "/blog/ai", title="AI blog", at=now - timedelta(days=2))
        make_visit(s, anon, "/pricing/enterprise", title="Enterprise", at=now - timedelta(minutes=30))
        make_visit(s, bot, "/pricing", at=now - timedelta(minutes=1), human=False)
        make_visit(s, vc, "/old", at=now - timedelta(days=40))
        template = make_template(s)
        b = Broadcast(name="December news", template_id=template.id, status=BroadcastStatus.SENT)
        s.add(b)
        s.flush()
        sends = {}
        for contact in (hot, cold):
            send = Send(contact_id=contact.id, broadcast_id=b.id, template_version_id=template.current_version_id,
                        status=SendStatus.SENT, sent_at=now - timedelta(days=3))
            s.add(send)
            s.flush()
            sends[contact.id] = send
        # the hot lead clicked 4 hours ago (its visits follow); the cold one's click was a scanner's
        s.add(Hit(event_id="c1" * 8, kind=HitKind.CLICK, send_id=sends[hot.id].id, contact_id=hot.id,
                  occurred_at=now - timedelta(hours=4), classification=HitClass.HUMAN))
        s.add(Hit(event_id="c2" * 8, kind=HitKind.CLICK, send_id=sends[cold.id].id, contact_id=cold.id,
                  occurred_at=now - timedelta(days=2, hours=1), classification=HitClass.SCANNER))
        s.get(Account, 1).timezone = "Asia/Tokyo"
        return {"hot": hot.id, "cold": cold.id, "anon": anon.id, "broadcast": b.id, "now": now}


def test_recent_visitors_newest_first_filtered_and_paged(services, site):
    now = site["now"]
    with services.db.begin() as s:
        page = web_reports.recent_visitors(s, now - timedelta(days=7))
        assert [(r.contact_id, r.organisation, r.visits) for r in page.rows] == [
            (None, "Gamma Holdings", 1), (site["hot"], "", 3), (site["cold"], "", 1)]  # the bot is not there
        assert page.rows[1].pages == [("導入事例", "/case-studies/tokyo"), ("料金プラン", "/pricing")]
        assert page.rows[1].name == "佐藤 一郎" and page.next_cursor is None
        pricing = web_reports.recent_visitors(s, now - timedelta(days=7), pattern="/pricing*")
        assert [(r.contact_id, r.visits) for r in pricing.rows] == [(None, 1), (site["hot"], 2)]
        known = web_reports.recent_visitors(s, now - timedelta(days=7), who="known")
        assert [r.contact_id for r in known.rows] == [site["hot"], site["cold"]]
        first = web_reports.recent_visitors(s, now - timedelta(days=90), limit=2)
        second = web_reports.recent_visitors(s, now - timedelta(days=90), limit=2, before=first.next_cursor)
        assert len(first.rows) == 2 and [r.contact_id for r in second.rows] == [site["cold"]]
        assert second.next_cursor is None
        assert web_reports.recent_visitors(s, now, before="junk").rows == []


def test_top_pages_by_stage_and_visits_after_click(services, site):
    with services.db.begin() as s:
        top = web_reports.top_pages_by_stage(s, site["now"] - timedelta(days=30))
        assert [(p.path, p.visits, p.contacts) for p in top["hot"]] == [("/pricing", 2, 1), ("/case-studies/tokyo", 1, 1)]
        assert [p.path for p in top["cold"]] == ["/blog/ai"] and top["mql"] == []
        after = web_reports.visits_after_click(s, broadcast_id=site["broadcast"], hours=24)
        assert (after.clickers, after.visitors) == (1, 1)  # the scanner's click is not a person's
        assert [(p.path, p.contacts, p.visits) for p in after.pages] == [("/pricing", 1, 2), ("/case-studies/tokyo", 1, 1)]
        short = web_reports.visits_after_click(s, broadcast_id=site["broadcast"], hours=1)
        assert [p.path for p in short.pages] == ["/pricing"]
        assert web_reports.visits_after_click(s).clickers == 0


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_visitors_page_and_report_in_both_languages(ui, services, site, lang):
    h = {"Accept-Language": lang}
    html = ui.get("/visitors?days=7", headers=h).get_data(as_text=True)
    assert html.count('data-testid="visitor"') == 3 and "Gamma Holdings" in html and "佐藤 一郎" in html
    assert "Asia/Tokyo" in html and ("Recent visitors" in html if lang == "en" else "最近の訪問者" in html)
    assert ("3 visits" if lang == "en" else "3回の訪問") in html
    filtered = ui.get("/visitors?page=/pricing*&who=known", headers=h).get_data(as_text=True)
    assert filtered.count('data-testid="visitor"') == 1
    bad = ui.get("/visitors?page=/a%20b", headers=h)
    assert bad.status_code == 400 and 'data-testid="visitor-error"' in bad.get_data(as_text=True)
    empty = ui.get("/visitors?page=/nothing*", headers=h).get_data(as_text=True)
    assert 'data-testid="no-visitors"' in empty
    report = ui.get("/visitors/report", headers=h).get_data(as_text=True)
    assert "/case-studies/tokyo" in report and "December news" in report
    assert ("1 of 1 people who clicked" if lang == "en" else "クリックした1人のうち1人") in report
    nav = ui.get("/", headers=h).get_data(as_text=True)
    assert "/visitors" in nav


@pytest.fixture
def journey(services: Any, site: dict[str, Any]) -> dict[str, Any]:
    """A published journey of two mails (nodes s1, s2; s2 named by its template); the hot lead got both and
    clicked s2 four hours ago, the cold one got s1 and clicked nothing."""
    now = site["now"]
    with services.db.begin() as s:
        first, second = make_template(s, "Onboarding 1"), make_template(s, "料金のご案内")
        graph = linear_graph([first.id, second.id])
        graph["nodes"][0]["name"] = "Welcome"
        j = make_journey(s, graph, name="Trial onboarding")
        for contact_id, nodes in ((site["hot"], ("s1", "s2")), (site["cold"], ("s1",))):
            walk = JourneyEnrolment(journey_id=j.id, contact_id=contact_id, version_id=j.live_version_id,
                                    node_key=nodes[-1])
            s.add(walk)
            s.flush()
            for node, template in zip(nodes, (first, second), strict=False):
                s.add(Send(contact_id=contact_id, journey_enrolment_id=walk.id, node_key=node, visit=1,
                           template_version_id=template.current_version_id, status=SendStatus.SENT,
                           sent_at=now - timedelta(days=1)))
            s.flush()
            if contact_id == site["hot"]:
                send_id = s.scalar(select(Send.id).where(Send.journey_enrolment_id == walk.id, Send.node_key == "s2"))
                s.add(Hit(event_id="j1" * 8, kind=HitKind.CLICK, send_id=send_id, contact_id=contact_id,
                          occurred_at=now - timedelta(hours=2, minutes=30), classification=HitClass.HUMAN))
        return {"id": j.id}


def test_journey_mails_in_the_picker_and_their_visits_after_click(services, site, journey):
    with services.db.begin() as s:
        choices = web_reports.mail_choices(s)
        assert [(c.value, c.label, c.group) for c in choices] == [
            (f"b:{site['broadcast']}", "December news", ""),
            (f"j:{journey['id']}:s1", "Welcome", "Trial onboarding"),  # the node's name
            (f"j:{journey['id']}:s2", "料金のご案内", "Trial onboarding"),  # else its template's
        ]
        after = web_reports.visits_after_click(s, journey_id=journey["id"], node_key="s2", hours=24)
        # clicked 2.5 hours ago: the two later visits count, the pricing view 3 hours ago does not
        assert (after.clickers, after.visitors) == (1, 1)
        assert [(p.path, p.visits) for p in after.pages] == [("/case-studies/tokyo", 1), ("/pricing", 1)]
        assert web_reports.visits_after_click(s, journey_id=journey["id"], node_key="s1").clickers == 0


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_report_picker_and_links_to_and_from_the_broadcast_report(ui, services, site, journey, lang):
    h = {"Accept-Language": lang}
    html = ui.get(f"/visitors/report?mail=j:{journey['id']}:s2&hours=24", headers=h).get_data(as_text=True)
    assert f'<option value="j:{journey["id"]}:s2" selected>料金のご案内</option>' in html
    assert ("Journey: Trial onboarding" if lang == "en" else "シナリオ：Trial onboarding") in html
    assert ("1 of 1 people who clicked" if lang == "en" else "クリックした1人のうち1人") in html
    assert f'href="/journeys/{journey["id"]}" data-testid="journey-link"' in html
    # the broadcast report links to the website report for that broadcast, which links back
    report = ui.get(f"/reports/broadcasts/{site['broadcast']}", headers=h).get_data(as_text=True)
    link = f'/visitors/report?mail=b:{site["broadcast"]}#after-click'
    assert f'href="{link}" data-testid="report-website-visits"' in report.replace("%3A", ":")
    back = ui.get(link.split("#")[0], headers=h).get_data(as_text=True)
    assert f'<option value="b:{site["broadcast"]}" selected>December news</option>' in back
    assert f'href="/reports/broadcasts/{site["broadcast"]}" data-testid="broadcast-report-link"' in back
    # the old ?broadcast= address still works; an unknown mail shows the newest
    assert f'value="b:{site["broadcast"]}" selected' in ui.get(
        f"/visitors/report?broadcast={site['broadcast']}", headers=h).get_data(as_text=True)
    assert f'value="b:{site["broadcast"]}" selected' in ui.get(
        "/visitors/report?mail=j:999:s1", headers=h).get_data(as_text=True)
