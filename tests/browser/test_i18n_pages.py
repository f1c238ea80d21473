"""The pages the gettext move touched, in headless Chromium, in English and Japanese, at 1366 and 390 px: Settings
(the account's language), a broadcast's recipients as a plural count and its time in the account's zone, the
import mapping's fields in words. Nothing scrolls sideways; screenshots go to BROWSER_SHOTS."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.browser_helpers import open_page
from tests.conftest import USER_EMAIL, USER_PASSWORD

pytestmark = pytest.mark.browser
SHOTS = Path(os.environ.get("BROWSER_SHOTS", "/tmp/nurture-browser")) / "i18n"


def _seed(services: Any) -> int:
    from campaigns.models import Broadcast, Contact
    from tests.factories import make_template

    with services.db.begin() as s:
        for i in range(3):
            s.add(Contact(email=f"lead{i}@example.jp", first_name="花子", last_name=f"山田{i}"))
        template = make_template(s, compiled=True)
        broadcast = Broadcast(name="12月のお知らせ", template_id=template.id, status="scheduled",
                              scheduled_at=datetime(2030, 12, 1, 1, 0, tzinfo=UTC))
        s.add(broadcast)
        s.flush()
        return broadcast.id


@pytest.mark.parametrize("lang", ["en", "ja"])
@pytest.mark.parametrize("width", [1366, 390])
def test_i18n_pages_read_in_each_language(app: Any, services: Any, user: Any, lang: str, width: int) -> None:
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian chromium is not installed")
    broadcast_id = _seed(services)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with open_page(app, viewport={"width": width, "height": 900}, locale="ja-JP" if lang == "ja" else "en-US",
                   extra_http_headers={"Accept-Language": lang}) as session:
        page, base = session.page, session.server.url
        page.goto(base + "/login")
        page.fill("#email", USER_EMAIL)
        page.fill("#password", USER_PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url(base + "/")
        seen = {}
        for name, path in (("settings", "/settings/"), ("broadcast", f"/broadcasts/{broadcast_id}")):
            page.goto(base + path)
            page.screenshot(path=str(SHOTS / f"{name}-{lang}-{width}.png"), full_page=True)
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at {width}"
            seen[name] = page.inner_text("main")
        if lang == "ja":
            assert "営業への通知メールと既定の文面の言語" in seen["settings"]
            assert "2030年12月1日 10:00" in seen["broadcast"] and "3件" in seen["broadcast"]
        else:
            assert "Language of sales notifications and default texts" in seen["settings"]
            assert "Dec 1, 2030, 10:00" in seen["broadcast"] and "3 contacts" in seen["broadcast"]
        assert not session.problems, session.problems
