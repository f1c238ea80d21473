"""Public tracking endpoints: open pixel, click redirect, unsubscribe. Small and fast; no UI imports."""

from __future__ import annotations

from flask import Blueprint, Flask
from flask_wtf.csrf import CSRFProtect

bp = Blueprint("tracking", __name__, url_prefix="/t")


def register_tracking(app: Flask, csrf: CSRFProtect) -> None:
    """Register the tracking blueprint; recipients' mail clients and RFC 8058 POSTs carry no CSRF token."""
    csrf.exempt(bp)
    app.register_blueprint(bp)
