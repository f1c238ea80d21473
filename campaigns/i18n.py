"""Japanese and English for the UI: English strings are the keys, Japanese comes from translations/.

Each area of the UI keeps its own dictionary in `campaigns/translations/<area>.py` (a `JA` dict),
so the parts of the product can grow without editing one shared catalogue.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from flask import has_request_context, request, session

SUPPORTED = ("en", "ja")
_catalogue: dict[str, str] | None = None


def _load() -> dict[str, str]:
    global _catalogue
    if _catalogue is None:
        import campaigns.translations as pkg

        merged: dict[str, str] = {}
        for info in pkgutil.iter_modules(pkg.__path__):
            module = importlib.import_module(f"{pkg.__name__}.{info.name}")
            merged.update(getattr(module, "JA", {}))
        _catalogue = merged
    return _catalogue


def current_locale() -> str:
    """The UI language: the user's explicit choice, else the browser's preference, else English."""
    if not has_request_context():
        return "en"
    chosen = session.get("lang")
    if chosen not in SUPPORTED:
        chosen = request.accept_languages.best_match(SUPPORTED) or "en"
    return str(chosen)


def gettext(text: str, **params: Any) -> str:
    """Translate a UI string into the current language and fill %(name)s placeholders."""
    if current_locale() == "ja":
        text = _load().get(text, text)
    return text % params if params else text


_ = gettext
