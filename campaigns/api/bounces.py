"""The bounce and complaint webhook for sending providers: POST /webhooks/bounces.

Not under /api/v1: a provider cannot send our API keys, so the request is authenticated by an
HMAC-SHA256 signature of the raw body with the shared secret BOUNCE_WEBHOOK_SECRET, in the header
`X-Nurture-Signature: t=<unix time>,v1=<hex HMAC of "t.body">` (5-minute replay window). Without a
configured secret the endpoint does not exist (404). CSRF does not apply (no cookie is used).
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, Flask, jsonify, request
from flask.typing import ResponseReturnValue

from campaigns.delivery import bounces
from campaigns.runtime import services

webhook_bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
log = logging.getLogger("nurture.bounces")

MAX_BODY = 1024 * 1024


@webhook_bp.post("/bounces")
def bounce_webhook() -> ResponseReturnValue:
    """Record the bounces and complaints of a signed provider notification."""
    svc = services()
    secret = svc.settings.bounce_webhook_secret
    if not secret:
        return jsonify(error="not_found", message="the bounce webhook is not configured"), 404
    if (request.content_length or 0) > MAX_BODY:
        return jsonify(error="too_large", message="at most 1 MB per notification"), 413
    body = request.get_data(cache=False)
    if not bounces.verify_webhook(secret, body, request.headers.get(bounces.SIGNATURE_HEADER, "")):
        log.warning("bounce webhook: bad or missing signature from %s", request.remote_addr)
        return jsonify(error="unauthorized", message=f"missing or invalid {bounces.SIGNATURE_HEADER}"), 401
    try:
        payload = json.loads(body)
        reports = bounces.reports_from_webhook(payload)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and WebhookError are ValueErrors
        return jsonify(error="invalid", message=str(exc)[:300]), 400
    session = svc.db.session
    results = bounces.process_reports(session, reports, svc.settings)
    session.commit()
    return jsonify(bounces.summarize(results)), 200


def register_webhooks(app: Flask) -> Blueprint:
    """Register the webhook blueprint and return it (create_app exempts it from CSRF: it is signed)."""
    app.register_blueprint(webhook_bp)
    return webhook_bp
