"""The text rule (campaigns.text) in the web UI: editors show a refused value as a form error on its
field; every other form post of the UI is checked as a whole before its view runs.

- `CheckedForm`: a FlaskForm whose text fields also pass the rule (StringField one line, TextAreaField
  several), so the contact and template editors say which field is wrong and keep what was typed.
- `field_errors`: the same for views that read `request.form` themselves (broadcasts, sequences, segments).
- `checks_own_text(*fields)` marks a view that checks those fields itself; `install_text_guard` answers
  400 with the reason for any other field of a UI form post that breaks the rule, so a NUL typed into a
  settings or scoring form is a clear error, never a database error (PostgreSQL text refuses NUL).
- `TextResponse`, the app's response class: text stored before the rule existed (a SQLite JSON value
  with "\\ud800") is encoded by campaigns.text.encode_output, so a page that shows it cannot fail.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from flask import Flask, Response, render_template, request
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField

from campaigns.i18n import _
from campaigns.text import TextError, displayable, encode_output, text_problem

F = TypeVar("F", bound=Callable[..., Any])


def problem_message(problem: TextError, label: str) -> str:
    """The problem in the UI's language, naming the field by its (translated) label."""
    return _(problem.template, **{**problem.params, "what": _(label)})


class CheckedForm(FlaskForm):
    """A FlaskForm whose string fields pass the text rule too (contact and template editors)."""

    def validate(self, extra_validators: Any = None) -> bool:
        """The fields' own validators, then the text rule on every text field (errors on the field)."""
        valid = super().validate(extra_validators)
        for field in self:
            if not isinstance(field, StringField) or not isinstance(field.data, str):
                continue
            problem = text_problem(field.data, field.name, multiline=isinstance(field, TextAreaField))
            if problem is not None:
                field.errors = [*field.errors, problem_message(problem, str(field.label.text))]
                valid = False
        return valid


def field_errors(form: Mapping[str, str], fields: Iterable[tuple[str, str, bool]]) -> dict[str, str]:
    """{field name: message} for each (name, label, multi-line) whose posted value breaks the text rule
    (views that parse request.form themselves)."""
    errors: dict[str, str] = {}
    for name, label, multiline in fields:
        problem = text_problem(form.get(name, ""), name, multiline=multiline)
        if problem is not None:
            errors[name] = problem_message(problem, label)
    return errors


def json_for_editor(value: Any) -> str:
    """A JSON value as the editors' text boxes show it: readable Japanese, but a string stored before the
    text rule keeps its \\u escape, so the marketer sees what the error names and saving cannot change it."""
    shown = json.dumps(value, ensure_ascii=False, indent=2)
    return shown if displayable(shown) == shown else json.dumps(value, indent=2)


def checks_own_text(*fields: str) -> Callable[[F], F]:
    """Mark a view that checks these posted fields itself (as form errors); the guard checks the rest.
    Put it under the route decorator. With no names the view checks every field it reads."""

    def mark(view: F) -> F:
        view.own_text_fields = frozenset(fields) or None  # type: ignore[attr-defined]
        return view

    return mark


def install_text_guard(app: Flask, blueprint_names: set[str]) -> None:
    """Refuse, with a 400 page naming the field, a UI form post whose fields break the text rule
    (campaigns.views.register_ui). Runs after the login and CSRF checks."""

    @app.before_request
    def _guard_text() -> Any:
        if request.method != "POST" or request.blueprint not in blueprint_names:
            return None
        view = app.view_functions.get(request.endpoint or "")
        if view is None:
            return None
        marked = hasattr(view, "own_text_fields")
        own: frozenset[str] | None = getattr(view, "own_text_fields", None)
        if marked and own is None:
            return None
        for name, value in request.form.items(multi=True):
            if own is not None and name in own:
                continue
            # multi-line is allowed here: which fields must be one line only their view knows
            problem = text_problem(name, "field name", multiline=False) or text_problem(value, name, multiline=True)
            if problem is not None:
                message = _("The form was not saved: %(problem)s. Go back, correct it and try again.",
                            problem=problem_message(problem, name))
                return render_template("ui/error.html", code=400, message=message), 400
        return None


class TextResponse(Response):
    """The app's response class (set by register_ui for the whole app): a str body is encoded by
    campaigns.text.encode_output, so a character UTF-8 cannot encode becomes U+FFFD instead of an error.
    The one place where text turns into bytes, whether a page, a JSON answer, a CSV or a preview."""

    def set_data(self, value: bytes | str) -> None:
        """Store the body; str is encoded by encode_output (werkzeug would raise on a broken character)."""
        super().set_data(encode_output(value) if isinstance(value, str) else value)

    def iter_encoded(self) -> Iterator[bytes]:
        """The streamed body, each str chunk encoded by encode_output."""
        return (encode_output(item) if isinstance(item, str) else item for item in self.response)
