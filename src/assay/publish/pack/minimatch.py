"""Globs: the subset of minimatch 10 that ignore files use, with ignore-walk's options.

ignore-walk compiles every line of an ignore file with ``matchBase``, ``dot``, ``flipNegate``
and ``nocase``: a pattern without a slash matches the basename at any depth, dot files are not
special, a leading ``!`` flips the result instead of the match, and letters match in either
case. Supported: braces (:mod:`.braces`), ``*``, ``?``, ``**``, classes with POSIX names, and
extglobs ``!(…)``, ``?(…)``, ``+(…)``, ``*(…)``, ``@(…)``. Each function names the minimatch
method it follows.
"""

from __future__ import annotations

import re
from typing import Final, TypeAlias

from assay.publish.pack.braces import brace_expand

__all__ = ["Rule"]


class _Globstar:
    def __repr__(self) -> str:
        return "**"


_GLOBSTAR: Final = _Globstar()
_Part: TypeAlias = "str | re.Pattern[str] | _Globstar"

# POSIX character classes, approximated with Python's (Unicode-aware) classes.
_POSIX_CLASSES: Final = {
    "[:alnum:]": r"[^\W_]",
    "[:alpha:]": r"[^\W\d_]",
    "[:ascii:]": r"[\x00-\x7f]",
    "[:blank:]": r"[ \t\xa0\u1680\u2000-\u200a\u202f\u205f\u3000]",
    "[:cntrl:]": r"[\x00-\x1f\x7f-\x9f]",
    "[:digit:]": r"\d",
    "[:graph:]": r"[^\s\x00-\x1f\x7f-\x9f]",
    "[:lower:]": r"[a-z]",
    "[:print:]": r"[^\x00-\x1f\x7f-\x9f]",
    "[:punct:]": r"[!-/:-@\[-`{-~]",
    "[:space:]": r"\s",
    "[:upper:]": r"[A-Z]",
    "[:word:]": r"\w",
    "[:xdigit:]": r"[A-Fa-f0-9]",
}


def _parse_class(glob: str, pos: int) -> tuple[str, int, bool] | None:
    """A ``[…]`` class at `pos` (minimatch ``parseClass``): (regex, chars consumed, magic), or
    None when it does not close (then ``[`` is a literal)."""
    i = pos + 1
    ranges: list[str] = []
    atoms: list[str] = []
    negate = saw_start = escaping = False
    range_start = ""
    end = -1
    while i < len(glob):
        c = glob[i]
        if c in "!^" and i == pos + 1:
            negate = True
            i += 1
            continue
        if c == "]" and saw_start and not escaping:
            end = i + 1
            break
        saw_start = True
        if c == "\\" and not escaping:
            escaping = True
            i += 1
            continue
        if c == "[" and not escaping:
            for name, atom in _POSIX_CLASSES.items():
                if glob.startswith(name, i):
                    if range_start:
                        return r"(?!)", len(glob) - pos, True
                    atoms.append(atom)
                    i += len(name)
                    break
            else:
                name = ""
            if name:
                continue
        escaping = False
        if range_start:
            if c > range_start:
                ranges.append(re.escape(range_start) + "-" + re.escape(c))
            elif c == range_start:
                ranges.append(re.escape(c))
            range_start = ""
            i += 1
            continue
        if glob.startswith("-]", i + 1):
            ranges.append(re.escape(c) + re.escape("-"))
            i += 2
            continue
        if glob.startswith("-", i + 1):
            range_start = c
            i += 2
            continue
        ranges.append(re.escape(c))
        i += 1
    if end < 0:
        return None
    consumed = end - pos
    if not ranges and not atoms:
        return r"(?!)", consumed, True
    if not atoms and len(ranges) == 1 and not negate and len(ranges[0]) <= 2:
        literal = ranges[0][-1] if len(ranges[0]) == 2 else ranges[0]
        return re.escape(literal), consumed, False
    options = ([f"[{''.join(ranges)}]"] if ranges else []) + atoms
    if negate:
        return "".join(f"(?!{o})" for o in options) + "[^/]", consumed, True
    return (options[0] if len(options) == 1 else "(?:" + "|".join(options) + ")"), consumed, True


_EXTGLOB = "!?+*@"


def _segment_regex(glob: str) -> tuple[str, bool]:
    """Translate one path segment of a glob to a regex body; returns (regex, has magic)."""
    # A segment made only of stars must match something (minimatch ``starNoEmpty``).
    if glob and set(glob) == {"*"}:
        return r"[^/]+?", True
    return _translate(glob, 0, len(glob))


def _translate(glob: str, start: int, stop: int) -> tuple[str, bool]:
    out: list[str] = []
    magic = False
    i = start
    while i < stop:
        c = glob[i]
        if c == "\\":
            if i + 1 >= stop:
                out.append(re.escape("\\"))
            else:
                out.append(re.escape(glob[i + 1]))
            i += 2
            continue
        if c in _EXTGLOB and i + 1 < stop and glob[i + 1] == "(":
            close = _find_group_end(glob, i + 2, stop)
            if close is not None:
                alternatives = [
                    _translate(glob, a, b)[0] for a, b in _split_alternatives(glob, i + 2, close)
                ]
                body = "|".join(alternatives)
                if c == "!":
                    rest, _ = _translate(glob, close + 1, stop)
                    out.append(f"(?:(?!(?:{body}){rest}$)[^/]*?)")
                else:
                    suffix = {"@": "", "?": "?", "+": "+", "*": "*"}[c]
                    out.append(f"(?:{body}){suffix}")
                magic = True
                i = close + 1
                continue
        if c == "*":
            while i < stop and glob[i] == "*":
                i += 1
            out.append(r"[^/]*?")
            magic = True
            continue
        if c == "?":
            out.append(r"[^/]")
            magic = True
            i += 1
            continue
        if c == "[":
            parsed = _parse_class(glob[:stop], i)
            if parsed is not None:
                regex, consumed, class_magic = parsed
                out.append(regex)
                magic = magic or class_magic
                i += consumed
                continue
        out.append(re.escape(c))
        i += 1
    return "".join(out), magic


def _find_group_end(glob: str, i: int, stop: int) -> int | None:
    depth = 0
    while i < stop:
        c = glob[i]
        if c == "\\":
            i += 2
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    return None


def _split_alternatives(glob: str, start: int, stop: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    depth = 0
    i = begin = start
    while i < stop:
        c = glob[i]
        if c == "\\":
            i += 2
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            spans.append((begin, i))
            begin = i + 1
        i += 1
    spans.append((begin, stop))
    return spans


def _compile_part(glob: str) -> _Part:
    if glob == "**":
        return _GLOBSTAR
    if glob == "":
        return ""
    regex, magic = _segment_regex(glob)
    # nocase: any segment with letters is compared case-insensitively (minimatch toMMPattern)
    if not magic and glob.upper() == glob.lower():
        return re.sub(r"\\(.)", r"\1", regex)
    try:
        return re.compile(rf"(?s:{regex})\Z", re.IGNORECASE)
    except re.error:
        return re.compile(r"(?!)")


class Rule:
    """One line of an ignore file, as a minimatch ``Minimatch`` with ignore-walk's options."""

    __slots__ = ("comment", "empty", "glob_parts", "negate", "parts")

    def __init__(self, pattern: str) -> None:
        self.negate = False
        self.comment = pattern.startswith("#")
        self.empty = pattern == ""
        self.glob_parts: list[list[str]] = []
        self.parts: list[list[_Part]] = []
        if self.comment or self.empty:
            return
        bangs = len(pattern) - len(pattern.lstrip("!"))
        self.negate = bangs % 2 == 1
        pattern = pattern[bangs:]
        expanded = list(dict.fromkeys(brace_expand(pattern)))
        self.glob_parts = [_level_one(re.split(r"/+", g)) for g in expanded]
        self.parts = [[_compile_part(p) for p in parts] for parts in self.glob_parts]

    def match(self, path: str, partial: bool = False) -> bool:
        """minimatch ``match`` with ``flipNegate``: True on a hit, whatever the negation."""
        if self.comment:
            return False
        if self.empty:
            return path == ""
        if path == "/" and partial:
            return True
        segments = re.split(r"/+", path)
        filename = next((s for s in reversed(segments) if s), "")
        for parts in self.parts:
            file = [filename] if len(parts) == 1 else segments  # matchBase
            if _match_one(file, parts, partial):
                return True
        return False


def _level_one(parts: list[str]) -> list[str]:
    """minimatch optimizationLevel 1: collapse ``**/**`` and resolve ``x/..``."""
    out: list[str] = []
    for part in parts:
        prev = out[-1] if out else None
        if part == "**" and prev == "**":
            continue
        if part == ".." and prev is not None and prev not in ("..", ".", "**"):
            out.pop()
            continue
        out.append(part)
    return out or [""]


def _part_hit(part: _Part, segment: str) -> bool:
    if isinstance(part, str):
        return part == segment
    if isinstance(part, re.Pattern):
        return part.match(segment) is not None
    return False


def _match_one(file: list[str], pattern: list[_Part], partial: bool) -> bool:
    if any(p is _GLOBSTAR for p in pattern):
        return _match_globstar(file, pattern, partial)
    return _match_plain(file, pattern, partial, 0, 0)


def _match_plain(file: list[str], pattern: list[_Part], partial: bool, fi: int, pi: int) -> bool:
    """minimatch ``#matchOne`` without globstars."""
    while fi < len(file) and pi < len(pattern):
        if not _part_hit(pattern[pi], file[fi]):
            return False
        fi += 1
        pi += 1
    if fi == len(file) and pi == len(pattern):
        return True
    if fi == len(file):
        return partial
    # pattern exhausted: only a trailing "" (a path ending in "/") may remain
    return fi == len(file) - 1 and file[fi] == ""


def _is_dot_segment(segment: str) -> bool:
    # with ``dot: true`` only "." and ".." stop a globstar
    return segment in (".", "..")


def _match_globstar(file: list[str], pattern: list[_Part], partial: bool) -> bool:
    """minimatch ``#matchGlobstar``: head, body sections between ``**``, tail."""
    first = next(i for i, p in enumerate(pattern) if p is _GLOBSTAR)
    last = max(i for i, p in enumerate(pattern) if p is _GLOBSTAR)
    head = pattern[:first]
    if partial:
        body, tail = pattern[first + 1 :], []
    else:
        body, tail = pattern[first + 1 : last], pattern[last + 1 :]
    fi = 0
    if head:
        if not _match_plain(file[: len(head)], head, partial, 0, 0):
            return False
        fi = len(head)
    tail_match = 0
    if tail:
        if len(tail) + fi > len(file):
            return False
        tail_start = len(file) - len(tail)
        if _match_plain(file, tail, partial, tail_start, 0):
            tail_match = len(tail)
        else:
            if file[-1] != "" or fi + len(tail) == len(file):
                return False
            if not _match_plain(file, tail, partial, tail_start - 1, 0):
                return False
            tail_match = len(tail) + 1
    if not body:
        saw_some = bool(tail_match)
        for segment in file[fi : len(file) - tail_match]:
            saw_some = True
            if _is_dot_segment(segment):
                return False
        return partial or saw_some
    sections: list[tuple[list[_Part], int]] = []
    current: list[_Part] = []
    sums = [0]
    count = 0
    for p in body:
        if p is _GLOBSTAR:
            sums.append(count)
            sections.append((current, 0))
            current = []
        else:
            current.append(p)
            count += 1
    sections.append((current, 0))
    file_length = len(file) - tail_match
    n = len(sections) - 1
    sections = [(s, file_length - (sums[n - k] + len(s))) for k, (s, _) in enumerate(sections)]
    found = _match_sections(
        file, sections, fi, 0, partial=partial, depth=0, saw_tail=bool(tail_match)
    )
    return bool(found)


def _match_sections(
    file: list[str],
    sections: list[tuple[list[_Part], int]],
    fi: int,
    index: int,
    *,
    partial: bool,
    depth: int,
    saw_tail: bool,
) -> bool | None:
    """minimatch ``#matchGlobStarBodySections``: False = no, None = no and stop trying."""
    if index >= len(sections):
        for segment in file[fi:]:
            saw_tail = True
            if _is_dot_segment(segment):
                return False
        return saw_tail
    body, after = sections[index]
    while fi <= after:
        hit = _match_plain(file[: fi + len(body)], body, partial, fi, 0)
        if hit and depth < 200:
            sub = _match_sections(
                file,
                sections,
                fi + len(body),
                index + 1,
                partial=partial,
                depth=depth + 1,
                saw_tail=saw_tail,
            )
            if sub is not False:
                return sub
        if fi < len(file) and _is_dot_segment(file[fi]):
            return False
        fi += 1
    return True if partial else None
