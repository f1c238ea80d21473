"""The contact list: search folded the way Japanese is typed, filters and sorts against a Python reference on
random data (keyset pages walked to the end), chosen columns, bulk actions on a selection, on the whole
filter and as a background job, and the search column kept on every write path."""

from __future__ import annotations

import csv
import io
import random
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select

from campaigns.audience.contact_filter import SORTS, ContactFilter, decode_cursor, encode_cursor, page
from campaigns.db import now_utc
from campaigns.leads.activity import note_activity
from campaigns.leads.contacts import update_contact, upsert_contact
from campaigns.leads.imports import run_import, start_import
from campaigns.models import (
    Contact,
    ContactList,
    ContactListMember,
    ContactStatus,
    Event,
    JourneyEnrolment,
    Segment,
    Stage,
    StageChange,
    Suppression,
)
from campaigns.search_text import contact_search_text, fold, search_words
from tests.conftest import run_jobs
from tests.factories import committed, make_contact, make_sequence, make_template

ROW = re.compile(r'data-contact-id="(\d+)"')
NEXT = re.compile(r'href="([^"]+)" rel="next"')
TOKYO = ZoneInfo("Asia/Tokyo")


def walk(ui: Any, url: str) -> list[int]:
    """Every contact id the list shows, page after page through the "next page" links."""
    found: list[int] = []
    while url:
        html = ui.get(url.replace("&amp;", "&")).get_data(as_text=True)
        found += [int(x) for x in ROW.findall(html)]
        link = NEXT.search(html)
        url = link.group(1) if link else ""
    return found


# ------------------------------------------------------------------ the folding rule
@pytest.mark.parametrize(("typed", "stored"), [
    ("ｶﾀｶﾅ", "カタカナ"), ("かたかな", "カタカナ"), ("カタカナ", "カタカナ"), ("ＡＢＣ", "abc"), ("AbC", "abc"),
    ("佐藤 一郎", "佐藤一郎"), ("佐藤　一郎", "佐藤一郎"), ("ﾊﾟｰﾄﾅｰ", "パートナー"), ("ばーとなー", "バートナー"),
    ("１２３", "123"), ("ゝゞ", "ヽヾ"),
])
def test_fold_makes_one_form_of_each_way_of_typing(typed: str, stored: str) -> None:
    assert fold(typed) == stored


def test_search_text_holds_names_in_both_orders_and_words_are_folded() -> None:
    text = contact_search_text("Ito@Example.jp", "美咲", "伊藤", "ｶﾌﾞｼｷｶﾞｲｼｬ ABC", "部長|営業")
    assert text == "ito@example.jp|美咲伊藤|伊藤美咲|カブシキガイシャabc|部長営業"
    assert search_words("  佐藤　一郎 ｶﾀｶﾅ 佐藤 a|b ") == ["佐藤", "一郎", "カタカナ", "ab"]


# ------------------------------------------------------------------ search through the page
def test_search_matches_the_way_japanese_is_typed(ui: Any, services: Any) -> None:
    ids = {
        "kana": committed(services, make_contact, "kana@example.jp", company="ｶﾀｶﾅ商事", first_name="花子",
                          last_name="山田"),
        "sato": committed(services, make_contact, "sato@example.jp", first_name="一郎", last_name="佐藤",
                          job_title="マーケティング部長"),
        "abc": committed(services, make_contact, "emily@example.com", first_name="Emily", last_name="Smith",
                         company="ＡＢＣ Corp"),
        "hanako": committed(services, make_contact, "sato.hanako@example.jp", first_name="花子", last_name="佐藤"),
    }
    for query, expected in [
        ("ｶﾀｶﾅ", ["kana"]), ("カタカナ", ["kana"]), ("かたかな", ["kana"]), ("カタカナ商事", ["kana"]),
        ("ＡＢＣ", ["abc"]), ("abc", ["abc"]), ("ABC corp", ["abc"]), ("abccorp", ["abc"]),
        ("佐藤 一郎", ["sato"]), ("佐藤一郎", ["sato"]), ("一郎 佐藤", ["sato"]), ("一郎佐藤", ["sato"]),
        ("佐藤", ["hanako", "sato"]), ("emily smith", ["abc"]), ("EMILY@EXAMPLE", ["abc"]),
        ("まーけてぃんぐ", ["sato"]), ("ﾏｰｹﾃｨﾝｸﾞ部長", ["sato"]), ("花子 山田", ["kana"]), ("佐藤 美咲", []),
        ("%", []), ("_", []), ("|", ["abc", "hanako", "kana", "sato"]),  # a lone separator searches nothing
        ("藤", []), ("佐", ["hanako", "sato"]), ("花子", ["hanako", "kana"]), ("ｶﾀ", ["kana"]),  # short: a field's start
        ("em", ["abc"]), ("xa", []),
    ]:
        found = walk(ui, f"/contacts/?q={quote(query)}")
        assert sorted(found) == sorted(ids[k] for k in expected), query
    html = ui.get(f"/contacts/?q={quote('佐藤一郎')}").get_data(as_text=True)
    assert "佐藤 一郎" in html  # family name first, as the contact page writes it
    assert "「佐藤一郎」を含む" not in html and "contains “佐藤一郎”" in html  # the filter in words


def test_every_write_path_keeps_the_search_text(services: Any, tmp_path: Any) -> None:
    def stored(email: str) -> tuple[str, str]:
        with services.db.begin() as s:
            c = s.scalar(select(Contact).where(Contact.email == email))
            return c.search_text, contact_search_text(c.email, c.first_name, c.last_name, c.company, c.job_title)

    with services.db.begin() as s:  # the API's and forms' upsert, then the edit form's update
        upsert_contact(s, {"email": "api@example.jp", "full_name": "山田 太郎", "company": "ｱｸﾒ"})
    assert stored("api@example.jp")[0] == "api@example.jp|太郎山田|山田太郎|アクメ|"
    with services.db.begin() as s:
        upsert_contact(s, {"email": "api@example.jp", "job_title": "ぶちょう"})
        contact = s.scalar(select(Contact).where(Contact.email == "api@example.jp"))
        update_contact(s, contact, {"email": "api@example.jp", "company": "Globex", "first_name": "花子",
                                    "last_name": "山田"})
    assert stored("api@example.jp")[0] == "api@example.jp|花子山田|山田花子|globex|ブチョウ"
    # the CSV import: new rows through the bulk insert, existing ones through the bulk update
    path = tmp_path / "people.csv"
    path.write_text("email,last_name,first_name,company\napi@example.jp,ヤマダ,,ｶﾀｶﾅ\nnew@example.jp,佐藤,一郎,ＡＢＣ\n",
                    encoding="utf-8")
    with services.db.begin() as s:
        job = start_import(s, str(path), "people.csv", {"mapping": {"0": "email", "1": "last_name",
                                                                     "2": "first_name", "3": "company"}})
    run_import(services, job.id)
    for email in ("api@example.jp", "new@example.jp"):
        text, expected = stored(email)
        assert text == expected, email
    assert stored("new@example.jp")[0] == "new@example.jp|一郎佐藤|佐藤一郎|abc|"
    assert stored("api@example.jp")[0] == "api@example.jp|花子ヤマダ|ヤマダ花子|カタカナ|ブチョウ"


# ------------------------------------------------------------------ filters and sorts against a reference
WORDS = ["acme", "beta", "cyan", "delta", "echo"]


def random_contacts(services: Any, rng: random.Random, n: int = 90) -> tuple[list[dict[str, Any]], int, int]:
    """n contacts with random fields (few distinct values, so sorts have ties); a list holding some of them
    and a segment (score 3-7). Returns (rows as dicts with their ids, list id, segment id)."""
    now = now_utc()
    rows = []
    for i in range(n):
        active = now - timedelta(days=rng.randrange(0, 40), minutes=rng.randrange(0, 1440))
        rows.append({
            "email": f"{rng.choice(WORDS)}{i}@example.jp", "first_name": rng.choice(WORDS),
            "last_name": rng.choice(WORDS), "company": rng.choice(WORDS + [""]), "job_title": rng.choice(WORDS),
            "source": rng.choice(["web", "expo", ""]), "stage": rng.choice(list(Stage)),
            "status": rng.choice([ContactStatus.ACTIVE, ContactStatus.ACTIVE, ContactStatus.UNSUBSCRIBED]),
            "score": rng.randrange(0, 10), "attributes": {"industry": rng.choice(["IT", "it", "金融"])} if i % 4 else {},
            "created_at": now - timedelta(days=rng.randrange(0, 30), minutes=rng.randrange(0, 1440)),
            "last_activity_at": active if rng.random() < 0.6 else None,
        })
    for row in rows:
        row["search_text"] = contact_search_text(row["email"], row["first_name"], row["last_name"], row["company"],
                                                 row["job_title"])
    with services.db.begin() as s:
        s.execute(insert(Contact), rows)
        ids = list(s.scalars(select(Contact.id).order_by(Contact.id)))
        for row, contact_id in zip(rows, ids, strict=True):
            row["id"] = contact_id
        chosen = ContactList(name="Chosen")
        segment = Segment(name="Middle scores", rules={"all": [{"field": "score", "op": "between", "value": [3, 7]}]})
        s.add_all([chosen, segment])
        s.flush()
        members = [r["id"] for r in rows if rng.random() < 0.4]
        s.execute(insert(ContactListMember), [{"list_id": chosen.id, "contact_id": i} for i in members])
        for row in rows:
            row["lists"] = {chosen.id} if row["id"] in members else set()
        return rows, chosen.id, segment.id


def day_start(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), TOKYO).astimezone(UTC)


def reference(rows: list[dict[str, Any]], args: dict[str, str], segment_id: int) -> list[dict[str, Any]]:
    """The contacts a filter keeps, computed in Python."""
    out = []
    for r in rows:
        words = search_words(args.get("q", ""))
        fields = r["search_text"].split("|")
        if any(w not in r["search_text"] if len(w) >= 3 else not any(f.startswith(w) for f in fields) for w in words):
            continue  # a word of three characters or more anywhere, a shorter one at a field's start
        if args.get("stage") and r["stage"] != args["stage"]:
            continue
        if args.get("status") and r["status"] != args["status"]:
            continue
        if args.get("source") and r["source"] != args["source"]:
            continue
        if "score_min" in args and r["score"] < int(args["score_min"]):
            continue
        if "score_max" in args and r["score"] > int(args["score_max"]):
            continue
        if "list_id" in args and int(args["list_id"]) not in r["lists"]:
            continue
        if "segment_id" in args and not 3 <= r["score"] <= 7:
            continue
        for column, key in (("created_at", "created"), ("last_activity_at", "active")):
            value = r[column]
            if f"{key}_from" in args and (value is None or value < day_start(date.fromisoformat(args[f"{key}_from"]))):
                break
            if f"{key}_to" in args and (value is None or value >= day_start(
                    date.fromisoformat(args[f"{key}_to"]) + timedelta(days=1))):
                break
        else:
            if "attr_key" in args and str(r["attributes"].get(args["attr_key"], "")).lower() != args["attr_value"].lower():
                continue
            out.append(r)
    return out


SORT_FIELDS = {
    "created": ("created_at",), "email": ("email",), "name": ("last_name", "first_name"), "company": ("company",),
    "job_title": ("job_title",), "source": ("source",), "stage": ("stage",), "score": ("score",),
    "status": ("status",), "activity": ("last_activity_at",),
}


def ordered(rows: list[dict[str, Any]], sort: str, descending: bool) -> list[int]:
    """Ids in the list's order: the sort's fields then id, NULLs after every value either way."""
    fields = SORT_FIELDS[sort]
    valued = [r for r in rows if r[fields[0]] is not None]
    nulls = [r for r in rows if r[fields[0]] is None]
    valued.sort(key=lambda r: (*(str(r[f]) if isinstance(r[f], Stage | ContactStatus) else r[f] for f in fields),
                               r["id"]), reverse=descending)
    nulls.sort(key=lambda r: r["id"], reverse=descending)
    return [r["id"] for r in valued + nulls]


def random_args(rng: random.Random, list_id: int, segment_id: int, today: date) -> dict[str, str]:
    choices: list[dict[str, str]] = [
        {"stage": rng.choice(list(Stage)).value}, {"status": rng.choice(["active", "unsubscribed"])},
        {"source": rng.choice(["web", "expo"])}, {"score_min": str(rng.randrange(0, 6))},
        {"score_max": str(rng.randrange(3, 10))}, {"list_id": str(list_id)}, {"segment_id": str(segment_id)},
        {"created_from": (today - timedelta(days=rng.randrange(5, 25))).isoformat()},
        {"created_to": (today - timedelta(days=rng.randrange(0, 20))).isoformat()},
        {"active_from": (today - timedelta(days=rng.randrange(5, 30))).isoformat(),
         "active_to": (today - timedelta(days=rng.randrange(0, 5))).isoformat()},
        {"attr_key": "industry", "attr_value": rng.choice(["IT", "金融"])}, {"q": rng.choice(WORDS)[:3]},
        {"q": rng.choice(WORDS)[rng.randrange(0, 2):][:2]},
        {"q": rng.choice(WORDS).upper() + " " + rng.choice(WORDS)[1:]},
    ]
    args: dict[str, str] = {}
    for extra in rng.sample(choices, rng.randrange(0, 4)):
        args.update(extra)
    return args


@pytest.mark.parametrize("walk_first", [True, False])
def test_filters_and_sorts_match_a_python_reference(services: Any, monkeypatch: pytest.MonkeyPatch,
                                                    walk_first: bool) -> None:
    from campaigns.audience import contact_filter

    monkeypatch.setattr(contact_filter, "WALK_FIRST", walk_first)  # PostgreSQL's two plans of a search
    rng = random.Random(20)
    rows, list_id, segment_id = random_contacts(services, rng)
    today = datetime.now(TOKYO).date()
    checked = 0
    with services.db.begin() as s:
        for _ in range(30):
            args = random_args(rng, list_id, segment_id, today)
            flt, problems = ContactFilter.parse(args, "Asia/Tokyo")
            assert problems == []
            kept = reference(rows, args, segment_id)
            for key in rng.sample(list(SORTS), 4):
                descending = rng.random() < 0.5
                expected = ordered(kept, key, descending)
                got: list[int] = []
                cursor = None
                while True:  # walk the keyset pages to the end: each row once, in order
                    result = page(s, flt, SORTS[key], descending, cursor, size=7)
                    got += [c.id for c in result.contacts]
                    if result.next_cursor is None:
                        break
                    cursor = decode_cursor(result.next_cursor, SORTS[key])
                    assert cursor is not None
                assert got == expected, (args, key, descending)
                checked += 1
    assert checked == 120


def test_sorting_links_and_pages_in_the_ui(ui: Any, services: Any) -> None:
    rng = random.Random(7)
    rows, _list_id, _segment_id = random_contacts(services, rng, n=120)
    assert walk(ui, "/contacts/") == ordered(rows, "created", True)  # newest first by default
    assert walk(ui, "/contacts/?sort=score&dir=asc&stage=") == ordered(rows, "score", False)
    html = ui.get("/contacts/?sort=score&dir=desc").get_data(as_text=True)
    assert 'aria-sort="descending"' in html and "sort=score&amp;dir=asc" in html  # the header flips the order
    # no OFFSET and no COUNT: the page after a cursor is one bounded query
    assert "OFFSET" not in str(select(Contact).limit(51))


def test_bad_filter_values_and_cursors_are_left_out_with_a_reason(ui: Any, services: Any) -> None:
    committed(services, make_contact, "a@example.jp")
    for url in ["/contacts/?score_min=abc&stage=nope&created_from=2026-13-45&list_id=１",
                "/contacts/?cursor=!!!&sort=score", "/contacts/?cursor=" + encode_cursor(["x", "y"]) + "&sort=score",
                "/contacts/?sort=activity&cursor=" + encode_cursor([None, "1"]),
                "/contacts/?attr_key=a.b&attr_value=x", "/contacts/?segment_id=999"]:
        response = ui.get(url)
        assert response.status_code == 200, url
        assert "a@example.jp" in response.get_data(as_text=True) or "segment_id" in url
    html = ui.get("/contacts/?score_min=abc", follow_redirects=True).get_data(as_text=True)
    assert "This filter value was not understood" in html
    assert "This segment no longer exists." in ui.get("/contacts/?segment_id=999").get_data(as_text=True)


def test_filter_in_words_in_japanese(ui: Any, services: Any) -> None:
    committed(services, make_contact, "a@example.jp", stage=Stage.HOT, score=40)
    ui.post("/lang/ja", {"next": "/contacts/"})
    html = ui.get("/contacts/?stage=hot&score_min=10&score_max=50&created_from=2026-01-01&q=%E4%BD%90%E8%97%A4"
                  ).get_data(as_text=True)
    for words in ["ステージがホット", "スコアが10〜50", "作成日時が2026-01-01以降", "「佐藤」を含む", "表示中の条件"]:
        assert words in html, words


def test_chosen_columns_are_remembered(ui: Any, services: Any) -> None:
    committed(services, make_contact, "a@example.jp", job_title="部長", score=12)
    html = ui.get("/contacts/").get_data(as_text=True)
    assert 'data-sort="score"' in html and 'data-sort="stage"' in html  # shown by default
    assert 'data-sort="job_title"' not in html
    ui.post("/contacts/columns", {"columns": ["job_title", "activity"], "back": "/contacts/?stage=cold"}, page="/contacts/")
    html = ui.get("/contacts/").get_data(as_text=True)
    assert 'data-sort="job_title"' in html and "部長" in html and 'data-sort="activity"' in html
    assert 'data-sort="score"' not in html


# ------------------------------------------------------------------ bulk actions
def bulk(ui: Any, data: dict[str, Any]) -> Any:
    return ui.post("/contacts/bulk", data, page="/contacts/")


def test_bulk_list_stage_suppress_and_export_on_a_selection(ui: Any, services: Any) -> None:
    ids = [committed(services, make_contact, f"p{i}@example.jp", first_name=f"名{i}", company="=cmd()") for i in range(6)]
    with services.db.begin() as s:
        chosen = ContactList(name="Chosen")
        s.add(chosen)
        s.flush()
        list_id = chosen.id
    assert bulk(ui, {"action": "add_to_list", "scope": "selected", "ids": [str(i) for i in ids[:4]],
                     "list_id": str(list_id)}).status_code == 302
    assert bulk(ui, {"action": "remove_from_list", "scope": "selected", "ids": [str(ids[0])],
                     "list_id": str(list_id)}).status_code == 302
    assert bulk(ui, {"action": "set_stage", "scope": "selected", "ids": [str(ids[1]), str(ids[2])],
                     "stage": "customer"}).status_code == 302
    refused = bulk(ui, {"action": "set_stage", "scope": "selected", "ids": [str(ids[3])], "stage": "hot"})
    assert refused.status_code == 302  # hot follows the score: refused with the reason
    assert "Choose a stage: MQL, SQL or customer" in ui.get("/contacts/").get_data(as_text=True)
    assert bulk(ui, {"action": "suppress", "scope": "selected", "ids": [str(ids[5])]}).status_code == 302
    with services.db.begin() as s:
        members = set(s.scalars(select(ContactListMember.contact_id).where(ContactListMember.list_id == list_id)))
        assert members == set(ids[1:4])
        stages = dict(s.execute(select(Contact.id, Contact.stage).where(Contact.id.in_(ids))).all())
        assert [stages[i] for i in ids] == [Stage.COLD, Stage.CUSTOMER, Stage.CUSTOMER, Stage.COLD, Stage.COLD, Stage.COLD]
        changes = list(s.execute(select(StageChange.contact_id, StageChange.cause)).all())
        assert sorted(changes) == [(ids[1], "bulk"), (ids[2], "bulk")]
        assert s.scalar(select(Suppression.email)) == "p5@example.jp"
    export = bulk(ui, {"action": "export", "scope": "selected", "ids": [str(ids[0]), str(ids[1])]})
    assert export.status_code == 200 and export.mimetype == "text/csv"
    text = export.get_data(as_text=True)
    assert text.startswith("\ufeff")
    table = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert table[0][:3] == ["email", "first_name", "last_name"] and len(table) == 3
    assert table[1][3] == "'=cmd()"  # no formula for the spreadsheet to run
    assert table[1][9].endswith("+09:00")  # created_at in the account's zone


def test_bulk_on_the_whole_filter_and_the_empty_selection(ui: Any, services: Any) -> None:
    for i in range(5):
        committed(services, make_contact, f"w{i}@example.jp", source="expo" if i < 3 else "web")
    response = bulk(ui, {"action": "add_to_list", "scope": "selected", "list_id": "1"})
    assert response.status_code == 302
    assert "Tick the contacts" in ui.get("/contacts/").get_data(as_text=True)
    assert bulk(ui, {"action": "set_stage", "scope": "filter", "f_source": "expo", "stage": "mql"}).status_code == 302
    with services.db.begin() as s:
        assert sorted(s.scalars(select(Contact.email).where(Contact.stage == Stage.MQL))) == [
            "w0@example.jp", "w1@example.jp", "w2@example.jp"]
    export = bulk(ui, {"action": "export", "scope": "filter", "f_source": "web"})
    assert sorted(row[0] for row in list(csv.reader(io.StringIO(export.get_data(as_text=True).lstrip("\ufeff"))))[1:]) == [
        "w3@example.jp", "w4@example.jp"]


def test_enrol_asks_for_confirmation_before_it_mails_anyone(ui: Any, services: Any) -> None:
    ids = [committed(services, make_contact, f"e{i}@example.jp", first_name=f"Lead{i}") for i in range(3)]
    with services.db.begin() as s:
        template = make_template(s, "Hello")
        sequence_id = make_sequence(s, [{"template_id": template.id}]).id
    form = {"action": "enrol", "scope": "selected", "ids": [str(i) for i in ids], "sequence_id": str(sequence_id)}
    first = bulk(ui, form)
    html = first.get_data(as_text=True)
    assert first.status_code == 200 and "Lead0" in html and "confirm_count" in html
    with services.db.begin() as s:
        assert s.scalar(select(JourneyEnrolment.id)) is None  # nothing before the confirmation
    wrong = bulk(ui, {**form, "confirm_step": "confirmed", "confirm_count": "2"})
    assert wrong.status_code == 409
    done = bulk(ui, {**form, "confirm_step": "confirmed", "confirm_count": "3"})
    assert done.status_code == 302
    with services.db.begin() as s:
        assert sorted(s.scalars(select(JourneyEnrolment.contact_id))) == ids  # walks of the sequence's journey


def test_erase_from_the_list_confirms_then_erases(ui: Any, services: Any) -> None:
    contact_id = committed(services, make_contact, "erase.me@example.jp", first_name="消す", last_name="山田")
    form = {"action": "erase", "scope": "selected", "ids": [str(contact_id)]}
    assert bulk(ui, form).status_code == 200
    with services.db.begin() as s:
        assert s.get(Contact, contact_id).first_name == "消す"
    assert bulk(ui, {**form, "confirm_step": "confirmed", "confirm_count": "1"}).status_code == 302
    with services.db.begin() as s:
        contact = s.get(Contact, contact_id)
        assert contact.first_name == "" and "erase.me" not in contact.search_text and "山田" not in contact.search_text
    assert "erase.me" not in ui.get("/contacts/?q=erase").get_data(as_text=True)


def test_a_large_whole_filter_action_runs_as_a_background_job_with_progress(
        ui: Any, services: Any, app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import campaigns.bulk as bulk_module

    monkeypatch.setattr(bulk_module, "BACKGROUND_ABOVE", 4)
    monkeypatch.setattr(bulk_module, "BATCH", 3)
    for i in range(10):
        committed(services, make_contact, f"bg{i}@example.jp", company="Acme" if i % 5 else "Other")
    with services.db.begin() as s:
        chosen = ContactList(name="Background")
        s.add(chosen)
        s.flush()
        list_id = chosen.id
    response = bulk(ui, {"action": "add_to_list", "scope": "filter", "f_q": "acme", "list_id": str(list_id)})
    assert response.status_code == 302 and "/contacts/bulk/" in response.location
    progress_url = response.location
    status = ui.get(progress_url + "/status").get_json()
    assert status["total"] == 8 and not status["finished"]
    with services.db.begin() as s:
        assert s.scalar(select(ContactListMember.contact_id)) is None  # not done in the request
    assert run_jobs(app) == 1
    status = ui.get(progress_url + "/status").get_json()
    assert status == {**status, "finished": True, "done": 8, "changed": 8, "percent": 100}
    assert "Done" in ui.get(progress_url).get_data(as_text=True)
    with services.db.begin() as s:
        members = set(s.scalars(select(Contact.company).join(ContactListMember, ContactListMember.contact_id == Contact.id)))
        assert members == {"Acme"}
    assert ui.get("/contacts/bulk/not-a-job").status_code == 404
    assert ui.get("/contacts/bulk/0123456789abcdef/status").status_code == 404


# ------------------------------------------------------------------ last activity
def test_last_activity_moves_forward_from_events_and_human_hits(services: Any, ui: Any) -> None:
    a = committed(services, make_contact, "a@example.jp")
    b = committed(services, make_contact, "b@example.jp")
    now = now_utc()
    with services.db.begin() as s:
        s.execute(insert(Event), [
            {"contact_id": a, "name": "visit", "properties": {}, "occurred_at": now - timedelta(days=3), "created_at": now},
            {"contact_id": a, "name": "visit", "properties": {}, "occurred_at": now - timedelta(days=1), "created_at": now},
            {"contact_id": b, "name": "visit", "properties": {}, "occurred_at": now - timedelta(days=9), "created_at": now},
        ])
        top = s.scalar(select(Event.id).order_by(Event.id.desc()).limit(1))
        note_activity(s, (0, top), (0, 0))
    with services.db.begin() as s:
        note_activity(s, (0, 1), (0, 0))  # an older event again: never moves it back
        got = {c.id: c.last_activity_at for c in s.scalars(select(Contact))}
    assert abs(got[a] - (now - timedelta(days=1))) < timedelta(seconds=1)
    assert abs(got[b] - (now - timedelta(days=9))) < timedelta(seconds=1)
    since = (datetime.now(TOKYO).date() - timedelta(days=5)).isoformat()
    assert walk(ui, f"/contacts/?active_from={since}") == [a]
    assert walk(ui, "/contacts/?sort=activity&dir=desc") == [a, b]
