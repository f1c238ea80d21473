"""The website snippet in real headless Chromium, on pages served by a tiny http.server on a SECOND origin (the
marketer's site) with the real app on its own port: anonymous visits and time on page, identification through
a tracked mail click (the real click endpoint) and through a Nurture form with the earlier history merged,
consent mode, a blocked or down collector that the page never notices, refused origins and bots not counted.
Also the Settings -> Website tracking page in English and Japanese at 1366 and 390 px."""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from campaigns.engagement import web_collect
from campaigns.models import Contact, WebTrackingSettings, WebVisit, WebVisitor
from campaigns.models.tracking import HitClass
from tests.browser_helpers import CHROMIUM_ARGS
from tests.conftest import USER_EMAIL, USER_PASSWORD, free_port, seed_account, truncate_all
from tests.factories import make_contact
from tests.tracking_helpers import UA_CHROME, drain, make_broadcast, make_send

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(os.environ.get("WEB_SHOTS", "/tmp/nurture-browser/website"))
PERSON = {"user_agent": UA_CHROME}  # a person's Chrome (headless Chromium names itself HeadlessChrome: a bot)
NOT_AUTOMATED = "Object.defineProperty(Navigator.prototype, 'webdriver', {get: () => false})"


class Site:
    """The marketer's website: a tiny http.server on another port serving pages that carry the tag."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.pages: dict[str, str] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                body = site.pages.get(self.path.split("?")[0])
                if body is None:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:  # "localhost": the allowed domain; 127.0.0.1 on the same port is another origin
        return f"http://localhost:{self.server.server_port}"

    def page(self, path: str, title: str, body: str = "", tag: str | None = None) -> str:
        self.pages[path] = (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
                            f"{self.tag if tag is None else tag}</head><body><h1 id='content'>{title}</h1>{body}"
                            "</body></html>")
        return self.url + path

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def nurture(app_overrides: dict[str, Any], redis_conn: Any) -> Iterator[tuple[Any, str]]:
    """The real app with BASE_URL on its own loopback port (the snippet and mail links point at it)."""
    from campaigns.engagement.hit_buffer import flush_hits
    from wsgi import create_app

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = create_app({**app_overrides, "base_url": url})
    svc = app.extensions["nurture"]
    truncate_all(svc.db)
    seed_account(svc.db)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    web_collect.forget_config()
    yield app, url
    server.shutdown()
    thread.join(5)
    flush_hits(timeout=5)
    web_collect.forget_config()
    svc.db.dispose()


@pytest.fixture
def site(nurture: tuple[Any, str]) -> Iterator[Site]:
    s = Site(web_collect.script_tag(nurture[1]))
    yield s
    s.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def new_page(browser: Any, person: bool = True, **options: Any) -> tuple[Any, Any, list[str]]:
    """A page of a fresh browser context, recording uncaught script errors the site would see."""
    context = browser.new_context(**({**PERSON, **options} if person else options))
    if person:
        context.add_init_script(NOT_AUTOMATED)
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    return context, page, errors


def allow(app: Any, domains: str = "localhost", **kw: Any) -> None:
    svc = app.extensions["nurture"]
    with svc.db.begin() as s:
        row = s.get(WebTrackingSettings, 1) or WebTrackingSettings(id=1)
        row.allowed_domains = domains
        for key, value in {"consent_required": False, "honour_gpc": True, "lookback_days": 30, **kw}.items():
            setattr(row, key, value)
        s.add(row)
    web_collect.forget_config()


def stored(app: Any) -> list[WebVisit]:
    with app.extensions["nurture"].db.factory() as s:
        rows = list(s.scalars(select(WebVisit).order_by(WebVisit.occurred_at, WebVisit.id)))
        s.expunge_all()
        return rows


def wait_for(app: Any, done: Callable[[list[WebVisit]], bool], seconds: float = 10.0) -> list[WebVisit]:
    """Run the writer until `done(visits)` holds (a beacon is sent asynchronously by the browser)."""
    deadline = time.monotonic() + seconds
    while True:
        drain(app)
        visits = stored(app)
        if done(visits) or time.monotonic() > deadline:
            return visits
        time.sleep(0.2)


def visitor_of(app: Any, visit: WebVisit) -> WebVisitor:
    with app.extensions["nurture"].db.factory() as s:
        row = s.get(WebVisitor, visit.visitor_id)
        s.expunge(row)
        return row


def stored_id(page: Any) -> str | None:
    return page.evaluate("localStorage.getItem('_nurture_vid')")


# ------------------------------------------------------------------ anonymous visits
def test_anonymous_visits_with_title_utm_and_time_on_page(nurture, site, browser):
    app, _url = nurture
    allow(app)
    pricing = site.page("/pricing", "料金プラン")
    site.page("/about", "会社概要")
    context, page, errors = new_page(browser)
    page.goto(pricing + "?utm_source=newsletter&utm_medium=email&utm_campaign=dec")
    visits = wait_for(app, lambda v: len(v) == 1)
    assert len(visits) == 1
    visit = visits[0]
    assert (visit.title, visit.path, visit.utm_source, visit.utm_campaign) == ("料金プラン", "/pricing", "newsletter", "dec")
    assert visit.classification == HitClass.HUMAN and visit.contact_id is None
    assert len(stored_id(page) or "") == 32
    page.wait_for_timeout(1600)
    page.goto(site.url + "/about")  # leaving sends the time on page
    visits = wait_for(app, lambda v: len(v) == 2 and v[0].duration_seconds is not None)
    assert [v.path for v in visits] == ["/pricing", "/about"]
    assert visits[0].duration_seconds is not None and visits[0].duration_seconds >= 1
    assert visits[0].visitor_id == visits[1].visitor_id  # the same first-party id on the next page
    assert errors == []
    context.close()


# ------------------------------------------------------------------ identification
def test_a_tracked_mail_click_identifies_the_visitor_and_merges_its_history(nurture, site, browser):
    app, _url = nurture
    allow(app)
    svc = app.extensions["nurture"]
    blog = site.page("/blog", "ブログ")
    site.page("/pricing", "料金プラン")
    with svc.db.begin() as s:
        campaign = make_broadcast(s, urls=[f"{site.url}/pricing?from=mail"], honeypot=False)
        contact = make_contact(s, "hanako@example.co.jp")
        send = make_send(s, campaign, contact)
        click_url, contact_id = svc.urls.click(send.id, campaign.link_ids[0]), contact.id
    context, page, errors = new_page(browser)
    page.goto(blog)  # anonymous first
    wait_for(app, lambda v: len(v) == 1)
    page.goto(click_url)  # the real click endpoint redirects with a signed _nid
    page.wait_for_function("location.pathname === '/pricing' && !location.search.includes('_nid')")
    assert page.url == f"{site.url}/pricing?from=mail"  # the identifier is gone from the address bar
    visits = wait_for(app, lambda v: len(v) == 2 and all(x.contact_id for x in v))
    assert [(v.path, v.contact_id) for v in visits] == [("/blog", contact_id), ("/pricing", contact_id)]
    assert visitor_of(app, visits[0]).identified_by == "mail_click"
    assert "_nid" not in visits[1].url
    assert errors == []
    context.close()


def test_a_nurture_form_on_the_site_identifies_the_visitor(nurture, site, browser):
    app, url = nurture
    allow(app)
    svc = app.extensions["nurture"]
    from campaigns.leads import forms
    from campaigns.views.forms import embed_snippets

    with svc.db.begin() as s:
        form = forms.create_form(s, forms.FormInput(name="資料請求", title="資料請求", consent_text="同意します"))
        s.expunge(form)
    with app.test_request_context():
        snippet_html = embed_snippets(form, url)["html"]
    site.page("/case-studies", "導入事例")
    whitepaper = site.page("/whitepaper", "ホワイトペーパー", snippet_html)
    context, page, errors = new_page(browser)
    page.goto(site.url + "/case-studies")
    page.goto(whitepaper)
    wait_for(app, lambda v: len(v) == 2)
    visitor_key = stored_id(page)
    form_el = page.locator("form")
    form_el.locator("input[name=last_name]").fill("鈴木")
    form_el.locator("input[name=email]").fill("suzuki@example.jp")
    form_el.locator("input[name=company]").fill("鈴木工業")
    form_el.locator("input[name=consent]").check()
    form_el.locator("button[type=submit]").click()
    page.wait_for_url(f"{url}/f/{form.slug}/thanks")
    visits = wait_for(app, lambda v: len(v) == 2 and all(x.contact_id for x in v))
    with svc.db.factory() as s:
        contact_id = s.scalar(select(Contact.id).where(Contact.email == "suzuki@example.jp"))
    assert [v.contact_id for v in visits] == [contact_id, contact_id]
    visitor = visitor_of(app, visits[0])
    assert (visitor.visitor_key, visitor.identified_by) == (visitor_key, "form")
    assert errors == []
    context.close()


# ------------------------------------------------------------------ consent
def test_consent_mode_sends_nothing_and_stores_nothing_before_consent(nurture, site, browser):
    app, _url = nurture
    allow(app, consent_required=True)
    banner = ("<button id='accept' onclick='nurture.consent(true)'>同意する</button>"
              "<button id='refuse' onclick='nurture.consent(false)'>拒否する</button>")
    page_url = site.page("/", "トップ", banner)
    context, page, errors = new_page(browser)
    beacons: list[str] = []
    page.on("request", lambda r: beacons.append(r.url) if "/w/collect" in r.url else None)
    page.goto(page_url)
    page.wait_for_function("window.nurture && !window.nurture.q")  # the snippet has replaced the stub
    page.wait_for_timeout(1000)
    assert beacons == []
    assert stored_id(page) is None and "_nurture" not in page.evaluate("document.cookie")
    assert wait_for(app, lambda v: False, seconds=0.5) == []
    page.click("#accept")
    visits = wait_for(app, lambda v: len(v) == 1)
    assert len(visits) == 1 and len(beacons) == 1
    assert len(stored_id(page) or "") == 32
    page.click("#refuse")  # withdrawn: the identifier is deleted and nothing more is sent
    assert stored_id(page) is None and "_nurture_vid=" not in page.evaluate("document.cookie")
    page.reload()
    page.wait_for_timeout(800)
    assert len(beacons) == 1
    assert errors == []
    context.close()


def test_consent_given_before_the_snippet_loads_is_kept_by_the_stub(nurture, site, browser):
    app, url = nurture
    allow(app, consent_required=True)
    tag = web_collect.script_tag(url).replace("</script>\n", "</script><script>nurture.consent(true)</script>\n", 1)
    page_url = site.page("/early", "早い同意", tag=tag)
    context, page, errors = new_page(browser)
    page.goto(page_url)
    assert len(wait_for(app, lambda v: len(v) == 1)) == 1
    assert errors == []
    context.close()


# ------------------------------------------------------------------ a collector that cannot be reached
def test_a_down_or_blocked_collector_leaves_the_page_working(nurture, site, browser):
    app, _url = nurture
    allow(app)
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there: Nurture is down
    down = site.page("/down", "停止中", "<p id='after'>本文</p><button id='accept' onclick='nurture.consent(true)'>OK</button>",
                     tag=web_collect.script_tag(dead))
    context, page, errors = new_page(browser)
    page.goto(down)
    page.click("#accept")  # the site's banner calls the stub: no error although the snippet never loaded
    assert page.inner_text("#after") == "本文"
    # The snippet loads but its beacons are blocked (an ad blocker): the page notices nothing.
    page.route("**/w/collect", lambda route: route.abort())
    blocked = site.page("/blocked", "ブロック", "<p id='after'>本文</p>")
    page.goto(blocked)
    page.wait_for_function("window.nurture && !window.nurture.q")
    page.evaluate("nurture.page()")
    page.wait_for_timeout(500)
    assert page.inner_text("#after") == "本文"
    assert errors == []
    assert wait_for(app, lambda v: False, seconds=0.5) == []
    context.close()


# ------------------------------------------------------------------ refused origins, bots
def test_pages_of_other_origins_are_refused_and_bots_are_not_counted(nurture, site, browser):
    app, _url = nurture
    allow(app)
    site.page("/x", "別オリジン")
    context, page, errors = new_page(browser)
    page.goto(f"http://127.0.0.1:{site.server.server_port}/x")  # the same site under a name not allowed
    page.wait_for_function("window.nurture && !window.nurture.q")
    page.wait_for_timeout(800)
    assert wait_for(app, lambda v: False, seconds=0.5) == []
    context.close()
    bot, bot_page, _errors = new_page(browser, person=False)  # headless Chromium as itself: a bot
    bot_page.goto(site.url + "/x")
    visits = wait_for(app, lambda v: len(v) == 1)
    assert len(visits) == 1 and visits[0].classification != HitClass.HUMAN
    bot.close()
    assert errors == []


# ------------------------------------------------------------------ the settings page
@pytest.mark.parametrize("lang", ["en", "ja"])
def test_the_settings_page_in_both_languages_at_1366_and_390_px(nurture, browser, lang):
    app, url = nurture
    from campaigns.users import create_user

    with app.extensions["nurture"].db.begin() as s:
        create_user(s, USER_EMAIL, USER_PASSWORD, "Marketer")
    allow(app, "www.acme.co.jp\n.acme.com")
    with app.extensions["nurture"].db.begin() as s:
        visitor = WebVisitor(visitor_key=secrets.token_hex(16))
        s.add(visitor)
        s.flush()
        s.add(WebVisit(event_id="shot", visitor_id=visitor.id, classification=HitClass.HUMAN,
                       occurred_at=web_collect.datetime.now(web_collect.UTC)))
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(locale="ja-JP" if lang == "ja" else "en-US",
                                  extra_http_headers={"Accept-Language": "ja" if lang == "ja" else "en"})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url + "/login")
    page.fill("#email", USER_EMAIL)
    page.fill("#password", USER_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(url + "/")
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(url + "/settings/website/")
        page.screenshot(path=str(SHOTS / f"website-{lang}-{width}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        text = page.inner_text("main")
        assert "UTC" not in text
        if lang == "ja":
            assert "Webサイトのトラッキング" in text and "Website tracking" not in text
    page.fill("#allowed_domains", "www.acme.co.jp\nbad host!")
    page.click("[data-testid=web-settings] button[type=submit]")
    assert page.locator(".error").count() >= 1
    assert errors == []
    context.close()
