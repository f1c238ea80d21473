"""Website tracking without a browser: the snippet as served, the collector's origins and payloads, the writer's
visits and visitors, identification by a mail click and by a form, the look-back, bots, organisations."""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from campaigns.engagement import web_collect
from campaigns.engagement.hit_writer import process_batch
from campaigns.links import TokenKind
from campaigns.models import Contact, WebTrackingSettings, WebVisit, WebVisitor
from campaigns.models.tracking import HitClass
from tests.factories import make_contact
from tests.tracking_helpers import UA_CHROME, UA_PYTHON, drain, make_broadcast, make_send

SITE = "https://www.acme.test"


def allow(services: Any, domains: str = "www.acme.test", **kw: Any) -> None:
    with services.db.begin() as s:
        row = s.get(WebTrackingSettings, 1) or WebTrackingSettings(id=1)
        row.allowed_domains = domains
        for key, value in {"consent_required": False, "honour_gpc": True, "lookback_days": 30, **kw}.items():
            setattr(row, key, value)
        s.add(row)
    web_collect.forget_config()


@pytest.fixture(autouse=True)
def _fresh_config():
    web_collect.forget_config()
    yield
    web_collect.forget_config()


def new_visitor() -> str:
    return secrets.token_hex(16)


def beacon(client: Any, payload: dict[str, Any], origin: str = SITE, ua: str = UA_CHROME,
           ip: str = "198.51.100.23", **headers: str) -> Any:
    return client.post("/w/collect", data=json.dumps(payload), content_type="text/plain;charset=UTF-8",
                       headers={"Origin": origin, "User-Agent": ua, **headers}, environ_base={"REMOTE_ADDR": ip})


def view(visitor: str, url: str = f"{SITE}/pricing?utm_source=news&utm_medium=email&utm_campaign=nov",
         **extra: Any) -> dict[str, Any]:
    return {"k": "view", "v": visitor, "p": secrets.token_hex(12), "u": url, "t": "料金プラン | Acme",
            "r": "https://search.example/", **extra}


def visits(services: Any) -> list[WebVisit]:
    with services.db.factory() as s:
        rows = list(s.scalars(select(WebVisit).order_by(WebVisit.occurred_at, WebVisit.id)))
        s.expunge_all()
        return rows


def visitor_row(services: Any, key: str) -> WebVisitor | None:
    with services.db.factory() as s:
        row = s.scalar(select(WebVisitor).where(WebVisitor.visitor_key == key))
        if row is not None:
            s.expunge(row)
        return row


# ------------------------------------------------------------------ the snippet
def test_snippet_is_served_with_this_installs_settings_and_revalidates(client, services):
    allow(services, consent_required=True, honour_gpc=False)
    response = client.get("/w/nurture.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert "public, max-age=" in response.headers["Cache-Control"]
    source = response.get_data(as_text=True)
    assert '"endpoint": "http://nurture.test/w/collect"' in source
    assert '"consent": true' in source and '"gpc": false' in source
    assert "/*CONFIG*/{}" not in source
    assert len(source.encode()) < 10_000  # a few KB, no dependencies
    again = client.get("/w/nurture.js", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    allow(services, consent_required=False)
    changed = client.get("/w/nurture.js", headers={"If-None-Match": response.headers["ETag"]})
    assert changed.status_code == 200 and '"consent": false' in changed.get_data(as_text=True)


def test_script_tag_defines_consent_before_the_snippet_loads():
    tag = web_collect.script_tag("https://nurture.acme.test/")
    assert '<script async src="https://nurture.acme.test/w/nurture.js"></script>' in tag
    assert "consent:function(v)" in tag


# ------------------------------------------------------------------ the collector
def test_a_page_view_from_an_allowed_site_is_stored_as_a_persons_anonymous_visit(client, services, app):
    allow(services)
    key = new_visitor()
    response = beacon(client, view(key))
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == SITE
    assert response.get_data() == b""
    drain(app)
    [visit] = visits(services)
    assert (visit.host, visit.path, visit.title) == ("www.acme.test", "/pricing", "料金プラン | Acme")
    assert (visit.utm_source, visit.utm_medium, visit.utm_campaign) == ("news", "email", "nov")
    assert visit.referrer == "https://search.example/"
    assert visit.classification == HitClass.HUMAN and visit.contact_id is None
    assert visit.ip == "198.51.100.0"  # truncated as mail hits' addresses (IP_PRIVACY=truncate)
    visitor = visitor_row(services, key)
    assert visitor is not None and visitor.id == visit.visitor_id and visitor.contact_id is None
    assert visitor.last_seen_at == visit.occurred_at


@pytest.mark.parametrize("origin", ["https://evil.test", "null", "", "https://acme.test", "https://www.acme.test.evil.test"])
def test_other_origins_are_refused_and_nothing_is_stored(client, services, app, origin):
    allow(services)
    response = beacon(client, view(new_visitor()), origin=origin)
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response.headers
    drain(app)
    assert visits(services) == []


def test_a_page_of_another_site_is_refused_even_from_an_allowed_origin(client, services, app):
    allow(services)
    assert beacon(client, view(new_visitor(), url="https://evil.test/pricing")).status_code == 403
    drain(app)
    assert visits(services) == []


def test_nothing_is_collected_before_any_domain_is_allowed(client, services, app):
    assert beacon(client, view(new_visitor())).status_code == 403
    drain(app)
    assert visits(services) == []


def test_a_leading_dot_allows_the_domain_and_its_subdomains(client, services, app):
    allow(services, ".acme.test")
    for host in ("https://acme.test", "https://blog.acme.test"):
        assert beacon(client, view(new_visitor(), url=f"{host}/"), origin=host).status_code == 204
    assert beacon(client, view(new_visitor(), url="https://notacme.test/"), origin="https://notacme.test").status_code == 403
    drain(app)
    assert sorted(v.host for v in visits(services)) == ["acme.test", "blog.acme.test"]


def test_preflight_answers_allowed_origins_only(client, services):
    allow(services)
    ok = client.options("/w/collect", headers={"Origin": SITE, "Access-Control-Request-Method": "POST"})
    assert ok.status_code == 204 and ok.headers["Access-Control-Allow-Origin"] == SITE
    refused = client.options("/w/collect", headers={"Origin": "https://evil.test"})
    assert refused.status_code == 403 and "Access-Control-Allow-Origin" not in refused.headers


@pytest.mark.parametrize("body,status", [
    (b"not json", 400), (b"[1, 2]", 400), (json.dumps({"k": "view", "v": "short", "p": "0" * 24}).encode(), 400),
    (json.dumps({"k": "other", "v": "a" * 32, "p": "0" * 24}).encode(), 400),
    (json.dumps({"k": "end", "v": "a" * 32, "p": "0" * 24, "d": "long"}).encode(), 400),
    (b"{" + b" " * 9000 + b"}", 413),
])
def test_malformed_beacons_are_answered_with_a_reason_and_never_stored(client, services, app, body, status):
    allow(services)
    response = client.post("/w/collect", data=body, content_type="text/plain", headers={"Origin": SITE})
    assert response.status_code == status
    drain(app)
    assert visits(services) == []


def test_global_privacy_control_is_honoured_when_enabled(client, services, app):
    allow(services, honour_gpc=True)
    assert beacon(client, view(new_visitor()), **{"Sec-GPC": "1"}).status_code == 204
    drain(app)
    assert visits(services) == []
    allow(services, honour_gpc=False)
    assert beacon(client, view(new_visitor()), **{"Sec-GPC": "1"}).status_code == 204
    drain(app)
    assert len(visits(services)) == 1


def test_time_on_page_updates_the_visit_in_the_same_batch_and_later(client, services, app):
    allow(services)
    key = new_visitor()
    first, second = view(key), view(key, url=f"{SITE}/case-studies")
    beacon(client, first)
    beacon(client, {"k": "end", "v": key, "p": first["p"], "d": 12})
    beacon(client, second)
    drain(app)
    beacon(client, {"k": "end", "v": key, "p": second["p"], "d": 99999})
    beacon(client, {"k": "end", "v": new_visitor(), "p": first["p"], "d": 1})  # another visitor's: ignored
    drain(app)
    by_path = {v.path: v.duration_seconds for v in visits(services)}
    assert by_path == {"/pricing": 12, "/case-studies": 4 * 3600}


def test_a_redelivered_entry_is_stored_once(client, services, app):
    allow(services)
    entry = {"e": "ab" * 12, "k": "visit", "v": new_visitor(), "t": f"{time.time():.6f}", "u": f"{SITE}/",
             "ua": UA_CHROME, "lb": "30"}
    with services.db.begin() as s:
        assert process_batch(s, [entry, dict(entry)]) == 1
    with services.db.begin() as s:
        assert process_batch(s, [entry]) == 0
    assert len(visits(services)) == 1


# ------------------------------------------------------------------ bots and prefetchers
def test_bots_headless_browsers_and_prefetches_are_stored_but_never_as_people(client, services, app):
    allow(services)
    key = new_visitor()
    beacon(client, view(key), ua=UA_PYTHON)
    beacon(client, view(key), ua="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                                 "HeadlessChrome/140.0.0.0 Safari/537.36")
    beacon(client, view(key, w=1))
    beacon(client, view(key), **{"Sec-Purpose": "prefetch;prerender"})
    beacon(client, view(key, url=f"{SITE}/about"))
    drain(app)
    rows = visits(services)
    assert [(v.classification, v.reason) for v in rows[:4]] == [
        (HitClass.SCANNER, "bot_user_agent"), (HitClass.SCANNER, "bot_user_agent"),
        (HitClass.SCANNER, "automated_browser"), (HitClass.MACHINE_OPEN, "prefetch"),
    ]
    assert rows[4].classification == HitClass.HUMAN
    assert visitor_row(services, key).last_seen_at == rows[4].occurred_at  # bots do not make a visitor recent


# ------------------------------------------------------------------ identification
@pytest.fixture
def mailed(services) -> dict[str, int]:
    with services.db.begin() as s:
        campaign = make_broadcast(s, urls=[f"{SITE}/pricing?from=mail#plans", "https://partner.test/x"], honeypot=False)
        contact = make_contact(s, "hanako@example.co.jp")
        send = make_send(s, campaign, contact)
        return {"contact": contact.id, "send": send.id, "link": campaign.link_ids[0], "other": campaign.link_ids[1]}


def test_the_click_redirect_adds_a_signed_short_lived_identifier_into_allowed_sites_only(client, services, mailed):
    allow(services)
    token = services.signer.sign(TokenKind.CLICK, mailed["send"], mailed["link"])
    location = client.get(f"/t/c/{token}").headers["Location"]  # the WSGI fast path
    parts = urlsplit(location)
    assert (parts.netloc, parts.path, parts.fragment) == ("www.acme.test", "/pricing", "plans")
    query = parse_qs(parts.query)
    assert query["from"] == ["mail"]
    verified = services.signer.verify(query["_nid"][0], TokenKind.WEB_IDENTIFY)
    assert verified is not None and verified.a == mailed["send"]
    assert 0 < verified.b - time.time() <= web_collect.IDENTIFIER_SECONDS
    head = client.head(f"/t/c/{token}").headers["Location"]  # the Flask view adds it the same way
    assert "_nid=" in head
    other = services.signer.sign(TokenKind.CLICK, mailed["send"], mailed["other"])
    assert client.get(f"/t/c/{other}").headers["Location"] == "https://partner.test/x"


def test_a_visit_through_a_mail_link_identifies_the_visitor_and_attaches_its_history(client, services, app, mailed):
    allow(services, lookback_days=30)
    key = new_visitor()
    beacon(client, view(key, url=f"{SITE}/blog/1"))  # anonymous, before the mail
    drain(app)
    with services.db.begin() as s:  # an anonymous visit older than the look-back stays anonymous
        visitor_id = s.scalar(select(WebVisitor.id).where(WebVisitor.visitor_key == key))
        s.add(WebVisit(event_id="old" + "0" * 21, visitor_id=visitor_id, url=f"{SITE}/old", host="www.acme.test",
                       path="/old", classification=HitClass.HUMAN, occurred_at=datetime.now(UTC) - timedelta(days=40)))
    click = services.signer.sign(TokenKind.CLICK, mailed["send"], mailed["link"])
    nid = parse_qs(urlsplit(client.get(f"/t/c/{click}").headers["Location"]).query)["_nid"][0]
    beacon(client, view(key, url=f"{SITE}/pricing?from=mail&_nid={nid}", n=nid))
    beacon(client, view(key, url=f"{SITE}/contact"))
    drain(app)
    visitor = visitor_row(services, key)
    assert visitor.contact_id == mailed["contact"] and visitor.identified_by == "mail_click"
    by_path = {v.path: v for v in visits(services)}
    assert {p: v.contact_id for p, v in by_path.items()} == {
        "/old": None, "/blog/1": mailed["contact"], "/pricing": mailed["contact"], "/contact": mailed["contact"]}
    assert "_nid" not in by_path["/pricing"].url and "from=mail" in by_path["/pricing"].url


def test_an_expired_or_forged_identifier_names_nobody(client, services, app, mailed):
    allow(services)
    expired = services.signer.sign(TokenKind.WEB_IDENTIFY, mailed["send"], int(time.time()) - 1)
    forged = services.signer.sign(TokenKind.CLICK, mailed["send"], int(time.time()) + 600)  # another kind
    key = new_visitor()
    beacon(client, view(key, n=expired))
    beacon(client, view(key, n=forged))
    drain(app)
    assert visitor_row(services, key).contact_id is None


def test_a_bots_visit_through_a_mail_link_identifies_nobody(client, services, app, mailed):
    allow(services)
    nid = services.signer.sign(TokenKind.WEB_IDENTIFY, mailed["send"], int(time.time()) + 600)
    key = new_visitor()
    beacon(client, view(key, n=nid), ua=UA_PYTHON)
    drain(app)
    assert visitor_row(services, key).contact_id is None


def _form(services: Any, double_opt_in: bool = False) -> str:
    from campaigns.leads import forms

    with services.db.begin() as s:
        form = forms.create_form(s, forms.FormInput(name="資料請求", consent_text="同意します",
                                                    fields=forms.default_fields(), double_opt_in=double_opt_in))
        return form.slug


def test_a_nurture_form_submitted_on_the_site_identifies_the_visitor(client, services, app):
    allow(services)
    key = new_visitor()
    beacon(client, view(key, url=f"{SITE}/whitepaper"))
    slug = _form(services)
    response = client.post(f"/f/{slug}", data={"email": "jiro@example.co.jp", "last_name": "鈴木", "first_name": "次郎", "company": "鈴木工業",
                                               "consent": "1", "_nurture_vid": key})
    assert response.status_code == 303
    beacon(client, view(key, url=f"{SITE}/thanks"))
    drain(app)
    with services.db.factory() as s:
        contact_id = s.scalar(select(Contact.id).where(Contact.email == "jiro@example.co.jp"))
    visitor = visitor_row(services, key)
    assert visitor.contact_id == contact_id and visitor.identified_by == "form"
    assert [v.contact_id for v in visits(services)] == [contact_id, contact_id]


def test_the_hosted_form_in_an_iframe_carries_the_visitor_to_its_post(client, services, app):
    allow(services)
    key = new_visitor()
    slug = _form(services)
    page = client.get(f"/f/{slug}?embed=1&nv={key}").get_data(as_text=True)
    assert f"nv={key}" in page  # the form's action keeps it
    client.post(f"/f/{slug}?embed=1&nv={key}", data={"email": "saburo@example.co.jp", "last_name": "佐藤",
                                                     "first_name": "三郎", "company": "佐藤商会", "consent": "1"})
    drain(app)
    assert visitor_row(services, key).identified_by == "form"


def test_a_pending_double_opt_in_identifies_nobody(client, services, app):
    allow(services)
    key = new_visitor()
    slug = _form(services, double_opt_in=True)
    client.post(f"/f/{slug}", data={"email": "shiro@example.co.jp", "last_name": "田中", "first_name": "四郎", "company": "田中製作所",
                                    "consent": "1", "_nurture_vid": key})
    drain(app)
    assert visitor_row(services, key) is None


# ------------------------------------------------------------------ organisations
@pytest.fixture
def org_database(tmp_path: Path) -> str:
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-ISP")
    writer.insert_network(IPSet(["203.0.113.0/24"]), {"organization": "株式会社サンプル商事", "isp": "Example ISP"})
    writer.insert_network(IPSet(["192.0.2.0/24"]), {"autonomous_system_organization": "Example Cloud"})
    path = tmp_path / "orgs.mmdb"
    writer.to_db_file(str(path))
    return str(path)


@pytest.fixture
def org_app(app_overrides, redis_conn, org_database):
    from tests.conftest import seed_account, truncate_all
    from wsgi import create_app

    application = create_app({**app_overrides, "ip_org_database": org_database})
    truncate_all(application.extensions["nurture"].db)
    seed_account(application.extensions["nurture"].db)
    yield application
    from campaigns.engagement.hit_buffer import flush_hits

    flush_hits(timeout=5)
    application.extensions["nurture"].db.dispose()


def test_visits_and_visitors_get_their_organisation_from_the_database(org_app):
    services, client = org_app.extensions["nurture"], org_app.test_client()
    allow(services)
    known, cloud, unknown = new_visitor(), new_visitor(), new_visitor()
    beacon(client, view(known), ip="203.0.113.9")
    beacon(client, view(cloud), ip="192.0.2.200")
    beacon(client, view(unknown), ip="198.51.100.1")
    drain(org_app)
    assert visitor_row(services, known).organisation == "株式会社サンプル商事"
    assert visitor_row(services, cloud).organisation == "Example Cloud"
    assert visitor_row(services, unknown).organisation == ""
    assert sorted(v.organisation for v in visits(services)) == ["", "Example Cloud", "株式会社サンプル商事"]
    assert {v.ip for v in visits(services)} == {"203.0.113.0", "192.0.2.0", "198.51.100.0"}  # stored truncated


def test_a_missing_org_database_names_no_organisation(services):
    from dataclasses import replace

    settings = replace(services.settings, ip_org_database="/nonexistent/orgs.mmdb")
    assert web_collect.organisation_of(settings, "203.0.113.9") == ""


# ------------------------------------------------------------------ the settings' domain list
def test_parse_domains_normalises_and_reports_what_is_not_a_host():
    good, bad = web_collect.parse_domains("www.Acme.test\nhttps://blog.acme.test/path, *.shop.test .corp.test\n"
                                          "例え.jp bad_host! ")
    assert good == ["www.acme.test", "blog.acme.test", ".shop.test", ".corp.test", "xn--r8jz45g.jp"]
    assert bad == ["bad_host!"]
