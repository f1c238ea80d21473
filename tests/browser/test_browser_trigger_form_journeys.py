"""The journey pickers of the scoring trigger editor and the form builder (issue 17) in headless Chromium, in
English and Japanese at 1366 and 390 px: live journeys first, the others labelled as starting nobody, a canvas
journey and a converted sequence's journey under their own names, no sideways scroll, no script errors."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from campaigns.automation import service as journeys
from campaigns.leads import forms
from campaigns.models import Journey
from campaigns.scoring import triggers
from tests.browser_helpers import sideways
from tests.sending_helpers import make_version, setup_account

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("NURTURE_SHOTS", "/tmp/nurture-shots")) / "trigger_journeys"


def _journey(s: Any, name: str, status: str = "live") -> int:
    template_id = make_version(s, subject=f"{name}: mail", name=f"{name}-mail").template_id
    graph = {"start": "a", "nodes": [{"id": "a", "type": "send", "template_id": template_id}], "edges": [],
             "layout": {}}
    journey = journeys.create_journey(s, name, graph=graph)
    if status != "draft":
        journeys.publish(s, journey)
    if status == "paused":
        journeys.pause(s, journey)
    s.flush()
    return journey.id


@pytest.mark.parametrize(("lang", "width"), [("en", 1366), ("ja", 1366), ("en", 390), ("ja", 390)])
def test_trigger_and_form_pickers_list_journeys(app: Any, user: Any, services: Any, lang: str, width: int) -> None:
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian chromium is not installed")
    from tests.browser_helpers import logged_in_page
    from tests.conftest import USER_EMAIL, USER_PASSWORD

    with services.db.begin() as s:
        setup_account(s)
        live = _journey(s, "展示会フォロー（2026年春の東京ビッグサイト出展者向け）")
        _journey(s, "Webinar follow-up for enterprise accounts")
        paused = _journey(s, "休眠顧客の掘り起こし", "paused")
        _journey(s, "準備中：新製品ローンチ", "draft")
        form = forms.create_form(s, forms.FormInput(name="資料請求フォーム", slug="docs",
                                                    consent_text="メール受信に同意します。",
                                                    journey_ids=[live, paused]))
        entry = s.get(Journey, live)
        form_id = form.id
        trigger = triggers.create_trigger(s, {"name": "MQL → 展示会フォロー", "when": "stage", "stage": "mql",
                                              "action": "enroll", "journey_id": entry.id})
        triggers.create_trigger(s, {"name": "Dormant", "when": "score", "score_at": 10, "action": "enroll",
                                    "journey_id": paused})
        trigger_id = trigger.id
    SHOTS.mkdir(parents=True, exist_ok=True)
    with logged_in_page(app, USER_EMAIL, USER_PASSWORD) as session_:
        server, page, problems = session_.server, session_.page, session_.problems
        page.set_viewport_size({"width": width, "height": 900})
        if lang == "ja":
            page.click("[data-testid=lang-switch]")
        page.goto(server.url + f"/forms/{form_id}/edit")
        targets = page.locator("[data-testid=form-targets]")
        targets.scroll_into_view_if_needed()
        assert "休眠顧客の掘り起こし" in targets.inner_text()
        assert ("開始するシナリオ" if lang == "ja" else "Start these journeys") in page.content()
        assert sideways(page) <= 0
        targets.locator("xpath=..").screenshot(path=str(SHOTS / f"form-builder-{lang}-{width}.png"))  # with its label
        page.goto(server.url + f"/scoring/triggers/{trigger_id}")
        options = page.locator("[data-testid=trigger-target] option").all_inner_texts()
        assert any("展示会フォロー" in o for o in options) and any("休眠顧客" in o for o in options)
        # a closed select shows one line: open it as a list for the picture (live journeys first, grouped)
        page.evaluate("document.querySelector('[data-testid=trigger-target]').size = 9")
        assert sideways(page) <= 0
        page.screenshot(path=str(SHOTS / f"trigger-editor-{lang}-{width}.png"), full_page=True)
        page.goto(server.url + "/scoring/triggers")
        assert sideways(page) <= 0
        page.screenshot(path=str(SHOTS / f"triggers-{lang}-{width}.png"), full_page=True)
        page.goto(server.url + f"/forms/{form_id}")
        assert sideways(page) <= 0
        page.screenshot(path=str(SHOTS / f"form-page-{lang}-{width}.png"), full_page=True)
    assert problems == []
