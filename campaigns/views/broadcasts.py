"""UI area: broadcasts (to be built)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

bp = Blueprint("broadcasts", __name__, url_prefix="/broadcasts")


@bp.get("/")
def index() -> Any:
    return render_template("ui/placeholder.html", title="broadcasts".capitalize())
