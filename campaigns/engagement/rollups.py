"""Engagement roll-ups: a hit's contribution to the hourly per-campaign counters, and the delta applied when a hit changes class."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from campaigns.db import now_utc
from campaigns.models import Send
from campaigns.models.tracking import EngagementRollup, HitClass, HitKind, RollupScope

_METRICS = {(k, c): f"{k.value}_{c.value}" for k in HitKind for c in HitClass}

_CLICK_METRICS = {c: f"click_{c.value}" for c in HitClass}

RollupKey = tuple[RollupScope, int, str, int, datetime, str]


# ------------------------------------------------------------------ the batch
@dataclass
class HitRow:
    """A hit of one mail, stored or new, as the writer reasons about it."""

    event_id: str
    kind: HitKind
    send_id: int
    link_id: int | None
    occurred_at: datetime
    user_agent: str
    ip: str
    network: str
    classification: HitClass | None = None
    reason: str = ""
    db_id: int | None = None


def _hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def contribution(send: Any, rows: Iterable[HitRow], prior_human_open: datetime | None = None,
                 prior_human_click: datetime | None = None,
                 prior_link_clicks: Mapping[int, datetime] | None = None) -> Counter[RollupKey]:
    """What one mail's hits add to the roll-ups; the writer adds new-minus-old for each batch.

    `rows` may be a subset of the mail's hits: the writer leaves out stored opens (no later hit can
    reclassify an open) and, when the batch brings no click for the mail, its stored clicks too.
    `prior_human_open` / `prior_human_click` are the earliest human times among the left-out hits
    (`prior_link_clicks` per link, when left-out clicks are folded in this way); both contributions
    of a batch get the same priors, so what they add cancels in the difference.
    """
    if not rows and prior_human_open is None and prior_human_click is None and not prior_link_clicks:
        return Counter()  # the common "mail had no hits before" case
    if send.broadcast_id:
        scope, scope_id = RollupScope.BROADCAST, int(send.broadcast_id)
    elif send.step_id:
        scope, scope_id = RollupScope.STEP, int(send.step_id)
    else:
        return Counter()  # test sends belong to no campaign
    variant = send.variant or ""
    out: Counter[RollupKey] = Counter()
    first_open = prior_human_open
    first_click = prior_human_click
    first_link_click: dict[int, datetime] = dict(prior_link_clicks or {})
    for r in rows:
        cls = r.classification
        assert cls is not None
        bucket = r.occurred_at.replace(minute=0, second=0, microsecond=0)
        out[(scope, scope_id, variant, 0, bucket, _METRICS[r.kind, cls])] += 1
        if r.kind is HitKind.CLICK:
            if r.link_id:
                out[(scope, scope_id, variant, r.link_id, bucket, _CLICK_METRICS[cls])] += 1
            if cls == HitClass.HUMAN:
                if first_click is None or r.occurred_at < first_click:
                    first_click = r.occurred_at
                if r.link_id and (r.link_id not in first_link_click or r.occurred_at < first_link_click[r.link_id]):
                    first_link_click[r.link_id] = r.occurred_at
        elif cls == HitClass.HUMAN and (first_open is None or r.occurred_at < first_open):
            first_open = r.occurred_at
    if first_open or first_click:
        first = min(t for t in (first_open, first_click) if t is not None)
        out[(scope, scope_id, variant, 0, _hour(first), "unique_open")] += 1
        if first_open is None and first_click is not None:
            out[(scope, scope_id, variant, 0, _hour(first_click), "implied_open")] += 1  # a click implies an open
    if first_click is not None:
        out[(scope, scope_id, variant, 0, _hour(first_click), "unique_click")] += 1
    for link, t in first_link_click.items():
        out[(scope, scope_id, variant, link, _hour(t), "unique_click")] += 1
    return out


def apply_rollup_delta(session: Session, delta: Mapping[RollupKey, int]) -> None:
    """Add counts to the roll-up rows (upsert); used by the writer and by unsubscribe/complaint hooks."""
    rows = [
        {"scope": k[0], "scope_id": k[1], "variant": k[2], "link_id": k[3], "bucket": k[4], "metric": k[5], "count": n}
        for k, n in delta.items()
        if n
    ]
    if not rows:
        return
    table = cast(Table, EngagementRollup.__table__)
    dialect = session.get_bind().dialect.name
    ins = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    keys = ["scope", "scope_id", "variant", "link_id", "bucket", "metric"]
    for i in range(0, len(rows), 2000):
        stmt = ins.values(rows[i : i + 2000])
        session.execute(
            stmt.on_conflict_do_update(index_elements=keys, set_={"count": table.c.count + stmt.excluded.count})
        )


def count_campaign_event(session: Session, send_id: int, metric: str) -> None:
    """Add one unsubscribe/complaint to the send's campaign roll-up (unsubscribes here; bounce
    processing may call it with 'complaint')."""
    send = session.execute(
        select(Send.broadcast_id, Send.step_id, Send.variant).where(Send.id == send_id)
    ).first()
    if send is None:
        return
    if send.broadcast_id:
        scope, scope_id = RollupScope.BROADCAST, send.broadcast_id
    elif send.step_id:
        scope, scope_id = RollupScope.STEP, send.step_id
    else:
        return
    bucket = now_utc().replace(minute=0, second=0, microsecond=0)
    key: RollupKey = (scope, int(scope_id), send.variant or "", 0, bucket, metric)
    apply_rollup_delta(session, Counter({key: 1}))
