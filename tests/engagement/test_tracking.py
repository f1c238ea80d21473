"""Tracking endpoints end to end: pixel, click redirect, unsubscribe, preferences; recording via the buffer."""

from __future__ import annotations

import random
import string

import pytest
from redis import Redis
from sqlalchemy import func, select

from campaigns.db import Database
from campaigns.engagement.hit_buffer import flush_hits
from campaigns.engagement.hit_writer import STREAM
from campaigns.journeys.sequences import enroll_contact
from campaigns.journeys.walk_entry import journey_of_sequence
from campaigns.links import TokenKind
from campaigns.models import (
    Contact,
    ContactStatus,
    Event,
    JourneyEnrolment,
    JourneyEnrolmentStatus,
    Send,
    SendStatus,
    Sequence,
    Suppression,
)
from campaigns.models.tracking import Hit, HitClass, HitKind
from tests.conftest import free_port
from tests.factories import make_contact
from tests.tracking_helpers import (
    IP_HOME_JP,
    UA_CHROME,
    drain,
    make_broadcast,
    make_send,
    make_sequence_campaign,
)

GIF_MAGIC = b"GIF89a"


@pytest.fixture
def sent(services):
    """A broadcast delivered two hours ago to one contact."""
    with services.db.begin() as s:
        campaign = make_broadcast(s)
        contact = make_contact(s)
        send = make_send(s, campaign, contact)
        return campaign, contact.id, send.id


def hits(services) -> list[Hit]:
    with services.db.factory() as s:
        return list(s.scalars(select(Hit).order_by(Hit.id)))


def assert_pixel(resp) -> None:
    assert resp.status_code == 200
    assert resp.mimetype == "image/gif"
    assert resp.data.startswith(GIF_MAGIC) and len(resp.data) < 100
    assert "no-store" in resp.headers["Cache-Control"] and "no-cache" in resp.headers["Cache-Control"]
    assert resp.headers["Expires"] == "0"


def mutations(token: str, n: int, seed: int = 7) -> list[str]:
    """Random tamperings of a token: changed, dropped, inserted characters, truncation, case flips."""
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + "-_"
    out = set()
    while len(out) < n:
        t = list(token)
        op = rng.randrange(5)
        i = rng.randrange(len(t))
        if op == 0:
            t[i] = rng.choice([c for c in alphabet if c != t[i]])
        elif op == 1:
            del t[i]
        elif op == 2:
            t.insert(i, rng.choice(alphabet))
        elif op == 3:
            t = t[: rng.randrange(1, len(t))]
        else:
            t[i] = t[i].swapcase() if t[i].isalpha() and t[i].swapcase() != t[i] else rng.choice(alphabet)
        candidate = "".join(t)
        if candidate != token:
            out.add(candidate)
    return sorted(out)


# ------------------------------------------------------------------ open pixel
def test_pixel_returns_gif_and_records_a_human_open(client, services, app, sent):
    _campaign, contact_id, send_id = sent
    url = services.urls.open_pixel(send_id)
    resp = client.get(url.replace("http://nurture.test", ""), headers={"User-Agent": UA_CHROME},
                      environ_base={"REMOTE_ADDR": IP_HOME_JP})
    assert_pixel(resp)
    assert hits(services) == []  # buffered, not written by the request
    drain(app)
    [hit] = hits(services)
    assert (hit.kind, hit.send_id, hit.contact_id, hit.link_id) == (HitKind.OPEN, send_id, contact_id, None)
    assert hit.classification == HitClass.HUMAN and hit.user_agent == UA_CHROME
    assert hit.ip == "126.15.34.0"  # truncated to the /24 by default


def test_pixel_with_bad_tokens_still_returns_gif_and_records_nothing(client, services, app, sent):
    _campaign, _contact_id, send_id = sent
    token = services.signer.sign(TokenKind.OPEN, send_id)
    bad = mutations(token, 60)
    bad += [services.signer.sign(TokenKind.CLICK, send_id, 1), "x", "a" * 300]
    for t in bad:
        assert_pixel(client.get(f"/t/o/{t}.gif"))
    for path in ["/t/o/", "/t/o/abc", "/t/o/abc.png", f"/t/o/{token}", f"/t/o/{token}.gif/extra"]:
        assert_pixel(client.get(path))
    flush_hits()
    assert services.redis.xlen(STREAM) == 0
    drain(app)
    assert hits(services) == []


def test_pixel_head_request_records_nothing(client, services, app, sent):
    _c, _ct, send_id = sent
    resp = client.head(f"/t/o/{services.signer.sign(TokenKind.OPEN, send_id)}.gif")
    assert resp.status_code == 200 and resp.mimetype == "image/gif"
    flush_hits()
    assert services.redis.xlen(STREAM) == 0


def test_pixel_falls_back_to_database_when_redis_is_down(client, services, app, sent):
    _c, _ct, send_id = sent
    services.redis = Redis(port=free_port(), socket_connect_timeout=0.2)  # nothing listens there
    assert_pixel(client.get(f"/t/o/{services.signer.sign(TokenKind.OPEN, send_id)}.gif",
                            headers={"User-Agent": UA_CHROME}))
    flush_hits()  # Redis does not take it: the flush writes it to the database
    [hit] = hits(services)
    assert hit.send_id == send_id and hit.classification == HitClass.HUMAN


def test_pixel_survives_redis_and_database_both_down(client, services, app, tmp_path, sent):
    _c, _ct, send_id = sent
    services.redis = Redis(port=free_port(), socket_connect_timeout=0.2)
    good_db = services.db
    services.db = Database(f"sqlite:///{tmp_path}/missing-dir/none.db")  # cannot even be opened
    try:
        assert_pixel(client.get(f"/t/o/{services.signer.sign(TokenKind.OPEN, send_id)}.gif"))
        flush_hits()  # neither Redis nor the database takes it: logged and dropped, never raised
    finally:
        services.db.dispose()
        services.db = good_db


# ------------------------------------------------------------------ click redirect
def test_click_redirects_to_stored_url_only(client, services, app, sent):
    campaign, _contact_id, send_id = sent
    link_id = campaign.link_ids[1]
    token = services.signer.sign(TokenKind.CLICK, send_id, link_id)
    for suffix in ["", "?url=https://evil.test/", "?next=//evil.test&redirect=https://evil.test"]:
        resp = client.get(f"/t/c/{token}{suffix}", headers={"User-Agent": UA_CHROME})
        assert resp.status_code == 302
        assert resp.headers["Location"] == "https://acme.test/b"
        assert "no-store" in resp.headers["Cache-Control"]
    drain(app)
    recorded = hits(services)
    assert len(recorded) == 3 and {h.link_id for h in recorded} == {link_id}
    assert {h.kind for h in recorded} == {HitKind.CLICK}


def test_tampered_click_tokens_get_404_without_location_or_event(client, services, app, sent):
    campaign, _contact_id, send_id = sent
    token = services.signer.sign(TokenKind.CLICK, send_id, campaign.link_ids[0])
    bad = mutations(token, 200, seed=11)
    other_key = services.signer.__class__("another-secret").sign(TokenKind.CLICK, send_id, campaign.link_ids[0])
    bad += [
        other_key,  # forged with the wrong key
        services.signer.sign(TokenKind.OPEN, send_id),  # right key, wrong kind
        services.signer.sign(TokenKind.UNSUBSCRIBE, send_id, campaign.link_ids[0]),
        services.signer.sign(TokenKind.CLICK, send_id, 999_999),  # authentic but unknown link
        "https:%2F%2Fevil.test",
    ]
    for t in bad:
        resp = client.get(f"/t/c/{t}?url=https://evil.test/")
        assert resp.status_code in (400, 404), t
        assert "Location" not in resp.headers, t
    # what the recipient sees: the public "link not valid" page, no way into the marketers' UI
    page = client.get(f"/t/c/{bad[0]}", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "このリンクは無効です" in page and 'href="/"' not in page and "lang-switch" not in page
    flush_hits()
    assert services.redis.xlen(STREAM) == 0
    drain(app)
    assert hits(services) == []


def test_untracked_link_and_head_redirect_without_recording(client, services, app):
    with services.db.begin() as s:
        from tests.tracking_helpers import make_version

        version_id, _links, _hp = make_version(s, [], untracked=["https://acme.test/untracked"])
        from campaigns.models import Link

        untracked = s.scalar(select(Link.id).where(Link.template_version_id == version_id))
        campaign = make_broadcast(s)
        send = make_send(s, campaign, make_contact(s))
        send_id, tracked_link = send.id, campaign.link_ids[0]
    resp = client.get(f"/t/c/{services.signer.sign(TokenKind.CLICK, send_id, untracked)}")
    assert resp.status_code == 302 and resp.headers["Location"] == "https://acme.test/untracked"
    resp = client.head(f"/t/c/{services.signer.sign(TokenKind.CLICK, send_id, tracked_link)}")
    assert resp.status_code == 302 and resp.headers["Location"] == "https://acme.test/a"
    flush_hits()
    assert services.redis.xlen(STREAM) == 0


def test_link_with_dangerous_stored_scheme_is_not_followed(client, services):
    with services.db.begin() as s:
        from tests.tracking_helpers import make_version

        _v, [link_id], _hp = make_version(s, ["javascript:alert(1)"])
        campaign = make_broadcast(s)
        send_id = make_send(s, campaign, make_contact(s)).id
    resp = client.get(f"/t/c/{services.signer.sign(TokenKind.CLICK, send_id, link_id)}")
    assert resp.status_code == 404 and "Location" not in resp.headers


def test_duplicate_buffer_entries_are_written_once(services, app, sent):
    from campaigns.engagement.hit_buffer import make_entry

    _c, _ct, send_id = sent
    entry = make_entry(services, HitKind.OPEN, send_id, 0, UA_CHROME, IP_HOME_JP)
    for _ in range(3):  # at-least-once delivery: the same event id arrives three times
        services.redis.xadd(STREAM, entry)
    drain(app)
    services.redis.xadd(STREAM, entry)  # and once more in a later batch
    drain(app)
    assert len(hits(services)) == 1


# ------------------------------------------------------------------ unsubscribe
@pytest.fixture
def in_sequence(services):
    """A contact walking a two-step sequence's journey: step 1 sent, step 2 queued; plus a queued broadcast
    send. `enrollment` is the walk (a sequence runs as a linear journey)."""
    with services.db.begin() as s:
        seq = make_sequence_campaign(s, steps=2)
        contact = make_contact(s)
        enrollment = enroll_contact(s, contact, s.get(Sequence, seq.sequence_id))
        first = make_send(s, seq, contact, step_index=0)
        second = make_send(s, seq, contact, step_index=1, status=SendStatus.QUEUED)
        for send, step_id in ((first, seq.step_ids[0]), (second, seq.step_ids[1])):
            send.step_id, send.journey_enrolment_id, send.node_key, send.visit = None, enrollment.id, f"step-{step_id}", 1
        s.flush()
        news = make_broadcast(s)
        queued_news = make_send(s, news, contact, status=SendStatus.QUEUED)
        return {"contact_id": contact.id, "email": contact.email, "first": first.id, "second": second.id,
                "news": queued_news.id, "enrollment": enrollment.id, "sequence_id": seq.sequence_id}


def state(services, f) -> dict:
    with services.db.factory() as s:
        contact = s.get(Contact, f["contact_id"])
        return {
            "status": contact.status,
            "suppressed": s.scalar(select(func.count()).select_from(Suppression)
                                   .where(Suppression.email == f["email"])),
            "second": s.get(Send, f["second"]).status,
            "news": s.get(Send, f["news"]).status,
            "enrollment": s.get(JourneyEnrolment, f["enrollment"]).status,
            "events": list(s.scalars(select(Event.name).where(Event.contact_id == f["contact_id"]))),
        }


def test_unsubscribe_get_and_head_change_nothing(client, services, in_sequence):
    url = services.urls.unsubscribe(in_sequence["contact_id"], in_sequence["first"]).replace("http://nurture.test", "")
    before = state(services, in_sequence)
    for _ in range(3):  # link scanners prefetch, sometimes repeatedly
        resp = client.get(url, headers={"User-Agent": "Mozilla/5.0 (compatible; Proofpoint URL Defense)"})
        assert resp.status_code == 200
        assert 'method="post"' in resp.get_data(as_text=True)
        assert resp.headers["Cache-Control"] == "no-store"
    assert client.head(url).status_code == 200
    assert state(services, in_sequence) == before
    assert before["status"] == ContactStatus.ACTIVE and before["suppressed"] == 0


def test_unsubscribe_form_post_unsubscribes_and_cancels_queued_sends(client, services, in_sequence):
    url = services.urls.unsubscribe(in_sequence["contact_id"], in_sequence["first"]).replace("http://nurture.test", "")
    resp = client.post(url)
    assert resp.status_code == 200 and 'data-testid="unsubscribed"' in resp.get_data(as_text=True)
    after = state(services, in_sequence)
    assert after["status"] == ContactStatus.UNSUBSCRIBED and after["suppressed"] == 1
    assert after["second"] == SendStatus.CANCELLED and after["news"] == SendStatus.CANCELLED
    assert after["enrollment"] == JourneyEnrolmentStatus.EXITED
    assert after["events"].count("unsubscribed") == 1
    # A second POST (double click) changes nothing more.
    client.post(url)
    assert state(services, in_sequence) == after


def test_rfc8058_one_click_post_without_cookies_stops_the_sequence(app, services, in_sequence, smtp_server):
    client = app.test_client(use_cookies=False)
    url = services.urls.unsubscribe(in_sequence["contact_id"], in_sequence["first"]).replace("http://nurture.test", "")
    resp = client.post(url, data="List-Unsubscribe=One-Click",
                       content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 200
    assert "Set-Cookie" not in resp.headers
    after = state(services, in_sequence)
    assert after["status"] == ContactStatus.UNSUBSCRIBED and after["suppressed"] == 1
    assert after["second"] == SendStatus.CANCELLED and after["enrollment"] == JourneyEnrolmentStatus.EXITED
    # The later step is not sent even if its job still runs: hand it to the sender if it exists.
    try:
        from campaigns.delivery.sending import deliver_batch
    except ImportError:
        deliver_batch = None
    if deliver_batch is not None:
        with app.app_context():
            deliver_batch(services, [in_sequence["second"], in_sequence["news"]])
        smtp_server.wait_for(1, timeout=1.0)
        assert smtp_server.messages == []


def test_unsubscribing_as_one_case_variant_stops_mail_to_the_other(app, client, services, smtp_server):
    """Ito@ and ito@ are two contacts but one mailbox: an opt-out through either stops both."""
    with services.db.begin() as s:
        news = make_broadcast(s)
        upper, lower = make_contact(s, "Ito@example.jp"), make_contact(s, "ito@example.jp")
        first = make_send(s, news, upper)
        queued = make_send(s, make_broadcast(s, name="December news"), lower, status=SendStatus.QUEUED)
        upper_id, lower_id, first_id, queued_id = upper.id, lower.id, first.id, queued.id
    url = services.urls.unsubscribe(upper_id, first_id).replace("http://nurture.test", "")
    assert client.post(url).status_code == 200
    with services.db.factory() as s:
        assert s.scalars(select(Suppression.email)).all() == ["ito@example.jp"]
        assert s.get(Contact, upper_id).status == ContactStatus.UNSUBSCRIBED
        assert s.get(Contact, lower_id).status == ContactStatus.UNSUBSCRIBED
    from campaigns.delivery.sending import deliver_batch

    with app.app_context():
        counts = deliver_batch(services, [queued_id])
    assert counts["suppressed"] == 1
    smtp_server.wait_for(1, timeout=1.0)
    assert smtp_server.messages == []


def test_unsubscribe_with_tampered_token_changes_nothing(client, services, in_sequence):
    token = services.signer.sign(TokenKind.UNSUBSCRIBE, in_sequence["contact_id"], in_sequence["first"])
    before = state(services, in_sequence)
    for t in mutations(token, 40, seed=3) + [services.signer.sign(TokenKind.PREFERENCES, in_sequence["contact_id"])]:
        resp = client.post(f"/t/u/{t}", data="List-Unsubscribe=One-Click",
                           content_type="application/x-www-form-urlencoded")
        assert resp.status_code == 404
    assert state(services, in_sequence) == before


def test_unsubscribe_token_survives_restart_and_binds_the_contact(app_overrides, redis_conn, services, in_sequence):
    from wsgi import create_app

    token_url = services.urls.unsubscribe(in_sequence["contact_id"], 0).replace("http://nurture.test", "")
    other = create_app(app_overrides)  # a later process with the same SECRET_KEY (no expiry in the token)
    try:
        resp = other.test_client().post(token_url)
        assert resp.status_code == 200
    finally:
        other.extensions["nurture"].db.dispose()
    assert state(services, in_sequence)["status"] == ContactStatus.UNSUBSCRIBED


def test_preferences_leave_one_sequence_keeps_other_mail(client, services, in_sequence):
    url = services.urls.preferences(in_sequence["contact_id"]).replace("http://nurture.test", "")
    page = client.get(url).get_data(as_text=True)
    # the internal name never shows; without a public name the series is worded neutrally, then by its public name
    assert "Whitepaper follow-up" not in page and 'data-testid="series-journey-' in page  # it runs as one
    with services.db.begin() as s:
        journey_of_sequence(s, in_sequence["sequence_id"]).public_name = "Tips after your download"
    page = client.get(url).get_data(as_text=True)
    assert "Tips after your download" in page and "Whitepaper follow-up" not in page
    before = state(services, in_sequence)
    assert state(services, in_sequence) == before  # GET changed nothing
    resp = client.post(url, data={"action": "leave", "sequence_id": str(in_sequence["sequence_id"])})
    assert resp.status_code == 200
    after = state(services, in_sequence)
    assert after["enrollment"] == JourneyEnrolmentStatus.EXITED and after["second"] == SendStatus.CANCELLED
    assert after["status"] == ContactStatus.ACTIVE and after["suppressed"] == 0
    assert after["news"] == SendStatus.QUEUED  # the broadcast still goes
    assert "Tips after your download" not in resp.get_data(as_text=True)
    # Leaving a sequence the contact is not in is a clear 400, and changes nothing.
    assert client.post(url, data={"action": "leave", "sequence_id": "999999"}).status_code == 400
    assert client.post(url, data={"action": "leave", "sequence_id": "x"}).status_code == 400
    # Then all mail.
    client.post(url, data={"action": "all"})
    final = state(services, in_sequence)
    assert final["status"] == ContactStatus.UNSUBSCRIBED and final["news"] == SendStatus.CANCELLED


def test_public_pages_in_japanese(client, services, in_sequence):
    url = services.urls.unsubscribe(in_sequence["contact_id"], 0).replace("http://nurture.test", "")
    page = client.get(url, headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "配信停止" in page


def test_fast_path_and_flask_view_agree(client, services, app):
    """Pixel and click happy paths are answered before Flask (tracking/fastpath.py); the answers match
    the Flask views, and anything unusual (non-ASCII destination, query string) falls through to them."""
    with services.db.begin() as s:
        from tests.tracking_helpers import make_version

        _v, [ascii_link, japanese_link], _hp = make_version(s, ["https://acme.test/a?b=1", "https://例え.jp/資料"])
        campaign = make_broadcast(s)
        send_id = make_send(s, campaign, make_contact(s)).id
    pixel = f"/t/o/{services.signer.sign(TokenKind.OPEN, send_id)}.gif"
    fast, slow = client.get(pixel), client.get(pixel + "?via=flask")
    for resp in (fast, slow):
        assert_pixel(resp)
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert fast.data == slow.data
    ascii_token = services.signer.sign(TokenKind.CLICK, send_id, ascii_link)
    fast, slow = client.get(f"/t/c/{ascii_token}"), client.get(f"/t/c/{ascii_token}?x=1")
    assert fast.status_code == slow.status_code == 302
    assert fast.headers["Location"] == slow.headers["Location"] == "https://acme.test/a?b=1"
    resp = client.get(f"/t/c/{services.signer.sign(TokenKind.CLICK, send_id, japanese_link)}")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("https://")
    assert "%E8%B3%87%E6%96%99" in resp.headers["Location"]  # 資料, percent-encoded by the Flask view
    drain(app)
    assert len(hits(services)) == 5
