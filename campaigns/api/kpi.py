"""KPI dashboard over the API: the same numbers as the KPI page (campaigns.insights.kpi), for one date range."""

from __future__ import annotations

from typing import Any

from flask.typing import ResponseReturnValue

from campaigns.api.core import invalid, iso, operation
from campaigns.insights import kpi
from campaigns.runtime import services

DAY: dict[str, Any] = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "maxLength": 10}
KPI_QUERY: dict[str, Any] = {
    "from": {**DAY, "description": "first day (in the account's time zone, included); default: 89 days before 'to'"},
    "to": {**DAY, "description": "last day (in the account's time zone, included); default: today there"},
    "stage": {"type": "string", "enum": list(kpi.CONVERSION_STAGES), "default": "mql",
              "description": "the conversion whose preceding templates and links are ranked"},
    "days": {"type": "integer", "minimum": 1, "maximum": kpi.MAX_LOOKBACK_DAYS, "default": 30,
             "description": "how many days before a conversion count as preceding it"},
}


@operation("/kpi", "GET", tag="reports", query=KPI_QUERY, summary="KPI dashboard for a date range",
           responses={200: ("Contacts by source, segment and stage; lifecycle funnel; MQLs per month and source; "
                            "days to MQL; templates and links preceding conversions; sequence goal rates", None)})
def kpi_api(query: dict[str, Any]) -> ResponseReturnValue:
    """Every KPI of the dashboard for whole days from..to in the account's time zone (docs/kpi.md); computed_at
    says when (the figures of a range are reused for up to two minutes, like the KPI page's)."""
    session = services().db.session
    try:
        rng = kpi.DateRange.parse(query.get("from"), query.get("to"), zone=kpi.account_zone(session))
    except kpi.RangeError as err:
        raise invalid({err.field: str(err)}, "the query has invalid parameters") from None
    data, computed_at = kpi.cached_dashboard(session, services().redis, rng,
                                             stage=query.get("stage") or "mql", days=int(query.get("days") or 30))
    return {**data, "computed_at": iso(computed_at)}
