"""The sequences list, the journeys list and the recipient's preference page in headless Chromium, English and
Japanese at 1366 and 390 px: triggers in words (no code tags, no English "manual" on the Japanese page), the
journey the contact walks by its public name, nothing scrolls sideways; leaving it from the page ends the walk
(screenshots under $BROWSER_SHOTS)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from campaigns.automation.service import enrol_contacts
from campaigns.leads import forms
from campaigns.models import ContactList, JourneyEnrolmentStatus, Segment
from tests.automation.engine_helpers import walk
from tests.browser_helpers import logged_in_page, sideways
from tests.conftest import USER_EMAIL, USER_PASSWORD
from tests.factories import make_contact, make_journey, make_sequence, make_template

pytestmark = pytest.mark.browser
SHOTS = Path(os.environ.get("BROWSER_SHOTS", "/tmp/nurture-browser"))


def test_lists_and_preference_page_read_in_words(app, services, user):  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    with services.db.begin() as s:
        template_id = make_template(s, "Welcome").id
        trial = Segment(name="Trial users (30 days)", rules={"all": []})
        guests = ContactList(name="Seminar guests, Tokyo")
        s.add_all([trial, guests])
        s.flush()
        draft = make_sequence(s, [{"template_id": template_id}], name="Whitepaper follow-up", active=False,
                              trigger_events=["whitepaper_downloaded", "pricing_page_viewed_three_times_in_a_week"])
        draft.trigger_segment_id = trial.id
        form = forms.create_form(s, forms.FormInput(name="Whitepaper request", consent_text="I agree."))
        form.sequence_ids = [draft.id]
        make_sequence(s, [{"template_id": template_id}], name="Hand-picked accounts", active=False)
        make_sequence(s, [{"template_id": template_id}], name="Webinar reminders", trigger_events=["webinar_joined"])
        seminar = make_journey(s, name="Seminar follow-up", settings={"entry": [
            {"kind": "event", "name": "seminar_registered"}, {"kind": "list", "list_id": guests.id},
            {"kind": "stage", "stage": "mql"}]})
        seminar.public_name = "Seminar tips"
        make_journey(s, name="Hand-picked nurture", publish=False)
        contact = make_contact(s, "walker@example.jp")
        assert enrol_contacts(s, seminar, [contact.id], source="manual") == 1
        journey_id, contact_id = seminar.id, contact.id
    prefs = re.sub(r"^https?://[^/]+", "", services.urls.preferences(contact_id))
    expect = {"en": {"sequences": "Added by hand", "journeys": "Reaches stage MQL", "preferences": "Seminar tips"},
              "ja": {"sequences": "手動で登録", "journeys": "ステージがMQLになったとき", "preferences": "Seminar tips"}}
    with logged_in_page(app, USER_EMAIL, USER_PASSWORD) as b:
        page, base = b.page, b.server.url
        for lang in ("en", "ja"):
            page.set_extra_http_headers({"Accept-Language": lang})
            for width in (1366, 390):
                page.set_viewport_size({"width": width, "height": 900})
                for name, path in (("sequences", "/sequences/"), ("journeys", "/journeys/"), ("preferences", prefs)):
                    page.goto(base + path)
                    text = page.inner_text("main") if name != "preferences" else page.inner_text("body")
                    assert expect[lang][name] in text, (lang, width, name)
                    assert page.locator("main code").count() == 0, (lang, width, name)
                    if lang == "ja":
                        assert not re.search(r"\bmanual\b|Added by hand|Stop this series|Draft\b", text), (width, name)
                    page.screenshot(path=str(SHOTS / f"{name}-{lang}-{width}.png"), full_page=True)
                    assert sideways(page) <= 0, (lang, width, name)
        # Leaving from the page (a POST, the signed link) ends the walk.
        page.goto(base + prefs)
        page.click(f'[data-testid="leave-journey-{journey_id}"]')
        page.wait_for_selector(".flash-success")
        assert walk(services, journey_id, contact_id).status == JourneyEnrolmentStatus.EXITED
    assert b.problems == []
