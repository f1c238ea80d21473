"""Numbers and JSON from untrusted text (query strings, form fields, request bodies), bounded.

One rule for every view and API handler that reads a number or a JSON document someone else wrote:
ASCII digits only (`int()` also reads "１" and "١"), a range that fits the column or the computation
(an id of 10**30 is an OverflowError in the driver, a page of 10**12 an absurd OFFSET), and JSON no deeper than MAX_JSON_DEPTH (Python's parser recurses: a body of 10,000 brackets is a
RecursionError, which no `except ValueError` catches; `loads` turns it into the JSONDecodeError of bad JSON). Bad values give the caller's default, or for
JSON a ValueError, never a 500. Pure functions: the request stays in the views (campaigns/views/,
campaigns/api/core.py) and in create_app, which uses MAX_ID for the `int` of every URL rule.
"""

from __future__ import annotations

import json
import re
from typing import Any, overload

MAX_ID = 2_147_483_647  # INTEGER primary keys on PostgreSQL: a larger id names no row
MAX_PAGE = 100_000  # page numbers of paged lists: beyond any real list, and OFFSET stays sane
MAX_JSON_DEPTH = 64  # nesting of arrays and objects in any JSON document we parse
_INT = re.compile(r"-?[0-9]{1,18}")  # 18 digits: always inside a 64-bit column


@overload
def parse_int(raw: str | None, default: int, *, low: int | None = None, high: int | None = None) -> int: ...


@overload
def parse_int(raw: str | None, default: None = None, *, low: int | None = None,
              high: int | None = None) -> int | None: ...


def parse_int(raw: str | None, default: int | None = None, *, low: int | None = None,
              high: int | None = None) -> int | None:
    """The integer `raw` spells in ASCII digits within [low, high], else `default` (views' query values)."""
    text = (raw or "").strip()
    if not _INT.fullmatch(text):
        return default
    value = int(text)
    if (low is not None and value < low) or (high is not None and value > high):
        return default
    return value


def parse_id(raw: str | None) -> int | None:
    """A row id from a query or form value (1..MAX_ID, ASCII digits), or None: a view's `?after=`, `?before=`,
    `?broadcast_id=`, `?contact=`."""
    return parse_int(raw, None, low=1, high=MAX_ID)


def parse_page(raw: str | None) -> int:
    """A 1-based page number (paged views' `?page=`): 1 when absent or malformed, at most MAX_PAGE."""
    return min(parse_int(raw, 1, low=1), MAX_PAGE)


def nesting(value: Any, limit: int = MAX_JSON_DEPTH) -> int:
    """How deep lists and dicts nest in a parsed JSON value, counted without recursion; stops past `limit`."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if deepest > limit:
                break
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def loads(text: str | bytes, limit: int = MAX_JSON_DEPTH, **kwargs: Any) -> Any:
    """json.loads for untrusted text (views, the API, create_app's request JSON): a JSONDecodeError, as for
    any malformed JSON, when arrays and objects nest deeper than `limit`."""
    try:
        value = json.loads(text, **kwargs)
    except RecursionError:  # the C parser recurses per level: thousands of brackets exhaust the stack
        value = None
    else:
        if nesting(value, limit) <= limit:
            return value
    # JSONDecodeError (a ValueError): callers that report a syntax error by its .msg report this one too
    raise json.JSONDecodeError(f"nested deeper than {limit} levels", text if isinstance(text, str) else "", 0)
