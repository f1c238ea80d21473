"""Uploaded CSV files waiting for their import's mapping page (contact import, event import).

The upload page saves the file under a random token as <token>.csv with <token>.json beside it (the original
file name, shown on the next pages); the token in the URL is the only name the pages ever use, so a request
cannot name another path. What happens to the file later (kept by the import job, swept after a day) is the
importing page's business.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path

from flask import abort, current_app, flash, request

from campaigns.i18n import _

UPLOAD_EXTENSIONS = {".csv", ".txt", ".tsv"}
TOKEN = re.compile(r"^[0-9a-f]{32}$")


def upload_dir(kind: str = "") -> Path:
    """The folder of waiting uploads (UPLOAD_DIR, else <instance>/uploads), or its subfolder `kind`; created."""
    path = Path(current_app.config.get("UPLOAD_DIR") or Path(current_app.instance_path) / "uploads") / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def receive_csv(base: Path, before_save: Callable[[Path], None] | None = None) -> str | None:
    """The request's "file" saved in `base`: its token, or None with the reason flashed (no file, not a
    CSV/TSV/TXT name, empty). `before_save(base)` runs just before a valid file is written (a sweep)."""
    file = request.files.get("file")
    name = (file.filename or "") if file else ""
    if not file or not name:
        flash(_("Choose a CSV file to upload."), "error")
        return None
    if Path(name).suffix.lower() not in UPLOAD_EXTENSIONS:
        flash(_("Only .csv, .tsv or .txt files can be imported."), "error")
        return None
    if before_save is not None:
        before_save(base)
    token = secrets.token_hex(16)
    path = base / f"{token}.csv"
    file.save(path)
    if os.path.getsize(path) == 0:
        os.unlink(path)
        flash(_("The file is empty."), "error")
        return None
    (base / f"{token}.json").write_text(json.dumps({"filename": Path(name).name[:255]}))
    return token


def find_upload(base: Path, token: str) -> tuple[str, str]:
    """(path, original filename) of the upload `token` names in `base`, or 404."""
    if not TOKEN.match(token):
        abort(404)
    path, meta = base / f"{token}.csv", base / f"{token}.json"
    if not path.is_file() or not meta.is_file():
        abort(404)
    return str(path), json.loads(meta.read_text())["filename"]
