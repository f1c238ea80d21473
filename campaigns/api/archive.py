"""The API side of delete, archive and duplicate (campaigns.archive): the schemas and answers the template,
segment, list and form modules share.

DELETE answers 200 {"deleted": true, "id": n} when nothing used the object, or 409 {"error": "in_use",
"message": ..., "usages": [...]} naming what uses it (archive it instead). POST .../archive and
.../restore answer the object; POST .../duplicate answers the copy with 201. List endpoints leave archived
objects out unless ?archived=include (or only) asks for them, as the UI's lists and pickers do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import Session

from campaigns.api.schemas import SCHEMAS, name, object_schema
from campaigns.archive import COPY_PATTERN, InUse

ARCHIVED_QUERY = {
    "archived": {"type": "string", "enum": ["exclude", "include", "only"], "default": "exclude",
                 "description": "Archived objects: left out (default), listed too, or listed alone."},
}

SCHEMAS.update({
    "Usage": object_schema({
        "kind": {"type": "string", "enum": ["broadcast", "sequence_step", "removed_step", "ab_test", "sequence_trigger",
                                            "sequence_exit", "segment", "journey", "submissions", "other"]},
        "id": {"type": ["integer", "null"]}, "name": {"type": "string"}, "count": {"type": "integer"},
        "detail": {"type": ["integer", "null"], "description": "sequence_step: the step's position"},
        "text": {"type": "string", "description": "The usage in English words."},
    }),
    "InUse": {
        "type": "object", "required": ["error", "message", "usages"],
        "properties": {"error": {"type": "string", "enum": ["in_use"]}, "message": {"type": "string"},
                       "usages": {"type": "array", "items": {"$ref": "#/components/schemas/Usage"}}},
    },
    "Deleted": object_schema({"deleted": {"type": "boolean"}, "id": {"type": "integer"}}),
    "DuplicateInput": {
        "type": "object", "properties": {"name": name()}, "additionalProperties": False,
        "description": 'The copy\'s name; "<name> (copy)" when omitted.',
    },
})

T = TypeVar("T")

IN_USE = (409, ("In use: the usages say what uses it; archive it instead", "InUse"))


def in_use(exc: InUse) -> tuple[dict[str, Any], int]:
    """The 409 answer of a refused delete."""
    return {"error": "in_use", "message": str(exc), "usages": [u.as_json() for u in exc.usages]}, 409


def archived_filter(stmt: Select[Any], model: Any, query: dict[str, Any]) -> Select[Any]:
    """`stmt` restricted by ?archived= (list endpoints)."""
    wanted = query.get("archived") or "exclude"
    if wanted == "exclude":
        return stmt.where(model.archived_at.is_(None))
    if wanted == "only":
        return stmt.where(model.archived_at.is_not(None))
    return stmt


def copy_pattern(body: dict[str, Any] | None) -> str:
    """The name pattern of a copy: the client's name as given (escaped for %), or "<name> (copy)"."""
    chosen = (body or {}).get("name", "").strip()
    return chosen.replace("%", "%%") if chosen else COPY_PATTERN


# The endpoints below are the same four for every object: each module passes its object (already loaded with
# get_or_404), the stage's rule (campaigns.audience.archive, delivery.template_archive, leads.form_archive) and
# its own JSON shape. The rule does the work; these commit and answer.
def delete_answer(session: Session, obj: T, delete: Callable[[Session, T], object], object_id: int,
                  ) -> tuple[dict[str, Any], int] | dict[str, Any]:
    """DELETE: 200 {"deleted": true, "id": n}, or 409 in_use (rolled back) when something uses the object."""
    try:
        delete(session, obj)
    except InUse as exc:
        session.rollback()
        return in_use(exc)
    session.commit()
    return {"deleted": True, "id": object_id}


def change_answer(session: Session, obj: T, change: Callable[[Session, T], object],
                  as_json: Callable[[T], dict[str, Any]]) -> dict[str, Any]:
    """POST .../archive and .../restore: the object as it now stands."""
    change(session, obj)
    session.commit()
    return as_json(obj)


def duplicate_answer(session: Session, obj: T, duplicate: Callable[[Session, T, str], T], body: dict[str, Any] | None,
                     as_json: Callable[[T], dict[str, Any]]) -> tuple[dict[str, Any], int]:
    """POST .../duplicate: the copy, 201, named by the body or "<name> (copy)"."""
    copy = duplicate(session, obj, copy_pattern(body))
    session.commit()
    return as_json(copy), 201
