"""Raw tar header blocks read the way node-tar reads them.

:mod:`assay.npm.tarball` iterates an archive with Python's :mod:`tarfile`, then re-reads every
member's raw header chain with these functions, the way node-tar (which npm installs with) would,
and refuses the archive where the two readings could differ: checksums (node-tar refuses a signed
one), numeric fields (``parseInt``-style octal only), the ustar ``prefix`` (POSIX headers only),
pax records (strict ``<length> <key>=<value>\n``; keywords whose meaning differs are refused) and
GNU long names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from assay.errors import TarballError

__all__ = [
    "BLOCK",
    "HeaderChain",
    "check_checksum",
    "node_view",
    "parse_long_name",
    "parse_pax",
    "strict_number",
]

BLOCK = 512
_POSIX_MAGIC = b"ustar\x0000"
# pax keywords whose meaning differs between node-tar and Python tarfile, or that describe
# things we refuse anyway (links, sparse files, non-UTF-8 names).
_REFUSED_PAX_KEYS = frozenset({"linkpath", "mode", "hdrcharset"})
_STRICT_OCTAL = re.compile(rb" *([0-7]*) *[ \0]*")
_PAX_DECIMAL = re.compile(r"[0-9]+")


@dataclass
class HeaderChain:
    """What the extension headers before one member say, read the node-tar way."""

    pax: dict[str, str] = field(default_factory=dict)
    long_name: str | None = None


def check_checksum(block: bytes, name: str) -> None:
    """node-tar accepts only the unsigned header checksum (Python also accepts a signed one)."""
    stored = strict_number(block[148:156], "checksum", name)
    computed = 8 * 0x20 + sum(block[:148]) + sum(block[156:])
    if stored != computed:
        raise TarballError("tar header checksum mismatch", path=name)


def strict_number(raw: bytes, what: str, name: str) -> int:
    """A numeric header field, accepted only in forms node-tar and Python read identically."""
    if raw[:1] == b"\x80":  # base-256, positive
        return int.from_bytes(raw[1:], "big")
    match = _STRICT_OCTAL.fullmatch(raw)
    if match is None:
        raise TarballError(f"malformed tar header {what} field", path=name)
    return int(match.group(1) or b"0", 8)


def node_view(header: bytes, chain: HeaderChain, name: str) -> tuple[str, int]:
    """The path and size node-tar reads from a member's header block and its extensions."""
    check_checksum(header, name)
    if header[157:257].strip(b"\0"):
        raise TarballError("non-link entry carries a link target", path=name)
    size = strict_number(header[124:136], "size", name)
    if "size" in chain.pax:
        size = int(chain.pax["size"])
    if "path" in chain.pax:
        return chain.pax["path"], size
    if chain.long_name is not None:
        return chain.long_name, size
    raw_name = header[0:100].split(b"\0", 1)[0]
    prefix_field = header[345:500]
    if header[257:265] == _POSIX_MAGIC:
        prefix = (prefix_field if header[475] else prefix_field[:130]).split(b"\0", 1)[0]
        if prefix:
            raw_name = prefix + b"/" + raw_name
    elif prefix_field.strip(b"\0"):
        # Python applies the prefix field to any header; node-tar only to POSIX ustar ones.
        raise TarballError("prefix field in a non-POSIX tar header", path=name)
    try:
        return raw_name.decode("utf-8"), size
    except UnicodeDecodeError as exc:
        raise TarballError("entry name is not valid UTF-8", path=name) from exc


def parse_pax(payload: bytes, name: str) -> dict[str, str]:
    """Parse pax records strictly: back to back, well formed, then only NUL padding.

    node-tar splits records on newlines and skips malformed ones; Python stops at the first
    malformed one. Accepting only well-formed input makes the two agree.
    """
    records: dict[str, str] = {}
    at = 0
    while at < len(payload) and payload[at] != 0:
        space = payload.find(b" ", at, at + 20)
        digits = payload[at:space] if space > at else b""
        if not digits.isdigit():
            raise TarballError("malformed pax header record", path=name)
        end = at + int(digits)
        record = payload[space + 1 : end]
        if end > len(payload) or not record.endswith(b"\n"):
            raise TarballError("malformed pax header record", path=name)
        key, sep, value = record[:-1].partition(b"=")
        if not sep or not key or b"\n" in value or b"\0" in value:
            raise TarballError("malformed pax header record", path=name)
        try:
            text_key, text_value = key.decode("utf-8"), value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TarballError("pax header record is not UTF-8", path=name) from exc
        if text_key in _REFUSED_PAX_KEYS or text_key.startswith("GNU.sparse"):
            raise TarballError("unsupported pax header keyword", path=name, keyword=text_key)
        if text_key == "size" and not _PAX_DECIMAL.fullmatch(text_value):
            raise TarballError("malformed pax size", path=name)
        records[text_key] = text_value
        at = end
    if payload[at:].count(0) != len(payload) - at:
        raise TarballError("malformed pax header padding", path=name)
    return records


def parse_long_name(payload: bytes, name: str) -> str:
    """A GNU long name: the name, then only NULs (node-tar and Python cut at NUL differently)."""
    text, _, rest = payload.partition(b"\0")
    if rest.count(0) != len(rest):
        raise TarballError("malformed GNU long name", path=name)
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TarballError("entry name is not valid UTF-8", path=name) from exc
