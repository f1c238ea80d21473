"""UI area: the KPI dashboard. Cards, charts (campaigns/static/kpi.js) and CSV exports for one date range.

Read-only: every number comes from campaigns.insights.kpi.dashboard, the same function the API answers with. Days
and months are the account's time zone (Settings), like the API's.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, abort, render_template, request

from campaigns.i18n import _
from campaigns.insights import kpi
from campaigns.runtime import services
from campaigns.views.builder_common import account_zone

bp = Blueprint("kpi", __name__, url_prefix="/kpi")

# Where contacts came from, in words, for the sources the product itself writes and the usual import labels;
# a marketer's own source (e.g. "seminar_2026") shows as it is. The stored values never change.
SOURCE_WORDS = {
    "csv_import": "CSV import", "import": "CSV import", "trade_show": "Trade show", "website_form": "Website form",
    "form": "Form", "whitepaper": "Whitepaper", "api": "API", "manual": "Added by hand", "webinar": "Webinar",
    "referral": "Referral", "journey test": "Journey test",
}


@bp.app_template_filter("source_label")
def source_label(source: str | None) -> str:
    """A contact source in the user's language: a known code in words, anything else as stored ("" stays "")."""
    text = str(source or "")
    return _(SOURCE_WORDS[text]) if text in SOURCE_WORDS else text


class _BadFilter(ValueError):
    pass


def _filters() -> tuple[kpi.DateRange, str, int]:
    """The range, conversion stage and look-back days from the query string (raises _BadFilter)."""
    try:
        rng = kpi.DateRange.parse(request.args.get("from"), request.args.get("to"), zone=account_zone())
    except kpi.RangeError as err:
        raise _BadFilter(_(str(err))) from None
    stage = request.args.get("stage") or "mql"
    if stage not in kpi.CONVERSION_STAGES:
        raise _BadFilter(_("stage must be mql, sql or customer"))
    raw_days = (request.args.get("days") or "30").strip()
    if not raw_days.isascii() or not raw_days.isdigit() or not 1 <= int(raw_days) <= kpi.MAX_LOOKBACK_DAYS:
        raise _BadFilter(_("days must be a whole number from 1 to %(n)s", n=kpi.MAX_LOOKBACK_DAYS))
    return rng, stage, int(raw_days)


def _presets() -> list[tuple[int, str, str]]:
    today = kpi.today_in(account_zone())
    return [(n, (today - timedelta(days=n - 1)).isoformat(), today.isoformat()) for n in kpi.PRESETS]


@bp.get("/")
def index() -> Any:
    try:
        rng, stage, days = _filters()
    except _BadFilter as err:
        default = kpi.DateRange.last_days(kpi.DEFAULT_DAYS, zone=account_zone())
        return render_template("ui/kpi/index.html", data=None, error=str(err), presets=_presets(),
                               form=dict(request.args), rng=default, stage="mql", days=30), 400
    data, computed_at = kpi.cached_dashboard(services().db.session, services().redis, rng, stage=stage, days=days,
                                             fresh=request.args.get("refresh") == "1")
    return render_template("ui/kpi/index.html", data=data, error="", presets=_presets(),
                           form={"from": rng.first.isoformat(), "to": rng.last.isoformat()},
                           rng=rng, stage=stage, days=days, computed_at=computed_at.astimezone(rng.zone),
                           cache_minutes=kpi.CACHE_SECONDS // 60)


@bp.get("/export/<table>.csv")
def export(table: str) -> Any:
    if table not in kpi.CSV_TABLES:
        abort(404)
    try:
        rng, stage, days = _filters()
    except _BadFilter as err:
        abort(400, description=str(err))
    data = kpi.table_data(services().db.session, rng, table, stage=stage, days=days)
    filename = f"kpi-{table}-{rng.first.isoformat()}-{rng.last.isoformat()}.csv"
    return Response(kpi.export_csv(data, table), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store",
    })
