"""The sequence list and a draft sequence's page once sequences run as journeys (issue 17), in headless
Chromium, English and Japanese at 1366 and 390 px: the draft says what activating does, "Activate" leads to
the journey canvas, the list badges the activated one "Runs as a journey" with a link there; no sideways
scroll, no script errors."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from campaigns.journeys.sequences import create_sequence
from tests.browser_helpers import sideways
from tests.sending_helpers import make_version, setup_account

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("NURTURE_SHOTS", "/tmp/nurture-shots")) / "sequences_as_journeys"


@pytest.mark.parametrize(("lang", "width"), [("en", 1366), ("ja", 1366), ("en", 390), ("ja", 390)])
def test_activating_a_draft_sequence_opens_its_journey(app: Any, user: Any, services: Any, lang: str,
                                                       width: int) -> None:
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian chromium is not installed")
    from tests.browser_helpers import logged_in_page
    from tests.conftest import USER_EMAIL, USER_PASSWORD

    with services.db.begin() as s:
        setup_account(s)
        welcome = make_version(s, subject="ようこそ", name="ウェルカムメール").template_id
        follow = make_version(s, subject="導入事例のご紹介", name="導入事例メール").template_id
        steps = [{"template_id": welcome}, {"template_id": follow, "delay_minutes": 3 * 1440, "window_days": "12345",
                                            "window_start_hour": 9, "window_end_hour": 18}]
        to_activate = create_sequence(s, "資料請求後フォロー（製造業向け・2026年春）", steps=steps,
                                      trigger_events=["whitepaper_downloaded"], exit_events=["demo_booked"]).id
        draft = create_sequence(s, "Webinar follow-up", steps=steps).id
    SHOTS.mkdir(parents=True, exist_ok=True)
    with logged_in_page(app, USER_EMAIL, USER_PASSWORD) as session_:
        server, page, problems = session_.server, session_.page, session_.problems
        page.set_viewport_size({"width": width, "height": 900})
        if lang == "ja":
            page.click("[data-testid=lang-switch]")
        page.goto(server.url + f"/sequences/{draft}")
        assert page.locator("[data-testid=sequence-draft-note]").is_visible()
        assert sideways(page) <= 0
        page.screenshot(path=str(SHOTS / f"draft-{lang}-{width}.png"), full_page=True)
        page.goto(server.url + f"/sequences/{to_activate}")
        page.click("[data-testid=sequence-activate]")
        page.wait_for_url("**/journeys/*")
        assert ("シナリオとして動きます" if lang == "ja" else "it runs as a journey now") in page.content()
        page.screenshot(path=str(SHOTS / f"activated-canvas-{lang}-{width}.png"))
        journey_url = page.url
        page.goto(server.url + "/sequences/")
        badge = page.locator(f"[data-testid=status-{to_activate}]")
        assert badge.inner_text() == ("シナリオとして実行中" if lang == "ja" else "Runs as a journey")
        link = page.locator("[data-testid=sequence-list] a", has_text="資料請求後フォロー")
        assert link.get_attribute("href") == journey_url.replace(server.url, "")
        assert sideways(page) <= 0
        page.screenshot(path=str(SHOTS / f"list-{lang}-{width}.png"), full_page=True)
        assert not problems, problems
