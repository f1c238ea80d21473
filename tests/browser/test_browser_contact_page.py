"""The contact page in headless Chromium, in English and Japanese, at 1366 and 390 px: the timeline reads in
words with its marks and zone, nothing scrolls sideways, and a wrong erase confirmation erases nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from campaigns.models import Contact
from tests.browser_helpers import logged_in_page, sideways
from tests.conftest import USER_EMAIL, USER_PASSWORD
from tests.insights.test_timeline import story  # noqa: F401  (the fixture)

pytestmark = pytest.mark.browser
SHOTS = Path(os.environ.get("BROWSER_SHOTS", "/tmp/nurture-browser"))


def _too_wide(page) -> list[str]:  # type: ignore[no-untyped-def]
    """The innermost elements that reach past the window's right edge (what a failure names)."""
    return list(page.evaluate("""() => { const w = document.documentElement.clientWidth; const out = [];
        for (const el of document.querySelectorAll('body *')) { const r = el.getBoundingClientRect();
          if (r.right > w + 1 && ![...el.children].some(c => c.getBoundingClientRect().right > w + 1))
            out.push(el.tagName + '.' + el.className + ' ' + Math.round(r.right)); }
        return out.slice(0, 10); }"""))


def test_contact_page_in_both_languages_and_widths(app, services, user, story):  # noqa: F811
    SHOTS.mkdir(parents=True, exist_ok=True)
    url_path = f"/contacts/{story['contact']}"
    with logged_in_page(app, USER_EMAIL, USER_PASSWORD) as b:
        page, base = b.page, b.server.url
        for lang, words in (("en", ("opened 「導入事例のご紹介」", "Machine: image proxy", "times in Asia/Tokyo")),
                            ("ja", ("「導入事例のご紹介」を開封", "機械：画像プロキシ", "時刻は Asia/Tokyo"))):
            page.set_extra_http_headers({"Accept-Language": lang})
            for width in (1366, 390):
                page.set_viewport_size({"width": width, "height": 900})
                page.goto(base + url_path)
                timeline = page.inner_text("[data-testid=timeline]")
                for text in words[:2]:
                    assert text in timeline, (lang, width, text)
                assert words[2] in page.inner_text("[data-testid=timeline-zone]")
                assert page.locator("[data-testid=timeline] [data-mark=human]").count() == 2
                assert "+5" in timeline and "+10" in timeline
                page.screenshot(path=str(SHOTS / f"contact-page-{lang}-{width}.png"), full_page=True)
                assert sideways(page) <= 0, (lang, width, _too_wide(page))
        # a wrong confirmation erases nothing and says why; the browser's own check stops an empty one
        page.set_extra_http_headers({"Accept-Language": "en"})
        page.set_viewport_size({"width": 1366, "height": 900})
        page.goto(base + url_path)
        page.click("[data-testid=erase] button[type=submit]")
        assert page.url.endswith(url_path)  # required field: nothing was posted
        page.fill("#erase-confirm", "yes please")
        page.click("[data-testid=erase] button[type=submit]")
        assert "Nothing was erased" in page.inner_text(".flash-error")
        with services.db.factory() as s:
            assert s.get(Contact, story["contact"]).email == "yuki@example.jp"
        page.fill("#erase-confirm", "YUKI@example.jp")
        page.click("[data-testid=erase] button[type=submit]")
        assert "personal data was erased" in page.inner_text(".flash-success")
        assert "yuki@example.jp" not in page.content()
        page.screenshot(path=str(SHOTS / "contact-page-erased.png"), full_page=True)
    assert b.problems == []
