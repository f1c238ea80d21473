"""Contacts: address normalisation, upsert, the suppression list, and the contacts UI (keyset list,
contact page with sends and enrolments, create/edit forms, suppression page)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import insert, select

from campaigns.addresses import normalize_email
from campaigns.audience.segments import count_segment
from campaigns.leads.contacts import ContactError, upsert_contact
from campaigns.models import (
    Contact,
    ContactStatus,
    Enrollment,
    Send,
    SendStatus,
    Sequence,
    Step,
    Suppression,
    Template,
    TemplateVersion,
)
from campaigns.suppression import SuppressionError, is_suppressed, suppress, unsuppress
from tests.factories import committed, make_contact


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Taro.Yamada@Example.CO.JP ", "Taro.Yamada@example.co.jp"),
        ("a+tag@sub.example.com", "a+tag@sub.example.com"),
        ("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ", "taro@example.jp"),  # full-width, as typed in Japanese Excel sheets
        ("\u3000user@example.com\u3000", "user@example.com"),
        ("user@例え.jp", "user@xn--r8jz45g.jp"),
        ("mailto:x@example.com", "x@example.com"),
        ("", None),
        ("no-at-sign", None),
        ("two@@example.com", None),
        ("a@localhost", None),
        ("a@-bad-.com", None),
        ("a b@example.com", None),
        (".a@example.com", None),
        ("a..b@example.com", None),
        ("a@example.123", None),
        ("x" * 65 + "@example.com", None),
        ("山田@example.com", None),
        (None, None),
    ],
)
def test_normalize_email(raw: Any, expected: str | None) -> None:
    assert normalize_email(raw) == expected


def test_upsert_creates_then_updates_and_merges_attributes(services: Any) -> None:
    with services.db.begin() as s:
        contact, created = upsert_contact(s, {
            "email": "Lead@Example.com", "first_name": "Ken", "timezone": "asia/tokyo",
            "attributes": {"industry": "IT"}, "utm_source": "ads", "consent_method": "web_form",
        })
        assert created and contact.email == "Lead@example.com"
        assert contact.timezone == "Asia/Tokyo"
        assert contact.attributes == {"industry": "IT", "utm_source": "ads"}  # unknown keys go to attributes
        assert contact.consent_at is not None and contact.status == ContactStatus.ACTIVE
    with services.db.begin() as s:
        contact, created = upsert_contact(s, {"email": "lead@EXAMPLE.COM", "company": "Acme",
                                              "attributes": {"size": 10}})
        # Lead@ and lead@ are one mailbox: the contact is found and keeps the spelling it was created with
        assert created is False and contact.email == "Lead@example.com"
        contact, created = upsert_contact(s, {"email": "Lead@EXAMPLE.COM", "company": "Acme",
                                              "attributes": {"size": 10}, "stage": "Warm",
                                              "consent_at": "2026-01-02T03:04:05+09:00"})
        assert not created
        assert (contact.first_name, contact.company, contact.stage) == ("Ken", "Acme", "warm")
        assert contact.attributes == {"industry": "IT", "utm_source": "ads", "size": 10}
        assert contact.consent_at == datetime(2026, 1, 1, 18, 4, 5, tzinfo=UTC)
    with services.db.begin() as s:
        contact, created = upsert_contact(s, {"email": "Lead@example.com", "company": "Ignored"}, update_existing=False)
        assert not created and contact.company == "Acme"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"first_name": "x"}, "email is required"),
        ({"email": "nope"}, "invalid email"),
        ({"email": "a@example.com", "timezone": "Mars/Base"}, "time zone"),
        ({"email": "a@example.com", "stage": "boiling"}, "stage"),
        ({"email": "a@example.com", "status": "active"}, "cannot be set"),
        ({"email": "a@example.com", "first_name": "x" * 201}, "too long"),
        ({"email": "a@example.com", "attributes": ["x"]}, "object"),
        ({"email": "a@example.com", "consent_at": "yesterday"}, "date"),
    ],
)
def test_upsert_refuses_bad_data_with_a_reason(services: Any, data: dict[str, Any], message: str) -> None:
    with services.db.begin() as s, pytest.raises(ContactError, match=message):
        upsert_contact(s, data)


def test_suppression_is_idempotent_blocks_and_marks_the_contact(services: Any) -> None:
    with services.db.begin() as s:
        upsert_contact(s, {"email": "a@example.com"})
        upsert_contact(s, {"email": "b@example.com"})
    everyone = {"all": []}
    with services.db.begin() as s:
        assert count_segment(s, everyone) == 2
        suppress(s, "a@EXAMPLE.com", "unsubscribed", "one-click")
        suppress(s, "a@example.com", "unsubscribed", "again")  # idempotent
        suppress(s, "b@example.com", "manual")
        suppress(s, "stranger@example.com", "hard_bounce", "550 no such user")
    with services.db.begin() as s:
        assert s.scalar(select(Suppression.detail).where(Suppression.email == "a@example.com")) == "one-click"
        assert len(s.scalars(select(Suppression)).all()) == 3
        assert is_suppressed(s, " A@Example.COM".replace("A@", "a@")) and is_suppressed(s, "stranger@EXAMPLE.com")
        assert not is_suppressed(s, "c@example.com")
        statuses = dict(s.execute(select(Contact.email, Contact.status)).all())
        assert statuses == {"a@example.com": ContactStatus.UNSUBSCRIBED, "b@example.com": ContactStatus.ACTIVE}
        # b is still "active" but suppressed: no segment (and so no broadcast) reaches it
        assert count_segment(s, everyone) == 0
        # a later upsert of a suppressed address never makes it mailable again
        contact, created = upsert_contact(s, {"email": "stranger@example.com"})
        assert created and contact.status == ContactStatus.BOUNCED
    with services.db.begin() as s:
        with pytest.raises(SuppressionError, match="only manual"):
            unsuppress(s, "a@example.com")
        unsuppress(s, "b@example.com")
    with services.db.begin() as s:
        assert not is_suppressed(s, "b@example.com") and count_segment(s, everyone) == 1


def test_suppression_ignores_letter_case_on_the_whole_address(services: Any) -> None:
    """Ito@ and ito@ as two contacts (stored before addresses were matched ignoring case): one
    suppression, in any letter case, stops and marks both."""
    with services.db.begin() as s:
        s.add_all([Contact(email="Ito@example.jp"), Contact(email="ito@example.jp")])
        for address in ("sato@example.jp", "kato@example.jp"):
            upsert_contact(s, {"email": address})
    everyone = {"all": []}
    with services.db.begin() as s:
        suppress(s, "ITO@Example.JP", "unsubscribed", "one-click")
        suppress(s, "iTo@example.jp", "complaint")  # the same entry: idempotent
        suppress(s, "Sato@example.jp", "manual")
    with services.db.begin() as s:
        assert sorted(s.scalars(select(Suppression.email))) == ["ito@example.jp", "sato@example.jp"]
        for address in ("Ito@example.jp", "ito@example.jp", "ITO@EXAMPLE.JP", "SATO@example.jp", "sato@example.jp"):
            assert is_suppressed(s, address), address
        assert not is_suppressed(s, "kato@example.jp")
        statuses = dict(s.execute(select(Contact.email, Contact.status)).all())
        assert statuses == {
            "Ito@example.jp": ContactStatus.UNSUBSCRIBED, "ito@example.jp": ContactStatus.UNSUBSCRIBED,
            "sato@example.jp": ContactStatus.ACTIVE, "kato@example.jp": ContactStatus.ACTIVE,
        }
        assert count_segment(s, everyone) == 1  # kato only: sato is active but suppressed
        # a new contact whose address is suppressed in another case starts with the suppression's status
        suppress(s, "fresh@example.jp", "unsubscribed")
        contact, created = upsert_contact(s, {"email": "Fresh@example.jp"})
        assert created and contact.status == ContactStatus.UNSUBSCRIBED
    with services.db.begin() as s:
        with pytest.raises(SuppressionError, match="only manual"):
            unsuppress(s, "ito@EXAMPLE.jp")
        unsuppress(s, "SATO@EXAMPLE.JP")  # removed by any case-variant
    with services.db.begin() as s:
        assert not is_suppressed(s, "sato@example.jp") and count_segment(s, everyone) == 2


@pytest.mark.parametrize("text", [
    "Ito@Example.JP", "İSTANBUL@x.tr", "ÄÖÜ-Straße@x.de", "ＡＢＣ@x.jp", "Ǆ@x", "ΣΊΣΥΦΟΣ@x.gr", "mixed-İi-Iı@x",
])
def test_python_and_sql_case_folds_agree(services: Any, text: str) -> None:
    """The suppression key folded in Python equals the SQL fold on both databases: A-Z only, whatever
    the database's locale does with other letters (a Turkish one maps "I" to a dotless "ı")."""
    from sqlalchemy import literal

    from campaigns.sql_functions import ascii_lower, ascii_lower_text

    expected = "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)
    with services.db.begin() as s:
        assert s.scalar(select(ascii_lower(literal(text)))) == expected
    assert ascii_lower_text(text) == expected


# ------------------------------------------------------------------ UI
def make_contacts(services: Any, n: int) -> list[int]:
    with services.db.begin() as s:
        s.execute(insert(Contact), [
            {"email": f"p{i}@example.com", "first_name": f"Name{i}", "company": "Acme" if i % 3 == 0 else "Globex"}
            for i in range(n)
        ])
        return list(s.scalars(select(Contact.id).order_by(Contact.id)))


ROW = re.compile(r'data-contact-id="(\d+)"')
NEXT = re.compile(r'href="([^"]+)" rel="next"')


def walk(ui: Any, url: str, link: re.Pattern[str]) -> list[list[int]]:
    pages = []
    while url:
        page = ui.get(url.replace("&amp;", "&")).get_data(as_text=True)
        pages.append([int(x) for x in ROW.findall(page)])
        found = link.search(page)
        url = found.group(1) if found else ""
    return pages


def test_search_pages_within_results(ui: Any, services: Any) -> None:
    ids = make_contacts(services, 160)
    acme = [i for n, i in enumerate(ids) if n % 3 == 0]
    pages = walk(ui, "/contacts/?q=acme", NEXT)
    assert [i for p in pages for i in p] == sorted(acme, reverse=True)
    assert walk(ui, "/contacts/?q=p15%40example", NEXT) == [[ids[15]]]
    assert walk(ui, "/contacts/?q=P15%40EXAMPLE.COM", NEXT) == [[ids[15]]]  # a whole address: index lookup
    assert walk(ui, "/contacts/?q=%25", NEXT) == [[]]  # LIKE wildcards are searched literally


def test_search_finds_whole_names_in_either_order(ui: Any, services: Any) -> None:
    ids = {}
    for email, first, last in [("sato@example.jp", "一郎", "佐藤"), ("ito@example.jp", "美咲", "伊藤"),
                               ("emily@example.com", "Emily", "Smith"), ("sato.hanako@example.jp", "花子", "佐藤")]:
        ids[email] = committed(services, make_contact, email, first_name=first, last_name=last)
    for query, expected in [("佐藤 一郎", ["sato@example.jp"]), ("佐藤一郎", ["sato@example.jp"]),
                            ("一郎 佐藤", ["sato@example.jp"]), ("伊藤　美咲", ["ito@example.jp"]),  # ideographic space
                            ("emily smith", ["emily@example.com"]), ("佐藤", ["sato.hanako@example.jp", "sato@example.jp"]),
                            ("佐藤 美咲", [])]:
        found = [i for p in walk(ui, f"/contacts/?q={quote(query)}", NEXT) for i in p]
        assert found == sorted((ids[e] for e in expected), reverse=True), query
    page = ui.get(f"/contacts/?q={quote('佐藤一郎')}").get_data(as_text=True)
    assert "佐藤 一郎" in page  # listed family name first, as the contact page and the To: header write it


def seed_sends(services: Any, contact_id: int) -> None:
    with services.db.begin() as s:
        template = Template(name="Welcome")
        s.add(template)
        s.flush()
        version = TemplateVersion(template_id=template.id, version=1, subject="Hi")
        seq = Sequence(name="Onboarding nurture")
        s.add_all([version, seq])
        s.flush()
        step = Step(sequence_id=seq.id, position=1, template_id=template.id)
        s.add(step)
        s.flush()
        enrollment = Enrollment(contact_id=contact_id, sequence_id=seq.id, next_position=2)
        s.add(enrollment)
        s.flush()
        s.add(Send(contact_id=contact_id, enrollment_id=enrollment.id, step_id=step.id,
                   template_version_id=version.id, status=SendStatus.SENT, sent_at=datetime.now(UTC)))


def test_contact_page_shows_fields_consent_sends_and_enrolments(ui: Any, services: Any) -> None:
    with services.db.begin() as s:
        contact, _ = upsert_contact(s, {
            "email": "yamada@example.jp", "last_name": "山田", "first_name": "太郎", "company": "<b>Acme</b>",
            "attributes": {"industry": "製造業"}, "consent_method": "web_form",
            "consent_source": "whitepaper LP", "consent_text": "I agree to receive mail",
        })
        contact_id = contact.id
    seed_sends(services, contact_id)
    page = ui.get(f"/contacts/{contact_id}").get_data(as_text=True)
    for text in ("yamada@example.jp", "山田", "製造業", "web_form", "whitepaper LP", "I agree to receive mail",
                 "Onboarding nurture", "&lt;b&gt;Acme&lt;/b&gt;"):
        assert text in page
    assert "<b>Acme</b>" not in page  # escaped
    timeline = page.split('data-testid="timeline"')[1]  # the page's one story (campaigns.insights.timeline)
    assert "mail sent:" in timeline and "sequence Onboarding nurture, step 1" in timeline
    assert ui.get("/contacts/999999").status_code == 404


def test_create_and_edit_contact_forms(ui: Any, services: Any) -> None:
    resp = ui.post("/contacts/new", {"email": "New@Example.COM", "first_name": "Nao", "timezone": "Asia/Tokyo",
                                     "attributes": '{"plan": "pro"}', "consent_method": "phone"},
                   page="/contacts/new")
    assert resp.status_code == 302
    with services.db.begin() as s:
        c = s.scalar(select(Contact))
        assert (c.email, c.first_name, c.timezone, c.attributes, c.consent_method) == (
            "New@example.com", "Nao", "Asia/Tokyo", {"plan": "pro"}, "phone")
        cid = c.id
    dup = ui.post("/contacts/new", {"email": "New@example.com"}, page="/contacts/new")
    assert dup.status_code == 400 and "already exists" in dup.get_data(as_text=True)
    bad = ui.post("/contacts/new", {"email": "x@example.com", "attributes": "[1]"}, page="/contacts/new")
    assert bad.status_code == 400 and "JSON object" in bad.get_data(as_text=True)
    bad_tz = ui.post(f"/contacts/{cid}/edit", {"email": "New@example.com", "timezone": "Nowhere"},
                     page=f"/contacts/{cid}/edit")
    assert bad_tz.status_code == 400 and "time zone" in bad_tz.get_data(as_text=True)
    resp = ui.post(f"/contacts/{cid}/edit", {"email": "renamed@example.com", "first_name": "", "company": "Acme",
                                             "timezone": "", "attributes": '{"plan": "team"}', "stage": "hot"},
                   page=f"/contacts/{cid}/edit")
    assert resp.status_code == 302
    with services.db.begin() as s:
        c = s.get(Contact, cid)
        assert (c.email, c.first_name, c.company, c.timezone, c.attributes, c.stage) == (
            "renamed@example.com", "", "Acme", None, {"plan": "team"}, "hot")
    # a GET never changes anything and the form is CSRF-protected
    assert ui.client.post(f"/contacts/{cid}/edit", data={"email": "z@example.com"}).status_code == 400


def test_suppression_page_add_remove(ui: Any, services: Any) -> None:
    resp = ui.post("/contacts/suppressions", {"email": "Spam@Example.com", "detail": "asked by phone"},
                   page="/contacts/suppressions")
    assert resp.status_code == 302
    page = ui.get("/contacts/suppressions").get_data(as_text=True)
    # stored as the case-insensitive key: the whole address lower-cased
    assert "spam@example.com" in page and "Spam@example.com" not in page and "asked by phone" in page
    bad = ui.post("/contacts/suppressions", {"email": "not an address"}, page="/contacts/suppressions")
    assert bad.status_code == 400
    with services.db.begin() as s:
        suppress(s, "gone@example.com", "unsubscribed")
    refused = ui.post("/contacts/suppressions", {"email": "gone@example.com", "action": "remove"},
                      page="/contacts/suppressions")
    assert refused.status_code == 400
    resp = ui.post("/contacts/suppressions", {"email": "SPAM@example.com", "action": "remove"},
                   page="/contacts/suppressions")  # any case-variant removes it
    assert resp.status_code == 302
    with services.db.begin() as s:
        assert not is_suppressed(s, "Spam@example.com") and is_suppressed(s, "gone@example.com")


def test_suppress_button_on_contact_page(ui: Any, services: Any) -> None:
    with services.db.begin() as s:
        cid = upsert_contact(s, {"email": "c@example.com"})[0].id
    assert ui.post(f"/contacts/{cid}/suppress", {}, page=f"/contacts/{cid}").status_code == 302
    page = ui.get(f"/contacts/{cid}").get_data(as_text=True)
    assert 'data-testid="suppressed"' in page
    with services.db.begin() as s:
        assert is_suppressed(s, "c@example.com")


def test_contact_page_shows_a_suppression_made_in_another_letter_case(ui: Any, services: Any) -> None:
    with services.db.begin() as s:
        cid = upsert_contact(s, {"email": "Ito@example.jp"})[0].id
        suppress(s, "ito@example.jp", "manual")
    page = ui.get(f"/contacts/{cid}").get_data(as_text=True)
    assert 'data-testid="suppressed"' in page


def test_pages_need_login_and_render_in_japanese(client: Any, ui: Any) -> None:
    from flask.testing import FlaskClient

    anonymous = FlaskClient(client.application)
    assert anonymous.get("/contacts/").status_code == 302
    ui.client.set_cookie("dummy", "1")
    ui.post("/lang/ja", {"next": "/contacts/"}, page="/contacts/")
    for url in ("/contacts/", "/contacts/import", "/contacts/suppressions", "/contacts/segments",
                "/contacts/segments/new", "/contacts/new"):
        resp = ui.get(url)
        assert resp.status_code == 200, url
    assert "配信停止リスト" in ui.get("/contacts/suppressions").get_data(as_text=True)


@pytest.mark.parametrize(("first", "last", "expected"), [
    ("一郎", "佐藤", "佐藤 一郎"), ("ｲﾁﾛｳ", "ｻﾄｳ", "ｻﾄｳ ｲﾁﾛｳ"), ("Emily", "Smith", "Emily Smith"),
    ("Ken", "佐藤", "佐藤 Ken"), ("", "佐藤", "佐藤"), ("Emily", None, "Emily"), (None, None, ""), ("민준", "김", "김 민준"),
])
def test_display_name_puts_the_family_name_first_for_cjk_names(first: Any, last: Any, expected: str) -> None:
    from campaigns.names import display_name

    assert display_name(first, last) == expected
