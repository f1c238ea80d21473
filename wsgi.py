"""The composition root: `create_app(overrides)` wires settings, database, Redis, UI, API and tracking.

Nothing runs at import; `gunicorn 'wsgi:create_app()'` or `flask --app wsgi` build the app.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from flask import Flask, Response, abort, g, jsonify, render_template, request
from flask.json.provider import DefaultJSONProvider
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException, SecurityError
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter, Map

from campaigns import i18n
from campaigns.api import register_api
from campaigns.api.bounces import register_webhooks
from campaigns.config import ROOT, Settings
from campaigns.i18n import gettext
from campaigns.params import MAX_ID
from campaigns.params import loads as bounded_json_loads
from campaigns.runtime import Services
from campaigns.views import mail_assets, public_forms, register_ui
from campaigns.views.builder_common import account_zone
from tracking import register_tracking

csrf = CSRFProtect()
log = logging.getLogger("nurture")

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; frame-src 'self'; frame-ancestors 'self'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'"
)


class AsciiIntConverter(IntegerConverter):
    """The `int` of every URL rule: ASCII digits only (werkzeug's `\\d` also matches "１" and "١", which int()
    reads as 1), at most MAX_ID unless a rule says otherwise, so an id past the column is a 404, never an
    OverflowError in the database driver."""

    regex = r"[0-9]+"

    def __init__(self, map: Map, fixed_digits: int = 0, min: int | None = None,  # noqa: A002 (werkzeug's names)
                 max: int | None = MAX_ID, signed: bool = False) -> None:  # noqa: A002
        super().__init__(map, fixed_digits, min, max, signed)


class BoundedJSONProvider(DefaultJSONProvider):
    """Request JSON (request.get_json, Flask-WTF's JSON form data) parsed by campaigns.params.loads: a body
    nested too deeply is malformed JSON (400), not a RecursionError (500)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse a request body for Flask (get_json); raises ValueError when it nests too deeply."""
        return bounded_json_loads(s, **kwargs)


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the Flask app (web UI, JSON API, tracking) from the environment plus overrides."""
    settings = Settings.from_env(overrides)
    app = Flask(
        "nurture",
        root_path=str(ROOT),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "campaigns" / "static"),
        static_url_path="/static",
    )
    app.config.update(
        SECRET_KEY=settings.secret_key,
        TESTING=settings.testing,
        MAX_CONTENT_LENGTH=200 * 1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.base_url.startswith("https://"),
        # The browser may drop the cookie when the session can no longer be valid; the server ends it
        # either way (campaigns/views/auth.py: idle and absolute lifetimes, logout, epoch).
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_max_hours),
        WTF_CSRF_TIME_LIMIT=None,
        JSON_SORT_KEYS=False,
    )
    # Only BASE_URL's host (and TRUSTED_HOSTS) is served: Flask refuses other Host headers, so redirects
    # (trailing-slash 308s) and links are never built on a name an attacker sent (_refuse_bad_urls).
    app.config["TRUSTED_HOSTS"] = settings.served_hosts
    app.config.update(settings.extra)
    app.url_map.converters["int"] = AsciiIntConverter  # before any rule is added: every rule compiles with it
    app.json = BoundedJSONProvider(app)
    app.before_request(_refuse_bad_urls)  # first of all hooks: before CSRF, the session and the login check

    services = Services.build(settings)
    services.init_app(app)
    csrf.init_app(app)

    i18n.init_app(app, zone=account_zone)  # Flask-Babel, `_`/ngettext/pgettext and the date/number filters
    app.jinja_env.autoescape = True

    register_ui(app)
    register_api(app, csrf)
    csrf.exempt(register_tracking(app))

    csrf.exempt(register_webhooks(app))  # authenticated by an HMAC signature of the body, not a cookie
    # Hosted forms are embedded on other sites and post cross-origin: honeypot, rate limit, validation.
    csrf.exempt(public_forms.bp)
    app.register_blueprint(public_forms.bp)
    app.register_blueprint(mail_assets.bp)  # images of mails, fetched by mail clients without a login
    _register_errors(app)

    @app.after_request
    def _security_headers(response):  # type: ignore[no-untyped-def]
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", CSP)
            if not g.get("frameable"):  # a hosted form's page sets its own frame-ancestors (iframe embed)
                response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        return response

    if settings.proxy_hops > 0:
        # Behind nginx/Caddy: take the client address and scheme from X-Forwarded-* set by that many
        # trusted proxies (login throttling, form limits and tracking IPs need the visitor's address).
        # Outermost, so the tracking fast path sees the corrected address too.

        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    return app


def _refuse_bad_urls() -> Response | None:
    """Answer a request for a host we do not serve, or with a NUL in its URL, before any other hook runs."""
    # Flask's host check (TRUSTED_HOSTS) only marks the request with a routing error and leaves it without a
    # URL adapter: every other hook (CSRF, the login redirect) and the error page build URLs, so answer here,
    # in plain text.
    if isinstance(request.routing_exception, SecurityError):
        return Response(gettext("Unknown host name."), status=400, mimetype="text/plain")
    # A NUL in the URL names nothing, and PostgreSQL text refuses it: a slug or a search with one would be a
    # database error. The API checks its own query parameters (campaigns.api.core.parse_query).
    if "\x00" in request.path:
        abort(404)
    if not request.path.startswith("/api/") and any(
            "\x00" in key or "\x00" in value for key, value in request.args.items(multi=True)):
        abort(400, description="The address of this page holds a character that is not allowed.")
    return None


def _wants_json() -> bool:
    return request.path.startswith("/api/") or (
        request.accept_mimetypes.best == "application/json"
    )


def _register_errors(app: Flask) -> None:
    """Errors get a clear page or JSON reason, never a stack trace."""

    @app.errorhandler(CSRFError)
    def _csrf(err: CSRFError):  # type: ignore[no-untyped-def]
        log.warning("CSRF check failed on %s: %s", request.path, err.description)
        if _wants_json():
            return jsonify(error="csrf", message=err.description), 400
        return render_template("ui/error.html", code=400, message=gettext("The form expired. Please try again.")), 400

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException):  # type: ignore[no-untyped-def]
        message = gettext("Page not found.") if err.code == 404 else gettext(err.description or "")
        if _wants_json():
            code = err.name.lower().replace(" ", "_")
            if request.path.startswith("/api/"):
                return jsonify(error=code, message=err.description), err.code
            # the UI's own scripts show `error` to the marketer: words in their language, not the code
            return jsonify(error=message, code=code, message=message), err.code
        return render_template("ui/error.html", code=err.code, message=message), err.code

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):  # type: ignore[no-untyped-def]
        log.exception("unhandled error on %s %s", request.method, request.path)
        if _wants_json():
            return jsonify(error="internal", message="internal error"), 500
        return render_template(
            "ui/error.html", code=500, message=gettext("Something went wrong. The error has been logged.")
        ), 500
