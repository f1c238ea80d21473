"""UI area: templates (to be built)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

bp = Blueprint("templates", __name__, url_prefix="/templates")


@bp.get("/")
def index() -> Any:
    return render_template("ui/placeholder.html", title="templates".capitalize())
