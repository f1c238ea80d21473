"""A contact's journey path in headless Chromium, English and Japanese at 1366 and 390 px: the path is open for
an active walk, reads in words, and nothing scrolls sideways (screenshots under $BROWSER_SHOTS)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser_helpers import logged_in_page, sideways
from tests.conftest import USER_EMAIL, USER_PASSWORD
from tests.ui.test_contact_path import _walked

pytestmark = pytest.mark.browser
SHOTS = Path(os.environ.get("BROWSER_SHOTS", "/tmp/nurture-browser"))


def test_contact_path_in_both_languages_and_widths(app, services, user):  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    _jid, cid = _walked(services)
    with logged_in_page(app, USER_EMAIL, USER_PASSWORD) as b:
        page, base = b.page, b.server.url
        for lang, words in (("en", ("Matched: Large company", "Here now")), ("ja", ("条件に一致：Large company", "現在ここ"))):
            page.set_extra_http_headers({"Accept-Language": lang})
            for width in (1366, 390):
                page.set_viewport_size({"width": width, "height": 900})
                page.goto(f"{base}/contacts/{cid}")
                path = page.inner_text("[data-testid=journey-path]")  # visible: the active walk's path is open
                for text in words:
                    assert text in path, (lang, width, text)
                page.locator("[data-testid=programs]").screenshot(path=str(SHOTS / f"contact-path-{lang}-{width}.png"))
                page.screenshot(path=str(SHOTS / f"contact-path-page-{lang}-{width}.png"), full_page=True)
                assert sideways(page) <= 0, (lang, width)
        assert not b.problems, b.problems
