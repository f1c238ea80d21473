"""A WSGI fast path for the two hottest URLs: the open pixel and a click on a known link.

Mail opens come in bursts of thousands per second after a broadcast. Flask's full dispatch (URL
map, hooks, app context, session teardown) costs more than the work itself (an HMAC check and a
deque append: `record_hit` buffers the hit in this process, see campaigns/engagement/hit_writer.py), so these
two happy paths are answered here, before Flask. Everything else, including every
error case (bad token, unknown link, database trouble, HEAD requests), falls through to the Flask
views in tracking/__init__.py, which define the behaviour; tests exercise both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from campaigns.engagement.hit_buffer import record_hit
from campaigns.links import TokenKind
from campaigns.models.tracking import HitKind

log = logging.getLogger("nurture.tracking")

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

# The headers create_app's after_request would add, plus the pixel's no-cache set.
COMMON = [("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "same-origin")]
NO_CACHE = [
    ("Cache-Control", "no-store, no-cache, must-revalidate, max-age=0, private"),
    ("Pragma", "no-cache"),
    ("Expires", "0"),
]


class TrackingFastPath:
    """Wraps the Flask WSGI app; answers GET /t/o/<token>.gif and GET /t/c/<token> for cached links."""

    def __init__(self, wsgi_app: WSGIApp, services: Any, gif: bytes,
                 link_target: Callable[[Any, int], tuple[str, bool] | None],
                 destination: Callable[[Any, str, int], str] | None = None) -> None:
        self.wsgi_app = wsgi_app
        self.svc = services
        self.gif = gif
        self.gif_headers = [("Content-Type", "image/gif"), ("Content-Length", str(len(gif))), *NO_CACHE, *COMMON]
        self.link_target = link_target
        self.destination = destination  # the URL as redirected to (web_collect.identifier_url: the _nid)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") == "GET" and not environ.get("QUERY_STRING"):
            if path.startswith("/t/o/") and path.endswith(".gif"):
                return self._pixel(path[5:-4], environ, start_response)
            if path.startswith("/t/c/"):
                handled = self._click(path[5:], environ, start_response)
                if handled is not None:
                    return handled
        return self.wsgi_app(environ, start_response)

    def _pixel(self, token: str, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            verified = self.svc.signer.verify(token, TokenKind.OPEN)
            if verified is not None:
                record_hit(self.svc, HitKind.OPEN, verified.a, 0, environ.get("HTTP_USER_AGENT", ""),
                           environ.get("REMOTE_ADDR", ""))
        except Exception:  # the image is always served
            log.exception("open pixel failed to record")
        start_response("200 OK", self.gif_headers)
        return [self.gif]

    def _click(self, token: str, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes] | None:
        verified = self.svc.signer.verify(token, TokenKind.CLICK)
        if verified is None:
            return None  # the Flask view answers 404
        try:
            target = self.link_target(self.svc, verified.b)
        except Exception:
            return None  # the Flask view reports the database problem
        if target is None or not target[1]:
            return None
        record_hit(self.svc, HitKind.CLICK, verified.a, verified.b, environ.get("HTTP_USER_AGENT", ""),
                   environ.get("REMOTE_ADDR", ""))
        location = target[0] if self.destination is None else self.destination(self.svc, target[0], verified.a)
        start_response("302 Found", [("Location", location), ("Content-Length", "0"), *NO_CACHE, *COMMON])
        return [b""]
