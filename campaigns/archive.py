"""Delete, archive, duplicate: the rules every marketer-made object shares (templates, segments, lists, forms).

The contract, the same for each kind of object (each stage's service applies it to its own objects:
campaigns.delivery.template_archive, campaigns.audience.archive, campaigns.leads.form_archive):

- **Delete** only what nothing depends on. A service first lists the object's `Usage`s (what uses it, in
  words a page can show); when there is any, `delete_*` raises `InUse` and the object stays. A delete
  that still meets a row pointing at the object (a foreign key added later, by a kind of object the
  service does not know yet) is refused the same way, never half done: `delete_guarded` runs it in a
  savepoint.
- **Archive** anything, used or not: `archived_at` is set, the object leaves the lists and pickers
  (`live(Model)` is the one filter they use), and every row that points at it stays, so reports and
  history read as before. Archiving stops nothing that runs (a sequence keeps mailing with an archived
  template); it only keeps the object out of new choices. **Restore** clears `archived_at`.
- **Duplicate** makes a new, unused object named by `copy_name` ("Welcome (copy)", in Japanese
  「Welcome のコピー」 as the view passes the translated pattern), never archived.

Request-free: the views and the API translate `Usage` into sentences and `InUse` into a 409.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from campaigns.db import now_utc
from campaigns.models import Journey, JourneyVersion

COPY_PATTERN = "%(name)s (copy)"  # the English name of a copy; the UI passes the translated pattern
NAME_LIMIT = 200  # every object's name column


@dataclass(frozen=True)
class Usage:
    """One thing that depends on an object, for the delete page and the API's 409.

    kind: "broadcast", "sequence_step" (detail = step position), "removed_step", "ab_test",
    "sequence_trigger", "sequence_exit", "segment" (a segment's rule names a list), "journey" (its draft
    or a published version names it), "submissions" (count), "other" (a row the service does not know,
    found by the database)."""

    kind: str
    name: str = ""
    object_id: int | None = None
    count: int = 1
    detail: int | None = None

    def describe(self) -> str:
        """English words for logs and the API (the UI words it in the user's language)."""
        if self.kind in {"sends", "submissions"}:
            return f"{self.count} {self.kind}"
        if self.kind == "sequence_step":
            return f"step {self.detail} of sequence {self.name!r}"
        if self.kind == "other":
            return "another record that refers to it"
        return f"{self.kind.replace('_', ' ')} {self.name!r}" if self.name else self.kind.replace("_", " ")

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.object_id, "name": self.name, "count": self.count,
                "detail": self.detail, "text": self.describe()}


class InUse(Exception):
    """Delete refused: something depends on the object (its usages say what); archive it instead."""

    def __init__(self, what: str, usages: list[Usage]) -> None:
        self.what = what
        self.usages = usages
        super().__init__(f"this {what} is in use and cannot be deleted: "
                         + "; ".join(u.describe() for u in usages) + f". Archive the {what} instead.")


class Archivable(Protocol):
    archived_at: Any
    name: str


def live(model: Any) -> ColumnElement[bool]:
    """WHERE clause of the objects that are not archived (every picker and default list)."""
    return model.archived_at.is_(None)  # type: ignore[no-any-return]


def archive(obj: Archivable) -> None:
    """Archive an object (keeps the first moment if it was archived already)."""
    if obj.archived_at is None:
        obj.archived_at = now_utc()


def restore(obj: Archivable) -> None:
    """Bring an archived object back into the lists and pickers."""
    obj.archived_at = None


def copy_name(name: str, pattern: str = COPY_PATTERN, limit: int = NAME_LIMIT,
              taken: Callable[[str], bool] | None = None) -> str:
    """The name of a copy: the pattern around the original's name, the original shortened to fit `limit`;
    where names are unique (`taken` says which are used), "X (copy) 2", "X (copy) 3", ... after that."""
    for n in range(1, 1000):
        suffix = "" if n == 1 else f" {n}"
        room = max(1, limit - len(pattern % {"name": ""}) - len(suffix))
        base = name if len(name) <= room else name[: room - 1].rstrip() + "…"
        candidate = (pattern % {"name": base})[: limit - len(suffix)] + suffix
        if taken is None or not taken(candidate):
            return candidate
    raise ValueError("no free name for the copy")


def ids_named(node: Any, key: str) -> Iterator[int]:
    """Every integer stored under `key` in a JSON tree, at any depth (segment rules, journey graphs)."""
    if isinstance(node, dict):
        value = node.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            yield value
        for child in node.values():
            yield from ids_named(child, key)
    elif isinstance(node, list):
        for item in node:
            yield from ids_named(item, key)


def journey_usages(session: Session, key: str, object_id: int) -> list[Usage]:
    """Journeys whose draft, settings or any published version names the object under `key` ("template_id",
    "segment_id", "list_id"; docs/journeys.md): graphs are JSON, so they are read and walked here."""
    names: dict[int, str] = {}
    for journey_id, name, draft, settings in session.execute(
        select(Journey.id, Journey.name, Journey.draft_graph, Journey.settings)
    ):
        if object_id in set(ids_named([draft, settings], key)):
            names[journey_id] = name
    for journey_id, graph, settings in session.execute(
        select(JourneyVersion.journey_id, JourneyVersion.graph, JourneyVersion.settings)
    ):
        if journey_id not in names and object_id in set(ids_named([graph, settings], key)):
            names[journey_id] = session.scalar(select(Journey.name).where(Journey.id == journey_id)) or ""
    return [Usage("journey", name, journey_id) for journey_id, name in sorted(names.items(), key=lambda kv: kv[1])]


def delete_guarded(session: Session, obj: Any, what: str, usages: Callable[[], list[Usage]]) -> None:
    """Delete `obj` when `usages()` finds nothing; raise InUse otherwise. The delete runs in a savepoint,
    so a row the usage check does not know about (the database's foreign keys find it) refuses the delete
    as "in use" and leaves the transaction usable."""
    found = usages()
    if found:
        raise InUse(what, found)
    try:
        with session.begin_nested():
            session.delete(obj)
            session.flush()
    except IntegrityError:
        raise InUse(what, [Usage("other")]) from None
