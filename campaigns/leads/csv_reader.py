"""Reading CSV files of leads: encoding detection (UTF-8, Shift_JIS/CP932), delimiter, a streaming row reader."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator

from campaigns.leads.contacts import ContactError
from campaigns.text import storable

# ------------------------------------------------------------------ CSV files
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))

ENCODINGS = ("auto", "utf-8", "cp932")
MOSTLY_UTF8 = 0.25  # at most this share of a file's non-ASCII bytes broken and it is read as UTF-8
_ASCII = bytes(range(128))
_ESCAPED = re.compile("[\udc80-\udcff]")  # what the surrogateescape error handler makes of a bad byte


class ImportFileError(ContactError):
    """A file that cannot be imported at all (encoding, no header, no email column)."""


def detect_encoding(path: str) -> str:
    """The file's encoding: UTF-8 (BOM or not), UTF-16 with BOM, or Shift_JIS/CP932 (Excel in Japan)."""
    with open(path, "rb") as f:
        head = f.read(4)
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    # Decode the whole file incrementally (1 MiB at a time): a CP932 file may look like ASCII
    # for its first thousand rows, and this costs well under a second per 100 MB.
    broken, non_ascii = _utf8_damage(path)
    # UTF-8 with a few broken characters is still UTF-8 (CP932 would read all of its Japanese as
    # nonsense): the rows holding them are reported with their line numbers and the rest imports.
    if broken <= non_ascii * MOSTLY_UTF8:
        return "utf-8"
    decoder = codecs.getincrementaldecoder("cp932")()
    try:
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                decoder.decode(block)
        decoder.decode(b"", final=True)
        return "cp932"
    except UnicodeDecodeError:
        pass
    raise ImportFileError("The file is neither UTF-8 nor Shift_JIS (CP932) text. Save it as CSV UTF-8.")


def _utf8_damage(path: str) -> tuple[int, int]:
    """(bytes that are not UTF-8, bytes outside ASCII) of a file: a real CP932 file has most of its
    non-ASCII bytes broken as UTF-8, a UTF-8 file with a damaged cell a handful."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
    broken = non_ascii = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            non_ascii += len(block.translate(None, _ASCII))
            broken += len(_ESCAPED.findall(decoder.decode(block)))
    broken += len(_ESCAPED.findall(decoder.decode(b"", final=True)))
    return broken, non_ascii


def _delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", "\t", ";")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


class CsvStream:
    """A CSV file read row by row, with the physical line where each record starts and bytes read."""

    def __init__(self, path: str, encoding: str) -> None:
        self.encoding = detect_encoding(path) if encoding == "auto" else encoding
        self.raw = open(path, "rb", buffering=0)  # noqa: SIM115  (closed by close())
        # A byte that is not text in the encoding becomes a lone surrogate (surrogateescape) instead of
        # stopping the whole file: the text rule then refuses that cell, so its row is reported with its
        # line number and every other row imports (campaigns.leads.imports).
        self.text = io.TextIOWrapper(io.BufferedReader(self.raw, 1 << 16), encoding=self.encoding, newline="",
                                     errors="surrogateescape")
        try:
            try:
                first = self.text.readline()
            except UnicodeDecodeError:
                raise ImportFileError(f"The file is not valid {self.encoding} text.") from None
            self.delimiter = _delimiter(first)
            self.text.seek(0)  # start over (a BOM is skipped again) so csv reads the file object directly
            self.reader = csv.reader(self.text, delimiter=self.delimiter)
            # Headers become attribute names and page text: a broken character is shown as U+FFFD.
            self.headers = [storable(h, multiline=False).strip() for h in self._next() or []]
            if not any(self.headers):
                raise ImportFileError("The file is empty or has no header row.")
        except BaseException:
            self.close()
            raise
        self._line = self.reader.line_num

    def _next(self) -> list[str] | None:
        try:
            return next(self.reader)
        except StopIteration:
            return None
        except UnicodeDecodeError:
            raise ImportFileError(
                f"The file is not valid {self.encoding} text near line {self.reader.line_num + 1}."
            ) from None
        except csv.Error as exc:
            raise ImportFileError(f"Line {self.reader.line_num}: the CSV cannot be read ({exc}).") from None

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """(line number where the record starts, cells) for every non-blank record after the header."""
        reader, line = self.reader, self._line
        try:
            for row in reader:
                start, line = line + 1, reader.line_num
                if row and "".join(row).strip():  # Excel leaves rows of empty cells at the end
                    yield start, row
        except UnicodeDecodeError:
            raise ImportFileError(
                f"The file is not valid {self.encoding} text near line {reader.line_num + 1}."
            ) from None
        except csv.Error as exc:
            raise ImportFileError(f"Line {reader.line_num}: the CSV cannot be read ({exc}).") from None

    @property
    def bytes_done(self) -> int:
        return self.raw.tell()

    def close(self) -> None:
        if not self.text.closed:
            self.text.close()  # also closes the raw file beneath it
        self.raw.close()
