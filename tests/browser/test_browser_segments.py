"""The segment editor in headless Chromium: build a rule tree with a contact field, an event and a list
condition by clicking, watch the live count follow each change and match the server's count, save it; build a
nested segment in English and Japanese at 1366 and 390 px (words, not codes; the group drawn inside its
parent; an error that names the condition; the list's sentence and count; nothing scrolls sideways)."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from campaigns.audience.segments import count_segment
from campaigns.db import now_utc
from campaigns.models import Contact, ContactList, ContactListMember, Event, Segment
from tests.browser_helpers import sideways

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
        assert not page.locator("#rules").is_visible()  # the JSON stays behind "Advanced"

        # a bad value shows the server's reason instead of a count
        row = builder.locator(".rule-row").nth(1)
        row.locator('[data-role="within"]').fill("0")
        expect(page.locator("#segment-error")).to_contain_text("Condition 2 (Event “webinar_attended”): the number of days")
        expect(count).to_have_text("—")
        row.locator('[data-role="within"]').fill("30")
        expect(count).to_have_text(expected)

        page.click("#segment-form button[type=submit]")
        page.wait_for_url(server.url + "/contacts/segments")
    assert problems == []
    with services.db.begin() as s:
        saved = s.scalar(select(Segment))
        assert saved.rules == rules


SHOTS = Path(os.environ.get("BROWSER_SHOTS", "/tmp/nurture-browser"))
NESTED_WORDS = {
    "en": {"builder": ("Contacts matching", "Job title", "contains", "Stage", "is one of", "Score", "is more than"),
           "error": "Condition 1 (Job title contains): enter a value",
           "sentence": "Job title contains “部長” and (stage is one of Warm, Hot or score is more than 50)"},
    "ja": {"builder": ("次の条件の", "に一致するコンタクト", "役職", "が次を含む", "ステージ", "が次のいずれか", "スコア",
                       "が次より大きい", "条件1", "または"),
           "error": "条件1（役職が次を含む）: 値を入力してください",
           "sentence": "役職が「部長」を含む、かつ（ステージがウォーム、ホットのいずれか、またはスコアが50より大きい）"},
}


def test_nested_segment_in_words_in_both_languages_and_widths(app: Any, user: Any, services: Any,
                                                              people: dict[str, Any]) -> None:
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian chromium is not installed")
    from playwright.sync_api import expect

    from tests.browser_helpers import logged_in_page
    from tests.conftest import USER_EMAIL, USER_PASSWORD

    SHOTS.mkdir(parents=True, exist_ok=True)
    with services.db.begin() as s:
        s.execute(Contact.__table__.update().values(score=Contact.id % 90, stage="warm"))
    rules = {"all": [{"field": "job_title", "op": "contains", "value": "部長"},
                     {"any": [{"field": "stage", "op": "in", "value": ["warm", "hot"]},
                              {"field": "score", "op": "gt", "value": 50}]}]}
    with services.db.begin() as s:
        expected = str(count_segment(s, rules))
    assert 0 < int(expected) < 40

    with logged_in_page(app, USER_EMAIL, USER_PASSWORD) as b:
        page, base = b.page, b.server.url
        for lang, words in NESTED_WORDS.items():
            page.set_extra_http_headers({"Accept-Language": lang})
            for width in (1366, 390):
                page.set_viewport_size({"width": width, "height": 900})
                page.goto(base + "/contacts/segments/new")
                page.fill("#name", f"部長 {lang} {width}")
                root = page.locator("#rule-builder > .rule-group")
                root.locator(":scope > .rule-group-actions [data-role=add]").click()
                first = root.locator(":scope > .rule-items > .rule-row").nth(0)
                first.locator("[data-role=value]").fill("部長")  # a new row is "job title contains"
                root.locator(":scope > .rule-group-actions [data-role=add-group]").click()
                group = root.locator(":scope > .rule-items > .rule-group")
                group.locator("[data-role=kind]").select_option("any")
                inner = group.locator(".rule-row").nth(0)
                inner.locator("[data-role=field]").select_option("stage")
                inner.locator("[data-role=op]").select_option("in")
                inner.locator("[data-role=stage-choice][value=warm]").check()
                inner.locator("[data-role=stage-choice][value=hot]").check()
                group.locator(":scope > .rule-group-actions [data-role=add]").click()
                second = group.locator(".rule-row").nth(1)
                second.locator("[data-role=field]").select_option("score")
                second.locator("[data-role=op]").select_option("gt")
                second.locator("[data-role=value]").fill("50")
                expect(page.locator("#segment-count")).to_have_text(expected)
                assert json.loads(page.locator("#rules").input_value()) == rules
                assert not page.locator("#rules").is_visible()

                text = page.locator("#rule-builder").inner_text()
                for word in words["builder"]:
                    assert word in text, (lang, width, word)
                # drawn nested: the group sits inside its parent, indented, with its own border
                outer, nested = root.bounding_box(), group.bounding_box()
                assert outer and nested and nested["x"] > outer["x"] and nested["x"] + nested["width"] <= outer["x"] + outer["width"] + 1
                assert group.evaluate("e => getComputedStyle(e).borderLeftWidth") == "4px"
                assert sideways(page) <= 0, (lang, width)
                page.screenshot(path=str(SHOTS / f"segment-builder-{lang}-{width}.png"), full_page=True)

                # an error names the condition in words and marks its row
                first.locator("[data-role=value]").fill("")
                expect(page.locator("#segment-error")).to_have_text(words["error"])
                expect(first).to_have_class("rule-row has-error")
                expect(page.locator("#segment-count")).to_have_text("—")
                page.screenshot(path=str(SHOTS / f"segment-builder-error-{lang}-{width}.png"), full_page=True)
                first.locator("[data-role=value]").fill("部長")
                expect(page.locator("#segment-count")).to_have_text(expected)
                expect(page.locator("#segment-error")).to_be_hidden()

                page.click("#segment-form button[type=submit]")
                page.wait_for_url(base + "/contacts/segments")
                with services.db.begin() as s:
                    saved = s.scalar(select(Segment).where(Segment.name == f"部長 {lang} {width}"))
                    assert saved is not None and saved.rules == rules
                assert page.inner_text(f"[data-testid=sentence-{saved.id}]") == words["sentence"]
                # the count, then when it was counted and a Recount button (counts are made ahead)
                assert page.locator(f"[data-testid=count-{saved.id}] span.nowrap").inner_text() == expected
                assert sideways(page) <= 0, (lang, width)
                page.screenshot(path=str(SHOTS / f"segments-list-{lang}-{width}.png"), full_page=True)
    assert b.problems == []
