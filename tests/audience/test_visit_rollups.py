"""'Visited any page' segment conditions read the per-contact roll-ups (web_visit_days, web_visit_totals, kept by
triggers on web_visits): their counts equal counting the visits themselves, on random visits around the day
boundaries, after the hit writer stores visits, after an anonymous history is attached when its visitor becomes
known, after a time-on-page update and after visits are deleted. Run on SQLite and on PostgreSQL."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from campaigns.audience.segments import count_segment, segment_contact_ids
from campaigns.engagement.web_writer import IDENTIFY, VISIT, VISIT_END, process_web_batch
from campaigns.models import Contact, WebVisit, WebVisitor
from campaigns.models.tracking import HitClass

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
CASES = [(k, d) for k in (1, 2, 3, 5, 8, 9) for d in (None, 1, 2, 7, 30)]  # 9: past RECENT_VISITS, the day roll-up


def _expected(session: Any, at_least: int, days: int | None, now: datetime) -> set[int]:
    """Who has at least K people's visits in the period, counted from web_visits in Python."""
    counts: dict[int, int] = {}
    since = None if days is None else now - timedelta(days=days)
    for contact_id, at in session.execute(select(WebVisit.contact_id, WebVisit.occurred_at).where(
            WebVisit.contact_id.is_not(None), WebVisit.classification == HitClass.HUMAN)):
        if since is None or at >= since:
            counts[contact_id] = counts.get(contact_id, 0) + 1
    active = set(session.scalars(select(Contact.id)))
    return {c for c, n in counts.items() if n >= at_least and c in active}


def _check_all(services: Any, now: datetime) -> None:
    with services.db.begin() as s:
        for at_least, days in CASES:
            rules: dict[str, Any] = {"all": [{"visited": "*", "at_least": at_least}]}
            if days is not None:
                rules["all"][0]["within_days"] = days
            expected = _expected(s, at_least, days, now)
            assert set(s.scalars(segment_contact_ids(rules, now))) == expected, (at_least, days)
            assert count_segment(s, rules, now) == len(expected), (at_least, days)


def test_any_page_counts_equal_the_visits_on_random_data(services):
    rng = random.Random(18)
    with services.db.begin() as s:
        contacts = [Contact(email=f"r{i}@acme.test") for i in range(40)]
        s.add_all(contacts)
        s.flush()
        visitors = [WebVisitor(visitor_key=f"{i:032x}", contact_id=c.id) for i, c in enumerate(contacts)]
        visitors += [WebVisitor(visitor_key=f"{100 + i:032x}") for i in range(5)]  # anonymous
        s.add_all(visitors)
        s.flush()
        for n in range(900):
            v = rng.choice(visitors)
            # clustered on the period's first day and on midnights, where a day roll-up could be off by one
            at = NOW - timedelta(days=rng.choice([0, 1, 2, 7, 30, 45]), seconds=rng.randint(-7200, 7200))
            if rng.random() < 0.3:
                at = (NOW - timedelta(days=rng.randint(0, 40))).replace(hour=0, minute=0, second=0) + \
                    timedelta(seconds=rng.choice([-1, 0, 1]))
            s.add(WebVisit(event_id=f"e{n:031x}", visitor_id=v.id, contact_id=v.contact_id, url="https://a.test/",
                           host="a.test", path=rng.choice(["/", "/pricing", "/blog/x"]), occurred_at=at,
                           classification=HitClass.HUMAN if rng.random() < 0.85 else HitClass.SCANNER))
    _check_all(services, NOW)
    # at midnight itself the first day is whole; a minute later it is not
    _check_all(services, NOW.replace(hour=0, minute=0))
    _check_all(services, NOW.replace(hour=0, minute=1))
    # a bot re-classified as a person, a person's visit moved to another contact, visits deleted
    with services.db.begin() as s:
        ids = list(s.scalars(select(WebVisit.id).order_by(WebVisit.id)))
        s.execute(WebVisit.__table__.update().where(WebVisit.id.in_(ids[:50])).values(classification="human"))
        s.execute(WebVisit.__table__.update().where(WebVisit.id.in_(ids[50:80])).values(contact_id=contacts[0].id))
        s.execute(delete(WebVisit).where(WebVisit.id.in_(ids[100:250])))
    _check_all(services, NOW)


def _entry(kind: str, event: str, visitor: str, at: datetime, **fields: str) -> dict[str, str]:
    return {"k": kind, "e": event, "v": visitor, "t": f"{at.timestamp():.6f}", **fields}


def test_the_hit_writer_and_identification_keep_the_counts(services):
    """Anonymous visits stored by the hit writer count for nobody; when a form names the visitor, its history
    within the look-back follows the contact into the 'at least K visits' counts; a time-on-page update changes
    no count."""
    now = datetime.now(UTC)
    key = "ab" * 16
    with services.db.begin() as s:
        contact_id = Contact(email="late@acme.test")
        s.add(contact_id)
        s.flush()
        contact = contact_id.id
    visits = [_entry(VISIT, f"w{i:031x}", key, now - timedelta(days=d, minutes=5), u=f"https://a.test/p{i}",
                     ua=BROWSER, lb="30")
              for i, d in enumerate([0, 1, 3, 6, 20, 40])]
    with services.db.begin() as s:
        assert process_web_batch(s, visits) == 6
    three_in_7 = {"all": [{"visited": "*", "at_least": 3, "within_days": 7}]}
    five_ever = {"all": [{"visited": "*", "at_least": 5}]}
    with services.db.begin() as s:
        assert count_segment(s, three_in_7, now) == 0
    with services.db.begin() as s:
        process_web_batch(s, [_entry(IDENTIFY, "i" * 32, key, now, c=str(contact), lb="30"),
                              _entry(VISIT_END, "w" + "0" * 31, key, now, d="40")])
    _check_all(services, now)
    with services.db.begin() as s:
        assert set(s.scalars(segment_contact_ids(three_in_7, now))) == {contact}
        # the visit 40 days ago was outside the 30-day look-back: it stays anonymous, five visits counted
        assert set(s.scalars(segment_contact_ids(five_ever, now))) == {contact}
        assert count_segment(s, {"all": [{"visited": "*", "at_least": 6}]}, now) == 0
    # a later visit arrives with the contact already known
    with services.db.begin() as s:
        process_web_batch(s, [_entry(VISIT, "x" * 32, key, now, u="https://a.test/again", ua=BROWSER, lb="30")])
    _check_all(services, now)
    with services.db.begin() as s:
        assert count_segment(s, {"all": [{"visited": "*", "at_least": 6}]}, now) == 1
