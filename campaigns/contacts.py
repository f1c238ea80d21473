"""Contacts: normalisation, upsert, CSV import with de-duplication, suppression, segments (rules -> SQL).

Contract:
- normalize_email(raw) -> str | None
- upsert_contact(session, data: dict, update_existing=True) -> tuple[Contact, bool created]
- is_suppressed(session, email) -> bool; suppress(session, email, reason, detail="") -> None
- start_import(session, path, filename, options) -> ImportJob; run_import(svc, import_id) -> None
- segment_contact_ids(rules) -> Select (ids of matching active contacts); count_segment(session, rules) -> int
"""
