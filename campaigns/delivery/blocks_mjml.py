"""Block document -> MJML -> HTML, with the brand kit's colours, fonts and button style.

Called once per template version (`campaigns.delivery.block_mails.save_block_version`, the benchmark): the
validated document (`blocks.validate_document`) is written as MJML and compiled by MRML (`mjml-python`, the
Rust MJML), which gives the tables and Outlook conditionals mail clients need. What this module adds to
MRML's output, because the pitfalls are ours to avoid:

- every image has a width attribute (an asset's stored width, capped by the column) and its alt text;
- colours, paddings, fonts and link colours are inline on the element (Gmail drops <style> in some views,
  so no layout depends only on it); the <style> MRML writes only adds the phone stacking and dark mode;
- buttons are MJML's table-based bulletproof button (a <td> with bgcolor around the <a>), the text colour
  chosen for contrast with the button's colour;
- `color-scheme: light dark` with dark rules for the clients that honour prefers-color-scheme (Apple Mail,
  Outlook.com's [data-ogsc]); colours that invert well elsewhere (every section has its background set);
- at most 600 px wide; the legal footer is not written here: the rendering pipeline appends
  templates/email/footer.html to every mail, block mails included (`footer` blocks mark its place, last).
- lean: MJML writes ~1.2 KB of wrapper tables and Outlook conditionals per section, so a run of simple
  blocks on one background shares one section and column (each block's padding on its own element), and
  adjacent headings and texts share one mj-text; columns rows and cards keep a section of their own
  (docs/benchmarks.md, "Block mails": 67 KB -> 29 KB for 30 blocks, the same pixels); then `_lean_body`
  drops bytes MRML writes that change nothing a reader sees (29 KB -> 27 KB; docs/mail-blocks.md, "Size").

Merge tags (`{{ ... }}`) are swapped for inert tokens while the MJML is built and compiled, so escaping and
MRML cannot touch them, and put back in the HTML; the sandbox renders them per recipient as in HTML mails.
`merge_tag_warnings` names tags that point at no known field.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import Environment, nodes
from jinja2.exceptions import TemplateSyntaxError
from mjml import mjml2html

from campaigns.delivery.blocks import PADDINGS, iter_blocks

CONTENT_WIDTH = 600
SIDE_PADDING = 24
INNER_WIDTH = CONTENT_WIDTH - 2 * SIDE_PADDING
COLUMN_GAP = 8  # px on each side of a column

FONTS = {
    "sans": "-apple-system, 'Segoe UI', 'Hiragino Sans', 'Hiragino Kaku Gothic ProN', Meiryo, Arial, sans-serif",
    "serif": "Georgia, 'Hiragino Mincho ProN', 'Yu Mincho', 'Times New Roman', serif",
    "rounded": "'Hiragino Maru Gothic ProN', 'Arial Rounded MT Bold', 'Segoe UI', Meiryo, sans-serif",
}
BUTTON_SHAPES = {"square": 0, "rounded": 6, "pill": 24}
DEFAULT_COLOURS = {"text": "#1d2433", "muted": "#6b7280", "primary": "#2f6fde", "accent": "#0b7a5c",
                   "background": "#f4f5f7", "surface": "#ffffff"}
# Dark mode: fixed, readable values (a brand's light palette cannot be inverted reliably).
_DARK = {"background": "#12151c", "surface": "#1f2430", "text": "#e6e8ee", "muted": "#a3aab8", "link": "#9dbcff"}
_HEX = re.compile(r"#[0-9a-fA-F]{6}")
SOCIAL_NAMES = {"x": "X", "facebook": "Facebook", "linkedin": "LinkedIn", "instagram": "Instagram",
                "youtube": "YouTube", "line": "LINE", "note": "note", "website": "Web"}

# Blocks with a section of their own; the others share one section per run on the same background.
_OWN_SECTION = ("columns", "card")
# Each element's own space above and below (px), inside its block's padding (blocks.PADDINGS).
_OWN_PAD = {"heading": 4, "text": 4, "image": 4, "button": 8, "divider": 8, "spacer": 0, "quote": 8, "social": 4}
_HEADING_SIZES = {1: 26, 2: 21, 3: 17}
_P_OPEN = '<p style="margin:0 0 12px;">'
_P_GAP = 12  # a paragraph's bottom margin


def _joins(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    """Whether `after` can share `before`'s mj-text: a heading or text followed by a heading or text of the
    same alignment (and, between texts, colour); a text must end with a paragraph whose margin can carry the
    space between them."""
    if before["type"] not in ("heading", "text") or after["type"] not in ("heading", "text"):
        return False
    if (before.get("align") or "left") != (after.get("align") or "left"):
        return False
    if before["type"] == "text":
        if not before["html"].endswith("</p>"):
            return False
        if after["type"] == "text" and before.get("color") != after.get("color"):
            return False
    return True


_TAG = re.compile(r"\{\{.*?\}\}", re.DOTALL)
_TOKEN = "nrtbk{}q"
_TOKEN_RE = re.compile(r"nrtbk(\d+)q")


@dataclass(frozen=True)
class BrandKit:
    """The account's brand: colour values by name, a font stack, the button shape, the logo (Settings)."""

    colours: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_COLOURS))
    font: str = "sans"
    button_shape: str = "rounded"
    logo_asset_id: int | None = None

    @classmethod
    def from_settings(cls, data: Mapping[str, Any] | None) -> BrandKit:
        """The brand kit stored on the account (`Account.brand_kit`), defaults for what is missing or wrong."""
        data = data or {}
        colours = dict(DEFAULT_COLOURS)
        for name, value in (data.get("colours") or {}).items():
            if name in colours and isinstance(value, str) and _HEX.fullmatch(value.strip()):
                colours[name] = value.strip().lower()
        font = data.get("font") if data.get("font") in FONTS else "sans"
        shape = data.get("button_shape") if data.get("button_shape") in BUTTON_SHAPES else "rounded"
        logo = data.get("logo_asset_id")
        return cls(colours=colours, font=str(font), button_shape=str(shape),
                   logo_asset_id=logo if isinstance(logo, int) and not isinstance(logo, bool) else None)

    def to_settings(self) -> dict[str, Any]:
        return {"colours": dict(self.colours), "font": self.font, "button_shape": self.button_shape,
                "logo_asset_id": self.logo_asset_id}


@dataclass(frozen=True)
class ImageRef:
    """Where an uploaded image is served and its stored size (campaigns.delivery.assets)."""

    url: str
    width: int
    height: int


class _Writer:
    def __init__(self, brand: BrandKit, assets: Mapping[int, ImageRef]) -> None:
        self.brand = brand
        self.assets = assets
        self.tags: list[str] = []
        self.missing_assets: list[int] = []

    # ------------------------------------------------------------ escaping with merge tags kept
    def protect(self, value: str) -> str:
        def swap(match: re.Match[str]) -> str:
            self.tags.append(match.group(0))
            return _TOKEN.format(len(self.tags) - 1)

        return _TAG.sub(swap, value)

    def text(self, value: str) -> str:
        """Plain text for an element's content: escaped, line breaks kept."""
        return html.escape(self.protect(value), quote=False).replace("\n", "<br>")

    def attr(self, value: str) -> str:
        return html.escape(self.protect(value), quote=True)

    def colour(self, name: str | None, default: str) -> str:
        return self.brand.colours.get(name or default, self.brand.colours[default])

    # ------------------------------------------------------------ the document
    def document(self, document: Mapping[str, Any], lang: str) -> str:
        font = FONTS[self.brand.font]
        c = self.brand.colours
        head = (
            "<mj-head>"
            # quote=False: the stacks' single quotes stay as they are in every element's style (not &#x27;)
            f'<mj-attributes><mj-all font-family="{html.escape(font, quote=False)}" />'
            f'<mj-text font-size="15px" line-height="1.7" color="{c["text"]}" padding="0" />'
            '<mj-image padding="0" /><mj-button padding="0" font-size="15px" font-weight="bold" />'
            # No padding default on mj-column: a padded column gets an extra "gutter" table from MJML, which
            # only columns rows and cards need (they set their own).
            '<mj-divider padding="0" /></mj-attributes>'
            '<mj-raw><meta name="color-scheme" content="light dark">'
            '<meta name="supported-color-schemes" content="light dark"></mj-raw>'
            f"<mj-style>{_dark_css()}</mj-style>"
            "</mj-head>"
        )
        body = "".join(self.sections(document["blocks"]))
        return (f'<mjml lang="{html.escape(lang)}">{head}<mj-body width="{CONTENT_WIDTH}px" '
                f'background-color="{c["background"]}" css-class="nb-body">{body}</mj-body></mjml>')

    def sections(self, blocks: list[Mapping[str, Any]]) -> list[str]:
        """The mail's sections: a run of simple blocks on the same background shares one section and column
        (MJML writes ~1.2 KB of wrapper tables and Outlook conditionals per section: one per block made a
        30-block mail 66 KB); columns rows and cards keep a section of their own."""
        out: list[str] = []
        run: list[Mapping[str, Any]] = []
        run_background = ""
        for block in blocks:
            kind = block["type"]
            if kind == "footer":
                continue  # the pipeline appends the legal footer (templates/email/footer.html) after the content
            if kind in _OWN_SECTION:
                if run:
                    out.append(self.run_section(run, run_background))
                    run = []
                out.append(self.section(block))
                continue
            background = self.colour(block.get("background"), "surface")
            if run and background != run_background:
                out.append(self.run_section(run, run_background))
                run = []
            run.append(block)
            run_background = background
        if run:
            out.append(self.run_section(run, run_background))
        return out

    def run_section(self, run: list[Mapping[str, Any]], background: str) -> str:
        """One section, one column, the run's blocks one under the other; each block's space above and below
        (its `padding`) is on its own element, so the spacing is what a section per block gave."""
        parts: list[str] = []
        i = 0
        while i < len(run):
            group = [run[i]]
            while i + len(group) < len(run) and _joins(group[-1], run[i + len(group)]):
                group.append(run[i + len(group)])
            parts.append(self.text_group(group) if len(group) > 1 else
                         self.element(run[i], INNER_WIDTH, PADDINGS[run[i].get("padding", "small")]))
            i += len(group)
        return (f'<mj-section background-color="{background}" css-class="nb-surface" '
                f'padding="0px {SIDE_PADDING}px"><mj-column>{"".join(parts)}</mj-column></mj-section>')

    def text_group(self, group: list[Mapping[str, Any]]) -> str:
        """Headings and text blocks next to each other as one mj-text (one wrapper cell, one font declaration);
        the space between them, which their own cells' padding gave, is the bottom margin of each part's last
        element (<hN> or <p>), which every client honours on those tags."""
        first_pad = PADDINGS[group[0].get("padding", "small")] + _OWN_PAD["text"]
        last_pad = PADDINGS[group[-1].get("padding", "small")] + _OWN_PAD["text"]
        texts = [b for b in group if b["type"] == "text"]
        colour = self.colour(texts[0].get("color") if texts else None, "text")
        body = []
        for n, block in enumerate(group):
            gap = 0
            if n + 1 < len(group):
                gap = (PADDINGS[block.get("padding", "small")] + PADDINGS[group[n + 1].get("padding", "small")]
                       + 2 * _OWN_PAD["text"])
            if block["type"] == "heading":
                body.append(self.heading_tag(block, gap))
            else:
                rich = self.rich(block["html"])
                if gap:  # _joins let only a text that ends with a paragraph through
                    cut = rich.rfind(_P_OPEN)
                    rich = rich[:cut] + f'<p style="margin:0 0 {_P_GAP + gap}px;">' + rich[cut + len(_P_OPEN):]
                body.append(rich)
        return (f'<mj-text css-class="nb-text" align="{group[0].get("align") or "left"}" color="{colour}" '
                f'padding="{first_pad}px 0px {last_pad}px">{"".join(body)}</mj-text>')

    def heading_tag(self, block: Mapping[str, Any], gap: int = 0) -> str:
        level = block.get("level", 2)
        size = _HEADING_SIZES[level]
        colour = self.colour(block.get("color"), "text")
        return (f'<h{level} style="margin:0{f" 0 {gap}px" if gap else ""};font-size:{size}px;line-height:1.4;'
                f'font-weight:bold;color:{colour};">{self.text(block["text"])}</h{level}>')

    def section(self, block: Mapping[str, Any]) -> str:
        """A block with a section of its own: a columns row or a card."""
        kind = block["type"]
        background = self.colour(block.get("background"), "surface")
        if kind == "card" and not block.get("background"):
            background = self.colour("background", "background")
        pad = PADDINGS[block.get("padding", "small")]
        if kind == "columns":
            count = len(block["columns"])
            width = INNER_WIDTH // count - 2 * COLUMN_GAP
            columns = "".join(
                f'<mj-column padding="0px {COLUMN_GAP}px">'
                + "".join(self.element(inner, width) for inner in column) + "</mj-column>"
                for column in block["columns"]
            )
            return (f'<mj-section background-color="{background}" css-class="nb-surface" '
                    f'padding="{pad}px {SIDE_PADDING - COLUMN_GAP}px">{columns}</mj-section>')
        inner_pad = 16
        return (f'<mj-section background-color="{background}" css-class="nb-surface" '
                f'padding="{pad}px {SIDE_PADDING}px"><mj-column padding="{inner_pad}px">'
                f"{self.element(block, INNER_WIDTH - 2 * inner_pad)}</mj-column></mj-section>")

    def element(self, block: Mapping[str, Any], width: int, pad: int = 0) -> str:
        """One block as MJML elements inside a column `width` px wide, with `pad` px more space above and
        below than the element's own (a block's padding, when its run shares a section)."""
        kind = block["type"]
        align = block.get("align")
        space = f'padding="{_OWN_PAD.get(kind, 0) + pad}px 0px"'
        if kind == "heading":
            size = _HEADING_SIZES[block.get("level", 2)]
            colour = self.colour(block.get("color"), "text")
            return (f'<mj-text css-class="nb-text" align="{align or "left"}" color="{colour}" font-size="{size}px" '
                    f'line-height="1.4" font-weight="bold" {space}>{self.heading_tag(block)}</mj-text>')
        if kind == "text":
            colour = self.colour(block.get("color"), "text")
            return (f'<mj-text css-class="nb-text" align="{align or "left"}" color="{colour}" {space}>'
                    f'{self.rich(block["html"])}</mj-text>')
        if kind == "image":
            return self.image(block, width, align or "center", pad)
        if kind == "button":
            colour = self.colour(block.get("color"), "primary")
            radius = BUTTON_SHAPES[self.brand.button_shape]
            return (f'<mj-button href="{self.attr(block["href"])}" align="{align or "center"}" '
                    f'background-color="{colour}" color="{_on(colour)}" border-radius="{radius}px" '
                    f'inner-padding="12px 28px" {space}>{self.text(block["label"])}</mj-button>')
        if kind == "divider":
            colour = self.colour(block.get("color"), "muted")
            return (f'<mj-divider border-color="{colour}" border-width="1px" {space} '
                    f'align="{align or "center"}" />')
        if kind == "spacer":
            return f'<mj-spacer height="{block.get("height", 24)}px"{f" {space}" if pad else ""} />'
        if kind == "quote":
            return self.quote(block, pad)
        if kind == "card":
            return self.card(block, width)
        if kind == "social":
            links = " &nbsp;·&nbsp; ".join(
                f'<a href="{self.attr(link["href"])}" style="color:{self.colour(block.get("color"), "primary")};'
                f'text-decoration:underline;">{SOCIAL_NAMES[link["network"]]}</a>'
                for link in block["links"]
            )
            return f'<mj-text css-class="nb-text" align="{align or "center"}" {space}>{links}</mj-text>'
        raise ValueError(f"block type {kind!r} has no MJML")  # validate_document lets no other type through

    def image(self, block: Mapping[str, Any], width: int, align: str, pad: int = 0) -> str:
        src, natural = self.image_source(block)
        shown = min(width, block.get("width") or natural or width)
        href = f' href="{self.attr(block["href"])}"' if block.get("href") else ""
        return (f'<mj-image src="{self.attr(src)}" alt="{self.attr(block["alt"])}" width="{shown}px" '
                f'align="{align}"{href} padding="{_OWN_PAD["image"] + pad}px 0px" />')

    def image_source(self, block: Mapping[str, Any]) -> tuple[str, int | None]:
        asset_id = block.get("asset_id")
        if asset_id is not None:
            ref = self.assets.get(asset_id)
            if ref is None:
                self.missing_assets.append(asset_id)
                return "", None
            return ref.url, ref.width
        return str(block.get("src", "")), None

    def quote(self, block: Mapping[str, Any], pad: int = 0) -> str:
        accent = self.colour(block.get("color"), "primary")
        muted = self.colour("muted", "muted")
        who = ", ".join(x for x in (block.get("author", ""), block.get("role", "")) if x)
        cite = (f'<p style="margin:8px 0 0;font-size:13px;color:{muted};font-style:normal;">— {self.text(who)}</p>'
                if who else "")
        return (f'<mj-text css-class="nb-text" padding="{_OWN_PAD["quote"] + pad}px 0px">'
                '<table role="presentation" width="100%" '
                f'cellpadding="0" cellspacing="0" border="0"><tr><td style="border-left:4px solid {accent};'
                f'padding:4px 0 4px 16px;font-style:italic;">{self.text(block["text"])}{cite}</td></tr></table>'
                "</mj-text>")

    def card(self, block: Mapping[str, Any], width: int) -> str:
        parts = []
        if block.get("image"):
            parts.append(self.image(block["image"], width, "center"))
        parts.append(self.element({"type": "heading", "text": block["title"], "level": 3}, width))
        if block.get("text"):
            colour = self.colour(block.get("color"), "text")
            parts.append(f'<mj-text css-class="nb-text" color="{colour}" padding="4px 0">'
                         f'<p style="margin:0;">{self.text(block["text"])}</p></mj-text>')
        if block.get("link"):
            parts.append(self.element({"type": "button", "label": block["link"]["label"],
                                       "href": block["link"]["href"], "align": "left"}, width))
        return "".join(parts)

    def rich(self, value: str) -> str:
        """A text block's cleaned rich text with inline styles on each tag (no reliance on <style>)."""
        link = self.colour("primary", "primary")
        styles = {"p": "margin:0 0 12px;", "ul": "margin:0 0 12px;padding-left:24px;",
                  "ol": "margin:0 0 12px;padding-left:24px;", "li": "margin:0 0 4px;"}
        value = self.protect(value)
        value = re.sub(r"<(p|ul|ol|li)>", lambda m: f'<{m.group(1)} style="{styles[m.group(1)]}">', value)
        return re.sub(r"<a href=", f'<a style="color:{link};text-decoration:underline;" href=', value)

    def restore(self, compiled: str) -> str:
        return _TOKEN_RE.sub(lambda m: self.tags[int(m.group(1))], compiled)


def _on(background: str) -> str:
    """White or near-black text, whichever reads better on `background` (WCAG relative luminance)."""
    def channel(hex2: str) -> float:
        v = int(hex2, 16) / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(background[i:i + 2]) for i in (1, 3, 5))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    on_white = 1.05 / (luminance + 0.05)
    # White when it meets WCAG AA (4.5:1), which brand buttons usually want; else whichever reads better.
    return "#ffffff" if on_white >= 4.5 or on_white >= (luminance + 0.05) / 0.05 else "#111111"


def _dark_css() -> str:
    d = _DARK
    rules = (
        f".nb-body {{ background-color:{d['background']} !important; }}",
        f".nb-surface, .nb-surface > table {{ background:{d['surface']} !important; "
        f"background-color:{d['surface']} !important; }}",
        f".nb-text div, .nb-text h1, .nb-text h2, .nb-text h3, .nb-text p, .nb-text li, .nb-text td "
        f"{{ color:{d['text']} !important; }}",
        f".nb-text a {{ color:{d['link']} !important; }}",
    )
    light = " ".join(rules)
    ogsc = " ".join("[data-ogsc] " + r.replace(", .", ", [data-ogsc] .") for r in rules)
    return f"@media (prefers-color-scheme: dark) {{ {light} }} {ogsc}"


DARK_QUERY = "@media (prefers-color-scheme: dark)"


def compile_document(document: Mapping[str, Any], brand: BrandKit, assets: Mapping[int, ImageRef], *,
                     lang: str = "en") -> str:
    """The mail's HTML document for a valid block document (save, the benchmark); raises ValueError naming
    images that are no longer in the library."""
    writer = _Writer(brand, assets)
    source = writer.document(document, lang)
    if writer.missing_assets:
        raise ValueError(f"image {writer.missing_assets[0]} is no longer in the image library")
    return writer.restore(_lean_body(_lean_head(mjml2html(source, disable_comments=True))))


def _lean_head(compiled: str) -> str:
    """MRML's <head> without its indentation and line breaks (MRML has no minify option; the body has none),
    and its CSS without the spaces around `{};,`."""
    cut = compiled.find("<body")
    head = re.sub(r">\s+<", "><", compiled[:cut])
    head = re.sub(r"\s*\n\s*", " ", head)
    # Inside <style>: no spaces around braces, semicolons and commas, no `;` before `}` (the same rules).
    head = _STYLE_ELEMENT.sub(lambda m: m.group(1) + _CSS_SPACE.sub(r"\1", m.group(2)).replace(";}", "}")
                              + m.group(3), head)
    return head + compiled[cut:]


# MRML writes each Outlook table piece in a conditional of its own; MJML (JS) merges adjacent ones, MRML not.
_OUTLOOK_SEAM = "<![endif]--><!--[if mso | IE]>"
_TBODY = re.compile(r"</?tbody>")
_START_TAG = re.compile(r"<[a-zA-Z][^<>]*>")  # text has no `<` of its own (escaped), so only real tags
_STYLE_ATTR = re.compile(r' style="([^"<>]*)"')
_ZERO_PX = re.compile(r"(?<=[:\s])0px(?=[;\s]|$)")
_COMMA = re.compile(r",\s+")
_CSS_SPACE = re.compile(r"\s*([{};,])\s*")
_STYLE_ELEMENT = re.compile(r"(<style[^>]*>)(.*?)(</style>)", re.S)


def _lean_style(match: re.Match[str]) -> str:
    # `0px` and `0` are the same length in CSS; the last declaration needs no `;`.
    # and a comma needs no space after it (font lists).
    return ' style="' + _ZERO_PX.sub("0", _COMMA.sub(",", match.group(1))).rstrip(";") + '"'


def _lean_tag(match: re.Match[str]) -> str:
    return _STYLE_ATTR.sub(_lean_style, match.group(0))


def _lean_body(compiled: str) -> str:
    """MRML's HTML, the same pixels in fewer bytes (issue 19; docs/mail-blocks.md, "Size"); runs before merge
    tags are restored, so their tokens pass through untouched, and touches only markup MRML writes:

    - adjacent Outlook conditionals with the same condition become one (`<![endif]--><!--[if mso | IE]>`
      dropped), as MJML's own `mergeOutlookConditionnals` does; every conditional is kept;
    - `<tbody>`/`</tbody>` dropped: optional tags, every HTML parser (browsers, webmail sanitisers) puts the
      element back, and Outlook's tables in the conditionals never had them;
    - inside style attributes only: `0px` -> `0` and no `;` after the last declaration.

    Text (escaped by the writer: no `<`, `"` or `<!--` of its own), URLs, alt text and class names are not
    touched."""
    compiled = compiled.replace(_OUTLOOK_SEAM, "")
    compiled = _TBODY.sub("", compiled)
    return _START_TAG.sub(_lean_tag, compiled)


def to_mjml(document: Mapping[str, Any], brand: BrandKit, assets: Mapping[int, ImageRef], *,
            lang: str = "en") -> str:
    """The MJML source of a block document, merge tags restored (for experts, tests)."""
    writer = _Writer(brand, assets)
    return writer.restore(writer.document(document, lang))


def dark_preview(compiled_html: str) -> str:
    """The same HTML with its dark-mode rules always on: the preview's "dark" switch shows what Apple Mail
    and Outlook.com show a reader in dark mode."""
    return compiled_html.replace(DARK_QUERY, "@media all")


# ---------------------------------------------------------------- merge tags
CONTACT_FIELDS = ("first_name", "last_name", "name", "company", "job_title", "email")
ACCOUNT_FIELDS = ("company_name", "from_name", "postal_address", "contact_info")
TOP_LEVEL = ("unsubscribe_url", "preferences_url")
_ENV = Environment(autoescape=True)


def _dotted(node: nodes.Node) -> str | None:
    parts: list[str] = []
    while isinstance(node, (nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            parts.append(node.arg.value)
        else:
            return None
        node = node.node
    if not isinstance(node, nodes.Name):
        return None
    parts.append(node.name)
    return ".".join(reversed(parts))


def _names(source: str) -> list[str]:
    """The dotted variable paths a template's {{ ... }} and {% ... %} read, outermost first."""
    try:
        tree = _ENV.parse(source)
    except TemplateSyntaxError:
        return []
    found: list[str] = []
    inner: set[int] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name)):
        if id(node) in inner:
            continue
        if isinstance(node, (nodes.Getattr, nodes.Getitem)):
            child = node.node
            while isinstance(child, (nodes.Getattr, nodes.Getitem)):
                inner.add(id(child))
                child = child.node
            inner.add(id(child))
        if isinstance(node, nodes.Name) and node.ctx != "load":
            continue
        path = _dotted(node)
        if path:
            found.append(path)
    return found


def merge_tag_warnings(sources: Iterable[str], attribute_keys: Iterable[str]) -> list[str]:
    """English warnings (msgids with values) for merge tags naming no known field (editor save, preview).

    `attribute_keys` are the custom field keys seen on contacts (`assets`-free: the caller reads them).
    A tag that names nothing known would render as an empty string for everyone; warning is the point."""
    keys = set(attribute_keys)
    locals_: set[str] = set()
    warnings: list[str] = []
    for source in sources:
        try:
            tree = _ENV.parse(source)
        except TemplateSyntaxError:
            continue
        for target in tree.find_all(nodes.Name):
            if target.ctx in ("store", "param"):
                locals_.add(target.name)
        for path in _names(source):
            message = _check_path(path, keys, locals_)
            if message and message not in warnings:
                warnings.append(message)
    return warnings


def _check_path(path: str, keys: set[str], locals_: set[str]) -> str | None:
    head, _, rest = path.partition(".")
    if head in locals_ or head in ("loop", "range", "true", "false", "none"):
        return None
    if head in TOP_LEVEL and not rest:
        return None
    if head == "contact":
        field_name, _, sub = rest.partition(".")
        if field_name == "attributes":
            key = sub.partition(".")[0]
            if not key:
                return None
            if key not in keys:
                return f"merge tag {{{{ {path} }}}}: no contact has the custom field {key}"
            return None
        if field_name in (*CONTACT_FIELDS, "id") and not sub:
            return None
        return f"merge tag {{{{ {path} }}}}: contacts have no field {field_name or '(none)'}"
    if head == "account":
        if rest in ACCOUNT_FIELDS:
            return None
        return f"merge tag {{{{ {path} }}}}: unknown account field {rest or '(none)'}"
    return f"merge tag {{{{ {path} }}}}: unknown variable {head}"


def merge_tag_syntax(document: Mapping[str, Any]) -> str | None:
    """The first merge tag of a valid document that cannot be parsed, as a message naming its block (save)."""
    checked: set[str] = set()
    for number, block in enumerate(document.get("blocks", []), start=1):
        inner = [block] + [b for column in block.get("columns", []) for b in column]
        for source in block_sources({"blocks": inner}):
            if "{{" not in source and "}}" not in source:
                continue
            # a tag left open ("{{ contact.name") is not found by the pattern: the whole text is parsed then
            tags = _TAG.findall(source) if source.count("{{") == len(_TAG.findall(source)) else [source]
            for tag in tags:
                if tag in checked:
                    continue
                checked.add(tag)
                try:
                    _ENV.parse(tag)
                except TemplateSyntaxError as exc:
                    return f"block {number} ({block['type']}): merge tag {tag.strip()} cannot be read ({exc.message})"
    return None


def block_sources(document: Mapping[str, Any]) -> list[str]:
    """Every text of a block document that may hold merge tags (warnings)."""
    out: list[str] = []
    for block in iter_blocks(document):
        for key in ("text", "html", "label", "href", "alt", "title", "author", "role"):
            if isinstance(block.get(key), str):
                out.append(block[key])
        if isinstance(block.get("link"), Mapping):
            out.extend(str(v) for v in block["link"].values())
    return out
