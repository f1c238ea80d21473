"""Bulk actions on contacts: on a selection from the contact list or on every contact of its filter.

Contract (others code against it):
- ACTIONS: add_to_list, remove_from_list, enrol, set_stage, suppress (export is a download: csv_rows)
- check(session, action, params) -> the cleaned parameters; raises BulkError with a reason to show
- Target(ids=[...]) or Target(filter_args={...}, zone=...): who; target.id_batches(session) walks them
- run(session, action, params, ids) -> how many contacts the action changed, for one batch of ids
- run_target(db, action, params, target, progress) -> the total, a transaction per batch (the job)
- csv_rows(session, target) -> the rows of the export, header first, streamed in batches

Each action calls the service of the stage that owns it, so a bulk action follows the same rules as
the one-contact version: lists (audience.lists' table, add is a no-op for members), enrolment
(journeys.sequences.enroll_segment: only active, unsuppressed contacts not already enrolled; into a
journey, a live one, through journeys.walk_entry: the journey's own entry rules),
stages (scoring.triggers.set_stage: only MQL, SQL and customer by hand, recorded with cause "bulk",
the stage's triggers fire), suppression (campaigns.suppression.suppress: every letter case of the
address), erasure (leads.erase.erase_contact, one contact at a time, logged). The whole filter is walked by id in batches of BATCH, so contacts that leave the filter as
the action changes them are neither skipped nor done twice. Above BACKGROUND_ABOVE contacts the
views queue jobs.run_bulk_action instead of acting in the request (campaigns.queueing.BULK).

This module sits above the stages it orchestrates (the layers in pyproject.toml) and is request-free:
the web process and the worker run it unchanged.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, literal, select
from sqlalchemy.orm import Session

from campaigns.audience.contact_filter import ContactFilter, conditions
from campaigns.audience.segments import insert_count
from campaigns.db import UTCDateTime, dialect_insert, now_utc
from campaigns.journeys import walk_entry
from campaigns.journeys.sequences import enroll_segment
from campaigns.leads.erase import EraseError, erase_contact
from campaigns.models import (
    Contact,
    ContactList,
    ContactListMember,
    Journey,
    Sequence,
    SequenceStatus,
    Stage,
)
from campaigns.names import display_name
from campaigns.scoring.rules import ScoringError
from campaigns.scoring.triggers import set_stage
from campaigns.spreadsheet import csv_safe
from campaigns.sql_functions import among
from campaigns.suppression import suppress

BATCH = 1000
BACKGROUND_ABOVE = 300  # contacts: more than this on the whole filter runs as a background job
HAND_STAGES = (Stage.MQL, Stage.SQL, Stage.CUSTOMER)  # the stages people may set (scoring.triggers)


class BulkAction(enum.StrEnum):
    ADD_TO_LIST = "add_to_list"
    REMOVE_FROM_LIST = "remove_from_list"
    ENROL = "enrol"
    SET_STAGE = "set_stage"
    SUPPRESS = "suppress"
    ERASE = "erase"


ACTIONS = tuple(BulkAction)
# These go through the confirmation (campaigns.views.confirm): enrolment mails people, erasing cannot be undone.
CONFIRMED = {BulkAction.ENROL, BulkAction.ERASE}


class BulkError(ValueError):
    """A bulk action that cannot run as asked; the message is shown (translated by the view)."""


def check(session: Session, action: str, params: dict[str, Any]) -> dict[str, Any]:
    """The action's parameters, cleaned: {"list_id"}, {"journey_id"}, {"sequence_id"} or {"stage"}; raises
    BulkError."""
    if action not in set(BulkAction):
        raise BulkError("Choose an action.")
    if action in (BulkAction.ADD_TO_LIST, BulkAction.REMOVE_FROM_LIST):
        list_id = _int(params.get("list_id"))
        contact_list = session.get(ContactList, list_id) if list_id else None
        if contact_list is None or getattr(contact_list, "archived_at", None) is not None:
            raise BulkError("Choose a list.")
        return {"list_id": contact_list.id}
    if action == BulkAction.ENROL:
        return _enrol_target(session, params)
    if action == BulkAction.SET_STAGE:
        stage = str(params.get("stage") or "")
        if stage not in {s.value for s in HAND_STAGES}:
            raise BulkError("Choose a stage: MQL, SQL or customer (cold, warm and hot follow the score).")
        return {"stage": stage}
    if action == BulkAction.ERASE:
        return {"actor": str(params.get("actor") or "")[:200] or "user"}
    return {}


def _enrol_target(session: Session, params: dict[str, Any]) -> dict[str, Any]:
    """{"journey_id"} or {"sequence_id"} from the picker's "enrol_target" ("journey:<id>", "sequence:<id>")
    or a bare sequence_id / journey_id; a converted sequence is stored as the journey it became."""
    kind, _sep, raw = str(params.get("enrol_target") or "").partition(":")
    journey_id = _int(raw) if kind == "journey" else _int(params.get("journey_id"))
    sequence_id = _int(raw) if kind == "sequence" else _int(params.get("sequence_id"))
    journey = session.get(Journey, journey_id) if journey_id else None
    if journey is None and sequence_id:
        sequence = session.get(Sequence, sequence_id)
        if sequence is None:
            raise BulkError("Choose a sequence or a journey.")
        if sequence.status != SequenceStatus.CONVERTED:
            if sequence.status != SequenceStatus.ACTIVE:
                raise BulkError("Only an active sequence can take new contacts.")
            return {"sequence_id": sequence.id}
        journey = walk_entry.journey_of_sequence(session, sequence.id)
    if journey is None:
        raise BulkError("Choose a sequence or a journey.")
    if walk_entry.refusal(session, journey):
        raise BulkError("Only a live journey can take new contacts.")
    return {"journey_id": journey.id}


def _int(raw: Any) -> int | None:
    try:
        value = int(str(raw))
    except (TypeError, ValueError):
        return None
    return value if 0 < value < 2**62 and str(raw).isascii() else None


@dataclass
class Target:
    """Who a bulk action reaches: chosen ids, or every contact of a filter (its query-string values)."""

    ids: list[int] | None = None
    filter_args: dict[str, str] = field(default_factory=dict)
    zone: str = "UTC"

    def filter(self) -> ContactFilter:
        return ContactFilter.parse(self.filter_args, self.zone)[0]

    def id_query(self, session: Session) -> Any:
        """SELECT contacts.id of the target (counts, samples, the confirmation)."""
        if self.ids is not None:
            return select(Contact.id).where(among(session, Contact.id, list(self.ids)))
        return select(Contact.id).where(*conditions(session, self.filter()))

    def id_batches(self, session: Session, size: int = BATCH, after: int = 0) -> Iterator[list[int]]:
        """The target's ids above `after` in ascending batches, each read after the previous one was acted on."""
        if self.ids is not None:
            ids = sorted(i for i in set(self.ids) if i > after)
            for start in range(0, len(ids), size):
                yield ids[start:start + size]
            return
        where = conditions(session, self.filter())
        last = after
        while True:
            batch = list(session.scalars(
                select(Contact.id).where(*where, Contact.id > last).order_by(Contact.id).limit(size)))
            if not batch:
                return
            yield batch
            last = batch[-1]


def run(session: Session, action: str, params: dict[str, Any], ids: list[int]) -> int:
    """Apply an action to one batch of contact ids; returns how many contacts it changed."""
    if not ids:
        return 0
    if action == BulkAction.ADD_TO_LIST:
        chosen = select(literal(params["list_id"]), Contact.id, literal(now_utc(), UTCDateTime())).where(
            among(session, Contact.id, ids))
        stmt = dialect_insert(session, ContactListMember).from_select(
            ["list_id", "contact_id", "added_at"], chosen).on_conflict_do_nothing()
        return insert_count(session, stmt, ContactListMember.contact_id)
    if action == BulkAction.REMOVE_FROM_LIST:
        result: Any = session.execute(delete(ContactListMember).where(
            ContactListMember.list_id == params["list_id"], among(session, ContactListMember.contact_id, ids)))
        return int(result.rowcount or 0)
    if action == BulkAction.ENROL and params.get("journey_id"):
        journey = session.get(Journey, params["journey_id"])
        if journey is None:
            return 0  # deleted meanwhile (a background job); paused or archived: enrol_live starts nothing
        return len(walk_entry.enrol_live(session, journey, ids, "bulk: contact list"))
    if action == BulkAction.ENROL:
        sequence = session.get(Sequence, params["sequence_id"])
        if sequence is None or sequence.status not in (SequenceStatus.ACTIVE, SequenceStatus.CONVERTED):
            return 0  # deleted or paused meanwhile (a background job); converted: enrolled into its journey
        return enroll_segment(session, sequence, ids)
    if action == BulkAction.SET_STAGE:
        changed = 0
        for contact in session.scalars(select(Contact).where(among(session, Contact.id, ids))):
            if contact.stage != params["stage"]:
                try:
                    set_stage(session, contact, params["stage"], "bulk", "contact list")
                except ScoringError as exc:
                    raise BulkError(str(exc)) from None
                changed += 1
        return changed
    if action == BulkAction.SUPPRESS:
        emails = list(session.scalars(select(Contact.email).where(among(session, Contact.id, ids))))
        for email in emails:
            suppress(session, email, "manual", "bulk action on the contact list")
        return len(emails)
    if action == BulkAction.ERASE:
        for contact_id in ids:
            try:
                erase_contact(session, contact_id, params.get("actor") or "user")
            except EraseError:
                continue  # deleted meanwhile
        return len(ids)
    raise BulkError("Choose an action.")


def run_target(begin: Callable[[], Any], action: str, params: dict[str, Any], target: Target,
               progress: Callable[[int, int], None] | None = None) -> int:
    """Apply an action to a whole target, one transaction per batch (jobs.run_bulk_action). `begin` opens
    a transaction (Database.begin); `progress(contacts done, changed)` is called after each commit."""
    done = changed = 0
    last = 0
    while True:
        with begin() as session:
            # the next batch after the last id done, read in this batch's own transaction
            batch = next(target.id_batches(session, after=last), [])
            if not batch:
                return changed
            changed += run(session, action, params, batch)
        done += len(batch)
        last = batch[-1]
        if progress is not None:
            progress(done, changed)


EXPORT_COLUMNS = ("email", "first_name", "last_name", "company", "job_title", "source", "stage", "score",
                  "status", "created_at", "last_activity_at")


def csv_rows(session: Session, target: Target, zone_name: str = "UTC") -> Iterator[list[str]]:
    """The export's rows, header first; times in the account's zone as ISO 8601 with their offset."""
    zone = ZoneInfo(zone_name)
    yield [*EXPORT_COLUMNS, "name"]
    for batch in target.id_batches(session, 2000):
        for c in session.scalars(select(Contact).where(among(session, Contact.id, batch)).order_by(Contact.id)):
            values = []
            for column in EXPORT_COLUMNS:
                value = getattr(c, column)
                if hasattr(value, "astimezone"):
                    value = value.astimezone(zone).isoformat(timespec="seconds")
                values.append("" if value is None else str(value) if column == "score" else _cell(str(value)))
            yield [*values, _cell(display_name(c.first_name, c.last_name))]


def _cell(text: str) -> str:
    """Text a spreadsheet will not run as a formula (a name typed as "=HYPERLINK(...)" in a form)."""
    return str(csv_safe(text))
