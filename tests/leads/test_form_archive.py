"""Forms: delete only without consent records, archive closes the hosted page, restore, duplicate."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from campaigns.archive import InUse
from campaigns.leads.form_archive import archive_form, delete_form, duplicate_form, form_usages, restore_form
from campaigns.leads.forms import FormInput, create_form
from campaigns.models import Form, FormStatus, FormSubmission, SubmissionStatus


def _form(s: Any, name: str = "Whitepaper", slug: str = "whitepaper") -> Form:
    return create_form(s, FormInput(name=name, slug=slug, consent_text="I agree to receive emails.",
                                    double_opt_in=True))


def test_delete_is_refused_while_a_submission_records_consent_and_spam_does_not_count(services: Any) -> None:
    with services.db.begin() as s:
        spam_only, consented = _form(s, "A", "a"), _form(s, "B", "b")
        s.add(FormSubmission(form_id=spam_only.id, status=SubmissionStatus.SPAM, email="bot@example.com"))
        s.add(FormSubmission(form_id=consented.id, status=SubmissionStatus.PENDING, email="p@example.jp"))
        s.flush()
        assert form_usages(s, spam_only) == []
        assert [(u.kind, u.count) for u in form_usages(s, consented)] == [("submissions", 1)]
        with pytest.raises(InUse):
            delete_form(s, consented)
        delete_form(s, spam_only)
        assert [f.name for f in s.scalars(select(Form))] == ["B"]
        assert s.scalar(select(FormSubmission.email)) == "p@example.jp"


def test_archive_closes_the_form_and_restore_keeps_it_closed(services: Any, client: Any) -> None:
    with services.db.begin() as s:
        form = _form(s)
        archive_form(s, form)
        assert form.archived_at is not None and form.status == FormStatus.INACTIVE
    closed = client.get("/f/whitepaper", headers={"Accept": "application/json"})
    assert closed.status_code == 404 and closed.get_json()["error"] == "form_closed"
    with services.db.begin() as s:
        form = s.scalar(select(Form))
        restore_form(s, form)
        assert form.archived_at is None and form.status == FormStatus.INACTIVE


def test_duplicate_copies_fields_and_consent_under_a_new_address(services: Any) -> None:
    with services.db.begin() as s:
        original = _form(s)
        first, second = duplicate_form(s, original), duplicate_form(s, original, "%(name)s のコピー")
        assert (first.name, first.slug, second.name, second.slug) == (
            "Whitepaper (copy)", "whitepaper-copy", "Whitepaper のコピー", "whitepaper-copy-2")
        assert first.fields == original.fields and first.consent_text == "I agree to receive emails."
        assert first.double_opt_in and first.status == FormStatus.INACTIVE
        assert form_usages(s, first) == []
