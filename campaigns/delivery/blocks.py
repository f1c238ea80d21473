"""The block document of a mail (format "nurture-blocks", version 1): its validator and normaliser.

A block mail is a JSON document, not HTML: a list of typed blocks (heading, text, image, button,
columns, divider, spacer, quote, card, social, footer) with a few settings each, the colours named from
the brand kit. `validate_document` is the one gate every writer passes (the block editor, the template
gallery, playbooks, the API): it refuses what is malformed with messages a marketer can read, cleans the
rich text of text blocks down to a safe subset (bold, italic, links, line breaks, lists, paragraphs), and
makes sure the legal footer block is there, once, last. docs/mail-blocks.md is the reference.

Pure: no database, no Flask. Compiling a valid document to MJML and HTML is `blocks_mjml`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import nh3

FORMAT = "nurture-blocks"
VERSION = 1

BLOCK_TYPES = ("heading", "text", "image", "button", "columns", "divider", "spacer", "quote", "card",
               "social", "footer")
# What a column may hold: no nested columns, no social row, no footer (one level keeps Outlook's tables sane).
COLUMN_BLOCK_TYPES = ("heading", "text", "image", "button", "divider", "spacer", "quote", "card")
ALIGNMENTS = ("left", "center", "right")
PADDINGS = {"none": 0, "small": 8, "medium": 16, "large": 32}  # vertical padding in px
# Colour names: the brand kit gives each a value (campaigns.delivery.blocks_mjml.BrandKit).
COLOURS = ("text", "muted", "primary", "accent", "background", "surface")
SOCIAL_NETWORKS = ("x", "facebook", "linkedin", "instagram", "youtube", "line", "note", "website")

MAX_BLOCKS = 100
MAX_COLUMN_BLOCKS = 10
MAX_TEXT = 20_000
MAX_LINE = 500
MAX_URL = 2_000
MAX_WIDTH = 600  # the mail's content width

# Rich text: these tags and only href on links; anything else is dropped, its text kept.
RICH_TAGS = {"p", "br", "strong", "b", "em", "i", "a", "ul", "ol", "li"}
_SAFE_SCHEMES = ("http://", "https://", "mailto:", "tel:")
# A whole href may be one merge tag ({{ preferences_url }}, {{ contact.attributes.page }}), nothing else relative.
_MERGE_TAG_ONLY = re.compile(r"\{\{[^{}]*\}\}")
_STATEMENT = re.compile(r"\{%|\{#")

# The keys each block may carry besides the common ones; a typo in a key is an error, not silence.
_COMMON = {"type", "id", "align", "padding", "color", "background"}
_FIELDS: dict[str, set[str]] = {
    "heading": {"text", "level"},
    "text": {"html"},
    "image": {"asset_id", "src", "alt", "href", "width"},
    "button": {"label", "href"},
    "columns": {"columns"},
    "divider": set(),
    "spacer": {"height"},
    "quote": {"text", "author", "role"},
    "card": {"title", "text", "image", "link"},
    "social": {"links"},
    "footer": set(),
}


class BlockError(ValueError):
    """A block document that cannot be saved; `problems` lists every English message (msgids with values)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    # ------------------------------------------------------------ values
    def line(self, where: str, block: Mapping[str, Any], key: str, *, required: bool) -> str:
        value = block.get(key, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            self.fail(where, f"{key} must be text")
            return ""
        value = " ".join(value.split())
        if required and not value:
            self.fail(where, f"{key} is required")
        if len(value) > MAX_LINE:
            self.fail(where, f"{key} is too long (at most {MAX_LINE} characters)")
        self.no_statements(where, key, value)
        return value

    def no_statements(self, where: str, key: str, value: str) -> None:
        if _STATEMENT.search(value):
            self.fail(where, f"{key}: only merge tags {{{{ ... }}}} are allowed here; use the HTML editor for logic")

    def url(self, where: str, block: Mapping[str, Any], key: str, *, required: bool) -> str:
        value = block.get(key, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            self.fail(where, f"{key} must be a web address")
            return ""
        value = value.strip()
        if not value:
            if required:
                self.fail(where, f"{key} is required")
            return ""
        if len(value) > MAX_URL:
            self.fail(where, f"{key} is too long")
        elif not (value.lower().startswith(_SAFE_SCHEMES) or _MERGE_TAG_ONLY.fullmatch(value)):
            self.fail(where, f"{key} must start with https:// (or mailto:, tel:, or be one merge tag)")
        return value

    def integer(self, where: str, block: Mapping[str, Any], key: str, low: int, high: int) -> int | None:
        value = block.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, str) and value.strip().isdigit():
                value = int(value.strip())
            else:
                self.fail(where, f"{key} must be a whole number")
                return None
        if not low <= value <= high:
            self.fail(where, f"{key} must be between {low} and {high}")
            return None
        return value

    def choice(self, where: str, block: Mapping[str, Any], key: str, options: tuple[str, ...]) -> str | None:
        value = block.get(key)
        if value is None or value == "":
            return None
        if value not in options:
            self.fail(where, f"{key} must be one of {', '.join(options)}")
            return None
        return str(value)

    # ------------------------------------------------------------ blocks
    def blocks(self, items: Any, where: str, allowed: tuple[str, ...], limit: int) -> list[dict[str, Any]]:
        if not isinstance(items, list):
            self.fail(where, "blocks must be a list")
            return []
        if len(items) > limit:
            self.fail(where, f"too many blocks (at most {limit})")
            items = items[:limit]
        out = []
        for i, block in enumerate(items, start=1):
            label = f"{where} block {i}" if where != "mail" else f"block {i}"
            cleaned = self.block(block, label, allowed)
            if cleaned is not None:
                out.append(cleaned)
        return out

    def block(self, block: Any, where: str, allowed: tuple[str, ...]) -> dict[str, Any] | None:
        if not isinstance(block, Mapping):
            self.fail(where, "must be an object")
            return None
        kind = block.get("type")
        if kind not in BLOCK_TYPES:
            self.fail(where, f"unknown block type {kind!r}")
            return None
        where = f"{where} ({kind})"
        if kind not in allowed:
            self.fail(where, "not allowed here")
            return None
        unknown = sorted(set(block) - _COMMON - _FIELDS[kind])
        if unknown:
            self.fail(where, f"unknown setting {', '.join(unknown)}")
        out: dict[str, Any] = {"type": kind}
        if block.get("id") is not None:
            ident = block["id"]
            if not isinstance(ident, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", ident):
                self.fail(where, "id must be up to 40 letters, digits, - or _")
            else:
                out["id"] = ident
        for key, options in (("align", ALIGNMENTS), ("padding", tuple(PADDINGS)), ("color", COLOURS),
                             ("background", COLOURS)):
            value = self.choice(where, block, key, options)
            if value is not None:
                out[key] = value
        getattr(self, f"_{kind}")(block, where, out)
        return out

    def _heading(self, block: Mapping[str, Any], where: str, out: dict[str, Any]) -> None:
        out["text"] = self.line(where, block, "text", required=True)
        out["level"] = self.integer(where, block, "level", 1, 3) or 2

    def _text(self, block: Mapping[str, Any], where: str, out: dict[str, Any]) -> None:
        value = block.get("html", "")
        if not isinstance(value, str):
            self.fail(where, "html must be text")
            value = ""
        if len(value) > MAX_TEXT:
            self.fail(where, f"text is too long (at most {MAX_TEXT} characters)")
        self.no_statements(where, "text", value)
        cleaned = clean_rich_text(value)
        if not re.sub(r"<[^>]*>|&nbsp;|\s", "", cleaned):
            self.fail(where, "text is required")
        out["html"] = cleaned

    def _image(self, block: Mapping[str, Any], where: str, out: dict[str, Any]) -> None:
        self._image_source(block, where, out)
        href = self.url(where, block, "href", required=False)
        if href:
            out["href"] = href
        width = self.integer(where, block, "width", 20, MAX_WIDTH)
        if width:
            out["width"] = width

    def _image_source(self, block: Mapping[str, Any], where: str, out: dict[str, Any]) -> None:
        asset = block.get("asset_id")
        src = block.get("src")
        if asset not in (None, ""):
            if isinstance(asset, bool) or not isinstance(asset, int) or asset < 1:
                self.fail(where, "asset_id must be the number of an uploaded image")
            else:
                out["asset_id"] = asset
        elif src:
            url = self.url(where, block, "src", required=True)
            if url and not url.lower().startswith(("https://", "http://")):
                self.fail(where, "src must be a web address (https://)")
            out["src"] = url
        else:
            self.fail(where, "an image is required (asset_id or src)")
        # Alt text is required: images are off by default in many clients, and screen readers read it.
        out["alt"] = self.line(where, block, "alt", required=True)

    def _button(self, block: Mapping[str, Any], where: str, out: dict[str, Any]) -> None:
        out["label"] = self.line(where, block, "label", required=True)
        out["href"] = self.url(where, block, "href", required=True)

    def _columns(self, block: Mapping[str, Any], where: str, out: dict[str, Any]) -> None:
        columns = block.get("columns")
        if not isinstance(columns, list) or len(columns) not in (2, 3):
            self.fail(where, "columns must be a list of 2 or 3 columns")
            out["columns"] = [[], []]
            return
        out["columns"] = [
            self.blocks(column, f"{where} column {n}", COLUMN_BLOCK_TYPES, MAX_COLUMN_BLOCKS)
            for n, column in enumerate(columns, start=1)
        ]

    def _divider(self, block: Mapping[str, Any], where: str, out: dict[str, Any]) -> None:
        pass

    def _spacer(self, block: Mapping[str, Any], where: str, out: dict[str, Any]) -> None:
        out["height"] = self.integer(where, block, "height", 4, 120) or 24

    def _quote(self, block: Mapping[str, Any], where: str, out: dict[str, Any]) -> None:
        text = block.get("text", "")
        out["text"] = self._long(where, {"text": text if isinstance(text, str) else ""}, "text")
        if not out["text"]:
            self.fail(where, "text is required")
        for key in ("author", "role"):
            value = self.line(where, block, key, required=False)
            if value:
                out[key] = value

    def _long(self, where: str, block: Mapping[str, Any], key: str) -> str:
        value = str(block.get(key, ""))
        if len(value) > MAX_TEXT:
            self.fail(where, f"{key} is too long (at most {MAX_TEXT} characters)")
        self.no_statements(where, key, value)
        return value.strip()

    def _card(self, block: Mapping[str, Any], where: str, out: dict[str, Any]) -> None:
        out["title"] = self.line(where, block, "title", required=True)
        text = block.get("text", "")
        if not isinstance(text, str):
            self.fail(where, "text must be text")
            text = ""
        out["text"] = self._long(where, {"text": text}, "text")
        image = block.get("image")
        if image not in (None, {}):
            if not isinstance(image, Mapping) or set(image) - {"asset_id", "src", "alt"}:
                self.fail(where, "image must have asset_id or src, and alt")
            else:
                picture: dict[str, Any] = {}
                self._image_source(image, f"{where} image", picture)
                out["image"] = picture
        link = block.get("link")
        if link not in (None, {}):
            if not isinstance(link, Mapping) or set(link) - {"label", "href"}:
                self.fail(where, "link must have label and href")
            else:
                out["link"] = {"label": self.line(where, link, "label", required=True),
                               "href": self.url(where, link, "href", required=True)}

    def _social(self, block: Mapping[str, Any], where: str, out: dict[str, Any]) -> None:
        links = block.get("links")
        if not isinstance(links, list) or not 1 <= len(links) <= len(SOCIAL_NETWORKS):
            self.fail(where, f"links must list 1 to {len(SOCIAL_NETWORKS)} networks")
            out["links"] = []
            return
        out["links"] = []
        for n, link in enumerate(links, start=1):
            spot = f"{where} link {n}"
            if not isinstance(link, Mapping) or set(link) - {"network", "href"}:
                self.fail(spot, "must have network and href")
                continue
            network = self.choice(spot, link, "network", SOCIAL_NETWORKS)
            if network is None:
                self.fail(spot, "network is required")
                continue
            out["links"].append({"network": network, "href": self.url(spot, link, "href", required=True)})

    def _footer(self, block: Mapping[str, Any], where: str, out: dict[str, Any]) -> None:
        pass


def _keep_safe_href(tag: str, attribute: str, value: str) -> str | None:
    if attribute != "href":
        return None
    value = value.strip()
    if value.lower().startswith(_SAFE_SCHEMES) or _MERGE_TAG_ONLY.fullmatch(value):
        return value
    return None


def clean_rich_text(html: str) -> str:
    """The safe subset of a text block's rich text (validator; the editor's paste); drops scripts, styles,
    event handlers and unsafe links, keeps their text."""
    return str(nh3.clean(
        html, tags=RICH_TAGS, attributes={"a": {"href"}}, url_schemes={"http", "https", "mailto", "tel"},
        link_rel=None, strip_comments=True, attribute_filter=_keep_safe_href,
    )).strip()


def validate_document(data: Any) -> dict[str, Any]:
    """The normalised document, or BlockError listing every problem (editor save, gallery, playbooks, API).

    The legal footer block is added at the end when missing; a second one, or one that is not last, is an
    error (the footer carries the unsubscribe link and the sender's address, which the law requires)."""
    check = _Checker()
    if not isinstance(data, Mapping):
        raise BlockError(["mail: the block document must be an object"])
    if data.get("format", FORMAT) != FORMAT:
        check.fail("mail", f"format must be {FORMAT!r}")
    version = data.get("version", VERSION)
    if version != VERSION:
        check.fail("mail", f"unsupported version {version!r} (this Nurture reads version {VERSION})")
    unknown = sorted(set(data) - {"format", "version", "blocks"})
    if unknown:
        check.fail("mail", f"unknown setting {', '.join(unknown)}")
    blocks = check.blocks(data.get("blocks", []), "mail", BLOCK_TYPES, MAX_BLOCKS + 1)
    footers = [i for i, b in enumerate(blocks) if b["type"] == "footer"]
    if not footers:
        blocks.append({"type": "footer"})
    elif len(footers) > 1:
        check.fail("mail", "only one legal footer block is allowed")
    elif footers[0] != len(blocks) - 1:
        check.fail("mail", "the legal footer block must be the last block")
    if not any(b["type"] != "footer" for b in blocks):
        check.fail("mail", "add at least one block besides the footer")
    if check.problems:
        raise BlockError(check.problems)
    return {"format": FORMAT, "version": VERSION, "blocks": blocks}


def iter_blocks(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every block of a valid document in reading order, columns' blocks included (merge tags, assets)."""
    found: list[dict[str, Any]] = []
    for block in document.get("blocks", []):
        found.append(block)
        if block.get("type") == "columns":
            for column in block.get("columns", []):
                found.extend(column)
    return found
