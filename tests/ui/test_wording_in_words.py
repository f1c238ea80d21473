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


def test_kpi_sources_read_in_words_and_custom_ones_as_stored(ui: Any, services: Any) -> None:
    from tests.factories import make_contact

    with services.db.begin() as s:
        for i, source in enumerate(("csv_import", "trade_show", "website_form", "seminar_2026")):
            make_contact(s, f"src{i}@example.jp", source=source)
    html = ui.get("/kpi/").get_data(as_text=True)
    table = _text(html[html.index('data-testid="by-source"'):])
    table = table[:table.index("</table>") if "</table>" in table else len(table)]
    for words in ("CSV import", "Trade show", "Website form", "seminar_2026"):
        assert words in table, (words, table[:400])
    assert "csv_import" not in table and "trade_show" not in table and "website_form" not in table
    assert "trade_show" not in html.split('id="source-chart"')[1].split(">")[0]  # the chart's labels too
    ja = ui.get("/kpi/", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    ja_table = _text(ja[ja.index('data-testid="by-source"'):])
    for words in ("CSVインポート", "展示会", "Webフォーム", "seminar_2026"):
        assert words in ja_table, words
    with services.db.factory() as s:  # stored values unchanged
        from sqlalchemy import select

        from campaigns.models import Contact
        assert "trade_show" in set(s.scalars(select(Contact.source)))
