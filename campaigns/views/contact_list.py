"""The contact list (`contacts.index`): search and keyset pagination.

Routes hang on the `contacts` blueprint of campaigns.views.contacts so that endpoint names stay
`contacts.*`; campaigns.views imports this module before it registers the blueprint."""

from __future__ import annotations

import time
from typing import Any

from flask import render_template, request, url_for
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from campaigns.addresses import normalize_email
from campaigns.models import Contact, ContactStatus
from campaigns.runtime import services
from campaigns.views.contacts import PAGE_SIZE, _int_arg, bp

SEARCH_WINDOW = 20_000  # ids per probe when filtering by text or status
SEARCH_BUDGET = 0.5  # seconds of probing per page; then the page offers to continue from where it stopped


def _scan_page(s: Session, stmt: Any, after: int | None, before: int | None) -> tuple[list[Contact], bool, bool, int | None]:
    """A page of a filtered list, probing id ranges one window at a time.

    A text search cannot use an index, and PostgreSQL then prefers to scan and sort the whole table
    (4 s at 1,000,000 contacts). Bounded id windows keep each query small; a rare term stops after
    SEARCH_BUDGET and the page links on from the last id probed. Returns (rows, next, prev, resume)."""
    # two queries: SQLite answers a lone min() or max() from the index, but scans for both at once
    low_id, high_id = s.scalar(select(func.min(Contact.id))), s.scalar(select(func.max(Contact.id)))
    if low_id is None or high_id is None:
        return [], False, False, None
    deadline = time.monotonic() + SEARCH_BUDGET
    rows: list[Contact] = []
    if before is not None:  # newer contacts, walking up
        bound = before + 1
        while bound <= high_id and len(rows) <= PAGE_SIZE:
            top = bound + SEARCH_WINDOW
            rows += s.scalars(stmt.where(Contact.id >= bound, Contact.id < top)
                              .order_by(Contact.id.asc()).limit(PAGE_SIZE + 1 - len(rows)))
            bound = top
            if time.monotonic() > deadline:
                break
        has_prev = len(rows) > PAGE_SIZE or bound <= high_id
        return list(reversed(rows[:PAGE_SIZE])), True, has_prev, None
    bound = high_id + 1 if after is None else after
    while bound > low_id and len(rows) <= PAGE_SIZE:
        bottom = bound - SEARCH_WINDOW
        rows += s.scalars(stmt.where(Contact.id < bound, Contact.id >= bottom)
                          .order_by(Contact.id.desc()).limit(PAGE_SIZE + 1 - len(rows)))
        bound = bottom
        if time.monotonic() > deadline:
            break
    has_next = len(rows) > PAGE_SIZE
    resume = bound if not has_next and bound > low_id else None
    return rows[:PAGE_SIZE], has_next, after is not None, resume


def _matches(word: str) -> Any:
    """One search word in a contact's address, names or company; whole names match in either order with or
    without a space ("佐藤一郎", "一郎佐藤", "Emily Smith" as two words)."""
    first, last = func.coalesce(Contact.first_name, ""), func.coalesce(Contact.last_name, "")
    return or_(*(
        func.lower(col).contains(word, autoescape=True)
        for col in (Contact.email, first, last, Contact.company, last + first, first + last)
    ))


@bp.get("/")
def index() -> Any:
    """Contacts newest first; `?after=<id>` / `?before=<id>` page by id (no OFFSET, no full COUNT)."""
    s = services().db.session
    q = request.args.get("q", "").strip()[:200]
    status = request.args.get("status", "")
    after, before = _int_arg("after"), _int_arg("before")
    stmt = select(Contact)
    scan = False  # a filter no index serves: probe the table in id windows
    address = normalize_email(q) if q else None
    if address:
        # a whole address: an index lookup instead of scanning every row (stored local parts keep their case)
        stmt = stmt.where(Contact.email.in_({address, address.lower()}))
    elif q:
        stmt = stmt.where(*(_matches(word) for word in q.lower().split()))  # every word, anywhere
        scan = True
    if status in set(ContactStatus):
        stmt = stmt.where(Contact.status == status)
        scan = True
    resume = None
    if scan and not address:
        contacts, has_next, has_prev, resume = _scan_page(s, stmt, after, before)
    elif before is not None:
        rows = list(s.scalars(stmt.where(Contact.id > before).order_by(Contact.id.asc()).limit(PAGE_SIZE + 1)))
        has_prev = len(rows) > PAGE_SIZE
        contacts = list(reversed(rows[:PAGE_SIZE]))
        has_next = True
    else:
        if after is not None:
            stmt = stmt.where(Contact.id < after)
        rows = list(s.scalars(stmt.order_by(Contact.id.desc()).limit(PAGE_SIZE + 1)))
        has_next = len(rows) > PAGE_SIZE
        contacts = rows[:PAGE_SIZE]
        has_prev = after is not None
    s.commit()
    keep: dict[str, Any] = {k: v for k, v in (("q", q), ("status", status)) if v}
    next_url = url_for("contacts.index", after=contacts[-1].id, **keep) if has_next and contacts else None
    if resume is not None:
        next_url = url_for("contacts.index", after=resume, **keep)
    prev_url = url_for("contacts.index", before=contacts[0].id, **keep) if has_prev and contacts else None
    return render_template(
        "ui/contacts/index.html", contacts=contacts, q=q, status=status, statuses=list(ContactStatus),
        next_url=next_url, prev_url=prev_url, first_url=url_for("contacts.index", **keep) if has_prev else None,
        searching_on=resume is not None,
    )
