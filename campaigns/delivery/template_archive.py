"""Templates: what uses one, delete it when nothing does, archive and restore it, duplicate it.

The rules (campaigns.archive gives the shared contract):

- A template can be **deleted** only while nothing refers to it: no broadcast (in any state, a draft
  included: its form would lose its mail), no sequence step (removed steps too: the send ledger keeps
  naming them), no A/B test variant, no journey's send node (draft or published), and it is not a copy
  an A/B test made for a variant. Every mail
  ever sent came through one of those, so "never sent" follows; the database's foreign key from the
  send ledger to the template's versions is the last guard (campaigns.archive.delete_guarded). Deleting
  removes the versions and their links with it. This is HubSpot's and Mailchimp's rule: a mail that
  went out, or that a campaign will send, stays; an unused draft can go.
- Anything else is **archived**: it leaves the template list and the broadcast, sequence and A/B
  pickers (`selectable_templates` in campaigns.delivery.rendering), while steps and broadcasts already
  using it keep sending it and every report still names it.
- **Duplicate** copies the current version as it is (subject, preheader, sender name, HTML and text, the
  block editor's document, the compiled form and its links with their tracking choices) into a new
  template's version 1; the
  copy has no history and nothing uses it.

Called by campaigns.views.templates and campaigns.api.templates; request-free.
"""

from __future__ import annotations

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.archive import COPY_PATTERN, Usage, archive, copy_name, delete_guarded, journey_usages, restore
from campaigns.models import ABTest, ABVariant, Broadcast, Link, Sequence, Step, Template, TemplateVersion

SHOWN = 20  # usages of each kind listed (a template in 500 steps is "in use" after the first)


def template_usages(session: Session, template: Template) -> list[Usage]:
    """What refers to a template, in the order a marketer recognises it (delete page, API 409)."""
    found: list[Usage] = []
    if template.ab_test_id is not None:
        found.append(Usage("ab_test", object_id=template.ab_test_id))
    for broadcast_id, name in session.execute(
        select(Broadcast.id, Broadcast.name).where(Broadcast.template_id == template.id)
        .order_by(Broadcast.id.desc()).limit(SHOWN)
    ):
        found.append(Usage("broadcast", name, broadcast_id))
    for sequence_id, name, position, deleted in session.execute(
        select(Sequence.id, Sequence.name, Step.position, Step.deleted)
        .join(Sequence, Sequence.id == Step.sequence_id)
        .where(Step.template_id == template.id)
        .order_by(Step.deleted, Sequence.name, Step.position).limit(SHOWN)
    ):
        found.append(Usage("removed_step" if deleted else "sequence_step", name, sequence_id, detail=position))
    tests = session.scalars(
        select(ABTest.id).join(ABVariant, ABVariant.test_id == ABTest.id)
        .where(ABVariant.template_id == template.id, ABTest.id != (template.ab_test_id or 0))
        .group_by(ABTest.id).order_by(ABTest.id.desc()).limit(SHOWN)
    )
    found.extend(Usage("ab_test", object_id=test_id) for test_id in tests)
    return found + journey_usages(session, "template_id", template.id)


def delete_template(session: Session, template: Template) -> None:
    """Delete an unused template with its versions; raises campaigns.archive.InUse naming what uses it."""
    delete_guarded(session, template, "template", lambda: template_usages(session, template))


def archive_template(session: Session, template: Template) -> None:
    """Take a template out of the list and the pickers; whatever uses it keeps doing so."""
    archive(template)
    session.flush()


def restore_template(session: Session, template: Template) -> None:
    """Bring an archived template back into the list and the pickers."""
    restore(template)
    session.flush()


def duplicate_template(session: Session, template: Template, pattern: str = COPY_PATTERN) -> Template:
    """A new template named by `pattern` ("%(name)s (copy)", translated by the caller) whose version 1 is
    the original's current version, compiled form and links included (no recompiling: a copy reads
    exactly as the original, even one saved under older rules)."""
    copy = Template(name=copy_name(template.name, pattern))
    session.add(copy)
    session.flush()
    source: TemplateVersion | None = template.current_version
    if source is None:  # a template nobody saved a version of: the copy is as empty
        return copy
    # Every column of the version but its identity, so what later versions carry (the block editor's
    # document, ...) is copied without this function knowing it.
    own = {"id", "template_id", "version", "created_at"}
    copied = {col.key: getattr(source, col.key) for col in sa_inspect(TemplateVersion).column_attrs if col.key not in own}
    version = TemplateVersion(template_id=copy.id, version=1, **copied)
    # The compiled HTML names tracked links by position, so the copy's links keep their positions.
    version.links = [
        Link(position=link.position, url=link.url, label=link.label, tracked=link.tracked, honeypot=link.honeypot)
        for link in source.links
    ]
    session.add(version)
    session.flush()
    copy.current_version_id = version.id
    session.flush()
    return copy
