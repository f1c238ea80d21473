"""The segment editor's live count and sample endpoint (JSON, CSRF-protected) and the editor page."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert

from campaigns.models import Contact, ContactList, ContactListMember, Stage


def _people(services: Any) -> dict[str, int]:
    with services.db.begin() as s:
        s.execute(insert(Contact), [
            {"email": f"p{i}@example.jp", "job_title": "営業部長" if i % 3 == 0 else "Engineer",
             "stage": Stage.WARM if i % 2 else Stage.COLD, "attributes": {"industry": "IT" if i % 4 else "製造業"}}
            for i in range(30)
        ])
        vip = ContactList(name="VIP")
        s.add(vip)
        s.flush()
        first = s.query(Contact).filter_by(email="p0@example.jp").one()
        s.execute(insert(ContactListMember), [{"list_id": vip.id, "contact_id": first.id}])
        return {"vip": vip.id, "p0": first.id}


def _preview(ui: Any, body: Any, token: str | None = None) -> Any:
    headers = {"X-CSRFToken": token if token is not None else ui.token("/contacts/segments/new")}
    return ui.client.post("/segments/preview", json=body, headers=headers)


def test_live_count_and_sample_match_the_rule_tree(ui: Any, services: Any) -> None:
    ids = _people(services)
    rules = {"all": [{"field": "job_title", "op": "contains", "value": "部長"},
                     {"field": "stage", "op": "in", "value": ["cold"]}]}
    resp = _preview(ui, {"rules": rules, "limit": 3})
    assert resp.status_code == 200
    data = resp.get_json()
    expected = [i for i in range(30) if i % 3 == 0 and i % 2 == 0]  # 0, 6, 12, 18, 24
    assert data["count"] == len(expected)
    assert [c["email"] for c in data["sample"]] == [f"p{i}@example.jp" for i in sorted(expected, reverse=True)[:3]]
    assert data["sample"][0]["url"].endswith(f"/contacts/{ids['p0'] + 24}")
    member = _preview(ui, {"rules": {"all": [{"list_id": ids["vip"]}]}}).get_json()
    assert member["count"] == 1 and member["sample"][0]["email"] == "p0@example.jp"
    assert _preview(ui, {"rules": {}, "limit": 0}).get_json() == {"count": 30, "sample": []}


def test_live_count_errors_are_clear_json(ui: Any, services: Any) -> None:
    token = ui.token("/contacts/segments/new")
    cases = [
        ({"rules": {"all": [{"field": "nope", "op": "eq", "value": 1}]}}, "invalid_rules", "unknown field"),
        ({"rules": {"all": [{"list_id": 424242}]}}, "invalid_rules", "list 424242 does not exist"),
        ({"rules": {"all": [{"event": "x", "within_days": -1}]}}, "invalid_rules",
         "Condition 1 (Event “x”): the number of days must be a whole number from 1 to 3650"),
        ({"rules": ["all"]}, "invalid_rules", "object"),
        ({"rules": {}, "limit": 5000}, "invalid_limit", "limit"),
        (["not", "an", "object"], "invalid_json", "JSON object"),
    ]
    for body, code, message in cases:
        resp = _preview(ui, body, token)
        assert resp.status_code == 400, body
        assert resp.get_json()["error"] == code and message in resp.get_json()["message"], body
    raw = ui.client.post("/segments/preview", data="{oops", headers={"X-CSRFToken": token,
                                                                     "Content-Type": "application/json"})
    assert raw.status_code == 400 and raw.get_json()["error"] == "invalid_json"


def test_live_count_needs_csrf_and_a_login(ui: Any, client: Any, services: Any) -> None:
    json_accept = {"Accept": "application/json"}
    resp = ui.client.post("/segments/preview", json={"rules": {}}, headers=json_accept)  # no token
    assert resp.status_code == 400 and resp.get_json()["error"] == "csrf"
    token = ui.token("/contacts/segments/new")
    ui.client.post("/logout", data={"csrf_token": token})
    resp = ui.client.post("/segments/preview", json={"rules": {}}, headers={"X-CSRFToken": token, **json_accept})
    assert resp.status_code != 200 and "count" not in (resp.get_json(silent=True) or {})


def test_editor_page_carries_the_pickers_and_the_script(ui: Any, services: Any) -> None:
    _people(services)
    html = ui.get("/contacts/segments/new").get_data(as_text=True)
    assert 'src="/static/segments.js"' in html and "<script>" not in html  # CSP: no inline script
    assert "data-preview-url=\"/segments/preview\"" in html
    assert "VIP" in html  # the list picker's options


def test_rule_errors_are_shown_in_japanese(ui: Any, services: Any) -> None:
    ja = {"Accept-Language": "ja,en;q=0.5"}
    token = ui.token("/contacts/segments/new")
    resp = ui.client.post("/segments/preview", json={"rules": {"all": [{"field": "nope", "op": "eq", "value": 1}]}},
                          headers={"X-CSRFToken": token, **ja})
    assert resp.status_code == 400 and resp.get_json()["message"] == "条件1（「nope」が次と等しい）: 不明な項目 'nope'"
    page = ui.client.post("/contacts/segments/new", headers=ja, data={
        "csrf_token": token, "name": "x", "rules": '{"all": [{"list_id": 77}]}'}).get_data(as_text=True)
    assert "rules: リスト 77 は存在しません" in page


def test_form_errors_name_the_condition_in_words(ui: Any, services: Any) -> None:
    """A blank value is refused with the condition's number and words, in the UI's language; the JSON stays
    behind "Advanced" while the builder can show the rules."""
    token = ui.token("/contacts/segments/new")
    rules = '{"all": [{"field": "score", "op": "gt", "value": 5}, {"any": [{"field": "job_title", "op": "contains", "value": ""}]}]}'
    for lang, message in (("en", "Condition 2 (Job title contains): enter a value"),
                          ("ja", "条件2（役職が次を含む）: 値を入力してください")):
        resp = ui.client.post("/contacts/segments/new", headers={"Accept-Language": lang},
                              data={"csrf_token": token, "name": "x", "rules": rules})
        html = resp.get_data(as_text=True)
        assert resp.status_code == 400 and message in html, lang
        assert 'data-error-condition="2"' in html and '<details class="advanced" id="rules-advanced">' in html
    from campaigns.models import Segment
    with services.db.factory() as s:
        assert s.query(Segment).count() == 0


def test_segments_list_reads_as_sentences_with_counts(ui: Any, services: Any) -> None:
    ids = _people(services)
    from campaigns.models import Segment
    with services.db.begin() as s:
        s.add(Segment(name="VIP 部長", rules={"all": [{"field": "job_title", "op": "contains", "value": "部長"},
                                                      {"list_id": ids["vip"]}]}))
        s.add(Segment(name="Broken", rules={"all": [{"field": "nope", "op": "eq", "value": 1}]}))
    html = ui.get("/contacts/segments").get_data(as_text=True)
    assert "Job title contains “部長” and is on the list “VIP”" in html and '"list_id"' not in html
    assert ">1</span>" in html and "Needs fixing" in html
    ja = ui.get("/contacts/segments", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "役職が「部長」を含む、かつリスト「VIP」に含まれる" in ja and "要修正" in ja
