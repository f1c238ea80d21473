"""Template injection: a corpus of known Jinja2 sandbox escapes, entered where a marketer (or a stolen
marketer session, or an API key) can put template source — the template editor, the live preview, the
API — and rendered for real recipients through the sender. Each yields an error or nothing, never a
secret: SECRET_KEY is in the environment and in the app's config, and must never appear anywhere."""

from __future__ import annotations

import sys
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from campaigns.delivery import rendering
from campaigns.delivery.sending import deliver_batch
from tests.factories import make_contacts
from tests.sending_helpers import plan_sends

SECRET = "s3cr3t-KEY-that-must-never-leak-8f1e2d"

# Known ways out of a Jinja2 sandbox (CVE-2016-10745, CVE-2019-10906, CVE-2024-56326, CVE-2025-27516 and
# the usual SSTI cheat-sheet), plus resource exhaustion.
CORPUS = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''.__class__.__mro__[-1].__subclasses__()[40]('/etc/passwd').read() }}",
    "{{ ().__class__.__bases__[0].__subclasses__() }}",
    "{{ [].__class__.__base__.__subclasses__() }}",
    "{{ contact.__class__.__init__.__globals__ }}",
    "{{ ''|attr('__class__')|attr('__mro__') }}",
    "{{ ''|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
    "{{ (''|attr('format'))('{0.__class__.__mro__}', '') }}",
    "{{ '{0.__class__.__init__.__globals__}'.format(contact) }}",
    "{{ '{0.__class__}'.format_map({'0': contact}) }}",
    "{{ '%s'|format(config) }}",
    "{{ '{0[SECRET_KEY]}'.format(config) }}",
    "{{ config }}", "{{ config.SECRET_KEY }}", "{{ config.items() }}",
    "{{ self }}", "{{ self._TemplateReference__context }}", "{{ self.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.environ }}", "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__.os.popen('id').read() }}",
    "{{ lipsum.__globals__['os'].environ['SECRET_KEY'] }}", "{{ lipsum(100000) }}",
    "{{ request.application.__globals__.__builtins__.__import__('os').environ }}",
    "{{ request.environ }}", "{{ g }}", "{{ session }}", "{{ url_for.__globals__ }}",
    "{{ get_flashed_messages.__globals__ }}",
    "{{ environment }}", "{{ self.environment.globals }}", "{{ range.__self__ }}",
    "{{ dict.__base__.__subclasses__() }}", "{{ account.__class__.__dict__ }}",
    "{{ contact.attributes.__class__.__dict__ }}", "{{ contact.attributes.update({'x': 1}) }}",
    "{{ range(10**9)|list }}", "{{ 'a' * 100000000 }}", "{{ 9 ** 100000 }}",
    "{{ '%c%c%c%c%c%c%c%c%c'|format(95,95,99,108,97,115,115,95,95) }}",
    "{{ (contact|attr('__class__')) }}", "{% set x = ''.__class__ %}{{ x }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ {}.__class__.__subclasses__() }}", "{{ ''.join.__self__ }}", "{{ (1).__class__.__subclasses__() }}",
    "{% include '/etc/passwd' %}", "{% import 'os' as os %}", "{% extends '../../wsgi.py' %}",
    "{{ contact.email.__len__.__self__ }}", "{{ unsubscribe_url.__class__.__mro__ }}",
]
LEAK_SIGNS = [SECRET, "<class '", "__globals__", "<module ", "root:x:0", "environ(", "<Config", "<built-in",
              "uid=", "subprocess"]


@pytest.fixture
def app_overrides(app_overrides: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("SECRET_KEY", SECRET)
    return {**app_overrides, "secret_key": SECRET}


def _no_leak(where: str, text: str, payload: str = "") -> None:
    """No secret and no sign of Python internals, except words the (echoed) payload itself contains."""
    for sign in [SECRET] + [s for s in LEAK_SIGNS if s not in payload]:
        assert sign not in text, f"{where} leaked {sign!r}: {text[:300]}"


def test_jinja2_is_at_least_3_1_6_and_pyproject_requires_it() -> None:
    assert Version(installed_version("jinja2")) >= Version("3.1.6")
    import tomllib

    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    reqs = [Requirement(r) for r in pyproject["project"]["dependencies"]]
    jinja = next(r for r in reqs if r.name.lower() == "jinja2")
    assert not jinja.specifier.contains("3.1.5") and jinja.specifier.contains("3.1.6")


@pytest.mark.parametrize("payload", CORPUS)
def test_sandbox_escape_yields_an_error_or_nothing(monkeypatch: pytest.MonkeyPatch, payload: str) -> None:
    monkeypatch.setenv("SECRET_KEY", SECRET)
    for env, part in ((rendering._HTML_ENV, "html"), (rendering._TEXT_ENV, "text")):
        try:
            out = env.from_string(payload).render(
                contact={"email": "a@example.com", "attributes": {}}, account={}, unsubscribe_url="u")
        except Exception as exc:  # noqa: BLE001  (an error is an acceptable outcome; its text must not leak)
            _no_leak(f"{part} error", str(exc))
        else:
            _no_leak(f"{part} output", out)


def test_corpus_through_editor_preview_api_and_real_sends(services: Any, ui: Any, client: Any, api_key: str,
                                                          smtp_server: Any) -> None:
    saved_versions = []
    for i, payload in enumerate(CORPUS):
        html = f"<p>Hi {{{{ contact.first_name }}}}</p><p>{payload}</p>"
        # 1. save through the model service (what the editor and API call)
        try:
            with services.db.begin() as s:
                template = rendering.create_template(s, f"t{i}", subject=f"S {payload}"[:300], html_source=html)
                saved_versions.append(template.current_version_id)
        except rendering.TemplateError as exc:
            _no_leak("save error", str(exc), payload)
        # 2. the editor's live preview
        resp = ui.post("/templates/preview", {"subject": payload, "html_source": html, "text_source": payload},
                       page="/templates/new")
        _no_leak("live preview", resp.get_data(as_text=True), payload)
        # 3. the API
        resp = client.post("/api/v1/templates", json={"name": f"api{i}", "subject": payload, "html_source": html},
                           headers={"Authorization": f"Bearer {api_key}"})
        assert resp.status_code < 500
        _no_leak("API", resp.get_data(as_text=True), payload)
    # 4. what did save is rendered for a real recipient and delivered over SMTP
    with services.db.begin() as s:
        contacts = make_contacts(s, 1)
        from campaigns.models import TemplateVersion

        ids = []
        for vid in saved_versions:
            ids += plan_sends(s, s.get(TemplateVersion, vid), contacts)
    if ids:
        counts = deliver_batch(services, ids)
        assert counts.get("sent", 0) + counts.get("failed", 0) == len(ids)
        for mail in smtp_server.wait_for(counts.get("sent", 0)):
            _no_leak("delivered mail", mail.raw.decode("utf-8", "replace"))
            _no_leak("delivered mail (decoded)", "".join(
                p.get_content() for p in mail.message.walk() if p.get_content_maintype() == "text"))
    with services.db.begin() as s:
        from sqlalchemy import select

        from campaigns.models import Send

        for error in s.scalars(select(Send.error)):
            _no_leak("send error", error)


@pytest.mark.parametrize("tag", ["{% include 'x' %}", "{% import 'os' as os %}", "{% from 'x' import y %}",
                                 "{% extends 'base.html' %}"])
def test_loader_tags_are_refused_at_save_time(services: Any, tag: str) -> None:
    """Mail templates have no loader; an extends that parses alone would break the compiled form of the mail."""
    with services.db.begin() as s, pytest.raises(rendering.TemplateError, match="not allowed"):
        rendering.create_template(s, "t", subject="s", html_source=f"{tag}<p>x</p>")


def test_resource_exhaustion_is_refused(services: Any) -> None:
    for source in ("{{ 'a' * 100000000 }}", "{{ 100000000 * 'ab' }}", "{{ 9 ** 100000 }}"):
        with services.db.begin() as s, pytest.raises(rendering.TemplateError, match="not allowed"):
            rendering.create_template(s, "t", subject="s", html_source=f"<p>{source}</p>")
    with services.db.begin() as s:  # ordinary arithmetic and short repetition still work
        rendering.create_template(s, "ok", subject="{{ '-' * 10 }}", html_source="<p>{{ 2 ** 10 }}</p>")


@pytest.mark.parametrize("loops", [
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% set s = 'x' * 90000 %}{% for a in s %}{% for b in s %}{{ '' }}{% endfor %}{% endfor %}",
])
def test_a_template_that_would_loop_for_hours_is_refused_at_save_and_in_preview(services: Any, ui: Any,
                                                                                loops: str) -> None:
    # Billions of iterations: without the trial render's time budget the save would not return.
    with services.db.begin() as s, pytest.raises(rendering.TemplateError, match="takes too long to render"):
        rendering.create_template(s, "slow", subject="s", html_source=f"<p>{loops}</p>")
    resp = ui.post("/templates/preview", {"subject": "s", "html_source": f"<p>{loops}</p>", "text_source": ""},
                   page="/templates/new")
    assert resp.status_code < 500 and "takes too long to render" in resp.get_data(as_text=True)
    with services.db.begin() as s:  # loops of ordinary size still save, and the tracer is gone afterwards
        rendering.create_template(s, "fine", subject="s",
                                  html_source="<p>{% for i in range(200) %}{{ i }} {% endfor %}</p>")
    assert sys.gettrace() is None
