"""Static contact lists: the service (add/remove, bulk from a segment, idempotent), the UI (list pages, the
contact page's Lists card) and list membership inside segments."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, insert, select

from campaigns.audience.lists import (
    add_segment_to_list,
    add_to_list,
    create_list,
    list_sizes,
    remove_from_list,
    update_list,
)
from campaigns.audience.segments import SegmentError, count_segment
from campaigns.models import Contact, ContactList, ContactListMember, Segment
from campaigns.suppression import suppress


def _contacts(services: Any, n: int = 12) -> list[int]:
    with services.db.begin() as s:
        s.execute(insert(Contact), [
            {"email": f"c{i}@example.jp", "company": "Acme" if i % 2 else "Globex"} for i in range(n)
        ])
        return list(s.scalars(select(Contact.id).order_by(Contact.id)))


def _members(services: Any, list_id: int) -> set[int]:
    with services.db.begin() as s:
        return set(s.scalars(select(ContactListMember.contact_id).where(ContactListMember.list_id == list_id)))


def test_add_remove_and_bulk_from_a_segment(services: Any) -> None:
    ids = _contacts(services)
    with services.db.begin() as s:
        vip = create_list(s, " VIP ", "key accounts")
        assert vip.name == "VIP"
        assert add_to_list(s, vip.id, [ids[0], ids[1], 10**9]) == 2  # unknown ids are skipped
        assert add_to_list(s, vip.id, [ids[0]]) == 0  # already a member: nothing twice
        acme = {"all": [{"field": "company", "op": "eq", "value": "acme"}]}
        assert add_segment_to_list(s, vip.id, acme) == 5  # ids[1] was already there
        assert remove_from_list(s, vip.id, [ids[0], ids[2]]) == 1
        list_id = vip.id
    assert _members(services, list_id) == {i for n, i in enumerate(ids) if n % 2}
    with services.db.begin() as s:
        assert list_sizes(s) == {list_id: 6}
        assert count_segment(s, {"all": [{"list_id": list_id}]}) == 6
        assert count_segment(s, {"all": [{"list_id": list_id, "member": False}]}) == 6
        suppress(s, "c1@example.jp", "manual")  # suppressed members are never in a segment
        assert count_segment(s, {"all": [{"list_id": list_id}]}) == 5


def test_list_names_and_ids_are_validated(services: Any) -> None:
    with services.db.begin() as s:
        create_list(s, "Expo")
        other = create_list(s, "Webinar")
        for call, message in [
            (lambda: create_list(s, "Expo"), "already exists"),
            (lambda: create_list(s, "  "), "needs a name"),
            (lambda: create_list(s, "x" * 201), "200"),
            (lambda: update_list(s, other, name="Expo"), "already exists"),
            (lambda: add_to_list(s, other.id, "1,2"), "list of contact ids"),
            (lambda: add_to_list(s, other.id, [1, "2"]), "positive whole numbers"),
            (lambda: add_to_list(s, other.id, list(range(1, 10_002))), "at most"),
        ]:
            with pytest.raises(SegmentError, match=message):
                call()


def test_deleting_a_contact_or_a_list_drops_memberships(services: Any) -> None:
    ids = _contacts(services, 3)
    with services.db.begin() as s:
        cl = create_list(s, "Temp")
        add_to_list(s, cl.id, ids)
        list_id = cl.id
    with services.db.begin() as s:
        s.delete(s.get(Contact, ids[0]))
    assert _members(services, list_id) == set(ids[1:])
    with services.db.begin() as s:
        s.delete(s.get(ContactList, list_id))
    with services.db.begin() as s:
        assert s.scalar(select(func.count()).select_from(ContactListMember)) == 0


def test_list_pages_create_bulk_add_and_remove(ui: Any, services: Any) -> None:
    ids = _contacts(services)
    with services.db.begin() as s:
        seg = Segment(name="Acme", rules={"all": [{"field": "company", "op": "eq", "value": "acme"}]})
        s.add(seg)
        s.flush()
        segment_id = seg.id
    resp = ui.post("/segments/lists", {"name": "展示会 2026", "description": "booth visitors"}, page="/segments/lists")
    assert resp.status_code == 302
    with services.db.begin() as s:
        list_id = s.scalar(select(ContactList.id).where(ContactList.name == "展示会 2026"))
    page = f"/segments/lists/{list_id}"
    assert ui.post("/segments/lists", {"name": "展示会 2026"}, page="/segments/lists").status_code == 400
    ui.post(f"{page}/add", {"segment_id": str(segment_id)}, page=page)
    assert _members(services, list_id) == {i for n, i in enumerate(ids) if n % 2}
    ui.post(f"{page}/add", {"emails": "c0@example.jp\nC2@EXAMPLE.JP, nobody@example.jp\nnot-an-address"}, page=page)
    # C2@EXAMPLE.JP is the contact c2@example.jp (one mailbox); nobody@ and the non-address are not added
    assert {ids[0], ids[2]} <= _members(services, list_id) and len(_members(services, list_id)) == 8
    html = ui.get(page).get_data(as_text=True)
    assert "c0@example.jp" in html and "8" in html
    ui.post(f"{page}/remove", {"contact_id": str(ids[0])}, page=page)
    assert ids[0] not in _members(services, list_id)
    lists_html = ui.get("/segments/lists").get_data(as_text=True)
    assert "展示会 2026" in lists_html
    ui.post(f"{page}/edit", {"name": "Expo 2026", "description": ""}, page=page)
    assert "Expo 2026" in ui.get(page).get_data(as_text=True)
    assert ui.post(f"{page}/add", {"segment_id": "999"}, page=page).status_code == 302  # flashed, nothing added
    ui.post(f"{page}/delete", {}, page=page)
    assert ui.get(page).status_code == 404


def test_contact_page_adds_to_and_removes_from_a_list(ui: Any, services: Any) -> None:
    ids = _contacts(services, 1)
    with services.db.begin() as s:
        list_id = create_list(s, "Newsletter VIP").id
    page = f"/contacts/{ids[0]}"
    html = ui.get(page).get_data(as_text=True)
    assert 'data-testid="contact-lists"' in html and "Newsletter VIP" in html
    ui.post(f"/segments/contact/{ids[0]}/lists", {"list_id": str(list_id)}, page=page)
    assert _members(services, list_id) == {ids[0]}
    ui.post(f"/segments/contact/{ids[0]}/lists", {"list_id": str(list_id), "action": "remove"}, page=page)
    assert _members(services, list_id) == set()
    assert ui.post(f"/segments/contact/{ids[0]}/lists", {"list_id": "x"}, page=page).status_code == 302


def test_add_the_contacts_of_a_csv_import(ui: Any, services: Any, tmp_path: Any) -> None:
    from campaigns.leads.imports import run_import, start_import

    _contacts(services, 2)  # c0, c1 exist already; the file updates c1 and adds two new addresses
    path = tmp_path / "expo.csv"
    path.write_text("会社,メール\n山田商事,new1@example.jp\nAcme,c1@EXAMPLE.JP\n,not-an-address\nGlobex,new2@example.jp\n",
                    encoding="utf-8")
    with services.db.begin() as s:
        job_id = start_import(s, str(path), "expo.csv", {"mapping": {"0": "company", "1": "email"}}).id
    run_import(services, job_id)
    with services.db.begin() as s:
        list_id = create_list(s, "Expo").id
        wanted = set(s.scalars(select(Contact.id).where(
            Contact.email.in_(["new1@example.jp", "c1@example.jp", "new2@example.jp"]))))
    page = f"/segments/lists/{list_id}"
    assert "expo.csv" in ui.get(page).get_data(as_text=True)
    resp = ui.post(f"{page}/add", {"import_id": str(job_id)}, page=page, follow_redirects=True)
    assert "Added 3 contacts from the import." in resp.get_data(as_text=True)
    assert _members(services, list_id) == wanted and len(wanted) == 3
    path.unlink()
    resp = ui.post(f"{page}/add", {"import_id": str(job_id)}, page=page, follow_redirects=True)
    assert "no longer available" in resp.get_data(as_text=True)
