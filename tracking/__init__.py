"""Public tracking endpoints: open pixel, click redirect, unsubscribe and preferences (the website snippet and
its collector: tracking/web.py). Small and fast.

The signed token in the URL is the only authority (no cookies, no CSRF token: mail clients and
RFC 8058 one-click POSTs carry none). Hits go to the buffer (campaigns.engagement.hit_writer), never
straight to the database, so a slow database does not slow the pixel.
"""

from __future__ import annotations

import base64
import logging
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, abort, current_app, redirect, render_template, request
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from campaigns.engagement.hit_buffer import record_hit
from campaigns.engagement.web_collect import identifier_url
from campaigns.leads import subscriptions
from campaigns.links import TokenKind
from campaigns.models import Link
from campaigns.models.tracking import HitKind
from campaigns.runtime import Services, services
from tracking import web
from tracking.fastpath import TrackingFastPath

bp = Blueprint("tracking", __name__, url_prefix="/t")
log = logging.getLogger("nurture.tracking")

GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_CACHE = {
    "Cache-Control": "no-store, no-cache, must-revalidate, max-age=0, private",
    "Pragma": "no-cache",
    "Expires": "0",
}
LINK_CACHE_MAX = 50_000


def _pixel() -> Response:
    return Response(GIF, status=200, mimetype="image/gif", headers=NO_CACHE)


def _client() -> tuple[str, str]:
    return request.headers.get("User-Agent", ""), request.remote_addr or ""


@bp.get("/o/<token>.gif")
def open_pixel(token: str) -> Response:
    """The open pixel: always the GIF, whatever happens behind it."""
    try:
        svc = services()
        verified = svc.signer.verify(token, TokenKind.OPEN)
        if verified is not None and request.method == "GET":
            ua, ip = _client()
            record_hit(svc, HitKind.OPEN, verified.a, 0, ua, ip)
    except Exception:  # the mail client must never show a broken image
        log.exception("open pixel failed to record")
    return _pixel()


@bp.get("/o/", defaults={"anything": ""})
@bp.get("/o/<path:anything>")
def open_pixel_malformed(anything: str) -> Response:
    """A mangled pixel URL (clients that cut or re-encode it) still gets the image, and nothing is recorded."""
    return _pixel()


class LinkCache:
    """Stored URL and tracked flag per link id. Links never change once a version is compiled, so
    entries stay valid; unknown ids are not cached (a random-token flood must not grow memory)."""

    def __init__(self, limit: int = LINK_CACHE_MAX) -> None:
        self.limit = limit
        self.entries: dict[int, tuple[str, bool]] = {}
        self.fast: dict[int, tuple[str, bool]] = {}  # entries the fast path may answer, checked once

    def target(self, svc: Services, link_id: int) -> tuple[str, bool] | None:
        """(url, tracked) of a link, or None when the link does not exist; raises on database errors."""
        found = self.entries.get(link_id)
        if found is not None:
            return found
        with svc.db.factory() as session:
            row = session.execute(select(Link.url, Link.tracked).where(Link.id == link_id)).first()
        if row is None:
            return None
        if len(self.entries) >= self.limit:
            self.entries.clear()
        found = self.entries[link_id] = (row.url.strip(), bool(row.tracked))
        return found

    def fast_target(self, svc: Services, link_id: int) -> tuple[str, bool] | None:
        """Like target(), but only for destinations the WSGI fast path may send as is (safe, ASCII)."""
        fast = self.fast.get(link_id)
        if fast is not None:
            return fast
        found = self.target(svc, link_id)
        if found is None or not safe_destination(found[0]) or not found[0].isascii() or not found[0].isprintable():
            return None
        if len(self.fast) >= self.limit:
            self.fast.clear()
        self.fast[link_id] = found
        return found


def safe_destination(url: str) -> bool:
    """Only web, mail and phone links are followed; a stored javascript: or data: URL never is."""
    parts = urlsplit(url.strip())
    if parts.scheme in ("http", "https"):
        return bool(parts.netloc)
    return parts.scheme in ("mailto", "tel")


def _links() -> LinkCache:
    return current_app.extensions["nurture.links"]  # type: ignore[no-any-return]


@bp.get("/c/<token>")
def click(token: str) -> Any:
    """Click redirect: only to the URL stored for the signed (send, link); anything else is a 404."""
    svc = services()
    verified = svc.signer.verify(token, TokenKind.CLICK)
    if verified is None:
        return _public_page("public/invalid.html", 404)  # a recipient's page, not the marketers' UI
    try:
        target = _links().target(svc, verified.b)
    except SQLAlchemyError:
        log.exception("click: link lookup failed")
        abort(503)
    if target is None or not safe_destination(target[0]):
        return _public_page("public/invalid.html", 404)
    url, tracked = target
    # HEAD is what link checkers send; a person's browser sends GET.
    if tracked and request.method == "GET":
        ua, ip = _client()
        record_hit(svc, HitKind.CLICK, verified.a, verified.b, ua, ip)
    # Into the marketer's own site: a short-lived signed _nid lets its snippet name the visitor.
    response = redirect(identifier_url(svc, url.strip(), verified.a), code=302)
    response.headers.update(NO_CACHE)
    return response


def _public_page(template: str, status: int = 200, **context: Any) -> tuple[str, int, dict[str, str]]:
    # Never cached by proxies; never referred: the URL holds the contact's token.
    return render_template(template, **context), status, {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@bp.route("/u/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> Any:
    """GET shows a confirmation page and changes nothing; POST (form or RFC 8058 one-click) unsubscribes."""
    svc = services()
    verified = svc.signer.verify(token, TokenKind.UNSUBSCRIBE)
    if verified is None:
        return _public_page("public/invalid.html", 404)
    if request.method != "POST":  # GET and HEAD (link scanners) only ever see the question
        return _public_page(
            "public/unsubscribe.html", token=token,
            preferences_url=svc.urls.preferences(verified.a),
        )
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    method = "one_click" if one_click else "link"
    session = svc.db.session
    subscriptions.unsubscribe_contact(session, verified.a, send_id=verified.b, method=method)
    session.commit()
    if one_click:
        return Response("Unsubscribed.\n", status=200, mimetype="text/plain", headers={"Cache-Control": "no-store"})
    return _public_page("public/unsubscribed.html", preferences_url=svc.urls.preferences(verified.a))


@bp.route("/test-link")
def test_link() -> Any:
    """The unsubscribe and preference links of previews and test sends: explains, changes nothing."""
    return _public_page("public/test_link.html")


@bp.route("/p/<token>", methods=["GET", "POST"])
def preferences(token: str) -> Any:
    """The preference page: leave one sequence, or all mail. GET only shows."""
    svc = services()
    verified = svc.signer.verify(token, TokenKind.PREFERENCES)
    if verified is None:
        return _public_page("public/invalid.html", 404)
    session = svc.db.session
    done = ""
    if request.method == "POST":
        action = request.form.get("action", "")
        if action == "all":
            subscriptions.unsubscribe_contact(session, verified.a, method="preferences")
            done = "all"
        elif action == "leave":
            # one series: a sequence (sequence_id) or a journey (journey_id)
            kind = "journey" if "journey_id" in request.form else "sequence"
            try:
                series_id = int(request.form.get(f"{kind}_id", ""))
            except ValueError:
                return _public_page("public/invalid.html", 400)
            leave = subscriptions.leave_journey if kind == "journey" else subscriptions.leave_sequence
            if not leave(session, verified.a, series_id):
                return _public_page("public/invalid.html", 400)
            done = "left"
        else:
            return _public_page("public/invalid.html", 400)
        session.commit()
    prefs = subscriptions.preferences_of(session, verified.a)
    return _public_page("public/preferences.html", token=token, prefs=prefs, done=done)


def register_tracking(app: Flask) -> Blueprint:
    """Register the tracking blueprint and return it (create_app exempts it from CSRF: mail clients
    and RFC 8058 one-click POSTs carry no token; the signed token in the URL is the authority)."""

    links = LinkCache()
    app.extensions["nurture.links"] = links
    app.register_blueprint(bp)
    app.register_blueprint(web.bp)  # the website snippet; its collector is the WSGI layer below
    app.wsgi_app = TrackingFastPath(  # type: ignore[method-assign]
        app.wsgi_app, app.extensions["nurture"], GIF, links.fast_target, identifier_url
    )
    app.wsgi_app = web.WebCollect(app.wsgi_app, app.extensions["nurture"])  # type: ignore[method-assign]
    return bp
