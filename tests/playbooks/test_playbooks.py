"""Playbooks (campaigns.playbooks): each installs in both languages, and its pieces are there, valid and off.

Installing is read back from the database, not from what install() returned alone: the journey's stored draft
passes the journey validator (references to the templates, forms, lists, segments and triggers it names
included), its entry, goal and steps are the scenario's, the templates are compiled block mails in the
installation's language, the segments compile, the scoring rules and triggers exist and are switched off.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from campaigns.audience.segments import count_segment
from campaigns.automation.graph import validate_graph, validate_settings
from campaigns.models import (
    Broadcast,
    BroadcastStatus,
    ContactList,
    Form,
    FormStatus,
    Journey,
    JourneyStatus,
    ScoreTrigger,
    ScoringRule,
    Segment,
    Template,
)
from campaigns.playbooks import PLAYBOOKS, PlaybookError, install
from tests.sending_helpers import setup_account

SALES = "sales@acme.test"
JAPANESE = "いつもお世話になっております"


def _install(services: Any, key: str, language: str) -> dict[str, list[Any]]:
    with services.db.begin() as s:
        setup_account(s)
        pieces = install(s, services.settings, key, language, SALES)
    by_kind: dict[str, list[Any]] = {}
    for piece in pieces:
        by_kind.setdefault(piece.kind, []).append(piece)
    return by_kind


def _graph(services: Any, journey_id: int) -> tuple[Journey, dict[str, Any]]:
    s = services.db.session
    journey = s.get(Journey, journey_id)
    assert journey is not None and journey.status == JourneyStatus.DRAFT
    graph = validate_graph(s, journey.draft_graph, journey_id=journey.id)  # references checked too
    assert validate_settings(s, journey.settings) == journey.settings
    nodes = {n.id: n for n in graph.nodes.values()}
    return journey, {"graph": graph, "nodes": nodes, "types": [n.type for n in nodes.values()]}


def _check_common(services: Any, pieces: dict[str, list[Any]], language: str) -> None:
    s = services.db.session
    for piece in pieces.get("template", []):
        template = s.get(Template, piece.id)
        version = template.current_version
        assert version.editor == "blocks" and version.blocks["blocks"][-1]["type"] == "footer"
        assert version.compiled_html and "<style" not in version.compiled_html.split("<body", 1)[-1][:200]
        assert (JAPANESE in version.html_source) == (language == "ja"), template.name
    for piece in pieces.get("segment", []):
        count_segment(s, s.get(Segment, piece.id).rules)  # compiles
    for piece in pieces.get("form", []):
        assert s.get(Form, piece.id).status == FormStatus.INACTIVE
    for piece in pieces.get("rule", []):
        assert s.get(ScoringRule, piece.id).active is False
    for piece in pieces.get("trigger", []):
        trigger = s.get(ScoreTrigger, piece.id)
        assert trigger.active is False and trigger.email_to == SALES and trigger.stage == "mql"
    for piece in pieces.get("broadcast", []):
        assert s.get(Broadcast, piece.id).status == BroadcastStatus.DRAFT
    for piece in pieces.get("journey", []):
        _graph(services, piece.id)


@pytest.mark.parametrize("language", ["ja", "en"])
def test_document_request_follow_up(services: Any, language: str) -> None:
    pieces = _install(services, "document_followup", language)
    _check_common(services, pieces, language)
    assert len(pieces["template"]) == 5 and len(pieces["form"]) == 2
    journey, g = _graph(services, pieces["journey"][0].id)
    request, consult = (p.id for p in pieces["form"])
    assert journey.settings["entry"] == [{"kind": "form", "form_id": request}]
    assert journey.settings["goal"]["kind"] == "form" and journey.settings["goal"]["form_id"] == consult
    sends = [n.data["template_id"] for n in g["nodes"].values() if n.type == "send"]
    assert sends == [p.id for p in pieces["template"]]  # thanks, case study, article, invitation, consultation
    waits = [n.data["wait"]["minutes"] // 1440 for n in g["nodes"].values()
             if n.type == "wait" and "minutes" in n.data["wait"]]
    assert waits == [3, 4, 7, 7]  # days 3, 7, 14, 21


@pytest.mark.parametrize("language", ["ja", "en"])
def test_trade_show_follow_up(services: Any, language: str) -> None:
    pieces = _install(services, "expo_followup", language)
    _check_common(services, pieces, language)
    journey, g = _graph(services, pieces["journey"][0].id)
    segment = services.db.session.get(Segment, pieces["segment"][0].id)
    source = segment.rules["all"][0]["value"]
    assert source in journey.description  # the page and the journey tell the marketer the source to import with
    assert journey.settings["entry"] == [{"kind": "segment", "segment_id": segment.id}]
    waits = [n.data["wait"]["minutes"] // 1440 for n in g["nodes"].values()
             if n.type == "wait" and "minutes" in n.data["wait"]]
    assert waits == [1, 3, 6, 10]  # days 1, 4, 10, 20
    handover = [n for n in g["nodes"].values() if n.type == "action"]
    assert [n.data["action"] for n in handover] == [{"kind": "notify_sales", "trigger_id": pieces["trigger"][0].id}]
    # both hot branches lead to the hand-over
    assert sorted(e for (src, e), dst in g["graph"].edges.items() if dst == handover[0].id) == ["hot", "hot"]


@pytest.mark.parametrize("language", ["ja", "en"])
def test_seminar(services: Any, language: str) -> None:
    pieces = _install(services, "seminar", language)
    _check_common(services, pieces, language)
    journey, g = _graph(services, pieces["journey"][0].id)
    assert journey.settings["entry"] == [{"kind": "form", "form_id": pieces["form"][0].id}]
    waiting = next(n for n in g["nodes"].values() if n.type == "wait_for")
    assert waiting.data["until"] == {"kind": "event", "name": "webinar_attended"}
    edges = g["graph"].edges
    thanks, noshow = pieces["template"][2].id, pieces["template"][3].id
    after_attending = g["nodes"][edges[(edges[(waiting.id, "happened")], "next")]]
    assert after_attending.data["template_id"] == thanks
    assert g["nodes"][edges[(waiting.id, "timeout")]].data["template_id"] == noshow
    broadcast = services.db.session.get(Broadcast, pieces["broadcast"][0].id)
    assert broadcast.template_id == pieces["template"][0].id and broadcast.segment_id == pieces["segment"][0].id


@pytest.mark.parametrize("language", ["ja", "en"])
def test_win_back_with_a_sunset_list(services: Any, language: str) -> None:
    pieces = _install(services, "winback", language)
    _check_common(services, pieces, language)
    journey, g = _graph(services, pieces["journey"][0].id)
    sunset = pieces["list"][0].id
    (dormant,) = (services.db.session.get(Segment, p.id) for p in pieces["segment"])
    assert {"engagement": "not_opened", "within_days": 90} in dormant.rules["all"]
    assert {"list_id": sunset, "member": False} in dormant.rules["all"]
    assert journey.settings["entry"] == [{"kind": "segment", "segment_id": dormant.id}]
    actions = [n.data["action"] for n in g["nodes"].values() if n.type == "action"]
    assert {"kind": "add_to_list", "list_id": sunset} in actions
    assert actions[-1] == {"kind": "suppress", "reason": "sunset"}  # no reaction: suppressed from marketing mail


@pytest.mark.parametrize("language", ["ja", "en"])
def test_content_by_role(services: Any, language: str) -> None:
    pieces = _install(services, "by_role", language)
    _check_common(services, pieces, language)
    journey, g = _graph(services, g_id := pieces["journey"][0].id)
    branch = g["nodes"][g["graph"].start]
    assert branch.type == "branch"
    rules = branch.data["branches"][0]["condition"]["rules"]
    assert {"field": "job_title", "op": "contains", "value": "部長"} in rules["any"]
    edges = g["graph"].edges
    first_send = {exit_: g["nodes"][edges[(edges[(branch.id, exit_)], "next")]].data["template_id"]
                  for exit_ in ("executive", "else")}
    assert first_send == {"executive": pieces["template"][0].id, "else": pieces["template"][1].id}
    assert journey.id == g_id


@pytest.mark.parametrize("language", ["ja", "en"])
def test_mql_hand_over_preset(services: Any, language: str) -> None:
    pieces = _install(services, "mql_handover", language)
    _check_common(services, pieces, language)
    s = services.db.session
    rules = {r.kind.value: r for r in (s.get(ScoringRule, p.id) for p in pieces["rule"])}
    assert (rules["link_click"].points, rules["webinar_attended"].points, rules["page_visit"].points) == (10, 20, 15)
    consult = s.get(Form, pieces["form"][0].id)
    assert rules["page_visit"].link_url == "/pricing*"
    assert rules["form_submitted"].sets_mql and rules["form_submitted"].property_value == consult.name
    journey, g = _graph(services, pieces["journey"][0].id)
    assert [n.data["action"] for n in g["nodes"].values() if n.type == "action"] == [{"kind": "add_score", "points": 10}]
    assert len(pieces["trigger"]) == 1


def test_installing_twice_makes_a_second_copy_and_leaves_the_first(services: Any) -> None:
    first = _install(services, "winback", "ja")
    s = services.db.session
    before = {p.kind: s.get(Journey if p.kind == "journey" else ContactList, p.id).name
              for p in first["journey"] + first["list"]}
    first_graph = s.get(Journey, first["journey"][0].id).draft_graph
    s.rollback()
    second = _install(services, "winback", "ja")
    third = _install(services, "winback", "ja")
    assert second["journey"][0].name == first["journey"][0].name + " (2)"
    assert third["list"][0].name == first["list"][0].name + " (3)"
    # the copies point at their own pieces, and the first copy is unchanged
    second_graph = s.get(Journey, second["journey"][0].id).draft_graph
    assert second["list"][0].id in [n.get("action", {}).get("list_id") for n in second_graph["nodes"]]
    assert s.get(Journey, first["journey"][0].id).draft_graph == first_graph
    assert {p.kind: s.get(Journey if p.kind == "journey" else ContactList, p.id).name
            for p in first["journey"] + first["list"]} == before
    assert s.scalar(select(func.count()).select_from(Journey)) == 3


def test_a_list_name_taken_by_hand_moves_the_suffix(services: Any) -> None:
    with services.db.begin() as s:
        s.add(ContactList(name="Content by role"))
    pieces = _install(services, "by_role", "en")
    assert pieces["list"][0].name == "Content by role (2)"


def test_unknown_playbook_or_language_is_refused(services: Any) -> None:
    with services.db.begin() as s, pytest.raises(PlaybookError):
        install(s, services.settings, "nope", "ja", SALES)
    with services.db.begin() as s, pytest.raises(PlaybookError):
        install(s, services.settings, PLAYBOOKS[0].key, "fr", SALES)
