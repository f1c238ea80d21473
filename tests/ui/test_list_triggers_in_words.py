"""The sequences and journeys lists say how contacts get in, in words (campaigns/views/entry_words.py): the
marketer's event names quoted as typed (never a code tag), segments, lists and forms by their names, a stage
in words, "Added by hand" when nothing enrols by itself; English and Japanese, no English left on the latter."""

from __future__ import annotations

import re
from typing import Any

from campaigns.leads import forms
from campaigns.models import ContactList, Segment
from tests.factories import make_journey, make_sequence, make_template


def _cell(html: str, test_id: str) -> str:
    match = re.search(rf'data-testid="{test_id}">(.*?)</td>', html, re.S)
    assert match, test_id
    return match.group(1)


def _words(cell: str) -> list[str]:
    return [re.sub(r"\s+", " ", w).strip() for w in re.findall(r'<span class="trigger-words">(.*?)</span>', cell, re.S)]


def test_sequences_list_shows_triggers_in_words(ui: Any, services: Any) -> None:
    with services.db.begin() as s:
        template_id = make_template(s, "Welcome").id
        trial = Segment(name="Trial users", rules={"all": []})
        s.add(trial)
        s.flush()
        draft = make_sequence(s, [{"template_id": template_id}], name="Whitepaper follow-up", active=False,
                              trigger_events=["whitepaper_downloaded"])
        draft.trigger_segment_id = trial.id
        form = forms.create_form(s, forms.FormInput(name="Whitepaper", consent_text="I agree."))
        form.sequence_ids = [draft.id]
        by_hand = make_sequence(s, [{"template_id": template_id}], name="Hand-picked", active=False)
        live = make_sequence(s, [{"template_id": template_id}], name="Webinar", trigger_events=["webinar_joined"])
        ids = (draft.id, by_hand.id, live.id)

    english = ui.get("/sequences/").get_data(as_text=True)
    assert _words(_cell(english, f"triggers-{ids[0]}")) == [
        "Event &#34;whitepaper_downloaded&#34;", "Enters segment &#34;Trial users&#34;", "Sends form &#34;Whitepaper&#34;"]
    assert _words(_cell(english, f"triggers-{ids[1]}")) == ["Added by hand"]
    # an activated sequence runs as a journey: its journey's entry triggers (the same event)
    assert _words(_cell(english, f"triggers-{ids[2]}")) == ["Event &#34;webinar_joined&#34;"]
    assert "<code" not in english and ">manual<" not in english

    japanese = ui.get("/sequences/", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert _words(_cell(japanese, f"triggers-{ids[0]}")) == [
        "イベント「whitepaper_downloaded」", "セグメント「Trial users」に入ったとき", "フォーム「Whitepaper」の送信"]
    assert _words(_cell(japanese, f"triggers-{ids[1]}")) == ["手動で登録"]
    assert "manual" not in japanese and "Added by hand" not in japanese and "<code" not in japanese


def test_journeys_list_shows_entry_triggers_and_status_in_words(ui: Any, services: Any) -> None:
    with services.db.begin() as s:
        members = ContactList(name="Seminar guests")
        s.add(members)
        s.flush()
        entered = make_journey(s, name="Seminar follow-up", settings={"entry": [
            {"kind": "event", "name": "seminar_registered"}, {"kind": "list", "list_id": members.id},
            {"kind": "stage", "stage": "mql"}]})
        by_hand = make_journey(s, name="Hand-picked", publish=False)
        ids = (entered.id, by_hand.id)

    english = ui.get("/journeys/").get_data(as_text=True)
    assert _words(_cell(english, f"journey-triggers-{ids[0]}")) == [
        "Event &#34;seminar_registered&#34;", "Added to list &#34;Seminar guests&#34;", "Reaches stage MQL"]
    assert _words(_cell(english, f"journey-triggers-{ids[1]}")) == ["Added by hand"]
    assert re.search(rf'data-testid="journey-status-{ids[1]}">Draft<', english)

    japanese = ui.get("/journeys/", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert _words(_cell(japanese, f"journey-triggers-{ids[0]}")) == [
        "イベント「seminar_registered」", "リスト「Seminar guests」に追加されたとき", "ステージがMQLになったとき"]
    assert _words(_cell(japanese, f"journey-triggers-{ids[1]}")) == ["手動で登録"]
    assert "Added by hand" not in japanese and not re.search(rf'journey-status-{ids[1]}">Draft<', japanese)
