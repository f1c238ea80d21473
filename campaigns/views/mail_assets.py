"""The public address of images uploaded for mails: BASE_URL/mail-assets/<name> (campaigns.delivery.assets).

No login: mail clients fetch these. Only names the asset store writes (a content hash and an image
extension) are served, from the asset directory, with the stored media type, long caching (a name never
changes its content) and nosniff; anything else is 404.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, send_file

from campaigns.delivery import assets
from campaigns.runtime import services

bp = Blueprint("mail_assets", __name__, url_prefix=assets.PUBLIC_PREFIX.rstrip("/"))

_MEDIA_TYPES = {ext: media for media, ext in assets.FORMATS.values()}


@bp.get("/<name>")
def image(name: str) -> Any:
    """One stored image (mail clients, the editor's preview)."""
    path = assets.file_for(services().settings, name)
    if path is None:
        abort(404)
    response = send_file(path, mimetype=_MEDIA_TYPES[path.suffix.lstrip(".")], max_age=365 * 24 * 3600,
                         conditional=True)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return response
