"""Helpers for the browser tests: the real app served on a loopback port, and a headless Chromium page
(optionally logged in) that records script errors and CSP violations."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask
from werkzeug.serving import make_server

from tests.conftest import free_port


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


def sideways(page: Any) -> int:
    """How far (CSS px) a page scrolls sideways: 0 when it fits its viewport (the 390 px checks)."""
    return int(page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth"))
