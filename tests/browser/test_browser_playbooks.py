"""The playbook page and the template gallery in headless Chromium, in English and Japanese at 1366 and 390 px:
reach Playbooks from the navigation's Campaigns group, install a playbook through its confirmation, follow the
result page's link to the journey; the gallery draws its thumbnails and "Use this mail" opens the new
template. No sideways scroll, no script error or CSP violation, the page's words in its language."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from campaigns.models import Journey, Template
from tests.browser_helpers import sideways
from tests.sending_helpers import setup_account

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("BROWSER_SHOTS", "/tmp/nurture-browser"))
WORDS = {
    "en": {"title": "Document request follow-up", "install": "Install", "installed": "Installed: Content by role",
           "journey": "Content by role", "gallery": "Template gallery", "use": "Use this mail",
           "absent": "施策テンプレート"},
    "ja": {"title": "資料請求フォロー", "install": "インストール", "installed": "インストール完了：役職別コンテンツ",
           "journey": "役職別コンテンツ", "gallery": "テンプレートギャラリー", "use": "このメールを使う",
           "absent": "Document request follow-up"},
}


def _journeys(services: Any) -> int:
    with services.db.begin() as s:
        return int(s.scalar(select(func.count()).select_from(Journey)) or 0)


def test_install_a_playbook_and_use_the_gallery(app: Any, user: Any, services: Any) -> None:
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian chromium is not installed")
    from playwright.sync_api import expect

    from tests.browser_helpers import logged_in_page
    from tests.conftest import USER_EMAIL, USER_PASSWORD

    SHOTS.mkdir(parents=True, exist_ok=True)
    with services.db.begin() as s:
        setup_account(s)
    installs = 0
    with logged_in_page(app, USER_EMAIL, USER_PASSWORD) as b:
        page, base = b.page, b.server.url
        for lang, words in WORDS.items():
            page.set_extra_http_headers({"Accept-Language": lang})
            for width in (1366, 390):
                page.set_viewport_size({"width": width, "height": 900})
                page.goto(base + "/")
                if width < 800:
                    page.click("[data-testid=nav-burger]")
                page.click("[data-testid=nav-campaigns]")
                page.click("#nav-campaigns a[href='/playbooks/']")
                page.wait_for_url(base + "/playbooks/")
                text = page.inner_text("main")
                assert words["title"] in text and words["absent"] not in text, (lang, width)
                assert page.locator("[data-testid=language-by_role]").input_value() == lang  # mails in the UI's language
                assert sideways(page) <= 0, (lang, width)
                page.screenshot(path=str(SHOTS / f"playbooks-{lang}-{width}.png"), full_page=True)

                page.click("[data-testid=install-by_role]")
                expect(page.locator("[data-testid=confirm-panel]")).to_be_visible()
                assert _journeys(services) == installs  # asked first: nothing created yet
                assert sideways(page) <= 0, (lang, width)
                page.screenshot(path=str(SHOTS / f"playbooks-confirm-{lang}-{width}.png"), full_page=True)
                page.click("[data-testid=confirm-go]")
                page.wait_for_url(base + "/playbooks/installed")
                installs += 1
                assert _journeys(services) == installs
                expect(page.locator("h1")).to_contain_text(words["installed"])
                links = page.locator("[data-testid=piece-link]")
                assert links.count() == 1 + 2 + 1 + 1  # journey, two templates, list, segment
                assert sideways(page) <= 0, (lang, width)
                page.screenshot(path=str(SHOTS / f"playbooks-installed-{lang}-{width}.png"), full_page=True)
                journey_link = page.locator("[data-testid=piece-link]").first
                journey_name = journey_link.inner_text()
                assert journey_name.startswith(words["journey"])
                journey_link.click()
                page.wait_for_url(lambda url: "/journeys/" in url)
                expect(page.locator("h1 input")).to_have_value(journey_name)  # the canvas, its name editable

                page.goto(base + "/templates/gallery")
                expect(page.locator("h1")).to_have_text(words["gallery"])
                frames = page.locator(".pb-thumb iframe")
                assert frames.count() >= 8
                frames.first.scroll_into_view_if_needed()
                first_frame = page.frame_locator(".pb-thumb iframe").first
                expect(first_frame.locator("body")).to_contain_text(
                    "いつもお世話になっております" if lang == "ja" else "Hi ")
                assert sideways(page) <= 0, (lang, width)
                page.screenshot(path=str(SHOTS / f"gallery-{lang}-{width}.png"), full_page=False)
        # the gallery's button makes a template and opens it (once is enough)
        with services.db.begin() as s:
            before = int(s.scalar(select(func.count()).select_from(Template)) or 0)
        page.click("[data-testid=use-whitepaper]")
        page.wait_for_url(lambda url: "/templates/" in url and "gallery" not in url)
        with services.db.begin() as s:
            assert int(s.scalar(select(func.count()).select_from(Template)) or 0) == before + 1
        page.screenshot(path=str(SHOTS / "gallery-used-ja-390.png"), full_page=False)
    with services.db.begin() as s:
        names = sorted(s.scalars(select(Journey.name)))
    assert names == ["Content by role", "Content by role (2)", "役職別コンテンツ", "役職別コンテンツ (2)"]
    assert b.problems == []
