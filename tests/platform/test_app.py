"""The app shell: login, CSRF, language, error pages, security headers."""

from __future__ import annotations

from tests.conftest import USER_EMAIL, USER_PASSWORD, csrf_from


def test_pages_require_login(client):
    resp = client.get("/contacts/")
    assert resp.status_code == 302
    assert "/login" in resp.headers["Location"]


def test_login_with_wrong_password_is_refused(client, user):
    token = csrf_from(client.get("/login").get_data(as_text=True))
    resp = client.post("/login", data={"email": USER_EMAIL, "password": "nope", "csrf_token": token})
    assert resp.status_code == 401
    assert client.get("/").status_code == 302


def test_login_without_csrf_token_is_refused(client, user):
    resp = client.post("/login", data={"email": USER_EMAIL, "password": USER_PASSWORD})
    assert resp.status_code == 400
    assert client.get("/").status_code == 302


def test_login_is_rate_limited(client, user):
    token = csrf_from(client.get("/login").get_data(as_text=True))
    codes = [
        client.post("/login", data={"email": USER_EMAIL, "password": f"bad{i}", "csrf_token": token}).status_code
        for i in range(12)
    ]
    assert codes[:10] == [401] * 10
    assert codes[10:] == [429, 429]
    # even the right password is refused while the limit holds
    ok = client.post("/login", data={"email": USER_EMAIL, "password": USER_PASSWORD, "csrf_token": token})
    assert ok.status_code == 429


def test_dashboard_after_login_has_security_headers(ui):
    resp = ui.get("/")
    assert resp.status_code == 200
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_password_change_ends_sessions(ui, services, user):
    from campaigns.models import User
    from campaigns.users import change_password

    with services.db.begin() as s:
        change_password(s, s.get(User, user.id), "another long password")
    assert ui.get("/").status_code == 302


def test_language_switch_to_japanese(ui):
    ui.post("/lang/ja", {"next": "/"})
    assert "ダッシュボード" in ui.get("/").get_data(as_text=True)
    ui.post("/lang/en", {"next": "/"})
    assert "Dashboard" in ui.get("/").get_data(as_text=True)


def test_browser_language_is_honoured(ui):
    page = ui.get("/", headers={"Accept-Language": "ja,en;q=0.5"}).get_data(as_text=True)
    assert "ダッシュボード" in page


def test_unknown_page_is_a_clean_404(ui):
    resp = ui.get("/no/such/page")
    assert resp.status_code == 404
    assert "Traceback" not in resp.get_data(as_text=True)


def test_api_unknown_route_gets_json(client):
    resp = client.get("/api/v1/nothing-here")
    assert resp.status_code == 404
    assert resp.is_json and resp.get_json()["error"]


def test_settings_form_saves(ui, services):
    from campaigns.models import Account

    page = ui.get("/settings/").get_data(as_text=True)
    assert 'value="Asia/Tokyo"' in page and 'value="America/New_York"' in page
    assert 'value="localtime"' not in page and 'value="Factory"' not in page  # system entries naming no place

    resp = ui.post(
        "/settings/",
        {
            "company_name": "Acme KK",
            "from_name": "Acme",
            "from_email": "news@acme.co.jp",
            "reply_to": "",
            "postal_address": "1-2-3 Shibuya, Tokyo",
            "contact_info": "support@acme.co.jp",
            "timezone": "Asia/Tokyo",
            "freq_cap_count": "3",
            "freq_cap_days": "7",
        },
        page="/settings/",
    )
    assert resp.status_code == 302
    services.db.session.expire_all()
    assert services.db.session.get(Account, 1).postal_address == "1-2-3 Shibuya, Tokyo"
