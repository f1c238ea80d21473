"""The global search (campaigns/views/search.py) and the grouped top navigation
(campaigns/views/navigation.py, templates/ui/base.html): what a marketer finds and sees."""

from __future__ import annotations

import io
import re

from campaigns.journeys.broadcasts import create_broadcast
from campaigns.models import ContactList, Form, OutboxMessage, Segment
from campaigns.views.navigation import GROUPS, current_item
from tests.factories import make_contact, make_sequence, make_template


def _text(resp) -> str:
    return resp.get_data(as_text=True)


def _visible(html: str) -> str:
    """The text a reader sees (tags and attributes dropped)."""
    return re.sub(r"<[^>]+>", " ", html)


def test_search_finds_contacts_by_the_contact_lists_folding_and_objects_by_name(ui, services):
    with services.db.begin() as s:
        make_contact(s, "sato@example.jp", first_name="一郎", last_name="佐藤", company="カブシキガイシャ ナーチャー")
        make_contact(s, "other@example.jp", first_name="Other", company="Else")
        template = make_template(s, "ナーチャー 4月号")
        make_sequence(s, [{"template_id": template.id}], name="ナーチャー welcome", active=False)
        create_broadcast(s, "ﾅｰﾁｬｰ April", template.id)
        s.add(Segment(name="なーちゃー fans", rules={}))
        s.add(ContactList(name="NURTURE list"))
        s.add(Form(name="ナーチャー資料請求", slug="nurture-dl", fields=[]))
        make_template(s, "Unrelated")

    # hiragana, full-width and spaces fold the way the contact list's search does
    html = _text(ui.get("/search/?q=なーちゃー"))
    for key in ("contacts", "templates", "sequences", "broadcasts", "segments", "forms"):
        assert f'data-testid="search-{key}"' in html, key
    assert "sato@example.jp" in html and "other@example.jp" not in html
    assert "ナーチャー 4月号" in html and "Unrelated" not in html
    assert "ﾅｰﾁｬｰ April" in html
    assert 'data-testid="search-lists"' not in html  # "NURTURE" is not ナーチャー

    # the same words as the contact list: 佐藤一郎 without the space, 一郎 佐藤 in the other order
    assert "sato@example.jp" in _text(ui.get("/search/?q=佐藤一郎"))
    assert "sato@example.jp" in _text(ui.get("/search/?q=一郎 佐藤"))
    assert 'data-testid="search-lists"' in _text(ui.get("/search/?q=ｎｕｒｔｕｒｅ"))


def test_search_says_what_to_do_when_nothing_or_no_words(ui, services):
    html = _text(ui.get("/search/?q=zzzz"))
    assert 'data-testid="search-none"' in html and "Nothing found" in html
    assert 'data-testid="search-empty"' in _text(ui.get("/search/"))
    ui.client.post("/lang/ja", data={"csrf_token": ui.token(), "next": "/"})
    html = _text(ui.get("/search/?q=zzzz"))
    assert "見つかりませんでした" in html


def test_search_needs_login(client):
    resp = client.get("/search/?q=a")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_navigation_groups_mark_the_current_page(ui):
    html = _text(ui.get("/contacts/segments"))
    # the group of the current page is marked, and the item by the longest prefix (Segments, not Contacts)
    assert re.search(r'class="nav-toggle active"[^>]*data-testid="nav-audience"', html)
    current = re.findall(r'<a href="([^"]+)" class="active" aria-current="page">', html)
    assert current == ["/contacts/segments"]
    assert 'aria-controls="main-nav"' in html and 'aria-expanded="false"' in html
    assert 'role="search"' in html and 'for="global-q"' in html


def test_current_item_takes_the_longest_prefix():
    items = [item for _k, _l, group in GROUPS for item in group]
    assert current_item("contacts.segment_edit", items) == "contacts.segments"
    assert current_item("contacts.import_map", items) == "contacts.import_upload"
    assert current_item("contacts.show", items) == "contacts.index"
    assert current_item("reports.broadcast", items) == "reports.index"
    assert current_item("reports.contact", items) == "contacts.index"
    assert current_item("reports.index", items) == "reports.index"
    assert current_item("auth.login", items) is None


def test_outbox_link_only_when_in_use(ui, services, app):
    # the tests send through a real SMTP server: no outbox in use, no link
    assert 'data-testid="nav-outbox"' not in _text(ui.get("/"))
    with services.db.begin() as s:
        s.add(OutboxMessage(mail_from="a@example.jp", recipients="b@example.jp", subject="Hi", raw="Subject: Hi\r\n\r\nHi"))
    assert 'data-testid="nav-outbox"' in _text(ui.get("/"))


def test_a_too_large_upload_says_so_in_words_in_both_languages(ui, app):
    app.config["MAX_CONTENT_LENGTH"] = 4096
    token = ui.token("/contacts/import")
    big = ("email\n" + "a@example.jp\n" * 1000).encode()
    resp = ui.client.post("/contacts/import", data={"csrf_token": token, "file": (io.BytesIO(big), "big.csv")},
                          content_type="multipart/form-data")
    html = _text(resp)
    assert resp.status_code == 413
    assert "The file is too large" in html and "Files up to 4 KB can be uploaded" in html
    for raw in ("request_entity_too_large", "Request Entity Too Large", "413", "capacity limit"):
        assert raw not in _visible(html.split("<main", 1)[1]), raw
    ui.client.post("/lang/ja", data={"csrf_token": ui.token(), "next": "/"})
    resp = ui.client.post("/contacts/import", data={"csrf_token": ui.token("/contacts/import"),
                                                    "file": (io.BytesIO(big), "big.csv")},
                          content_type="multipart/form-data")
    html = _text(resp)
    assert "ファイルが大きすぎます" in html and "4 KBまで" in html


def test_error_pages_say_what_to_do(ui, client):
    html = _text(ui.get("/contacts/999999"))
    assert "Page not found" in html and "Start again from the menu" in html
    assert 'data-status="404"' in html
    resp = ui.get("/reports/broadcasts/1/series.json?granularity=week")
    assert resp.status_code in (400, 404)


def test_ab_tests_start_from_their_tab(ui, services):
    html = _text(ui.get("/ab/"))
    assert 'data-testid="ab-empty"' in html and 'href="/ab/new"' in html
    with services.db.begin() as s:
        template = make_template(s, "Spring news")
        sequence = make_sequence(s, [{"template_id": template.id}], name="Onboarding")
        broadcast = create_broadcast(s, "Spring broadcast", template.id)
        step_id = sequence.steps[0].id
        broadcast_id = broadcast.id
    html = _text(ui.get("/ab/new"))
    assert f'href="/ab/new?broadcast_id={broadcast_id}"' in html and "Spring broadcast" in html
    assert f'href="/ab/new?step_id={step_id}"' in html and "Onboarding" in html
    # each link opens the set-up form for that mail
    assert ui.get(f"/ab/new?broadcast_id={broadcast_id}").status_code == 200
    assert ui.get("/ab/new?broadcast_id=999999").status_code == 404
