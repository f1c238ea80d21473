"""Block mails: the document validator, the MJML compile's client-safety, merge-tag warnings, and the
saved version through the normal pipeline (links tracked, footer, text part, personalisation)."""

from __future__ import annotations

import re
from typing import Any

import html5lib
import lxml.html
import pytest

from campaigns.delivery import block_mails
from campaigns.delivery.blocks import BlockError, validate_document
from campaigns.delivery.blocks_mjml import BrandKit, ImageRef, block_sources, compile_document, dark_preview
from campaigns.delivery.blocks_mjml import merge_tag_warnings as tag_warnings
from campaigns.delivery.rendering import TemplateError, render_message
from campaigns.models import Contact, Template
from tests.sending_helpers import setup_account

EVERY_BLOCK: dict[str, Any] = {"blocks": [
    {"type": "image", "asset_id": 7, "alt": "Acme logo", "width": 160, "align": "left"},
    {"type": "heading", "text": '{{ contact.first_name | default("ご担当者") }}様へ <新着>', "level": 1},
    {"type": "text", "html": '<p>Hello <b>all</b> <a href="https://example.com/article?a=1&b=2">article</a></p>'
                             "<ul><li>one</li><li>two</li></ul>"},
    {"type": "button", "label": "資料をダウンロード", "href": "https://example.com/download", "color": "accent"},
    {"type": "columns", "columns": [
        [{"type": "text", "html": "<p>left</p>"}, {"type": "image", "src": "https://cdn.example.com/a.png", "alt": "A"}],
        [{"type": "quote", "text": "導入して商談化率が2倍に", "author": "佐藤", "role": "営業部長"}],
        [{"type": "card", "title": "事例", "text": "summary", "link": {"label": "Read", "href": "https://example.com/case"}}],
    ]},
    {"type": "divider"},
    {"type": "spacer", "height": 32},
    {"type": "quote", "text": "Great", "author": "Sato"},
    {"type": "card", "title": "Case", "text": "t", "image": {"src": "https://cdn.example.com/c.png", "alt": "Case photo"}},
    {"type": "social", "links": [{"network": "x", "href": "https://x.com/acme"},
                                 {"network": "linkedin", "href": "https://www.linkedin.com/company/acme"}]},
    {"type": "footer"},
]}
ASSETS = {7: ImageRef("https://mail.example.com/mail-assets/logo.png", 480, 120)}


# ---------------------------------------------------------------- the format
def test_a_valid_document_is_normalised_and_gets_its_footer() -> None:
    doc = validate_document({"blocks": [{"type": "heading", "text": "  Hi \n there "}]})
    assert doc == {"format": "nurture-blocks", "version": 1,
                   "blocks": [{"type": "heading", "text": "Hi there", "level": 2}, {"type": "footer"}]}


def test_rich_text_is_cleaned_to_the_safe_subset() -> None:
    doc = validate_document({"blocks": [{"type": "text", "html":
        '<p onclick="x()">Hi <script>alert(1)</script><span style="color:red">red</span> '
        '<a href="javascript:alert(1)">bad</a> <a href="{{ preferences_url }}">prefs</a><img src=x></p>'}]})
    assert doc["blocks"][0]["html"] == '<p>Hi red <a>bad</a> <a href="{{ preferences_url }}">prefs</a></p>'


@pytest.mark.parametrize(("block", "message"), [
    ({"type": "image", "src": "https://e.com/a.png"}, "block 1 (image): alt is required"),
    ({"type": "image", "alt": "x"}, "block 1 (image): an image is required (asset_id or src)"),
    ({"type": "button", "label": "Go", "href": "javascript:alert(1)"}, "block 1 (button): href must start with https://"),
    ({"type": "heading", "text": "x", "colour": "red"}, "block 1 (heading): unknown setting colour"),
    ({"type": "heading", "text": "x", "color": "#ff0000"}, "block 1 (heading): color must be one of"),
    ({"type": "heading", "text": "{% if x %}y{% endif %}"}, "only merge tags"),
    ({"type": "video"}, "block 1: unknown block type 'video'"),
    ({"type": "columns", "columns": [[]]}, "columns must be a list of 2 or 3 columns"),
    ({"type": "columns", "columns": [[{"type": "columns", "columns": [[], []]}], []]}, "column 1 block 1 (columns): not allowed here"),
    ({"type": "spacer", "height": 1000}, "height must be between 4 and 120"),
    ({"type": "social", "links": [{"network": "myspace", "href": "https://m.com"}]}, "network must be one of"),
])
def test_malformed_blocks_are_refused_with_a_readable_reason(block: dict[str, Any], message: str) -> None:
    with pytest.raises(BlockError) as caught:
        validate_document({"blocks": [block]})
    assert any(message in problem for problem in caught.value.problems), caught.value.problems


def test_the_footer_is_once_and_last() -> None:
    with pytest.raises(BlockError, match="must be the last block"):
        validate_document({"blocks": [{"type": "footer"}, {"type": "divider"}]})
    with pytest.raises(BlockError, match="only one legal footer"):
        validate_document({"blocks": [{"type": "divider"}, {"type": "footer"}, {"type": "footer"}]})
    with pytest.raises(BlockError, match="at least one block"):
        validate_document({"blocks": []})
    with pytest.raises(BlockError, match="unsupported version"):
        validate_document({"version": 2, "blocks": [{"type": "divider"}]})


# ---------------------------------------------------------------- the compiled HTML: known pitfalls
@pytest.fixture(scope="module")
def compiled() -> Any:
    html = compile_document(validate_document(EVERY_BLOCK), BrandKit(), ASSETS, lang="ja")
    return html, lxml.html.document_fromstring(html)


def test_every_image_has_a_width_and_alt_text(compiled: Any) -> None:
    _, root = compiled
    images = root.xpath("//img")
    assert len(images) == 3
    for img in images:
        assert img.get("alt"), lxml.html.tostring(img)
        assert img.get("width", "").isdigit() and 0 < int(img.get("width")) <= 600
    logo = next(i for i in images if "logo.png" in i.get("src"))
    assert logo.get("width") == "160"


def test_nothing_is_wider_than_600_px_and_outlook_gets_tables(compiled: Any) -> None:
    html, root = compiled
    widths = [int(w) for w in re.findall(r'width="(\d+)"', html)]
    assert widths and max(widths) <= 600
    assert re.search(r"max-width:600px", html)
    assert "<!--[if mso | IE]><table" in html  # MRML's ghost tables for Outlook's Word engine


def test_layout_does_not_depend_on_style_elements(compiled: Any) -> None:
    """Strip every <style>: colours, paddings and fonts are still on the elements (Gmail's clipped views)."""
    html, _ = compiled
    bare = lxml.html.document_fromstring(re.sub(r"<style[^>]*>.*?</style>", "", html, flags=re.S))
    heading = bare.xpath("//h1")[0]
    assert "font-size:26px" in heading.get("style") and "color:#1d2433" in heading.get("style")
    link = bare.xpath("//a[contains(@href, 'article')]")[0]
    assert "color:#2f6fde" in link.get("style")
    sections = bare.xpath("//div[contains(@class, 'nb-surface')]")
    assert sections and all("background-color:#ffffff" in s.get("style") or "background-color:#f4f5f7" in s.get("style")
                            for s in sections)
    assert "font-family" in bare.xpath("//h1/..")[0].get("style")


def test_the_button_is_a_table_based_bulletproof_button(compiled: Any) -> None:
    _, root = compiled
    anchor = root.xpath("//a[@href='https://example.com/download']")[0]
    cell = anchor.getparent()
    assert cell.tag == "td" and cell.get("bgcolor") == "#0b7a5c"  # the accent colour of the brand kit
    row = cell.getparent()  # a row of the button's own table (its <tbody> is the parser's to add)
    assert row.tag == "tr" and next(row.iterancestors("table")) is not None
    assert "padding:12px 28px" in anchor.get("style") and "display:inline-block" in anchor.get("style")
    assert "color:#ffffff" in anchor.get("style")


def test_dark_mode_is_declared_and_the_preview_switch_forces_it(compiled: Any) -> None:
    html, root = compiled
    assert root.xpath("//meta[@name='color-scheme']")[0].get("content") == "light dark"
    assert "@media (prefers-color-scheme: dark)" in html and "[data-ogsc]" in html
    assert "@media all{" in dark_preview(html) and "prefers-color-scheme" not in dark_preview(html)


def test_the_lean_pass_keeps_outlook_conditionals_text_and_merge_tags() -> None:
    """compile_document's size pass (issue 19): adjacent Outlook conditionals merged, never dropped; no
    <tbody>; style attributes shortened; text that looks like markup, URLs and merge tags untouched."""
    document = {"blocks": [
        {"type": "text", "html": '<p>{{ contact.company }} style="padding:0px;" &lt;tbody&gt; , x</p>'
                                 '<p><a href="https://example.com/a?style=0px;&amp;b=1">a</a></p>'},
        {"type": "columns", "columns": [[{"type": "text", "html": "<p>left</p>"}],
                                         [{"type": "text", "html": "<p>right</p>"}]]},
    ]}
    html = compile_document(validate_document(document), BrandKit(), {}, lang="en")
    assert 'style="padding:0px;"' in html and "&lt;tbody&gt; , x" in html  # text stays as written
    assert "{{ contact.company }}" in html and "style=0px;&amp;b=1" in html
    assert "<tbody>" not in html and "<![endif]--><!--[if mso | IE]>" not in html
    assert html.count("<!--[if mso | IE]>") >= 3 and html.count("<!--[if ") == html.count("<![endif]-->")
    assert "<!--[if mso]><noscript><xml><o:OfficeDocumentSettings>" in html
    styles = re.findall(r' style="([^"]*)"', html.split("<body", 1)[1])
    assert styles and not any(s.endswith(";") or re.search(r"[:\s]0px\b", s) for s in styles
                              if s != "padding:0px;")
    # the browser's DOM is the one MRML's unshortened HTML gives: tables get their tbody back
    root = html5lib.parse(html, namespaceHTMLElements=False)  # the HTML5 parser, as browsers parse
    assert root.findall(".//table/tbody/tr") and not root.findall(".//table/tr")


def test_text_is_escaped_and_merge_tags_survive_whole(compiled: Any) -> None:
    html, root = compiled
    assert '{{ contact.first_name | default("ご担当者") }}様へ &lt;新着&gt;' in html
    assert root.get("lang") == "ja"
    assert "nrtbk" not in html


def test_brand_kit_values_reach_the_mail() -> None:
    kit = BrandKit.from_settings({"colours": {"primary": "#FFCC00", "text": "not a colour"}, "font": "serif",
                                  "button_shape": "pill"})
    doc = validate_document({"blocks": [{"type": "button", "label": "Go", "href": "https://e.com"},
                                        {"type": "heading", "text": "H"}]})
    html = compile_document(doc, kit, {})
    assert 'bgcolor="#ffcc00"' in html and "border-radius:24px" in html
    assert "color:#111111" in html  # dark text on a light yellow button
    assert "Georgia" in html and "color:#1d2433" in html  # a bad colour falls back to the default


def test_a_missing_asset_is_named() -> None:
    with pytest.raises(ValueError, match="image 7 is no longer in the image library"):
        compile_document(validate_document(EVERY_BLOCK), BrandKit(), {})


# ---------------------------------------------------------------- merge tags
def test_unknown_merge_tags_are_warnings() -> None:
    sources = ["{{ contact.first_name | default('x') }} {{ contact.firstname }} {{ contact.attributes.plan }}",
               "{{ contact.attributes.industry }} {{ account.company_name }} {{ unsubscribe_url }} {{ custmer.name }}",
               "{{ account.secret }}"]
    assert tag_warnings(sources, ["industry"]) == [
        "merge tag {{ contact.firstname }}: contacts have no field firstname",
        "merge tag {{ contact.attributes.plan }}: no contact has the custom field plan",
        "merge tag {{ custmer.name }}: unknown variable custmer",
        "merge tag {{ account.secret }}: unknown account field secret",
    ]
    assert any("first_name" in s for s in block_sources(validate_document(EVERY_BLOCK)))


# ---------------------------------------------------------------- saved through the pipeline
def test_a_saved_block_mail_renders_like_any_mail(services: Any) -> None:
    doc = {"blocks": [
        {"type": "heading", "text": '{{ contact.first_name | default("ご担当者") }}様', "level": 1},
        {"type": "text", "html": '<p>Read <a href="https://example.com/article">the article</a>.</p>'},
        {"type": "image", "src": "https://cdn.example.com/a.png", "alt": "Chart of results",
         "href": "https://example.com/chart"},
        {"type": "button", "label": "Download", "href": "https://example.com/download"},
    ]}
    with services.db.begin() as s:
        setup_account(s)
        template = block_mails.create_block_template(s, services.settings, "Blocks", document=doc,
                                                     subject="Hi {{ contact.first_name }}", preheader="New")
        version = template.current_version
        assert version is not None and version.editor == "blocks" and version.blocks["blocks"][-1] == {"type": "footer"}
        assert [(link.url, link.tracked) for link in version.links] == [
            ("https://example.com/article", True), ("https://example.com/chart", True),
            ("https://example.com/download", True)]
        contact = Contact(email="hanako@example.jp", first_name="花子")
        s.add(contact)
        s.flush()
        mail = render_message(s, version, contact, services, send_id=42)
    assert mail.subject == "Hi 花子"
    assert "花子様" in mail.html and 'alt="Chart of results"' in mail.html
    assert mail.html.count("/c/") >= 3 and "https://example.com/download" not in mail.html  # tracked click URLs
    assert "配信停止 / Unsubscribe" in mail.html and "/u/" in mail.html  # the legal footer, with its link
    assert 'name="color-scheme" content="light dark"' in mail.html
    assert "@media (prefers-color-scheme: dark)" in mail.html  # not inlined away by premailer
    assert "花子様" in mail.text and "Download" in mail.text and "配信停止" in mail.text


def test_bad_documents_and_conversion(services: Any) -> None:
    with services.db.begin() as s:
        setup_account(s)
        with pytest.raises(TemplateError, match="alt is required"):
            block_mails.create_block_template(s, services.settings, "x", subject="s",
                                              document={"blocks": [{"type": "image", "src": "https://e.com/a.png"}]})
    with services.db.begin() as s:
        template = block_mails.create_block_template(
            s, services.settings, "Blocks", subject="s",
            document={"blocks": [{"type": "button", "label": "Go", "href": "https://example.com/go"}]})
        html_version = block_mails.convert_to_html(s, template)
        assert html_version.editor == "html" and html_version.blocks is None and html_version.version == 2
        assert [link.url for link in html_version.links] == ["https://example.com/go"]
        with pytest.raises(TemplateError, match="only a block mail"):
            block_mails.convert_to_html(s, s.get(Template, template.id))
