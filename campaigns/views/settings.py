"""Account settings: the sender identity and legal footer, time zone and frequency cap; the brand kit of block
mails (campaigns.delivery.blocks_mjml.BrandKit)."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import EmailField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, NumberRange, Optional, ValidationError

from campaigns.addresses import is_valid_address
from campaigns.delivery import assets as mail_assets
from campaigns.delivery.blocks_mjml import BUTTON_SHAPES, DEFAULT_COLOURS, FONTS, BrandKit
from campaigns.i18n import _
from campaigns.params import parse_id
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
    return render_template("ui/settings.html", form=form, **_brand_context(db.session, acc))


def _brand_context(session: Any, acc: Any) -> dict[str, Any]:
    kit = BrandKit.from_settings(acc.brand_kit)
    return {"brand": kit, "brand_colours": list(DEFAULT_COLOURS), "brand_fonts": list(FONTS),
            "brand_shapes": list(BUTTON_SHAPES), "brand_images": mail_assets.library(session, limit=100)}


@bp.post("/brand")
def brand_kit() -> Any:
    """Save the brand kit (colours, font, button shape, logo) every new block mail uses."""
    db = services().db
    acc = get_account(db.session)
    form = request.form
    colours = {name: form.get(f"colour_{name}", "").strip().lower() for name in DEFAULT_COLOURS}
    if any(not re.fullmatch(r"#[0-9a-f]{6}", value) for value in colours.values()):
        flash(_("Enter colours as #rrggbb."), "error")
        return redirect(url_for("settings.account"))
    logo = parse_id(form.get("logo_asset_id"))
    acc.brand_kit = BrandKit.from_settings({
        "colours": colours, "font": form.get("font"), "button_shape": form.get("button_shape"),
        "logo_asset_id": logo,
    }).to_settings()
    db.session.commit()
    flash(_("Brand kit saved."), "success")
    return redirect(url_for("settings.account"))
