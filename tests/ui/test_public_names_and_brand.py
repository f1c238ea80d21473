"""What recipients see of the sender: the public names of journeys and sequences (Settings -> Names
recipients see, campaigns/views/public_names.py) on the preference page, and the company's name and logo
(campaigns/views/branding.py) on the preference page, the unsubscribe page and hosted forms."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from campaigns.automation.service import enrol_contacts
from campaigns.delivery import assets
from campaigns.delivery.blocks_mjml import BrandKit
from campaigns.leads import forms
from campaigns.models import Event, Journey, JourneyEnrolment, JourneyEnrolmentStatus
from campaigns.users import get_account
from tests.factories import make_contact, make_journey


@pytest.fixture
def app_overrides(app_overrides: dict[str, Any], tmp_path: Any) -> dict[str, Any]:
    return {**app_overrides, "asset_dir": str(tmp_path / "assets")}


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (240, 60), (30, 80, 200)).save(out, "PNG")
    return out.getvalue()


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


@pytest.fixture
def walking(services) -> dict[str, int]:
    """A contact walking a live journey called internally 'Q3 webinar nurture - SMB'."""
    with services.db.begin() as s:
        journey = make_journey(s, name="Q3 webinar nurture - SMB")
        contact = make_contact(s, "walker@example.jp")
        assert enrol_contacts(s, journey, [contact.id], source="manual") == 1
        return {"journey_id": journey.id, "contact_id": contact.id}


def test_public_names_page_sets_what_the_preference_page_shows(ui, client, services, walking):
    page = ui.get("/settings/public-names/").get_data(as_text=True)
    assert "Q3 webinar nurture - SMB" in page  # the marketer sees the internal name beside the field
    key = f"journey-{walking['journey_id']}"
    resp = ui.post("/settings/public-names/", {key: "  Webinar tips  "}, page="/settings/public-names/")
    assert resp.status_code == 302
    with services.db.begin() as s:
        assert s.get(Journey, walking["journey_id"]).public_name == "Webinar tips"

    prefs = client.get(_path(services.urls.preferences(walking["contact_id"]))).get_data(as_text=True)
    assert "Webinar tips" in prefs and "Q3 webinar" not in prefs

    # a line break is refused with the field named, and nothing is saved
    resp = ui.post("/settings/public-names/", {key: "two\nlines"}, page="/settings/public-names/")
    assert resp.status_code == 400 and 'class="error"' in resp.get_data(as_text=True)
    with services.db.begin() as s:
        assert s.get(Journey, walking["journey_id"]).public_name == "Webinar tips"


def test_preference_page_leaves_one_journey_and_words_an_unnamed_one(client, services, walking):
    with services.db.begin() as s:
        get_account(s).company_name = "Acme KK"
    url = _path(services.urls.preferences(walking["contact_id"]))
    page = client.get(url).get_data(as_text=True)
    assert "Emails from Acme KK" in page and "Q3 webinar" not in page
    resp = client.post(url, data={"action": "leave", "journey_id": str(walking["journey_id"])})
    assert resp.status_code == 200
    with services.db.begin() as s:
        walk = s.scalar(select(JourneyEnrolment).where(JourneyEnrolment.contact_id == walking["contact_id"]))
        assert walk.status == JourneyEnrolmentStatus.EXITED
        assert "left_journey" in s.scalars(select(Event.name).where(Event.contact_id == walking["contact_id"])).all()
    assert "Emails from Acme KK" not in resp.get_data(as_text=True)
    # a journey the contact is not walking (any more) is a clear 400
    assert client.post(url, data={"action": "leave", "journey_id": str(walking["journey_id"])}).status_code == 400
    assert client.post(url, data={"action": "leave", "journey_id": "x"}).status_code == 400


def test_public_pages_carry_the_company_name_and_logo(client, services, walking):
    with services.db.begin() as s:
        account = get_account(s)
        account.company_name = "Acme KK"
        logo = assets.store_image(s, services.settings, "logo.png", _png())
        account.brand_kit = BrandKit.from_settings({**(account.brand_kit or {}), "logo_asset_id": logo.id}).to_settings()
        form = forms.create_form(s, forms.FormInput(name="Whitepaper", consent_text="I agree."))
        slug = form.slug
        logo_path = assets.PUBLIC_PREFIX + logo.stored_name
    pages = {
        "preferences": client.get(_path(services.urls.preferences(walking["contact_id"]))),
        "unsubscribe": client.get(_path(services.urls.unsubscribe(walking["contact_id"], 0))),
        "form": client.get(f"/f/{slug}"),
    }
    for name, resp in pages.items():
        html = resp.get_data(as_text=True)
        assert resp.status_code == 200, name
        assert 'data-testid="public-brand"' in html and "Acme KK" in html, name
        assert f'src="{logo_path}"' in html, name  # a path on this site: the pages' CSP allows only 'self'
    assert client.get(logo_path).status_code == 200
    # embedded in the marketer's own site: the form alone
    assert 'data-testid="public-brand"' not in client.get(f"/f/{slug}?embed=1").get_data(as_text=True)
