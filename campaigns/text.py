"""The one rule for text that comes in, and its counterpart for text that goes out.

Text is refused when it holds a character that cannot be stored or shown safely:
- an unpaired UTF-16 surrogate ("\\ud800" from a JSON escape, or a CSV byte that is not UTF-8), which
  `str.encode("utf-8")` refuses, so a page, a mail or a SQLite statement that carries it fails;
- NUL, which PostgreSQL text cannot hold;
- any other control character (C0 and DEL) except tab and line breaks in multi-line text (HTML and XML
  parsers refuse them, and a line break in a one-line field ends up in mail headers).

Every input path calls this module: the API for every JSON body (campaigns.api.core.parse_body), hosted
forms (campaigns.leads.forms), CSV cells (campaigns.leads.imports), contact data
(campaigns.leads.contacts.clean_contact_data), segment rules (campaigns.audience.segments) and the UI
editors (campaigns.views.text_input). Text stored before the rule existed is shown through
`displayable` / `encode_output` (the app's response class), so it cannot crash a page either.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

# One regular expression per kind of field: a single search per string, fast enough for a 1 MB API body.
_BAD_MULTI_LINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_BAD_ONE_LINE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
_SURROGATES = re.compile("[\ud800-\udfff]")
MAX_DEPTH = 20  # nesting of JSON-like values (API bodies, rule trees, attributes)
REPLACEMENT = "\ufffd"  # shown instead of a character that cannot be encoded


class TextError(ValueError):
    """Text that breaks the rule; the message names the field and says why (shown to users).

    `template` and `params` let the UI translate it (English text is the key, Japanese in
    campaigns/translations/text_rule.py); `what` is the field or JSON path, `reason` the bare problem."""

    def __init__(self, what: str, reason: str, template: str, **params: Any) -> None:
        what = storable(what, multiline=False)  # a JSON key can be the broken text itself
        self.what = what
        self.reason = reason
        self.template = template
        self.params = {"what": what, **params}
        super().__init__(template % self.params)

    def translated(self, gettext: Callable[..., str]) -> str:
        """The message in the UI's language (views pass campaigns.i18n.gettext)."""
        return gettext(self.template, **self.params)


def _problem(value: str, what: str, multiline: bool) -> TextError | None:
    match = (_BAD_MULTI_LINE if multiline else _BAD_ONE_LINE).search(value)
    if match is None:
        return None
    char, position = match.group(), match.start() + 1
    if "\ud800" <= char <= "\udfff":
        return TextError(what, "invalid Unicode",
                         "%(what)s contains invalid Unicode (a broken character) at character %(position)s",
                         position=position)
    if char in "\t\n\r":
        return TextError(what, "not one line",
                         "%(what)s must be a single line (it contains a line break or tab at character %(position)s)",
                         position=position)
    return TextError(what, "control character",
                     "%(what)s contains a control character (%(code)s) at character %(position)s",
                     code=f"U+{ord(char):04X}", position=position)


def check_text(value: str, what: str, *, max_length: int | None = None, multiline: bool = False) -> str:
    """Return `value` unchanged if it may be stored, else raise TextError naming `what` (every input path)."""
    problem = _problem(value, what, multiline)
    if problem is not None:
        raise problem
    if max_length is not None and len(value) > max_length:
        raise TextError(what, "too long", "%(what)s is too long (%(length)s characters, at most %(max)s)",
                        length=len(value), max=max_length)
    return value


def clean_text(value: Any, what: str, *, max_length: int | None = None, multiline: bool = False) -> str:
    """`value` as text with surrounding blanks removed, checked by check_text (form fields, CSV cells)."""
    text = value if isinstance(value, str) else "" if value is None else str(value)
    return check_text(text.strip(), what, max_length=max_length, multiline=multiline)


def text_problem(value: str, what: str, *, multiline: bool = False) -> TextError | None:
    """The TextError `value` would raise, or None (callers that collect every problem at once)."""
    return _problem(value, what, multiline)


def check_json(value: Any, what: str = "", *, max_depth: int = MAX_DEPTH) -> Any:
    """Return a JSON-like value unchanged if every string in it (keys too) may be stored, else raise
    TextError naming its path, e.g. "attributes.note" (API bodies, rule trees, attribute dicts).
    Strings may span lines: which ones must be one line is the caller's schema's business."""
    _walk(value, what, 0, max_depth)
    return value


def _walk(value: Any, path: str, depth: int, max_depth: int) -> None:
    if depth > max_depth:
        raise TextError(path or "body", "nested too deeply", "%(what)s is nested too deeply (at most %(max)s levels)",
                        max=max_depth)
    if isinstance(value, str):
        problem = _problem(value, path or "text", True)
        if problem is not None:
            raise problem
        return
    if isinstance(value, dict):
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            if isinstance(key, str):
                problem = _problem(key, sub, True)
                if problem is not None:
                    raise problem
            _walk(item, sub, depth + 1, max_depth)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _walk(item, f"{path}.{i}" if path else str(i), depth + 1, max_depth)


def displayable(value: str) -> str:
    """`value` with every character UTF-8 cannot encode replaced by U+FFFD (text stored before the rule,
    exception messages, a bad row's cell in an import report)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATES.sub(REPLACEMENT, value)
    return value


def storable(value: str, *, multiline: bool = True) -> str:
    """`value` made storable by force: broken characters become U+FFFD, control characters are dropped
    (what must be kept although it breaks the rule: a spam submission, a failure reason)."""
    bad = _BAD_MULTI_LINE if multiline else _BAD_ONE_LINE
    if bad.search(value) is None:
        return value
    return bad.sub(lambda m: REPLACEMENT if "\ud800" <= m.group() <= "\udfff" else "", value)


def encode_output(value: str) -> bytes:
    """`value` as UTF-8 for a response body; broken characters become U+FFFD instead of an error (the
    app's response class, wsgi.TextResponse)."""
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        return displayable(value).encode("utf-8")
