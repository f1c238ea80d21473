"""The save-time trial of a compiled version renders its Jinja tags without the text around them only when that
is the same template: it refuses exactly what the trial of the whole source refuses, with the same message."""

from __future__ import annotations

from typing import Any

import pytest

from campaigns.delivery import block_mails
from campaigns.delivery.rendering import (
    _HTML_ENV,
    _TEXT_ENV,
    TemplateError,
    _jinja_skeleton,
    _trial_compiled,
    _validate,
)
from tests.sending_helpers import setup_account

SHELL = '<table role="presentation"><tr><td style="font-size:0px;">{}</td></tr></table>' * 3

SOURCES = [
    "<p>{{ contact.first_name | default('there') }}</p>" + SHELL,
    "{{ contact.__class__ }}" + SHELL,  # the sandbox refuses it
    "{% if account.postal_address %}{{ account.postal_address }}{% endif %}" + SHELL,
    "{% for i in range(3) %}{{ i }}{% endfor %}" + SHELL,  # a loop: the whole source is tried
    "{{ 'x' * 99999 }}" * 45,  # longer than a mail may be
    "{{ '}}' }}<p>{{ '}}' }}</p>",  # a "}}" inside a string: the pattern would cut the tag short
    "<p>{</p>{% if true %}x{% endif %}",
    "<p>{{% if true %}x{% endif %}",  # "{" just before "{%": Jinja opens a tag at the "{"
    "<p>{{{ contact.email }}</p>",
    "{% raw %}{{ not jinja }}{% endraw %}",
    "{{ contact.first_name }",  # never closed
    "<p>{{ contact.first_name | nosuchfilter }}</p>",
    "{{ nurture_trial_text }}",
    "{% if %}{% endif %}",
    "{{ 1 / 0 }} {{ contact.__class__ }}",  # a data error first: not a reason to refuse (as before)
]


def _verdict(check: Any, source: str, env: Any) -> str:
    try:
        check(source, "HTML", env)
    except TemplateError as exc:
        return str(exc)
    return "ok"


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("env", [_HTML_ENV, _TEXT_ENV], ids=["html", "text"])
def test_the_tags_alone_give_the_verdict_of_the_whole_source(source: str, env: Any) -> None:
    assert _verdict(_trial_compiled, source, env) == _verdict(_validate, source, env)


def test_the_skeleton_is_used_only_when_jinja_reads_the_same_tags() -> None:
    skeleton = _jinja_skeleton(SOURCES[0], _HTML_ENV)
    assert skeleton is not None
    source, text = skeleton
    assert source == "{{ nurture_trial_text }}{{ contact.first_name | default('there') }}"
    assert text >= len(SOURCES[0]) - len("{{ contact.first_name | default('there') }}")
    assert _jinja_skeleton("{{ '}}' }}<p>x</p>", _HTML_ENV) is None
    assert _jinja_skeleton("<p>{</p>{% if true %}x{% endif %}", _HTML_ENV) is not None
    assert _jinja_skeleton("<p>{{% if true %}x{% endif %}", _HTML_ENV) is None
    assert _jinja_skeleton("{% raw %}{{ x }}{% endraw %}", _HTML_ENV) is None
    assert _jinja_skeleton("{{ nurture_trial_text }}", _HTML_ENV) is None


def test_a_block_mail_whose_merge_tag_cannot_render_is_refused_at_save(services: Any) -> None:
    with services.db.begin() as s:
        setup_account(s)
        for tag in ('{{ "x" * 200000 }}', "{{ range(3) }}"):  # too long; a list shown as text
            with pytest.raises(TemplateError, match=r"^HTML[^:]*: not allowed in templates"):
                block_mails.create_block_template(s, services.settings, "x", subject="s",
                                                  document={"blocks": [{"type": "heading", "text": tag}]})
