"""Ordering: ICU root collation, as ``localeCompare(…, 'en')`` and ``Intl.Collator`` use it.

npm-packlist sorts the files it packs with ``localeCompare(…, 'en')`` (compressibility), and
``npm pack --json`` lists them with ``Intl.Collator('en', {sensitivity: 'case', numeric:
true})``; both are ICU collation in Node. :func:`collation_key` reproduces it exactly for ASCII
names and approximately beyond (base letter, then accents, then case).
"""

from __future__ import annotations

import unicodedata
from typing import Final, TypeAlias

__all__ = ["CollationKey", "collation_key"]


# Primary order of printable ASCII under ICU's root collation (punctuation is not ignorable);
# letters compare case-insensitively at this level. Measured with Node's localeCompare.
_ICU_ASCII: Final = " _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$0123456789abcdefghijklmnopqrstuvwxyz"
_ICU_RANK: Final = {ch: i for i, ch in enumerate(_ICU_ASCII)}
_DIGIT_RANK: Final = _ICU_RANK["0"]
CollationKey: TypeAlias = (
    "tuple[tuple[tuple[int, int], ...], tuple[tuple[int, ...], ...], tuple[int, ...]]"
)


def collation_key(text: str, *, numeric: bool = False) -> CollationKey:
    """A sort key approximating ICU collation (primary, secondary, tertiary levels).

    Exact for ASCII names; other characters sort by their base letter then accents (NFD), and
    after all ASCII when they have no ASCII base. Control characters are ignorable.
    """
    primary: list[tuple[int, int]] = []
    secondary: list[tuple[int, ...]] = []
    tertiary: list[int] = []
    decomposed = unicodedata.normalize("NFD", text)
    i = 0
    while i < len(decomposed):
        ch = decomposed[i]
        i += 1
        marks: list[int] = []
        while i < len(decomposed) and unicodedata.combining(decomposed[i]):
            marks.append(ord(decomposed[i]))
            i += 1
        if unicodedata.category(ch) == "Cc":
            continue
        if numeric and ch.isascii() and ch.isdigit():
            start = i - 1
            while i < len(decomposed) and decomposed[i].isascii() and decomposed[i].isdigit():
                i += 1
            primary.append((_DIGIT_RANK, int(decomposed[start:i])))
            secondary.append(())
            tertiary.append(0)
            continue
        folded = ch.lower()
        rank = _ICU_RANK.get(folded)
        primary.append((rank, 0) if rank is not None else (len(_ICU_ASCII) + ord(folded), 0))
        secondary.append(tuple(marks))
        tertiary.append(1 if ch != folded else 0)  # ICU: lower case first
    return tuple(primary), tuple(secondary), tuple(tertiary)
