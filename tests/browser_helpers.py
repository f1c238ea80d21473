"""Helpers for the builder UI tests (templates, sequences, broadcasts) and the browser test."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask
from werkzeug.serving import make_server

from tests.conftest import free_port

HTML = """<html><head><style>.cta { color: #ff0000; font-weight: bold; }</style></head>
<body><p>Hello {{ contact.first_name | default("there") }} from {{ contact.company | default("your company") }}</p>
<p><a class="cta" href="https://acme.test/whitepaper">Get the whitepaper</a></p>
<p><a href="https://acme.test/pricing">Pricing</a></p></body></html>"""


def make_template(services: Any, name: str = "Welcome", subject: str = "Hi {{ contact.first_name }}",
                  html: str = HTML) -> int:
    """Create a template with one compiled version through the rendering service; returns its id."""
    from campaigns.delivery.rendering import create_template

    with services.db.begin() as s:
        return create_template(s, name, subject=subject, html_source=html).id


def make_contact(services: Any, email: str, first_name: str = "", **extra: Any) -> int:
    """Insert one active contact directly (UI tests need a few, not the import machinery)."""
    from campaigns.models import Contact

    with services.db.begin() as s:
        contact = Contact(email=email, first_name=first_name, **extra)
        s.add(contact)
        s.flush()
        return contact.id


class LiveServer:
    """The real app served by werkzeug in a thread on a free loopback port (browser tests)."""

    def __init__(self, app: Flask) -> None:
        self.port = free_port()
        self.server = make_server("127.0.0.1", self.port, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)


@contextmanager
def live_server(app: Flask) -> Iterator[LiveServer]:
    """Serve the app for the duration of the block."""
    server = LiveServer(app)
    server.start()
    try:
        yield server
    finally:
        server.stop()


CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


@dataclass
class BrowserSession:
    server: LiveServer
    page: Any
    problems: list[str]  # script errors and CSP violations seen by the page (a missing favicon does not count)


@contextmanager
def open_page(app: Flask, **context_options: Any) -> Iterator[BrowserSession]:
    """Serve the app, open a page in headless Chromium (Playwright context options: viewport, locale, extra
    headers) that records script errors and CSP violations, and close everything afterwards."""
    from playwright.sync_api import sync_playwright

    with live_server(app) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(**context_options)
        context.set_default_timeout(15_000)
        page = context.new_page()
        problems: list[str] = []
        # A failed load is not counted: a missing favicon, or a preview that answers 400 on purpose.
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("console", lambda m: problems.append(m.text)
                if m.type == "error" and "Failed to load resource" not in m.text else None)
        try:
            yield BrowserSession(server, page, problems)
        finally:
            context.close()
            browser.close()


@contextmanager
def logged_in_page(app: Flask, email: str, password: str) -> Iterator[BrowserSession]:
    """Serve the app, open headless Chromium, log in through the form, and close everything afterwards."""
    with open_page(app) as session:
        page, url = session.page, session.server.url
        page.goto(url + "/login")
        page.fill("#email", email)
        page.fill("#password", password)
        page.click("main button[type=submit]")
        page.wait_for_url(url + "/")
        yield session
