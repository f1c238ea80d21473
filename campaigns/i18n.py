"""Japanese and English for the UI: gettext catalogs served through Flask-Babel, English strings as msgids.

The catalog is `translations/ja/LC_MESSAGES/messages.po` (the source, edited by hand and by
`scripts/i18n`); its compiled `messages.mo` is not in git: `scripts/bootstrap` compiles it, and
`translations()` compiles it again whenever the .po is newer, so a fresh clone, an edited .po and a
read-only install all serve the current text. `scripts/i18n` extracts the msgids from the code and the
templates (`babel.cfg`), checks that each has Japanese, and folds dictionary modules into the .po.

Transition: a module `translations/<topic>.py` holding a `JA` dict (English -> Japanese) is still read and
fills what the catalog lacks (a key "context|Text" is the pgettext entry "Text" in context "context"), so work
that adds Japanese that way keeps working until `scripts/i18n fold` moves its entries into the .po.

Services stay request-free and raise English messages (ContactError, ImportFileError, ABError, ...);
the views show them through `_()`. A message with values in it ("unknown time zone 'Mars/Base'") is
translated by a msgid with placeholders ("unknown time zone %(zone)s"): the msgid is matched against the
message, then the Japanese is filled with the values (each translated too, if it is a msgid).

The language is the user's choice (session "lang"), else the browser's; `translate_in(locale, ...)` gives
an explicit language to request-free code (the sales hand-over mail, a form's default consent wording,
which follow the account's language). Dates, times and numbers are formatted with Babel for the locale, in
the time zone the caller names (the UI's filters pass the account's zone: `init_app`).
"""

from __future__ import annotations

import functools
import gettext as stdlib_gettext
import importlib
import io
import logging
import os
import pkgutil
import re
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, tzinfo
from pathlib import Path
from typing import Any

from babel import Locale, dates, numbers, support
from flask import Flask, has_request_context, request, session

log = logging.getLogger("nurture.i18n")

SUPPORTED = ("en", "ja")
DOMAIN = "messages"
CATALOG_DIR = Path(__file__).resolve().parent / "translations"
# "scoring|Triggers" in a JA dict is pgettext("scoring", "Triggers"); gettext's own separator in a .mo is \x04.
_CONTEXT_KEY = re.compile(r"([a-z][a-z_]*)\|(\S.*)", re.DOTALL)
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_LETTER = re.compile(r"[^\W\d_]")
_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff00-\uffef]")
# Msgids asked for in Japanese that have no translation; None (the default) records nothing. The i18n
# coverage test sets a set here, crawls the UI in Japanese and fails on any msgid collected.
missing: set[str] | None = None


class _Untranslated(str):
    """A msgid handed back because the catalog has no entry for it (told apart from a translation that
    happens to equal its msgid, like "KPI")."""


class _Missing(stdlib_gettext.NullTranslations):
    """The last fallback of a catalog: marks what no catalog had, so `_()` can try the message patterns
    and record the gap."""

    def gettext(self, message: str) -> str:
        return _Untranslated(message)

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        return _Untranslated(msgid1 if n == 1 else msgid2)

    def pgettext(self, context: str, message: str) -> str:
        return _Untranslated(message)

    def npgettext(self, context: str, msgid1: str, msgid2: str, n: int) -> str:
        return _Untranslated(msgid1 if n == 1 else msgid2)


def catalog_paths(locale: str) -> tuple[Path, Path]:
    """(.po, .mo) of a locale's catalog."""
    folder = CATALOG_DIR / locale / "LC_MESSAGES"
    return folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"


def compile_catalog(locale: str, force: bool = False) -> bytes | None:
    """Compile the locale's .po into its .mo when the .mo is missing or older (or `force`); returns the
    compiled bytes when they could not be written (a read-only install), else None. Called by
    `translations()` and `scripts/i18n compile`."""
    po_path, mo_path = catalog_paths(locale)
    if not po_path.exists():
        return None
    if not force and mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
        return None
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale=locale, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)  # a fuzzy entry is a guess: English shows until it is reviewed
    data = buffer.getvalue()
    try:
        # written beside it and renamed: several processes (gunicorn workers, the worker) may compile at once
        fd, tmp = tempfile.mkstemp(dir=mo_path.parent, prefix=".messages-", suffix=".mo")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, mo_path)
    except OSError:
        log.warning("cannot write %s; serving the catalog compiled in memory", mo_path)
        return data
    return None


def dict_modules() -> Iterator[tuple[str, dict[str, str]]]:
    """(module name, JA dict) of every dictionary module still in campaigns/translations/ (the transition)."""
    import campaigns.translations as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        module = importlib.import_module(f"{pkg.__name__}.{info.name}")
        entries = getattr(module, "JA", None)
        if isinstance(entries, dict):
            yield info.name, entries


def gettext_key(key: str) -> str:
    """The .mo catalog key of a JA dict key: "context|Text" becomes context + \\x04 + "Text"."""
    match = _CONTEXT_KEY.fullmatch(key)
    return f"{match.group(1)}\x04{match.group(2)}" if match else key


@functools.cache  # the catalogs never change while the process runs
def translations(locale: str) -> stdlib_gettext.NullTranslations:
    """The catalog of a UI language: the compiled .po with the remaining JA dicts merged over it; English
    (the msgids themselves) has none. Flask-Babel's domain serves the same objects."""
    if locale not in SUPPORTED or locale == "en":
        return support.NullTranslations()
    in_memory = compile_catalog(locale)
    po_path, mo_path = catalog_paths(locale)
    if in_memory is not None:
        loaded: stdlib_gettext.NullTranslations = support.Translations(io.BytesIO(in_memory), domain=DOMAIN)
    elif mo_path.exists():
        with mo_path.open("rb") as fh:
            loaded = support.Translations(fh, domain=DOMAIN)
    else:
        loaded = support.Translations(domain=DOMAIN)  # no catalog yet: the dicts alone
    catalog: dict[Any, str] = loaded._catalog  # type: ignore[attr-defined]  # gettext's own store
    for _name, entries in dict_modules():
        # only what the catalog lacks: a module that gives a shared msgid ("When") other Japanese would change
        # every page that shows it; `scripts/i18n fold` reports such a difference instead
        for key, value in entries.items():
            catalog.setdefault(gettext_key(key), value)
    loaded.add_fallback(_Missing())
    return loaded


def _catalog(locale: str) -> dict[Any, str]:
    return getattr(translations(locale), "_catalog", {})


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


@functools.cache
def _message_patterns(locale: str) -> list[tuple[re.Pattern[str], re.Pattern[str], str]]:
    """Msgids with %(name)s placeholders as regular expressions (shortest and longest values), the most
    specific (longest fixed text) first."""
    # a msgid that is placeholders and punctuation ("%(url)s", "%(what)s: %(reason)s") has no words to recognise
    # a message by: it would match every message (with a colon) and hand it back untranslated
    keys = sorted((key for key in _catalog(locale) if isinstance(key, str) and "%(" in key and "\x04" not in key
                   and _LETTER.search(_PLACEHOLDER.sub("", key))),
                  key=lambda k: -len(_PLACEHOLDER.sub("", k)))
    return [(_key_pattern(key, ".+?"), _key_pattern(key, ".+"), key) for key in keys]


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


@functools.lru_cache(maxsize=4096)  # the catalog never changes while the process runs
def _translate_message(locale: str, text: str, depth: int = 0) -> str | None:
    """The translation of a service's message that fills a placeholder msgid, or None."""
    catalog = _catalog(locale)
    if text in catalog:
        return catalog[text]
    if depth > 3 or not text:
        return None
    if "; " in text:  # several problems joined by the service ("...; ...")
        parts = [_translate_message(locale, part, depth + 1) for part in text.split("; ")]
        if all(parts):
            return " ".join(str(p) for p in parts)
    for shortest, longest, key in _message_patterns(locale):
        match = shortest.fullmatch(text)
        if match is None:
            continue
        found = match.groupdict()
        if not _balanced(found):
            wider = longest.fullmatch(text)
            if wider is not None and _balanced(wider.groupdict()):
                found = wider.groupdict()
        values = {name: _translate_message(locale, value, depth + 1) or value for name, value in found.items()}
        return catalog[key] % values
    return None


def current_locale() -> str:
    """The UI language: the user's explicit choice, else the browser's preference, else English (also
    Flask-Babel's locale selector)."""
    if not has_request_context():
        return "en"
    chosen = session.get("lang")
    if chosen not in SUPPORTED:
        chosen = request.accept_languages.best_match(SUPPORTED) or "en"
    return str(chosen)


def _note_missing(key: str) -> None:
    if missing is not None and key:
        missing.add(key)


def translate_in(locale: str, text: str, **params: Any) -> str:
    """`gettext` in a named language (request-free code that follows the account's language)."""
    translated = translations(locale).gettext(text)
    if isinstance(translated, _Untranslated):
        if not params:
            found = _translate_message(locale, text)
            if found is not None:
                return found
            if _JAPANESE.search(text):  # already Japanese (translated once, or the customer's own data)
                return text
        _note_missing(text)
        translated = text
    return translated % params if params else translated


def gettext(text: str, **params: Any) -> str:
    """Translate a UI string (or a service's English message) into the current language and fill %(name)s
    placeholders."""
    return translate_in(current_locale(), text, **params)


def ngettext_in(locale: str, singular: str, plural: str, num: int, **params: Any) -> str:
    """`ngettext` in a named language."""
    params.setdefault("num", num)
    translated = translations(locale).ngettext(singular, plural, num)
    if isinstance(translated, _Untranslated):
        _note_missing(singular)
        translated = str(translated)
    return translated % params


def ngettext(singular: str, plural: str, num: int, **params: Any) -> str:
    """A count with its unit ("1 day" / "%(num)d days"): the plural form of the current language for `num`
    (Japanese has one form), with %(num)d and the other placeholders filled."""
    return ngettext_in(current_locale(), singular, plural, num, **params)


def pgettext(context: str, text: str, **params: Any) -> str:
    """Translate a short label whose Japanese depends on where it stands ("To" is 終了日 beside a date and
    宛先 beside a recipient; "Open" the verb and the open event): msgctxt `context`."""
    translated = translations(current_locale()).pgettext(context, text)
    if isinstance(translated, _Untranslated):
        _note_missing(f"{context}|{text}")
        translated = str(translated)
    return translated % params if params else translated


def npgettext(context: str, singular: str, plural: str, num: int, **params: Any) -> str:
    """`ngettext` with a context."""
    params.setdefault("num", num)
    translated = translations(current_locale()).npgettext(context, singular, plural, num)
    if isinstance(translated, _Untranslated):
        _note_missing(f"{context}|{singular}")
        translated = str(translated)
    return translated % params


def lazy_gettext(text: str, **params: Any) -> Any:
    """A string translated when it is shown (module-level labels: form field names, choices)."""
    from flask_babel import LazyString  # type: ignore[import-untyped]  # (no type information published)

    return LazyString(gettext, text, **params)


# Codes that reach a page (a contact field chosen for an import column, a file's detected encoding), in
# words: the English words are msgids, so the Japanese comes from the catalog like any other string.
CODE_WORDS = {
    "email": "Email", "first_name": "First name", "last_name": "Last name", "full_name": "Full name (last first)",
    "company": "Company", "job_title": "Job title", "phone": "Phone", "source": "Source", "timezone": "Time zone",
    "stage": "Stage", "score": "Score", "status": "Status", "consent_at": "Consent given at",
    "consent_source": "Consent source", "consent_text": "Consent text", "consent_method": "Consent method",
    "created_at": "Created", "updated_at": "Updated",
    "utf-8": "UTF-8", "utf-8-sig": "UTF-8 (with BOM)", "utf-16": "UTF-16", "cp932": "Shift_JIS (Windows)",
    "shift_jis": "Shift_JIS", "auto": "Detect automatically",
}


def words(code: object) -> str:
    """A code shown to a person (field name, encoding) as words in the current language (template filter
    `words`); a code not listed is translated as it is (a msgid) or shown unchanged."""
    text = str(code if code is not None else "")
    return gettext(CODE_WORDS.get(text, text)) if text else ""


def has_translation(text: str, locale: str = "ja") -> bool:
    """True when the catalog has a translation for this msgid ("context|Text" for a context)."""
    return gettext_key(text) in _catalog(locale)


_ = gettext


# -- dates, times and numbers ---------------------------------------------------------------------------

# Named formats on top of Babel's ("short", "medium", "long", "full" and LDML patterns pass through):
# "default" is the date as the locale writes it in prose and a 24-hour time (Jan 15, 2030, 09:30 /
# 2030年1月15日 9:30), unambiguous in both languages for a B2B reader.
_SKELETONS = {"default": ("yMMMd", "Hm"), "seconds": ("yMMMd", "Hms"), "date": ("yMMMd", None),
              "time": (None, "Hm"), "numeric": ("yMd", "Hm")}


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)  # stored timestamps are UTC


def format_datetime(value: datetime | None, format: str = "default", *, zone: tzinfo | None = None,  # noqa: A002
                    locale: str | None = None) -> str:
    """A UTC timestamp as the locale writes it, in `zone` (the UI passes the account's zone); "" for None."""
    if value is None:
        return ""
    loc = Locale.parse(locale or current_locale())
    value = _aware(value).astimezone(zone or UTC)
    if format in _SKELETONS:
        date_part, time_part = _SKELETONS[format]
        texts = [dates.format_skeleton(part, value, locale=loc) for part in (date_part, time_part) if part]
        if len(texts) == 1:
            return texts[0]
        return str(loc.datetime_formats["medium"]).replace("{1}", texts[0]).replace("{0}", texts[1])
    return dates.format_datetime(value, format, tzinfo=value.tzinfo, locale=loc)


def format_date(value: date | datetime | None, format: str = "date", *, zone: tzinfo | None = None,  # noqa: A002
                locale: str | None = None) -> str:
    """A date (or the date of a UTC timestamp in `zone`) as the locale writes it (Jan 15, 2030 / 2030年1月15日)."""
    if value is None:
        return ""
    loc = locale or current_locale()
    if isinstance(value, datetime):
        value = _aware(value).astimezone(zone or UTC).date()
    if format in _SKELETONS:
        return dates.format_skeleton("yMMMd", datetime.combine(value, time()), locale=loc)
    return dates.format_date(value, format, locale=loc)


def format_time(value: datetime | None, format: str = "time", *, zone: tzinfo | None = None,  # noqa: A002
                locale: str | None = None) -> str:
    """The time of a UTC timestamp in `zone`, as the locale writes it (24-hour by default)."""
    if value is None:
        return ""
    if format in _SKELETONS:
        return format_datetime(value, "time", zone=zone, locale=locale)
    return dates.format_time(_aware(value).astimezone(zone or UTC), format, locale=locale or current_locale())


def format_number(value: float | int | None, format: str | None = None, *, locale: str | None = None) -> str:
    """A number with the locale's grouping and decimal signs (1,234,567.5); "" for None."""
    if value is None:
        return ""
    return numbers.format_decimal(value, format=format, locale=locale or current_locale())


def format_percent(value: float | None, format: str | None = "#,##0.0%", *, locale: str | None = None) -> str:
    """A ratio (0.123) as a percentage for the locale (12.3%)."""
    if value is None:
        return ""
    return numbers.format_percent(value, format=format, locale=locale or current_locale())


# -- Flask ----------------------------------------------------------------------------------------------


def init_app(app: Flask, zone: Callable[[], tzinfo]) -> None:
    """Flask-Babel on the app (locale = `current_locale`, time zone = `zone()`, catalogs = `translations`),
    and the template globals and filters: `_`, `gettext`, `ngettext`, `pgettext`, `npgettext`,
    `current_locale`; `format_datetime`, `format_date`, `format_time` (in `zone()`), `format_number`,
    `format_percent`, `words` (a code in words). Called by wsgi.create_app with the account's zone."""
    from flask_babel import Babel, Domain  # type: ignore[import-untyped]

    class _CatalogDomain(Domain):  # type: ignore[misc]
        """Flask-Babel's translations are this module's catalogs (the .po and the remaining dicts), so
        flask_babel.gettext / lazy_gettext and `_()` read the same text."""

        def get_translations(self) -> Any:
            return translations(current_locale())

    babel = Babel(app, configure_jinja=False, locale_selector=current_locale,
                  timezone_selector=lambda: getattr(zone(), "key", None), default_domain=DOMAIN,
                  default_translation_directories=str(CATALOG_DIR))
    babel.domain_instance = _CatalogDomain(translation_directories=[str(CATALOG_DIR)], domain=DOMAIN)
    app.jinja_env.globals.update(_=gettext, gettext=gettext, ngettext=ngettext, pgettext=pgettext,
                                 npgettext=npgettext, current_locale=current_locale)
    app.jinja_env.filters.update(
        format_datetime=lambda value, format="default": format_datetime(value, format, zone=zone()),
        format_date=lambda value, format="date": format_date(value, format, zone=zone()),
        format_time=lambda value, format="time": format_time(value, format, zone=zone()),
        format_number=format_number,
        format_percent=format_percent,
        words=words,
    )
