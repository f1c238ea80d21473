"""Email templates and their immutable, compiled versions (what workers render)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from campaigns.db import Base, JSONType, UTCDateTime, now_utc


class Template(Base):
    __tablename__ = "templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # No FOREIGN KEY: templates and versions reference each other, and a cyclic constraint cannot be
    # created by a portable migration. Versions are only deleted with their template.
    current_version_id: Mapped[int | None] = mapped_column(Integer)
    # Set on the copies an A/B test makes for its variants (another subject, preheader or sender name):
    # they belong to the test, so template lists and pickers leave them out. No foreign key: a test is
    # never deleted while its sends reference the copy's versions.
    ab_test_id: Mapped[int | None] = mapped_column(Integer)
    # Archived (campaigns.archive): out of lists and pickers, history and reports kept; NULL = live.
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc, onupdate=now_utc)

    current_version: Mapped[TemplateVersion | None] = relationship(
        primaryjoin="foreign(Template.current_version_id) == TemplateVersion.id", post_update=True
    )


class TemplateVersion(Base):
    """A saved version: the author's source and the compiled form (CSS inlined, links rewritten) once."""

    __tablename__ = "template_versions"
    __table_args__ = (UniqueConstraint("template_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str] = mapped_column(Text)
    preheader: Mapped[str] = mapped_column(Text, default="")
    from_name: Mapped[str] = mapped_column(String(200), default="")
    html_source: Mapped[str] = mapped_column(Text, default="")
    text_source: Mapped[str] = mapped_column(Text, default="")
    # Compiled once at save time: premailer-inlined HTML with tracked links replaced by placeholders.
    compiled_html: Mapped[str] = mapped_column(Text, default="")
    compiled_text: Mapped[str] = mapped_column(Text, default="")
    # "html" (the author wrote html_source) or "blocks" (the block editor: `blocks` holds the document of
    # docs/mail-blocks.md and html_source the HTML MJML compiled from it, at this version's brand kit).
    editor: Mapped[str] = mapped_column(String(10), default="html", server_default="html")
    blocks: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    template: Mapped[Template] = relationship(foreign_keys=[template_id])
    links: Mapped[list[Link]] = relationship(
        back_populates="version", order_by="Link.position", cascade="all, delete-orphan"
    )


class Link(Base):
    """A link found in a template version at compile time; click redirects go only to these URLs."""

    __tablename__ = "links"
    __table_args__ = (UniqueConstraint("template_version_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    template_version_id: Mapped[int] = mapped_column(
        ForeignKey("template_versions.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(Text)
    label: Mapped[str] = mapped_column(Text, default="")
    tracked: Mapped[bool] = mapped_column(Boolean, default=True)
    honeypot: Mapped[bool] = mapped_column(Boolean, default=False)

    version: Mapped[TemplateVersion] = relationship(back_populates="links")


class MailAsset(Base):
    """An image uploaded for mails (campaigns.delivery.assets): checked by content, resized for mail, stored
    under ASSET_DIR and served from BASE_URL; the asset library lists these to reuse them."""

    __tablename__ = "mail_assets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))  # the uploaded file's name, for the library
    stored_name: Mapped[str] = mapped_column(String(80), unique=True)  # content hash + extension
    media_type: Mapped[str] = mapped_column(String(40))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
