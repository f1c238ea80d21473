"""UI sessions end on the server: logout ends the session behind the cookie (a copy of the cookie stops
working), "log out everywhere" ends every session of the user, a password change ends every other
session and keeps the one that made it, and sessions end after their idle and absolute lifetimes
(campaigns/views/auth.py, campaigns/users.py; the clock is moved through auth.clock)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from campaigns.views import auth
from tests.conftest import USER_EMAIL, USER_PASSWORD, csrf_from

HOUR = 3600.0


def _login(app: Flask, addr: str = "127.0.0.1", password: str = USER_PASSWORD) -> FlaskClient:
    client = app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    resp = client.post("/login", data={"email": USER_EMAIL, "password": password, "csrf_token": token},
                       environ_base={"REMOTE_ADDR": addr})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return client


def _logged_in(client: FlaskClient) -> bool:
    resp = client.get("/contacts/")
    if resp.status_code == 200:
        return True
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    return False


def _copy(app: Flask, client: FlaskClient) -> FlaskClient:
    """Another browser holding a copy of `client`'s session cookie (stolen, or synced to another device)."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("session", cookie.value)
    return thief


def _post(client: FlaskClient, url: str, data: dict[str, str] | None = None) -> Any:
    token = csrf_from(client.get("/account/").get_data(as_text=True))
    return client.post(url, data={**(data or {}), "csrf_token": token})


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The sessions' clock, moved by the test: now[0] is the time auth.clock() answers."""
    now = [time.time()]
    monkeypatch.setattr(auth, "clock", lambda: now[0], raising=False)
    return now


def test_a_copied_cookie_stops_working_after_logout(app: Flask, user: Any) -> None:
    browser, phone = _login(app, "10.0.0.1"), _login(app, "10.0.0.2")
    copy = _copy(app, browser)
    assert _logged_in(browser) and _logged_in(copy)
    resp = _post(browser, "/logout")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert not _logged_in(browser)
    assert not _logged_in(copy)  # the cookie still carries its signature; the server ended the session
    assert _logged_in(phone)  # logout ends this session only, not the user's others


def test_log_out_everywhere_ends_every_session(app: Flask, user: Any) -> None:
    laptop, phone, tablet = (_login(app, f"10.0.0.{i}") for i in (1, 2, 3))
    copy = _copy(app, phone)
    assert all(_logged_in(c) for c in (laptop, phone, tablet, copy))
    resp = _post(laptop, "/account/logout-everywhere")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert not any(_logged_in(c) for c in (laptop, phone, tablet, copy))
    assert _logged_in(_login(app, "10.0.0.4"))  # the password still works: a new session begins


def test_a_password_change_ends_every_other_session_and_keeps_this_one(app: Flask, user: Any) -> None:
    mine, other = _login(app, "10.0.0.1"), _login(app, "10.0.0.2")
    before_change = _copy(app, mine)  # a copy of this browser's cookie taken before the change
    resp = _post(mine, "/account/password", {"current_password": USER_PASSWORD, "new_password": "a new long passphrase",
                                             "confirm_password": "a new long passphrase"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/account/")
    page = mine.get("/account/").get_data(as_text=True)
    assert "Every other session has been logged out." in page and "Logged in on this browser only." in page
    assert _logged_in(mine)
    assert not _logged_in(other)
    assert not _logged_in(before_change)  # the browser that changed it got a new session id
    login_page = app.test_client()
    token = csrf_from(login_page.get("/login").get_data(as_text=True))
    refused = login_page.post("/login", data={"email": USER_EMAIL, "password": USER_PASSWORD, "csrf_token": token})
    assert refused.status_code == 401
    assert _logged_in(_login(app, "10.0.0.3", "a new long passphrase"))


def test_a_session_ends_after_its_idle_lifetime(app: Flask, user: Any, clock: list[float]) -> None:
    browser = _login(app)
    for _ in range(3):  # used every 11 hours: the 12-hour idle limit counts from the last request
        clock[0] += 11 * HOUR
        assert _logged_in(browser)
    copy = _copy(app, browser)
    clock[0] += 12 * HOUR + 120
    assert not _logged_in(browser)
    assert not _logged_in(copy)


def test_a_session_ends_after_its_absolute_lifetime_however_busy(app: Flask, user: Any, clock: list[float]) -> None:
    browser = _login(app)
    start = clock[0]
    while clock[0] < start + 7 * 24 * HOUR - 2 * HOUR:
        clock[0] += 2 * HOUR
        assert _logged_in(browser), (clock[0] - start) / HOUR
    clock[0] = start + 7 * 24 * HOUR + 60
    assert not _logged_in(browser)
    assert _logged_in(_login(app))  # logging in again starts a new week


def test_the_lifetimes_follow_the_settings(app_overrides: dict[str, Any], app: Flask, user: Any,
                                          clock: list[float]) -> None:
    """SESSION_IDLE_MINUTES=30 and SESSION_MAX_HOURS=2, as an operator would set them."""
    from wsgi import create_app

    short = create_app({**app_overrides, "session_idle_minutes": 30, "session_max_hours": 2})
    try:
        start = clock[0]
        idle, busy = _login(short, "10.0.0.1"), _login(short, "10.0.0.2")
        clock[0] = start + 25 * 60
        assert _logged_in(busy)
        clock[0] = start + 35 * 60  # 35 minutes without a request
        assert not _logged_in(idle) and _logged_in(busy)
        for minutes in (60, 85, 110):
            clock[0] = start + minutes * 60
            assert _logged_in(busy), minutes
        clock[0] = start + 125 * 60  # used 15 minutes ago, but logged in over two hours ago
        assert not _logged_in(busy)
        cookie = _login(short, "10.0.0.3").get_cookie("session")
        assert cookie is not None and cookie.expires is not None
        assert cookie.expires.timestamp() - time.time() <= 2 * HOUR + 60  # the browser forgets it too
    finally:
        short.extensions["nurture"].db.dispose()
        short.extensions["nurture"].redis.close()
