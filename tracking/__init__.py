"""Public tracking endpoints: open pixel, click redirect, unsubscribe. Small and fast; no UI imports."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("tracking", __name__, url_prefix="/t")


def register_tracking(app: Flask) -> Blueprint:
    """Register the tracking blueprint and return it (create_app exempts it from CSRF: mail clients
    and RFC 8058 one-click POSTs carry no token; the signed token in the URL is the authority)."""
    app.register_blueprint(bp)
    return bp
