"""Previews call nothing outside: the template editor's preview of a saved version is served under a policy
that allows inline styles and images from the app itself or data: URLs only, so a previewed mail cannot make
the marketer's browser fetch a remote image (a look reaching the image host, or another sender's pixel in
pasted HTML counting it as an open). The live preview's frame (srcdoc) inherits the editor page's policy.
Checked on the header and in headless Chromium against a listener that counts connection attempts."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from campaigns.delivery import rendering
from tests.browser_helpers import logged_in_page
from tests.conftest import USER_EMAIL, USER_PASSWORD


def _saved_version(services: Any, html: str) -> tuple[int, int]:
    with services.db.begin() as s:
        template = rendering.create_template(s, "remote images", subject="Hello", html_source=html)
        assert template.current_version_id is not None
        return template.id, template.current_version_id


def test_the_version_preview_allows_no_remote_fetch(services: Any, ui: Any) -> None:
    template_id, version_id = _saved_version(services, '<p><img src="https://images.example.net/a.png" alt=""></p>')
    for part in ("", "?part=text"):
        resp = ui.get(f"/templates/{template_id}/versions/{version_id}/preview{part}")
        assert resp.status_code == 200
        policy = {d.split()[0]: d.split()[1:] for d in resp.headers["Content-Security-Policy"].split("; ")}
        assert policy["default-src"] == ["'none'"]
        assert policy["img-src"] == ["'self'", "data:"]
        assert set(policy["font-src"]) <= {"'self'", "data:"}
        assert "script-src" not in policy and "sandbox" in policy
        assert "https:" not in resp.headers["Content-Security-Policy"]


class _Listener:
    """A TCP listener on loopback that counts connection attempts and closes each at once (a remote host)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="remote-image-listener")

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def __enter__(self) -> _Listener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def remote_host() -> Iterator[_Listener]:
    with _Listener() as listener:
        yield listener


@pytest.mark.browser
def test_previews_in_chromium_do_not_fetch_remote_images(app: Any, services: Any, user: Any,
                                                          remote_host: _Listener) -> None:
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian chromium is not installed")
    remote = f"https://127.0.0.1:{remote_host.port}"
    html = (f'<p>Hello</p><p><img src="{remote}/pixel.png" alt="" width="1" height="1">'
            f'<span style="background-image:url({remote}/bg.png)">x</span></p>')
    template_id, version_id = _saved_version(services, html)
    with logged_in_page(app, USER_EMAIL, USER_PASSWORD) as session:
        page, base = session.page, session.server.url
        # the saved version's preview, as the editor's frame and the history's "View" link load it
        page.goto(f"{base}/templates/{template_id}/versions/{version_id}/preview")
        page.wait_for_load_state("load")
        assert "Hello" in page.content()
        # the live preview: the draft's HTML in the editor's srcdoc frame
        page.goto(f"{base}/templates/{template_id}")
        page.fill("textarea[name=html_source]", html.replace("Hello", "Hello again"))
        for _ in range(150):  # the preview is posted 350 ms after the last keystroke
            if "Hello again" in (page.locator("#preview-frame").get_attribute("srcdoc") or ""):
                break
            page.wait_for_timeout(100)
        else:
            raise AssertionError("the live preview did not show the draft")
        page.wait_for_timeout(1000)  # the frame has loaded: a request the policy let go would have been made
    assert remote_host.connections == 0
