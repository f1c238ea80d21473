"""The block editor in headless Chromium: build a mail from blocks with an uploaded image and a button, reorder
by drag, preview at phone width and in dark mode, save, send a test to the real SMTP sink and read the mail
received (HTML from MJML, the legal footer, links, alt text); the pages in English and Japanese at 1366 and
390 px (screenshots under BROWSER_SHOTS), with no sideways scroll."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from campaigns.models import Template
from tests.browser_helpers import open_page
from tests.conftest import USER_EMAIL, USER_PASSWORD
from tests.sending_helpers import setup_account

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(os.environ.get("BROWSER_SHOTS", "/tmp/nurture-browser")) / "mail_blocks"


@pytest.fixture
def app_overrides(app_overrides: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    return {**app_overrides, "asset_dir": str(tmp_path / "assets")}


def _login(page: Any, base: str) -> None:
    page.goto(base + "/login")
    page.fill("#email", USER_EMAIL)
    page.fill("#password", USER_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(base + "/")


def _png(path: Path) -> Path:
    Image.new("RGB", (1600, 800), (40, 90, 200)).save(path, "PNG")
    return path


def _preview_ready(page: Any) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    expect(page.locator("#preview-status")).to_have_attribute("data-state", "updated")


def _no_sideways_scroll(page: Any) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), "sideways scroll"


def test_build_preview_save_and_send_a_block_mail(app: Any, services: Any, user: Any, smtp_server: Any,
                                                   tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")
    expect = pytest.importorskip("playwright.sync_api").expect
    SHOTS.mkdir(parents=True, exist_ok=True)
    with services.db.begin() as s:
        setup_account(s)
    picture = _png(tmp_path / "hero.png")
    with open_page(app, viewport={"width": 1366, "height": 900}, locale="en-US") as session:
        page, base = session.page, session.server.url
        _login(page, base)
        page.goto(base + "/templates/")
        page.click("[data-testid=block-mail-new]")
        page.fill("#name", "Seminar invitation")
        page.fill("#subject", "Seminar for {{ contact.company | default('you') }}")
        frame = page.frame_locator("#preview-frame")
        expect(frame.locator("text=Read more")).to_be_visible()  # the starter's button, compiled by MJML

        # an image block with an uploaded picture; it starts second to last, then moves to the top by drag
        page.select_option("[data-testid=add-block-type]", "image")
        page.click("[data-testid=add-block]")
        image_block = page.locator("#mb-blocks > li[data-type=image]")
        image_block.locator("[data-testid=image-upload]").set_input_files(str(picture))
        expect(image_block.locator("img.mb-thumb")).to_be_visible()
        image_block.locator("[data-testid=image-alt]").fill("Seminar stage with speakers")
        order = "els => els.map(e => e.dataset.type)"
        page.set_viewport_size({"width": 1366, "height": 2400})  # both blocks in view: the drag does not scroll
        image_block.locator(".mb-handle").drag_to(page.locator("#mb-blocks > li[data-type=heading]"))
        assert page.eval_on_selector_all("#mb-blocks > li", order) == ["image", "heading", "text", "button", "footer"]
        page.set_viewport_size({"width": 1366, "height": 900})
        # the button
        button = page.locator("#mb-blocks > li[data-type=button]")
        button.locator("[data-testid=button-label]").fill("Register now")
        button.locator("[data-testid=button-href]").fill("https://acme.test/seminar")
        # a duplicated heading, then deleted again
        heading = page.locator("#mb-blocks > li[data-type=heading]")
        heading.locator("[data-action=duplicate]").click()
        expect(page.locator("#mb-blocks > li[data-type=heading]")).to_have_count(2)
        page.locator("#mb-blocks > li[data-type=heading]").nth(1).locator("[data-action=delete]").click()
        expect(page.locator("#mb-blocks > li[data-type=heading]")).to_have_count(1)
        # a merge tag through the picker, into the heading, and an unknown one typed by hand: a warning
        field = page.locator("#mb-blocks > li[data-type=heading] [data-testid=heading-text]")
        field.fill("Hello ")
        field.click()
        page.select_option("[data-testid=merge-tag-select]", "contact.first_name")
        page.click("[data-testid=merge-tag-insert]")
        assert field.input_value().startswith("Hello {{ contact.first_name | default(")
        page.fill("#subject", "Seminar for {{ contact.compnay }}")
        expect(page.get_by_test_id("preview-warnings")).to_contain_text("contacts have no field compnay")
        page.fill("#subject", "Seminar for {{ contact.company | default('you') }}")
        expect(page.get_by_test_id("preview-warnings")).to_be_hidden()

        expect(frame.locator("a", has_text="Register now")).to_have_attribute("href", "https://acme.test/seminar")
        expect(frame.locator("img[alt='Seminar stage with speakers']")).to_have_attribute("width", "552")
        _preview_ready(page)
        page.screenshot(path=str(SHOTS / "editor-en-1366.png"), full_page=True)
        page.click("[data-testid=preview-phone]")
        assert page.locator("#preview-frame").bounding_box()["width"] == pytest.approx(390, abs=2)
        page.click("[data-testid=preview-dark]")
        expect(frame.locator("body")).to_be_visible()
        page.locator(".preview-pane").screenshot(path=str(SHOTS / "preview-phone-dark.png"))
        page.click("[data-testid=preview-light]")
        page.locator(".preview-pane").screenshot(path=str(SHOTS / "preview-phone-light.png"))

        page.click("[data-testid=template-save]")
        expect(page.locator(".flash-success")).to_contain_text("Template saved.")
        with services.db.begin() as s:
            template = s.scalar(select(Template).where(Template.name == "Seminar invitation"))
            version = template.current_version
            assert version.editor == "blocks"
            assert [b["type"] for b in version.blocks["blocks"]] == ["image", "heading", "text", "button", "footer"]
            assert version.blocks["blocks"][0]["alt"] == "Seminar stage with speakers"
            # the links are stored for click tracking, as in HTML mails (campaign sends sign them per recipient)
            assert [(link.url, link.tracked) for link in version.links] == [("https://acme.test/seminar", True)]

        # ---- a test send to the real SMTP sink
        page.fill("#test_to", "qa@acme.test")
        page.click("[data-testid=test-send]")
        expect(page.locator(".flash-success")).to_contain_text("Test mail sent to qa@acme.test.")
        mail = smtp_server.wait_for(1)[0].message
        assert mail["Subject"] == "[TEST] Seminar for Example Co., Ltd."  # the sample contact
        html = mail.get_body(("html",)).get_content()
        text = mail.get_body(("plain",)).get_content()
        assert "mj-column-per-100" in html and "<!--[if mso | IE]>" in html  # MJML's output, Outlook tables
        assert 'alt="Seminar stage with speakers"' in html and "/mail-assets/" in html
        assert 'href="https://acme.test/seminar"' in html  # test sends link straight to the destination
        assert "配信停止 / Unsubscribe" in html and "Acme 株式会社" in html  # the legal footer from Settings
        assert "Register now" in text and "配信停止" in text
        assert session.problems == []

        # ---- the pages at 390 px and in Japanese
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(base + f"/templates/{template.id}/blocks")
        expect(page.locator("#mb-blocks > li").first).to_be_visible()
        _preview_ready(page)
        _no_sideways_scroll(page)
        page.screenshot(path=str(SHOTS / "editor-en-390.png"), full_page=True)
        page.request.post(base + "/lang/ja", form={"next": "/", "csrf_token": page.locator("[name=csrf_token]").first.input_value()})
        for width in (1366, 390):
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(base + f"/templates/{template.id}/blocks")
            expect(page.locator("#mb-blocks > li").first).to_contain_text("画像")
            expect(page.locator("[data-testid=add-block]")).to_have_text("追加")
            _preview_ready(page)
            expect(page.frame_locator("#preview-frame").locator("a", has_text="Register now")).to_be_visible()
            _no_sideways_scroll(page)
            page.screenshot(path=str(SHOTS / f"editor-ja-{width}.png"), full_page=True)
            page.locator(".preview-pane").scroll_into_view_if_needed()
            page.locator(".preview-pane").screenshot(path=str(SHOTS / f"preview-ja-{width}.png"))
            for name, url in (("images", "/templates/images"), ("settings", "/settings/"), ("new", "/templates/blocks/new")):
                page.goto(base + url)
                if name == "new":
                    _preview_ready(page)
                    expect(page.frame_locator("#preview-frame").locator("a", has_text="詳しく見る")).to_be_visible()
                _no_sideways_scroll(page)
                page.screenshot(path=str(SHOTS / f"{name}-ja-{width}.png"), full_page=True)
        assert session.problems == []
