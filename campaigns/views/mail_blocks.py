"""The block editor's page data: the words of static/mail_blocks.js in the page's language, the merge-tag
picker's fields, the image library as the editor reads it, and the reading of a posted document.

No routes: the block editor's routes are in campaigns/views/templates.py (the templates blueprint), which
calls these. Services (validation, compile, save) are campaigns.delivery.block_mails.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy.orm import Session

from campaigns.delivery import assets
from campaigns.delivery.block_mails import attribute_keys
from campaigns.delivery.blocks import ALIGNMENTS, COLOURS, PADDINGS, SOCIAL_NETWORKS
from campaigns.delivery.blocks_mjml import ACCOUNT_FIELDS, SOCIAL_NAMES, BrandKit
from campaigns.i18n import _, pgettext
from campaigns.runtime import services

MAX_DOCUMENT = 400_000  # characters of posted JSON


def vocabulary() -> dict[str, str]:
    """Every word the editor script shows, translated (data-vocabulary of the editor page)."""
    return {
        "heading": _("Heading"), "text": _("Text"), "image": _("Image"), "button": _("Button"),
        "columns": pgettext("blocks", "Columns"), "divider": _("Divider"), "spacer": _("Spacer"), "quote": _("Quote"),
        "card": _("Case study card"), "social": _("Social links"), "footer": _("Legal footer"),
        "columns2": _("Two columns"), "columns3": _("Three columns"),
        "column": _("Column %(n)s"),
        "moveUp": _("Move up"), "moveDown": _("Move down"), "duplicate": _("Duplicate"), "delete": _("Delete"),
        "settings": _("Block settings"), "addBlock": _("Add a block"), "add": _("Add"),
        "addToColumn": _("Add to this column"), "dragHint": _("Drag to reorder"),
        "align": _("Alignment"), "left": _("Left"), "center": _("Centre"), "right": _("Right"),
        "padding": _("Spacing"), "none": _("None"), "small": _("Small"), "medium": _("Medium"), "large": _("Large"),
        "color": _("Colour"), "background": _("Background"), "default": _("Default"),
        "c_text": _("Text colour"), "c_muted": _("Muted"), "c_primary": _("Primary"), "c_accent": _("Accent"),
        "c_background": _("Page background"), "c_surface": _("Surface"),
        "f_text": _("Text"), "f_level": _("Size"), "f_level1": _("Large heading"), "f_level2": _("Heading"),
        "f_level3": _("Small heading"), "f_alt": _("Alternative text (required)"), "f_href": _("Link (https://…)"),
        "f_src": _("Image address (https://…)"), "f_width": _("Width (px)"), "f_label": _("Button text"),
        "f_height": _("Height (px)"), "f_author": _("Name"), "f_role": _("Title or company"), "f_title": _("Title"),
        "f_summary": _("Summary"), "f_linkLabel": _("Link text"), "f_network": _("Network"),
        "chooseImage": _("Choose from library"), "upload": _("Upload image"), "uploading": _("Uploading…"),
        "noImages": _("No images yet: upload one."), "addLink": _("Add link"), "removeLink": _("Remove"),
        "bold": _("Bold"), "italic": _("Italic"), "link": _("Link"), "linkShort": pgettext("toolbar", "Link"), "bulleted": _("Bulleted list"),
        "numbered": _("Numbered list"), "linkPrompt": _("Link address (https://…)"),
        "footerNote": _("Company, postal address, contact and the unsubscribe link, from Settings. Always last."),
        "mergeTag": _("Insert a field"), "mergeTagHint": _("Click into a text first; the field goes at the cursor."),
        "fallback": _("Fallback when empty"), "insert": _("Insert"),
        "empty": _("This mail has no blocks yet: add one below."),
        "columnEmpty": _("Empty column"),
    }


def merge_tag_options(session: Session) -> list[dict[str, str]]:
    """The merge-tag picker's choices: the contact fields, the custom fields seen, the account's fields."""
    fields = [
        ("contact.first_name", _("First name"), pgettext("fallback", "there")),
        ("contact.last_name", _("Last name"), pgettext("fallback", "there")),
        ("contact.name", _("Full name"), pgettext("fallback", "there")), ("contact.company", _("Company"), ""),
        ("contact.job_title", _("Job title"), ""), ("contact.email", _("Email"), ""),
    ]
    options = [{"path": p, "label": label, "fallback": fallback} for p, label, fallback in fields]
    options += [{"path": f"contact.attributes.{key}", "label": _("Custom field %(name)s", name=key), "fallback": ""}
                for key in attribute_keys(session)]
    names = {"company_name": _("Company name"), "from_name": _("Sender name"),
             "postal_address": _("Postal address"), "contact_info": _("Contact information")}
    options += [{"path": f"account.{key}", "label": _("Sender: %(field)s", field=names[key]), "fallback": ""}
                for key in ACCOUNT_FIELDS]
    return options


def library_json(session: Session) -> list[dict[str, Any]]:
    """The image library as the editor's picker reads it."""
    settings = services().settings
    # "url" as mails carry it (BASE_URL); "view" relative, for the UI whatever host name it is opened on
    return [{"id": a.id, "name": a.name, "url": assets.asset_url(settings, a), "view": local_url(a.stored_name),
             "width": a.width, "height": a.height} for a in assets.library(session)]


def local_url(stored_name: str) -> str:
    return assets.PUBLIC_PREFIX + stored_name


def local_images(html: str) -> str:
    """A preview's images from this host: the UI may be opened on another name than BASE_URL's."""
    return html.replace(services().settings.base_url.rstrip("/") + assets.PUBLIC_PREFIX, assets.PUBLIC_PREFIX)


def editor_data(session: Session, document: dict[str, Any], brand: BrandKit) -> dict[str, Any]:
    """Everything the editor script starts from (one JSON island on the page)."""
    return {
        "document": document,
        "mergeTags": merge_tag_options(session),
        "images": library_json(session),
        "choices": {"align": list(ALIGNMENTS), "padding": list(PADDINGS), "colours": list(COLOURS),
                    "networks": [[n, SOCIAL_NAMES[n]] for n in SOCIAL_NETWORKS]},
        "brand": dict(brand.colours),
    }


def read_document(raw: str | None) -> Any:
    """The posted document (a hidden field holding JSON), or None when it is not JSON."""
    if not raw or len(raw) > MAX_DOCUMENT:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def translate_problem(message: str) -> str:
    """A validator or compiler message in the page's language: "block 3 (image): alt is required" -> the
    place and the reason translated separately (both are msgids)."""
    where, sep, reason = message.partition(": ")
    if not sep:
        return _(message)
    return _("%(where)s: %(reason)s", where=_place(where), reason=_(reason))


def _place(where: str) -> str:
    # "block 4 (columns) column 2 block 1 (text)" -> translated words, numbers kept
    def block(match: re.Match[str]) -> str:
        kind = match.group(2)
        return _("block %(n)s (%(kind)s)", n=match.group(1), kind=vocabulary().get(kind, kind))

    out = re.sub(r"block (\d+) \((\w+)\)", block, where)
    out = re.sub(r"column (\d+)", lambda m: _("column %(n)s", n=m.group(1)), out)
    return _(out) if out == where else out
