"""The tar stream as ``npm pack`` writes it: node-tar 7 headers with pacote's options.

pacote's ``tarCreateOptions``: node-tar with ``prefix: 'package/'``, ``portable: true`` (no
uid/gid/uname/atime/ctime), fixed mtime 1985-10-26T08:15:00Z, only file entries (no directory
entries), pax headers when a path is long or not ASCII, then gzip level 9 with the OS byte set
to 255 (minizlib's portable mode). The uncompressed tar is byte-identical to npm's; the gzip
bytes usually are not, because Node bundles Chromium's zlib, whose deflate picks different
matches than the system zlib Python uses.
"""

from __future__ import annotations

import os
import stat
import zlib
from pathlib import Path
from typing import Final

from assay.errors import PackError

__all__ = ["TarballWriter", "read_regular_file"]


_MTIME: Final = 499162500  # 1985-10-26T08:15:00.000Z (pacote tarCreateOptions)
_MAX_SIZE: Final = 0o77777777777


def read_regular_file(root: Path, relative: str) -> tuple[bytes, int]:
    """Read a listed file without following a symlink that replaced it after the walk (and
    without blocking on a FIFO): the walk skipped links, reading must not undo that."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(root / relative, flags)
    except OSError as exc:
        raise PackError(f"cannot read file: {exc}", path=relative) from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise PackError("file changed while packing", path=relative)
        if st.st_size > _MAX_SIZE:
            raise PackError("file is too large for a tar header", path=relative)
        chunks = []
        while chunk := os.read(fd, 1024 * 1024):
            chunks.append(chunk)
    except OSError as exc:
        raise PackError(f"cannot read file: {exc}", path=relative) from exc
    finally:
        os.close(fd)
    return b"".join(chunks), st.st_mode


def _tar_entry(path: str, mode: int, data: bytes) -> bytes:
    header, need_pax = _header(path, mode=mode, size=len(data), typeflag=b"0")
    parts = []
    if need_pax:
        parts.append(_pax_entry(path, len(data)))
    parts.append(header)
    parts.append(data)
    parts.append(b"\0" * (-len(data) % 512))
    return b"".join(parts)


def _octal(value: int, size: int) -> bytes:
    """node-tar ``encNumber``: zero-padded octal, then a space and a NUL (or just a NUL)."""
    digits = format(value, "o")
    if len(digits) == size - 1:
        return digits.encode("ascii") + b"\0"
    return digits.rjust(size - 2, "0").encode("ascii") + b" \0"


def _put_string(block: bytearray, offset: int, size: int, text: str) -> bool:
    """node-tar ``encString``: UTF-8, cut at a character boundary; True when a pax header is
    needed (the text is not ASCII, or too long)."""
    encoded = text.encode("utf-8")
    if len(encoded) > size:
        cut = size
        while cut > 0 and (encoded[cut] & 0xC0) == 0x80:
            cut -= 1
        encoded = encoded[:cut]
    block[offset : offset + len(encoded)] = encoded
    return len(text) != len(text.encode("utf-8")) or _js_length(text) > size


def _js_length(text: str) -> int:
    """``String.prototype.length``: UTF-16 code units."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _node_dirname(path: str) -> str:
    head, _, _ = path.rstrip("/").rpartition("/")
    if "/" not in path.rstrip("/"):
        return "."
    return head or "/"


def _split_prefix(path: str, prefix_size: int) -> tuple[str, str, bool]:
    """node-tar ``splitPrefix``: move leading directories into the ustar prefix field."""
    if len(path.encode("utf-8")) < 100:
        return path, "", False
    root = "/" if path.startswith("/") else "."
    prefix, name = _node_dirname(path), _node_basename(path)
    while True:
        name_len, prefix_len = len(name.encode("utf-8")), len(prefix.encode("utf-8"))
        if name_len <= 100 and prefix_len <= prefix_size:
            return name, prefix, False
        if name_len > 100 and prefix_len <= prefix_size:
            return _js_slice(name, 99), prefix, True
        name = f"{_node_basename(prefix)}/{name}"
        prefix = _node_dirname(prefix)
        if prefix == root:
            return _js_slice(path, 99), "", True


def _header(path: str, *, mode: int, size: int, typeflag: bytes) -> tuple[bytes, bool]:
    """A 512-byte ustar header as node-tar writes it with ``portable: true``."""
    block = bytearray(512)
    name, prefix, need_pax = _split_prefix(path, 155)
    need_pax = _put_string(block, 0, 100, name) or need_pax
    block[100:108] = _octal(mode, 8)
    # uid, gid (108..124): left empty in portable mode
    block[124:136] = _octal(size, 12)
    block[136:148] = _octal(_MTIME, 12)
    block[156:157] = typeflag
    block[257:265] = b"ustar\x0000"
    # uname, gname (265..329): empty in portable mode
    block[329:337] = _octal(0, 8)  # devmajor
    block[337:345] = _octal(0, 8)  # devminor
    need_pax = _put_string(block, 345, 155, prefix) or need_pax
    checksum = 8 * 0x20 + sum(block[:148]) + sum(block[156:])
    block[148:156] = _octal(checksum, 8)
    return bytes(block), need_pax


def _pax_record(key: str, value: str) -> str:
    body = f" {key}={value}\n"
    length = len(body.encode("utf-8"))
    digits = len(str(length))
    if length + digits >= 10**digits:
        digits += 1
    return f"{length + digits}{body}"


def _pax_entry(path: str, size: int) -> bytes:
    """node-tar ``Pax.encode`` for a portable file entry: path, mtime and size records."""
    body = (
        _pax_record("path", path)
        + _pax_record("mtime", str(_MTIME))
        + _pax_record("size", str(size))
    ).encode("utf-8")
    name = _js_slice("PaxHeader/" + _node_basename(path), 99)
    header, _ = _header(name, mode=0o644, size=len(body), typeflag=b"x")
    return header + body + b"\0" * (-len(body) % 512)


def _js_slice(text: str, units: int) -> str:
    """``String.prototype.slice(0, units)`` (UTF-16 code units; a split pair is dropped)."""
    out = []
    used = 0
    for ch in text:
        width = 2 if ord(ch) > 0xFFFF else 1
        if used + width > units:
            break
        out.append(ch)
        used += width
    return "".join(out)


def _node_basename(path: str) -> str:
    """Node ``path.basename`` (no suffix argument), as node-tar uses it."""
    return path.rstrip("/").rsplit("/", 1)[-1]


class TarballWriter:
    """A gzipped tar written as it is fed, one file entry at a time (node-tar ``Pack`` piped
    through minizlib's ``Gzip`` with ``portable: true``)."""

    def __init__(self) -> None:
        self._compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
        self._out = bytearray()

    def add(self, path: str, mode: int, data: bytes) -> None:
        """A regular file at ``path`` (already prefixed, e.g. ``package/index.js``)."""
        self._out += self._compressor.compress(_tar_entry(path, mode, data))

    def finish(self) -> bytes:
        """The end-of-archive marker, the gzip trailer; the tarball."""
        self._out += self._compressor.compress(b"\0" * 1024)  # node-tar Pack: end of archive
        self._out += self._compressor.flush()
        self._out[9] = 0xFF  # minizlib portable gzip: OS = unknown
        return bytes(self._out)
