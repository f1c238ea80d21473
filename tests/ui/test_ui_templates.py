"""Templates UI: list, editor, versions, link tracking choices, live preview endpoint, test send."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from campaigns.models import Contact, ContactStatus, Link, Suppression, Template, TemplateVersion
from tests.factories import TEMPLATE_HTML, committed, make_contact, make_template


def _count(services, model):
    with services.db.begin() as s:
        return s.scalar(select(func.count()).select_from(model))


def _form(**over):
    data = {"name": "Whitepaper follow-up", "subject": "Your whitepaper, {{ contact.first_name }}",
            "preheader": "Thanks for downloading", "from_name": "Acme Team", "html_source": TEMPLATE_HTML,
            "text_source": ""}
    data.update(over)
    return data


def test_templates_require_login(client):
    resp = client.get("/templates/")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_create_template_then_listed(ui, services):
    page = ui.get("/templates/new").get_data(as_text=True)
    assert 'sandbox' in page and 'data-preview-url="/templates/preview"' in page
    resp = ui.post("/templates/new", _form(), page="/templates/new")
    assert resp.status_code == 302
    with services.db.begin() as s:
        template = s.scalar(select(Template))
        assert template.name == "Whitepaper follow-up"
        version = template.current_version
        assert version.version == 1 and version.from_name == "Acme Team" and version.preheader == "Thanks for downloading"
        assert resp.headers["Location"].endswith(f"/templates/{template.id}")
    listing = ui.get("/templates/").get_data(as_text=True)
    assert "Whitepaper follow-up" in listing and "Your whitepaper" in listing


def test_saving_makes_a_new_version_and_history_lists_them(ui, services):
    tid = committed(services, make_template, compiled=True)
    resp = ui.post(f"/templates/{tid}", _form(name="Renamed", subject="Second subject"), page=f"/templates/{tid}")
    assert resp.status_code == 302
    with services.db.begin() as s:
        versions = s.scalars(select(TemplateVersion).where(TemplateVersion.template_id == tid)
                             .order_by(TemplateVersion.version)).all()
        assert [v.version for v in versions] == [1, 2]
        assert s.get(Template, tid).current_version_id == versions[1].id
        assert s.get(Template, tid).name == "Renamed"
        first = versions[0]
    page = ui.get(f"/templates/{tid}").get_data(as_text=True)
    assert "Second subject" in page and "Hi {{ contact.first_name }}" in page  # history shows both subjects
    # Loading an old version puts its source into the editor; the current version stays current.
    old = ui.get(f"/templates/{tid}?version={first.id}").get_data(as_text=True)
    assert 'value="Hi {{ contact.first_name }}"' in old
    assert "Editing a copy of version 1" in old


def test_syntax_error_is_shown_and_nothing_is_lost(ui, services):
    tid = committed(services, make_template, compiled=True)
    broken = "<p>Hello {{ contact.first_name </p><p>keep-this-text</p>"
    resp = ui.post(f"/templates/{tid}", _form(html_source=broken), page=f"/templates/{tid}")
    assert resp.status_code == 400
    body = resp.get_data(as_text=True)
    assert 'data-testid="template-error"' in body
    assert "keep-this-text" in body  # the author's draft is still in the editor
    assert "Traceback" not in body
    with services.db.begin() as s:
        assert s.scalar(select(func.count()).select_from(TemplateVersion)) == 1


def test_missing_subject_is_a_form_error(ui, services):
    resp = ui.post("/templates/new", _form(subject=""), page="/templates/new")
    assert resp.status_code == 400
    assert _count(services, Template) == 0


def test_untracked_link_choice_is_saved(ui, services):
    tid = committed(services, make_template, compiled=True)
    page = ui.get(f"/templates/{tid}").get_data(as_text=True)
    assert 'name="track" value="https://acme.test/pricing"' in page
    data = _form()
    # Post the links table as the browser would: both listed, only the whitepaper link still ticked.
    from werkzeug.datastructures import MultiDict

    form = MultiDict(list(data.items()))
    for url in ("https://acme.test/whitepaper", "https://acme.test/pricing"):
        form.add("link_url", url)
    form.add("track", "https://acme.test/whitepaper")
    form.add("csrf_token", ui.token(f"/templates/{tid}"))
    resp = ui.client.post(f"/templates/{tid}", data=form)
    assert resp.status_code == 302
    with services.db.begin() as s:
        version = s.get(Template, tid).current_version
        tracked = {link.url: link.tracked for link in s.scalars(select(Link).where(Link.template_version_id == version.id))}
    assert tracked["https://acme.test/whitepaper"] is True
    assert tracked["https://acme.test/pricing"] is False
    page = ui.get(f"/templates/{tid}").get_data(as_text=True)
    assert 'value="https://acme.test/pricing" aria-label="Track" >' in page  # unticked now
    assert 'value="https://acme.test/whitepaper" aria-label="Track" checked' in page


def test_live_preview_renders_draft_as_contact_and_stores_nothing(ui, services):
    tid = committed(services, make_template, compiled=True)
    committed(services, make_contact, "hanako@example.jp", first_name="Hanako", company="Sakura KK")
    before = (_count(services, Template), _count(services, TemplateVersion), _count(services, Link))
    draft = _form(subject="Draft for {{ contact.first_name }}",
                  html_source="<p>Dear {{ contact.first_name }} at {{ contact.company }}</p><a href='https://x.test/'>x</a>")
    resp = ui.post("/templates/preview", {**draft, "template_id": str(tid), "preview_contact": "hanako@example.jp"},
                   page=f"/templates/{tid}")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    data = resp.get_json()
    assert data["ok"] is True
    assert data["subject"] == "Draft for Hanako"
    assert "Dear Hanako at Sakura KK" in data["html"] and "Dear Hanako at Sakura KK" in data["text"]
    assert data["contact"] == "hanako@example.jp" and data["notice"] == ""
    resp = ui.post("/templates/preview", {**draft, "template_id": str(tid), "preview_contact": "nobody@example.jp"},
                   page=f"/templates/{tid}")
    assert resp.get_json()["subject"] == "Draft for Taro"  # sample data, and the marketer is told why
    assert "No contact matches nobody@example.jp" in resp.get_json()["notice"]
    # A new (never saved) template can be previewed too, with sample data when no contact is chosen.
    resp = ui.post("/templates/preview", {**draft, "name": ""}, page="/templates/new")
    assert resp.status_code == 200 and resp.get_json()["ok"] is True
    assert (_count(services, Template), _count(services, TemplateVersion), _count(services, Link)) == before


def test_live_preview_reports_template_errors_as_json(ui, services):
    resp = ui.post("/templates/preview", _form(html_source="<p>{% if %}</p>"), page="/templates/new")
    assert resp.status_code == 400
    data = resp.get_json()
    assert data["ok"] is False and data["error"]
    resp = ui.post("/templates/preview", _form(subject=""), page="/templates/new")
    assert resp.status_code == 400 and "subject" in resp.get_json()["fields"]
    # a render-time error does not name an internal version id the editor never shows
    resp = ui.post("/templates/preview", _form(html_source="<p>ok</p>\n<p>{{ 1 / 0 }}</p>"), page="/templates/new")
    error = resp.get_json()["error"]
    assert resp.status_code == 400 and "division by zero" in error and "version" not in error


def test_live_preview_needs_csrf_token(ui, services):
    resp = ui.client.post("/templates/preview", data=_form(), headers={"Accept": "application/json"})
    assert resp.status_code == 400
    assert json.loads(resp.get_data(as_text=True))["error"] == "csrf"


def test_saved_version_preview_is_served_under_a_sandboxing_csp(ui, services):
    tid = committed(services, make_template, compiled=True)
    committed(services, make_contact, "ken@example.jp", first_name="Ken")
    with services.db.begin() as s:
        vid = s.get(Template, tid).current_version_id
    resp = ui.get(f"/templates/{tid}/versions/{vid}/preview?contact=ken@example.jp")
    assert resp.status_code == 200
    csp = resp.headers["Content-Security-Policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp and "script-src" not in csp
    assert "Hello Ken" in resp.get_data(as_text=True)
    text = ui.get(f"/templates/{tid}/versions/{vid}/preview?part=text").get_data(as_text=True)
    assert "Hello Taro" in text or "Hello there" in text  # sample data without a contact
    other = committed(services, make_template, name="Other", compiled=True)
    assert ui.get(f"/templates/{other}/versions/{vid}/preview").status_code == 404


def test_test_send_delivers_to_the_smtp_server(ui, services, smtp_server):
    tid = committed(services, make_template, compiled=True)
    committed(services, make_contact, "yui@example.jp", first_name="Yui")
    resp = ui.post(f"/templates/{tid}/test", {"to": "qa@acme.test", "contact": "yui@example.jp"},
                   page=f"/templates/{tid}", follow_redirects=True)
    assert "Test mail sent to qa@acme.test" in resp.get_data(as_text=True)
    mails = smtp_server.wait_for(1)
    assert len(mails) == 1 and mails[0].rcpt_tos == ["qa@acme.test"]
    message = mails[0].message
    assert message["Subject"].startswith("[TEST]") and "Yui" in message["Subject"]


def test_test_mail_and_preview_links_cannot_unsubscribe_the_contact_whose_data_fills_them(
        ui, services, smtp_server, client):
    # A proof goes to colleagues and through link scanners: its unsubscribe and preference links lead
    # to a page that explains and changes nothing, whatever contact's data filled the mail.
    tid = committed(services, make_template, compiled=True)
    contact_id = committed(services, make_contact, "yui@example.jp", first_name="Yui")
    ui.post(f"/templates/{tid}/test", {"to": "qa@acme.test", "contact": "yui@example.jp"},
            page=f"/templates/{tid}", follow_redirects=True)
    message = smtp_server.wait_for(1)[0].message
    parts = [p.get_content() for p in message.walk() if p.get_content_type() in ("text/plain", "text/html")]
    preview = ui.post("/templates/preview", {**_form(), "template_id": str(tid), "preview_contact": "yui@example.jp"},
                      page=f"/templates/{tid}").get_json()
    test_link = services.urls.test_link()
    for part in [*parts, preview["html"], preview["text"]]:
        assert test_link in part  # the footer's unsubscribe link is still there, inert
        assert "/t/u/" not in part and "/t/p/" not in part
    assert "List-Unsubscribe" not in message
    path = test_link.split("://", 1)[1].split("/", 1)[1]
    page = client.get("/" + path, headers={"Accept-Language": "ja"})
    assert page.status_code == 200 and "テストメール" in page.get_data(as_text=True)
    assert client.post("/" + path, data={"List-Unsubscribe": "One-Click"}).status_code == 405  # nothing to act on
    with services.db.begin() as s:
        assert s.get(Contact, contact_id).status == ContactStatus.ACTIVE
        assert s.scalar(select(func.count()).select_from(Suppression)) == 0


def test_test_send_refuses_a_bad_address(ui, services, smtp_server):
    tid = committed(services, make_template, compiled=True)
    resp = ui.post(f"/templates/{tid}/test", {"to": "not an address"}, page=f"/templates/{tid}", follow_redirects=True)
    assert "Enter a valid e-mail address" in resp.get_data(as_text=True)
    resp = ui.post(f"/templates/{tid}/test", {"to": "qa@acme.test", "contact": "nobody@nowhere.test"},
                   page=f"/templates/{tid}", follow_redirects=True)
    assert "No contact matches" in resp.get_data(as_text=True)
    assert smtp_server.messages == []


def test_test_send_reports_smtp_refusal(ui, services, smtp_server):
    tid = committed(services, make_template, compiled=True)
    smtp_server.handler.rcpt_codes["qa@acme.test"] = "550 no such user"
    resp = ui.post(f"/templates/{tid}/test", {"to": "qa@acme.test"}, page=f"/templates/{tid}", follow_redirects=True)
    body = resp.get_data(as_text=True)
    assert "could not be sent" in body and "Traceback" not in body


def test_editor_in_japanese(ui, services):
    tid = committed(services, make_template, compiled=True)
    ui.post("/lang/ja", {"next": "/"})
    page = ui.get(f"/templates/{tid}").get_data(as_text=True)
    assert "プレビュー" in page and "バージョン履歴" in page and "テスト送信" in page
    assert "テンプレート" in ui.get("/templates/").get_data(as_text=True)


def test_unknown_template_is_404(ui):
    assert ui.get("/templates/999").status_code == 404
    assert ui.post("/templates/999/test", {"to": "qa@acme.test"}).status_code == 404
