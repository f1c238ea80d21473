"""Archive in headless Chromium, in English and Japanese: a template archived from its page leaves the
broadcast form's template picker, shows in the Archived tab, and comes back with Restore. The delete page of
a used template says what uses it; no page of the flow scrolls sideways at 390 px."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from campaigns.journeys.broadcasts import create_broadcast
from tests.conftest import USER_EMAIL, USER_PASSWORD
from tests.factories import committed, make_template

pytestmark = pytest.mark.browser
SHOTS = Path(os.environ.get("BROWSER_SHOTS", "/tmp/nurture-browser")) / "archive"
WORDS = {
    "en": {"archive": "Archive", "banner": "Archived on", "tab": "Archived (1)", "refused": "cannot be deleted"},
    "ja": {"archive": "アーカイブ", "banner": "にアーカイブしました", "tab": "アーカイブ済み（1）", "refused": "削除できません"},
}


def _no_sideways_scroll(page: Any) -> bool:
    return bool(page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth"))


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_an_archived_template_leaves_the_broadcast_picker(app: Any, user: Any, services: Any, lang: str) -> None:
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian chromium is not installed")
    from playwright.sync_api import expect

    from tests.browser_helpers import open_page

    offer = committed(services, make_template, "Spring offer 春のご案内")
    welcome = committed(services, make_template, "Welcome")
    with services.db.begin() as s:
        create_broadcast(s, "June news", offer)  # in use: it can be archived, not deleted
    words = WORDS[lang]
    SHOTS.mkdir(parents=True, exist_ok=True)
    with open_page(app, viewport={"width": 1366, "height": 900}, extra_http_headers={"Accept-Language": lang}) as bs:
        page, url = bs.page, bs.server.url
        page.goto(url + "/login")
        page.fill("#email", USER_EMAIL)
        page.fill("#password", USER_PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url(url + "/")

        picker = page.locator("#template_id option")
        page.goto(url + "/broadcasts/new")
        expect(picker).to_have_text([page.locator("#template_id option").first.inner_text(),
                                     "Spring offer 春のご案内", "Welcome"])

        page.goto(url + f"/templates/{offer}/delete")
        expect(page.get_by_test_id("delete-refused")).to_contain_text(words["refused"])
        expect(page.get_by_test_id("usages")).to_contain_text("June news")
        page.screenshot(path=str(SHOTS / f"delete-refused-{lang}-1366.png"), full_page=True)
        page.get_by_test_id("archive-instead").click()
        expect(page.get_by_test_id("archived-banner")).to_contain_text(words["banner"])
        page.screenshot(path=str(SHOTS / f"template-archived-{lang}-1366.png"))

        page.goto(url + "/broadcasts/new")
        options = page.locator("#template_id option").all_inner_texts()
        assert "Welcome" in options and "Spring offer 春のご案内" not in options, options

        page.goto(url + "/templates/")
        expect(page.get_by_test_id("archived-tab")).to_have_text(words["tab"])
        expect(page.get_by_test_id("template-list")).not_to_contain_text("Spring offer")
        page.get_by_test_id("archived-tab").click()
        expect(page.get_by_test_id("template-list")).to_contain_text("Spring offer 春のご案内")
        page.screenshot(path=str(SHOTS / f"templates-archived-tab-{lang}-1366.png"))
        for width in (390,):
            page.set_viewport_size({"width": width, "height": 844})
            for path in ("/templates/?archived=1", f"/templates/{offer}", f"/templates/{offer}/delete",
                         f"/templates/{welcome}/delete"):
                page.goto(url + path)
                assert _no_sideways_scroll(page), (lang, path)
            page.goto(url + "/templates/?archived=1")
            page.screenshot(path=str(SHOTS / f"templates-archived-tab-{lang}-390.png"), full_page=True)
            page.goto(url + f"/templates/{offer}")
            page.screenshot(path=str(SHOTS / f"template-archived-{lang}-390.png"))
            page.goto(url + f"/templates/{welcome}/delete")
            page.screenshot(path=str(SHOTS / f"delete-confirm-{lang}-390.png"), full_page=True)
            page.set_viewport_size({"width": 1366, "height": 900})

        page.goto(url + "/templates/?archived=1")
        page.get_by_test_id(f"restore-{offer}").click()
        page.goto(url + "/broadcasts/new")
        assert "Spring offer 春のご案内" in page.locator("#template_id option").all_inner_texts()
        assert bs.problems == [], bs.problems
