"""Stored XSS: hostile text in contact fields, template names, user agents, referrers, form inputs and
bounce texts is escaped on every page that shows it. The pages are enumerated from the URL map (new
pages are crawled automatically) and visited with the ids of the seeded objects; every HTML page has
a Content-Security-Policy without inline scripts; mail previews render in a sandboxed iframe."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from campaigns.links import TokenKind
from tests.security_helpers import MARKERS, XSS, seed_objects

ESCAPED = ("&lt;script&gt;alert(", "&#34;&gt;&lt;img src=x onerror", "&lt;svg onload")
_PARAM = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


@pytest.fixture
def hostile(services: Any) -> dict[str, int]:
    ids = seed_objects(services, XSS)
    ids.update(import_id=1, message_id=1)
    return ids


def _pages(app: Flask, ids: dict[str, int]) -> list[str]:
    """Every GET URL of the UI and public pages, filled with the seeded objects' ids."""
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.rule.startswith(("/static", "/api/", "/t/")):
            continue

        def fill(match: re.Match[str]) -> str:
            name = match.group(2)
            if name == "slug":
                return "seed-form"
            if name in ids:
                return str(ids[name])
            return "1" if match.group(1) == "int" else "x1"

        urls.append(_PARAM.sub(fill, rule.rule))
    return sorted(set(urls))


def _check_page(url: str, resp: Any) -> bool:
    """Assert the page is safe; True when it showed the hostile text (escaped)."""
    body = resp.get_data(as_text=True)
    assert resp.status_code < 500, f"{url}: {resp.status_code}"
    if resp.mimetype == "text/html":
        for marker in MARKERS:
            assert marker not in body, f"{url} shows unescaped {marker!r}"
        csp = resp.headers.get("Content-Security-Policy", "")
        assert csp, f"{url} has no Content-Security-Policy"
        script_src = re.search(r"script-src ([^;]*)", csp)
        default_src = re.search(r"default-src ([^;]*)", csp)
        policy = (script_src or default_src)
        assert policy is not None and "unsafe-inline" not in policy.group(1), f"{url}: inline scripts allowed: {csp}"
    else:
        # Anything else is data a browser does not render as a page (the UI's scripts insert it as text)
        # (and the website snippet /w/nurture.js, a script whose settings are JSON-encoded into it)
        assert resp.mimetype in ("application/json", "text/csv", "text/plain", "image/gif", "text/javascript"), \
            f"{url}: {resp.mimetype}"
        if resp.mimetype == "text/javascript":
            for marker in MARKERS:
                assert marker not in body, f"{url} carries {marker!r} into a script"
        assert resp.headers.get("X-Content-Type-Options") == "nosniff", url
    return any(e in body for e in ESCAPED)


def test_hostile_text_is_escaped_on_every_ui_page(app: Flask, ui: Any, hostile: dict[str, int]) -> None:
    shown_on = []
    pages = _pages(app, hostile)
    for url in pages:
        if url.startswith("/f/") or url == "/login":
            continue
        resp = ui.get(url)
        if _check_page(url, resp):
            shown_on.append(url)
    # the payloads really were displayed (escaped) where an attacker would want them
    for expected in ("/contacts/1", "/templates/", "/broadcasts/1", "/sequences/1", "/contacts/suppressions",
                     "/reports/contacts/1"):
        assert expected in shown_on, f"{expected} did not show the seeded text at all: {shown_on}"
    assert len(shown_on) >= 12, shown_on


def test_public_pages_escape_hostile_text(app: Flask, client: Any, services: Any, hostile: dict[str, int]) -> None:
    contact_id = hostile["contact_id"]
    urls = [u for u in _pages(app, hostile) if u.startswith("/f/")]
    urls += [services.urls.preferences(contact_id), services.urls.unsubscribe(contact_id, hostile["send_id"])]
    shown = 0
    for url in urls:
        path = url.replace(services.settings.base_url, "")
        resp = client.get(path)
        shown += _check_page(path, resp)
    assert shown >= 1  # the preference page lists the (hostile) sequence name
    assert services.signer.verify(services.urls.preferences(contact_id).rsplit("/", 1)[-1], TokenKind.PREFERENCES)


def test_error_and_flash_messages_escape_their_input(ui: Any, hostile: dict[str, int]) -> None:
    resp = ui.get("/no/such/" + '"><script>alert("xss-1")</script>')
    _check_page("404", resp)
    resp = ui.post("/contacts/new", {"email": XSS, "first_name": XSS}, page="/contacts/new", follow_redirects=True)
    _check_page("/contacts/new", resp)
    resp = ui.get("/contacts/?q=" + XSS)
    assert _check_page("/contacts/?q=", resp)


def test_mail_previews_render_in_a_sandboxed_iframe(ui: Any, hostile: dict[str, int]) -> None:
    page = ui.get(f"/templates/{hostile['template_id']}").get_data(as_text=True)
    frames = re.findall(r"<iframe[^>]*>", page)
    assert frames, "no preview iframe on the template editor"
    for frame in frames:
        sandbox = re.search(r'\ssandbox(?:="([^"]*)")?', frame)
        assert sandbox is not None, frame
        allowed = (sandbox.group(1) or "").split()
        # scripts together with same-origin would let the mail reach the editor's cookies and DOM
        assert not {"allow-scripts", "allow-same-origin"} <= set(allowed), frame
    preview = ui.get(f"/templates/{hostile['template_id']}/versions/{hostile['version_id']}/preview"
                     f"?contact={hostile['contact_id']}")
    assert preview.status_code == 200
    csp = preview.headers["Content-Security-Policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp
    for marker in MARKERS:  # the contact's hostile company name is escaped inside the mail too
        assert marker not in preview.get_data(as_text=True)
