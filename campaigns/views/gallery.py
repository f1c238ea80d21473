"""The template gallery page ("New mail -> start from the gallery"): routes on the templates blueprint.

- GET  /templates/gallery?lang=ja|en   the gallery's mails as cards (name, when to use it, subject, a live
                                       thumbnail), grouped by use; the mails' language defaults to the UI's
- GET  /templates/gallery/<lang>/<key>/preview  one mail compiled with the account's brand kit and rendered
                                       with sample data, served alone under the preview CSP (the thumbnails)
- POST /templates/gallery/<lang>/<key> a new block-mail template from that mail, then its editor

The data and the template-making are campaigns.delivery.gallery; this module only shows and calls it.
"""

from __future__ import annotations

import re
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for

from campaigns.delivery import gallery
from campaigns.delivery.rendering import TemplateError, render_preview
from campaigns.i18n import _, current_locale
from campaigns.runtime import services
from campaigns.views.templates import PREVIEW_CSP, bp

CATEGORY_TITLES = {"nurture": "Nurturing", "event": "Events and seminars", "sales": "Sales"}
# How a card writes a merge tag of a subject: words a reader recognises, not the Jinja behind them.
_TAG = re.compile(r"\{\{\s*contact\.(\w+)[^}]*\}\}")
_TAG_WORDS = {
    "ja": {"last_name": "〇〇", "first_name": "〇〇", "company": "〇〇株式会社"},
    "en": {"last_name": "[last name]", "first_name": "[first name]", "company": "[company]"},
}


def readable_subject(subject: str, language: str) -> str:
    """A subject with its merge tags as placeholders (「〇〇様」, "[first name]") for the gallery's cards."""
    words = _TAG_WORDS.get(language, _TAG_WORDS["en"])
    return _TAG.sub(lambda m: words.get(m.group(1), "…"), subject)


def _starter_or_404(language: str, key: str) -> gallery.Starter:
    item = gallery.starter(key, language) if language in gallery.LANGUAGES else None
    if item is None:
        abort(404)
    return item


@bp.get("/gallery")
def gallery_index() -> Any:
    """The gallery: every mail of the chosen language as a card with its thumbnail."""
    language = request.args.get("lang") or current_locale()
    if language not in gallery.LANGUAGES:
        language = "en"
    groups = [(CATEGORY_TITLES[c], [s for s in gallery.starters(language) if s.category == c])
              for c in gallery.CATEGORIES]
    return render_template("ui/playbooks/gallery.html", groups=groups, language=language,
                           languages=gallery.LANGUAGES, readable_subject=readable_subject)


# The route names the gallery's languages and keys, so a URL of anything else is a 404 before the view runs.
_LANGUAGES = ", ".join(gallery.LANGUAGES)
_KEYS = ", ".join(s.key for s in gallery.starters("en"))


@bp.get(f"/gallery/<any({_LANGUAGES}):language>/<any({_KEYS}):key>/preview")
def gallery_preview(language: str, key: str) -> Any:
    """One gallery mail as the account's brand kit draws it, with sample data in the mail's language (made
    and rolled back)."""
    item = _starter_or_404(language, key)
    svc = services()
    s = svc.db.session
    try:
        template = gallery.create_from_starter(s, svc.settings, item)
        assert template.current_version is not None
        rendered = render_preview(s, template.current_version, None, svc, language=language)
    except TemplateError as exc:  # a brand kit value the compiler refuses: say so instead of a broken frame
        return current_app.response_class(_(str(exc)), status=400, mimetype="text/plain")
    finally:
        s.rollback()  # a look is not a template: nothing is kept
    response = current_app.response_class(rendered.html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post(f"/gallery/<any({_LANGUAGES}):language>/<any({_KEYS}):key>")
def gallery_use(language: str, key: str) -> Any:
    """Create a template from a gallery mail and open it in the block editor."""
    item = _starter_or_404(language, key)
    svc = services()
    s = svc.db.session
    try:
        template = gallery.create_from_starter(s, svc.settings, item)
    except TemplateError as exc:
        s.rollback()
        flash(_(str(exc)), "error")
        return redirect(url_for("templates.gallery_index", lang=language))
    s.commit()
    flash(_("Template “%(name)s” created from the gallery. Change the links and details, then save.",
            name=template.name), "success")
    return redirect(url_for("templates.edit", template_id=template.id))
