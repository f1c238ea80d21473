"""People who use the UI, API keys for the JSON API, and the account's sender settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from campaigns.db import Base, JSONType, UTCDateTime, now_utc


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    locale: Mapped[str | None] = mapped_column(String(8))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped on password change: sessions carry it and die when it no longer matches.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the full key
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class Account(Base):
    """The sender's identity and policies; a single row (id=1)."""

    __tablename__ = "account"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_name: Mapped[str] = mapped_column(String(200), default="")
    from_name: Mapped[str] = mapped_column(String(200), default="")
    from_email: Mapped[str] = mapped_column(String(254), default="")
    reply_to: Mapped[str] = mapped_column(String(254), default="")
    postal_address: Mapped[str] = mapped_column(Text, default="")
    contact_info: Mapped[str] = mapped_column(Text, default="")
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Tokyo")
    # "en" or "ja" (campaigns.i18n.SUPPORTED): the sales hand-over mail and default texts (a new form's consent
    # wording) are written in it, whoever is logged in
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    # Frequency cap across sequences and broadcasts: at most N marketing mails per contact per D days.
    freq_cap_count: Mapped[int] = mapped_column(Integer, default=3)
    freq_cap_days: Mapped[int] = mapped_column(Integer, default=7)
    # The brand kit of block mails (campaigns.delivery.blocks_mjml.BrandKit.from_settings reads it): colours by
    # name, font, button shape, logo image; NULL = the defaults.
    brand_kit: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
