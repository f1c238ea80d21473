"""Error pages in words: what went wrong and what to do, in the user's language, never a raw code
(`request_entity_too_large`, "413") or werkzeug's English description.

Contract:
- `error_words(code, message)` -> (title, message) for templates/ui/error.html: the title names the
  problem for that HTTP status; the message is the one the app gave (a view's own reason, already
  translated) unless it is werkzeug's stock description (or nothing), which is replaced by ours
- `WORDS`: status -> (title, message), English msgids (Japanese in campaigns/translations/navigation.py)
- `install(app)` makes `error_words` a template global (campaigns.views.register_ui); the handlers that
  render the page stay in wsgi._register_errors
"""

from __future__ import annotations

from flask import Flask, current_app
from werkzeug.exceptions import default_exceptions

from campaigns.i18n import _

WORDS: dict[int, tuple[str, str]] = {
    400: ("Something in the request could not be used",
          "Go back, check what you entered and try again."),
    401: ("Please log in", "Log in to see this page."),
    403: ("Not allowed", "You cannot open this page with your account."),
    404: ("Page not found", "The page may have been deleted or its address mistyped. Start again from the menu."),
    405: ("This page cannot be used that way", "Go back and use the page's own buttons."),
    408: ("The connection took too long", "Try again; a large file may need a faster connection."),
    409: ("Someone else changed this at the same time", "Reload the page to see the latest version, then try again."),
    410: ("This page is gone", "Start again from the menu."),
    413: ("The file is too large",
          "Files up to %(size)s can be uploaded. Split a large contact file into several files and import them one "
          "after another."),
    414: ("The address of this page is too long", "Go back and shorten what you searched or filtered for."),
    415: ("This kind of file cannot be used", "Upload a CSV file (or the file type the page names)."),
    422: ("Some values could not be used", "Go back, correct the values and try again."),
    429: ("Too many attempts", "Wait a minute, then try again."),
    500: ("Something went wrong", "The error has been logged. Try again in a moment."),
    502: ("The service is not reachable", "Try again in a moment."),
    503: ("The service is busy or being updated", "Try again in a few minutes."),
}
_STOCK = {code: exc.description for code, exc in default_exceptions.items() if exc.description}


def error_words(code: int | str, message: str | None) -> tuple[str, str]:
    """The title and the message of an error page, in the user's language (templates/ui/error.html)."""
    try:
        status = int(code)
    except (TypeError, ValueError):
        status = 500
    title, advice = WORDS.get(status, WORDS[500] if status >= 500 else WORDS[400])
    stock = _STOCK.get(status, "")
    text = (message or "").strip()
    title = _(title)
    # werkzeug's stock English, nothing, or the title again ("Page not found.") -> what to do next
    if not text or text in (stock, _(stock) if stock else "") or text.rstrip(".。") == title.rstrip(".。"):
        text = _(advice, size=_upload_limit()) if "%(size)s" in advice else _(advice)
    return title, text


def _upload_limit() -> str:
    """The largest request the app takes (MAX_CONTENT_LENGTH), as "200 MB"."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    if limit >= 1024 * 1024:
        return f"{limit / (1024 * 1024):g} MB"
    return f"{limit / 1024:g} KB" if limit >= 1024 else f"{limit} B"


def install(app: Flask) -> None:
    """Give every template `error_words` (called by campaigns.views.register_ui)."""
    app.add_template_global(error_words, "error_words")
