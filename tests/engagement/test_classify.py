"""Send-level classification (a honeypot, every link at once, reclassification by the writer) and IP privacy.

The per-hit corpus (agents, addresses, timings) is tests/engagement/corpus/hits.jsonl, run by test_classify_corpus.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from campaigns.engagement.classify import HitFacts, classify_send_hits, network_of
from campaigns.engagement.hit_buffer import make_entry
from campaigns.engagement.hit_writer import STREAM
from campaigns.ip_privacy import ip_for_storage
from campaigns.models.tracking import EngagementRollup, Hit, HitClass, HitKind
from tests.factories import make_contact
from tests.tracking_helpers import (
    IP_OFFICE,
    UA_CHROME,
    UA_IPHONE_SAFARI,
    drain,
    make_broadcast,
    make_send,
)

OPEN, CLICK = HitKind.OPEN, HitKind.CLICK
H, S = HitClass.HUMAN, HitClass.SCANNER


def test_ip_privacy_modes():
    assert ip_for_storage("203.0.113.45", "truncate", b"k") == "203.0.113.0"
    assert ip_for_storage("2400:4050:a0c1:2200::15", "truncate", b"k") == "2400:4050:a0c1::"
    hashed = ip_for_storage("203.0.113.45", "hash", b"k")
    assert len(hashed) == 32 and "203" not in hashed
    assert hashed == ip_for_storage("203.0.113.45", "hash", b"k") != ip_for_storage("203.0.113.46", "hash", b"k")
    assert hashed != ip_for_storage("203.0.113.45", "hash", b"other-key")
    assert ip_for_storage("203.0.113.45", "none", b"k") == "203.0.113.45"
    assert ip_for_storage("not-an-ip", "truncate", b"k") == ""


T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def facts(kind, seconds, link=None, ua=UA_CHROME, ip="203.0.113.0"):
    return HitFacts(kind, T0 + timedelta(seconds=seconds), ua, network_of(ip), ip, link)


def classes(verdicts):
    return [(v.classification, v.reason) for v in verdicts]


def test_all_links_clicked_at_once_is_a_scanner():
    hits = [facts(CLICK, 3600 + i * 0.7, link=link) for i, link in enumerate([1, 2, 3])]
    assert classes(classify_send_hits(hits, T0, set(), 3)) == [(S, "all_links_at_once")] * 3


def test_two_links_clicked_minutes_apart_is_a_person():
    hits = [facts(CLICK, 3600, link=1), facts(CLICK, 3900, link=2), facts(CLICK, 3902, link=1)]
    assert classes(classify_send_hits(hits, T0, set(), 3)) == [(H, "")] * 3


def test_honeypot_click_marks_the_same_clients_clicks():
    hits = [
        facts(CLICK, 7200, link=1),
        facts(CLICK, 7210, link=9),  # the hidden link
        facts(CLICK, 7200, link=2, ua=UA_IPHONE_SAFARI, ip="126.15.34.0"),  # a different client: a person
    ]
    assert classes(classify_send_hits(hits, T0, {9}, 2)) == [(S, "honeypot_companion"), (S, "honeypot"), (H, "")]


def test_writer_reclassifies_earlier_click_when_the_burst_completes_later(services, app):
    """The first click of a scanner's burst is written as human; the next batch corrects it and the roll-ups."""
    with services.db.begin() as s:
        campaign = make_broadcast(s, honeypot=False)
        send = make_send(s, campaign, make_contact(s), sent_at=T0)
        send_id = send.id
    at = T0 + timedelta(hours=1)
    first = make_entry(services, CLICK, send_id, campaign.link_ids[0], UA_CHROME, IP_OFFICE, at=at)
    services.redis.xadd(STREAM, first)
    drain(app)

    def unique_clicks():
        with services.db.factory() as s:
            return sum(s.scalars(select(EngagementRollup.count).where(
                EngagementRollup.metric == "unique_click", EngagementRollup.link_id == 0)))

    assert unique_clicks() == 1
    for i, link in enumerate(campaign.link_ids[1:], start=1):
        services.redis.xadd(STREAM, make_entry(services, CLICK, send_id, link, UA_CHROME, IP_OFFICE,
                                               at=at + timedelta(seconds=i)))
    drain(app)
    with services.db.factory() as s:
        stored = s.execute(select(Hit.classification, Hit.reason).order_by(Hit.id)).all()
    assert [tuple(r) for r in stored] == [(S, "all_links_at_once")] * 3
    assert unique_clicks() == 0
