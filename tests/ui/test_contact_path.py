"""A contact's page shows the path its latest walk of each journey took (issue 17): node by node, when it was
entered and left in the account's zone, the exit in words (a branch's label, "Next"), "here now" for an active
walk's current node, in English and Japanese, and never a raw node key or exit code."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from campaigns.db import now_utc
from campaigns.models import Journey, JourneyEnrolment, JourneyStep
from campaigns.users import get_account
from tests.automation.engine_helpers import enrol, publish, template, tick
from tests.factories import make_contact

T0 = datetime(2026, 3, 4, 15, 47, tzinfo=UTC)  # 2026-03-05 00:47 in Tokyo


def _text(html: str) -> str:
    html = re.sub(r"<script\b.*?</script>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _walked(services: Any) -> tuple[int, int]:
    """A contact that went through mail, a wait, a branch on its company size (matched "Large company") and
    now waits at an unnamed wait node."""
    with services.db.begin() as s:
        get_account(s).timezone = "Asia/Tokyo"
        tid = template(s)
        journey = publish(s, {
            "start": "node_mail", "nodes": [
                {"id": "node_mail", "type": "send", "template_id": tid, "name": "Welcome mail"},
                {"id": "node_pause", "type": "wait", "wait": {"minutes": 30}, "name": "Half an hour"},
                {"id": "node_which", "type": "branch", "name": "How big?", "branches": [
                    {"key": "big_co", "label": "Large company", "condition": {"rules": {"all": [
                        {"field": "attributes.employees", "op": "gt", "value": 500}]}}}]},
                {"id": "node_hold", "type": "wait", "wait": {"minutes": 4320}},
                {"id": "node_small", "type": "end"}],
            "edges": [{"from": "node_mail", "exit": "next", "to": "node_pause"},
                      {"from": "node_pause", "exit": "next", "to": "node_which"},
                      {"from": "node_which", "exit": "big_co", "to": "node_hold"},
                      {"from": "node_which", "exit": "else", "to": "node_small"}]}, name="Onboarding path")
        jid = journey.id
        cid = make_contact(s, "walker@example.jp", attributes={"employees": 900}).id
    enrol(services, jid, [cid])
    tick(services)
    tick(services, now_utc() + timedelta(minutes=31))
    with services.db.begin() as s:  # every time of the walk at one known instant: the page must show Tokyo's
        s.execute(update(JourneyStep).values(entered_at=T0, left_at=T0))
        s.execute(update(JourneyEnrolment).values(node_entered_at=T0))
    return jid, cid


def test_the_contact_page_shows_the_path_in_words_in_both_languages(ui: Any, services: Any) -> None:
    jid, cid = _walked(services)
    with services.db.factory() as s:
        steps = s.query(JourneyStep).order_by(JourneyStep.id).all()
        assert [(st.node_key, st.exit) for st in steps] == [
            ("node_mail", "next"), ("node_pause", "next"), ("node_which", "big_co")]
        walk = s.query(JourneyEnrolment).one()
        assert walk.node_key == "node_hold" and s.get(Journey, jid) is not None

    html = ui.get(f"/contacts/{cid}").get_data(as_text=True)
    assert f'href="/journeys/{jid}"' in html  # the journey's name links to its canvas
    path_html = html[html.index('data-testid="journey-path"'):html.index("</details>")]
    text = _text(path_html)
    assert "Path (4 steps)" in text and "times in Asia/Tokyo" in text
    for words in ("Welcome mail", "Half an hour", "How big?", "Wait", "Matched: Large company", "Next",
                  "Here now", "Added by hand"):
        assert words in text, (words, text)
    assert "Mar 5, 2026, 00:47" in text and "15:47" not in text  # entered and left in Tokyo time, not UTC
    assert " open" in path_html.split(">")[0]  # an active walk's path is open
    for raw in ("node_mail", "node_pause", "node_which", "node_hold", "big_co", "manual", "entered:"):
        assert raw not in _text(html), raw

    ja = _text(ui.get(f"/contacts/{cid}", headers={"Accept-Language": "ja"}).get_data(as_text=True))
    for words in ("たどった経路（4件）", "待機", "条件に一致：Large company", "次へ", "現在ここ", "手動で追加"):
        assert words in ja, (words, ja)
    assert "Here now" not in ja and "Next" not in ja and "Path (" not in ja


def test_a_finished_walk_shows_how_it_ended_and_only_the_latest_rows(ui: Any, services: Any) -> None:
    jid, cid = _walked(services)
    with services.db.begin() as s:  # many earlier steps (a long walk): the page shows the latest 30
        walk = s.query(JourneyEnrolment).one()
        for i in range(40):
            s.add(JourneyStep(journey_id=jid, enrolment_id=walk.id, version_id=walk.version_id, node_key="node_pause",
                              visit=1, entered_at=T0 - timedelta(days=2, minutes=i), left_at=T0 - timedelta(days=1),
                              exit="timeout", detail=""))
    with services.db.begin() as s:
        s.execute(update(JourneyEnrolment).values(status="completed"))
        s.add(JourneyStep(journey_id=jid, enrolment_id=walk.id, version_id=walk.version_id, node_key="node_hold",
                          visit=1, entered_at=T0, left_at=T0 + timedelta(days=3), exit="end", detail=""))
    text = _text(ui.get(f"/contacts/{cid}").get_data(as_text=True))
    assert "Path (44 steps)" in text and "and 14 earlier steps" in text
    assert "Finished the journey" in text and "Timed out" in text and "Here now" not in text


def test_a_walks_status_reads_in_words(ui: Any, services: Any) -> None:
    _jid, cid = _walked(services)
    with services.db.begin() as s:
        s.execute(update(JourneyEnrolment).values(status="converted"))
    badge = re.search(r'data-testid="program-status">([^<]*)<', ui.get(f"/contacts/{cid}").get_data(as_text=True))
    assert badge and badge.group(1) == "Reached the goal"
    ja = ui.get(f"/contacts/{cid}", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    badge = re.search(r'data-testid="program-status">([^<]*)<', ja)
    assert badge and badge.group(1) == "ゴール達成"
