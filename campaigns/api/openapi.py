"""GET /api/v1/openapi.json: the OpenAPI 3.1 document, built from the operation registry and the schemas
that validate requests (campaigns.api.core.OPERATIONS, campaigns.api.schemas.SCHEMAS)."""

from __future__ import annotations

import functools
from typing import Any

from flask import jsonify
from flask.typing import ResponseReturnValue

from campaigns.api.core import JSON_LIMIT, OPERATIONS, Operation, body_is_optional, operation
from campaigns.api.events import BATCH_LIMIT
from campaigns.api.schemas import ID, SCHEMAS, ref

TAGS = [
    ("contacts", "Leads and customers, upserted by email."),
    ("events", "What contacts do (downloads, sign-ups, bookings): starts and ends sequences."),
    ("templates", "Email templates (Jinja2, rendered in a sandbox) and their immutable versions."),
    ("sequences", "Step-mail sequences: steps, delays, send windows, triggers and exits."),
    ("journeys", "Branching scenarios as JSON graphs: drafts, published versions, enrolment, statistics, paths."),
    ("broadcasts", "One-off mails to a segment at a chosen time."),
    ("segments", "Saved rule trees over contacts, events, email engagement and lists; counts and previews."),
    ("lists", "Static lists: contacts added and removed by hand or in bulk."),
    ("sends", "The send ledger: one row per mail, with its delivery status."),
    ("forms", "Lead capture forms and their submissions with the consent records."),
    ("reports", "Engagement per broadcast, sequence and step (people only; machines shown apart)."),
    ("meta", "This document."),
]

_ERRORS = {
    400: "The body is not JSON",
    401: "Missing or invalid API key",
    404: "No such object",
    409: "Conflict with a concurrent or earlier request",
    413: "The body is too large",
    415: "The body is not application/json",
    422: "Invalid fields; `details` names each one",
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _operation_doc(op: Operation) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": ID} for name in op.path_params
    ]
    for name, schema in op.query.items():
        plain = {k: v for k, v in schema.items() if k != "description"}
        params.append({"name": name, "in": "query", "required": False, "schema": plain,
                       **({"description": schema["description"]} if "description" in schema else {})})
    for name, schema in op.headers.items():
        plain = {k: v for k, v in schema.items() if k != "description"}
        params.append({"name": name, "in": "header", "required": False, "schema": plain,
                       "description": schema.get("description", "")})
    responses: dict[str, Any] = {}
    for code, (description, schema_name) in op.responses.items():
        schema = ref(schema_name) if schema_name else {"type": "object"}
        responses[str(code)] = {"description": description, "content": _json(schema)}
    errors = []
    if op.body:
        errors += [400, 413, 415, 422]
    if op.query or op.headers:
        errors.append(422)
    if not op.public:
        errors.append(401)
    if op.path_params:
        errors.append(404)
    for code in sorted(set(errors)):
        responses.setdefault(str(code), {"description": _ERRORS[code], "content": _json(ref("Error"))})
    doc: dict[str, Any] = {
        "operationId": op.endpoint.split(".", 1)[1],
        "summary": op.summary,
        "tags": [op.tag],
        "responses": responses,
    }
    if op.description:
        doc["description"] = op.description
    if params:
        doc["parameters"] = params
    if op.body:
        doc["requestBody"] = {"required": not body_is_optional(op.body), "content": _json(ref(op.body))}
    if op.public:
        doc["security"] = []
    return doc


@functools.cache
def build_document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document (cached: routes and schemas are fixed once the app is built)."""
    paths: dict[str, dict[str, Any]] = {}
    for op in sorted(OPERATIONS.values(), key=lambda o: (o.path, o.method)):
        paths.setdefault(op.path, {})[op.method.lower()] = _operation_doc(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Nurture API",
            "version": "1.0.0",
            "description": (
                "Lead-nurturing email: contacts, events that start and end step-mail sequences, templates, "
                "sequences, broadcasts and send status. Authenticate with `Authorization: Bearer <key>` "
                "(or `X-API-Key: <key>`); create a key with `nurture create-api-key`. Errors are JSON: "
                '`{"error": code, "message": reason, "details": {field: problem}}`. Lists use keyset '
                "pagination: pass the `next_after` of a page as `?after=` to get the next one. Request bodies "
                f"are limited to {JSON_LIMIT // 1024} KiB ({BATCH_LIMIT // (1024 * 1024)} MiB for /events/batch)."
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "tags": [{"name": name, "description": text} for name, text in TAGS],
        "security": [{"bearerAuth": []}, {"apiKeyHeader": []}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "An API key as a bearer token."},
                "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }


@operation(
    "/openapi.json", "GET", tag="meta", public=True, summary="This OpenAPI 3.1 document",
    responses={200: ("The document", None)},
)
def openapi_document() -> ResponseReturnValue:
    """Public, so that tools can read it without a key; it describes the API, not data."""
    return jsonify(build_document())
