"""The UI of delete, archive, restore and duplicate: templates, segments, lists and forms (Flask test client).
Delete asks first and, when something uses the object, says what and offers Archive; archived objects leave
lists and pickers and come back from the Archived tab."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from campaigns.audience.lists import create_list
from campaigns.journeys.broadcasts import create_broadcast
from campaigns.leads.forms import FormInput, create_form
from campaigns.models import ContactList, Form, FormSubmission, Segment, SubmissionStatus, Template
from tests.factories import committed, make_template


def _names(services: Any, model: Any) -> list[str]:
    with services.db.begin() as s:
        return sorted(s.scalars(select(model.name)))


def test_template_archive_leaves_the_list_and_the_pickers_and_restore_brings_it_back(ui: Any, services: Any) -> None:
    offer = committed(services, make_template, "Spring offer")
    welcome = committed(services, make_template, "Welcome")
    with services.db.begin() as s:
        broadcast_id = create_broadcast(s, "June news", welcome).id
    page = f"/templates/{offer}"
    assert ui.post(f"{page}/archive", page=page).status_code == 302
    listing = ui.get("/templates/").get_data(as_text=True)
    assert "Spring offer" not in listing and "Archived (1)" in listing
    assert "Spring offer" in ui.get("/templates/?archived=1").get_data(as_text=True)
    for picker in ("/broadcasts/new", f"/ab/new?broadcast_id={broadcast_id}"):  # the A/B content variants' picker
        html = ui.get(picker).get_data(as_text=True)
        assert "Welcome" in html and "Spring offer" not in html, picker
    edit = ui.get(page).get_data(as_text=True)
    assert 'data-testid="archived-banner"' in edit
    ui.post(f"{page}/restore", page=page)
    assert "Spring offer" in ui.get("/broadcasts/new").get_data(as_text=True)


def test_template_delete_confirms_and_refuses_while_used(ui: Any, services: Any) -> None:
    used = committed(services, make_template, "Used")
    unused = committed(services, make_template, "Unused")
    with services.db.begin() as s:
        create_broadcast(s, "June news", used)
    refused = ui.get(f"/templates/{used}/delete").get_data(as_text=True)
    assert "cannot be deleted because it is in use" in refused and "June news" in refused
    assert 'data-testid="confirm-delete"' not in refused and 'data-testid="archive-instead"' in refused
    assert ui.post(f"/templates/{used}/delete", page=f"/templates/{used}/delete").status_code == 409
    confirm = ui.get(f"/templates/{unused}/delete").get_data(as_text=True)
    assert 'data-testid="confirm-delete"' in confirm
    # the confirmation is a form like every other: no token, no delete
    assert ui.client.post(f"/templates/{unused}/delete").status_code == 400
    assert _names(services, Template) == ["Unused", "Used"]
    resp = ui.post(f"/templates/{unused}/delete", page=f"/templates/{unused}/delete")
    assert resp.status_code == 302 and _names(services, Template) == ["Used"]


def test_template_duplicate_opens_the_copy(ui: Any, services: Any) -> None:
    original = committed(services, make_template, "Welcome")
    resp = ui.post(f"/templates/{original}/duplicate", page=f"/templates/{original}")
    assert resp.status_code == 302
    assert _names(services, Template) == ["Welcome", "Welcome (copy)"]
    ja = ui.client.post(f"/templates/{original}/duplicate", headers={"Accept-Language": "ja"},
                        data={"csrf_token": ui.token(f"/templates/{original}")})
    assert ja.status_code == 302 and "Welcome のコピー" in _names(services, Template)


def test_segment_and_list_lifecycle(ui: Any, services: Any) -> None:
    with services.db.begin() as s:
        expo = create_list(s, "Expo")
        segment = Segment(name="Expo visitors", rules={"all": [{"list_id": expo.id, "member": True}]})
        s.add(segment)
        s.flush()
        list_id, segment_id = expo.id, segment.id
    refused = ui.get(f"/segments/lists/{list_id}/delete").get_data(as_text=True)
    assert "Expo visitors" in refused and "cannot be deleted" in refused
    seg_page = f"/contacts/segments/{segment_id}"
    ui.post(f"{seg_page}/duplicate", page=seg_page)
    assert _names(services, Segment) == ["Expo visitors", "Expo visitors (copy)"]
    ui.post(f"{seg_page}/archive", page=seg_page)
    listing = ui.get("/contacts/segments").get_data(as_text=True)
    assert "Expo visitors (copy)" in listing and ">Expo visitors<" not in listing
    assert ">Expo visitors<" in ui.get("/contacts/segments?archived=1").get_data(as_text=True)
    # the list page's "add everyone in a segment" picker leaves the archived segment out
    list_page = ui.get(f"/segments/lists/{list_id}").get_data(as_text=True)
    assert "Expo visitors (copy)" in list_page and f'value="{segment_id}"' not in list_page
    # the copy still names the list; once both segments are gone the list can be deleted
    with services.db.begin() as s:
        for seg in s.scalars(select(Segment)):
            s.delete(seg)
    ui.post(f"/segments/lists/{list_id}/archive", page=f"/segments/lists/{list_id}")
    assert "Expo" not in ui.get("/segments/lists").get_data(as_text=True).split("<table", 1)[1].split("</table>")[0]
    resp = ui.post(f"/segments/lists/{list_id}/delete", page=f"/segments/lists/{list_id}/delete")
    assert resp.status_code == 302 and _names(services, ContactList) == []


def test_form_lifecycle(ui: Any, services: Any) -> None:
    with services.db.begin() as s:
        form = create_form(s, FormInput(name="Seminar", slug="seminar", consent_text="OK"))
        s.add(FormSubmission(form_id=form.id, status=SubmissionStatus.CONFIRMED, email="a@example.jp"))
        form_id = form.id
    page = f"/forms/{form_id}"
    refused = ui.get(f"{page}/delete").get_data(as_text=True)
    assert "Submissions with a consent record: 1" in refused
    assert ui.post(f"{page}/delete", page=f"{page}/delete").status_code == 409  # consent records keep it
    ui.post(f"{page}/duplicate", page=page)
    ui.post(f"{page}/archive", page=page)
    listing = ui.get("/forms/").get_data(as_text=True)
    assert "Seminar (copy)" in listing and "/f/seminar<" not in listing
    with services.db.begin() as s:
        statuses = {f.slug: (f.status.value, f.archived_at is not None) for f in s.scalars(select(Form))}
    assert statuses == {"seminar": ("inactive", True), "seminar-copy": ("inactive", False)}


def test_an_archived_segment_leaves_the_broadcast_forms_audience_picker(ui: Any, services: Any) -> None:
    committed(services, make_template, "Welcome")
    with services.db.begin() as s:
        kept = Segment(name="Tokyo leads", rules={"all": [{"field": "company", "op": "contains", "value": "東京"}]})
        gone = Segment(name="Old webinar list", rules={"all": [{"field": "company", "op": "contains", "value": "x"}]})
        s.add_all([kept, gone])
        s.flush()
        gone_id = gone.id
    assert "Old webinar list" in ui.get("/broadcasts/new").get_data(as_text=True)
    assert ui.post(f"/contacts/segments/{gone_id}/archive", page=f"/contacts/segments/{gone_id}").status_code == 302
    html = ui.get("/broadcasts/new").get_data(as_text=True)
    assert "Tokyo leads" in html and "Old webinar list" not in html
