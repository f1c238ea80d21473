"""Static contact lists: create, rename, add (ids, a segment, an import, pasted addresses), remove, sizes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    delete,
    exists,
    func,
    literal,
    select,
)
from sqlalchemy.orm import Session

from campaigns.addresses import normalize_email
from campaigns.audience.segments import SegmentError, insert_count, segment_contact_ids
from campaigns.db import UTCDateTime, dialect_insert, now_utc
from campaigns.leads.csv_reader import CsvStream, ImportFileError
from campaigns.models import (
    Contact,
    ContactList,
    ContactListMember,
    ImportJob,
    ImportStatus,
)
from campaigns.sql_functions import ascii_lower, ascii_lower_text

# ------------------------------------------------------------------ static lists
MAX_LIST_BATCH = 10_000  # contact ids per add/remove call (API, UI); bulk from a segment has no limit


def _clean_list_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise SegmentError("a list needs a name")
    if len(name.strip()) > 200:
        raise SegmentError("a list name must be at most 200 characters")
    return name.strip()


def create_list(session: Session, name: Any, description: Any = "") -> ContactList:
    """Create a static list (UI, API); raises SegmentError for an empty or taken name."""
    clean = _clean_list_name(name)
    if session.scalar(select(ContactList.id).where(ContactList.name == clean)) is not None:
        raise SegmentError("a list named %(name)s already exists", name=repr(clean))
    if not isinstance(description, str):
        raise SegmentError("description must be text")
    contact_list = ContactList(name=clean, description=description)
    session.add(contact_list)
    session.flush()
    return contact_list


def update_list(session: Session, contact_list: ContactList, name: Any = None, description: Any = None) -> None:
    """Rename a list or change its description (UI, API); raises SegmentError for a taken name."""
    if name is not None:
        clean = _clean_list_name(name)
        taken = session.scalar(
            select(ContactList.id).where(ContactList.name == clean, ContactList.id != contact_list.id)
        )
        if taken is not None:
            raise SegmentError("a list named %(name)s already exists", name=repr(clean))
        contact_list.name = clean
    if description is not None:
        if not isinstance(description, str):
            raise SegmentError("description must be text")
        contact_list.description = description
    contact_list.updated_at = now_utc()
    session.flush()


def _clean_ids(contact_ids: Any) -> list[int]:
    if not isinstance(contact_ids, list | tuple | set):
        raise SegmentError("contact_ids must be a list of contact ids")
    ids: set[int] = set()
    for raw in contact_ids:
        if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= 2**63 - 1:
            raise SegmentError("contact_ids must be positive whole numbers")
        ids.add(raw)
    if len(ids) > MAX_LIST_BATCH:
        raise SegmentError("at most %(max)s contact ids at once", max=MAX_LIST_BATCH)
    return sorted(ids)


def add_to_list(session: Session, list_id: int, contact_ids: Any) -> int:
    """Add contacts to a list (contact page, import, API); unknown ids and members are skipped.
    Returns how many were added."""
    ids = _clean_ids(contact_ids)
    added = 0
    now = now_utc()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        query = select(literal(list_id), Contact.id, literal(now, UTCDateTime())).where(Contact.id.in_(chunk))
        stmt = dialect_insert(session, ContactListMember).from_select(
            ["list_id", "contact_id", "added_at"], query
        ).on_conflict_do_nothing()
        added += insert_count(session, stmt, ContactListMember.contact_id)
    return added


def add_segment_to_list(session: Session, list_id: int, rules: dict[str, Any] | None) -> int:
    """Add every contact a rule tree selects to a list in one INSERT .. SELECT (bulk from a segment)."""
    query = select(literal(list_id), Contact.id, literal(now_utc(), UTCDateTime())).where(
        Contact.id.in_(segment_contact_ids(rules)),
        ~exists().where(ContactListMember.list_id == list_id, ContactListMember.contact_id == Contact.id),
    )
    stmt = dialect_insert(session, ContactListMember).from_select(
        ["list_id", "contact_id", "added_at"], query
    ).on_conflict_do_nothing()
    return insert_count(session, stmt, ContactListMember.contact_id)


def add_import_to_list(session: Session, list_id: int, import_id: int) -> int:
    """Add the contacts of a CSV import's file to a list (list page: "add the contacts of an import").
    Reads the stored file again with the import's own reader (encoding, delimiter) and email column."""

    job = session.get(ImportJob, import_id)
    if job is None or job.status != ImportStatus.DONE:
        raise SegmentError("choose a finished import")
    columns = [int(k) for k, target in (job.options or {}).get("mapping", {}).items() if target == "email"]
    if not columns:
        raise SegmentError("that import has no email column")
    try:
        stream = CsvStream(job.path, job.encoding or "auto")
    except (OSError, ImportFileError):
        raise SegmentError("the import's file is no longer available") from None
    added, batch = 0, set()
    try:
        for _line, row in stream.rows():
            email = normalize_email(row[columns[0]]) if columns[0] < len(row) else None
            if email:
                batch.add(email)
            if len(batch) >= 5000:
                added += _add_emails(session, list_id, batch)
                batch = set()
        added += _add_emails(session, list_id, batch)
    except ImportFileError as exc:
        raise SegmentError(str(exc)) from None
    finally:
        stream.close()
    return added


def contact_ids_by_email(session: Session, emails: Iterable[str]) -> dict[str, int]:
    """{folded address: contact id} for normalised addresses, ignoring letter case (Lead@ is the contact
    lead@; the oldest where stored case-variants share one): lists filled from a file or a paste."""
    folded = sorted({ascii_lower_text(e) for e in emails})
    if not folded:
        return {}
    key = ascii_lower(Contact.email)
    return dict(session.execute(select(key, func.min(Contact.id)).where(key.in_(folded)).group_by(key)).all())


def _add_emails(session: Session, list_id: int, emails: set[str]) -> int:
    ids = list(contact_ids_by_email(session, emails).values())
    return add_to_list(session, list_id, ids) if ids else 0


def remove_from_list(session: Session, list_id: int, contact_ids: Any) -> int:
    """Remove contacts from a list (contact page, API); returns how many were members."""
    ids = _clean_ids(contact_ids)
    removed = 0
    for start in range(0, len(ids), 500):
        result = session.execute(
            delete(ContactListMember).where(
                ContactListMember.list_id == list_id, ContactListMember.contact_id.in_(ids[start : start + 500])
            )
        )
        removed += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return removed


def list_sizes(session: Session, list_ids: list[int] | None = None) -> dict[int, int]:
    """Members per list (list pages, API)."""
    query = select(ContactListMember.list_id, func.count()).group_by(ContactListMember.list_id)
    if list_ids is not None:
        query = query.where(ContactListMember.list_id.in_(list_ids))
    return {list_id: int(n) for list_id, n in session.execute(query)}
