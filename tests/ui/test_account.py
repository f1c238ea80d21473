"""The account page: linked from every page; change the password (with form errors that keep it unchanged);
API keys listed with last use, created and shown once, revoked after a confirmation, after which the
JSON API refuses them."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from campaigns.models import ApiKey, User
from campaigns.users import authenticate
from tests.conftest import USER_PASSWORD

NEW = "a new long passphrase"


def _keys(services: Any) -> list[ApiKey]:
    with services.db.begin() as s:
        return list(s.scalars(select(ApiKey).order_by(ApiKey.id)))


def test_the_account_page_is_linked_from_the_navigation(ui: Any) -> None:
    page = ui.get("/contacts/").get_data(as_text=True)
    assert 'href="/account/"' in page and "My account" in page
    account = ui.get("/account/")
    assert account.status_code == 200
    html = account.get_data(as_text=True)
    for part in ("Change password", "Log out everywhere", "API keys", "No API keys yet.", "Logged in on this browser only."):
        assert part in html, part


def test_create_list_and_revoke_an_api_key(ui: Any, services: Any, client: Any) -> None:
    resp = ui.post("/account/keys", {"name": "CRM sync"}, page="/account/")
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    html = resp.get_data(as_text=True)
    shown = re.search(r'data-testid="new-key-value"', html) and re.search(r'value="(nk_[^"]+)"', html)
    assert shown, html
    key = shown.group(1)
    [stored] = _keys(services)
    assert stored.name == "CRM sync" and key.startswith(stored.prefix) and key not in stored.key_hash
    # shown once: the next visit lists the key by name and prefix only
    listed = ui.get("/account/").get_data(as_text=True)
    assert key not in listed and "CRM sync" in listed and f"{stored.prefix}…" in listed and "Never" in listed
    # the key works, and its use shows on the page
    assert client.get("/api/v1/contacts", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    listed = ui.get("/account/").get_data(as_text=True)
    row = listed[listed.index("CRM sync"):listed.index("</tr>", listed.index("CRM sync"))]
    assert "Never" not in row and re.search(r"\d{4}\D{1,4}\d{1,2}:\d\d", row)  # "Dec 7, 2026, 10:00" (account_time)
    # revoke: a confirmation page first (a GET changes nothing), then the POST
    confirm = ui.get(f"/account/keys/{stored.id}/revoke")
    assert confirm.status_code == 200 and "CRM sync" in confirm.get_data(as_text=True)
    assert not _keys(services)[0].revoked
    done = ui.post(f"/account/keys/{stored.id}/revoke", page=f"/account/keys/{stored.id}/revoke")
    assert done.status_code == 302 and done.headers["Location"].endswith("/account/")
    assert "API key CRM sync revoked" in ui.get("/account/").get_data(as_text=True)
    assert _keys(services)[0].revoked
    refused = client.get("/api/v1/contacts", headers={"Authorization": f"Bearer {key}"})
    assert refused.status_code == 401 and refused.get_json()["error"] == "unauthorized"
    assert "Revoked" in ui.get("/account/").get_data(as_text=True)


def test_a_key_needs_a_name_and_an_unknown_key_is_not_found(ui: Any, services: Any) -> None:
    resp = ui.post("/account/keys", {"name": "  "}, page="/account/")
    assert resp.status_code == 400 and "This field is required." in resp.get_data(as_text=True)
    long = ui.post("/account/keys", {"name": "x" * 201}, page="/account/")
    assert long.status_code == 400 and "At most 200 characters." in long.get_data(as_text=True)
    assert _keys(services) == []
    assert ui.get("/account/keys/999/revoke").status_code == 404
    assert ui.post("/account/keys/999/revoke", page="/account/").status_code == 404


def test_password_form_errors_keep_the_password(ui: Any, services: Any, user: Any) -> None:
    cases = [
        ({"current_password": "not it", "new_password": NEW, "confirm_password": NEW}, "This is not your current password."),
        ({"current_password": USER_PASSWORD, "new_password": NEW, "confirm_password": NEW + "x"},
         "The two new passwords differ."),
        ({"current_password": USER_PASSWORD, "new_password": "short", "confirm_password": "short"},
         "Use between 8 and 1000 characters."),
        ({"current_password": USER_PASSWORD, "new_password": "y" * 1001, "confirm_password": "y" * 1001},
         "Use between 8 and 1000 characters."),
        ({"current_password": "", "new_password": NEW, "confirm_password": NEW}, "This field is required."),
    ]
    for data, message in cases:
        resp = ui.post("/account/password", data, page="/account/")
        assert resp.status_code == 400, data
        assert message in resp.get_data(as_text=True), message
    with services.db.begin() as s:
        assert authenticate(s, user.email, USER_PASSWORD) is not None
        assert s.get(User, user.id).session_epoch == user.session_epoch
    assert ui.get("/contacts/").status_code == 200


def test_the_account_page_in_japanese(ui: Any) -> None:
    ui.post("/lang/ja", {"next": "/"})
    html = ui.get("/account/").get_data(as_text=True)
    for part in ("マイアカウント", "パスワードの変更", "すべての端末からログアウト", "APIキーはまだありません。"):
        assert part in html, part
    created = ui.post("/account/keys", {"name": "CRM連携"}, page="/account/").get_data(as_text=True)
    assert "表示されるのはこの一度だけです" in created
