"""Images uploaded for mails: checked by their content, resized for mail, stored once, served from BASE_URL.

`store_image` (the asset library's upload, the brand kit's logo) reads the bytes with Pillow: the type is
what the content is (PNG, JPEG, GIF, WebP), never the file name or the browser's word; anything else, a
file over MAX_UPLOAD_BYTES or an image over MAX_PIXELS is refused with a message for the marketer. An
image wider than MAX_WIDTH (twice the mail's 600 px, sharp on high-density screens) is scaled down; the
JPEG, PNG and WebP are written again (which also drops EXIF metadata such as a phone's GPS position), a GIF
is kept as uploaded when it needs no resizing (its animation survives). The file is named by the hash of
its stored bytes under the asset directory (Settings.asset_dir, default instance/assets), so an image
uploaded twice is stored once, and URLs never change: `asset_url` is BASE_URL/mail-assets/<name>.

`image_refs` gives the block compiler the URL and the width to write for each asset id; the width is
the display width (at most 600 px), the file may be twice that.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.config import INSTANCE_DIR, Settings
from campaigns.delivery.blocks_mjml import CONTENT_WIDTH, ImageRef
from campaigns.models import MailAsset

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000  # decompression bombs: Pillow would otherwise allocate whatever a header claims
MAX_WIDTH = 2 * CONTENT_WIDTH
FORMATS = {"PNG": ("image/png", "png"), "JPEG": ("image/jpeg", "jpg"), "GIF": ("image/gif", "gif"),
           "WEBP": ("image/webp", "webp")}
PUBLIC_PREFIX = "/mail-assets/"


class AssetError(ValueError):
    """An upload that cannot become a mail image; the message is an English msgid for the marketer."""


def asset_dir(settings: Settings) -> Path:
    """Where the files live (Settings.asset_dir, default instance/assets); created on first use."""
    path = Path(settings.asset_dir) if settings.asset_dir else INSTANCE_DIR / "assets"
    path.mkdir(parents=True, exist_ok=True)
    return path


def asset_url(settings: Settings, asset: MailAsset) -> str:
    """The public address of an image (mails, the editor, the library)."""
    return settings.base_url.rstrip("/") + PUBLIC_PREFIX + asset.stored_name


def _prepare(data: bytes) -> tuple[bytes, str, str, int, int]:
    """(stored bytes, media type, extension, width, height) of an upload, or AssetError."""
    if not data:
        raise AssetError("the file is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise AssetError(f"the image is too large (at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MB)")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            kind = probe.format or ""
            width, height = probe.size
            if kind not in FORMATS:
                raise AssetError("only PNG, JPEG, GIF and WebP images can be used in mails")
            if width * height > MAX_PIXELS:
                raise AssetError("the image has too many pixels")
            probe.verify()  # a truncated or corrupt file fails here, not in a reader's mail client
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError):
        raise AssetError("only PNG, JPEG, GIF and WebP images can be used in mails") from None
    media_type, extension = FORMATS[kind]
    if kind == "GIF" and width <= MAX_WIDTH:
        return data, media_type, extension, width, height
    with Image.open(io.BytesIO(data)) as opened:
        opened.load()
        image: Image.Image = opened
        if kind != "GIF":
            image = ImageOps.exif_transpose(image)  # a phone's portrait photo stands upright
        if image.width > MAX_WIDTH:
            new_height = max(1, round(image.height * MAX_WIDTH / image.width))
            image = image.resize((MAX_WIDTH, new_height), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        if kind == "JPEG":
            image.convert("RGB").save(out, "JPEG", quality=85, optimize=True, progressive=True)
        elif kind == "PNG":
            image.save(out, "PNG", optimize=True)
        elif kind == "WEBP":
            image.save(out, "WEBP", quality=85)
        else:  # a GIF too wide: its first frame, resized
            image.save(out, "GIF")
        return out.getvalue(), media_type, extension, image.width, image.height


def store_image(session: Session, settings: Settings, name: str, data: bytes) -> MailAsset:
    """Check, resize and store an uploaded image; the same bytes again return the existing asset (upload)."""
    stored, media_type, extension, width, height = _prepare(data)
    stored_name = hashlib.sha256(stored).hexdigest()[:40] + "." + extension
    existing = session.scalar(select(MailAsset).where(MailAsset.stored_name == stored_name))
    if existing is not None:
        return existing
    target = asset_dir(settings) / stored_name
    if not target.exists():
        # Written beside and renamed: a reader (or a mail client) never sees half a file.
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(stored)
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    clean_name = " ".join(Path(name or "image").name.split())[:200] or "image"
    asset = MailAsset(name=clean_name, stored_name=stored_name, media_type=media_type, width=width,
                      height=height, size_bytes=len(stored))
    session.add(asset)
    session.flush()
    return asset


def image_refs(session: Session, settings: Settings, asset_ids: Iterable[int]) -> dict[int, ImageRef]:
    """URL and display width of each asset id that exists (the block compiler at save)."""
    ids = sorted(set(asset_ids))
    if not ids:
        return {}
    refs: dict[int, ImageRef] = {}
    for asset in session.scalars(select(MailAsset).where(MailAsset.id.in_(ids))):
        width = min(asset.width, CONTENT_WIDTH)
        height = round(asset.height * width / asset.width) if asset.width else asset.height
        refs[asset.id] = ImageRef(url=asset_url(settings, asset), width=width, height=height)
    return refs


def library(session: Session, limit: int = 200) -> list[MailAsset]:
    """The uploaded images, newest first (the asset library, the image picker)."""
    return list(session.scalars(select(MailAsset).order_by(MailAsset.id.desc()).limit(limit)))


def file_for(settings: Settings, stored_name: str) -> Path | None:
    """The file behind a public name, or None (the public route); only names this module writes."""
    if not stored_name or "/" in stored_name or "\\" in stored_name or stored_name.startswith("."):
        return None
    stem, _, extension = stored_name.partition(".")
    if len(stem) != 40 or not all(c in "0123456789abcdef" for c in stem):
        return None
    if extension not in {ext for _, ext in FORMATS.values()}:
        return None
    path = asset_dir(settings) / stored_name
    return path if path.is_file() else None
