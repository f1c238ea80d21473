"""Segments and lists: delete refused while used, archive hides from the pickers, restore, duplicate."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert, select

from campaigns.archive import InUse
from campaigns.audience.archive import (
    archive_list,
    archive_segment,
    delete_list,
    delete_segment,
    duplicate_list,
    duplicate_segment,
    list_usages,
    restore_list,
    restore_segment,
    segment_usages,
    selectable_lists,
    selectable_segments,
)
from campaigns.audience.lists import add_to_list, create_list
from campaigns.journeys.broadcasts import create_broadcast
from campaigns.models import Contact, ContactList, ContactListMember, Segment
from tests.factories import make_sequence, make_template

RULES = {"all": [{"field": "company", "op": "contains", "value": "Acme"}]}


def _segment(s: Any, name: str, rules: dict[str, Any] | None = None) -> Segment:
    segment = Segment(name=name, rules=rules or RULES)
    s.add(segment)
    s.flush()
    return segment


def test_segment_delete_is_refused_while_a_broadcast_or_a_sequence_uses_it(services: Any) -> None:
    with services.db.begin() as s:
        template = make_template(s)
        audience, trigger, exits, unused = (_segment(s, n) for n in ("Audience", "Trigger", "Exit", "Unused"))
        create_broadcast(s, "Launch", template.id, segment_id=audience.id)
        sequence = make_sequence(s, [{"template_id": template.id}], name="Nurture", active=False)
        sequence.trigger_segment_id, sequence.exit_segment_id = trigger.id, exits.id
        s.flush()
        assert [(u.kind, u.name) for u in segment_usages(s, audience)] == [("broadcast", "Launch")]
        assert [(u.kind, u.name) for u in segment_usages(s, trigger)] == [("sequence_trigger", "Nurture")]
        assert [(u.kind, u.name) for u in segment_usages(s, exits)] == [("sequence_exit", "Nurture")]
        for used in (audience, trigger, exits):
            with pytest.raises(InUse):
                delete_segment(s, used)
        delete_segment(s, unused)
        assert {x.name for x in s.scalars(select(Segment))} == {"Audience", "Trigger", "Exit"}
        assert sequence.trigger_segment_id == trigger.id  # the refused delete changed nothing


def test_archived_segments_leave_the_pickers_but_a_choice_already_made_stays(services: Any) -> None:
    with services.db.begin() as s:
        a, b = _segment(s, "A"), _segment(s, "B")
        archive_segment(s, b)
        assert [x.name for x in selectable_segments(s)] == ["A"]
        assert [x.name for x in selectable_segments(s, keep=[b.id])] == ["A", "B"]
        restore_segment(s, b)
        assert [x.name for x in selectable_segments(s)] == ["A", "B"]
        assert a.archived_at is None


def test_segment_duplicate_copies_the_rules(services: Any) -> None:
    with services.db.begin() as s:
        original = _segment(s, "Managers")
        copy = duplicate_segment(s, original, "%(name)s のコピー")
        assert (copy.name, copy.rules) == ("Managers のコピー", RULES)
        copy.rules["all"].append({"field": "stage", "op": "eq", "value": "hot"})
        assert original.rules == RULES  # a deep copy


def test_list_delete_is_refused_while_a_segment_names_it_and_contacts_survive_a_delete(services: Any) -> None:
    with services.db.begin() as s:
        s.execute(insert(Contact), [{"email": f"l{i}@example.jp"} for i in range(3)])
        ids = list(s.scalars(select(Contact.id)))
        named, free = create_list(s, "Expo"), create_list(s, "Scratch")
        add_to_list(s, free.id, ids)
        nested = {"all": [{"any": [{"list_id": named.id, "member": False}]}]}
        segment = _segment(s, "Not at the expo", nested)
        archive_segment(s, segment)  # archived segments still count: a broadcast may use them
        assert [(u.kind, u.name) for u in list_usages(s, named)] == [("segment", "Not at the expo")]
        with pytest.raises(InUse):
            delete_list(s, named)
        assert list_usages(s, free) == []
        delete_list(s, free)
        assert s.get(ContactList, free.id) is None
        assert sorted(s.scalars(select(Contact.id))) == sorted(ids)
        assert s.scalars(select(ContactListMember)).first() is None


def test_list_archive_restore_and_duplicate_with_members(services: Any) -> None:
    with services.db.begin() as s:
        s.execute(insert(Contact), [{"email": f"m{i}@example.jp"} for i in range(5)])
        ids = list(s.scalars(select(Contact.id)))
        expo = create_list(s, "Expo", "booth visitors")
        add_to_list(s, expo.id, ids[:4])
        archive_list(s, expo)
        assert selectable_lists(s) == [] and selectable_lists(s, keep=[expo.id]) == [expo]
        restore_list(s, expo)
        assert selectable_lists(s) == [expo]
        copy, size = duplicate_list(s, expo)
        again, _size = duplicate_list(s, expo)
        assert (copy.name, copy.description, size) == ("Expo (copy)", "booth visitors", 4)
        assert again.name == "Expo (copy) 2"  # list names are unique
        members = set(s.scalars(select(ContactListMember.contact_id).where(ContactListMember.list_id == copy.id)))
        assert members == set(ids[:4])


def test_journeys_that_name_a_segment_or_a_list_keep_them(services: Any) -> None:
    """Journey graphs are JSON: the usage checks read their drafts and published versions."""
    from campaigns.archive import journey_usages
    from campaigns.models import Journey, JourneyVersion

    with services.db.begin() as s:
        expo = create_list(s, "Expo")
        segment = _segment(s, "Managers")
        draft = Journey(name="Draft flow", draft_graph={"nodes": [{"id": "n1", "type": "branch", "conditions": [
            {"kind": "segment", "segment_id": segment.id}]}]}, settings={})
        live = Journey(name="Live flow", draft_graph={}, settings={})
        s.add_all([draft, live])
        s.flush()
        s.add(JourneyVersion(journey_id=live.id, number=1, settings={},
                             graph={"nodes": [{"id": "a", "type": "action", "action": {"kind": "add_to_list",
                                                                                      "list_id": expo.id}}]}))
        s.flush()
        assert [(u.kind, u.name) for u in segment_usages(s, segment)] == [("journey", "Draft flow")]
        assert [(u.kind, u.name) for u in list_usages(s, expo)] == [("journey", "Live flow")]
        assert journey_usages(s, "template_id", 1) == []
        with pytest.raises(InUse):
            delete_list(s, expo)
