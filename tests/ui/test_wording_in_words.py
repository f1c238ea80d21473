"""Codes shown in words, never raw (issue 17 polish): who decided an A/B test, broadcast statuses on the English
list, contact sources on the KPI page, in English and Japanese."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import update

from campaigns.db import now_utc
from campaigns.experiments import setup
from campaigns.models import ABTest
from tests.experiments.test_abtests_web import _broadcast


def _text(html: str) -> str:
    html = re.sub(r"<script\b.*?</script>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_who_decided_an_ab_test_reads_in_words(ui: Any, services: Any) -> None:
    broadcast_id = _broadcast(services, 10)
    with services.db.begin() as s:
        test_id = setup.create_test(s, broadcast_id=broadcast_id, kind="from_name", test_portion=0.4, mode="manual",
                                    variants=[{"from_name": "Acme"}, {"from_name": "Hanako at Acme"}]).id
        s.execute(update(ABTest).where(ABTest.id == test_id).values(decided_at=now_utc(), decided_by="auto"))
    decided = _text(ui.get(f"/ab/{test_id}").get_data(as_text=True))
    assert "decided automatically" in decided and "· auto" not in decided
    ja = _text(ui.get(f"/ab/{test_id}", headers={"Accept-Language": "ja"}).get_data(as_text=True))
    assert "自動で決定" in ja
    with services.db.begin() as s:
        s.execute(update(ABTest).where(ABTest.id == test_id).values(decided_by="mika@example.jp"))
    assert "picked by hand ( mika@example.jp )" in _text(ui.get(f"/ab/{test_id}").get_data(as_text=True))
    assert "手動で決定" in _text(ui.get(f"/ab/{test_id}", headers={"Accept-Language": "ja"}).get_data(as_text=True))


def test_broadcast_statuses_read_in_words(ui: Any, services: Any) -> None:
    from campaigns.models import Broadcast

    broadcast_id = _broadcast(services, 2)
    with services.db.begin() as s:
        s.execute(update(Broadcast).where(Broadcast.id == broadcast_id).values(status="scheduled"))
    html = ui.get("/broadcasts/").get_data(as_text=True)
    badge = re.search(r'data-testid="broadcast-status">([^<]*)<', html)
    assert badge and badge.group(1) == "Scheduled"
    ja = ui.get("/broadcasts/", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    badge = re.search(r'data-testid="broadcast-status">([^<]*)<', ja)
    assert badge and badge.group(1) == "予約済み"
