"""UI area: outbox (to be built)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

bp = Blueprint("outbox", __name__, url_prefix="/outbox")


@bp.get("/")
def index() -> Any:
    return render_template("ui/placeholder.html", title="outbox".capitalize())
