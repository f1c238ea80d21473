"""The baseline of bench_tracking.py: a bare Flask app whose one route returns the same 1x1 GIF with the
same no-cache headers as the open pixel, and does nothing else."""

from __future__ import annotations

import base64

from flask import Flask, Response

GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
HEADERS = {"Cache-Control": "no-store, no-cache, must-revalidate, max-age=0, private", "Pragma": "no-cache",
           "Expires": "0"}

app = Flask(__name__)


@app.get("/<path:anything>")
def gif(anything: str) -> Response:
    return Response(GIF, mimetype="image/gif", headers=HEADERS)
