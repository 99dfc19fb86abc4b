"""Bash-style brace expansion, as the brace-expansion package (v2) expands minimatch patterns.

minimatch expands braces before it parses a pattern (``a{b,c}`` → ``ab``, ``ac``), so an ignore
line such as ``/readme{,.*[^~$]}`` (npm-packlist's strict rules) becomes several globs. This is
a port of brace-expansion ``expand`` with balanced-match's pairing, capped, like minimatch, at a
thousand results.
"""

from __future__ import annotations

import re

__all__ = ["brace_expand"]


_BRACE_PAIR = re.compile(r"\{(?:(?!\{).)*\}")
_MAX_EXPANSIONS = 1000


def brace_expand(pattern: str) -> list[str]:
    """Bash-style brace expansion as the brace-expansion package does it: ``a{b,c}`` and
    sequences ``{1..3}``/``{a..c}``; ``\\{``, ``\\}``, ``\\,`` and ``\\.`` are literal."""
    if not _BRACE_PAIR.search(pattern):
        return [pattern]
    if pattern.startswith("{}"):
        pattern = "\\{\\}" + pattern[2:]
    protected = _protect_braces(pattern)
    return [_unprotect_braces(s) for s in _expand(protected, top=True)][:_MAX_EXPANSIONS]


_ESC = {"\\\\": "\0S\0", "\\{": "\0O\0", "\\}": "\0C\0", "\\,": "\0M\0", "\\.": "\0P\0"}
_UNESC = {"\0S\0": "\\", "\0O\0": "{", "\0C\0": "}", "\0M\0": ",", "\0P\0": "."}


def _protect_braces(s: str) -> str:
    for raw, token in _ESC.items():
        s = s.replace(raw, token)
    return s


def _unprotect_braces(s: str) -> str:
    for token, raw in _UNESC.items():
        s = s.replace(token, raw)
    return s


def _balanced(s: str) -> tuple[str, str, str] | None:
    """balanced-match: the first ``{…}`` pair, or the innermost one when braces don't balance."""
    ai = s.find("{")
    bi = s.find("}", ai + 1)
    if ai < 0 or bi <= 0:
        return None
    begs: list[int] = []
    left, right = len(s), -1
    i = ai
    result: tuple[int, int] | None = None
    while i >= 0 and result is None:
        if i == ai:
            begs.append(i)
            ai = s.find("{", i + 1)
        elif len(begs) == 1:
            result = (begs.pop(), bi)
        else:
            beg = begs.pop()
            if beg < left:
                left, right = beg, bi
            bi = s.find("}", i + 1)
        i = ai if 0 <= ai < bi else bi
    if result is None and begs and right >= 0:
        result = (left, right)
    if result is None:
        return None
    start, end = result
    return s[:start], s[start + 1 : end], s[end + 1 :]


def _comma_parts(body: str) -> list[str]:
    """Split a brace body on top-level commas (nested ``{…}`` stay whole)."""
    if not body:
        return [""]
    found = _balanced(body)
    if found is None:
        return body.split(",")
    pre, inner, post = found
    parts = pre.split(",")
    parts[-1] += "{" + inner + "}"
    rest = _comma_parts(post)
    if post:
        parts[-1] += rest.pop(0)
        parts.extend(rest)
    return parts


_NUMERIC_SEQ = re.compile(r"-?[0-9]+\.\.-?[0-9]+(?:\.\.-?[0-9]+)?")
_ALPHA_SEQ = re.compile(r"[a-zA-Z]\.\.[a-zA-Z](?:\.\.-?[0-9]+)?")


def _sequence(body: str, alpha: bool) -> list[str]:
    parts = body.split("..")

    def num(s: str) -> int:
        return int(s) if re.fullmatch(r"-?[0-9]+", s) else ord(s[0])

    start, end = num(parts[0]), num(parts[1])
    step = max(abs(num(parts[2])), 1) if len(parts) == 3 else 1
    width = max(len(parts[0]), len(parts[1]))
    pad = any(re.match(r"-?0[0-9]", p) for p in parts)
    if end < start:
        step = -step
    out: list[str] = []
    i = start
    while (i <= end if step > 0 else i >= end) and len(out) < _MAX_EXPANSIONS:
        if alpha:
            text = chr(i) if chr(i) != "\\" else ""
        else:
            text = str(i)
            if pad and len(text) < width:
                zeros = "0" * (width - len(text))
                text = "-" + zeros + text[1:] if i < 0 else zeros + text
        out.append(text)
        i += step
    return out


def _expand(s: str, *, top: bool) -> list[str]:
    acc = [""]
    drop_empties = False
    first = True
    while True:
        found = _balanced(s)
        if found is None:
            return _combine(acc, s, [""], drop_empties)
        pre, body, post = found
        if pre.endswith("$"):
            acc = _combine(acc, pre + "{" + body + "}", [""], drop_empties and not post)
            first = False
            if not post:
                return acc
            s = post
            continue
        is_seq = bool(_NUMERIC_SEQ.fullmatch(body) or _ALPHA_SEQ.fullmatch(body))
        if not is_seq and "," not in body:
            if re.search(r",(?!,).*\}", post):
                s = pre + "{" + body + "\0C\0" + post
                top = True
                continue
            return _combine(acc, pre + "{" + body + "}" + post, [""], drop_empties)
        if first:
            drop_empties = top and not is_seq
            first = False
        values: list[str]
        if is_seq:
            values = _sequence(body, alpha=bool(_ALPHA_SEQ.fullmatch(body)))
        else:
            parts = _comma_parts(body)
            if len(parts) == 1:
                parts = ["{" + p + "}" for p in _expand(parts[0], top=False)]
                if len(parts) == 1:
                    acc = _combine(acc, pre + parts[0], [""], drop_empties and not post)
                    if not post:
                        return acc
                    s = post
                    continue
            skip_empty = drop_empties and not post and not pre and not any(acc)
            values = []
            for part in parts:
                values.extend(v for v in _expand(part, top=False) if v or not skip_empty)
        acc = _combine(acc, pre, values, drop_empties and not post)
        if not post:
            return acc
        s = post


def _combine(acc: list[str], pre: str, values: list[str], drop_empties: bool) -> list[str]:
    out: list[str] = []
    for a in acc:
        for v in values:
            joined = a + pre + v
            if drop_empties and not joined:
                continue
            out.append(joined)
            if len(out) >= _MAX_EXPANSIONS:
                return out
    return out
