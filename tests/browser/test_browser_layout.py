"""Every page of the UI on a phone, in real headless Chromium: logged in, each page reachable from the top
navigation plus the detail pages of a contact, template, sequence, broadcast, segment, list, form and
journey made here, at 390 px wide in English and in Japanese. A page fails when it scrolls sideways
(document.scrollingElement.scrollWidth > clientWidth) or when axe-core (tests/browser/vendor, MPL-2.0)
reports a serious or critical violation. The navigation is also driven by keyboard (the menu button, a
group, Escape) at 390 and 1366 px.

BROWSER_SHOTS=/some/dir also writes a screenshot of each page (390 px, and 1366 px with LAYOUT_WIDE=1)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from campaigns.journeys.broadcasts import create_broadcast
from campaigns.leads import forms
from campaigns.models import ContactList, Segment
from tests.browser_helpers import open_page
from tests.conftest import USER_EMAIL, USER_PASSWORD
from tests.factories import make_contact, make_journey, make_sequence, make_template

pytestmark = pytest.mark.browser
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
SHOTS = os.environ.get("BROWSER_SHOTS")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}

# axe's rules run as WCAG 2 A/AA plus its best practices; only serious and critical impacts fail the test
AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(v =>
    v.id + ' (' + v.impact + '): ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '));
}"""
SIDEWAYS = """() => {
  const el = document.scrollingElement;
  if (el.scrollWidth <= el.clientWidth) return null;
  // name the widest elements that stick out, so a failure says what to fix
  const out = [];
  for (const node of document.querySelectorAll('body *')) {
    const r = node.getBoundingClientRect();
    if (r.right > el.clientWidth + 1 && r.width > 0) out.push(node.tagName.toLowerCase() + (node.id ? '#' + node.id : '') +
      (node.className && typeof node.className === 'string' ? '.' + node.className.trim().split(/\\s+/).join('.') : '') +
      ' right=' + Math.round(r.right));
  }
  return el.scrollWidth + ' > ' + el.clientWidth + ': ' + out.slice(0, 4).join(', ');
}"""


@pytest.fixture
def chromium():
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian chromium is not installed")
    return pytest.importorskip("playwright.sync_api").expect


def _objects(services) -> list[str]:
    """One of each object the UI has a detail page for; their paths."""
    with services.db.begin() as s:
        contact = make_contact(s, "hanako.yamada-very-long-address-for-a-phone@example-corporation.co.jp",
                               first_name="花子", last_name="山田", company="株式会社ナーチャー・マーケティング・ソリューションズ",
                               job_title="マーケティング部 部長")
        template = make_template(s, "4月のお知らせ（新製品のご案内と導入事例）")
        sequence = make_sequence(s, [{"template_id": template.id}], name="資料請求後のフォロー")
        broadcast = create_broadcast(s, "April newsletter", template.id)
        segment = Segment(name="Tokyo leads", rules={"all": [{"field": "score", "op": "between", "value": [3, 7]}]})
        contact_list = ContactList(name="Expo 2026 visitors")
        s.add_all([segment, contact_list])
        form = forms.create_form(s, forms.FormInput(name="Whitepaper", consent_text="I agree to receive mail."))
        journey = make_journey(s, name="Welcome journey")
        s.flush()
        # the public pages a recipient sees (hosted form, unsubscribe, preferences)
        public = [f"/f/{form.slug}", re.sub(r"^https?://[^/]+", "", services.urls.unsubscribe(contact.id, 0)),
                  re.sub(r"^https?://[^/]+", "", services.urls.preferences(contact.id))]
        return [*public,
            f"/contacts/{contact.id}", f"/contacts/{contact.id}/edit", f"/templates/{template.id}",
            f"/sequences/{sequence.id}", f"/sequences/{sequence.id}/edit", f"/reports/sequences/{sequence.id}",
            f"/broadcasts/{broadcast.id}", f"/reports/broadcasts/{broadcast.id}",
            f"/contacts/segments/{segment.id}", f"/segments/lists/{contact_list.id}",
            f"/forms/{form.id}", f"/forms/{form.id}/edit", f"/journeys/{journey.id}",
            "/contacts/new", "/templates/new", "/sequences/new", "/broadcasts/new", "/contacts/segments/new",
            "/forms/new", "/ab/new", "/scoring/rules/new", "/scoring/triggers", "/contacts/suppressions",
            "/search/?q=yamada", "/account/",
        ]


def _nav_paths(page, base: str) -> list[str]:
    hrefs = page.eval_on_selector_all("#main-nav a[href]", "els => els.map(e => e.getAttribute('href'))")
    return [h for h in dict.fromkeys(hrefs) if h.startswith("/")]


def _check(page, base: str, path: str, lang: str, axe_source: str, problems: list[str]) -> None:
    resp = page.goto(base + path)
    if resp is None or resp.status != 200:
        problems.append(f"[{lang}] {path} answered {resp.status if resp else 'nothing'}")
        return
    page.wait_for_load_state("load")
    sideways = page.evaluate(SIDEWAYS)
    if sideways:
        problems.append(f"[{lang}] {path} scrolls sideways: {sideways}")
    page.evaluate(axe_source)
    for violation in page.evaluate(AXE_RUN):
        problems.append(f"[{lang}] {path} axe {violation}")
    if SHOTS:
        name = path.strip("/").replace("/", "_").replace("?", "_").replace("=", "_") or "dashboard"
        page.screenshot(path=f"{SHOTS}/{lang}_390_{name}.png", full_page=True)
        if os.environ.get("LAYOUT_WIDE"):
            page.set_viewport_size(DESKTOP)
            page.screenshot(path=f"{SHOTS}/{lang}_1366_{name}.png", full_page=True)
            page.set_viewport_size(PHONE)


def test_no_page_scrolls_sideways_on_a_phone_and_axe_finds_nothing_serious(app, services, user, chromium):
    details = _objects(services)
    axe_source = AXE.read_text(encoding="utf-8")
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    # bypass_csp: axe is put into each page by the test; the app's own CSP allows no inline script
    with open_page(app, viewport=PHONE, bypass_csp=True) as session:
        page, base = session.page, session.server.url
        page.goto(base + "/login")
        _check(page, base, "/login", "en", axe_source, problems)
        page.fill("#email", USER_EMAIL)
        page.fill("#password", USER_PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url(base + "/")
        for lang in ("en", "ja"):
            if lang == "ja":
                page.click("[data-testid=lang-switch]")
                page.wait_for_selector("html[lang=ja]")
            paths = ["/", *_nav_paths(page, base), *details]
            assert "/journeys/" in paths and "/contacts/segments" in paths and "/kpi/" in paths
            for path in dict.fromkeys(paths):
                _check(page, base, path, lang, axe_source, problems)
        assert not session.problems, session.problems
    assert not problems, "\n".join(problems)


def test_navigation_by_keyboard_on_a_phone_and_a_desktop(app, services, user, chromium):
    expect = chromium
    with open_page(app, viewport=PHONE) as session:
        page, base = session.page, session.server.url
        page.goto(base + "/login")
        page.fill("#email", USER_EMAIL)
        page.fill("#password", USER_PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url(base + "/")

        # phone: the menu is one button; the links are hidden until it opens
        burger = page.locator("[data-testid=nav-burger]")
        expect(burger).to_be_visible()
        expect(page.locator("#main-nav")).to_be_hidden()
        burger.focus()
        page.keyboard.press("Enter")
        expect(burger).to_have_attribute("aria-expanded", "true")
        expect(page.locator("#main-nav")).to_be_visible()
        audience = page.locator("[data-testid=nav-audience]")
        audience.focus()
        page.keyboard.press("Space")
        expect(audience).to_have_attribute("aria-expanded", "true")
        if SHOTS:
            page.screenshot(path=f"{SHOTS}/en_390_menu_open.png")
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")  # the first link of the group: Contacts
        page.wait_for_url(base + "/contacts/")
        assert page.evaluate("document.scrollingElement.scrollWidth <= document.scrollingElement.clientWidth")

        # desktop: each group opens its own list, Escape closes it and gives the focus back
        page.set_viewport_size(DESKTOP)
        expect(burger).to_be_hidden()
        campaigns = page.locator("[data-testid=nav-campaigns]")
        campaigns.focus()
        page.keyboard.press("Enter")
        expect(campaigns).to_have_attribute("aria-expanded", "true")
        expect(page.locator("#nav-campaigns a", has_text="Broadcasts")).to_be_visible()
        if SHOTS:
            page.screenshot(path=f"{SHOTS}/en_1366_menu_open.png")
        page.keyboard.press("Escape")
        expect(campaigns).to_have_attribute("aria-expanded", "false")
        expect(page.locator("#nav-campaigns")).to_be_hidden()
        assert page.evaluate("document.activeElement.dataset.testid") == "nav-campaigns"

        # the search box in the header finds the page's objects
        page.fill("#global-q", "nothing-like-this")
        page.keyboard.press("Enter")
        page.wait_for_url("**/search/?q=nothing-like-this")
        expect(page.locator("[data-testid=search-none]")).to_be_visible()
        assert not session.problems, session.problems


def test_scoring_rule_form_shows_only_the_fields_of_the_chosen_kind(app, services, user, chromium):
    expect = chromium
    with open_page(app, viewport=PHONE) as session:
        page, base = session.page, session.server.url
        page.goto(base + "/login")
        page.fill("#email", USER_EMAIL)
        page.fill("#password", USER_PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url(base + "/")
        page.goto(base + "/scoring/rules/new")
        shown = {
            "human_open": {"#daily_cap"},
            "link_click": {"#daily_cap", "#link_url"},
            "custom_event": {"#daily_cap", "#event_name", "#property_key", "#property_value"},
            "form_submitted": {"#daily_cap", "#property_key", "#property_value"},
            "inactivity": {"#inactivity_days"},
        }
        optional = {"#daily_cap", "#event_name", "#property_key", "#property_value", "#link_url", "#inactivity_days"}
        for kind, fields in shown.items():
            page.select_option("#kind", kind)
            for field in optional:
                (expect(page.locator(field)).to_be_visible() if field in fields
                 else expect(page.locator(field)).to_be_hidden())
            expect(page.locator("#points")).to_be_visible()
        # the inactivity rule saves with only its own fields filled
        page.fill("#name", "Quiet for a month")
        page.fill("#points", "-5")
        page.fill("#inactivity_days", "30")
        page.click("[data-testid=rule-form] button[type=submit]")
        page.wait_for_url(base + "/scoring")
        expect(page.locator("main")).to_contain_text("Quiet for a month")
        assert not session.problems, session.problems


def test_a_report_chart_with_one_point_is_drawn_as_bars_and_many_as_a_line(app, services, user, chromium):
    expect = chromium
    with services.db.begin() as s:
        template = make_template(s, "One hour")
        broadcast_id = create_broadcast(s, "One hour of data", template.id).id
    one = {"labels": ["2030-04-01 10:00"], "series": {"unique_open": [3], "unique_click": [1]}}
    many = {"labels": [f"2030-04-01 {h:02d}:00" for h in range(10, 16)],
            "series": {"unique_open": [3, 1, 0, 2, 0, 1], "unique_click": [1, 0, 0, 1, 0, 0]}}
    with open_page(app, viewport=DESKTOP) as session:
        page, base = session.page, session.server.url
        page.goto(base + "/login")
        page.fill("#email", USER_EMAIL)
        page.fill("#password", USER_PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url(base + "/")
        # the series as the server would answer it: one hour, then six
        answer = {"data": one}
        page.route("**/series.json*", lambda route: route.fulfill(json=answer["data"]))
        page.goto(f"{base}/reports/broadcasts/{broadcast_id}")
        chart = page.locator("#series-chart")
        expect(chart).to_have_attribute("data-rendered", "1")
        expect(chart).to_have_attribute("data-chart-type", "bar")
        bars = page.evaluate("""() => {
          const c = Chart.getChart(document.getElementById('series-chart'));
          return c.data.datasets.map((d, i) => c.getDatasetMeta(i).data[0]).filter(b => b).map(b => ({x: b.x, width: b.width}));
        }""")
        width = chart.bounding_box()["width"]
        assert all(bar["width"] <= 36 for bar in bars)  # slim, not blocks across the chart
        xs = [bar["x"] for bar in bars]
        assert width * 0.4 < sum(xs) / len(xs) < width * 0.6  # together in the middle, not at the left edge
        assert max(xs) - min(xs) < width * 0.4
        if SHOTS:
            page.screenshot(path=f"{SHOTS}/en_1366_report_one_point.png", full_page=True)
        answer["data"] = many
        page.click("button[data-granularity=day]")
        expect(chart).to_have_attribute("data-rendered", "6")
        expect(chart).to_have_attribute("data-chart-type", "line")
        # the page links back to its broadcast
        page.click("[data-testid=report-campaign]")
        page.wait_for_url(f"{base}/broadcasts/{broadcast_id}")
        page.click("[data-testid=broadcast-report]")
        page.wait_for_url(f"{base}/reports/broadcasts/{broadcast_id}")
        assert not session.problems, session.problems
