"""The A/B test page (who decided), the broadcasts list (status) and the KPI page (contact sources) in headless
Chromium, English and Japanese at 1366 and 390 px: words instead of codes, nothing scrolls sideways
(screenshots under $BROWSER_SHOTS)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import update

from campaigns.db import now_utc
from campaigns.experiments import setup
from campaigns.models import ABTest, Broadcast
from tests.browser_helpers import logged_in_page, sideways
from tests.conftest import USER_EMAIL, USER_PASSWORD
from tests.experiments.test_abtests_web import _broadcast
from tests.factories import make_contact

pytestmark = pytest.mark.browser
SHOTS = Path(os.environ.get("BROWSER_SHOTS", "/tmp/nurture-browser"))


def test_words_not_codes_in_both_languages_and_widths(app, services, user):  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    broadcast_id = _broadcast(services, 4)
    with services.db.begin() as s:
        test_id = setup.create_test(s, broadcast_id=broadcast_id, kind="from_name", test_portion=0.5, mode="manual",
                                    variants=[{"from_name": "Acme"}, {"from_name": "Hanako at Acme"}]).id
        s.execute(update(ABTest).where(ABTest.id == test_id).values(decided_at=now_utc(), decided_by="auto"))
        s.execute(update(Broadcast).where(Broadcast.id == broadcast_id).values(status="scheduled"))
        for i, source in enumerate(("csv_import", "trade_show", "website_form", "seminar_2026")):
            make_contact(s, f"src{i}@example.jp", source=source)
    expect = {"en": {"ab": "decided automatically", "broadcasts": "Scheduled", "kpi": "Trade show"},
              "ja": {"ab": "自動で決定", "broadcasts": "予約済み", "kpi": "展示会"}}
    with logged_in_page(app, USER_EMAIL, USER_PASSWORD) as b:
        page, base = b.page, b.server.url
        for lang in ("en", "ja"):
            page.set_extra_http_headers({"Accept-Language": lang})
            for width in (1366, 390):
                page.set_viewport_size({"width": width, "height": 900})
                for name, path in (("ab", f"/ab/{test_id}"), ("broadcasts", "/broadcasts/"), ("kpi", "/kpi/")):
                    page.goto(base + path)
                    assert expect[lang][name] in page.inner_text("main"), (lang, width, name)
                    page.screenshot(path=str(SHOTS / f"{name}-{lang}-{width}.png"), full_page=True)
                    assert sideways(page) <= 0, (lang, width, name)
