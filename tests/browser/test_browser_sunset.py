"""A sunset suppression in headless Chromium: the suppression list and the contact page say why (in words, both
languages), and the marketer lifts it from the list; 1366 and 390 px without sideways scroll."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from campaigns.suppression import SUNSET, is_suppressed, suppress_contacts
from tests.factories import make_contact

pytestmark = pytest.mark.browser
SHOTS = Path(os.environ.get("BROWSER_SHOTS", "/tmp/nurture-browser")) / "journey-ab"


def test_a_sunset_entry_is_shown_with_its_reason_and_can_be_lifted(app: Any, services: Any, user: Any) -> None:
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian chromium is not installed")
    from playwright.sync_api import expect

    from tests.browser_helpers import logged_in_page, sideways
    from tests.conftest import USER_EMAIL, USER_PASSWORD

    with services.db.begin() as s:
        contact_id = make_contact(s, "dormant@example.jp", first_name="休眠").id
        assert suppress_contacts(s, [contact_id], SUNSET, "“休眠掘り起こし” › 配信停止にする") == 1
    SHOTS.mkdir(parents=True, exist_ok=True)
    with logged_in_page(app, USER_EMAIL, USER_PASSWORD) as bs:
        server, page, problems = bs.server, bs.page, bs.problems
        for lang, reason in (("en", "Sunset: no reaction to re-engagement"), ("ja", "休眠：掘り起こしメールに反応なし")):
            if lang == "ja":
                page.click("[data-testid=lang-switch]")
            for width in (1366, 390):
                page.set_viewport_size({"width": width, "height": 900})
                page.goto(server.url + "/contacts/suppressions")
                expect(page.locator("[data-testid=suppression-reason]")).to_have_text(reason)
                assert sideways(page) == 0
                page.screenshot(path=str(SHOTS / f"suppressions-{lang}-{width}.png"), full_page=True)
                page.goto(server.url + f"/contacts/{contact_id}")
                expect(page.locator("[data-testid=suppressed]")).to_contain_text(reason)
                assert sideways(page) == 0
                page.screenshot(path=str(SHOTS / f"contact-{lang}-{width}.png"), full_page=True)
        page.goto(server.url + "/contacts/suppressions")
        page.locator("[data-testid=suppressions] button[value=remove]").click()
        expect(page.locator(".flash-success")).to_be_visible()
        assert problems == [], problems
    with services.db.factory() as s:
        assert not is_suppressed(s, "dormant@example.jp")
