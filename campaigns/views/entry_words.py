"""How contacts get into a sequence or a journey, in words, for the list pages (sequences, journeys).

A marketer reads Event "whitepaper_downloaded", Enters segment "Trial users", Sends form "Whitepaper" or
"Added by hand", never a code tag, an id or an English key on a Japanese page. Event names are the marketer's
own data and are shown as they were typed (quoted, not as code); segments, lists and forms by their names.

`entry_words(session, entries)` takes journey entry triggers (docs/journeys.md, settings["entry"]) and
returns one sentence per trigger; `sequence_entries` turns a not-yet-converted sequence's settings into the
same shape (the conversion does the same: migration 0012, campaigns.automation.linear). Names are looked up
in one query per kind for the whole page.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence as Seq
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.i18n import _, pgettext
from campaigns.models import ContactList, Form, Journey, JourneyVersion, Segment, Sequence

# The stages as the rest of the UI words them (templates/ui/kpi/index.html).
_STAGES = {"cold": "Cold", "warm": "Warm", "hot": "Hot", "mql": "MQL", "sql": "SQL", "customer": "Customer",
           "lead": "Lead"}


def journey_entries(session: Session, journeys: Iterable[Journey]) -> dict[int, list[dict[str, Any]]]:
    """{journey id: its entry triggers}: the live version's when published (what contacts enter by now),
    else the draft settings."""
    journeys = list(journeys)
    live_ids = [j.live_version_id for j in journeys if j.live_version_id]
    live = {v.id: v.settings or {} for v in session.scalars(
        select(JourneyVersion).where(JourneyVersion.id.in_(live_ids)))} if live_ids else {}
    out: dict[int, list[dict[str, Any]]] = {}
    for j in journeys:
        settings = live.get(j.live_version_id or 0, j.settings or {})
        entry = settings.get("entry") if isinstance(settings, dict) else None
        out[j.id] = [e for e in entry if isinstance(e, dict)] if isinstance(entry, list) else []
    return out


def sequence_entries(sequence: Sequence, form_ids: Seq[int]) -> list[dict[str, Any]]:
    """A sequence's triggers (events, its trigger segment, the forms enrolling into it) as journey entries."""
    entries: list[dict[str, Any]] = [{"kind": "event", "name": str(n)} for n in sequence.trigger_events or []]
    if sequence.trigger_segment_id:
        entries.append({"kind": "segment", "segment_id": sequence.trigger_segment_id})
    entries += [{"kind": "form", "form_id": fid} for fid in form_ids]
    return entries


def forms_enrolling_sequences(session: Session) -> dict[int, list[int]]:
    """{sequence id: ids of the forms whose submissions enrol into it} (forms.sequence_ids)."""
    out: dict[int, list[int]] = {}
    for form in session.scalars(select(Form).where(Form.archived_at.is_(None))):
        for sid in form.sequence_ids or []:
            if isinstance(sid, int):
                out.setdefault(sid, []).append(form.id)
    return out


def _ids(entries: Iterable[dict[str, Any]], key: str) -> set[int]:
    return {int(e[key]) for e in entries if isinstance(e.get(key), int)}


def entry_words(session: Session, by_owner: dict[int, list[dict[str, Any]]]) -> dict[int, list[str]]:
    """{owner id: one sentence per entry trigger, in the user's language}; an owner without triggers gets
    "Added by hand" (contacts enter only when the marketer enrols them)."""
    every = [e for entries in by_owner.values() for e in entries]
    names: dict[str, dict[int, str]] = {}
    for kind, model, key in (("segment", Segment, "segment_id"), ("list", ContactList, "list_id"),
                             ("form", Form, "form_id")):
        ids = _ids(every, key)
        names[kind] = dict(session.execute(select(model.id, model.name).where(model.id.in_(ids))).all()) if ids else {}  # type: ignore[attr-defined]
    by_hand = pgettext("entry", "Added by hand")
    return {owner: [_sentence(e, names) for e in entries] or [by_hand] for owner, entries in by_owner.items()}


def _named(kind: str, names: dict[str, dict[int, str]], value: Any) -> str | None:
    return names[kind].get(value) if isinstance(value, int) else None


def _sentence(entry: dict[str, Any], names: dict[str, dict[int, str]]) -> str:
    kind = entry.get("kind")
    if kind == "event":
        return _('Event "%(name)s"', name=str(entry.get("name") or ""))
    if kind == "segment":
        name = _named("segment", names, entry.get("segment_id"))
        return _('Enters segment "%(name)s"', name=name) if name else _("A deleted segment")
    if kind == "list":
        name = _named("list", names, entry.get("list_id"))
        return _('Added to list "%(name)s"', name=name) if name else _("A deleted list")
    if kind == "form":
        name = _named("form", names, entry.get("form_id"))
        return _('Sends form "%(name)s"', name=name) if name else _("A deleted form")
    if kind == "stage":
        stage = str(entry.get("stage") or "")
        return _("Reaches stage %(stage)s", stage=_(_STAGES[stage]) if stage in _STAGES else stage)
    if kind == "date":
        if entry.get("event"):
            return _('A date in event "%(name)s"', name=str(entry.get("event")))
        return _('A date in contact field "%(name)s"', name=str(entry.get("attribute") or ""))
    return _("Another trigger")
