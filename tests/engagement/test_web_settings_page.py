"""Settings -> Website tracking: the saved settings, the errors, the tag, the status of incoming visits and the
disclosure text."""

from __future__ import annotations

import html
import secrets
from datetime import UTC, datetime

from campaigns.engagement import web_collect
from campaigns.models import WebTrackingSettings, WebVisit, WebVisitor
from campaigns.models.tracking import HitClass

PAGE = "/settings/website/"


def test_the_page_needs_a_login(client):
    assert client.get(PAGE).status_code in (302, 303)


def test_settings_link_to_the_page_and_it_says_what_to_do_first(ui):
    assert 'href="/settings/website/"' in ui.get("/settings/").get_data(as_text=True)
    page = html.unescape(ui.get(PAGE).get_data(as_text=True))
    assert "Nothing is collected yet" in page
    assert '<script async src="http://nurture.test/w/nurture.js"></script>' in page
    assert "Acme Test KK" in page and "nurture.test" in page  # the disclosure names the recipient
    assert "外部送信に関する公表事項" in page and "external transmission" in page


def test_saving_normalises_the_domains_and_the_collector_follows(ui, services, client):
    web_collect.forget_config()
    response = ui.post(PAGE, {"allowed_domains": "https://WWW.Acme.test/ja/\n*.shop.test", "consent_required": "y",
                              "lookback_days": "14"}, page=PAGE)
    assert response.status_code == 302
    with services.db.factory() as s:
        row = s.get(WebTrackingSettings, 1)
        assert (row.allowed_domains, row.consent_required, row.honour_gpc, row.lookback_days) == (
            "www.acme.test\n.shop.test", True, False, 14)
    config = web_collect.web_config(services)
    assert config.allows("www.acme.test") and config.allows("a.shop.test") and not config.allows("acme.test")
    assert '"consent": true' in client.get("/w/nurture.js").get_data(as_text=True)


def test_bad_entries_are_named_and_nothing_is_saved(ui, services):
    page = html.unescape(ui.post(PAGE, {"allowed_domains": "www.acme.test\nnot a host!", "honour_gpc": "y",
                                        "lookback_days": "400"}, page=PAGE).get_data(as_text=True))
    assert "These are not site domains: not, a, host!" in page
    assert "Number must be between 0 and 365." in page
    with services.db.factory() as s:
        assert s.get(WebTrackingSettings, 1) is None


def test_the_status_shows_the_last_visit_in_the_accounts_time_and_people_apart_from_bots(ui, services):
    with services.db.begin() as s:
        s.add(WebTrackingSettings(id=1, allowed_domains="www.acme.test", consent_required=False, honour_gpc=True,
                                  lookback_days=30))
        visitor = WebVisitor(visitor_key=secrets.token_hex(16))
        s.add(visitor)
        s.flush()
        when = datetime.now(UTC).replace(microsecond=0)
        for i, cls in enumerate([HitClass.HUMAN, HitClass.HUMAN, HitClass.SCANNER]):
            s.add(WebVisit(event_id=f"e{i}", visitor_id=visitor.id, classification=cls, occurred_at=when))
    page = html.unescape(ui.get(PAGE).get_data(as_text=True))
    assert "Page views by people in the last 7 days: 2" in page
    assert "By bots and prefetchers (not counted): 1" in page
    from zoneinfo import ZoneInfo

    local = when.astimezone(ZoneInfo("Asia/Tokyo"))
    assert f"{local:%H:%M}" in page  # the account's zone, not UTC


def test_the_page_in_japanese(ui):
    with ui.client.session_transaction() as sess:
        sess["lang"] = "ja"
    page = ui.get(PAGE).get_data(as_text=True)
    assert "Webサイトのトラッキング" in page and "計測を許可するサイトのドメイン" in page
    assert "Nothing is collected yet" not in page
