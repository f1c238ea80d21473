"""The signed-in user's own account: change the password, end sessions ("log out everywhere"), and the
account's API keys (list with last use, create shown once, revoke after a confirmation)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, session, url_for
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from campaigns.i18n import SUPPORTED, _, ngettext
from campaigns.models import ApiKey
from campaigns.runtime import services
from campaigns.users import (
    PASSWORD_MAX,
    PASSWORD_MIN,
    change_password,
    check_password,
    claim_login_attempt,
    create_api_key,
    end_every_session,
    forget_user_sessions,
    list_api_keys,
    login_succeeded,
    revoke_api_key,
    session_count,
)
from campaigns.views import auth
from campaigns.views.builder_common import account_zone, install_filters

bp = Blueprint("account", __name__, url_prefix="/account")
install_filters(bp)


class PasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired()])
    new_password = PasswordField("New password", validators=[
        DataRequired(),
        Length(min=PASSWORD_MIN, max=PASSWORD_MAX, message="Use between 8 and 1000 characters."),
    ])
    confirm_password = PasswordField("New password again", validators=[
        DataRequired(), EqualTo("new_password", message="The two new passwords differ."),
    ])


class ApiKeyForm(FlaskForm):
    name = StringField("Key name", validators=[DataRequired(), Length(max=200, message="At most 200 characters.")])


def _duration(minutes: int) -> str:
    """A lifetime in the largest whole unit (the sessions card)."""
    if minutes % 1440 == 0:
        return ngettext("1 day", "%(num)d days", minutes // 1440)
    if minutes % 60 == 0:
        return ngettext("1 hour", "%(num)d hours", minutes // 60)
    return ngettext("1 minute", "%(num)d minutes", minutes)


def _page(password_form: PasswordForm | None = None, key_form: ApiKeyForm | None = None,
          new_key: str | None = None, new_key_name: str = "", status: int = 200) -> Any:
    settings = services().settings
    html = render_template(
        "ui/account/index.html",
        password_form=password_form or PasswordForm(formdata=None),
        key_form=key_form or ApiKeyForm(formdata=None),
        keys=list_api_keys(services().db.session),
        sessions=session_count(services().redis, g.user.id),
        idle=_duration(settings.session_idle_minutes),
        lifetime=_duration(settings.session_max_hours * 60),
        zone_name=account_zone().key,
        new_key=new_key,
        new_key_name=new_key_name,
    )
    # The page may hold a new key in full: no browser or proxy cache keeps a copy.
    return html, status, {"Cache-Control": "no-store"}


@bp.get("/")
def index() -> Any:
    return _page()


@bp.post("/password")
def password() -> Any:
    form = PasswordForm()
    if not form.validate_on_submit():
        return _page(password_form=form, status=400)
    redis, db, user = services().redis, services().db, g.user
    # The current password is a guess like any other: a stolen session must not become a password oracle.
    client = auth.login_client(user.email)
    wait = claim_login_attempt(redis, client, auth.clock())
    if wait:
        form.current_password.errors.append(auth.too_many_attempts(wait))
        return _page(password_form=form, status=429)
    if not check_password(user, form.current_password.data or ""):
        form.current_password.errors.append(_("This is not your current password."))
        return _page(password_form=form, status=400)
    login_succeeded(redis, client)
    try:
        change_password(db.session, user, form.new_password.data or "")
    except ValueError as err:
        form.new_password.errors.append(_(str(err)))
        return _page(password_form=form, status=400)
    db.session.commit()
    # Every session began in the old epoch and is refused from now on; this browser gets a new one.
    forget_user_sessions(redis, user.id)
    auth.begin_session(user)
    flash(_("Password changed. Every other session has been logged out."), "success")
    return redirect(url_for("account.index"))


@bp.post("/logout-everywhere")
def logout_everywhere() -> Any:
    redis, db, user = services().redis, services().db, g.user
    end_every_session(user)
    db.session.commit()
    forget_user_sessions(redis, user.id)
    lang = session.get("lang")
    session.clear()
    if lang in SUPPORTED:
        session["lang"] = lang
    flash(_("You have been logged out everywhere, in this browser too."), "success")
    return redirect(url_for("auth.login"))


@bp.post("/keys")
def create_key() -> Any:
    form = ApiKeyForm()
    if not form.validate_on_submit():
        return _page(key_form=form, status=400)
    name = (form.name.data or "").strip()
    db = services().db
    key = create_api_key(db.session, name)
    db.session.commit()
    # Shown in this answer only, never put in the session or a flash message (the cookie is signed, not
    # encrypted): only the key's hash is stored.
    return _page(new_key=key, new_key_name=name)


def _key(key_id: int) -> ApiKey:
    api_key = services().db.session.get(ApiKey, key_id)
    if api_key is None:
        abort(404)
    return api_key


@bp.get("/keys/<int:key_id>/revoke")
def confirm_revoke(key_id: int) -> Any:
    return render_template("ui/account/revoke_key.html", key=_key(key_id), zone_name=account_zone().key)


@bp.post("/keys/<int:key_id>/revoke")
def revoke_key(key_id: int) -> Any:
    db = services().db
    api_key = revoke_api_key(db.session, key_id)
    if api_key is None:
        abort(404)
    db.session.commit()
    flash(_("API key %(name)s revoked: requests with it are refused from now on.", name=api_key.name), "success")
    return redirect(url_for("account.index"))
