"""Login, logout and language choice; the login guard for every UI page."""

from __future__ import annotations

from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, flash, g, redirect, render_template, request, session, url_for

from campaigns.i18n import SUPPORTED, _
from campaigns.models import User
from campaigns.runtime import services
from campaigns.users import authenticate

bp = Blueprint("auth", __name__)

LOGIN_LIMIT = 10  # failed attempts per address and per IP in the window
LOGIN_WINDOW = 300


def _rate_keys(email: str) -> list[str]:
    return [f"nurture:login:ip:{request.remote_addr}", f"nurture:login:email:{email.strip().lower()}"]


def _too_many(email: str) -> bool:
    redis = services().redis
    return any(int(redis.get(k) or 0) >= LOGIN_LIMIT for k in _rate_keys(email))


def _record_failure(email: str) -> None:
    pipe = services().redis.pipeline()
    for key in _rate_keys(email):
        pipe.incr(key)
        pipe.expire(key, LOGIN_WINDOW)
    pipe.execute()


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("dashboard.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "POST":
        email = request.form.get("email", "")
        password = request.form.get("password", "")
        if _too_many(email):
            flash(_("Too many attempts. Try again in a few minutes."), "error")
            return render_template("ui/login.html", email=email), 429
        db = services().db
        user = authenticate(db.session, email, password)
        if user is None:
            _record_failure(email)
            flash(_("Invalid email or password."), "error")
            return render_template("ui/login.html", email=email), 401
        db.session.commit()
        session.clear()
        session["user_id"] = user.id
        session["epoch"] = user.session_epoch
        if user.locale in SUPPORTED:
            session["lang"] = user.locale
        session.permanent = True
        return redirect(_safe_next(request.args.get("next")))
    return render_template("ui/login.html", email="")


@bp.post("/logout")
def logout() -> Any:
    session.clear()
    return redirect(url_for("auth.login"))


@bp.post("/lang/<code>")
def set_language(code: str) -> Any:
    if code in SUPPORTED:
        session["lang"] = code
    return redirect(_safe_next(request.form.get("next")))


def load_user() -> User | None:
    """The logged-in user, if the session is still valid (password changes end sessions)."""
    user_id = session.get("user_id")
    if user_id is None:
        return None
    user = services().db.session.get(User, user_id)
    if user is None or not user.is_active or session.get("epoch") != user.session_epoch:
        session.clear()
        return None
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
