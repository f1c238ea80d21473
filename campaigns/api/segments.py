"""Segments (saved rule trees: CRUD, count, preview of an unsaved tree) and static lists (CRUD, membership); for
both, delete, archive, restore and duplicate (campaigns.audience.archive; answers in campaigns.api.archive)."""

from __future__ import annotations

from typing import Any

from flask.typing import ResponseReturnValue
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.api.archive import (
    ARCHIVED_QUERY,
    IN_USE,
    archived_filter,
    change_answer,
    delete_answer,
    duplicate_answer,
)
from campaigns.api.core import ApiError, db_session, get_or_404, keyset_page, operation
from campaigns.api.schemas import ID, PAGING, SCHEMAS, multiline, name, object_schema, page_schema, ref
from campaigns.api.serialize import contact_json
from campaigns.audience import archive, lists, segments
from campaigns.models import Contact, ContactList, ContactListMember, Segment

_STR = {"type": "string"}
_INT = {"type": "integer"}
_DATE = {"type": "string", "format": "date-time"}
_NDATE = {"type": ["string", "null"], "format": "date-time"}
RULES = {
    "type": "object", "maxProperties": 1,
    "description": 'A rule tree: {"all": [...]} or {"any": [...]} of conditions and nested groups; see '
                   "docs/segments.md. An empty object matches every active contact.",
}
CONTACT_IDS = {"type": "array", "items": ID, "minItems": 1, "maxItems": lists.MAX_LIST_BATCH}

SCHEMAS.update({
    "SegmentInput": {
        "type": "object", "required": ["name", "rules"],
        "properties": {"name": name(), "rules": RULES}, "additionalProperties": False,
    },
    "SegmentUpdate": {
        "type": "object", "minProperties": 1,
        "properties": {"name": name(), "rules": RULES}, "additionalProperties": False,
    },
    "SegmentPreviewInput": {
        "type": "object", "required": ["rules"],
        "properties": {"rules": RULES, "limit": {"type": "integer", "minimum": 0, "maximum": 50, "default": 10}},
        "additionalProperties": False,
    },
    "Segment": object_schema({"id": _INT, "name": _STR, "rules": {"type": "object"}, "created_at": _DATE,
                     "updated_at": _DATE, "archived_at": _NDATE}),
    "SegmentPage": page_schema("Segment"),
    "SegmentCount": object_schema({"count": _INT}),
    "SegmentPreview": object_schema({"count": _INT, "sample": {"type": "array", "items": ref("Contact")}}),
    "ListInput": {
        "type": "object", "required": ["name"],
        "properties": {"name": name(), "description": multiline(5000)}, "additionalProperties": False,
    },
    "ListUpdate": {
        "type": "object", "minProperties": 1,
        "properties": {"name": name(), "description": multiline(5000)}, "additionalProperties": False,
    },
    "ContactList": object_schema({"id": _INT, "name": _STR, "description": _STR, "size": _INT, "created_at": _DATE,
                         "updated_at": _DATE, "archived_at": _NDATE}),
    "ContactListPage": page_schema("ContactList"),
    "ListMembersInput": {
        "type": "object", "required": ["contact_ids"], "properties": {"contact_ids": CONTACT_IDS},
        "additionalProperties": False,
    },
    "ListFromSegmentInput": {
        "type": "object", "required": ["segment_id"], "properties": {"segment_id": ID},
        "additionalProperties": False,
    },
    "ListMembersChanged": object_schema({"added": _INT, "removed": _INT, "size": _INT}),
    "SegmentDeleted": object_schema({"deleted": {"type": "boolean"}, "id": _INT}),
})


def _rejected(exc: ValueError, field: str = "rules") -> ApiError:
    return ApiError(422, "rejected", str(exc), {field: str(exc)})


def _check_rules(session: Session, rules: Any) -> None:
    try:
        segments.validate_rules(rules, session)
    except segments.SegmentError as exc:
        raise _rejected(exc) from None


def segment_json(segment: Segment) -> dict[str, Any]:
    return {"id": segment.id, "name": segment.name, "rules": segment.rules or {},
            "created_at": segment.created_at.isoformat(), "updated_at": segment.updated_at.isoformat(),
            "archived_at": segment.archived_at.isoformat() if segment.archived_at else None}


# ------------------------------------------------------------------ segments
@operation(
    "/segments", "POST", tag="segments", body="SegmentInput", summary="Save a segment (a rule tree)",
    responses={201: ("Created", "Segment")},
)
def create_segment(body: dict[str, Any]) -> ResponseReturnValue:
    """Validate the rule tree (unknown fields, lists, broadcasts or steps are refused with a reason) and save it."""
    session = db_session()
    _check_rules(session, body["rules"])
    segment = Segment(name=body["name"].strip(), rules=body["rules"])
    session.add(segment)
    session.commit()
    return segment_json(segment), 201


@operation(
    "/segments", "GET", tag="segments", summary="List segments", query={**PAGING, **ARCHIVED_QUERY},
    responses={200: ("A page of segments", "SegmentPage")},
)
def list_segments(query: dict[str, Any]) -> ResponseReturnValue:
    """Segments in id order (archived ones on request)."""
    return keyset_page(db_session(), archived_filter(select(Segment), Segment, query), Segment.id, query, segment_json)


@operation(
    "/segments/preview", "POST", tag="segments", body="SegmentPreviewInput",
    summary="Count an unsaved rule tree and return its first contacts",
    responses={200: ("Count and sample (newest contacts first)", "SegmentPreview")},
)
def preview_segment(body: dict[str, Any]) -> ResponseReturnValue:
    """What a rule tree would select now, without saving it."""
    session = db_session()
    _check_rules(session, body["rules"])
    limit = int(body.get("limit", 10))
    count = segments.count_segment(session, body["rules"])
    sample = segments.sample_segment(session, body["rules"], limit) if limit else []
    session.rollback()
    return {"count": count, "sample": [contact_json(c) for c in sample]}


@operation(
    "/segments/{segment_id}", "GET", tag="segments", summary="Read a segment",
    responses={200: ("The segment", "Segment")},
)
def get_segment(segment_id: int) -> ResponseReturnValue:
    """One segment with its rule tree."""
    return segment_json(get_or_404(db_session(), Segment, segment_id, "segment"))


@operation(
    "/segments/{segment_id}/count", "GET", tag="segments", summary="Count the contacts in a segment now",
    responses={200: ("How many active, unsuppressed contacts match", "SegmentCount")},
)
def count_segment(segment_id: int) -> ResponseReturnValue:
    """Evaluated in SQL at request time."""
    session = db_session()
    segment = get_or_404(session, Segment, segment_id, "segment")
    try:
        count = segments.count_segment(session, segment.rules or {})
    except segments.SegmentError as exc:  # saved before a list or step it names was deleted
        raise _rejected(exc) from None
    return {"count": count}


@operation(
    "/segments/{segment_id}", "PUT", tag="segments", body="SegmentUpdate", summary="Rename or change a segment",
    responses={200: ("The segment", "Segment")},
)
def update_segment(segment_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """Fields not given stay as they are."""
    session = db_session()
    segment = get_or_404(session, Segment, segment_id, "segment")
    if "rules" in body:
        _check_rules(session, body["rules"])
        segment.rules = body["rules"]
    if "name" in body:
        segment.name = body["name"].strip()
    session.commit()
    return segment_json(segment)


@operation(
    "/segments/{segment_id}", "DELETE", tag="segments", summary="Delete a segment",
    description="Refused (409, with what uses it) while a broadcast or a sequence (trigger or exit) uses it: "
    "archive it instead.",
    responses={200: ("Deleted", "SegmentDeleted"), 409: IN_USE[1]},
)
def delete_segment(segment_id: int) -> ResponseReturnValue:
    """Delete an unused segment."""
    session = db_session()
    return delete_answer(session, get_or_404(session, Segment, segment_id, "segment"), archive.delete_segment,
                         segment_id)


@operation(
    "/segments/{segment_id}/archive", "POST", tag="segments", summary="Archive a segment",
    responses={200: ("The archived segment", "Segment")},
    description="It leaves the lists and pickers; broadcasts and sequences using it go on.",
)
def archive_segment(segment_id: int) -> ResponseReturnValue:
    """Archive (idempotent)."""
    session = db_session()
    return change_answer(session, get_or_404(session, Segment, segment_id, "segment"), archive.archive_segment,
                         segment_json)


@operation(
    "/segments/{segment_id}/restore", "POST", tag="segments", summary="Restore an archived segment",
    responses={200: ("The segment", "Segment")},
)
def restore_segment(segment_id: int) -> ResponseReturnValue:
    """Restore (idempotent)."""
    session = db_session()
    return change_answer(session, get_or_404(session, Segment, segment_id, "segment"), archive.restore_segment,
                         segment_json)


@operation(
    "/segments/{segment_id}/duplicate", "POST", tag="segments", body="DuplicateInput",
    summary="Copy a segment (same rules)", responses={201: ("The copy", "Segment")},
)
def duplicate_segment(segment_id: int, body: dict[str, Any] | None) -> ResponseReturnValue:
    """A new segment with the same rule tree."""
    session = db_session()
    return duplicate_answer(session, get_or_404(session, Segment, segment_id, "segment"), archive.duplicate_segment,
                            body, segment_json)


# ------------------------------------------------------------------ static lists
def _size(session: Session, list_id: int) -> int:
    return int(session.scalar(select(func.count()).where(ContactListMember.list_id == list_id)) or 0)


def list_json(session: Session, contact_list: ContactList) -> dict[str, Any]:
    return {"id": contact_list.id, "name": contact_list.name, "description": contact_list.description or "",
            "size": _size(session, contact_list.id), "created_at": contact_list.created_at.isoformat(),
            "updated_at": contact_list.updated_at.isoformat(),
            "archived_at": contact_list.archived_at.isoformat() if contact_list.archived_at else None}


@operation(
    "/lists", "POST", tag="lists", body="ListInput", summary="Create a static list",
    responses={201: ("Created", "ContactList"), 409: ("A list with this name exists", "Error")},
)
def create_list(body: dict[str, Any]) -> ResponseReturnValue:
    """Names are unique."""
    session = db_session()
    try:
        contact_list = lists.create_list(session, body["name"], body.get("description", ""))
    except segments.SegmentError as exc:
        session.rollback()
        raise ApiError(409, "conflict", str(exc), {"name": str(exc)}) from None
    session.commit()
    return list_json(session, contact_list), 201


@operation(
    "/lists", "GET", tag="lists", summary="List static lists", query={**PAGING, **ARCHIVED_QUERY},
    responses={200: ("A page of lists", "ContactListPage")},
)
def list_lists(query: dict[str, Any]) -> ResponseReturnValue:
    """Lists in id order with their sizes (archived ones on request)."""
    session = db_session()
    stmt = archived_filter(select(ContactList), ContactList, query)
    return keyset_page(session, stmt, ContactList.id, query, lambda cl: list_json(session, cl))


@operation(
    "/lists/{list_id}", "GET", tag="lists", summary="Read a list", responses={200: ("The list", "ContactList")},
)
def get_list(list_id: int) -> ResponseReturnValue:
    """One list with its size."""
    session = db_session()
    return list_json(session, get_or_404(session, ContactList, list_id, "list"))


@operation(
    "/lists/{list_id}", "PUT", tag="lists", body="ListUpdate", summary="Rename a list or change its description",
    responses={200: ("The list", "ContactList"), 409: ("A list with this name exists", "Error")},
)
def update_list(list_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """Fields not given stay as they are."""
    session = db_session()
    contact_list = get_or_404(session, ContactList, list_id, "list")
    try:
        lists.update_list(session, contact_list, body.get("name"), body.get("description"))
    except segments.SegmentError as exc:
        session.rollback()
        raise ApiError(409, "conflict", str(exc), {"name": str(exc)}) from None
    session.commit()
    return list_json(session, contact_list)


@operation(
    "/lists/{list_id}", "DELETE", tag="lists", summary="Delete a list (its contacts stay)",
    responses={200: ("Deleted", "SegmentDeleted"), 409: IN_USE[1]},
    description="Refused (409, naming the segments) while a segment's rules name the list: archive it instead.",
)
def delete_list(list_id: int) -> ResponseReturnValue:
    """Delete a list no segment names; its contacts stay contacts."""
    session = db_session()
    return delete_answer(session, get_or_404(session, ContactList, list_id, "list"), archive.delete_list, list_id)


@operation(
    "/lists/{list_id}/archive", "POST", tag="lists", summary="Archive a list",
    responses={200: ("The archived list", "ContactList")},
    description="It leaves the lists and pickers; its members and the segments naming it stay.",
)
def archive_list(list_id: int) -> ResponseReturnValue:
    """Archive (idempotent)."""
    session = db_session()
    return change_answer(session, get_or_404(session, ContactList, list_id, "list"), archive.archive_list,
                         lambda cl: list_json(session, cl))


@operation(
    "/lists/{list_id}/restore", "POST", tag="lists", summary="Restore an archived list",
    responses={200: ("The list", "ContactList")},
)
def restore_list(list_id: int) -> ResponseReturnValue:
    """Restore (idempotent)."""
    session = db_session()
    return change_answer(session, get_or_404(session, ContactList, list_id, "list"), archive.restore_list,
                         lambda cl: list_json(session, cl))


@operation(
    "/lists/{list_id}/duplicate", "POST", tag="lists", body="DuplicateInput",
    summary="Copy a list with its members", responses={201: ("The copy", "ContactList")},
    description='List names are unique: a taken name gets " 2", " 3", ... after it.',
)
def duplicate_list(list_id: int, body: dict[str, Any] | None) -> ResponseReturnValue:
    """A new list with the same description and members."""
    session = db_session()
    # duplicate_list also answers how many members it copied; the list's JSON carries its size anyway.
    return duplicate_answer(session, get_or_404(session, ContactList, list_id, "list"),
                            lambda s, cl, pattern: archive.duplicate_list(s, cl, pattern)[0], body,
                            lambda cl: list_json(session, cl))


@operation(
    "/lists/{list_id}/members", "GET", tag="lists", summary="The contacts on a list", query=PAGING,
    responses={200: ("A page of contacts", "ContactPage")},
)
def list_members(list_id: int, query: dict[str, Any]) -> ResponseReturnValue:
    """Members in contact id order."""
    session = db_session()
    get_or_404(session, ContactList, list_id, "list")
    stmt = select(Contact).join(ContactListMember, ContactListMember.contact_id == Contact.id).where(
        ContactListMember.list_id == list_id
    )
    return keyset_page(session, stmt, Contact.id, query, contact_json)


@operation(
    "/lists/{list_id}/members", "POST", tag="lists", body="ListMembersInput", summary="Add contacts to a list",
    description="Ids that are not contacts, and contacts already on the list, are skipped.",
    responses={200: ("What changed", "ListMembersChanged")},
)
def add_members(list_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """Idempotent: adding twice changes nothing."""
    session = db_session()
    get_or_404(session, ContactList, list_id, "list")
    added = lists.add_to_list(session, list_id, body["contact_ids"])
    session.commit()
    return {"added": added, "removed": 0, "size": _size(session, list_id)}


@operation(
    "/lists/{list_id}/members/remove", "POST", tag="lists", body="ListMembersInput",
    summary="Remove contacts from a list", responses={200: ("What changed", "ListMembersChanged")},
)
def remove_members(list_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """Ids that are not members are ignored."""
    session = db_session()
    get_or_404(session, ContactList, list_id, "list")
    removed = lists.remove_from_list(session, list_id, body["contact_ids"])
    session.commit()
    return {"added": 0, "removed": removed, "size": _size(session, list_id)}


@operation(
    "/lists/{list_id}/members/from-segment", "POST", tag="lists", body="ListFromSegmentInput",
    summary="Add every contact of a segment to a list", responses={200: ("What changed", "ListMembersChanged")},
)
def add_segment_members(list_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """One INSERT .. SELECT, whatever the segment's size."""
    session = db_session()
    get_or_404(session, ContactList, list_id, "list")
    segment = session.get(Segment, body["segment_id"])
    if segment is None:
        raise ApiError(422, "validation_failed", "no such segment", {"segment_id": "no such segment"})
    try:
        added = lists.add_segment_to_list(session, list_id, segment.rules or {})
    except segments.SegmentError as exc:
        session.rollback()
        raise _rejected(exc, "segment_id") from None
    session.commit()
    return {"added": added, "removed": 0, "size": _size(session, list_id)}
