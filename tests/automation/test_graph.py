"""The graph rules (campaigns.automation.graph): each rule refuses with a sentence naming the node, the
typed view walks the graph, settings get their defaults."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from campaigns.automation.graph import (
    GRAPH_SCHEMA,
    MAX_NODES,
    GraphError,
    validate_graph,
    validate_settings,
)
from campaigns.models import ContactList, ScoreTrigger, Segment, TriggerAction, TriggerWhen
from tests.factories import linear_graph, make_journey, make_template


def _doc_graph(template_id: int) -> dict[str, Any]:
    """The example of docs/journeys.md, with a real template."""
    return {
        "start": "n1",
        "nodes": [
            {"id": "n1", "type": "send", "template_id": template_id, "name": "Thanks + document"},
            {"id": "n2", "type": "wait", "wait": {"minutes": 4320}},
            {"id": "n3", "type": "branch", "branches": [
                {"key": "clicked", "label": "Clicked the case study", "condition": {"previous_mail": "clicked"}},
                {"key": "hot", "label": "Score 50+", "condition": {"rules": {"all": [
                    {"field": "score", "op": "gt", "value": 49}]}}},
            ]},
            {"id": "n4", "type": "wait_for", "until": {"kind": "event", "name": "webinar_attended",
                                                        "where": {"webinar": "2026-12"}},
             "timeout": {"minutes": 10080}},
            {"id": "n5", "type": "split", "paths": [{"key": "A", "percent": 50}, {"key": "B", "percent": 50}],
             "goal": {"kind": "event", "name": "demo_booked"}},
            {"id": "n6", "type": "action", "action": {"kind": "add_score", "points": 10}},
            {"id": "n7", "type": "end"},
        ],
        "edges": [
            {"from": "n1", "exit": "next", "to": "n2"},
            {"from": "n2", "exit": "next", "to": "n3"},
            {"from": "n3", "exit": "clicked", "to": "n4"},
            {"from": "n3", "exit": "hot", "to": "n6"},
            {"from": "n3", "exit": "else", "to": "n5"},
            {"from": "n4", "exit": "happened", "to": "n6"},
            {"from": "n4", "exit": "timeout", "to": "n7"},
            {"from": "n5", "exit": "A", "to": "n7"},
            {"from": "n5", "exit": "B", "to": "n7"},
            {"from": "n6", "exit": "next", "to": "n7"},
        ],
        "layout": {"n1": {"x": 0, "y": 0}},
    }


@pytest.fixture
def doc(session) -> dict[str, Any]:
    return _doc_graph(make_template(session).id)


def _refused(session, graph: Any, **kw: Any) -> GraphError:
    with pytest.raises(GraphError) as caught:
        validate_graph(session, graph, **kw)
    return caught.value


def test_the_documented_example_is_valid_and_walkable(session, doc):
    graph = validate_graph(session, doc)
    assert graph.start == "n1"
    assert graph.exits("n3") == ("clicked", "hot", "else")
    assert graph.exits("n4") == ("happened", "timeout")
    assert graph.exits("n5") == ("A", "B")
    assert graph.exits("n7") == ()
    assert graph.next("n3", "hot") == "n6" and graph.next("n4", "timeout") == "n7"
    assert graph.next("n7", "next") is None
    assert graph.nodes["n1"].name == "Thanks + document"
    assert graph.open_exits() == []
    assert graph.as_json()["edges"] == doc["edges"] and graph.as_json()["layout"] == doc["layout"]
    assert validate_graph(session, graph.as_json()) == graph  # normalised: stable


def test_an_exit_without_an_edge_ends_the_walk_and_is_listed_as_open(session, doc):
    doc["edges"] = [e for e in doc["edges"] if (e["from"], e["exit"]) != ("n5", "B")]
    graph = validate_graph(session, doc)
    assert graph.next("n5", "B") is None and graph.open_exits() == [("n5", "B")]


RULES = [  # (a change to the documented example, what the error says)
    (lambda g: g["nodes"].append({"id": "n8", "type": "teleport"}),
     'node "n8" (unknown type): unknown node type "teleport"'),
    (lambda g: g["nodes"][0].update(colour="red"), 'node "n1" (send): unknown field "colour"'),
    (lambda g: g["nodes"].append({"id": "n1", "type": "end"}), 'node "n1" (end): two nodes have this id'),
    (lambda g: g.update(start="n99"), 'the start node "n99" does not exist'),
    (lambda g: g.pop("start"), "the graph has no start node"),
    (lambda g: g["edges"].append({"from": "n9", "exit": "next", "to": "n2"}),
     "connection 11 starts at a node that does not exist"),
    (lambda g: g["edges"].__setitem__(0, {"from": "n1", "exit": "next", "to": "n42"}),
     'node "n1" (send): exit "next" leads to a node that does not exist ("n42")'),
    (lambda g: g["edges"].append({"from": "n3", "exit": "maybe", "to": "n7"}),
     'node "n3" (branch): exit "maybe" does not exist (exits: clicked, hot, else)'),
    (lambda g: g["edges"].append({"from": "n7", "exit": "next", "to": "n1"}),
     'node "n7" (end): exit "next" does not exist (exits: none: the journey ends here)'),
    (lambda g: g["edges"].append({"from": "n3", "exit": "hot", "to": "n7"}),
     'node "n3" (branch): exit "hot" has two connections (to "n6" and "n7")'),
    (lambda g: g["edges"].__setitem__(2, {"from": "n3", "exit": "clicked", "to": "n5"}),
     'node "n4" (wait_for): no path from the start reaches this node'),
    (lambda g: g["nodes"][2].update(branches=[]), 'node "n3" (branch): a branch needs at least one condition'),
    (lambda g: g["nodes"][2]["branches"].append({"key": "else", "condition": {"previous_mail": "opened"}}),
     'node "n3" (branch): "else" is the branch\'s own last exit'),
    (lambda g: g["nodes"][2]["branches"][1].update(key="clicked"), 'node "n3" (branch): two branches have the key'),
    (lambda g: g["nodes"][2]["branches"][1]["condition"]["rules"]["all"][0].update(op="around"),
     'node "n3" (branch): branch 2: '),
    (lambda g: g["nodes"][2]["branches"][0].update(condition={"previous_mail": "replied"}),
     'node "n3" (branch): branch 1: previous_mail must be "opened" or "clicked"'),
    (lambda g: g["nodes"][4]["paths"][0].update(percent=60),
     'node "n5" (split): the split\'s percentages add up to 110, not 100'),
    (lambda g: g["nodes"][4].update(paths=[{"key": "A", "percent": 100}]), 'node "n5" (split): a split needs at least two'),
    (lambda g: g["nodes"][1].update(wait={"minutes": 0}), 'node "n2" (wait): wait.minutes must be between 1 and'),
    (lambda g: g["nodes"][1].update(wait={"hours": 3}), 'node "n2" (wait): "wait" must be one of'),
    (lambda g: g["nodes"][1].update(wait={"window": {"days": "189", "start_hour": 9, "end_hour": 18}}),
     'node "n2" (wait): wait.window.days must list weekdays'),
    (lambda g: g["nodes"][1].update(wait={"window": {"days": "12345", "start_hour": 9, "end_hour": 9}}),
     'node "n2" (wait): wait.window.end_hour must differ from start_hour'),
    (lambda g: g["nodes"][3].pop("timeout"), 'node "n4" (wait_for): needs "timeout"'),
    (lambda g: g["nodes"][3].update(until={"kind": "open", "node": "n2"}),
     'node "n4" (wait_for): until: "n2" is not a send node of this journey'),
    (lambda g: g["nodes"][3].update(until={"kind": "telepathy"}), 'node "n4" (wait_for): until must have a kind'),
    (lambda g: g["nodes"][3].update(until={"kind": "stage", "stage": "king"}),
     'node "n4" (wait_for): until.stage must be one of cold, warm, hot, mql, sql, customer'),
    (lambda g: g["nodes"][5].update(action={"kind": "add_score", "points": 0}),
     'node "n6" (action): action.points must not be 0'),
    (lambda g: g["nodes"][5].update(action={"kind": "webhook", "url": "ftp://x"}),
     'node "n6" (action): action.url must be an http:// or https:// address'),
    (lambda g: g["nodes"][5].update(action={"kind": "fly"}), 'node "n6" (action): action must have a kind'),
    (lambda g: g["nodes"][0].update(name="x" * 201), 'node "n1" (send): name is too long (at most 200 characters)'),
    (lambda g: g["nodes"][0].update(name="two\nlines"), 'node "n1" (send): name: not one line'),
    (lambda g: g["nodes"][0].update(id="n 1"), "node 1: its id must be 1 to 40 letters"),
    (lambda g: g.update(colour="red"), 'the graph has an unknown field "colour"'),
]


def test_each_rule_refuses_with_a_sentence_naming_the_node(session, doc):
    # one test over all the cases: each needs only a template, and an app per case costs seconds on PostgreSQL
    for index, (change, message) in enumerate(RULES):
        graph = copy.deepcopy(doc)
        change(graph)
        error = _refused(session, graph)
        assert message in str(error), (index, str(error))
        if str(error).startswith("node \""):
            assert error.node == str(error).split('"')[1] and error.as_json()["node"] == error.node, index


def test_a_loop_needs_a_wait_but_a_loop_through_one_is_allowed(session, doc):
    loop = copy.deepcopy(doc)
    loop["edges"][-1] = {"from": "n6", "exit": "next", "to": "n3"}  # n3 -> n6 -> n3: no time passes
    error = _refused(session, loop)
    assert "is on a loop that passes through no wait" in str(error) and error.node in ("n3", "n6")
    self_loop = copy.deepcopy(doc)
    self_loop["edges"][-1] = {"from": "n6", "exit": "next", "to": "n6"}
    assert _refused(session, self_loop).node == "n6"
    through_wait = copy.deepcopy(doc)
    through_wait["edges"][-1] = {"from": "n6", "exit": "next", "to": "n2"}  # n2 (wait) -> n3 -> n6 -> n2
    validate_graph(session, through_wait)
    through_wait_for = copy.deepcopy(doc)
    through_wait_for["edges"][5] = {"from": "n4", "exit": "happened", "to": "n3"}  # n3 -> n4 (wait_for) -> n3
    validate_graph(session, through_wait_for)


def test_rows_the_graph_names_must_exist_and_not_be_archived(session, doc):
    gone = copy.deepcopy(doc)
    gone["nodes"][0]["template_id"] = 999999
    assert str(_refused(session, gone)) == 'node "n1" (send): template 999999 does not exist'
    archived = make_template(session, "Old")
    archived.archived_at = datetime.now(UTC)
    doc["nodes"][0]["template_id"] = archived.id
    assert str(_refused(session, doc)) == f'node "n1" (send): template {archived.id} is archived'
    doc["nodes"][0]["template_id"] = make_template(session, "New").id
    for action, text in [
        ({"kind": "add_to_list", "list_id": 999999}, "list 999999 does not exist"),
        ({"kind": "notify_sales", "trigger_id": 999999}, "trigger 999999 does not exist"),
        ({"kind": "enrol_journey", "journey_id": 999999}, "journey 999999 does not exist"),
    ]:
        doc["nodes"][5]["action"] = action
        assert str(_refused(session, doc)) == f'node "n6" (action): {text}'
    doc["nodes"][3]["until"] = {"kind": "form", "form_id": 999999}
    doc["nodes"][5]["action"] = {"kind": "add_score", "points": 5}
    assert str(_refused(session, doc)) == 'node "n4" (wait_for): form 999999 does not exist'
    doc["nodes"][3]["until"] = {"kind": "click", "node": "n1", "url": "https://acme.test/pricing"}
    doc["nodes"][2]["branches"][1]["condition"] = {"rules": {"all": [{"list_id": 999999, "member": True}]}}
    assert str(_refused(session, doc)) == 'node "n3" (branch): branch 2: rules: list 999999 does not exist'
    # and with real rows, all is well
    lst = ContactList(name="VIP")
    trigger = ScoreTrigger(name="Hand over", when=TriggerWhen.STAGE, stage="mql", action=TriggerAction.EMAIL,
                           email_to="sales@example.jp")
    session.add_all([lst, trigger])
    session.flush()
    other = make_journey(session, name="Other", publish=False)
    doc["nodes"][2]["branches"][1]["condition"] = {"rules": {"all": [{"list_id": lst.id, "member": True}]}}
    validate_graph(session, doc)
    for action in ({"kind": "add_to_list", "list_id": lst.id}, {"kind": "notify_sales", "trigger_id": trigger.id},
                   {"kind": "enrol_journey", "journey_id": other.id}):
        doc["nodes"][5]["action"] = action
        validate_graph(session, doc)
    assert str(_refused(session, doc, journey_id=other.id)) == (
        'node "n6" (action): a journey cannot enrol contacts in itself')


def test_limits_on_size(session):
    template_id = make_template(session).id
    graph = linear_graph([template_id] * ((MAX_NODES + 2) // 2))
    assert len(graph["nodes"]) > MAX_NODES
    assert f"a journey has at most {MAX_NODES} nodes" in str(_refused(session, graph))
    graph = linear_graph([template_id])
    graph["layout"] = {"note": "x" * 600_000}
    assert "the graph is too large" in str(_refused(session, graph))
    graph["layout"] = {"note": "bad \ud800"}
    assert "invalid Unicode" in str(_refused(session, graph))


def test_an_empty_graph_is_a_draft_not_a_journey(session):
    empty = {"start": "", "nodes": [], "edges": [], "layout": {}}
    assert validate_graph(session, empty, allow_empty=True).nodes == {}
    assert str(_refused(session, empty)) == "the journey has no nodes yet"
    assert str(_refused(session, "not a graph")).startswith("the graph must be an object")


def test_error_templates_translate_with_their_values(session, doc):
    doc["nodes"][4]["paths"][0]["percent"] = 60
    error = _refused(session, doc)
    seen: dict[str, Any] = {}

    def gettext(template: str, **params: Any) -> str:
        if template == "split":
            return "ランダム分割"
        seen.update(template=template, params=params)
        return "ok"

    assert error.translated(gettext) == "ok"
    assert seen["template"] == 'node "%(node)s" (%(node_type)s): the split\'s percentages add up to %(total)s, not 100'
    assert seen["params"] == {"node": "n5", "node_type": "ランダム分割", "total": 110}  # the type in words
    from campaigns.i18n import translate_in

    assert error.translated(lambda t, **p: translate_in("ja", t, **p)) == (
        "ステップ「n5」（ランダム分割）: ランダム分割の割合の合計が 110% です。100% にしてください")


def test_settings_defaults_and_rules(session):
    assert validate_settings(session, None) == {
        "entry": [], "reentry": False, "goal": None,
        "exit": {"events": [], "stages": [], "segment_id": None, "segment_when": "in"}, "max_visits": 3,
    }
    segment = Segment(name="Hot", rules={"all": []})
    session.add(segment)
    session.flush()
    full = {
        "entry": [{"kind": "event", "name": "whitepaper_downloaded", "where": {"paper": "guide"}},
                  {"kind": "segment", "segment_id": segment.id}, {"kind": "stage", "stage": "mql"},
                  {"kind": "date", "attribute": "seminar_date", "offset_days": -1, "hour": 9}],
        "reentry": True, "goal": {"kind": "event", "name": "consultation_booked"},
        "exit": {"events": ["unsubscribed_from_topic"], "stages": ["customer"], "segment_id": segment.id,
                 "segment_when": "out"},
        "max_visits": 5,
    }
    assert validate_settings(session, full) == full
    for bad, text in [
        ({"entry": [{"kind": "moon"}]}, "entry trigger 1 must have a kind"),
        ({"entry": [{"kind": "list", "list_id": 999999}]}, "list 999999 does not exist"),
        ({"entry": [{"kind": "form", "form_id": 999999}]}, "form 999999 does not exist"),
        ({"reentry": "yes"}, "settings.reentry must be true or false"),
        ({"max_visits": 0}, "settings.max_visits must be between 1 and 100"),
        ({"exit": {"stages": ["gold"]}}, "settings.exit.stages must be one of"),
        ({"exit": {"segment_id": 999999}}, "segment 999999 does not exist"),
        ({"colour": 1}, 'settings has an unknown field "colour"'),
    ]:
        with pytest.raises(GraphError) as caught:
            validate_settings(session, bad)
        assert text in str(caught.value) and caught.value.node is None


def test_the_schema_describes_every_node_type():
    titles = [item["title"] for item in GRAPH_SCHEMA["properties"]["nodes"]["items"]["oneOf"]]
    assert titles == ["send", "wait", "wait_for", "branch", "split", "action", "end"]
