"""Search text: the one folding rule that makes contact search match the way Japanese is typed.

Contract (others code against it):
- fold(text) -> text folded for matching: NFKC (full-width ＡＢＣ and half-width ｶﾀｶﾅ become ABC and
  カタカナ), lower case, hiragana as katakana (かたかな = カタカナ), and no white space at all (「佐藤 一郎」
  and 「佐藤一郎」 are one name)
- contact_search_text(email, first_name, last_name, company, job_title) -> the value stored in
  contacts.search_text: every searchable field folded, names in both orders, fields apart by "|"
- search_words(query) -> the folded words of a search box; a contact matches when its search text
  contains every one (campaigns.audience.contact_filter)

The stored column is written on every contact write: the Contact model recomputes it before each ORM
insert and update (forms, API, upserts, the demo, tests), and the CSV import's bulk paths call
contact_search_text for the rows they write. Migration 0008 keeps a copy of this rule as of its
revision for the backfill. Change the rule here and existing rows need a backfill too.
"""

from __future__ import annotations

import re
import unicodedata

# Hiragana ぁ (U+3041) .. ゖ (U+3096) and the iteration marks ゝゞ sit 0x60 below their katakana.
_KANA = {code: code + 0x60 for code in range(0x3041, 0x3097)} | {0x309D: 0x30FD, 0x309E: 0x30FE}
_SPACE = re.compile(r"\s+")
SEPARATOR = "|"  # between fields: a word never matches across two of them (the separator is folded away in queries)


def fold(text: str) -> str:
    """`text` folded for search: NFKC, lower case, hiragana as katakana, white space removed."""
    folded = unicodedata.normalize("NFKC", text).lower().translate(_KANA)
    return _SPACE.sub("", folded)


def contact_search_text(email: str | None, first_name: str | None, last_name: str | None,
                        company: str | None, job_title: str | None) -> str:
    """The stored search column of a contact (the Contact model on flush; CSV imports in bulk)."""
    first, last = fold(first_name or ""), fold(last_name or "")
    parts = [fold(email or ""), first + last, last + first, fold(company or ""), fold(job_title or "")]
    return SEPARATOR.join(p.replace(SEPARATOR, "") for p in parts)


def search_words(query: str) -> list[str]:
    """The words of a search box, each folded; at most 8, separators dropped (the contact list)."""
    words = []
    for raw in unicodedata.normalize("NFKC", query).split():
        word = fold(raw).replace(SEPARATOR, "")
        if word and word not in words:
            words.append(word)
    return words[:8]
