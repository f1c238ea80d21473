"""UI area: sequences (to be built)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

bp = Blueprint("sequences", __name__, url_prefix="/sequences")


@bp.get("/")
def index() -> Any:
    return render_template("ui/placeholder.html", title="sequences".capitalize())
