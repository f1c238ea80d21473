"""Events from a CSV file: a webinar tool's attendee list, a trade show's scanned badges. One row, one event
about the contact whose address is in the row.

Contract:
- The file is read as a contact import reads it (campaigns.leads.csv_reader: UTF-8 with or without BOM,
  UTF-16, Shift_JIS/CP932 detected; the delimiter guessed; each record's physical line number).
- EventImportOptions: the email column (required), optional name and company columns (used only when a
  contact is created), the event name (any name, typed or picked from the event list), the date (one
  fixed instant for the whole file, or a column read in the account's zone when it names none) and
  whether unknown addresses create contacts (source "event import") or are reported.
- Contacts are matched as everywhere (campaigns.leads.contacts.contact_by_email: the normalised address,
  else the same address in another letter case) and created by `upsert_contact` (suppression status
  included).
- Each event goes through journeys.sequences.record_event (source "import"): exits and goals at once,
  sequences it triggers start when the event is under 24 hours old (older rows are history and start
  nothing), journeys react on the next scheduler tick.
- An event already stored for the same contact, name and instant is not stored again: importing the same
  file twice records nothing new (counted as "already recorded").
- Bad rows (no or invalid address, bad or future date, text the text rule refuses, a row wider than the
  header) are counted, the first MAX_ERRORS listed with line, address and reason; the other rows import.
- `run_event_import` is the RQ job's body (campaigns.jobs.run_event_import, queueing.EVENT_IMPORT): it
  commits every CHUNK_ROWS rows and reports progress to the `progress` callback (the job's meta), then
  returns the final report (the job's result). No table: the events are the import's lasting result;
  its report lives as long as the RQ job (queueing.EVENT_IMPORT.result_ttl).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.addresses import normalize_email
from campaigns.db import now_utc
from campaigns.journeys.sequences import MAX_NAME_LENGTH, clean_name, record_event
from campaigns.leads.contacts import ContactError, contact_by_email, parse_datetime, upsert_contact
from campaigns.leads.csv_reader import ENCODINGS, CsvStream, ImportFileError
from campaigns.leads.imports import suggest_mapping
from campaigns.models import Event
from campaigns.text import TextError, check_text
from campaigns.timezones import zone

SOURCE = "import"
CONTACT_SOURCE = "event import"
CHUNK_ROWS = 200
MAX_ERRORS = 1000
FUTURE_SKEW = timedelta(hours=1)
Progress = Callable[[dict[str, Any]], None]


@dataclass
class EventImportOptions:
    """What the marketer chose on the event import form."""

    event_name: str
    email_column: int
    name_column: int | None = None
    company_column: int | None = None
    date_column: int | None = None  # None: every row gets `fixed_at`
    fixed_at: str = ""  # ISO 8601 with offset (the form's local time in the account's zone)
    zone: str = "UTC"  # a date column's times without an offset are in this zone
    encoding: str = "auto"
    create_contacts: bool = True

    @classmethod
    def parse(cls, raw: dict[str, Any], headers: list[str]) -> EventImportOptions:
        """Validate the options against the file's header; raises ImportFileError (English, for `_()`)."""
        try:
            name = clean_name(raw.get("event_name"), "event name", MAX_NAME_LENGTH)
        except ValueError:
            raise ImportFileError("Choose or type the event's name.") from None
        encoding = raw.get("encoding") or "auto"
        if encoding not in ENCODINGS:
            raise ImportFileError(f"unsupported encoding {encoding!r}")

        def column(key: str, required: bool = False) -> int | None:
            value = raw.get(key)
            if value in (None, ""):
                if required:
                    raise ImportFileError("Choose the column that holds the email address.")
                return None
            try:
                index = int(value)
            except (TypeError, ValueError):
                raise ImportFileError(f"column {value!r} does not exist in this file") from None
            if not 0 <= index < len(headers):
                raise ImportFileError(f"column {index + 1} does not exist in this file")
            return index

        email_column = column("email_column", required=True)
        assert email_column is not None
        date_column = column("date_column") if raw.get("date_mode") == "column" else None
        if raw.get("date_mode") == "column" and date_column is None:
            raise ImportFileError("Choose the column that holds the date.")
        fixed_at = ""
        if date_column is None:
            fixed = raw.get("fixed_at")
            if isinstance(fixed, datetime):
                fixed_at = fixed.isoformat()
            elif fixed:
                try:
                    fixed_at = parse_datetime(fixed, zone(raw.get("zone"))).isoformat()
                except ContactError:
                    raise ImportFileError("Enter the date and time of the event.") from None
            if not fixed_at:
                raise ImportFileError("Enter the date and time of the event.")
            if datetime.fromisoformat(fixed_at) > now_utc() + FUTURE_SKEW:
                raise ImportFileError("The event's date is in the future.")
        return cls(name, email_column, column("name_column"), column("company_column"), date_column, fixed_at,
                   zone(raw.get("zone")).key, encoding, bool(raw.get("create_contacts", True)))

    def as_dict(self) -> dict[str, Any]:
        """The options as the job stores them (parse reads them back)."""
        return {**asdict(self), "date_mode": "fixed" if self.date_column is None else "column"}


def read_head(path: str, encoding: str = "auto", rows: int = 5) -> dict[str, Any]:
    """The header, the first rows, the encoding and a guess of the email column (the mapping form)."""
    stream = CsvStream(path, encoding)
    try:
        sample = []
        for _line, row in stream.rows():
            sample.append(row)
            if len(sample) >= rows:
                break
        guess = suggest_mapping(stream.headers)
        by_target = {target: int(index) for index, target in guess.items() if target}
        return {
            "headers": stream.headers, "sample": sample, "encoding": stream.encoding,
            "email_column": by_target.get("email"),
            "name_column": by_target.get("full_name", by_target.get("last_name")),
            "company_column": by_target.get("company"),
        }
    finally:
        stream.close()


def check_import(path: str, raw: dict[str, Any]) -> EventImportOptions:
    """Refuse a file or options that cannot work before the job is queued (the import form)."""
    if not os.path.isfile(path):
        raise ImportFileError("the uploaded file is missing")
    stream = CsvStream(path, raw.get("encoding") or "auto")
    try:
        return EventImportOptions.parse(raw, stream.headers)
    finally:
        stream.close()


class _Row:
    """One record's cells read into (email, when, contact data); raises ContactError with the reason."""

    def __init__(self, options: EventImportOptions, width: int) -> None:
        self.options = options
        self.width = width
        self.zone = zone(options.zone)
        self.fixed = datetime.fromisoformat(options.fixed_at) if options.fixed_at else None
        self.latest = now_utc() + FUTURE_SKEW

    def read(self, row: list[str]) -> tuple[str, datetime, dict[str, Any]]:
        if len(row) != self.width:
            if len(row) > self.width and "".join(row[self.width:]).strip():
                raise ContactError(f"{len(row)} fields but the header has {self.width} (an unquoted comma?)")
            row = (row + [""] * self.width)[: self.width]
        raw_email = row[self.options.email_column].strip()
        email = normalize_email(raw_email)
        if email is None:
            if not raw_email:
                raise ContactError("email is missing")
            raise ContactError(f"invalid email address {raw_email[:100]!r}")
        if self.options.date_column is not None:
            cell = row[self.options.date_column].strip()
            if not cell:
                raise ContactError("the date is missing")
            when = parse_datetime(cell, self.zone)
            if when > self.latest:
                raise ContactError("the date is in the future")
        else:
            assert self.fixed is not None
            when = self.fixed
        data: dict[str, Any] = {"email": email}
        for key, index in (("full_name", self.options.name_column), ("company", self.options.company_column)):
            if index is not None and row[index].strip():
                try:
                    data[key] = check_text(row[index].strip(), key)
                except TextError as exc:
                    raise ContactError(str(exc)) from None
        return email, when.astimezone(UTC), data


def _empty_report(bytes_total: int) -> dict[str, Any]:
    return {"processed": 0, "recorded": 0, "created": 0, "matched": 0, "already": 0, "failed": 0,
            "errors": [], "bytes_done": 0, "bytes_total": bytes_total, "done": False}


def run_event_import(session: Session, path: str, raw_options: dict[str, Any],
                     progress: Progress | None = None) -> dict[str, Any]:
    """Import the file's rows as events, committing every CHUNK_ROWS rows (the RQ job; tests)."""
    stream = CsvStream(path, raw_options.get("encoding") or "auto")
    try:
        options = EventImportOptions.parse(raw_options, stream.headers)
        reader = _Row(options, len(stream.headers))
        report = _empty_report(os.path.getsize(path))
        report["encoding"] = stream.encoding
        seen: dict[str, int] = {}  # address -> contact id, within this file
        for line, row in stream.rows():
            report["processed"] += 1
            try:
                _import_row(session, reader, options, row, seen, report)
            except ContactError as exc:
                report["failed"] += 1
                if len(report["errors"]) < MAX_ERRORS:
                    cell = row[options.email_column] if options.email_column < len(row) else ""
                    report["errors"].append({"line": line, "email": cell.strip()[:200], "reason": str(exc)})
            if report["processed"] % CHUNK_ROWS == 0:
                session.commit()
                report["bytes_done"] = stream.bytes_done
                if progress is not None:
                    progress(report)
        session.commit()
        report["bytes_done"], report["done"] = report["bytes_total"], True
        if progress is not None:
            progress(report)
        return report
    finally:
        stream.close()


def _import_row(session: Session, reader: _Row, options: EventImportOptions, row: list[str],
                seen: dict[str, int], report: dict[str, Any]) -> None:
    email, when, data = reader.read(row)
    contact = contact_by_email(session, email)
    if contact is None:
        if not options.create_contacts:
            raise ContactError("no contact has this address")
        contact, created = upsert_contact(session, {**data, "source": CONTACT_SOURCE}, update_existing=False)
        report["created" if created else "matched"] += 1
    elif email not in seen:
        report["matched"] += 1
    seen[email] = contact.id
    duplicate = session.scalar(
        select(Event.id).where(Event.contact_id == contact.id, Event.name == options.event_name,
                               Event.occurred_at == when).limit(1)
    )
    if duplicate is not None:
        report["already"] += 1
        return
    record_event(session, contact, options.event_name, {}, when, source=SOURCE)
    report["recorded"] += 1
