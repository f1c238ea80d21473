"""Personal names: the one rule for which names put the family name first, used both ways.

Japanese, Chinese and Korean names are written family name first (佐藤 一郎, 김 민수, ﾔﾏﾀﾞ ﾀﾛｳ), others
given name first (Emily Smith). `split_full_name` reads one name cell that way (CSV imports, forms
with a single name field) and `display_name` writes first/last back the same way (contact pages, the
To: header, `contact.name` in templates, the sales hand-over). Both ask `family_name_first`, so a name
is never stored in one order and shown in the other.
"""

from __future__ import annotations

import re

# Han (with extension A and compatibility ideographs), hiragana and katakana (full and half width) and
# Hangul syllables: a name written in any of them puts the family name first.
_FAMILY_FIRST_SCRIPTS = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\uac00-\ud7af]"
)


def family_name_first(text: str) -> bool:
    """True when a name in this text is written family name first (the scripts above)."""
    return _FAMILY_FIRST_SCRIPTS.search(text) is not None


def split_full_name(name: str) -> tuple[str, str]:
    """(first, last) from one name cell: family name first where the script says so, given name first
    otherwise (CSV import's full_name column)."""
    parts = name.replace("\u3000", " ").split()
    if not parts:
        return "", ""
    if family_name_first(name):
        if len(parts) == 1:
            return "", parts[0]  # no separator: cannot split safely, keep it whole as the family name
        return " ".join(parts[1:]), parts[0]
    if len(parts) == 1:
        return parts[0], ""
    return " ".join(parts[:-1]), parts[-1]


def display_name(first_name: str | None, last_name: str | None) -> str:
    """A person's name as its own language writes it: 佐藤 一郎 for Japanese, Chinese and Korean names,
    Emily Smith otherwise (contact pages, lists, the To: header, `contact.name`, the hand-over mail)."""
    first, last = (first_name or "").strip(), (last_name or "").strip()
    parts = (last, first) if family_name_first(first + last) else (first, last)
    return " ".join(p for p in parts if p)
