"""Only BASE_URL's host (and the TRUSTED_HOSTS setting) is served. Redirects the framework builds itself
(the trailing-slash 308 of /contacts -> /contacts/) take their host from the request: with any Host header
accepted, a poisoned cache or a crafted link would send visitors to an attacker's site. Any other Host
header, direct or through a trusted proxy's X-Forwarded-Host, gets 400 before any hook or view runs."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from campaigns.config import Settings
from tests.conftest import USER_EMAIL, USER_PASSWORD, csrf_from

BASE = "http://nurture.test"  # the tests' BASE_URL (tests/conftest.py)
EVIL = "evil.test"


def test_the_trailing_slash_redirect_stays_on_base_url_s_host(client: Any) -> None:
    resp = client.get("/contacts", base_url=BASE)
    assert resp.status_code == 308
    assert resp.headers["Location"] in ("http://nurture.test/contacts/", "/contacts/")
    # tracking links and hosted forms are served there too (the view answers, not the host check)
    assert client.get("/t/test-link", base_url=BASE).status_code == 200
    assert client.get("/f/no-such-form", base_url=BASE).status_code == 404
    # and nowhere else: the same request for another host is not redirected at all
    resp = client.get("/contacts", base_url=f"http://{EVIL}")
    assert resp.status_code == 400 and "Location" not in resp.headers


@pytest.mark.parametrize("path", ["/contacts", "/contacts/", "/login", "/", "/api/v1/contacts", "/f/some-form",
                                  "/t/test-link", "/static/app.css", "/no-such-page"])
@pytest.mark.parametrize("host", [EVIL, f"{EVIL}:80", "nurture.test.evil.test", "evil.test:8000"])
def test_another_host_gets_400_and_no_redirect(client: Any, path: str, host: str) -> None:
    resp = client.get(path, headers={"Host": host})
    assert resp.status_code == 400, (path, host, resp.status_code)
    assert "Location" not in resp.headers
    assert EVIL not in resp.get_data(as_text=True)


def test_the_unknown_host_answer_is_in_the_visitor_s_language(client: Any) -> None:
    resp = client.get("/login", headers={"Host": EVIL, "Accept-Language": "ja"})
    assert resp.status_code == 400 and resp.get_data(as_text=True) == "不明なホスト名です。"


@pytest.fixture
def app_overrides(app_overrides: dict[str, Any]) -> dict[str, Any]:
    # Behind one reverse proxy, with a second public name for the same installation.
    return {**app_overrides, "proxy_hops": 1, "trusted_hosts": f"{app_overrides['trusted_hosts']}, mail.acme.test"}


def test_a_forwarded_host_is_checked_like_a_host_header(client: Any) -> None:
    resp = client.get("/contacts", headers={"X-Forwarded-Host": EVIL, "X-Forwarded-Proto": "https"}, base_url=BASE)
    assert resp.status_code == 400 and "Location" not in resp.headers
    resp = client.get("/contacts", headers={"X-Forwarded-Host": "nurture.test", "X-Forwarded-Proto": "https"},
                      base_url=BASE)
    assert resp.status_code == 308 and resp.headers["Location"] in ("https://nurture.test/contacts/", "/contacts/")


def test_trusted_hosts_adds_names_to_the_one_of_base_url(app: Flask, client: Any, user: Any) -> None:
    assert client.get("/login", base_url="http://other.acme.test").status_code == 400
    page = client.get("/login", base_url="http://mail.acme.test")
    assert page.status_code == 200
    resp = client.post("/login", base_url="http://mail.acme.test", data={
        "email": USER_EMAIL, "password": USER_PASSWORD, "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert resp.status_code == 302
    assert client.get("/contacts", base_url="http://mail.acme.test").headers["Location"] in (
        "http://mail.acme.test/contacts/", "/contacts/")


def test_served_hosts_are_base_url_s_the_setting_s_and_loopback_only_for_a_laptop() -> None:
    public = Settings(base_url="https://mail.acme.co.jp/", trusted_hosts=" Alt.acme.co.jp ,.cdn.acme.co.jp")
    assert public.served_hosts == ["mail.acme.co.jp", "alt.acme.co.jp", ".cdn.acme.co.jp"]
    laptop = Settings(base_url="http://127.0.0.1:8000")
    assert laptop.served_hosts == ["127.0.0.1", "localhost"]
