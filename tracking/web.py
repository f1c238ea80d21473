"""Website tracking endpoints: the snippet (GET /w/nurture.js) and the collector (POST /w/collect).

The collector is answered here, before Flask, like the pixel's fast path (tracking/fastpath.py): a beacon
costs an origin check, a JSON parse and a deque append (campaigns.engagement.web_collect.collect), and
Flask's dispatch would cost more than that. Its answers carry no body: 204 when taken (or deliberately
dropped: Global Privacy Control), 403 for a foreign origin or page, 400/413 for a malformed beacon; CORS
headers only ever name an allowed origin. Nothing a beacon sends can make the endpoint fail: any error is
logged and answered 204, since the visitor's page must never notice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from flask import Blueprint, Response, request

from campaigns.engagement.web_collect import (
    BODY_MAX,
    SCRIPT_MAX_AGE,
    Answer,
    collect,
    origin_host,
    snippet_source,
    web_config,
)
from campaigns.runtime import services

log = logging.getLogger("nurture.tracking")

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

COLLECT_PATH = "/w/collect"
_STATUS = {204: "204 No Content", 400: "400 Bad Request", 403: "403 Forbidden", 413: "413 Payload Too Large"}
_COMMON = [("X-Content-Type-Options", "nosniff"), ("Cache-Control", "no-store")]

bp = Blueprint("web_tracking", __name__, url_prefix="/w")


@bp.get("/nurture.js")
def snippet() -> Response:
    """The snippet with this install's settings: cacheable for a few minutes, revalidated by ETag."""
    source, etag = snippet_source(services())
    headers = {"Cache-Control": f"public, max-age={SCRIPT_MAX_AGE}", "ETag": etag,
               "Access-Control-Allow-Origin": "*", "Cross-Origin-Resource-Policy": "cross-origin"}
    if etag in request.headers.get("If-None-Match", ""):
        return Response(status=304, headers=headers)
    return Response(source, mimetype="text/javascript", headers=headers)


class WebCollect:
    """Wraps the WSGI app; answers POST and OPTIONS /w/collect, passes everything else on."""

    def __init__(self, wsgi_app: WSGIApp, services: Any) -> None:
        self.wsgi_app = wsgi_app
        self.svc = services

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != COLLECT_PATH:
            return self.wsgi_app(environ, start_response)
        method = environ.get("REQUEST_METHOD")
        origin = environ.get("HTTP_ORIGIN", "")
        if method == "OPTIONS":  # a preflight (fetch with another content type): allowed origins only
            answer = Answer(204, origin) if self._allowed(origin) else Answer(403)
            return self._answer(answer, start_response, preflight=True)
        if method != "POST":
            start_response("405 Method Not Allowed", [("Allow", "POST, OPTIONS"), ("Content-Length", "0"), *_COMMON])
            return [b""]
        try:
            answer = self._collect(environ, origin)
        except Exception:  # whatever happened, the visitor's page gets its quick empty answer
            log.exception("website beacon failed to record")
            answer = Answer(204, origin if self._allowed(origin) else "")
        return self._answer(answer, start_response)

    def _allowed(self, origin: str) -> bool:
        try:
            return web_config(self.svc).allows(origin_host(origin))
        except Exception:
            return False

    def _collect(self, environ: dict[str, Any], origin: str) -> Answer:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return Answer(400)
        if length > BODY_MAX:
            return Answer(413, origin if self._allowed(origin) else "")
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        return collect(self.svc, body, origin, environ.get("HTTP_USER_AGENT", ""), environ.get("REMOTE_ADDR", ""),
                       environ.get("HTTP_SEC_PURPOSE", "") or environ.get("HTTP_PURPOSE", ""),
                       environ.get("HTTP_SEC_GPC", ""))

    @staticmethod
    def _answer(answer: Answer, start_response: StartResponse, preflight: bool = False) -> Iterable[bytes]:
        headers = [("Content-Length", "0"), *_COMMON]
        if answer.origin:
            headers += [("Access-Control-Allow-Origin", answer.origin), ("Vary", "Origin")]
            if preflight:
                headers += [("Access-Control-Allow-Methods", "POST"), ("Access-Control-Allow-Headers", "Content-Type"),
                            ("Access-Control-Max-Age", "86400")]
        start_response(_STATUS.get(answer.status, "400 Bad Request"), headers)
        return [b""]
