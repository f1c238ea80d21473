"""Segments and static lists: what uses one, delete it when nothing does, archive and restore, duplicate,
and the choices the pickers offer (live objects only).

The rules (campaigns.archive gives the shared contract):

- A **segment** can be deleted only while no broadcast (in any state: a sent broadcast's report names
  its audience, a draft would lose it), no sequence (as its trigger or its exit segment) and no journey
  (entry, branch or exit, draft or published) uses it.
  That is HubSpot's rule for lists used by workflows and emails. Otherwise it is archived: it leaves the
  segment list and the pickers (broadcasts, sequence triggers and exits, "add everyone in a segment" on
  a list, the KPI page's segment table), while a running sequence keeps enrolling from it and a
  scheduled broadcast still reaches it.
- A **list** can be deleted only while no segment's rules name it ("is on list X" / "is not on list X";
  archived segments count too, a broadcast may still use them) and no journey names it (a list branch,
  an add-to-list action): deleting it would silently change who
  those segments select. Its members are not history: the contacts stay, only the list and who was on
  it go, as in HubSpot (Mailchimp's audiences delete their contacts; here a list never owns contacts).
  Otherwise it is archived: it leaves the list page, the segment editor's list picker and the contact
  page's "add to list" choice; segments naming it keep working.
- **Duplicate**: a segment's copy has the same rules. A list's copy has the same members: a static list
  is nothing but its members (a copy without them would be "New list" under another name), and copying
  a list is how a marketer keeps a snapshot ("Expo attendees (copy)") before pruning the original. List
  names are unique, so a second copy is "X (copy) 2".

Called by campaigns.views.contacts (segments), campaigns.views.segments (lists, pickers) and
campaigns.api.segments; request-free.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import literal, or_, select
from sqlalchemy.orm import Session

from campaigns.archive import (
    COPY_PATTERN,
    Usage,
    archive,
    copy_name,
    delete_guarded,
    ids_named,
    journey_usages,
    live,
    restore,
)
from campaigns.audience.segments import insert_count
from campaigns.db import UTCDateTime, dialect_insert, now_utc
from campaigns.models import Broadcast, ContactList, ContactListMember, Segment, Sequence

SHOWN = 20


# ------------------------------------------------------------------ segments
def segment_usages(session: Session, segment: Segment) -> list[Usage]:
    """Broadcasts and sequences (trigger, exit) that use a segment (delete page, API 409)."""
    found = [
        Usage("broadcast", name, broadcast_id)
        for broadcast_id, name in session.execute(
            select(Broadcast.id, Broadcast.name).where(Broadcast.segment_id == segment.id)
            .order_by(Broadcast.id.desc()).limit(SHOWN)
        )
    ]
    for sequence in session.scalars(
        select(Sequence).where(or_(Sequence.trigger_segment_id == segment.id, Sequence.exit_segment_id == segment.id))
        .order_by(Sequence.name).limit(SHOWN)
    ):
        if sequence.trigger_segment_id == segment.id:
            found.append(Usage("sequence_trigger", sequence.name, sequence.id))
        if sequence.exit_segment_id == segment.id:
            found.append(Usage("sequence_exit", sequence.name, sequence.id))
    return found + journey_usages(session, "segment_id", segment.id)


def delete_segment(session: Session, segment: Segment) -> None:
    """Delete an unused segment; raises campaigns.archive.InUse naming what uses it."""
    delete_guarded(session, segment, "segment", lambda: segment_usages(session, segment))


def archive_segment(session: Session, segment: Segment) -> None:
    """Take a segment out of the list and the pickers; sequences and broadcasts using it go on."""
    archive(segment)
    session.flush()


def restore_segment(session: Session, segment: Segment) -> None:
    """Bring an archived segment back into the list and the pickers."""
    restore(segment)
    session.flush()


def duplicate_segment(session: Session, segment: Segment, pattern: str = COPY_PATTERN) -> Segment:
    """A new segment with the same rules, named by `pattern` ("%(name)s (copy)", translated by the caller)."""
    copy = Segment(name=copy_name(segment.name, pattern), rules=_copied(segment.rules or {}))
    session.add(copy)
    session.flush()
    return copy


def selectable_segments(session: Session, keep: Iterable[int | None] = ()) -> list[Segment]:
    """Segments a marketer can pick, by name: the live ones, plus the archived ones in `keep` (the choice an
    existing broadcast or sequence already made stays shown). Broadcast and sequence forms, list pages."""
    kept = [i for i in keep if i]
    where = or_(live(Segment), Segment.id.in_(kept)) if kept else live(Segment)
    return list(session.scalars(select(Segment).where(where).order_by(Segment.name, Segment.id)))


# ------------------------------------------------------------------ lists
def list_ids_in(node: Any) -> Iterator[int]:
    """Every list id a rule tree names, at any depth (list usages; the segment editor keeps those lists)."""
    return ids_named(node, "list_id")


def list_usages(session: Session, contact_list: ContactList) -> list[Usage]:
    """Segments (archived ones too) whose rules name the list (delete page, API 409). Rules are JSON, so
    they are read and walked here: an account has tens of segments, not thousands."""
    found = []
    for segment_id, name, rules in session.execute(select(Segment.id, Segment.name, Segment.rules).order_by(Segment.name)):
        if contact_list.id in set(list_ids_in(rules)):
            found.append(Usage("segment", name, segment_id))
            if len(found) >= SHOWN:
                break
    return found + journey_usages(session, "list_id", contact_list.id)


def delete_list(session: Session, contact_list: ContactList) -> None:
    """Delete a list no segment names (its contacts stay); raises campaigns.archive.InUse otherwise."""
    delete_guarded(session, contact_list, "list", lambda: list_usages(session, contact_list))


def archive_list(session: Session, contact_list: ContactList) -> None:
    """Take a list out of the list page and the pickers; its members and the segments naming it stay."""
    archive(contact_list)
    session.flush()


def restore_list(session: Session, contact_list: ContactList) -> None:
    """Bring an archived list back."""
    restore(contact_list)
    session.flush()


def duplicate_list(session: Session, contact_list: ContactList, pattern: str = COPY_PATTERN) -> tuple[ContactList, int]:
    """A new list with the same description and members (one INSERT .. SELECT); returns it and its size."""

    def taken(name: str) -> bool:
        return session.scalar(select(ContactList.id).where(ContactList.name == name)) is not None

    copy = ContactList(name=copy_name(contact_list.name, pattern, taken=taken), description=contact_list.description)
    session.add(copy)
    session.flush()
    members = select(literal(copy.id), ContactListMember.contact_id, literal(now_utc(), UTCDateTime())).where(
        ContactListMember.list_id == contact_list.id
    )
    stmt = dialect_insert(session, ContactListMember).from_select(["list_id", "contact_id", "added_at"], members)
    return copy, insert_count(session, stmt, ContactListMember.contact_id)


def selectable_lists(session: Session, keep: Iterable[int] = ()) -> list[ContactList]:
    """Lists a marketer can pick, by name: the live ones plus the archived ones in `keep` (segment editor,
    contact page)."""
    kept = [i for i in keep if i]
    where = or_(live(ContactList), ContactList.id.in_(kept)) if kept else live(ContactList)
    return list(session.scalars(select(ContactList).where(where).order_by(ContactList.name, ContactList.id)))


def _copied(rules: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a rule tree (JSON values only), so editing the copy never touches the original."""
    return dict(json.loads(json.dumps(rules)))
