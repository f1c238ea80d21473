"""The marketers' web UI: one module per area, each a blueprint behind the login guard."""

from __future__ import annotations

from flask import Flask

from campaigns.views import (
    abtests,
    account,
    auth,
    broadcasts,
    contacts,
    dashboard,
    forms,
    kpi,
    outbox,
    reports,
    scoring,
    segments,
    sequences,
    settings,
    templates,
)

UI_BLUEPRINTS = [
    auth.bp,
    dashboard.bp,
    contacts.bp,
    templates.bp,
    sequences.bp,
    segments.bp,
    broadcasts.bp,
    abtests.bp,
    forms.bp,
    scoring.bp,
    outbox.bp,
    reports.bp,
    kpi.bp,
    settings.bp,
    account.bp,
]


def register_ui(app: Flask) -> None:
    """Register every UI blueprint and the login guard (called by create_app)."""
    for bp in UI_BLUEPRINTS:
        app.register_blueprint(bp)
    auth.install_login_guard(app, {bp.name for bp in UI_BLUEPRINTS})
