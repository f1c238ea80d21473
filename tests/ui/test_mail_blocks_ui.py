"""The block editor's pages and endpoints: create and save a block mail, preview (light, dark, warnings),
convert to HTML; the image library: uploads checked by content, size and resized, served publicly."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from campaigns.delivery import assets
from campaigns.models import Contact, MailAsset, Template
from tests.sending_helpers import setup_account

DOC = {"blocks": [
    {"type": "heading", "text": '{{ contact.first_name | default("ご担当者") }}様', "level": 1},
    {"type": "text", "html": '<p>Read <a href="https://example.com/article">this</a> {{ contact.plan }}</p>'},
    {"type": "button", "label": "Go", "href": "https://example.com/go"},
]}


@pytest.fixture
def app_overrides(app_overrides: dict[str, Any], tmp_path: Any) -> dict[str, Any]:
    return {**app_overrides, "asset_dir": str(tmp_path / "assets")}


def _png(width: int, height: int, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(out, fmt)
    return out.getvalue()


def _fields(**extra: Any) -> dict[str, Any]:
    return {"name": "Blocks", "subject": "Hello", "preheader": "", "from_name": "",
            "blocks_json": json.dumps(DOC), **extra}


def test_create_save_preview_and_convert(ui: Any, services: Any) -> None:
    with services.db.begin() as s:
        setup_account(s)
        s.add(Contact(email="hanako@example.jp", first_name="花子", attributes={"plan": "pro"}))
    page = ui.get("/templates/blocks/new")
    assert page.status_code == 200 and "mb-data" in page.get_data(as_text=True)
    answer = ui.post("/templates/blocks/new", _fields(), page="/templates/blocks/new")
    assert answer.status_code == 302
    with services.db.begin() as s:
        template = s.scalar(select(Template).where(Template.name == "Blocks"))
        assert template is not None and template.current_version.editor == "blocks"
        template_id = template.id
    page = ui.get(f"/templates/{template_id}/blocks").get_data(as_text=True)
    # the unknown field is a warning at save (contacts have no field plan), not a silent empty string
    assert "contact.plan" in page and "Template saved." in page
    assert ui.get(f"/templates/{template_id}").status_code == 302  # a block mail opens in the block editor

    preview = ui.post("/templates/blocks/preview", _fields(preview_contact="hanako@example.jp"),
                      page=f"/templates/{template_id}/blocks").get_json()
    assert preview["ok"] and "花子様" in preview["html"] and preview["contact"] == "hanako@example.jp"
    assert "@media all" in preview["dark_html"] and "prefers-color-scheme" in preview["html"]
    assert preview["warnings"] == ["merge tag {{ contact.plan }}: contacts have no field plan"]
    bad = ui.post("/templates/blocks/preview", _fields(blocks_json=json.dumps({"blocks": [{"type": "image",
                  "src": "https://e.com/a.png"}]})), page=f"/templates/{template_id}/blocks")
    assert bad.status_code == 400 and "alt is required" in bad.get_json()["error"]

    answer = ui.post(f"/templates/{template_id}/convert-to-html", {}, page=f"/templates/{template_id}/blocks")
    assert answer.status_code == 302
    with services.db.begin() as s:
        assert s.get(Template, template_id).current_version.editor == "html"
    assert ui.get(f"/templates/{template_id}").status_code == 200


def test_errors_name_the_block_in_english_and_japanese(ui: Any) -> None:
    answer = ui.post("/templates/blocks/new", _fields(blocks_json=json.dumps({"blocks": [{"type": "button",
                     "label": "Go"}]})), page="/templates/blocks/new")
    assert answer.status_code == 400 and "block 1 (Button): href is required" in answer.get_data(as_text=True)
    ui.post("/lang/ja", {"next": "/"})
    answer = ui.post("/templates/blocks/new", _fields(blocks_json=json.dumps({"blocks": [{"type": "button",
                     "label": "Go"}]})), page="/templates/blocks/new")
    assert "ブロック1（ボタン）：リンク先は必須です" in answer.get_data(as_text=True)


def test_brand_kit_is_saved_and_used_by_new_mails(ui: Any, services: Any) -> None:
    with services.db.begin() as s:
        setup_account(s)
    colours = {"colour_text": "#111111", "colour_muted": "#666666", "colour_primary": "#cc0033",
               "colour_accent": "#005500", "colour_background": "#eeeeee", "colour_surface": "#ffffff"}
    assert ui.post("/settings/brand", {**colours, "colour_primary": "red"}, page="/settings/").status_code == 302
    assert ui.post("/settings/brand", {**colours, "font": "serif", "button_shape": "pill"}, page="/settings/").status_code == 302
    assert 'value="#cc0033"' in ui.get("/settings/").get_data(as_text=True)
    answer = ui.post("/templates/blocks/preview", _fields(), page="/templates/blocks/new").get_json()
    assert 'bgcolor="#cc0033"' in answer["html"] and "border-radius:24px" in answer["html"] and "Georgia" in answer["html"]


def test_uploads_are_checked_by_content_size_and_resized(ui: Any, services: Any) -> None:
    def upload(data: bytes, name: str) -> Any:
        return ui.post("/templates/images", {"image": (io.BytesIO(data), name)}, page="/templates/images",
                       headers={"Accept": "application/json"}, content_type="multipart/form-data")

    fake = upload(b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "logo.png")
    assert fake.status_code == 400 and "only PNG, JPEG, GIF and WebP" in fake.get_json()["error"]
    big = upload(b"\x89PNG" + b"0" * (assets.MAX_UPLOAD_BYTES + 10), "big.png")
    assert big.status_code == 400 and "too large" in big.get_json()["error"]

    wide = upload(_png(3000, 1500, "JPEG"), "photo.png")  # a JPEG whatever its name says
    image = wide.get_json()["image"]
    assert (image["width"], image["height"]) == (1200, 600)
    with services.db.begin() as s:
        stored = s.get(MailAsset, image["id"])
        assert stored.media_type == "image/jpeg" and stored.stored_name.endswith(".jpg")
    assert upload(_png(3000, 1500, "JPEG"), "again.jpg").get_json()["image"]["id"] == image["id"]  # stored once

    assert image["url"].startswith("http://nurture.test/mail-assets/")  # BASE_URL
    served = ui.client.get("/mail-assets/" + image["url"].rsplit("/", 1)[1])
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    assert Image.open(io.BytesIO(served.data)).size == (1200, 600)
    assert ui.client.get("/mail-assets/../../secret_key").status_code == 404
    assert ui.client.get("/mail-assets/" + "0" * 40 + ".png").status_code == 404
    assert "photo.png" in ui.get("/templates/images").get_data(as_text=True)
