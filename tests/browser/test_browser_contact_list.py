"""The contact list in headless Chromium, in English and Japanese at 1366 and 390 px: filters that open and
collapse, a search typed in half-width katakana, ticking contacts and a bulk action, no sideways scroll."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from campaigns.models import Contact, ContactList, ContactListMember, Stage
from tests.browser_helpers import sideways
from tests.factories import committed, make_contact

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("NURTURE_SHOTS", "/tmp/nurture-shots")) / "contact_list"


@pytest.mark.parametrize(("lang", "width"), [("en", 1366), ("ja", 1366), ("en", 390), ("ja", 390)])
def test_contact_list_filters_search_and_bulk(app: Any, user: Any, services: Any, lang: str, width: int) -> None:
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian chromium is not installed")
    from playwright.sync_api import expect

    from tests.browser_helpers import logged_in_page
    from tests.conftest import USER_EMAIL, USER_PASSWORD

    people = [("佐藤", "一郎", "カタカナ商事", "マーケティング部長", Stage.HOT, 62),
              ("鈴木", "花子", "ｸﾞﾛｰﾊﾞﾙ株式会社", "営業課長", Stage.WARM, 35),
              ("Smith", "Emily", "Acme Corporation International", "Head of Demand Generation", Stage.MQL, 80)]
    ids = [committed(services, make_contact, f"person{i}.with.a.long.address@example.co.jp", last_name=last,
                     first_name=first, company=company, job_title=title, stage=stage, score=score, source="webinar")
           for i, (last, first, company, title, stage, score) in enumerate(people)]
    with services.db.begin() as s:
        chosen = ContactList(name="展示会 2026")
        s.add(chosen)
        s.flush()
        list_id = chosen.id
    SHOTS.mkdir(parents=True, exist_ok=True)
    with logged_in_page(app, USER_EMAIL, USER_PASSWORD) as session_:
        server, page, problems = session_.server, session_.page, session_.problems
        page.set_viewport_size({"width": width, "height": 900})
        if lang == "ja":
            page.click("[data-testid=lang-switch]")
        page.goto(server.url + "/contacts/")
        expect(page.locator("[data-contact-id]")).to_have_count(3)
        assert sideways(page) <= 0
        page.screenshot(path=str(SHOTS / f"list-{lang}-{width}.png"), full_page=True)
        # the filters open, filter by stage, and the filter reads in words
        page.click(".cl-more > summary")
        page.select_option("select[name=stage]", "hot")
        page.click(".cl-actions button[type=submit]")
        page.wait_for_url("**stage=hot**")
        expect(page.locator("[data-contact-id]")).to_have_count(1)
        words = page.locator("[data-testid=filter-words]")
        expect(words).to_contain_text("ステージがホット" if lang == "ja" else "Stage is Hot")
        assert sideways(page) <= 0
        page.screenshot(path=str(SHOTS / f"filtered-{lang}-{width}.png"), full_page=True)
        # a search typed in half-width katakana finds the full-width company
        page.goto(server.url + "/contacts/")
        page.fill("[data-testid=contact-filters] input[name=q]", "ｶﾀｶﾅ")
        page.click(".cl-search button")
        expect(page.locator("[data-contact-id]")).to_have_count(1)
        expect(page.locator(f"[data-contact-id='{ids[0]}']")).to_be_visible()
        # tick two contacts and add them to a list
        page.goto(server.url + "/contacts/?sort=score&dir=desc")
        page.check(f"[data-contact-id='{ids[0]}'] input[name=ids]")
        page.check(f"[data-contact-id='{ids[2]}'] input[name=ids]")
        expect(page.locator("[data-selected-count]")).to_have_text("2")
        page.select_option("#bulk-form select[name=action]", "add_to_list")
        expect(page.locator("#bulk-form select[name=sequence_id]")).to_be_hidden()
        page.select_option("#bulk-form select[name=list_id]", str(list_id))
        assert sideways(page) <= 0
        page.screenshot(path=str(SHOTS / f"bulk-{lang}-{width}.png"), full_page=True)
        page.click("#bulk-form button[type=submit]")
        expect(page.locator(".flash-success")).to_be_visible()
        assert problems == []
    with services.db.begin() as s:
        members = set(s.scalars(select(ContactListMember.contact_id).where(ContactListMember.list_id == list_id)))
        assert members == {ids[0], ids[2]}
        assert s.scalar(select(Contact.id).where(Contact.id.notin_(ids))) is None
