"""UI area: contacts (to be built)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

bp = Blueprint("contacts", __name__, url_prefix="/contacts")


@bp.get("/")
def index() -> Any:
    return render_template("ui/placeholder.html", title="contacts".capitalize())
