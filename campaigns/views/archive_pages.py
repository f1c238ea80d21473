"""The archive, restore and delete routes every archivable object shares (templates, segments, lists, forms;
campaigns.archive has the rules): one route body each, so a blueprint only says which object, its words and
its addresses.

Archive and restore (POST) apply the stage's rule, commit, flash and go back to the object's page.

GET shows templates/ui/archive/confirm_delete.html: the confirmation, or what uses the object with Archive
instead. POST deletes and redirects with a flash; when something started using the object since the page was
shown (InUse), the transaction is rolled back and the page comes back, 409, naming what uses it now.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import flash, redirect, render_template, request
from sqlalchemy.orm import Session

from campaigns.archive import InUse, Usage

T = TypeVar("T")


def delete_page(session: Session, obj: T, *, what: str, delete: Callable[[Session, T], None],
                usages: Callable[[Session, T], list[Usage]], done: str, done_url: str, archive_url: str,
                back_url: str, note: str = "") -> Any:
    """The delete route of `obj`: `what` names it in the page ("template", translated), `done` is flashed on
    the way to `done_url` after a delete, `note` says what else goes (or stays) with it."""
    if request.method == "POST":
        try:
            delete(session, obj)
        except InUse:
            session.rollback()  # used since the page was shown: show what uses it now
        else:
            session.commit()
            flash(done, "success")
            return redirect(done_url)
    return render_template(
        "ui/archive/confirm_delete.html", obj=obj, what=what, usages=usages(session, obj), note=note,
        archive_url=archive_url, back_url=back_url,
    ), 409 if request.method == "POST" else 200


def change_page(session: Session, obj: T, change: Callable[[Session, T], None], done: str, back_url: str) -> Any:
    """POST archive or restore: `change` (the stage's archive_*/restore_*) applied and committed, `done`
    flashed, back to `back_url`."""
    change(session, obj)
    session.commit()
    flash(done, "success")
    return redirect(back_url)
