"""The segment editor in headless Chromium: build a rule tree with a contact field, an event and a list
condition by clicking, watch the live count follow each change and match the server's count, save it."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from campaigns.audience.segments import count_segment
from campaigns.db import now_utc
from campaigns.models import Contact, ContactList, ContactListMember, Event, Segment

pytestmark = pytest.mark.browser


@pytest.fixture
def people(services: Any) -> dict[str, Any]:
    now = now_utc()
    with services.db.begin() as s:
        s.execute(insert(Contact), [
            {"email": f"p{i}@example.jp", "job_title": "営業部長" if i % 2 else "Engineer", "company": f"Co {i}"}
            for i in range(40)
        ])
        ids = list(s.scalars(select(Contact.id).order_by(Contact.id)))
        s.execute(insert(Event), [
            {"contact_id": cid, "name": "webinar_attended", "properties": {},
             "occurred_at": now - timedelta(days=5 if n % 3 else 60), "created_at": now}
            for n, cid in enumerate(ids)
        ])
        expo = ContactList(name="Expo 2026")
        s.add(expo)
        s.flush()
        s.execute(insert(ContactListMember), [{"list_id": expo.id, "contact_id": cid} for cid in ids[:20]])
        return {"list": expo.id}


def test_build_a_segment_and_see_its_live_count(app: Any, user: Any, services: Any, people: dict[str, Any]) -> None:
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian chromium is not installed")
    from playwright.sync_api import expect

    from tests.browser_helpers import logged_in_page
    from tests.conftest import USER_EMAIL, USER_PASSWORD

    def server_count(rules: dict[str, Any]) -> str:
        with services.db.begin() as s:
            return str(count_segment(s, rules))

    with logged_in_page(app, USER_EMAIL, USER_PASSWORD) as session_:
        server, page, problems = session_.server, session_.page, session_.problems
        page.goto(server.url + "/contacts/segments/new")
        page.fill("#name", "部長 at the webinar, on the expo list")
        builder = page.locator("#rule-builder")
        count = page.locator("#segment-count")
        expect(count).to_have_text("40")

        builder.locator('[data-role="add"]').first.click()
        row = builder.locator(".rule-row").nth(0)
        row.locator('[data-role="field"]').select_option("job_title")
        row.locator('[data-role="op"]').select_option("contains")
        row.locator('[data-role="value"]').fill("部長")
        rules: dict[str, Any] = {"all": [{"field": "job_title", "op": "contains", "value": "部長"}]}
        expect(count).to_have_text(server_count(rules))

        builder.locator('[data-role="add"]').first.click()
        row = builder.locator(".rule-row").nth(1)
        row.locator('[data-role="type"]').select_option("event")
        row.locator('[data-role="event-name"]').fill("webinar_attended")
        row.locator('[data-role="within"]').fill("30")
        rules["all"].append({"event": "webinar_attended", "within_days": 30})
        expect(count).to_have_text(server_count(rules))

        builder.locator('[data-role="add"]').first.click()
        row = builder.locator(".rule-row").nth(2)
        row.locator('[data-role="type"]').select_option("list")
        row.locator('[data-role="list"]').select_option(str(people["list"]))
        rules["all"].append({"list_id": people["list"]})
        expected = server_count(rules)
        expect(count).to_have_text(expected)
        assert 0 < int(expected) < 20
        expect(page.locator("#segment-sample tbody tr")).to_have_count(min(int(expected), 10))
        assert json.loads(page.locator("#rules").input_value()) == rules

        # a bad value shows the server's reason instead of a count
        row = builder.locator(".rule-row").nth(1)
        row.locator('[data-role="within"]').fill("0")
        expect(page.locator("#segment-error")).to_contain_text("within_days")
        expect(count).to_have_text("—")
        row.locator('[data-role="within"]').fill("30")
        expect(count).to_have_text(expected)

        page.click("#segment-form button[type=submit]")
        page.wait_for_url(server.url + "/contacts/segments")
    assert problems == []
    with services.db.begin() as s:
        saved = s.scalar(select(Segment))
        assert saved.rules == rules
