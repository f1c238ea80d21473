"""Enrol these contacts into this journey now: the one place walks start at a journey's start node.

Who calls what: campaigns.automation.service (the canvas, the API, test walks) calls `start_walks` with
the version it chose (live, or a test snapshot) after its own checks, which raise its JourneyError; the
journey engine's entry triggers (campaigns.automation.happenings: event, form, visit, stage, segment, list,
date) and its enrol_journey action call `enrol_version` with the published version they hold; the layers below the journey engine (scoring triggers, the contact list's bulk
enrol, forms, record_event) reach it through campaigns.journeys.sequences.enroll_contact / enroll_segment,
which for a converted sequence (migration 0012) call `enrol_live` on the journey it became. The layers
(pyproject.toml) put campaigns.automation above scoring, audience and leads, so this core lives down here
and both sides call it. Request-free; the caller commits.

The rules, in SQL (one INSERT .. SELECT per chunk of CHUNK ids, so a large selection costs a few
statements): only active, unsuppressed contacts enter; a contact with an active real walk never enters
twice; one that walked before enters again only with re-entry (the journey's settings "reentry"); a test
walk only needs no other active test walk and never counts for re-entry. Each new walk is at the start
node, visit 1, due now (the engine runs it at its next tick); what started it is its `source` column. The
path log (journey_steps) gets the start node's row when the walk leaves it (campaigns.automation.walks:
one row per node left; the node a walk is at is the walk's own). A contact already entering in a
concurrent transaction is dropped by the UNIQUE (ON CONFLICT DO NOTHING), never raised.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, literal, select
from sqlalchemy.orm import Session

from campaigns.db import JSONType, UTCDateTime, dialect_insert, now_utc
from campaigns.models import (
    Contact,
    ContactStatus,
    Journey,
    JourneyEnrolment,
    JourneyEnrolmentStatus,
    JourneyStatus,
    JourneyStep,
    JourneyVersion,
    Sequence,
    SequenceStatus,
)
from campaigns.models.contacts import address_suppressed

CHUNK = 1000  # contact ids per INSERT .. SELECT (bind-parameter limits of both databases)


def start_walks(session: Session, journey: Journey, version: JourneyVersion, chosen: Any, *, source: str,
                context: dict[str, Any], test: bool, reentry: bool, now: datetime) -> list[int]:
    """INSERT .. SELECT the walks of the chosen contacts (a list of at most CHUNK ids, or a SELECT of ids)
    that may enter `version` of `journey`; returns the new walks' ids. The caller has checked the journey
    may take contacts (live, or a test snapshot)."""
    return _insert_walks(session, journey.id, version.id, str(version.graph.get("start", "")), chosen,
                         source=source, context=context, test=test, reentry=reentry, now=now)


def enrol_version(session: Session, journey_id: int, version_id: int, start: str, contact_ids: Iterable[int], *,
                  source: str, reentry: bool, now: datetime, context: dict[str, Any] | None = None,
                  once_per_source: bool = False) -> list[int]:
    """Start real walks of these contacts at `start` of a published version the caller already holds (the
    journey engine: entry triggers in campaigns.automation.happenings, the enrol_journey action, which read
    versions as plans, not ORM rows), CHUNK ids per statement; returns the new walks' ids. The same rules as
    `start_walks`; `once_per_source` also skips contacts with a walk of this journey started by this same
    `source` (an event re-read after a late commit starts nothing twice)."""
    ids = sorted({int(i) for i in contact_ids})
    if not start:
        return []
    started: list[int] = []
    for first in range(0, len(ids), CHUNK):
        started += _insert_walks(session, journey_id, version_id, start, ids[first:first + CHUNK], source=source,
                                 context=dict(context or {}), test=False, reentry=reentry, now=now,
                                 once_per_source=once_per_source)
    return started


def _insert_walks(session: Session, journey_id: int, version_id: int, start: str, chosen: Any, *, source: str,
                  context: dict[str, Any], test: bool, reentry: bool, now: datetime,
                  once_per_source: bool = False) -> list[int]:
    mine = and_(JourneyEnrolment.contact_id == Contact.id, JourneyEnrolment.journey_id == journey_id)
    previous = select(func.max(JourneyEnrolment.cycle)).where(mine).scalar_subquery()
    conditions: list[Any] = [Contact.id.in_(chosen), Contact.status == ContactStatus.ACTIVE, ~address_suppressed()]
    if test:
        # a test walk replaces the contact's previous test walk (exited by start_test), never a real one
        conditions.append(~select(JourneyEnrolment.id).where(mine, JourneyEnrolment.test.is_(True),
                                                             JourneyEnrolment.status == "active").exists())
    else:
        real = and_(mine, JourneyEnrolment.test.is_(False))
        conditions.append(~select(JourneyEnrolment.id).where(real, JourneyEnrolment.status == "active").exists())
        if not reentry:
            conditions.append(~select(JourneyEnrolment.id).where(real).exists())
    if once_per_source:
        conditions.append(~select(JourneyEnrolment.id).where(mine, JourneyEnrolment.source == source[:100]).exists())
    query = select(
        Contact.id, literal(journey_id), func.coalesce(previous, 0) + 1, literal(version_id),
        literal(JourneyEnrolmentStatus.ACTIVE.value), literal(start), literal(now, UTCDateTime()),
        literal(now, UTCDateTime()), literal(1), literal({start: 1}, JSONType), literal(False),
        literal(source[:100]), literal(context, JSONType), literal(test), literal(""), literal(now, UTCDateTime()),
    ).where(*conditions)
    stmt = dialect_insert(session, JourneyEnrolment).from_select(
        ["contact_id", "journey_id", "cycle", "version_id", "status", "node_key", "node_entered_at", "due_at",
         "visit", "visits", "waiting", "source", "context", "test", "exit_reason", "enrolled_at"], query,
    ).on_conflict_do_nothing()
    return list(session.scalars(stmt.returning(JourneyEnrolment.id)))


def log_left(session: Session, walk_ids: Select[Any] | list[int], exit: str, detail: str, now: datetime) -> None:
    """Write the path log's row of the node each of these walks is at, as left now by `exit` (a publish
    that moves or ends walks at a removed node, an archive, a restarted test, a sequence's exit): one
    INSERT .. SELECT from the walks. Call it BEFORE the UPDATE that moves or ends them: the row is the
    walk's (node_key, visit, node_entered_at, version_id) as it stands."""
    session.execute(dialect_insert(session, JourneyStep).from_select(
        ["journey_id", "enrolment_id", "version_id", "node_key", "visit", "entered_at", "left_at", "exit", "detail"],
        select(JourneyEnrolment.journey_id, JourneyEnrolment.id, JourneyEnrolment.version_id,
               JourneyEnrolment.node_key, JourneyEnrolment.visit, JourneyEnrolment.node_entered_at,
               literal(now, UTCDateTime()), literal(exit[:40]), literal(detail[:200]))
        .where(JourneyEnrolment.id.in_(walk_ids))))


def reentry_allowed(journey: Journey) -> bool:
    """Whether a contact that walked this journey before may enter again (its settings' "reentry")."""
    return bool((journey.settings or {}).get("reentry", False))


def refusal(session: Session, journey: Journey | None) -> str:
    """Why this journey takes nobody now, in English ("" when it is live with a version): the reason the
    sequence-side callers log and return."""
    if journey is None:
        return "no journey"
    if journey.status != JourneyStatus.LIVE:
        return f"journey {journey.id} is {journey.status.value}"
    if journey.live_version_id is None or session.get(JourneyVersion, journey.live_version_id) is None:
        return f"journey {journey.id} has no published version"
    return ""


def enrol_live(session: Session, journey: Journey, contact_ids: Iterable[int] | Select[Any], source: str,
               context: dict[str, Any] | None = None, now: datetime | None = None) -> list[int]:
    """Start real walks of the given contacts (ids, or a SELECT of contact ids: one INSERT .. SELECT) at the
    live version's start node, due now; returns the new walks' ids ([] when the journey is not live:
    `refusal` says why)."""
    if refusal(session, journey):
        return []
    version = session.get(JourneyVersion, journey.live_version_id)
    assert version is not None  # refusal checked it
    now = now or now_utc()
    if isinstance(contact_ids, Select):
        return start_walks(session, journey, version, contact_ids, source=source, context=dict(context or {}),
                           test=False, reentry=reentry_allowed(journey), now=now)
    ids = sorted({int(i) for i in contact_ids})
    started: list[int] = []
    for first in range(0, len(ids), CHUNK):
        started += start_walks(session, journey, version, ids[first:first + CHUNK], source=source,
                               context=dict(context or {}), test=False, reentry=reentry_allowed(journey), now=now)
    return started


def journey_of_sequence(session: Session, sequence_id: int) -> Journey | None:
    """The journey a converted sequence became (journeys.sequence_id, migration 0012), or None."""
    return session.scalars(select(Journey).where(Journey.sequence_id == sequence_id).order_by(Journey.id)
                           .limit(1)).first()


def enters_on_form(session: Session, journey: Journey, form_id: int) -> bool:
    """Whether the journey's live version lets a form's submissions in by itself (an entry {"kind": "form"},
    which the engine applies at its tick; migration 0012 made one for every form that enrolled into the
    sequence), so a form's own enrolment into it would be a second way in."""
    version = session.get(JourneyVersion, journey.live_version_id) if journey.live_version_id else None
    entries = (version.settings if version is not None else journey.settings or {}).get("entry") or []
    return any(isinstance(e, dict) and e.get("kind") == "form" and str(e.get("form_id")) == str(form_id)
               for e in entries)


# ------------------------------------------------------------------ the pickers
@dataclass(frozen=True)
class Choice:
    """One entry of an enrol picker: a journey (`journey_id`; `sequence_id` too when it was a sequence) or
    an unconverted sequence (`journey_id` None). `status` is the journey's or the sequence's."""

    name: str
    status: str
    journey_id: int | None = None
    sequence_id: int | None = None

    @property
    def key(self) -> str:
        """The form value of a picker that offers both: "journey:<id>" or "sequence:<id>"."""
        return f"journey:{self.journey_id}" if self.journey_id is not None else f"sequence:{self.sequence_id}"

    @property
    def live(self) -> bool:
        """Whether it takes contacts now (a live journey, an active sequence): the pickers highlight these."""
        return self.status in ("live", "active")


def target_choices(session: Session, keep: Iterable[str] = ()) -> list[Choice]:
    """What the pickers of models that name a journey or an unconverted sequence offer (scoring triggers, the
    form builder): every journey whatever its status (the picker shows it: only a live one takes contacts), a
    converted sequence as its journey (`sequence_id` set too), and every sequence not converted. Archived ones
    only when their key is in `keep` (the target already chosen, so the editor still shows it)."""
    kept = set(keep)
    out = [Choice(j.name, j.status.value, j.id, j.sequence_id) for j in session.scalars(select(Journey))
           if j.status != JourneyStatus.ARCHIVED or f"journey:{j.id}" in kept]
    out += [Choice(q.name, q.status.value, None, q.id) for q in session.scalars(
        select(Sequence).where(Sequence.status != SequenceStatus.CONVERTED))
        if q.status.value != "archived" or f"sequence:{q.id}" in kept]
    return sorted(out, key=lambda c: (c.status not in ("live", "active"), c.name.casefold(), c.key))


def chosen_target(session: Session, key: str) -> Choice | None:
    """The journey or unconverted sequence a picker's value names ("journey:<id>", "sequence:<id>"; a bare
    number is a sequence id, the old form value), a converted sequence given as its journey; None when it names
    nothing that exists. Scoring triggers and forms store `journey_id`, else `sequence_id`."""
    kind, _sep, raw = str(key).strip().rpartition(":")
    if not raw.isdigit() or kind not in ("journey", "sequence", ""):
        return None
    if kind == "journey":
        journey = session.get(Journey, int(raw))
        return Choice(journey.name, journey.status.value, journey.id, journey.sequence_id) if journey else None
    sequence = session.get(Sequence, int(raw))
    if sequence is None:
        return None
    if sequence.status == SequenceStatus.CONVERTED:
        journey = journey_of_sequence(session, sequence.id)
        return Choice(journey.name, journey.status.value, journey.id, sequence.id) if journey else None
    return Choice(sequence.name, sequence.status.value, None, sequence.id)


def enrol_choices(session: Session) -> list[Choice]:
    """What a picker that can store a journey offers (the contact list's bulk enrol): every live journey
    (converted sequences appear as theirs) and every active sequence not yet converted."""
    out = [Choice(j.name, j.status.value, j.id, j.sequence_id)
           for j in session.scalars(select(Journey).where(Journey.status == JourneyStatus.LIVE))]
    out += [Choice(q.name, q.status.value, None, q.id)
            for q in session.scalars(select(Sequence).where(Sequence.status == SequenceStatus.ACTIVE))]
    return sorted(out, key=lambda c: (c.name.casefold(), c.key))


__all__ = ["CHUNK", "Choice", "chosen_target", "enrol_choices", "enrol_live", "enters_on_form", "journey_of_sequence",
           "enrol_version", "log_left", "reentry_allowed", "refusal", "start_walks", "target_choices"]
