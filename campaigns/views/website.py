"""Settings -> Website tracking: the sites allowed to send visits, consent mode, Global Privacy Control and the
look-back; the exact tag to paste, whether visits arrive, and the disclosure text for the sites' privacy notice.

The settings are one row (campaigns.models.web.WebTrackingSettings); the collector and the click redirect read
them through campaigns.engagement.web_collect.web_config, within a few seconds of a save.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import BooleanField, IntegerField, TextAreaField
from wtforms.validators import InputRequired, NumberRange, ValidationError

from campaigns.db import now_utc
from campaigns.engagement.web_collect import forget_config, load_config, parse_domains, script_tag
from campaigns.i18n import _
from campaigns.models import WebTrackingSettings, WebVisit
from campaigns.models.tracking import HitClass
from campaigns.runtime import services
from campaigns.users import get_account

bp = Blueprint("website", __name__, url_prefix="/settings/website")


def valid_domains(form: FlaskForm, field: TextAreaField) -> None:
    """Every line is a host name (a pasted address is reduced to its host); the rest is named in the error."""
    _good, bad = parse_domains(field.data or "")
    if bad:
        raise ValidationError(_("These are not site domains: %(entries)s", entries=", ".join(bad[:5])))


class WebsiteForm(FlaskForm):
    allowed_domains = TextAreaField("Allowed site domains", validators=[valid_domains])
    consent_required = BooleanField("Wait for consent: collect nothing until the site calls nurture.consent(true)")
    honour_gpc = BooleanField("Honour Global Privacy Control (browsers that send it are not tracked)")
    lookback_days = IntegerField("Look-back for anonymous visits (days)",
                                 validators=[InputRequired(), NumberRange(min=0, max=365)])


@bp.route("/", methods=["GET", "POST"])
def index() -> Any:
    """The page: the settings form, the tag, the status of incoming visits and the disclosure text."""
    svc = services()
    session = svc.db.session
    row = session.get(WebTrackingSettings, 1)
    config = load_config(session, svc.settings)
    form = WebsiteForm(data={
        "allowed_domains": "\n".join(sorted(config.hosts) + list(config.suffixes)),
        "consent_required": config.consent_required, "honour_gpc": config.honour_gpc,
        "lookback_days": config.lookback_days,
    })
    if form.validate_on_submit():
        if row is None:
            row = WebTrackingSettings(id=1)
            session.add(row)
        domains, _bad = parse_domains(form.allowed_domains.data or "")
        row.allowed_domains = "\n".join(domains)
        row.consent_required = bool(form.consent_required.data)
        row.honour_gpc = bool(form.honour_gpc.data)
        row.lookback_days = int(form.lookback_days.data or 0)
        session.commit()
        forget_config()  # this process at once; the others within web_collect.CONFIG_SECONDS
        flash(_("Saved."), "success")
        return redirect(url_for("website.index"))
    account = get_account(session)
    week_ago = now_utc() - timedelta(days=7)
    last_visit = session.scalar(select(func.max(WebVisit.occurred_at)))
    people_week = session.scalar(select(func.count()).select_from(WebVisit).where(
        WebVisit.occurred_at >= week_ago, WebVisit.classification == HitClass.HUMAN)) or 0
    others_week = session.scalar(select(func.count()).select_from(WebVisit).where(
        WebVisit.occurred_at >= week_ago, WebVisit.classification != HitClass.HUMAN)) or 0
    session.commit()
    base = svc.settings.base_url.rstrip("/")
    return render_template(
        "ui/website/index.html", form=form, tag=script_tag(base), configured=bool(config.hosts or config.suffixes),
        last_visit=last_visit, people_week=people_week, others_week=others_week,
        org_database=bool(svc.settings.ip_org_database), company=account.company_name or "",
        nurture_host=urlsplit(base).hostname or base, contact_info=account.contact_info or "",
        ip_privacy=svc.settings.ip_privacy, zone_name=account.timezone,
    )
