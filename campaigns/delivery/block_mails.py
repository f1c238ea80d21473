"""Saving block mails: document -> validated -> MJML -> HTML -> a template version, once per save.

The block editor, the template gallery and the playbooks call `save_block_version` (or
`create_block_template`): the document is validated (`blocks.validate_document`), compiled with the
account's brand kit and image library (`blocks_mjml.compile_document`), and handed to the one compile
path every mail takes (`rendering.compile_version`: sandbox checks, links stored and tracked, the legal
footer, the text part), without premailer, since MJML already wrote inline styles. The version keeps the
document (`blocks`, `editor = "blocks"`) so the editor can open it again; senders read only the compiled
columns and cannot tell a block mail from an HTML one.

Merge-tag warnings (`merge_tag_warnings`) name tags that read no known field (the save flash and the
preview show them); they do not refuse the save: a fallback may be meant.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.config import Settings
from campaigns.delivery import blocks_mjml
from campaigns.delivery.assets import image_refs
from campaigns.delivery.blocks import BlockError, iter_blocks, validate_document
from campaigns.delivery.blocks_mjml import BrandKit
from campaigns.delivery.rendering import TemplateError, compile_version
from campaigns.models import Contact, Template, TemplateVersion
from campaigns.users import get_account

ATTRIBUTE_SAMPLE = 5_000  # contacts read for custom field keys: recent ones, a bound on a large database


def brand_kit(session: Session) -> BrandKit:
    """The account's brand kit (editor, save, Settings)."""
    return BrandKit.from_settings(get_account(session).brand_kit)


def attribute_keys(session: Session) -> list[str]:
    """Custom field keys seen on the most recent contacts, sorted (merge-tag picker, warnings)."""
    keys: set[str] = set()
    rows = session.scalars(select(Contact.attributes).order_by(Contact.id.desc()).limit(ATTRIBUTE_SAMPLE))
    for attributes in rows:
        if isinstance(attributes, Mapping):
            keys.update(str(k) for k in attributes if str(k).isidentifier())
    return sorted(keys)


def merge_tag_warnings(session: Session, sources: Iterable[str]) -> list[str]:
    """Warnings for merge tags that name no known field (save, preview), English msgids with values."""
    return blocks_mjml.merge_tag_warnings(sources, attribute_keys(session))


def _asset_ids(document: Mapping[str, Any]) -> list[int]:
    ids = []
    for block in iter_blocks(document):
        for holder in (block, block.get("image") or {}):
            if isinstance(holder, Mapping) and isinstance(holder.get("asset_id"), int):
                ids.append(holder["asset_id"])
    return ids


def compile_blocks(session: Session, settings: Settings, document: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """The validated document and its HTML with the account's brand kit and images (save, preview)."""
    try:
        valid = validate_document(document)
    except BlockError as exc:
        raise TemplateError(exc.problems[0]) from None
    problem = blocks_mjml.merge_tag_syntax(valid)
    if problem:
        raise TemplateError(problem)
    account = get_account(session)
    try:
        html = blocks_mjml.compile_document(
            valid, BrandKit.from_settings(account.brand_kit), image_refs(session, settings, _asset_ids(valid)),
            lang=account.language or "en",
        )
    except ValueError as exc:
        raise TemplateError(str(exc)) from None
    return valid, html


def save_block_version(
    session: Session, settings: Settings, template: Template, *, document: Mapping[str, Any], subject: str,
    preheader: str = "", from_name: str = "", untracked_urls: Iterable[str] = (),
) -> TemplateVersion:
    """Compile a block document into a new current version of `template` (block editor, gallery, playbooks);
    raises TemplateError with the first problem."""
    valid, html = compile_blocks(session, settings, document)
    version = compile_version(
        session, template, subject=subject, html_source=html, preheader=preheader, from_name=from_name,
        untracked_urls=untracked_urls, from_blocks=True,
    )
    version.editor = "blocks"
    version.blocks = valid
    session.flush()
    return version


def create_block_template(
    session: Session, settings: Settings, name: str, *, document: Mapping[str, Any], subject: str,
    preheader: str = "", from_name: str = "",
) -> Template:
    """A new template whose first version is a block mail (block editor, gallery, playbooks)."""
    if not name.strip():
        raise TemplateError("name: required")
    template = Template(name=name.strip()[:200])
    session.add(template)
    session.flush()
    save_block_version(session, settings, template, document=document, subject=subject, preheader=preheader,
                       from_name=from_name)
    return template


def convert_to_html(session: Session, template: Template) -> TemplateVersion:
    """A new HTML version from the current block version's compiled HTML (the editor's "convert"; one way:
    HTML cannot be read back into blocks). The links keep their tracking choices."""
    current = template.current_version
    if current is None or current.editor != "blocks":
        raise TemplateError("only a block mail can be converted to HTML")
    untracked = [link.url for link in current.links if not link.tracked]
    return compile_version(
        session, template, subject=current.subject, html_source=current.html_source,
        text_source=current.text_source, preheader=current.preheader, from_name=current.from_name,
        untracked_urls=untracked, from_blocks=True,
    )


def starter_document(session: Session, *, heading: str, text: str, button: str) -> dict[str, Any]:
    """A new block mail: the brand's logo (when set), a heading, a text, a button and the footer (editor)."""
    kit = brand_kit(session)
    blocks: list[dict[str, Any]] = []
    if kit.logo_asset_id is not None:
        blocks.append({"type": "image", "asset_id": kit.logo_asset_id, "alt": get_account(session).company_name
                       or "logo", "width": 160, "align": "left"})
    blocks += [
        {"type": "heading", "text": heading, "level": 1},
        {"type": "text", "html": f"<p>{text}</p>"},
        {"type": "button", "label": button, "href": "https://example.com/"},
        {"type": "footer"},
    ]
    return {"format": "nurture-blocks", "version": 1, "blocks": blocks}
