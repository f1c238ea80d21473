"""Account settings: the sender identity and legal footer, time zone and frequency cap."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import EmailField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, NumberRange, Optional, ValidationError

from campaigns.addresses import is_valid_address
from campaigns.i18n import _
from campaigns.runtime import services
from campaigns.timezones import TIMEZONE_CHOICES
from campaigns.users import get_account

bp = Blueprint("settings", __name__, url_prefix="/settings")



def valid_address(form: FlaskForm, field: EmailField) -> None:
    """The sender addresses follow the one address rule (campaigns.addresses), as every mail checks them."""
    if field.data and not is_valid_address(field.data.strip()):
        raise ValidationError(_("Enter a valid email address."))


class AccountForm(FlaskForm):
    company_name = StringField("Company name", validators=[DataRequired()])
    from_name = StringField("Sender name", validators=[DataRequired()])
    from_email = EmailField("Sender email", validators=[DataRequired(), valid_address])
    reply_to = EmailField("Reply-To", validators=[Optional(), valid_address])
    postal_address = TextAreaField("Postal address", validators=[DataRequired()])
    contact_info = TextAreaField("Contact information", validators=[DataRequired()])
    timezone = SelectField("Time zone", choices=TIMEZONE_CHOICES)
    # each language named in itself, as language switches do
    language = SelectField("Language of sales notifications and default texts",
                           choices=[("en", "English"), ("ja", "日本語")])
    freq_cap_count = IntegerField("Frequency cap", validators=[NumberRange(min=0, max=100)])
    freq_cap_days = IntegerField("days", validators=[NumberRange(min=1, max=90)])


@bp.route("/", methods=["GET", "POST"])
def account() -> Any:
    db = services().db
    acc = get_account(db.session)
    form = AccountForm(obj=acc)
    if form.validate_on_submit():
        form.populate_obj(acc)
        db.session.commit()
        flash(_("Saved."), "success")
        return redirect(url_for("settings.account"))
    db.session.commit()
    return render_template("ui/settings.html", form=form)
