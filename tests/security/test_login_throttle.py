"""The login throttle slows password guessing without locking the owner out: exponential backoff per
(account, address), per address and, for browsers that never logged in to the account, per account; a
browser that did is counted on its own; a correct password starts its address's counter again
(campaigns/users.py, campaigns/views/auth.py; the clock is moved through auth.clock)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from campaigns.views import auth
from tests.conftest import USER_EMAIL, USER_PASSWORD, csrf_from

ATTACKER = "198.51.100.7"
OWNER = "203.0.113.5"


def _try(client: FlaskClient, password: str, addr: str, email: str = USER_EMAIL) -> Any:
    token = csrf_from(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token},
                       environ_base={"REMOTE_ADDR": addr})


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The throttle's clock, moved by the test: now[0] is the time auth.clock() answers."""
    now = [time.time()]
    monkeypatch.setattr(auth, "clock", lambda: now[0], raising=False)
    return now


def test_an_attacker_is_slowed_while_the_owner_logs_in_from_elsewhere(app: Flask, user: Any,
                                                                     clock: list[float]) -> None:
    attacker = app.test_client()
    codes = [_try(attacker, f"guess-{i}", ATTACKER).status_code for i in range(40)]
    assert codes == [401] * 10 + [429] * 30  # from the 11th guess on, each one waits
    refused = _try(attacker, "guess-41", ATTACKER)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "Too many attempts. Try again in" in refused.get_data(as_text=True)
    # the owner, at the office, in a browser that never logged in before: let in at once
    owner = app.test_client()
    resp = _try(owner, USER_PASSWORD, OWNER)
    assert resp.status_code == 302
    assert owner.get("/contacts/").status_code == 200


def test_each_further_guess_waits_twice_as_long_up_to_a_cap_never_for_ever(app: Flask, user: Any,
                                                                          clock: list[float]) -> None:
    attacker = app.test_client()
    for i in range(10):
        assert _try(attacker, f"guess-{i}", ATTACKER).status_code == 401
    waits = []
    for i in range(14):
        refused = _try(attacker, "too soon", ATTACKER)
        assert refused.status_code == 429
        wait = int(refused.headers["Retry-After"])
        waits.append(wait)
        clock[0] += wait - 0.5
        assert _try(attacker, "still too soon", ATTACKER).status_code == 429  # refusals do not count
        clock[0] += 0.5
        assert _try(attacker, f"late guess {i}", ATTACKER).status_code == 401
    assert waits[:9] == [2, 4, 8, 16, 32, 64, 128, 256, 512]
    assert waits[9:] == [900] * 5  # capped at 15 minutes
    clock[0] += 900
    assert _try(attacker, USER_PASSWORD, ATTACKER).status_code == 302  # the right password, once the wait is over


def test_a_correct_password_starts_the_count_again_for_that_address(app: Flask, user: Any) -> None:
    owner = app.test_client()
    assert [_try(owner, f"typo {i}", OWNER).status_code for i in range(9)] == [401] * 9
    assert _try(owner, USER_PASSWORD, OWNER).status_code == 302
    later = app.test_client()  # another day: nine more typos in a new browser are free again
    assert [_try(later, f"typo {i}", OWNER).status_code for i in range(9)] == [401] * 9


def test_a_distributed_attack_cannot_hold_out_the_owners_browser(app: Flask, user: Any) -> None:
    from campaigns.users import create_user

    with app.extensions["nurture"].db.begin() as s:
        create_user(s, "colleague@acme.test", "colleague password 1")
    owner, colleague = app.test_client(), app.test_client()
    assert _try(owner, USER_PASSWORD, OWNER).status_code == 302  # this browser has logged in before
    assert _try(colleague, "colleague password 1", OWNER, "colleague@acme.test").status_code == 302
    token = csrf_from(owner.get("/").get_data(as_text=True))
    owner.post("/logout", data={"csrf_token": token})
    # one guess from each of 25 addresses: the account's own counter slows the ones after the 20th
    codes = [_try(app.test_client(), f"guess-{i}", f"198.51.100.{i}").status_code for i in range(25)]
    assert codes[:20] == [401] * 20 and codes[20:] == [429] * 5
    # a browser that never logged in to the account waits like the attackers (docs/security.md) ...
    assert _try(app.test_client(), USER_PASSWORD, "192.0.2.9").status_code == 429
    # ... and so does one known for another account, or with a device cookie we did not sign
    assert _try(colleague, USER_PASSWORD, "192.0.2.11").status_code == 429
    forged = app.test_client()
    forged.set_cookie(auth.DEVICE_COOKIE, "eyJhIjoibWFya2V0ZXJAYWNtZS50ZXN0IiwiZCI6ImFiYyJ9.forged")
    assert _try(forged, USER_PASSWORD, "192.0.2.12").status_code == 429
    # the owner's browser does not wait, from any address
    assert _try(owner, USER_PASSWORD, "192.0.2.10").status_code == 302
    assert owner.get("/contacts/").status_code == 200


def test_parallel_guesses_cannot_share_one_slot(app: Flask, user: Any, clock: list[float]) -> None:
    attacker = app.test_client()
    for i in range(10):
        assert _try(attacker, f"guess-{i}", ATTACKER).status_code == 401
    clock[0] += 3  # the 2-second wait is over: exactly one more guess may run
    tokens = []
    for _ in range(8):
        client = app.test_client()
        tokens.append((client, csrf_from(client.get("/login").get_data(as_text=True))))
    codes: list[int] = []
    start = threading.Barrier(len(tokens))

    def guess(client: FlaskClient, token: str, n: int) -> None:
        start.wait()
        resp = client.post("/login", data={"email": USER_EMAIL, "password": f"parallel {n}", "csrf_token": token},
                           environ_base={"REMOTE_ADDR": ATTACKER})
        codes.append(resp.status_code)

    threads = [threading.Thread(target=guess, args=(c, t, n)) for n, (c, t) in enumerate(tokens)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(codes) == [401] + [429] * 7


def test_the_current_password_on_the_account_page_is_throttled_too(ui: Any, user: Any) -> None:
    """A stolen session must not turn the password form into a way to guess the password."""
    codes = []
    for i in range(11):
        resp = ui.post("/account/password", {"current_password": f"guess {i}", "new_password": "a new long passphrase",
                                              "confirm_password": "a new long passphrase"}, page="/account/")
        codes.append(resp.status_code)
    assert codes[:10] == [400] * 10 and codes[10] == 429
    assert "Too many attempts. Try again in" in resp.get_data(as_text=True)
