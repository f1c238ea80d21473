"""Login, logout and language choice; the login guard for every UI page.

A session is a random id in the signed cookie plus a record in Redis (campaigns.users): the guard
checks the record's idle and absolute lifetimes and the user's session epoch on every request. Wrong
passwords slow their sender down (campaigns.users' login throttle); a browser that logged in to an
account before keeps a signed device id for it, so an attacker elsewhere cannot hold its owner out.
"""

from __future__ import annotations

import secrets
import time
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.wrappers import Response

from campaigns.i18n import SUPPORTED, _
from campaigns.models import User
from campaigns.runtime import services
from campaigns.users import (
    LoginClient,
    SessionLimits,
    authenticate,
    claim_login_attempt,
    end_session,
    live_session,
    login_succeeded,
    normalize_login,
    start_session,
)

bp = Blueprint("auth", __name__)

DEVICE_COOKIE = "nurture_device"
DEVICE_COOKIE_DAYS = 365


def clock() -> float:
    """Seconds since the epoch: the one clock of sessions and the login throttle (tests move it)."""
    return time.time()


def session_limits() -> SessionLimits:
    """The configured idle and absolute lifetimes of a UI session (SESSION_IDLE_MINUTES, SESSION_MAX_HOURS)."""
    settings = services().settings
    return SessionLimits(idle=settings.session_idle_minutes * 60, absolute=settings.session_max_hours * 3600)


def _device_signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key or "", salt="nurture-login-device")


def _device_for(account: str) -> str | None:
    """The browser's device id if its cookie was signed by us for this account (the login names)."""
    raw = request.cookies.get(DEVICE_COOKIE, "")
    try:
        data = _device_signer().loads(raw) if raw else None
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("a") != normalize_login(account):
        return None
    device = data.get("d")
    return device if isinstance(device, str) and device.isalnum() else None


def login_client(account: str) -> LoginClient:
    """Who is trying a password for `account` from this request (login, the account page's password check)."""
    return LoginClient(account=account, address=request.remote_addr or "", device=_device_for(account))


def too_many_attempts(wait: int) -> str:
    """The message shown when the throttle makes a client wait."""
    if wait >= 120:
        return _("Too many attempts. Try again in %(n)s minutes.", n=(wait + 59) // 60)
    return _("Too many attempts. Try again in %(n)s seconds.", n=wait)


def begin_session(user: User) -> None:
    """Give this browser a new session of `user` (login; the account page after a password change)."""
    lang = session.get("lang")
    session.clear()  # a fresh id: nothing set before the login (fixation) survives it
    session["sid"] = start_session(services().redis, user, session_limits(), clock())
    if user.locale in SUPPORTED:
        session["lang"] = user.locale
    elif lang in SUPPORTED:
        session["lang"] = lang
    session.permanent = True


def _remember_device(response: Response, account: str) -> None:
    """After a correct password: this browser is known for the account (keeps its id if it had one)."""
    device = _device_for(account) or secrets.token_hex(16)
    response.set_cookie(
        DEVICE_COOKIE, _device_signer().dumps({"a": normalize_login(account), "d": device}),
        max_age=DEVICE_COOKIE_DAYS * 86400, httponly=True, samesite="Strict",
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
    )


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("dashboard.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "POST":
        email = request.form.get("email", "")
        password = request.form.get("password", "")
        redis = services().redis
        client = login_client(email)
        wait = claim_login_attempt(redis, client, clock())
        if wait:
            flash(too_many_attempts(wait), "error")
            refused = make_response(render_template("ui/login.html", email=email), 429)
            refused.headers["Retry-After"] = str(wait)
            return refused
        db = services().db
        user = authenticate(db.session, email, password)
        if user is None:
            flash(_("Invalid email or password."), "error")
            return render_template("ui/login.html", email=email), 401
        db.session.commit()
        login_succeeded(redis, client)
        begin_session(user)
        response = redirect(_safe_next(request.args.get("next")))
        _remember_device(response, email)
        return response
    return render_template("ui/login.html", email="")


@bp.post("/logout")
def logout() -> Any:
    # The record goes, not only the cookie: a copy of this cookie taken earlier stops working too.
    end_session(services().redis, g.session_id, g.user.id)
    lang = session.get("lang")
    session.clear()
    if lang in SUPPORTED:
        session["lang"] = lang  # the login page stays in the language the user chose
    return redirect(url_for("auth.login"))


@bp.post("/lang/<code>")
def set_language(code: str) -> Any:
    if code in SUPPORTED:
        session["lang"] = code
    return redirect(_safe_next(request.form.get("next")))


def load_user() -> User | None:
    """The logged-in user if the session is live: its record exists (no logout), it is within its idle and
    absolute lifetimes, and it began in the user's current epoch (no password change or "log out everywhere"
    since). Anything else clears the cookie's session."""
    sid = session.get("sid")
    if not isinstance(sid, str):
        return None
    redis = services().redis
    record = live_session(redis, sid, session_limits(), clock())
    user = services().db.session.get(User, record.user_id) if record else None
    if record is None or user is None or not user.is_active or record.epoch != user.session_epoch:
        if record is not None:
            end_session(redis, sid, record.user_id)
        session.pop("sid", None)
        return None
    g.session_id = sid
    return user


PUBLIC_ENDPOINTS = {"auth.login", "auth.set_language", "static"}


def install_login_guard(app: Flask, ui_blueprints: set[str]) -> None:
    """Every endpoint of a UI blueprint requires a logged-in user."""

    @app.before_request
    def _guard() -> Any:
        endpoint = request.endpoint or ""
        g.user = None
        blueprint = endpoint.split(".", 1)[0] if "." in endpoint else ""
        if blueprint not in ui_blueprints or endpoint in PUBLIC_ENDPOINTS:
            return None
        g.user = load_user()
        if g.user is None:
            if request.method == "GET":
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            return redirect(url_for("auth.login"))
        return None


def login_required(view: Any) -> Any:
    """For views outside the guarded blueprints that still need a user."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if load_user() is None:
            return redirect(url_for("auth.login"))
        return view(*args, **kwargs)

    return wrapped
