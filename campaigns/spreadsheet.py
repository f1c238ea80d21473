"""CSV for spreadsheets: the one rule that keeps a cell from running as a formula, and CSV text Excel reads.

Every CSV Nurture hands out (reports, KPI tables, contact exports, bulk exports, an import's refused rows)
holds text people typed into forms or files; a name typed as "=HYPERLINK(...)" must open as text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

# OWASP's CSV injection advice, plus the full-width signs Japanese input methods type.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def csv_safe(value: Any) -> Any:
    """A cell value that spreadsheet programs will not run as a formula.

    Numbers stay numbers; text starting with = + - @ (also full-width) or a control character gets
    a leading apostrophe, which Excel and LibreOffice show as plain text.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Rows as CSV text with a BOM (Excel in Japan reads UTF-8 only with it), every cell made safe."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([csv_safe(h) for h in header])
    for row in rows:
        writer.writerow([csv_safe(v) for v in row])
    return out.getvalue()
