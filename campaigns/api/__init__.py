"""The JSON API under /api/v1, authenticated by API keys."""

from __future__ import annotations

from flask import Blueprint, Flask
from flask_wtf.csrf import CSRFProtect

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def register_api(app: Flask, csrf: CSRFProtect) -> None:
    """Register the API blueprint; it authenticates by key, not by cookie, so CSRF does not apply."""
    csrf.exempt(bp)
    app.register_blueprint(bp)


# The route modules attach their operations to `bp` when imported (after it exists).
from campaigns.api import (  # noqa: E402
    abtests,
    broadcasts,
    contacts,
    events,
    forms,
    journeys,
    kpi,
    openapi,
    reports,
    scoring,
    segments,
    sends,
    sequences,
    templates,
)

__all__ = ["bp", "register_api", "abtests", "broadcasts", "contacts", "events", "forms", "journeys", "kpi", "openapi", "reports", "scoring", "segments", "sends", "sequences", "templates"]
