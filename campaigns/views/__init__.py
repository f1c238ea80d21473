"""The marketers' web UI: one module per area, each a blueprint behind the login guard."""

from __future__ import annotations

from flask import Flask

from campaigns.views import (
    abtests,
    account,
    auth,
    branding,
    broadcasts,
    contact_list,  # noqa: F401  (routes on contacts.bp: imported so they register)
    contact_page,  # noqa: F401  (routes on contacts.bp: imported so they register)
    contacts,
    dashboard,
    errors,
    events,
    forms,
    gallery,  # noqa: F401  (routes on templates.bp: imported so they register)
    journeys,
    kpi,
    navigation,
    outbox,
    playbooks,
    public_names,
    reports,
    scoring,
    search,
    segments,
    sequences,
    settings,
    templates,
    visitors,
    website,
)
from campaigns.views.text_input import TextResponse, install_text_guard

UI_BLUEPRINTS = [
    auth.bp,
    dashboard.bp,
    contacts.bp,
    templates.bp,
    sequences.bp,
    journeys.bp,
    playbooks.bp,
    segments.bp,
    broadcasts.bp,
    abtests.bp,
    forms.bp,
    events.bp,
    scoring.bp,
    outbox.bp,
    reports.bp,
    kpi.bp,
    settings.bp,
    website.bp,
    visitors.bp,
    account.bp,
    search.bp,
    public_names.bp,
]


def register_ui(app: Flask) -> None:
    """Register every UI blueprint and the login guard (called by create_app)."""
    for bp in UI_BLUEPRINTS:
        app.register_blueprint(bp)
    navigation.install(app)  # the grouped top navigation of templates/ui/base.html
    errors.install(app)  # error pages in words (templates/ui/error.html)
    branding.install(app)  # the company's name and logo on public pages (templates/public/base.html)
    auth.install_login_guard(app, {bp.name for bp in UI_BLUEPRINTS})
    install_text_guard(app, {bp.name for bp in UI_BLUEPRINTS})  # after the login guard: strangers see the login
    # Every page, JSON answer and download of the app: text stored before the text rule cannot fail one.
    app.response_class = TextResponse
