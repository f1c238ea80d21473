"""Classification corpus: realistic user agents, timings and address ranges -> human / machine_open / scanner."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from campaigns.engagement.classify import HitFacts, classify_hit, classify_send_hits, network_of
from campaigns.engagement.hit_buffer import ip_for_storage, make_entry
from campaigns.engagement.hit_writer import STREAM
from campaigns.models.tracking import EngagementRollup, Hit, HitClass, HitKind
from tests.tracking_helpers import (
    IP_APPLE,
    IP_BARRACUDA,
    IP_GOOGLE,
    IP_HOME_JP,
    IP_MICROSOFT,
    IP_MIMECAST,
    IP_OFFICE,
    IP_PROOFPOINT,
    UA_APPLE_MAIL,
    UA_BARE,
    UA_BARRACUDA,
    UA_CHROME,
    UA_GMAIL_PROXY,
    UA_HEADLESS,
    UA_IPHONE_SAFARI,
    UA_MIMECAST,
    UA_OUTLOOK,
    UA_PROOFPOINT,
    UA_PYTHON,
    UA_THUNDERBIRD,
    UA_YAHOO_PROXY,
    drain,
    make_broadcast,
    make_contact,
    make_send,
)

OPEN, CLICK = HitKind.OPEN, HitKind.CLICK
H, M, S = HitClass.HUMAN, HitClass.MACHINE_OPEN, HitClass.SCANNER
HOUR = 3600.0

# (kind, user agent, address, seconds after delivery, expected class, expected reason)
CORPUS = [
    # people reading and clicking, hours later
    (OPEN, UA_APPLE_MAIL, IP_HOME_JP, 2 * HOUR, H, ""),
    (OPEN, UA_OUTLOOK, IP_OFFICE, 600, H, ""),
    (OPEN, UA_THUNDERBIRD, "2400:4050:a0c1:2200::15", 5 * HOUR, H, ""),
    (OPEN, UA_IPHONE_SAFARI, IP_HOME_JP, 45, H, ""),
    (CLICK, UA_CHROME, IP_HOME_JP, 3 * HOUR, H, ""),
    (CLICK, UA_IPHONE_SAFARI, "2400:4050:a0c1:2200::15", 120, H, ""),
    (CLICK, UA_CHROME, IP_APPLE, 2 * HOUR, H, ""),  # someone at Apple clicking is a person
    # Gmail / Yahoo image proxies load images when the reader opens: a person, unless at delivery
    (OPEN, UA_GMAIL_PROXY, IP_GOOGLE, 2 * HOUR, H, "image_proxy"),
    (OPEN, UA_YAHOO_PROXY, "98.136.0.9", 3000, H, "image_proxy"),
    (OPEN, UA_GMAIL_PROXY, IP_GOOGLE, 3, M, "proxy_prefetch"),
    # Apple Mail Privacy Protection and bare proxy user agents
    (OPEN, UA_APPLE_MAIL, IP_APPLE, 40, M, "apple_mpp"),
    (OPEN, UA_APPLE_MAIL, "17.253.0.1", 3 * HOUR, M, "apple_mpp"),
    (OPEN, UA_BARE, "104.28.40.7", 90, M, "generic_proxy_user_agent"),
    (OPEN, UA_OUTLOOK, IP_OFFICE, 0.5, M, "open_at_delivery"),
    # security gateways, by network and by user agent
    (CLICK, UA_CHROME, IP_MICROSOFT, 2 * HOUR, S, "microsoft_network"),
    (OPEN, UA_CHROME, IP_MICROSOFT, 4, S, "microsoft_network"),
    (CLICK, UA_CHROME, IP_PROOFPOINT, 600, S, "proofpoint_network"),
    (CLICK, UA_PROOFPOINT, IP_OFFICE, 600, S, "proofpoint_user_agent"),
    (CLICK, UA_CHROME, IP_MIMECAST, 30, S, "mimecast_network"),
    (CLICK, UA_MIMECAST, IP_OFFICE, 30, S, "mimecast_user_agent"),
    (CLICK, UA_CHROME, IP_BARRACUDA, 60, S, "barracuda_network"),
    (OPEN, UA_BARRACUDA, IP_OFFICE, 60, S, "barracuda_user_agent"),
    # bots and scripts
    (CLICK, UA_PYTHON, IP_OFFICE, HOUR, S, "bot_user_agent"),
    (CLICK, UA_HEADLESS, "34.120.1.1", HOUR, S, "bot_user_agent"),
    (CLICK, "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "66.249.66.1", HOUR, S,
     "bot_user_agent"),
    (CLICK, "", IP_OFFICE, HOUR, S, "no_user_agent"),
    (OPEN, "curl/8.5.0", IP_OFFICE, HOUR, S, "bot_user_agent"),
    # timing: a click seconds after delivery is a scanner, even with a browser user agent
    (CLICK, UA_CHROME, IP_OFFICE, 3, S, "click_at_delivery"),
    (CLICK, UA_CHROME, IP_OFFICE, -1, S, "click_at_delivery"),  # before the ledger even marked it sent
    (CLICK, UA_CHROME, IP_OFFICE, 25, H, ""),
]


@pytest.mark.parametrize("kind,ua,ip,seconds,expected,reason", CORPUS)
def test_corpus(kind, ua, ip, seconds, expected, reason):
    verdict = classify_hit(kind, ua, network_of(ip), seconds)
    assert (verdict.classification, verdict.reason) == (expected, reason)


@pytest.mark.parametrize("kind,ua,ip,seconds,expected,reason", CORPUS)
def test_classification_survives_ip_truncation(kind, ua, ip, seconds, expected, reason):
    # The writer may re-check a stored, truncated address: the listed networks are all /24 or wider.
    stored = ip_for_storage(ip, "truncate", b"k")
    assert network_of(stored) == network_of(ip)


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
