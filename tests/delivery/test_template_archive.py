"""Templates: delete only when nothing uses them, archive hides them from the pickers, restore, duplicate."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from campaigns.archive import InUse
from campaigns.delivery.rendering import selectable_templates
from campaigns.delivery.template_archive import (
    archive_template,
    delete_template,
    duplicate_template,
    restore_template,
    template_usages,
)
from campaigns.journeys.broadcasts import create_broadcast
from campaigns.models import Link, Send, Template, TemplateVersion
from tests.factories import make_contact, make_sequence, make_template

HTML = '<p>Hi {{ contact.first_name }}</p><a href="https://example.com/a">A</a> <a href="https://example.com/b">B</a>'


def test_an_unused_template_is_deleted_with_its_versions(services: Any) -> None:
    with services.db.begin() as s:
        template = make_template(s, "Draft", compiled=True, html=HTML)
        template_id = template.id
        assert template_usages(s, template) == []
        delete_template(s, template)
    with services.db.begin() as s:
        assert s.get(Template, template_id) is None
        assert s.scalar(select(func.count()).select_from(TemplateVersion).where(TemplateVersion.template_id == template_id)) == 0


def test_delete_is_refused_while_a_broadcast_a_step_or_a_removed_step_uses_it(services: Any) -> None:
    with services.db.begin() as s:
        mail = make_template(s, "Newsletter")
        create_broadcast(s, "June news", mail.id)
        step_mail = make_template(s, "Step one")
        make_sequence(s, [{"template_id": step_mail.id}], name="Onboarding")
        # an activated sequence runs as a journey of the same name: both name the step's mail
        for template, expected in ((mail, [("broadcast", "June news")]),
                                   (step_mail, [("sequence_step", "Onboarding"), ("journey", "Onboarding")])):
            usages = template_usages(s, template)
            assert sorted((u.kind, u.name) for u in usages) == sorted(expected)
            with pytest.raises(InUse) as refused:
                delete_template(s, template)
            assert refused.value.usages == usages
            assert s.get(Template, template.id) is not None  # nothing half-deleted, the session still works


def test_a_sent_mail_is_never_deleted_even_when_the_check_does_not_know_the_reference(services: Any) -> None:
    """The send ledger's foreign key is the last guard: a send carrying a version refuses the delete."""
    with services.db.begin() as s:
        template = make_template(s, "Sent once")
        contact = make_contact(s)
        s.add(Send(contact_id=contact.id, template_version_id=template.current_version_id))
        s.flush()
        with pytest.raises(InUse) as refused:
            delete_template(s, template)
        assert [u.kind for u in refused.value.usages] == ["other"]
        assert s.get(Template, template.id) is not None


def test_archive_hides_from_pickers_and_restore_brings_it_back(services: Any) -> None:
    with services.db.begin() as s:
        kept, archived = make_template(s, "Kept"), make_template(s, "Old offer")
        create_broadcast(s, "Used", archived.id)
        archive_template(s, archived)
        assert archived.archived_at is not None
        assert [t.name for t in selectable_templates(s)] == ["Kept"]
        restore_template(s, archived)
        assert [t.name for t in selectable_templates(s)] == ["Kept", "Old offer"]
        assert kept.archived_at is None


def test_duplicate_copies_the_current_version_with_links_and_tracking_choices(services: Any) -> None:
    with services.db.begin() as s:
        original = make_template(s, "Welcome", compiled=True, html=HTML, preheader="pre", from_name="Sales",
                                 untracked_urls=["https://example.com/b"])
        copy = duplicate_template(s, original, "「%(name)s」のコピー")
        assert copy.name == "「Welcome」のコピー"
        assert copy.archived_at is None and template_usages(s, copy) == []
        ours, theirs = copy.current_version, original.current_version
        assert ours is not None and theirs is not None and ours.id != theirs.id and ours.version == 1
        for column in ("subject", "preheader", "from_name", "html_source", "text_source", "compiled_html", "compiled_text"):
            assert getattr(ours, column) == getattr(theirs, column), column
        assert [(lk.position, lk.url, lk.tracked) for lk in ours.links] == [
            (1, "https://example.com/a", True), (2, "https://example.com/b", False)]
        assert s.scalar(select(func.count()).select_from(Link)) == 4
        assert duplicate_template(s, original).name == "Welcome (copy)"


def test_a_long_name_is_shortened_to_fit_the_copy_suffix(services: Any) -> None:
    with services.db.begin() as s:
        copy = duplicate_template(s, make_template(s, "x" * 200))
        assert len(copy.name) == 200 and copy.name.endswith("… (copy)")


def test_duplicate_keeps_a_block_mail_a_block_mail(services: Any) -> None:
    with services.db.begin() as s:
        original = make_template(s, "Blocks")
        assert original.current_version is not None
        original.current_version.editor = "blocks"
        original.current_version.blocks = {"rows": [{"type": "text", "text": "Hi"}]}
        s.flush()
        ours = duplicate_template(s, original).current_version
        assert ours is not None and (ours.editor, ours.blocks) == ("blocks", {"rows": [{"type": "text", "text": "Hi"}]})
