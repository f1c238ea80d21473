"""CSV imports: column mapping, preview, the import job (chunked, bulk-written, resumable) and its status.

One job over ~750 lines: taking one file into the contacts table. The import reads the file as a
stream (campaigns.leads.csv_reader, chunks of CHUNK_ROWS rows), looks existing addresses up once per
chunk and writes with executemany (COPY on PostgreSQL), so memory stays flat and a 100,000-row file
takes seconds. Each chunk commits with the job's progress, so the UI can show it; a bad row is
reported with its line number while the rest imports. `recover_stalled_imports` (scheduler) restarts
an import whose worker died.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from campaigns.addresses import normalize_email
from campaigns.db import now_utc
from campaigns.leads.contacts import (
    ATTRIBUTE_KEY,
    MAX_LENGTHS,
    ContactError,
    check_length,
    clean_timezone,
    coerce_attribute,
    parse_datetime,
    parse_stage,
)
from campaigns.leads.csv_reader import ENCODINGS, CsvStream, ImportFileError
from campaigns.models import Account, Contact, ContactStatus, ImportJob, ImportStatus, Stage
from campaigns.names import split_full_name
from campaigns.search_text import contact_search_text
from campaigns.sql_functions import ascii_lower, ascii_lower_text
from campaigns.suppression import SUPPRESSION_STATUS
from campaigns.text import TextError, check_text, storable, text_problem
from campaigns.timezones import zone

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from campaigns.runtime import Services


CHUNK_ROWS = 5000

MAX_STORED_ERRORS = 1000  # every bad row is counted; the first ones are listed with line and reason

# Fields a CSV column can be mapped to (besides "attributes.<key>" and "" = ignore the column).
IMPORT_FIELDS = ("email", "first_name", "last_name", "full_name", "company", "job_title", "source",
                 "timezone", "stage", "consent_at", "consent_source", "consent_text")

_SYNONYMS: dict[str, tuple[str, ...]] = {
    "email": ("email", "emailaddress", "mail", "mailaddress", "メールアドレス", "メール", "eメール",
              "eメールアドレス", "電子メール", "電子メールアドレス", "メアド"),
    "last_name": ("lastname", "surname", "familyname", "last", "姓", "苗字", "名字", "氏"),
    "first_name": ("firstname", "givenname", "first", "名"),
    "full_name": ("name", "fullname", "contactname", "氏名", "名前", "お名前", "フルネーム", "担当者名",
                  "担当者", "ご担当者名"),
    "company": ("company", "companyname", "organization", "organisation", "account", "会社名", "会社",
                "企業名", "勤務先", "所属", "法人名", "組織名"),
    "job_title": ("jobtitle", "title", "position", "role", "役職", "役職名", "肩書", "肩書き", "職位"),
    "source": ("source", "leadsource", "流入元", "リードソース", "獲得経路", "経路"),
    "timezone": ("timezone", "tz", "タイムゾーン"),
    "stage": ("stage", "lifecyclestage", "ステージ"),
    "consent_at": ("consentat", "consentdate", "optinat", "optindate", "同意日", "同意日時", "オプトイン日時"),
    "consent_source": ("consentsource", "同意取得元"),
    "consent_text": ("consenttext", "同意文言"),
    "attributes.phone": ("phone", "tel", "telephone", "phonenumber", "電話番号", "電話"),
    "attributes.industry": ("industry", "業種", "業界"),
    "attributes.department": ("department", "部署", "部署名", "部門"),
    "attributes.prefecture": ("prefecture", "都道府県"),
    "attributes.employees": ("employees", "従業員数", "社員数"),
}

_HEADER_TO_FIELD = {alias: target for target, aliases in _SYNONYMS.items() for alias in aliases}

_HEADER_NOISE = re.compile(r"[\s_\-・.()（）:：]+")

# Updated from non-empty cells only (NULL keeps the stored value); attributes merge, consent is kept.
_UPDATE_COLUMNS = ("first_name", "last_name", "company", "job_title", "source", "timezone", "stage", "consent_text")

# one encoder for all rows: json.dumps with options builds a new encoder on every call
_encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

_INSERT_COLUMNS = ("email", "first_name", "last_name", "company", "job_title", "source", "timezone", "attributes",
                   "status", "stage", "score", "consent_at", "consent_method", "consent_source", "consent_text",
                   "created_at", "updated_at", "search_text")

# Cells that change a contact's search text (campaigns.search_text): an update with any recomputes it.
_SEARCHED = {"first_name", "last_name", "company", "job_title"}

_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})

IMPORT_STALL = timedelta(minutes=10)  # a running import commits progress every chunk (seconds apart)

IMPORT_MAX_ATTEMPTS = 3
IMPORT_RESTART_FAILED = ("The import stopped and could not be restarted because of an unexpected error, which has "
                         "been logged for your administrator; the rows imported so far are kept.")

_END = object()


def _attribute_key(header: str) -> str:
    key = re.sub(r"[\"\\$.\[\]\x00-\x1f]", "_", header.strip())[:100]
    return key or "column"


def suggest_mapping(headers: list[str]) -> dict[str, str]:
    """Guess a target for each column from its header, in English or Japanese (import form, CLI)."""
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for index, header in enumerate(headers):
        key = _HEADER_NOISE.sub("", unicodedata.normalize("NFKC", header).lower())
        target = _HEADER_TO_FIELD.get(key, "")
        if not target and header.strip():
            target = f"attributes.{_attribute_key(header)}"
        if target in taken:
            target = f"attributes.{_attribute_key(header)}" if header.strip() else ""
        if target and target in taken:
            target = ""
        if target:
            taken.add(target)
        mapping[str(index)] = target
    return mapping


@dataclass
class ImportOptions:
    """What the user chose on the import form (or the CLI): mapping, update or skip, source, encoding."""

    mapping: dict[str, str] = field(default_factory=dict)  # column index (as text) -> target
    update_existing: bool = True
    source: str = ""
    encoding: str = "auto"
    consent_text: str = ""

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> ImportOptions:
        """Validate options from a form, the CLI or a stored job; raises ImportFileError."""
        mode = raw.get("mode", "update" if raw.get("update_existing", True) else "skip")
        if mode not in ("update", "skip"):
            raise ImportFileError("mode must be 'update' or 'skip'")
        encoding = raw.get("encoding") or "auto"
        if encoding not in ENCODINGS:
            raise ImportFileError(f"unsupported encoding {encoding!r}")
        mapping = {str(k): str(v or "") for k, v in (raw.get("mapping") or {}).items()}
        for target in mapping.values():
            if target and target not in IMPORT_FIELDS:
                key = target.removeprefix("attributes.")
                if not target.startswith("attributes.") or not ATTRIBUTE_KEY.match(key):
                    raise ImportFileError(f"cannot import a column into {target!r}")
        source = str(raw.get("source") or "").strip()
        if len(source) > 100:
            raise ImportFileError("the source is too long (at most 100 characters)")
        consent_text = str(raw.get("consent_text") or "")
        try:  # written into every contact of the file: the text rule, as for each cell
            check_text(source, "source")
            check_text(consent_text, "consent_text", multiline=True)
        except TextError as exc:
            raise ImportFileError(str(exc)) from None
        return cls(mapping, mode == "update", source, encoding, consent_text)

    def as_dict(self) -> dict[str, Any]:
        return {"mapping": self.mapping, "mode": "update" if self.update_existing else "skip",
                "source": self.source, "encoding": self.encoding, "consent_text": self.consent_text}


# ------------------------------------------------------------------ rows -> records
@dataclass
class _RowMapper:
    """Turns cells into a validated record: {field: value, "attributes": {...}}; raises ContactError."""

    headers: list[str]
    options: ImportOptions
    default_tz: tzinfo = UTC
    email_index: int = -1
    # columns sorted by kind once, so the per-row loop does no dispatching on names
    text_columns: list[tuple[int, str, int]] = field(default_factory=list)
    attribute_columns: list[tuple[int, str]] = field(default_factory=list)
    other_columns: list[tuple[int, str]] = field(default_factory=list)
    mapped: dict[int, str] = field(default_factory=dict)  # column index -> target, for the text rule

    def __post_init__(self) -> None:
        for key, target in self.options.mapping.items():
            if not key.isdigit() or not target:
                continue
            index = int(key)
            if index >= len(self.headers):
                raise ImportFileError(f"column {index + 1} does not exist in this file")
            self.mapped[index] = target
            if target == "email":
                if self.email_index >= 0:
                    raise ImportFileError("only one column can be the email address")
                self.email_index = index
            elif target.startswith("attributes."):
                self.attribute_columns.append((index, target[11:]))
            elif target in MAX_LENGTHS:
                self.text_columns.append((index, target, MAX_LENGTHS[target]))
            else:
                self.other_columns.append((index, target))
        if self.email_index < 0:
            raise ImportFileError("Choose the column that holds the email address.")

    def record(self, row: list[str]) -> dict[str, Any]:
        width = len(self.headers)
        if len(row) != width:
            if len(row) > width and "".join(row[width:]).strip():
                raise ContactError(f"{len(row)} fields but the header has {width} (an unquoted comma?)")
            row = (row + [""] * width)[:width]
        if text_problem("".join(row), "row", multiline=True) is not None:
            self.check_cells(row)  # the slow path, only for a row with a control or broken character
        raw_email = row[self.email_index]
        email = normalize_email(raw_email)
        if email is None:
            if not raw_email.strip():
                raise ContactError("email is missing")
            raise ContactError(f"invalid email address {raw_email.strip()[:100]!r}")
        rec: dict[str, Any] = {"email": email}
        # empty cells are left out: they never overwrite what the database already knows
        for index, target, limit in self.text_columns:
            value = row[index].strip()
            if value:
                if len(value) > limit:
                    raise ContactError(f"{target} is too long ({len(value)} characters, at most {limit})")
                rec[target] = value
        if self.attribute_columns:
            attributes = {}
            for index, key in self.attribute_columns:
                value = row[index].strip()
                if value:
                    attributes[key] = coerce_attribute(value)
            if attributes:
                rec["attributes"] = attributes
        for index, target in self.other_columns:
            value = row[index].strip()
            if not value:
                continue
            if target == "full_name":
                first, last = split_full_name(value)
                if first:
                    rec.setdefault("first_name", check_length("first_name", first))
                if last:
                    rec.setdefault("last_name", check_length("last_name", last))
            elif target == "timezone":
                rec["timezone"] = clean_timezone(value)
            elif target == "stage":
                rec["stage"] = parse_stage(value).value  # plain text: the bulk writer binds raw values
            elif target == "consent_at":
                rec["consent_at"] = parse_datetime(value, self.default_tz)
        return rec


    def check_cells(self, row: list[str]) -> None:
        """Raise ContactError naming the column of the first mapped cell the text rule refuses
        (campaigns.text: broken characters, e.g. bytes that were not text in the file's encoding, NUL and
        other control characters). Line breaks and tabs pass: a quoted cell may hold them, and names fold
        them. Unmapped columns are never stored, so they are not checked."""
        for index, target in sorted(self.mapped.items()):
            problem = text_problem(row[index], target.removeprefix("attributes."), multiline=True)
            if problem is not None:
                raise ContactError(str(problem))


def _merge(into: dict[str, Any], later: dict[str, Any]) -> None:
    """A later row for the same address (update mode): its non-empty values win, attributes merge."""
    for key, value in later.items():
        if key == "_line":
            continue  # the merged record keeps the first row's line
        if key == "attributes":
            into["attributes"] = {**into.get("attributes", {}), **value}
        elif key != "email":  # a later spelling (Lead@ after lead@) does not rename the contact
            into[key] = value


# ------------------------------------------------------------------ the import engine
@dataclass
class _Counts:
    rows: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    duplicates: int = 0
    failed: int = 0

    def add(self, other: _Counts) -> None:
        for name in ("rows", "created", "updated", "skipped", "duplicates", "failed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class _Plan:
    """What one chunk would do: rows to insert, rows to update, and the counts."""

    creates: list[dict[str, Any]] = field(default_factory=list)
    updates: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (contact id, record)
    counts: _Counts = field(default_factory=_Counts)
    # Rows repeating an address met earlier in the file: listed for the marketer, never silently merged
    # away ({line, email, first_line (None when the first was in an earlier chunk), merged}).
    repeats: list[dict[str, Any]] = field(default_factory=list)
    new_hashes: list[int] = field(default_factory=list)


def _repeat(rec: dict[str, Any], first_line: int | None, merged: bool) -> dict[str, Any]:
    """A repeated row as the import page lists it: its values were merged into the first row's (update
    mode) or ignored, the first row kept (skip mode)."""
    return {"line": rec.get("_line"), "email": rec["email"], "first_line": first_line, "merged": merged}


def _plan_chunk(
    session: Session | None, records: list[dict[str, Any]], update_existing: bool, seen: set[int]
) -> _Plan:
    """Decide create / update / skip / duplicate for a chunk, with one lookup of existing addresses."""
    plan = _Plan()
    # keyed by the folded address: Lead@ and lead@ in one file, or in the file and the database, are one
    # contact (the first spelling is kept), as contact_by_email treats them
    by_email: dict[str, dict[str, Any]] = {}
    earlier: set[str] = set()  # addresses already met in an earlier chunk of this file
    for rec in records:
        email = ascii_lower_text(rec["email"])
        if email in by_email:
            plan.counts.duplicates += 1
            plan.repeats.append(_repeat(rec, by_email[email].get("_line"), update_existing))
            if update_existing:
                _merge(by_email[email], rec)
            continue
        by_email[email] = rec
        if hash(email) in seen:
            earlier.add(email)
    existing: dict[str, int] = {}
    if session is not None and by_email:
        existing = _BulkWriter(session).existing_ids(list(by_email))
    for email, rec in by_email.items():
        if email in earlier:
            plan.counts.duplicates += 1
            plan.repeats.append(_repeat(rec, None, update_existing))
            if update_existing and email in existing:
                plan.updates.append((existing[email], rec))
            continue
        plan.new_hashes.append(hash(email))
        if email in existing:
            if update_existing:
                plan.updates.append((existing[email], rec))
                plan.counts.updated += 1
            else:
                plan.counts.skipped += 1
        else:
            plan.creates.append(rec)
            plan.counts.created += 1
    return plan


def _copy_text(rows: list[tuple[Any, ...]]) -> str:
    """Rows in PostgreSQL's COPY text format, built in one go (psycopg's write_row adapts value by value,
    which cost more than the server's work). Values are str, int or None here."""
    lines = []
    for row in rows:
        lines.append("\t".join([
            "\\N" if v is None
            else (v.translate(_COPY_ESCAPES) if "\\" in v or not v.isprintable() else v) if v.__class__ is str
            else str(v)
            for v in row
        ]))
    lines.append("")
    return "\n".join(lines)


class _BulkWriter:
    """Bulk writes on the session's own DBAPI connection (same transaction): COPY on PostgreSQL,
    executemany on SQLite. SQLAlchemy's per-row parameter processing cost more than the database work
    here, so values are converted as the column types would: UTC timestamps, JSON text, enum values."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.pg = session.get_bind().dialect.name == "postgresql"
        self.mark = "%s" if self.pg else "?"

    def _cursor(self) -> Any:
        return self.session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]

    def timestamp(self, value: datetime) -> str:
        if self.pg:
            return value.isoformat()  # COPY text; the UPDATE casts its parameter
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's SQLite format, naive UTC

    @staticmethod
    def json(value: dict[str, Any]) -> str:
        return _encode_json(value) if value else "{}"

    def insert(self, rows: list[tuple[Any, ...]]) -> None:
        cur = self._cursor()
        columns = ", ".join(_INSERT_COLUMNS)
        try:
            if self.pg:
                with cur.copy(f"COPY contacts ({columns}) FROM STDIN") as copy:
                    copy.write(_copy_text(rows))
            else:
                marks = ", ".join("?" * len(_INSERT_COLUMNS))
                cur.executemany(f"INSERT INTO contacts ({columns}) VALUES ({marks})", rows)
        finally:
            cur.close()

    def existing_ids(self, keys: list[str]) -> dict[str, int]:
        """{folded address: contact id} for the stored contacts with these folded addresses (the oldest
        where several differ only in case): one query per chunk, served by ix_contacts_email_folded."""
        if not keys:
            return {}
        folded = str(ascii_lower(Contact.email).compile(dialect=self.session.get_bind().dialect,
                                                        compile_kwargs={"include_table": False}))
        cur = self._cursor()
        try:
            if self.pg:
                cur.execute(f"SELECT {folded}, id FROM contacts WHERE {folded} = ANY(%s) ORDER BY id DESC", (keys,))
            else:
                cur.execute(f"SELECT {folded}, id FROM contacts WHERE {folded} IN ({', '.join('?' * len(keys))}) "
                            "ORDER BY id DESC", keys)
            return dict(cur.fetchall())  # descending ids: the oldest contact's id is the one kept
        finally:
            cur.close()

    def lookup(self, table: str, column: str, emails: list[str]) -> dict[str, Any]:
        """{email: column} for the rows of `table` with these addresses. PostgreSQL gets one array
        parameter: psycopg rewrites a query with 5,000 placeholders slower than the server runs it."""
        if not emails:
            return {}
        cur = self._cursor()
        try:
            if self.pg:
                cur.execute(f"SELECT email, {column} FROM {table} WHERE email = ANY(%s)", (emails,))
            else:
                cur.execute(f"SELECT email, {column} FROM {table} WHERE email IN ({', '.join('?' * len(emails))})",
                            emails)
            return dict(cur.fetchall())
        finally:
            cur.close()

    def refresh_search_text(self, ids: list[int]) -> None:
        """Recompute contacts.search_text (campaigns.search_text) of these contacts from their stored fields,
        after an update merged new cells into them."""
        if not ids:
            return
        cur = self._cursor()
        try:
            columns = "id, email, first_name, last_name, company, job_title"
            if self.pg:
                cur.execute(f"SELECT {columns} FROM contacts WHERE id = ANY(%s)", (ids,))
            else:
                cur.execute(f"SELECT {columns} FROM contacts WHERE id IN ({', '.join('?' * len(ids))})", ids)
            rows = [(contact_search_text(*r[1:]), r[0]) for r in cur.fetchall()]
            cur.executemany(f"UPDATE contacts SET search_text = {self.mark} WHERE id = {self.mark}", rows)
        finally:
            cur.close()

    def update(self, rows: list[tuple[Any, ...]], now: Any, default_source: str) -> None:
        """Rows of (id, *_UPDATE_COLUMNS, attributes JSON, consent_at, consent_source); NULL = keep.

        A contact without a consent record gets the import's; one that has a record keeps it.
        PostgreSQL: COPY into a temporary table and one UPDATE ... FROM; SQLite: executemany."""
        cols = _UPDATE_COLUMNS
        cur = self._cursor()
        try:
            if self.pg:
                cur.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS import_updates (id bigint, "
                    + ", ".join(f"{c} text" for c in cols)
                    + ", attributes jsonb, consent_at timestamptz, consent_source text) ON COMMIT DELETE ROWS"
                )
                with cur.copy(f"COPY import_updates (id, {', '.join(cols)}, attributes, consent_at, consent_source)"
                              " FROM STDIN") as copy:
                    copy.write(_copy_text(rows))
                sets = ", ".join(f"{c} = COALESCE(u.{c}, c.{c})" for c in cols)
                cur.execute(
                    f"UPDATE contacts AS c SET {sets}, "
                    "attributes = CASE WHEN u.attributes IS NULL THEN c.attributes ELSE c.attributes || u.attributes END, "
                    "consent_at = COALESCE(c.consent_at, u.consent_at, %(now)s::timestamptz), "
                    "consent_method = CASE WHEN c.consent_at IS NULL THEN 'import' ELSE c.consent_method END, "
                    "consent_source = CASE WHEN c.consent_at IS NULL THEN COALESCE(u.consent_source, %(src)s) "
                    "ELSE COALESCE(u.consent_source, c.consent_source) END, "
                    "updated_at = %(now)s::timestamptz FROM import_updates AS u WHERE c.id = u.id",
                    {"now": now, "src": default_source},
                )
            else:
                sets = ", ".join(f"{c} = COALESCE(?, {c})" for c in cols)
                # SET expressions all see the row as it was, so "consent_at IS NULL" means "had no record"
                cur.executemany(
                    f"UPDATE contacts SET {sets}, attributes = json_patch(attributes, COALESCE(?, '{{}}')), "
                    "consent_at = COALESCE(consent_at, ?, ?), "
                    "consent_method = CASE WHEN consent_at IS NULL THEN 'import' ELSE consent_method END, "
                    "consent_source = CASE WHEN consent_at IS NULL THEN COALESCE(?, ?) "
                    "ELSE COALESCE(?, consent_source) END, updated_at = ? WHERE id = ?",
                    [(*r[1:-2], r[-2], now, r[-1], default_source, r[-1], now, r[0]) for r in rows],
                )
        finally:
            cur.close()


def _apply_plan(session: Session, plan: _Plan, options: ImportOptions, filename: str) -> None:
    """Write a planned chunk in bulk: one INSERT (COPY) batch, then UPDATE batches grouped by columns."""
    writer = _BulkWriter(session)
    now = writer.timestamp(now_utc())
    source = options.source
    if plan.creates:
        # addresses here are normalised already: their suppression key is the fold alone
        keys = {r["email"]: ascii_lower_text(r["email"]) for r in plan.creates}
        suppressed = writer.lookup("suppressions", "reason", list(set(keys.values())))
        active, cold = ContactStatus.ACTIVE.value, Stage.COLD.value
        consent_source, consent_text = source or filename, options.consent_text
        rows: list[tuple[Any, ...]] = []
        for rec in plan.creates:
            email = rec["email"]
            reason = suppressed.get(keys[email])
            status = SUPPRESSION_STATUS[reason].value if reason in SUPPRESSION_STATUS else active
            consent_at = rec.get("consent_at")
            rows.append((
                email, rec.get("first_name", ""), rec.get("last_name", ""), rec.get("company", ""),
                rec.get("job_title", ""), rec.get("source", source), rec.get("timezone"),
                writer.json(rec.get("attributes", {})), status, rec.get("stage", cold), 0,
                # Consent record (Act on Specified Electronic Mail): when, how and where it was obtained.
                writer.timestamp(consent_at) if consent_at else now, "import",
                rec.get("consent_source", consent_source), rec.get("consent_text", consent_text), now, now,
                contact_search_text(email, rec.get("first_name"), rec.get("last_name"), rec.get("company"),
                                    rec.get("job_title")),
            ))
        writer.insert(rows)
    if plan.updates:
        rows = []
        for contact_id, rec in plan.updates:
            attributes = rec.get("attributes")
            consent_at = rec.get("consent_at")
            rows.append((
                contact_id, *[rec.get(k) for k in _UPDATE_COLUMNS],
                writer.json(attributes) if attributes else None,
                writer.timestamp(consent_at) if consent_at else None, rec.get("consent_source"),
            ))
        writer.update(rows, now, source or filename)
        writer.refresh_search_text([cid for cid, rec in plan.updates if _SEARCHED.intersection(rec)])


def _chunks(
    rows: Iterator[tuple[int, list[str]]], mapper: _RowMapper, counts: _Counts, errors: list[dict[str, Any]]
) -> Iterator[list[dict[str, Any]]]:
    """Valid records in chunks of CHUNK_ROWS; bad rows are counted and (the first ones) listed."""
    chunk: list[dict[str, Any]] = []
    email_index = mapper.email_index
    for line, row in rows:
        counts.rows += 1
        try:
            record = mapper.record(row)
            record["_line"] = line  # for the list of repeated rows; the writers read named columns only
            chunk.append(record)
        except ContactError as exc:
            counts.failed += 1
            if len(errors) < MAX_STORED_ERRORS:
                raw = row[email_index].strip()[:100] if email_index < len(row) else ""
                # kept in the job's JSON and shown on its page: a broken character there must not fail either
                errors.append({"line": line, "email": storable(raw, multiline=False), "reason": storable(str(exc))})
        if len(chunk) >= CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _default_tz(session: Session | None) -> tzinfo:
    account = session.get(Account, 1) if session is not None else None
    try:
        return zone(account.timezone) if account and account.timezone else UTC
    except (KeyError, ValueError):
        return UTC


def preview_import(
    path: str, options: dict[str, Any], session: Session | None = None, limit: int | None = None,
    sample_rows: int = 10,
) -> dict[str, Any]:
    """Dry run: encoding, headers, suggested mapping, first rows, bad rows and would-be counts.

    Writes nothing. With a session the counts are checked against the database (import page, CLI
    --dry-run); `limit` stops after that many rows (the web preview of a very large file).
    """
    opts = ImportOptions.parse(options)
    stream = CsvStream(path, opts.encoding)
    try:
        suggested = suggest_mapping(stream.headers)
        if not any(opts.mapping.values()):
            opts.mapping = suggested
        result: dict[str, Any] = {
            "encoding": stream.encoding, "delimiter": stream.delimiter, "headers": stream.headers,
            "suggested_mapping": suggested, "mapping": opts.mapping, "sample": [], "errors": [],
            "rows": 0, "would_create": 0, "would_update": 0, "would_skip": 0, "duplicates": 0,
            "repeats": [], "failed": 0, "truncated": False, "fatal": "",
        }
        try:
            mapper = _RowMapper(stream.headers, opts, _default_tz(session))
        except ImportFileError as exc:
            result["fatal"] = str(exc)
            for _line, row in stream.rows():
                if len(result["sample"]) >= sample_rows:
                    break
                result["sample"].append(row)
            return result
        counts, errors, seen = _Counts(), list[dict[str, Any]](), set[int]()
        repeats: list[dict[str, Any]] = []
        sample: list[list[str]] = result["sample"]

        def rows_with_sample() -> Iterator[tuple[int, list[str]]]:
            for item in stream.rows():
                if limit is not None and counts.rows >= limit:
                    result["truncated"] = True
                    return
                if len(sample) < sample_rows:
                    sample.append(item[1])
                yield item

        for chunk in _chunks(rows_with_sample(), mapper, counts, errors):
            plan = _plan_chunk(session, chunk, opts.update_existing, seen)
            seen.update(plan.new_hashes)
            counts.add(plan.counts)
            repeats.extend(plan.repeats[:max(0, MAX_STORED_ERRORS - len(repeats))])
        result["repeats"] = repeats
        result.update(
            rows=counts.rows, would_create=counts.created, would_update=counts.updated,
            would_skip=counts.skipped, duplicates=counts.duplicates, failed=counts.failed, errors=errors,
        )
        return result
    finally:
        stream.close()


def start_import(session: Session, path: str, filename: str, options: dict[str, Any],
                 owns_file: bool = False) -> ImportJob:
    """Record an import job for an uploaded file (import view, CLI); the caller commits, then enqueues.

    `owns_file`: the file is an upload of ours, deleted when the import has ended."""
    if not os.path.isfile(path):
        raise ImportFileError("the uploaded file is missing")
    opts = ImportOptions.parse(options)
    stream = CsvStream(path, opts.encoding)  # refuse a file or mapping that cannot work, before queueing
    try:
        _RowMapper(stream.headers, opts)
    finally:
        stream.close()
    job = ImportJob(
        filename=filename[:255], path=path, options=opts.as_dict(), status=ImportStatus.PENDING,
        bytes_total=os.path.getsize(path), errors=[], owns_file=owns_file,
    )
    session.add(job)
    session.flush()
    return job


def run_import(svc: Services, import_id: int) -> None:
    """Run an import job to the end, committing each chunk with its progress (RQ job, CLI)."""
    session = svc.db.factory()
    try:
        job = session.get(ImportJob, import_id)
        if job is None or job.status in (ImportStatus.DONE, ImportStatus.FAILED):
            return
        job.status = ImportStatus.RUNNING
        job.started_at = job.heartbeat_at = now_utc()
        job.attempts += 1
        session.commit()
        try:
            _run(session, job)
        except ImportFileError as exc:
            session.rollback()
            job.status, job.message, job.finished_at = ImportStatus.FAILED, str(exc), now_utc()
            session.commit()
        except Exception:
            session.rollback()
            job.status, job.finished_at = ImportStatus.FAILED, now_utc()
            job.message = "The import stopped because of an internal error; it has been logged."
            session.commit()
            raise
        finally:
            if job.status in (ImportStatus.DONE, ImportStatus.FAILED):
                _discard_upload(job)
    finally:
        session.close()


def _discard_upload(job: ImportJob) -> None:
    if job.owns_file:
        try:
            os.unlink(job.path)
        except OSError:
            pass


def recover_stalled_imports(session: Session, now: datetime) -> list[int]:
    """Imports whose worker died (no progress for IMPORT_STALL): back to pending to run again, or failed
    after IMPORT_MAX_ATTEMPTS; returns the ids to enqueue (scheduler). Running again from the start is
    safe: rows already written are found by address and updated or skipped like any duplicate."""
    stalled = session.scalars(
        select(ImportJob).where(
            ImportJob.status == ImportStatus.RUNNING,
            func.coalesce(ImportJob.heartbeat_at, ImportJob.started_at, ImportJob.created_at) < now - IMPORT_STALL,
        ).with_for_update(skip_locked=True)
    ).all()
    again = []
    for job in stalled:
        try:
            if job.attempts >= IMPORT_MAX_ATTEMPTS or not os.path.isfile(job.path):
                job.status, job.finished_at = ImportStatus.FAILED, now
                job.message = (f"The import stopped {job.attempts} times without finishing (the worker running it "
                               "ended); the rows imported so far are kept.")
                _discard_upload(job)
            else:
                job.status = ImportStatus.PENDING
                job.message = "The worker running this import stopped; it was restarted from the beginning."
                again.append(job.id)
        except Exception:  # one job's data (e.g. a path that cannot exist) fails that job only
            log.exception("import %s could not be restarted; it is marked failed", job.id)
            job.status, job.finished_at = ImportStatus.FAILED, now
            job.message = IMPORT_RESTART_FAILED
    return again


def _put(q: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _parsed_chunks(
    stream: CsvStream, mapper: _RowMapper
) -> Iterator[tuple[list[dict[str, Any]], int, int, list[dict[str, Any]], int]]:
    """Chunks parsed in a thread while the caller writes the previous one: the database's work (and
    SQLite's C code) runs without the GIL, so parsing and writing overlap. Yields (records, rows read
    so far, bad rows so far, new error entries, bytes read); the last item may have no records."""
    q: queue.Queue[Any] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def produce() -> None:
        counts, errors, sent = _Counts(), list[dict[str, Any]](), 0
        try:
            for chunk in _chunks(stream.rows(), mapper, counts, errors):
                if not _put(q, (chunk, counts.rows, counts.failed, errors[sent:], stream.bytes_done), stop):
                    return
                sent = len(errors)
            if _put(q, ([], counts.rows, counts.failed, errors[sent:], stream.bytes_done), stop):
                _put(q, _END, stop)
        except BaseException as exc:  # handed to the writing thread, which raises it
            _put(q, exc, stop)

    thread = threading.Thread(target=produce, name="import-parser", daemon=True)
    thread.start()
    try:
        while (item := q.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def _run(session: Session, job: ImportJob) -> None:
    opts = ImportOptions.parse(job.options)
    stream = CsvStream(job.path, opts.encoding)
    try:
        job.encoding = stream.encoding
        mapper = _RowMapper(stream.headers, opts, _default_tz(session))
        total, errors, seen = _Counts(), list[dict[str, Any]](), set[int]()
        repeats: list[dict[str, Any]] = []
        dbapi_integrity = session.get_bind().dialect.dbapi.IntegrityError  # type: ignore[union-attr]  # raw COPY/executemany raise these
        for chunk, rows, failed, new_errors, bytes_done in _parsed_chunks(stream, mapper):
            if chunk:
                for attempt in range(3):
                    plan = _plan_chunk(session, chunk, opts.update_existing, seen)
                    try:
                        _apply_plan(session, plan, opts, job.filename)
                        break
                    except (IntegrityError, dbapi_integrity):
                        # another writer created one of these addresses meanwhile: look them up again
                        session.rollback()
                        if attempt == 2:
                            raise
                seen.update(plan.new_hashes)
                for name in ("created", "updated", "skipped", "duplicates"):
                    setattr(total, name, getattr(total, name) + getattr(plan.counts, name))
                if plan.repeats and len(repeats) < MAX_STORED_ERRORS:
                    repeats.extend(plan.repeats[:MAX_STORED_ERRORS - len(repeats)])
                    job.repeats = list(repeats)
            total.rows, total.failed = rows, failed
            if new_errors:
                errors.extend(new_errors)
                job.errors = list(errors)
            _progress(job, total, bytes_done)
            session.commit()
        job.total_rows = total.rows
        job.status = ImportStatus.DONE
        job.finished_at = now_utc()
        session.commit()
        log.info("import %s done: %s", job.id, total)
    finally:
        stream.close()


def _progress(job: ImportJob, total: _Counts, bytes_done: int) -> None:
    job.heartbeat_at = now_utc()
    job.processed = total.rows
    job.created, job.updated, job.skipped = total.created, total.updated, total.skipped
    job.duplicates, job.failed = total.duplicates, total.failed
    job.bytes_done = bytes_done


def import_status(job: ImportJob) -> dict[str, Any]:
    """The small JSON the progress page polls (import views)."""
    return {
        "id": job.id, "status": str(job.status), "percent": job.percent, "processed": job.processed,
        "created": job.created, "updated": job.updated, "skipped": job.skipped,
        "duplicates": job.duplicates, "failed": job.failed, "message": job.message,
        "done": job.status in (ImportStatus.DONE, ImportStatus.FAILED),
    }
