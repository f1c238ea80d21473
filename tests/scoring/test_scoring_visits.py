"""Scoring's page-visit rules: points for people's visits to matching pages (pricing +15, case studies +5),
capped per day, decayed as every ledger entry, picked up by the web_visits cursor, never for bots or
anonymous visitors; the ledger reads "visited /pricing" on the contact's timeline; recompute agrees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from campaigns.insights.timeline import contact_timeline
from campaigns.models import Contact, ScoreEntry
from campaigns.scoring import engine, rules
from tests.factories import make_contact, make_visit, make_visitor

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _settings(session: Any, **values: Any) -> None:
    row = rules.get_settings(session)
    for key, value in values.items():
        setattr(row, key, value)
    session.flush()


def _run(session: Any, now: datetime) -> None:
    engine.score_new(session, now)
    session.commit()


def _score(session: Any, contact: Contact) -> int:
    session.expire_all()
    return session.get(Contact, contact.id).score


def test_pricing_and_case_studies_score_capped_per_day_people_only(session: Any) -> None:
    _settings(session, half_life_days=0, warm_at=1000, hot_at=2000)
    rules.create_rule(session, {"name": "Pricing", "kind": "page_visit", "points": 15, "daily_cap": 2,
                                "page_pattern": "/pricing*"})
    rules.create_rule(session, {"name": "Case studies", "kind": "page_visit", "points": 5,
                                "link_url": "https://www.acme.test/case-studies/*"})
    lead, other = make_contact(session), make_contact(session)
    visitor = make_visitor(session, lead.id)
    for minute in range(3):  # three pricing views on one day: the cap of 2 keeps one out
        make_visit(session, visitor, "/pricing", at=T0 + timedelta(minutes=minute))
    make_visit(session, visitor, "/case-studies/tokyo", at=T0)
    make_visit(session, visitor, "/blog/ai", at=T0)  # no rule
    make_visit(session, visitor, "/pricing", at=T0, human=False)  # a bot with the lead's id: nothing
    anonymous = make_visitor(session, None)
    make_visit(session, anonymous, "/pricing", at=T0)  # nobody to score
    _run(session, T0 + timedelta(hours=1))
    assert _score(session, lead) == 2 * 15 + 5
    # the next run reads only new visits (the cursor), a new day has a fresh cap
    other_visitor = make_visitor(session, other.id)
    make_visit(session, other_visitor, "/pricing/enterprise", at=T0 + timedelta(days=1))
    make_visit(session, visitor, "/pricing", at=T0 + timedelta(days=1))
    _run(session, T0 + timedelta(days=1, hours=1))
    _run(session, T0 + timedelta(days=1, hours=2))  # a re-run counts nothing twice
    assert (_score(session, lead), _score(session, other)) == (3 * 15 + 5, 15)
    assert rules.get_settings(session).visit_cursor > 0

    # the ledger says why, on the timeline
    page = contact_timeline(session, lead.id, ZoneInfo("Asia/Tokyo"), limit=100)
    scored = [(i.text, i.params, i.points) for i in page.items if i.kind == "score"]
    assert ("visited %(page)s", {"page": "/pricing"}, 15) in scored
    assert ("visited %(page)s", {"page": "/case-studies/tokyo"}, 5) in scored
    visits = [i for i in page.items if i.kind == "visit"]
    assert len(visits) == 6 and all(i.at.tzinfo == ZoneInfo("Asia/Tokyo") for i in visits)  # the bot's is not there

    # recompute from the whole history gives the same numbers
    before = sorted(session.execute(select(ScoreEntry.contact_id, ScoreEntry.points, ScoreEntry.source,
                                           ScoreEntry.source_ref)).all())
    engine.recompute(session, T0 + timedelta(days=1, hours=2))
    session.commit()
    after = sorted(session.execute(select(ScoreEntry.contact_id, ScoreEntry.points, ScoreEntry.source,
                                          ScoreEntry.source_ref)).all())
    assert before == after and _score(session, lead) == 50


def test_visit_points_decay_like_any_entry(session: Any) -> None:
    _settings(session, half_life_days=10, warm_at=1000, hot_at=2000)
    rules.create_rule(session, {"name": "Pricing", "kind": "page_visit", "points": 16, "page_pattern": "/pricing"})
    lead = make_contact(session)
    make_visit(session, make_visitor(session, lead.id), "/pricing/", at=T0)
    _run(session, T0)
    assert _score(session, lead) == 16
    _settings(session, last_decay_at=None)
    _run(session, T0 + timedelta(days=20))
    assert _score(session, lead) == 4


@pytest.mark.parametrize("fields, message", [
    ({"page_pattern": ""}, "a page visit rule needs the page"),
    ({"page_pattern": "/a b"}, "a page visit rule needs the page"),
    ({"page_pattern": "/p", "property_key": "x"}, "only event rules can filter by a property"),
])
def test_page_rule_validation(session: Any, fields: dict[str, Any], message: str) -> None:
    with pytest.raises(rules.ScoringError) as err:
        rules.create_rule(session, {"name": "r", "kind": "page_visit", "points": 5, **fields})
    assert message in str(err.value)


def test_rule_form_offers_the_page_visit_kind(ui: Any, services: Any) -> None:
    html = ui.get("/scoring/rules/new").get_data(as_text=True)
    assert 'value="page_visit"' in html and "Website page visited" in html
    resp = ui.post("/scoring/rules/new", {"name": "Pricing", "kind": "page_visit", "points": "15", "daily_cap": "1",
                                          "page_pattern": "/pricing*"}, page="/scoring/rules/new")
    assert resp.status_code == 302, resp.get_data(as_text=True)
    with services.db.begin() as s:
        rule = s.scalars(select(rules.ScoringRule).where(rules.ScoringRule.name == "Pricing")).one()
        assert (rule.kind.value, rule.link_url, rule.daily_cap) == ("page_visit", "/pricing*", 1)
    listing = ui.get("/scoring").get_data(as_text=True)
    assert "/pricing*" in listing
    edit = ui.get(f"/scoring/rules/{rule.id}").get_data(as_text=True)
    assert 'name="page_pattern" value="/pricing*"' in edit
    bad = ui.post("/scoring/rules/new", {"name": "Bad", "kind": "page_visit", "points": "5", "page_pattern": "/a b"},
                  page="/scoring/rules/new").get_data(as_text=True)
    assert "a page visit rule needs the page" in bad and 'value="/a b"' in bad
