"""Plumbing of the JSON API: the operation registry, API-key auth, JSON parsing, validation, errors, paging.

Every route is declared with `@operation(...)`, which registers the Flask rule AND records the request
schema, query parameters and responses that `campaigns.api.openapi` publishes, so the document and the
validation cannot drift apart.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from flask import g, jsonify, request
from flask.typing import ResponseReturnValue
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from sqlalchemy import Select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from werkzeug.exceptions import HTTPException

from campaigns.addresses import normalize_email
from campaigns.api import bp
from campaigns.api.schemas import (
    EVENT_NAME,
    MAX_ID,
    MULTI_LINE,
    NAME_PATTERN,
    ONE_LINE,
    SCHEMAS,
    STEP_IN,
    Schema,
)
from campaigns.params import loads as json_loads
from campaigns.runtime import services
from campaigns.text import TextError, check_json, text_problem
from campaigns.timezones import normalize_timezone
from campaigns.users import verify_api_key

JSON_LIMIT = 1024 * 1024  # bytes of a request body, unless an operation says otherwise
MAX_DEPTH = 20  # nesting of free-form objects (attributes, properties)
MAX_DETAILS = 50
KEY_TOUCH_INTERVAL = timedelta(minutes=5)


# ---------------------------------------------------------------- errors
class ApiError(Exception):
    """A 4xx answer with a machine-readable code, a sentence, and per-field problems."""

    def __init__(self, status: int, error: str, message: str, details: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.details = details or {}


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


M = TypeVar("M")


def get_or_404(session: Session, model: type[M], object_id: int, what: str) -> M:
    """The row with this id, or a 404 ApiError naming `what` (every API handler that reads one object)."""
    row = session.get(model, object_id)
    if row is None:
        raise not_found(what)
    return row


def invalid(details: dict[str, str], message: str = "the request has invalid fields") -> ApiError:
    return ApiError(422, "validation_failed", message, details)


def _error_response(status: int, error: str, message: str, details: dict[str, str] | None = None) -> Any:
    body: dict[str, Any] = {"error": error, "message": message}
    if details:
        body["details"] = details
    resp = jsonify(body)
    resp.status_code = status
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="nurture-api"'
    return resp


@bp.errorhandler(ApiError)
def _api_error(err: ApiError) -> Any:
    return _error_response(err.status, err.error, err.message, err.details)


@bp.errorhandler(HTTPException)
def _http_error(err: HTTPException) -> Any:
    code = err.code or 500
    return _error_response(code, (err.name or "error").lower().replace(" ", "_"), err.description or "")


# ---------------------------------------------------------------- operations
@dataclass(frozen=True)
class Operation:
    """One documented route: what it takes and what it answers (read by the OpenAPI builder)."""

    path: str  # OpenAPI form, e.g. /contacts/{contact_id}
    method: str
    endpoint: str
    summary: str
    tag: str
    body: str | None = None  # a name in SCHEMAS
    query: dict[str, Schema] = field(default_factory=dict)
    responses: dict[int, tuple[str, str | None]] = field(default_factory=dict)  # code -> (description, schema)
    public: bool = False
    body_limit: int = JSON_LIMIT
    description: str = ""
    headers: dict[str, Schema] = field(default_factory=dict)

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"\{(\w+)\}", self.path)


OPERATIONS: dict[str, Operation] = {}  # by Flask endpoint name ("api.<function>")


def _flask_rule(path: str) -> str:
    # Ids are bounded like the columns, so an absurd id is a 404 and never an integer overflow in SQL.
    return re.sub(r"\{(\w+_id)\}", rf"<int(min=1, max={MAX_ID}):\1>", path)


def operation(
    path: str,
    method: str,
    *,
    summary: str,
    tag: str,
    responses: dict[int, tuple[str, str | None]],
    body: str | None = None,
    query: dict[str, Schema] | None = None,
    public: bool = False,
    body_limit: int = JSON_LIMIT,
    description: str = "",
    headers: dict[str, Schema] | None = None,
) -> Callable[[Callable[..., ResponseReturnValue]], Callable[..., ResponseReturnValue]]:
    """Declare an API route: registers it on the blueprint and in the OpenAPI registry (API modules)."""

    def decorate(fn: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
        op = Operation(
            path=path, method=method.upper(), endpoint=f"{bp.name}.{fn.__name__}", summary=summary, tag=tag,
            body=body, query=dict(query or {}), responses=responses, public=public, body_limit=body_limit,
            description=description or (fn.__doc__ or "").strip(), headers=dict(headers or {}),
        )

        @functools.wraps(fn)
        def view(**path_args: Any) -> ResponseReturnValue:
            extra: dict[str, Any] = {}
            if op.query:
                extra["query"] = parse_query(op.query)
            if op.body:
                extra["body"] = parse_body(op.body)
            return fn(**path_args, **extra)

        bp.add_url_rule(_flask_rule(path), endpoint=fn.__name__, view_func=view, methods=[op.method])
        OPERATIONS[op.endpoint] = op
        return fn

    return decorate


def db_session() -> Session:
    """The request's database session (the scoped session's current one); handlers commit it."""
    return services().db.session


# ---------------------------------------------------------------- authentication
def presented_key() -> str:
    """The API key of the request: `Authorization: Bearer <key>` or `X-API-Key: <key>`."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("X-API-Key", "").strip()


@bp.before_request
def _authenticate() -> None:
    # Routes are private unless declared public, so a route added without `operation` is still guarded.
    op = OPERATIONS.get(request.endpoint or "")
    request.max_content_length = op.body_limit if op else JSON_LIMIT
    if op is not None and op.public:
        return
    session = db_session()
    key = presented_key()
    api_key = verify_api_key(session, key) if key else None
    if api_key is None:
        session.rollback()
        raise ApiError(401, "unauthorized", "a valid API key is required (Authorization: Bearer <key>)")
    g.api_key_id = api_key.id
    # verify_api_key stamps last_used_at. Write it in its own short transaction at most every few
    # minutes; otherwise drop the stamp, or the request's transaction would hold the key's row lock
    # until it ends and serialise every concurrent request made with that key.
    history = sa_inspect(api_key).attrs.last_used_at.history
    previous = history.deleted[0] if history.deleted else None
    if previous is None or api_key.last_used_at is None or api_key.last_used_at - previous > KEY_TOUCH_INTERVAL:
        session.commit()
    else:
        set_committed_value(api_key, "last_used_at", previous)


# ---------------------------------------------------------------- JSON parsing and validation
def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(raw: str) -> float:
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError(f"number {raw[:20]} is out of range")
    return value


def read_json(optional: bool = False) -> Any:
    """Parse the request body as strict JSON (no NaN/Infinity) or raise a 4xx ApiError; an optional
    body may be left out entirely (read as {})."""
    if request.mimetype and request.mimetype != "application/json" and not request.mimetype.endswith("+json"):
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    raw = request.get_data(cache=True)
    if not raw.strip():
        if optional:
            return {}
        raise ApiError(400, "invalid_json", "a JSON body is required")
    try:
        # Depth-limited (campaigns.params): 10,000 brackets are bad JSON, not a RecursionError in the parser
        # or in the schema validator that walks the parsed value.
        return json_loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {str(exc)[:200]}") from None


def text_details(data: Any) -> dict[str, str]:
    """{JSON path: problem} for the first string of a body (keys too, however deep) that breaks the one
    text rule (campaigns.text), so no endpoint can store a broken character or a NUL that would later
    fail a page, a mail or a scheduler tick; empty when every string passes (parse_body, every body)."""
    try:
        check_json(data, max_depth=MAX_DEPTH)
    except TextError as exc:
        return {exc.what: str(exc)}
    return {}


def parse_datetime(value: str) -> datetime:
    """Parse an ISO 8601 timestamp with a UTC offset into an aware UTC datetime (raises ValueError)."""
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError("not a date-time")
    parsed = datetime.fromisoformat(value.strip())
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError("a date-time needs a UTC offset, e.g. Z or +09:00")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError("date-time out of range") from None


def valid_time_zone(value: str) -> bool:
    """True for a time zone Nurture accepts (timezones.normalize_timezone: IANA names, any letter case)."""
    try:
        normalize_timezone(value)
    except ValueError:
        return False
    return True


def valid_email(value: str) -> bool:
    """True for an address Nurture accepts (addresses.normalize_email, the one rule)."""
    return normalize_email(value) is not None


FORMATS = FormatChecker(formats=())
FORMATS.checks("date-time", raises=ValueError)(lambda v: not isinstance(v, str) or bool(parse_datetime(v)))
FORMATS.checks("email")(lambda v: not isinstance(v, str) or valid_email(v))
FORMATS.checks("iana-timezone")(lambda v: not isinstance(v, str) or valid_time_zone(v))

FORMAT_PROBLEMS = {
    "date-time": "must be an ISO 8601 date-time with a UTC offset, e.g. 2026-11-22T09:00:00+09:00",
    "email": "is not a valid email address",
    "iana-timezone": "is not a known time zone (use an IANA name such as Asia/Tokyo)",
}

PATTERN_PROBLEMS = {
    ONE_LINE: "must be a single line without control characters",
    MULTI_LINE: "must not contain control characters other than tabs and line breaks",
    NAME_PATTERN: "must be a single line with some visible text",
    EVENT_NAME["pattern"]: "must be an event name: no control characters, no leading or trailing blanks",
    STEP_IN["properties"]["window_days"]["pattern"]: "must list ISO weekdays as digits 1-7 (Monday = 1), e.g. 12345",
}

_TYPE_WORDS = {
    "string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
    "object": "an object", "array": "an array", "null": "null",
}


def _document(root: Schema) -> Schema:
    return {**root, "components": {"schemas": SCHEMAS}}


@functools.cache
def validator_for(name: str) -> Draft202012Validator:
    """A cached validator of a named schema; `$ref`s resolve inside the same components."""
    return Draft202012Validator(_document({"$ref": f"#/components/schemas/{name}"}), format_checker=FORMATS)


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _problems(err: ValidationError) -> Iterable[tuple[str, str]]:
    path = ".".join(str(p) for p in err.absolute_path)
    kind, bound, schema = err.validator, err.validator_value, err.schema
    if kind == "required" and isinstance(err.instance, dict):
        for name in bound:
            if name not in err.instance:
                yield _join(path, name), "is required"
        return
    if kind == "additionalProperties" and isinstance(err.instance, dict):
        known = schema.get("properties", {})
        for name in err.instance:
            if name not in known:
                yield _join(path, name), "is not a known field"
        return
    where = path or "body"
    if kind == "type":
        types = bound if isinstance(bound, list) else [bound]
        yield where, "must be " + " or ".join(_TYPE_WORDS.get(str(t), str(t)) for t in types)
    elif kind == "format":
        yield where, FORMAT_PROBLEMS.get(bound, f"must be a valid {bound}")
    elif kind == "minLength":
        yield where, "must not be empty" if bound == 1 else f"must have at least {bound} characters"
    elif kind == "maxLength":
        yield where, f"must have at most {bound} characters"
    elif kind == "minimum":
        yield where, f"must be at least {bound}"
    elif kind == "maximum":
        yield where, f"must be at most {bound}"
    elif kind == "enum":
        yield where, "must be one of: " + ", ".join(str(v) for v in bound)
    elif kind == "pattern":
        yield where, PATTERN_PROBLEMS.get(bound, f"has an invalid format (must match {bound})")
    elif kind == "maxItems":
        yield where, f"must have at most {bound} items"
    elif kind == "minItems":
        yield where, f"must have at least {bound} item" + ("s" if bound != 1 else "")
    elif kind == "uniqueItems":
        yield where, "must not repeat items"
    elif kind == "maxProperties":
        yield where, f"must have at most {bound} keys"
    elif kind == "minProperties":
        yield where, "must not be empty"
    elif kind == "anyOf" and path.endswith("goal_event"):
        yield where, "must be an event name or empty"
    else:
        yield where, err.message[:200]


def validate(name: str, data: Any) -> dict[str, str]:
    """Validate data against a named schema; return {field path: problem} (empty when valid)."""
    details: dict[str, str] = {}
    for err in sorted(validator_for(name).iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        for path, problem in _problems(err):
            details.setdefault(path, problem)
        if len(details) >= MAX_DETAILS:
            break
    return details


def body_is_optional(name: str) -> bool:
    """A body whose schema requires nothing may be omitted (e.g. schedule a broadcast now)."""
    schema = SCHEMAS[name]
    return not schema.get("required") and not schema.get("minProperties")


def parse_body(name: str) -> Any:
    """Read and validate the JSON body against a named schema (operations with a body)."""
    data = read_json(optional=body_is_optional(name))
    details = validate(name, data)  # every field's problem at once; the text rule's comes on top
    for path, problem in text_details(data).items():
        details.setdefault(path, problem)
    if details:
        raise invalid(details)
    return data


def parse_query(params: dict[str, Schema]) -> dict[str, Any]:
    """Coerce and validate query parameters by their schemas; absent ones get their default or None."""
    out: dict[str, Any] = {}
    details: dict[str, str] = {}
    for name, schema in params.items():
        raw = request.args.get(name)
        if raw is None or raw == "":
            out[name] = schema.get("default")
            continue
        value: Any = raw
        if schema.get("type") == "integer":
            if not re.fullmatch(r"-?[0-9]{1,12}", raw.strip()):  # ASCII: int() would also read "１"
                details[name] = "must be an integer"
                continue
            value = int(raw)
        elif (problem := text_problem(raw, name)) is not None:  # the one text rule, as for bodies
            details[name] = str(problem)
            continue
        errors = list(Draft202012Validator(schema, format_checker=FORMATS).iter_errors(value))
        if errors:
            details[name] = next(iter(_problems(errors[0])))[1]
            continue
        out[name] = value
    if details:
        raise invalid(details, "the query has invalid parameters")
    return out


# ---------------------------------------------------------------- helpers for handlers
def iso(value: datetime | None) -> str | None:
    """A timestamp as ISO 8601 (UTC, with offset), or None."""
    return value.astimezone(UTC).isoformat() if value is not None else None


def body_hash(data: Any) -> str:
    """A stable fingerprint of a JSON value (idempotency: the same key must carry the same request)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def keyset_page(
    session: Session,
    stmt: Select[*tuple[Any, ...]],
    id_column: Any,
    query: dict[str, Any],
    serialize: Callable[[Any], dict[str, Any]],
    scalar: bool = True,
) -> dict[str, Any]:
    """One page of `stmt` ordered by id after ?after=, with the cursor of the next page (list endpoints).

    Keyset, not OFFSET: each page is an index range scan however deep the client pages.
    """
    limit = int(query.get("limit") or 50)
    after = query.get("after")
    if after is not None:
        stmt = stmt.where(id_column > after)
    stmt = stmt.order_by(id_column).limit(limit + 1)
    rows = list(session.scalars(stmt).all() if scalar else session.execute(stmt).all())
    more = len(rows) > limit
    rows = rows[:limit]
    last = (rows[-1] if scalar else rows[-1][0]) if rows else None
    return {"data": [serialize(r) for r in rows], "next_after": last.id if more and last is not None else None}
