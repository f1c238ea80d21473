"""The sequences list on a phone (390 px) reads as cards: the name on one line of words, each other column
labelled, nothing scrolls sideways; at 1366 px it is the table. English and Japanese (screenshots)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from campaigns.journeys.sequences import create_sequence
from tests.browser_helpers import logged_in_page, sideways
from tests.conftest import USER_EMAIL, USER_PASSWORD
from tests.sending_helpers import make_version, setup_account

pytestmark = pytest.mark.browser
SHOTS = Path(os.environ.get("BROWSER_SHOTS", "/tmp/nurture-browser"))


def test_sequences_list_on_a_phone(app, services, user):  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    with services.db.begin() as s:
        setup_account(s)
        steps = [{"template_id": make_version(s, name="Follow-up").template_id, "delay_minutes": 0}]
        create_sequence(s, "New trade show leads from the autumn exhibition in Tokyo", steps=steps,
                        trigger_events=["trade_show_scan"])
        create_sequence(s, "展示会で名刺交換したリードへのフォローアップ", steps=steps)
    with logged_in_page(app, USER_EMAIL, USER_PASSWORD) as b:
        page, base = b.page, b.server.url
        for lang in ("en", "ja"):
            page.set_extra_http_headers({"Accept-Language": lang})
            for width in (1366, 390):
                page.set_viewport_size({"width": width, "height": 900})
                page.goto(base + "/sequences/")
                name = page.locator("[data-testid=sequence-list] tbody td a").first
                box = name.bounding_box()
                assert box and box["width"] > 150, (lang, width, box)  # words per line, not a letter
                page.screenshot(path=str(SHOTS / f"sequences-list-{lang}-{width}.png"), full_page=True)
                assert sideways(page) <= 0, (lang, width)
        assert not b.problems, b.problems
