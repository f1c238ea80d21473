"""A rule tree in words (campaigns.audience.describe): the sentence for each kind of condition in English and
Japanese, nested groups in brackets, names of lists / broadcasts / steps from the database, the editor's
words, and errors that name the condition ("Condition 2 (Job title contains): enter a value")."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from campaigns.audience import describe
from campaigns.audience.segments import SegmentError, validate_rules
from campaigns.models import Broadcast, ContactList, Step
from tests.factories import make_sequence, make_template

LOOKUPS = {"lists": {5: "展示会2026"}, "broadcasts": {3: "秋のセミナー"}, "steps": {9: "資料請求フォロー #2"}}

# (condition, English, Japanese): every kind of condition and every operator
CASES: list[tuple[dict[str, Any], str, str]] = [
    ({"field": "job_title", "op": "contains", "value": "部長"}, "Job title contains “部長”", "役職が「部長」を含む"),
    ({"field": "company", "op": "eq", "value": "ACME"}, "Company is “ACME”", "会社名が「ACME」"),
    ({"field": "source", "op": "neq", "value": "csv"}, "Source is not “csv”", "流入元が「csv」ではない"),
    ({"field": "email", "op": "starts_with", "value": "sales@"}, "Email starts with “sales@”",
     "メールアドレスが「sales@」で始まる"),
    ({"field": "company", "op": "in", "value": ["A", "B"]}, "Company is one of “A”, “B”", "会社名が「A」、「B」のいずれか"),
    ({"field": "stage", "op": "in", "value": ["warm", "mql"]}, "Stage is one of Warm, MQL",
     "ステージがウォーム、MQLのいずれか"),
    ({"field": "stage", "op": "eq", "value": "customer"}, "Stage is Customer", "ステージが顧客"),
    ({"field": "score", "op": "gt", "value": 50}, "Score is more than 50", "スコアが50より大きい"),
    ({"field": "score", "op": "lt", "value": 1000}, "Score is less than 1,000", "スコアが1,000より小さい"),
    ({"field": "score", "op": "between", "value": [50, 100]}, "Score is between 50 and 100", "スコアが50〜100"),
    ({"field": "job_title", "op": "exists"}, "Job title has a value", "役職に値がある"),
    ({"field": "job_title", "op": "exists", "value": False}, "Job title is empty", "役職が空"),
    ({"field": "attributes.industry", "op": "eq", "value": "製造業"}, "Custom field “industry” is “製造業”",
     "カスタム項目「industry」が「製造業」"),
    ({"event": "webinar_attended"}, "Event “webinar_attended” happened", "イベント「webinar_attended」が発生した"),
    ({"event": "webinar_attended", "occurred": False, "within_days": 30},
     "Event “webinar_attended” did not happen in the last 30 days",
     "イベント「webinar_attended」が発生していない（過去30日以内）"),
    ({"event": "form_submitted", "property": "topic", "value": "AI", "within_days": 1},
     "Event “form_submitted” with “topic” equal to “AI” happened in the last 1 day",
     "イベント「form_submitted」（「topic」が「AI」）が発生した（過去1日以内）"),
    ({"engagement": "opened"}, "Opened any mail", "いずれかのメールを開封した"),
    ({"engagement": "clicked", "broadcast_id": 3, "within_days": 14},
     "Clicked a link in the broadcast “秋のセミナー” in the last 14 days",
     "一斉配信「秋のセミナー」のリンクをクリックした（過去14日以内）"),
    ({"engagement": "not_opened", "step_id": 9}, "Did not open the sequence step “資料請求フォロー #2”",
     "ステップメールのステップ「資料請求フォロー #2」を開封していない"),
    ({"engagement": "not_clicked", "broadcast_id": 404}, "Did not click a link in a broadcast that no longer exists (#404)",
     "削除された一斉配信（#404）のリンクをクリックしていない"),
    ({"list_id": 5}, "Is on the list “展示会2026”", "リスト「展示会2026」に含まれる"),
    ({"list_id": 5, "member": False}, "Is not on the list “展示会2026”", "リスト「展示会2026」に含まれない"),
    ({"list_id": 77}, "Is on the list #77 (no longer exists)", "リスト#77（削除済み）に含まれる"),
]


@pytest.mark.parametrize(("cond", "english", "japanese"), CASES, ids=[str(c[0]) for c in CASES])
def test_each_kind_of_condition_as_a_sentence_in_both_languages(cond: dict[str, Any], english: str,
                                                                japanese: str) -> None:
    rules = {"all": [cond]}
    validate_rules(rules)  # every case is a tree the compiler takes
    assert describe.describe_rules(rules, LOOKUPS, "en") == english
    assert describe.describe_rules(rules, LOOKUPS, "ja") == japanese


def test_groups_join_with_and_or_and_nest_in_brackets() -> None:
    rules = {"all": [{"field": "job_title", "op": "contains", "value": "部長"},
                     {"any": [{"field": "score", "op": "gt", "value": 50}, {"engagement": "clicked"}]}]}
    assert describe.describe_rules(rules, {}, "en") == \
        "Job title contains “部長” and (score is more than 50 or clicked a link in any mail)"
    assert describe.describe_rules(rules, {}, "ja") == \
        "役職が「部長」を含む、かつ（スコアが50より大きい、またはいずれかのメールのリンクをクリックした）"
    assert describe.describe_rules({"any": [{"list_id": 5}]}, LOOKUPS, "en") == "Is on the list “展示会2026”"
    assert describe.describe_rules({}, {}, "en") == "Every contact (no conditions)"
    assert describe.describe_rules({"all": []}, {}, "ja") == "すべてのコンタクト（条件なし）"


def test_a_malformed_tree_is_described_not_raised() -> None:
    for rules in ({"all": [{"field": "job_title", "op": "nope"}]}, {"all": ["text"]}, {"all": [{"engagement": "x"}]}):
        assert "cannot be read" in describe.describe_rules(rules, {}, "en")
        assert "読み取れない条件" in describe.describe_rules(rules, {}, "ja")


def test_errors_name_the_condition_by_its_number_and_words() -> None:
    rules = {"all": [{"field": "score", "op": "gt", "value": 1},
                     {"any": [{"event": "x"}, {"field": "job_title", "op": "contains", "value": " "}]}]}
    with pytest.raises(SegmentError) as caught:
        describe.require_values(rules)
    assert describe.name_error(caught.value, rules, "en") == ("Condition 3 (Job title contains): enter a value", 3)
    assert describe.name_error(caught.value, rules, "ja") == ("条件3（役職が次を含む）: 値を入力してください", 3)
    bad = {"all": [{"field": "score", "op": "between", "value": [9, 1]}]}
    with pytest.raises(SegmentError) as caught:
        validate_rules(bad)
    assert describe.name_error(caught.value, bad, "en") == \
        ("Condition 1 (Score is between): the lowest value must not be above the highest", 1)
    with pytest.raises(SegmentError) as caught:
        validate_rules(["all"])
    assert describe.name_error(caught.value, ["all"], "en")[1] is None  # about the whole tree: its own words


def test_names_come_from_the_database(services: Any) -> None:
    with services.db.begin() as s:
        expo = ContactList(name="Expo")
        s.add(expo)
        template = make_template(s)
        seq = make_sequence(s, [{"template_id": template.id}], name="Welcome", active=False)
        step = s.scalar(select(Step).where(Step.sequence_id == seq.id))
        autumn = Broadcast(name="Autumn", template_id=template.id)
        s.add(autumn)
        s.flush()
        trees = [{"all": [{"list_id": expo.id}, {"engagement": "opened", "step_id": step.id}]},
                 {"any": [{"engagement": "clicked", "broadcast_id": autumn.id}]}]
        found = describe.load_lookups(s, trees)
    assert found == {"lists": {expo.id: "Expo"}, "broadcasts": {autumn.id: "Autumn"}, "steps": {step.id: "Welcome #1"}}


def test_the_editor_vocabulary_is_in_the_language_asked() -> None:
    en, ja = describe.vocabulary("en"), describe.vocabulary("ja")
    assert ["job_title", "Job title"] in en["fields"] and ["job_title", "役職"] in ja["fields"]
    assert ja["ops"]["contains"] == "が次を含む" and ja["labels"]["withinDays"] == "過去%(n)s日以内"
    assert en["labels"]["withinDays"] == "in the last %(n)s days"
    assert ["warm", "ウォーム"] in ja["stages"] and ["mql", "MQL"] in ja["stages"]
    texts = [v for v in ja["labels"].values()] + list(ja["ops"].values()) + [w for _c, w in ja["kinds"]]
    english = [t for t in texts if t.replace("%(n)s", "").replace("%(choice)s", "").isascii()]
    assert english == [], english  # every word the Japanese editor shows is Japanese
