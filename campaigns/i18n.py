"""Japanese and English for the UI: English strings are the keys, Japanese comes from translations/.

Each area of the UI keeps its own dictionary in `campaigns/translations/<area>.py` (a `JA` dict),
so the parts of the product can grow without editing one shared catalogue.

Services stay request-free and raise English messages (ContactError, ImportFileError, ABError, ...);
the views show them through `_()`. A message with values in it ("unknown time zone 'Mars/Base'") is
translated by a catalogue key with placeholders ("unknown time zone %(zone)s"): the key is matched
against the message, then the Japanese is filled with the values (each translated too, if it is a key).
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
from typing import Any

from flask import has_request_context, request, session

SUPPORTED = ("en", "ja")
_catalogue: dict[str, str] | None = None
_patterns: list[tuple[re.Pattern[str], re.Pattern[str], str]] | None = None
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff00-\uffef]")
# Keys asked for in Japanese that have no translation; None (the default) records nothing. The i18n
# coverage test sets a set here, crawls the UI in Japanese and fails on any key collected.
missing: set[str] | None = None


def _load() -> dict[str, str]:
    global _catalogue
    if _catalogue is None:
        # The catalogues are large dicts: loaded on the first translation, not when i18n is imported.
        import campaigns.translations as pkg

        merged: dict[str, str] = {}
        for info in pkgutil.iter_modules(pkg.__path__):
            module = importlib.import_module(f"{pkg.__name__}.{info.name}")
            merged.update(getattr(module, "JA", {}))
        _catalogue = merged
    return _catalogue


def _key_pattern(key: str, value: str) -> re.Pattern[str]:
    seen: set[str] = set()
    parts, last = [], 0
    for match in _PLACEHOLDER.finditer(key):
        parts.append(re.escape(key[last:match.start()]))
        name = match.group(1)
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>{value})")
        seen.add(name)
        last = match.end()
    parts.append(re.escape(key[last:]))
    return re.compile("".join(parts), re.DOTALL)


def _message_patterns() -> list[tuple[re.Pattern[str], re.Pattern[str], str]]:
    """Keys with %(name)s placeholders as regular expressions (shortest and longest values), the most
    specific (longest fixed text) first."""
    global _patterns
    if _patterns is None:
        keys = sorted((key for key in _load() if "%(" in key), key=lambda k: -len(_PLACEHOLDER.sub("", k)))
        _patterns = [(_key_pattern(key, ".+?"), _key_pattern(key, ".+"), key) for key in keys]
    return _patterns


def _balanced(values: dict[str, str]) -> bool:
    """A value cut in the middle of "(...)" was matched at the wrong place ("A (subject B) (2.0%)")."""
    for value in values.values():
        depth = 0
        for char in value:
            depth += 1 if char in "(（" else -1 if char in ")）" else 0
            if depth < 0:
                return False
        if depth:
            return False
    return True


@functools.lru_cache(maxsize=4096)  # the catalogue never changes while the process runs
def _translate_message(text: str, depth: int = 0) -> str | None:
    """Japanese for an English message that fills a placeholder key, or None."""
    catalogue = _load()
    if text in catalogue:
        return catalogue[text]
    if depth > 3 or not text:
        return None
    if "; " in text:  # several problems joined by the service ("...; ...")
        parts = [_translate_message(part, depth + 1) for part in text.split("; ")]
        if all(parts):
            return " ".join(str(p) for p in parts)
    for shortest, longest, key in _message_patterns():
        match = shortest.fullmatch(text)
        if match is None:
            continue
        found = match.groupdict()
        if not _balanced(found):
            wider = longest.fullmatch(text)
            if wider is not None and _balanced(wider.groupdict()):
                found = wider.groupdict()
        values = {name: _translate_message(value, depth + 1) or value for name, value in found.items()}
        return catalogue[key] % values
    return None


def current_locale() -> str:
    """The UI language: the user's explicit choice, else the browser's preference, else English."""
    if not has_request_context():
        return "en"
    chosen = session.get("lang")
    if chosen not in SUPPORTED:
        chosen = request.accept_languages.best_match(SUPPORTED) or "en"
    return str(chosen)


def gettext(text: str, **params: Any) -> str:
    """Translate a UI string (or a service's English message) into the current language and fill %(name)s
    placeholders."""
    if current_locale() == "ja":
        translated = _load().get(text)
        if translated is None and not params:
            translated = _translate_message(text)
            if translated is not None:
                return translated
            if _JAPANESE.search(text):  # already Japanese (translated once, or the customer's own data)
                return text
        if translated is None:
            if missing is not None and text:
                missing.add(text)
        else:
            text = translated
    return text % params if params else text


def pgettext(context: str, text: str, **params: Any) -> str:
    """Translate a short label whose Japanese depends on where it stands ("To" is 終了日 beside a date and
    宛先 beside a recipient): looked up as "context|text", shown as `text` in English (templates)."""
    if current_locale() == "ja":
        key = f"{context}|{text}"
        translated = _load().get(key)
        if translated is None:
            if missing is not None:
                missing.add(key)
        else:
            text = translated
    return text % params if params else text


def has_translation(text: str) -> bool:
    """True when the catalogue has Japanese for this English key (the coverage test asks)."""
    return text in _load()


_ = gettext
