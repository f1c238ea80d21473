"""The sender on public pages: the company's name and the brand kit's logo at the top of hosted forms,
the unsubscribe page and the preference page (templates/public/base.html).

Contract:
- `public_brand()` -> Brand(name, logo_url) for the page being drawn: the account's company name (Settings)
  and the brand kit's logo (Settings -> brand kit; an image of the mail asset library), "" when unset
- logo_url is a path on this site (/mail-assets/<name>), so the pages' CSP (img-src 'self') allows it
  whichever host name the visitor used
- `install(app)` makes it a template global for every page, the tracking blueprint's too
  (campaigns.views.register_ui)
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, g
from sqlalchemy.orm import Session

from campaigns.delivery import assets
from campaigns.delivery.blocks_mjml import BrandKit
from campaigns.models import Account, MailAsset
from campaigns.runtime import services


@dataclass(frozen=True)
class Brand:
    name: str
    logo_url: str


def brand_of(session: Session) -> Brand:
    """The company name and logo path from the account's settings."""
    account = session.get(Account, 1)  # read only: a public GET never creates the row
    if account is None:
        return Brand("", "")
    kit = BrandKit.from_settings(account.brand_kit)
    logo = session.get(MailAsset, kit.logo_asset_id) if kit.logo_asset_id else None
    return Brand(account.company_name or "", assets.PUBLIC_PREFIX + logo.stored_name if logo else "")


def public_brand() -> Brand:
    """The brand of the page being drawn (read once per request)."""
    if "public_brand" not in g:
        g.public_brand = brand_of(services().db.session)
    brand: Brand = g.public_brand
    return brand


def install(app: Flask) -> None:
    """Give every template `public_brand()` (called by campaigns.views.register_ui)."""
    app.add_template_global(public_brand, "public_brand")
