"""Sandboxed Jinja2 rendering of email templates; premailer inlining ONCE per template version.

Compile time (`compile_version`, called when a marketer saves a template): the author's Jinja2 source
is validated in the sandbox, wrapped in the default layout with the legal footer, its CSS is inlined
by premailer once, its links are parsed with lxml and stored as `Link` rows, tracked hrefs are
replaced by placeholders, and a plain-text part is generated when none is written.

Send time (`render_message`, called by the sender for each recipient): the compiled version is
rendered in the sandbox with the contact's data (compiled Jinja templates are cached per version in
this process), then the link placeholders are filled with signed click URLs in one regex pass and
the open pixel is added. No HTML parsing, no CSS work per recipient.

One job over ~700 lines: turning a template version into mail, safely (the sandbox, compile, render,
preview).
"""

from __future__ import annotations

import copy
import html as html_lib
import json
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import lxml.html  # type: ignore[import-untyped]
from jinja2 import TemplateError as JinjaTemplateError
from jinja2 import TemplateSyntaxError
from jinja2 import nodes as jinja_nodes
from jinja2.sandbox import SecurityError
from lxml import etree  # type: ignore[import-untyped]
from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.config import ROOT
from campaigns.db import now_utc
from campaigns.delivery import sandbox
from campaigns.models import Account, Contact, Link, Template, TemplateVersion
from campaigns.names import display_name
from campaigns.runtime import Services
from campaigns.users import get_account

log = logging.getLogger("nurture.rendering")

EMAIL_TEMPLATES = ROOT / "templates" / "email"

# Placeholders written into the compiled source; filled per recipient by one regex pass each.
_LINK_PLACEHOLDER = "__NURTURE_LINK_{}__"
_LINK_RE = re.compile(r"__NURTURE_LINK_(\d+)__")
_PIXEL_MARK = "<!--nurture:open-pixel-->"
_JINJA_RE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_PART_SEPARATOR = "\x00\x1fnurture-part\x1f\x00"
_TOKEN = "nrtjx{}q"
_TOKEN_RE = re.compile(r"nrtjx(\d+)q")
_UNTRACKED_SCHEMES = ("mailto:", "tel:", "sms:", "#", "javascript:", "data:")
_MAX_SOURCE = 512 * 1024
_BLANK_RUNS = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


class TemplateError(Exception):
    """A template that cannot be compiled or rendered; the message is meant for the template author."""


_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _refuse_control_characters(part: str, value: str) -> None:
    """XML parsers (lxml, premailer) refuse control characters; say so instead of failing later."""
    match = _CONTROL_CHARS.search(value)
    if match:
        line = value.count("\n", 0, match.start()) + 1
        raise TemplateError(f"{part}: line {line}: control character U+{ord(match.group()):04X} is not allowed")


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    html: str
    text: str


# ---------------------------------------------------------------- the sandbox
# campaigns.delivery.sandbox: the immutable sandbox plus size limits on everything a template computes, a
# per-render budget of steps and CPU time, and no Python reprs in a mail.
_HTML_ENV = sandbox.make_environment(autoescape=True)
_TEXT_ENV = sandbox.make_environment(autoescape=False)


def _describe(exc: Exception, part: str) -> str:
    line = getattr(exc, "lineno", None)
    message = getattr(exc, "message", None) or str(exc) or exc.__class__.__name__
    if isinstance(exc, SecurityError) and not isinstance(exc, sandbox.RenderLimitError):
        message = f"not allowed in templates ({message})"
    where = f"{part}, line {line}" if line else part
    return f"{where}: {message}"


_SAMPLE_CONTEXT: dict[str, Any] = {}


def _sample_context() -> dict[str, Any]:
    if not _SAMPLE_CONTEXT:
        _SAMPLE_CONTEXT.update(
            contact=_contact_context(None),
            unsubscribe_url="https://example.com/unsubscribe",
            preferences_url="https://example.com/preferences",
            account={"company_name": "Example", "postal_address": "Tokyo", "contact_info": "info@example.com",
                     "from_name": "Example"},
        )
    return _SAMPLE_CONTEXT


_TRIAL_SECONDS = 2.0  # CPU time of the save-time trial render (an ordinary template: a few ms)


def _validate(source: str, part: str, env: sandbox.MailSandbox) -> None:
    """Parse and trial-render one part in the sandbox, so errors surface at save time, not per send."""
    if len(source) > _MAX_SOURCE:
        raise TemplateError(f"{part}: too long (at most {_MAX_SOURCE // 1024} KB)")
    try:
        tree = env.parse(source)
        template = env.from_string(tree)  # compiled from the tree: one parse, not two (large mails)
    except TemplateSyntaxError as exc:
        raise TemplateError(_describe(exc, part)) from None
    # Mail templates have no loader: extends/include/import can only fail, and an extends that parses
    # alone breaks the combined compiled form, which would fail every send of the batch.
    for node in tree.find_all((jinja_nodes.Extends, jinja_nodes.Include, jinja_nodes.Import, jinja_nodes.FromImport)):
        raise TemplateError(f"{part}, line {node.lineno}: {{% {type(node).__name__.lower()} %}} is not allowed in mail templates")
    try:
        # The sandbox's step budget and CPU limit stop loops (`{% for i in range(100000) %}{% for j in
        # range(100000) %}`) and size limits stop amplification: a template that is too slow with the
        # sample data is refused at save time instead of holding a web worker (and later every send).
        sandbox.render(template, _sample_context(), _TRIAL_SECONDS)
    except sandbox.RenderLimitError as exc:
        raise TemplateError(f"{part}: {exc} with sample data; look for nested loops") from None
    except SecurityError as exc:
        raise TemplateError(_describe(exc, part)) from None
    except Exception:  # noqa: BLE001
        # Other runtime errors depend on the data (sample values differ from real contacts); a send
        # that meets one fails alone with the message, so they are not a reason to refuse the save.
        pass


# The trial of a compiled version (below) renders its Jinja tags without the HTML around them when that is
# provably the same template. What it saves is the lexing of the text around the tags (a block mail: ~28 KB of
# MJML shell, which has no Jinja, around ~30 merge tags); the rest of a trial's cost is Jinja's, per tag.
_TAG_OPENING = re.compile(r"\{[{%#]")
_TRIAL_TEXT = "nurture_trial_text"  # stands for the text between the tags in the trial's context
_TAG_ENDS = ("variable_end", "block_end", "comment_end")


def _jinja_skeleton(source: str, env: sandbox.MailSandbox) -> tuple[str, int] | None:
    """The source's Jinja tags alone, in order, after a stand-in for its text, and the length that stand-in
    must have; None unless Jinja reads the same tags in the source: no tag opening in the text between them,
    and each tag read alone ends where the pattern ends it (not so for a `}}` inside a string literal)."""
    tags: list[str] = []
    text = last = 0
    for match in _JINJA_RE.finditer(source):
        # up to the tag's first character: a "{" just before "{%" opens a tag for Jinja, not for the pattern
        if _TAG_OPENING.search(source, last, match.start() + 1):
            return None
        text += match.start() - last
        tags.append(match.group(0))
        last = match.end()
    if _TAG_OPENING.search(source, last):
        return None
    text += len(source) - last
    for tag in set(tags):
        try:
            tokens = list(env.lex(tag))
        except TemplateSyntaxError:  # e.g. {% raw %} alone
            return None
        if not tokens or tokens[-1][1] not in _TAG_ENDS or _TRIAL_TEXT in tag:
            return None
    # The stand-in is output first and is a little longer than the text (the sandbox charges output per
    # slice of 64 parts): the trial's size and step counts are never below the whole source's.
    return "{{ " + _TRIAL_TEXT + " }}" + "".join(tags), text + 16 * (len(tags) // 32 + 2)


def _trial_compiled(source: str, part: str, env: sandbox.MailSandbox) -> None:
    """`_validate` for a compiled part (compile_version): the tags alone when they are `{{ }}` and `{% if %}`
    only (each piece of text is then output at most once: the stand-in outputs as much) and they render
    without any error; otherwise, or on any doubt, the whole source, which gives the verdict and message."""
    skeleton = _jinja_skeleton(source, env) if len(source) <= _MAX_SOURCE else None
    if skeleton is not None:
        try:
            tree = env.parse(skeleton[0])
            if all(isinstance(node, jinja_nodes.Output | jinja_nodes.If) for node in tree.find_all(jinja_nodes.Stmt)):
                context = {**_sample_context(), _TRIAL_TEXT: " " * skeleton[1]}
                sandbox.render(env.from_string(tree), context, _TRIAL_SECONDS)
                return
        except Exception:  # noqa: BLE001, S110 - the whole source is tried below, for its verdict and message
            pass
    _validate(source, part, env)


# ---------------------------------------------------------------- compile time
def _protect_jinja(source: str) -> tuple[str, list[str]]:
    """Swap Jinja tags for inert tokens so the HTML parser and premailer cannot mangle them."""
    found: list[str] = []

    def swap(match: re.Match[str]) -> str:
        found.append(match.group(0))
        return _TOKEN.format(len(found) - 1)

    return _JINJA_RE.sub(swap, source), found


def _restore_jinja(text: str, found: list[str]) -> str:
    return _TOKEN_RE.sub(lambda m: found[int(m.group(1))], text)


def _read_email_template(name: str) -> str:
    return (EMAIL_TEMPLATES / name).read_text(encoding="utf-8")


def _wrap_in_layout(html_source: str, preheader: str) -> str:
    """Give a fragment the default layout; put the hidden preheader and the footer into any document."""
    footer = '<div data-nurture-footer="1">' + _read_email_template("footer.html") + "</div>"
    pre = ""
    if preheader.strip():
        # Hidden by display/size/opacity, never by a text colour like the background's: SpamAssassin reads
        # that as hidden spam text (HTML_FONT_LOW_CONTRAST; tests/delivery/test_spamassassin.py).
        pre = (
            '<div data-nurture-preheader="1" style="display:none;max-height:0;max-width:0;overflow:hidden;'
            'mso-hide:all;font-size:1px;line-height:1px;opacity:0;">' + preheader + "</div>"
        )
    if re.search(r"<body[\s>]", html_source, re.IGNORECASE) is None:
        layout = _read_email_template("layout.html")
        return layout.replace("<!--content-->", pre + html_source).replace("<!--footer-->", footer)
    html_source = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + pre, html_source, count=1, flags=re.IGNORECASE)
    closing = html_source.lower().rfind("</body>")
    if closing < 0:
        return html_source + footer
    return html_source[:closing] + footer + html_source[closing:]


def _inline_css(html_doc: str) -> str:
    """Inline the document's CSS with premailer: called once per compiled version, never per recipient."""
    # Imported here, not at the top: premailer pulls in lxml and cssutils, which the web and tracking
    # processes never need unless someone saves or previews a template.
    from premailer import Premailer  # type: ignore[import-untyped]

    try:
        return str(
            Premailer(
                html_doc,
                disable_validation=True,
                disable_link_rewrites=True,
                allow_network=False,  # a template must not make the server fetch URLs (SSRF)
                allow_loading_external_files=False,
                keep_style_tags=False,
                remove_classes=False,
                cssutils_logging_level=logging.CRITICAL,
            ).transform()
        )
    except Exception as exc:  # premailer raises assorted errors on broken CSS; report, don't crash the save
        raise TemplateError(f"CSS could not be inlined: {exc}") from None


@dataclass
class _FoundLink:
    url: str
    label: str
    tracked: bool
    honeypot: bool


def _is_trackable(url: str, untracked: set[str]) -> bool:
    lowered = url.strip().lower()
    if not lowered or lowered.startswith(_UNTRACKED_SCHEMES):
        return False
    if not lowered.startswith(("http://", "https://")):
        return False
    return url.strip() not in untracked


def _block_text(element: Any, found: list[str]) -> str:
    """A readable plain-text rendering of an HTML tree; links become "text (url)"."""
    blocks = {"p", "div", "table", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "blockquote",
              "section", "header", "footer", "article", "center", "hr", "pre"}
    parts: list[str] = []
    ws = re.compile(r"\s+")

    def inline(text: str | None) -> None:
        # HTML whitespace collapses; line breaks in the output come from the structure only
        if text:
            parts.append(ws.sub(" ", text))

    def walk(el: Any) -> None:
        tag = el.tag if isinstance(el.tag, str) else ""
        tag = tag.lower()
        if tag in {"style", "script", "head", "title"} or not isinstance(el.tag, str):
            inline(el.tail)
            return
        if tag in blocks:
            parts.append("\n\n")
        elif tag == "li":
            parts.append("\n- ")
        elif tag == "br":
            parts.append("\n")
        elif tag in {"td", "th"}:
            parts.append(" ")
        if tag == "a" and el.get("href"):
            label = " ".join(el.text_content().split())
            href = el.get("href")
            restored = _restore_jinja(href, found)
            shown = restored if not _LINK_RE.fullmatch(href) else href
            if not label or label == restored:
                parts.append(shown)
            elif restored.startswith("#"):
                parts.append(label)
            else:
                parts.append(f"{label} ({shown})")
        elif tag == "img":
            alt = el.get("alt")
            if alt:
                parts.append(alt)
        else:
            inline(el.text)
            for child in el:
                walk(child)
        if tag in blocks:
            parts.append("\n\n")
        inline(el.tail)

    walk(element)
    text = "".join(parts)
    lines = [" ".join(line.split()) for line in text.split("\n")]
    out = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", out).strip() + "\n"


def _process_links(root: Any, untracked: set[str], found: list[str]) -> list[_FoundLink]:
    """Find author links in document order; rewrite tracked hrefs to placeholders (footer links skipped)."""
    links: list[_FoundLink] = []
    for anchor in root.iter("a", "area"):
        href = anchor.get("href")
        notrack = anchor.get("data-nurture-notrack") is not None
        honeypot = anchor.get("data-nurture-honeypot") is not None
        for attr in ("data-nurture-notrack", "data-nurture-honeypot"):
            if attr in anchor.attrib:
                del anchor.attrib[attr]
        if href is None or any(a.get("data-nurture-footer") for a in anchor.iterancestors()):
            continue
        has_jinja = _TOKEN_RE.search(href) is not None
        url = _restore_jinja(href, found).strip()
        # A personalised href ({{ unsubscribe_url }}, ...?id={{ contact.id }}) cannot be stored as one
        # redirect target, so it is never tracked; it is rendered per recipient as written.
        tracked = not notrack and not has_jinja and _is_trackable(url, untracked)
        position = len(links) + 1
        label = " ".join(_restore_jinja(anchor.text_content(), found).split())[:500]
        links.append(_FoundLink(url=url, label=label, tracked=tracked, honeypot=honeypot and tracked))
        if tracked:
            anchor.set("href", _LINK_PLACEHOLDER.format(position))
    return links


def create_template(
    session: Session, name: str, *, subject: str, html_source: str, text_source: str = "",
    preheader: str = "", from_name: str = "", untracked_urls: Iterable[str] = (),
) -> Template:
    """Create a template and compile its first version (template editor, API, demo seeding)."""
    if not name.strip():
        raise TemplateError("name: required")
    template = Template(name=name.strip()[:200])
    session.add(template)
    session.flush()
    compile_version(
        session, template, subject=subject, html_source=html_source, text_source=text_source,
        preheader=preheader, from_name=from_name, untracked_urls=untracked_urls,
    )
    return template


def compile_version(
    session: Session, template: Template, *, subject: str, html_source: str, text_source: str = "",
    preheader: str = "", from_name: str = "", untracked_urls: Iterable[str] = (), from_blocks: bool = False,
) -> TemplateVersion:
    """Validate, inline CSS once, store links and make a new current version (editor, API on save).

    `from_blocks=True` for HTML written by the block compiler (campaigns.delivery.block_mails): MJML already
    wrote inline styles, and its remaining <style> rules (phone stacking, dark mode) must stay as they are, so
    premailer does not run; its merge tags were checked block by block, so the source is not trial-rendered
    on its own (the compiled version still is, below)."""
    for part, value in (("subject", subject), ("preheader", preheader), ("sender name", from_name),
                        ("HTML", html_source), ("text", text_source)):
        _refuse_control_characters(part, value)
    subject = subject.strip()
    if not subject:
        raise TemplateError("subject: required")
    if "\n" in subject or "\r" in subject:
        subject = " ".join(subject.split())
    if not html_source.strip():
        raise TemplateError("HTML: required")
    from_name = " ".join(from_name.split())[:200]
    _validate(subject, "subject", _TEXT_ENV)
    _validate(preheader, "preheader", _HTML_ENV)
    if not from_blocks:
        _validate(html_source, "HTML", _HTML_ENV)
    if text_source.strip():
        _validate(text_source, "text", _TEXT_ENV)

    document = _wrap_in_layout(html_source, preheader)
    protected, found = _protect_jinja(document)
    inlined = protected if from_blocks else _inline_css(protected)
    try:
        root = lxml.html.document_fromstring(inlined)
    except (etree.ParserError, ValueError) as exc:
        raise TemplateError(f"HTML: could not be parsed ({exc})") from None
    untracked = {u.strip() for u in untracked_urls if u and u.strip()}
    links = _process_links(root, untracked, found)
    text_root = copy.deepcopy(root)
    for node in list(root.iter()):
        if isinstance(node.tag, str):
            for attr in ("data-nurture-footer", "data-nurture-preheader"):
                if attr in node.attrib:
                    del node.attrib[attr]
    compiled_html = "<!DOCTYPE html>\n" + etree.tostring(root, method="html", encoding="unicode")
    compiled_html = _restore_jinja(compiled_html, found)
    closing = compiled_html.lower().rfind("</body>")
    compiled_html = compiled_html[:closing] + _PIXEL_MARK + compiled_html[closing:]

    if text_source.strip():
        body_text = text_source.strip() + "\n"
    else:
        # The HTML footer and the hidden preheader stay out: the text part gets footer.txt instead.
        for node in list(text_root.iter()):
            if isinstance(node.tag, str) and (node.get("data-nurture-footer") or node.get("data-nurture-preheader")):
                node.drop_tree()
        body = text_root.find("body")
        body_text = _restore_jinja(_block_text(body if body is not None else text_root, found), found)
    compiled_text = body_text + "\n" + _read_email_template("footer.txt")
    # Checks that the structure survived: a Jinja block split by the HTML parser fails here, at save time.
    _trial_compiled(compiled_html, "HTML", _HTML_ENV)
    _trial_compiled(compiled_text, "text", _TEXT_ENV)

    number = (session.scalar(
        select(TemplateVersion.version).where(TemplateVersion.template_id == template.id)
        .order_by(TemplateVersion.version.desc()).limit(1)
    ) or 0) + 1
    version = TemplateVersion(
        template_id=template.id, version=number, subject=subject, preheader=preheader, from_name=from_name,
        html_source=html_source, text_source=text_source, compiled_html=compiled_html,
        compiled_text=compiled_text, created_at=now_utc(),
    )
    version.links = [
        Link(position=i, url=link.url, label=link.label, tracked=link.tracked, honeypot=link.honeypot)
        for i, link in enumerate(links, start=1)
    ]
    session.add(version)
    session.flush()
    template.current_version = version
    template.current_version_id = version.id
    template.updated_at = now_utc()
    session.flush()
    return version


# ---------------------------------------------------------------- send time
@dataclass(frozen=True)
class CompiledVersion:
    """The Jinja templates of one version plus its link table; immutable, cached per process."""

    version_id: int
    subject: Any
    html: Any
    text: Any
    combined: Any  # subject, HTML and text in one template: one render (one Jinja context) per recipient
    from_name: str
    link_ids: dict[int, int]  # position -> Link.id
    link_urls: dict[int, str]  # position -> destination (previews, test sends)


_CACHE_SIZE = 256
_cache: OrderedDict[tuple[int, datetime | None], CompiledVersion] = OrderedDict()
_cache_lock = threading.Lock()


def compiled(session: Session, version: TemplateVersion) -> CompiledVersion:
    """The cached compiled form of a version (sender per batch, previews); built once per process."""
    # Versions are immutable; created_at in the key keeps a reused id (tests truncating tables) apart.
    key = (version.id, version.created_at)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    try:
        subject = _TEXT_ENV.from_string(version.subject)
        html = _HTML_ENV.from_string(version.compiled_html)
        text = _TEXT_ENV.from_string(version.compiled_text)
        combined = _HTML_ENV.from_string(
            "{% autoescape false %}" + version.subject + "{% endautoescape %}" + _PART_SEPARATOR
            + version.compiled_html + _PART_SEPARATOR
            + "{% autoescape false %}" + version.compiled_text + "{% endautoescape %}"
        )
    except TemplateSyntaxError as exc:
        raise TemplateError(_describe(exc, "compiled version")) from None
    rows = session.execute(
        select(Link.position, Link.id, Link.url).where(Link.template_version_id == version.id)
    ).all()
    entry = CompiledVersion(
        version_id=version.id, subject=subject, html=html, text=text, combined=combined,
        from_name=version.from_name,
        link_ids={pos: lid for pos, lid, _ in rows}, link_urls={pos: url for pos, _, url in rows},
    )
    with _cache_lock:
        _cache[key] = entry
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return entry


_CONTACT_FIELDS = ("first_name", "last_name", "company", "job_title", "email")
# The sample contact of previews and test sends without a contact, in the mail's language (preview_language).
# Its custom fields (attributes) are empty, so the mail's own fallbacks show: `| default("貴社")`.
_SAMPLE_CONTACTS: dict[str, dict[str, str]] = {
    "en": {"first_name": "Taro", "last_name": "Yamada", "company": "Example Co., Ltd.",
           "job_title": "Marketing Manager", "email": "taro.yamada@example.com"},
    "ja": {"first_name": "太郎", "last_name": "山田", "company": "株式会社サンプル",
           "job_title": "マーケティング部 部長", "email": "taro.yamada@example.co.jp"},
}
# Kana, CJK ideographs and half-width katakana: text a Japanese marketer wrote (Chinese mail would match too;
# the product's languages are Japanese and English)
_JAPANESE_TEXT = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def preview_language(version: TemplateVersion, account_language: str | None) -> str:
    """The language of a mail's sample data ("ja" or "en"): Japanese when the marketer's own text (subject,
    preheader, the HTML or text source, or the blocks; not the shipped footer, which is bilingual) has
    Japanese in it; English when its subject, merge tags aside, is written in Latin letters; otherwise the
    account's language (a subject of merge tags alone says nothing)."""
    subject = version.subject or ""
    own = [subject, version.preheader or "", version.text_source or ""]
    if version.editor == "blocks" and version.blocks:
        own.append(json.dumps(version.blocks, ensure_ascii=False))
    else:
        own.append(version.html_source or "")
    if any(_JAPANESE_TEXT.search(text) for text in own):
        return "ja"
    if _LATIN_WORD.search(_JINJA_RE.sub(" ", subject)):
        return "en"
    return "ja" if account_language == "ja" else "en"


def _contact_context(contact: Contact | Mapping[str, Any] | None, language: str = "en") -> dict[str, Any]:
    """The `contact` variable: empty fields are left out so `| default("...")` applies to them; without a
    contact, the sample contact of `language`."""
    if contact is None:
        values: dict[str, Any] = dict(_SAMPLE_CONTACTS.get(language, _SAMPLE_CONTACTS["en"]))
        attributes: Any = {}
        values["id"] = 0
    elif isinstance(contact, Mapping):
        values = {k: contact.get(k) for k in (*_CONTACT_FIELDS, "id")}
        attributes = contact.get("attributes") or {}
    else:
        values = {k: getattr(contact, k) for k in (*_CONTACT_FIELDS, "id")}
        attributes = contact.attributes or {}
    ctx = {k: v for k, v in values.items() if v not in (None, "")}
    ctx["attributes"] = dict(attributes) if isinstance(attributes, Mapping) else {}
    name = display_name(values.get("first_name"), values.get("last_name"))
    if name:
        ctx["name"] = name
    return ctx


def account_context(account: Account) -> dict[str, str]:
    """The `account` variable of every template (sender per batch, previews)."""
    return {
        "company_name": account.company_name or "",
        "postal_address": account.postal_address or "",
        "contact_info": account.contact_info or account.reply_to or account.from_email or "",
        "from_name": account.from_name or "",
    }


def render_compiled(
    entry: CompiledVersion, contact: Contact | Mapping[str, Any] | None, account: Mapping[str, str], *,
    unsubscribe_url: str, preferences_url: str, click_url: Callable[[int], str] | None,
    pixel_url: str | None, cpu_seconds: float = sandbox.RENDER_SECONDS, sample_language: str = "en",
) -> RenderedMail:
    """Render one recipient's mail from a compiled version (the sender's hot path, previews); a render that
    goes past the sandbox's limits (sizes, steps, `cpu_seconds` of CPU time) raises TemplateError. Without a
    contact (previews), the sample contact of `sample_language`."""
    ctx = {
        "contact": _contact_context(contact, sample_language), "unsubscribe_url": unsubscribe_url,
        "preferences_url": preferences_url, "account": account,
    }
    try:
        parts = sandbox.render(entry.combined, ctx, cpu_seconds).split(_PART_SEPARATOR)
        if len(parts) == 3:
            subject, html, text = parts
        else:  # the separator appeared in someone's data: render the parts one by one
            subject, html, text = (sandbox.render(entry.subject, ctx, cpu_seconds),
                                   sandbox.render(entry.html, ctx, cpu_seconds),
                                   sandbox.render(entry.text, ctx, cpu_seconds))
    except (SecurityError, JinjaTemplateError, ArithmeticError, TypeError, ValueError, LookupError) as exc:
        # no internal version id: the editor numbers versions per template (a send row keeps its version)
        raise TemplateError(_describe(exc, "while rendering")) from None
    except RecursionError:  # a macro calling itself, e.g. counting down from a contact's number
        raise TemplateError("while rendering: macros or loops call themselves too deeply") from None
    if click_url is not None:
        link_ids = entry.link_ids
        signed: dict[str, str] = {}

        def fill(match: re.Match[str]) -> str:
            # the same link shows in both parts: sign it once per recipient
            url = signed.get(match.group(1))
            if url is None:
                url = signed[match.group(1)] = click_url(link_ids[int(match.group(1))])
            return url

        html = _LINK_RE.sub(fill, html)
        text = _LINK_RE.sub(fill, text)
    else:  # previews and test sends go straight to the destination: no click is recorded
        urls = entry.link_urls
        html = _LINK_RE.sub(lambda m: str(escape(urls.get(int(m.group(1)), "#"))), html)
        text = _LINK_RE.sub(lambda m: urls.get(int(m.group(1)), "#"), text)
    pixel = ""
    if pixel_url:
        pixel = (f'<img src="{html_lib.escape(pixel_url)}" width="1" height="1" alt="" '
                 'style="display:block;border:0;width:1px;height:1px;">')
    html = html.replace(_PIXEL_MARK, pixel, 1)
    if "\n\n\n" in text:  # Jinja tags on their own lines leave runs of blank lines in the text part
        text = _BLANK_RUNS.sub("\n\n", text)
    subject = " ".join(subject.split())
    return RenderedMail(subject=subject, html=html, text=text)


def render_message(
    session: Session, version: TemplateVersion, contact: Contact, svc: Services, *, send_id: int = 0,
    account: Account | None = None,
) -> RenderedMail:
    """One recipient's mail with signed tracking links and pixel for `send_id` (sender, tests)."""

    entry = compiled(session, version)
    acct = account_context(account or get_account(session))
    urls = svc.urls
    return render_compiled(
        entry, contact, acct,
        unsubscribe_url=urls.unsubscribe(contact.id, send_id), preferences_url=urls.preferences(contact.id),
        click_url=(lambda link_id: urls.click(send_id, link_id)) if send_id else None,
        pixel_url=urls.open_pixel(send_id) if send_id else None,
    )


def render_preview(
    session: Session, version: TemplateVersion, contact: Contact | None, svc: Services, *,
    language: str | None = None,
) -> RenderedMail:
    """The mail as a contact (or sample data) would see it, links untracked, no pixel, unsubscribe and
    preference links inert (editor preview, test sends). The sample data is in `language` when given (the
    gallery knows its mails' language), else in the mail's own (preview_language)."""

    entry = compiled(session, version)
    account = get_account(session)
    acct = account_context(account)
    if contact is None and language is None:
        language = preview_language(version, account.language)
    inert = svc.urls.test_link()  # never the contact's own tokens: a test mail is not theirs to act on
    return render_compiled(
        entry, contact, acct, unsubscribe_url=inert, preferences_url=inert, click_url=None, pixel_url=None,
        sample_language=language or "en",
    )


def selectable_templates(session: Session) -> list[Template]:
    """Saved templates a marketer can pick, by name (broadcast, sequence and A/B content-test forms); the
    copies A/B tests make for their variants belong to those tests and are left out, and so are archived
    templates (campaigns.delivery.template_archive)."""
    return list(session.scalars(
        select(Template).where(Template.current_version_id.is_not(None), Template.ab_test_id.is_(None),
                               Template.archived_at.is_(None))
        .order_by(Template.name)
    ))


def current_versions(session: Session, version_ids: Iterable[int]) -> dict[int, TemplateVersion]:
    """Load template versions by id in one query (sender, once per batch)."""
    ids = sorted(set(version_ids))
    if not ids:
        return {}
    return {v.id: v for v in session.scalars(select(TemplateVersion).where(TemplateVersion.id.in_(ids)))}


def render_standalone(
    session: Session, *, subject: str, html_source: str, contact: Contact | Mapping[str, Any] | None,
    extra: Mapping[str, Any], unsubscribe_url: str = "#", preferences_url: str = "#",
) -> RenderedMail:
    """A mail that is not a saved template (the double opt-in confirmation of a form): the same sandbox,
    layout, footer and inlined CSS as compiled versions, rendered once; `extra` adds variables."""

    for part, value in (("subject", subject), ("HTML", html_source)):
        _refuse_control_characters(part, value)
    protected, found = _protect_jinja(_wrap_in_layout(html_source, ""))
    try:
        root = lxml.html.document_fromstring(_inline_css(protected))
    except (etree.ParserError, ValueError) as exc:
        raise TemplateError(f"HTML: could not be parsed ({exc})") from None
    text_root = copy.deepcopy(root)
    for node in list(text_root.iter()):
        if isinstance(node.tag, str) and node.get("data-nurture-footer"):
            node.drop_tree()
    body = text_root.find("body")
    text_source = _restore_jinja(_block_text(body if body is not None else text_root, found), found)
    text_source += "\n" + _read_email_template("footer.txt")
    html_doc = "<!DOCTYPE html>\n" + _restore_jinja(etree.tostring(root, method="html", encoding="unicode"), found)
    ctx = {
        **extra, "contact": _contact_context(contact), "account": account_context(get_account(session)),
        "unsubscribe_url": unsubscribe_url, "preferences_url": preferences_url,
    }
    try:
        rendered_subject = sandbox.render(_TEXT_ENV.from_string(subject), ctx)
        html = sandbox.render(_HTML_ENV.from_string(html_doc), ctx)
        text = sandbox.render(_TEXT_ENV.from_string(text_source), ctx)
    except (SecurityError, JinjaTemplateError, ArithmeticError, TypeError, ValueError, LookupError) as exc:
        raise TemplateError(_describe(exc, "mail")) from None
    except RecursionError:
        raise TemplateError("mail: macros or loops call themselves too deeply") from None
    return RenderedMail(subject=" ".join(rendered_subject.split()), html=html, text=_BLANK_RUNS.sub("\n\n", text))


def validate_standalone(subject: str, html_source: str) -> None:
    """Check a one-off mail's subject and HTML in the sandbox at save time (form editor); raises TemplateError."""
    for part, value in (("subject", subject), ("HTML", html_source)):
        _refuse_control_characters(part, value)
    _validate(subject, "subject", _TEXT_ENV)
    _validate(html_source, "HTML", _HTML_ENV)
