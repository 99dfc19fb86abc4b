"""Read an npm package tarball (``.tgz``) safely, from bytes, without unpacking it.

What npm does with a tarball, and so what this reader must agree with:

* pacote extracts with node-tar and ``strip: 1`` (pacote ``lib/fetcher.js``): the first path
  segment of every entry is dropped, whatever it is. ``npm pack`` writes ``package/``, but
  tarballs made by other tools use other names (``node/``, the package name, ...), so the
  prefix is *the first segment*, not the literal ``package``. ``package.json`` is then read from
  the stripped root. An archive whose entries have different first segments would be flattened
  by ``strip: 1`` into one tree (two ``package.json`` files could overwrite each other), so we
  require a single prefix and refuse anything else.
* pacote skips link entries (``/Link$/`` filter) and node-tar skips devices and FIFOs; node-tar
  refuses ``..`` segments and strips absolute roots. We refuse all of these outright: a registry
  should not accept an archive whose meaning depends on the extractor's forgiveness.
* node-tar and Python's :mod:`tarfile` do not parse every header the same way (node-tar skips a
  block whose checksum fails and keeps going, Python accepts a *signed* checksum, Python reads
  ``int("1_0", 8)`` where node reads ``parseInt`` digits, Python applies the ustar ``prefix``
  field to GNU headers and node-tar only to POSIX ones, the two read malformed pax records
  differently). Any such difference lets an archive show the registry one file list and install
  another. So besides iterating with :mod:`tarfile`, we re-read every raw header block the way
  node-tar does and refuse the archive when the two readings could differ.

Limits are enforced while streaming: the gzip stream is inflated on demand by a reader that
counts both sides, so a decompression bomb is stopped after a bounded amount of work instead of
after it has filled memory.
"""

from __future__ import annotations

import json
import re
import tarfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import IO, Any, cast

from assay.errors import TarballError
from assay.npm.tar_header import (
    BLOCK,
    HeaderChain,
    check_checksum,
    node_view,
    parse_long_name,
    parse_pax,
    strict_number,
)

__all__ = [
    "DEFAULT_LIMITS",
    "README_NAMES",
    "TarballContents",
    "TarballEntry",
    "TarballLimits",
    "read_tarball",
]

_MiB = 1024 * 1024

# Extension headers (pax ``x``/``g``, GNU ``L``) that npm tarballs carry are a few hundred bytes
# (a long path). Anything larger is refused rather than buffered.
_MAX_EXTENSION_BYTES = 64 * 1024
# The reader keeps the raw bytes of the current member's header chain so they can be re-read the
# node-tar way; tarfile reads ahead by at most one record (10 KiB). Past this the chain is hostile.
_MAX_WINDOW_BYTES = _MAX_EXTENSION_BYTES + 64 * 1024

_FILE_TYPES = frozenset({b"0", b"\0", b"7"})  # node-tar: File, OldFile, ContiguousFile
_DIR_TYPE = b"5"
_DRIVE = re.compile(r"[A-Za-z]:")
# README files npm shows, in the order it prefers them (read-package-json `readme` step).
README_NAMES = ("readme.md", "readme", "readme.markdown", "readme.txt", "readme.rst")


@dataclass(frozen=True)
class TarballLimits:
    """Resource limits for :func:`read_tarball`; the defaults suit any real npm package."""

    max_entries: int = 10_000
    """Entries (files and directories) in the archive."""
    max_unpacked_bytes: int = 256 * _MiB
    """Bytes of the inflated tar stream (headers included), and of all file sizes together."""
    max_ratio: int = 200
    """Inflated bytes per compressed byte consumed so far, checked continuously."""
    ratio_grace_bytes: int = 1 * _MiB
    """The ratio is only checked past this many inflated bytes: a small archive is mostly tar
    padding, which legitimately compresses far better than 200:1."""
    max_package_json_bytes: int = 1 * _MiB
    """Size of ``package.json``."""
    max_readme_bytes: int = 64 * 1024
    """Bytes of the README kept (npmjs.org truncates stored READMEs at 64 KiB as well)."""

    def __post_init__(self) -> None:
        for name in (
            "max_entries",
            "max_unpacked_bytes",
            "max_ratio",
            "max_package_json_bytes",
            "max_readme_bytes",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"TarballLimits.{name} must be positive")
        if self.ratio_grace_bytes < 0:
            raise ValueError("TarballLimits.ratio_grace_bytes must not be negative")


@dataclass(frozen=True)
class TarballEntry:
    """One regular file of the package, as ``npm pack --json`` lists it."""

    path: str
    """Path inside the package, without the top-level folder (``lib/index.js``)."""
    size: int
    mode: int
    """Permission bits from the header (``0o644``, ``0o755``)."""


@dataclass(frozen=True)
class TarballContents:
    """What a tarball holds; only :func:`read_tarball` builds one, so it is always valid."""

    prefix: str
    """The single top-level folder (``package`` for everything ``npm pack`` makes)."""
    package_json: Mapping[str, Any]
    """The parsed ``<prefix>/package.json`` (a JSON object)."""
    package_json_bytes: bytes
    files: tuple[TarballEntry, ...]
    """Regular files in archive order; directories are not listed."""
    entry_count: int
    """All entries, directories included (``npm pack --json`` ``entryCount`` counts files only,
    because npm tarballs have no directory entries)."""
    unpacked_size: int
    """Sum of the file sizes (``unpackedSize``)."""
    compressed_size: int = field(repr=False)
    readme: str | None = field(default=None, repr=False)
    """The top-level README npm shows (:data:`README_NAMES` order), at most
    ``max_readme_bytes`` of it, decoded as UTF-8; read in the same pass, so a caller never
    inflates the archive again for it."""

    def file(self, path: str) -> TarballEntry | None:
        """The entry at `path` (without prefix), if any."""
        for entry in self.files:
            if entry.path == path:
                return entry
        return None


DEFAULT_LIMITS = TarballLimits()


def read_tarball(data: bytes, limits: TarballLimits = DEFAULT_LIMITS) -> TarballContents:
    """Parse an npm tarball from `data`, refusing anything unsafe or malformed.

    Raises :class:`~assay.errors.TarballError` for every malformed or hostile input; no other
    exception escapes for any `data`.
    """
    try:
        return _TarballReader(bytes(data), limits).read()
    except TarballError:
        raise
    except zlib.error as exc:
        raise TarballError(f"corrupt gzip stream: {exc}") from exc
    except (tarfile.TarError, EOFError) as exc:
        raise TarballError(f"corrupt tar archive: {exc}") from exc
    except (OSError, ValueError, UnicodeError, OverflowError, RecursionError) as exc:
        raise TarballError(f"malformed tarball: {exc}") from exc


class _InflatingReader:
    """A file-like object that inflates a gzip stream on demand and enforces the limits.

    It counts compressed bytes consumed and inflated bytes produced, so the ratio is known at
    every step, and keeps a window of recent inflated bytes (from a movable mark) so that raw tar
    headers can be re-read after :mod:`tarfile` has parsed them.
    """

    _CHUNK = 16 * 1024

    def __init__(self, data: bytes, limits: TarballLimits) -> None:
        self._data = data
        self._limits = limits
        self._fed = 0  # compressed bytes handed to the current inflater
        self._inflater = zlib.decompressobj(wbits=31)  # gzip only, as npm writes
        self._members = 0
        self._eof = False
        self.inflated = 0
        self._window = bytearray()
        self._window_start = 0
        self._mark = 0
        if not data.startswith(b"\x1f\x8b"):
            raise TarballError("not a gzip stream (npm tarballs are .tgz)")

    # -- file protocol, as tarfile's stream mode uses it

    def read(self, size: int = -1) -> bytes:
        out = bytearray()
        while not self._eof and (size < 0 or len(out) < size):
            want = self._CHUNK if size < 0 else min(size - len(out), self._CHUNK)
            out += self._inflate(want)
        return bytes(out)

    # -- window of raw inflated bytes

    def set_mark(self, offset: int) -> None:
        """Forget inflated bytes before `offset`."""
        self._mark = max(self._mark, offset)
        self._trim()

    def window(self, start: int, end: int) -> bytes:
        """Inflated bytes [start, end); they must still be in the window."""
        if start < self._window_start or end > self._window_start + len(self._window):
            raise TarballError("tar header chain is too large to check", offset=start)
        return bytes(self._window[start - self._window_start : end - self._window_start])

    def _trim(self) -> None:
        drop = min(self._mark - self._window_start, len(self._window))
        if drop > 0:
            del self._window[:drop]
            self._window_start += drop
        if len(self._window) > _MAX_WINDOW_BYTES:
            raise TarballError("tar extension headers are too large", offset=self._window_start)

    # -- inflation

    def _consumed(self) -> int:
        pending = len(self._inflater.unconsumed_tail)
        if self._inflater.eof:
            pending += len(self._inflater.unused_data)
        return self._fed - pending

    def _inflate(self, max_out: int) -> bytes:
        # zlib errors are raised as TarballError here: tarfile would re-wrap them as ReadError
        try:
            return self._inflate_chunk(max_out)
        except zlib.error as exc:
            raise TarballError(f"corrupt gzip stream: {exc}", inflated=self.inflated) from exc

    def _inflate_chunk(self, max_out: int) -> bytes:
        while True:
            if self._inflater.eof:
                if not self._next_member():
                    self._eof = True
                    return b""
                continue
            tail = self._inflater.unconsumed_tail
            if tail:
                chunk = self._inflater.decompress(tail, max_out)
            elif self._fed < len(self._data):
                src = self._data[self._fed : self._fed + self._CHUNK]
                self._fed += len(src)
                chunk = self._inflater.decompress(src, max_out)
            else:
                raise TarballError(
                    "truncated gzip stream", compressed_size=len(self._data), inflated=self.inflated
                )
            if chunk:
                self._account(chunk)
                return chunk

    def _next_member(self) -> bool:
        """After a gzip member ends: start the next member, or accept only zero padding.

        Node's gunzip (zlib.cc) continues into concatenated members and stops at a zero byte;
        we accept both, and refuse any other trailing data rather than ignore it.
        """
        self._members += 1
        rest_at = self._consumed()
        rest = self._data[rest_at:]
        if not rest or rest.count(0) == len(rest):
            return False
        if not rest.startswith(b"\x1f\x8b"):
            raise TarballError("unexpected data after the gzip stream", offset=rest_at)
        self._inflater = zlib.decompressobj(wbits=31)
        self._fed = rest_at
        return True

    def _account(self, chunk: bytes) -> None:
        self.inflated += len(chunk)
        limits = self._limits
        if self.inflated > limits.max_unpacked_bytes:
            raise TarballError(
                "tarball inflates past the size limit",
                limit=limits.max_unpacked_bytes,
                inflated=self.inflated,
            )
        if self.inflated > limits.ratio_grace_bytes:
            consumed = max(self._consumed(), 1)
            if self.inflated > limits.max_ratio * consumed:
                raise TarballError(
                    "compression ratio too high (decompression bomb?)",
                    ratio=self.inflated // consumed,
                    limit=limits.max_ratio,
                    inflated=self.inflated,
                    compressed=consumed,
                )
        self._window += chunk
        self._trim()


class _TarballReader:
    def __init__(self, data: bytes, limits: TarballLimits) -> None:
        self._limits = limits
        self._compressed = len(data)
        self._reader = _InflatingReader(data, limits)
        self._prefix: str | None = None
        self._files: list[TarballEntry] = []
        self._file_paths: set[str] = set()
        self._dir_paths: set[str] = set()
        self._entries = 0
        self._unpacked = 0
        self._package_json: bytes | None = None
        self._readmes: dict[str, bytes] = {}  # lower-case name -> the last such file's start
        self._expected = 0  # where the next member's header chain must start

    def read(self) -> TarballContents:
        reader = self._reader
        # Stream mode ("r|") over our inflating reader, not "r|gz": tarfile's own gzip layer
        # would hide the byte counts the limits need.
        with tarfile.open(fileobj=cast(IO[bytes], reader), mode="r|") as archive:
            for member in archive:
                self._member(archive, member)
        self._check_end()
        if self._prefix is None:
            raise TarballError("tarball has no entries")
        if self._package_json is None:
            raise TarballError("tarball has no package.json", path=f"{self._prefix}/package.json")
        manifest = _parse_package_json(self._package_json, f"{self._prefix}/package.json")
        readme = next((self._readmes[n] for n in README_NAMES if n in self._readmes), None)
        return TarballContents(
            prefix=self._prefix,
            package_json=MappingProxyType(manifest),
            package_json_bytes=self._package_json,
            files=tuple(self._files),
            entry_count=self._entries,
            unpacked_size=self._unpacked,
            compressed_size=self._compressed,
            readme=None if readme is None else readme.decode("utf-8", errors="replace"),
        )

    # -- one member

    def _member(self, archive: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        self._entries += 1
        if self._entries > self._limits.max_entries:
            raise TarballError("too many entries in tarball", limit=self._limits.max_entries)
        name = member.name
        self._refuse_type(member)
        header_at = member.offset_data - BLOCK
        chain = self._read_chain(self._expected, header_at, name)
        node_name, node_size = node_view(
            self._reader.window(header_at, member.offset_data), chain, name
        )
        is_dir = member.type == _DIR_TYPE
        if is_dir:
            node_name = node_name.rstrip("/")
        if node_name != name:
            raise TarballError(
                "tar header is read differently by npm (node-tar) and by us",
                path=name,
                npm_path=node_name,
            )
        path = self._check_path(name, is_dir=is_dir)
        data_end = member.offset_data
        if not is_dir:
            if node_size != member.size:
                raise TarballError(
                    "tar header size is read differently by npm (node-tar) and by us", path=name
                )
            self._unpacked += member.size
            if self._unpacked > self._limits.max_unpacked_bytes:
                raise TarballError(
                    "files in tarball exceed the size limit",
                    limit=self._limits.max_unpacked_bytes,
                    path=name,
                )
            data_end += -(-member.size // BLOCK) * BLOCK
            self._files.append(TarballEntry(path=path, size=member.size, mode=member.mode & 0o7777))
        # Move the window past this member before its data is read (package.json below, or
        # tarfile skipping it on the next iteration), so file data never piles up there.
        self._expected = data_end
        self._reader.set_mark(data_end)
        if path == "package.json" and not is_dir:
            self._package_json = self._read_package_json(archive, member)
        elif not is_dir and path.lower() in README_NAMES:
            self._readmes[path.lower()] = self._read_start(archive, member)

    @staticmethod
    def _refuse_type(member: tarfile.TarInfo) -> None:
        name = member.name
        if member.issym():
            raise TarballError("symbolic links are not allowed in a tarball", path=name)
        if member.islnk():
            raise TarballError("hard links are not allowed in a tarball", path=name)
        if member.ischr() or member.isblk():
            raise TarballError("device files are not allowed in a tarball", path=name)
        if member.isfifo():
            raise TarballError("FIFOs are not allowed in a tarball", path=name)
        if member.issparse():
            raise TarballError("sparse files are not allowed in a tarball", path=name)
        if member.type not in _FILE_TYPES and member.type != _DIR_TYPE:
            raise TarballError(
                "unsupported tar entry type", path=name, type=member.type.decode("latin-1")
            )
        if member.linkname:
            # node-tar: "linkpath forbidden" on a non-link skips the header block and parses the
            # entry's data as headers, which would hide entries from us.
            raise TarballError("non-link entry carries a link target", path=name)

    def _check_path(self, name: str, *, is_dir: bool) -> str:
        """Return `name` without its prefix, refusing anything npm would treat differently."""
        if any("\udc80" <= ch <= "\udcff" for ch in name):
            raise TarballError("entry name is not valid UTF-8", path=name)
        if "\\" in name:
            # Windows clients treat backslashes as separators: "a\..\..\x" is a traversal there.
            raise TarballError("backslash in entry name", path=name)
        if name.startswith("/"):
            raise TarballError("absolute path in tarball", path=name)
        if _DRIVE.match(name):
            raise TarballError("drive-letter path in tarball", path=name)
        segments = name.split("/")
        if ".." in segments:
            raise TarballError("'..' segment in tarball path", path=name)
        if "" in segments or "." in segments:
            raise TarballError("empty or '.' segment in tarball path", path=name)
        head, rest = segments[0], "/".join(segments[1:])
        if self._prefix is None:
            self._prefix = head
        elif head != self._prefix:
            raise TarballError(
                "entry outside the tarball's single top-level folder",
                path=name,
                prefix=self._prefix,
            )
        if not rest:
            if not is_dir:
                raise TarballError("file in place of the top-level folder", path=name)
            return rest
        if rest in self._file_paths or (not is_dir and rest in self._dir_paths):
            raise TarballError("duplicate or conflicting entry in tarball", path=name)
        parents = segments[1:-1]
        for depth in range(1, len(parents) + 1):
            parent = "/".join(parents[:depth])
            if parent in self._file_paths:
                raise TarballError("entry below a file in tarball", path=name)
            self._dir_paths.add(parent)
        if is_dir:
            self._dir_paths.add(rest)
        else:
            self._file_paths.add(rest)
        return rest

    def _read_package_json(self, archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
        limit = self._limits.max_package_json_bytes
        if member.size > limit:
            raise TarballError("package.json is too large", path=member.name, limit=limit)
        handle = archive.extractfile(member)
        if handle is None:  # pragma: no cover - only regular files reach here
            raise TarballError("package.json is not a regular file", path=member.name)
        with handle:
            content = handle.read()
        if len(content) != member.size:
            raise TarballError("package.json is truncated", path=member.name)
        return content

    def _read_start(self, archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
        handle = archive.extractfile(member)
        if handle is None:  # pragma: no cover - only regular files reach here
            return b""
        with handle:
            return handle.read(self._limits.max_readme_bytes)

    # -- the raw headers, read the way node-tar reads them

    def _read_chain(self, start: int, header_at: int, name: str) -> HeaderChain:
        """Check the extension headers in [start, header_at) and return what they set."""
        chain = HeaderChain()
        seen: set[bytes] = set()
        at = start
        while at < header_at:
            block = self._reader.window(at, at + BLOCK)
            check_checksum(block, name)
            kind = block[156:157]
            size = strict_number(block[124:136], "size", name)
            if size > _MAX_EXTENSION_BYTES:
                raise TarballError("tar extension header is too large", path=name, size=size)
            payload = self._reader.window(at + BLOCK, at + BLOCK + size)
            if kind in seen and kind != b"g":
                raise TarballError("repeated tar extension header", path=name)
            seen.add(kind)
            if kind == b"x":
                chain.pax = parse_pax(payload, name)
            elif kind == b"g":
                records = parse_pax(payload, name)
                if set(records) - {"comment"}:
                    # node-tar never applies a global path; Python does. Refuse what could differ.
                    raise TarballError("global pax header sets file attributes", path=name)
            elif kind == b"L":
                chain.long_name = parse_long_name(payload, name)
            else:
                raise TarballError(
                    "unexpected tar extension header", path=name, type=kind.decode("latin-1")
                )
            at += BLOCK + -(-size // BLOCK) * BLOCK
        if at != header_at:
            raise TarballError("tar header chain is inconsistent", path=name)
        if "path" in chain.pax and chain.long_name is not None:
            raise TarballError("both pax and GNU long names for one entry", path=name)
        return chain

    def _check_end(self) -> None:
        """Everything after the last member must be zero padding (node-tar reads past a single
        zero block, Python stops at it), and the gzip stream must end cleanly (CRC checked)."""
        reader = self._reader
        if reader.inflated < self._expected:
            raise TarballError("truncated tar archive", inflated=reader.inflated)
        tail = reader.window(self._expected, reader.inflated)
        while True:
            if tail.count(0) != len(tail):
                raise TarballError("data after the end of the tar archive", offset=self._expected)
            reader.set_mark(reader.inflated)
            tail = reader.read(64 * 1024)
            if not tail:
                return


def _parse_package_json(content: bytes, path: str) -> dict[str, Any]:
    """Parse package.json as npm does (a BOM is allowed; NaN and Infinity are not JSON)."""
    try:
        text = content.decode("utf-8").removeprefix("\ufeff")
        value = json.loads(text, parse_constant=_refuse_constant)
    except UnicodeDecodeError as exc:
        raise TarballError("package.json is not UTF-8", path=path) from exc
    except (ValueError, RecursionError) as exc:
        raise TarballError(f"package.json is not valid JSON: {exc}", path=path) from exc
    if not isinstance(value, dict):
        raise TarballError("package.json is not a JSON object", path=path)
    return value


def _refuse_constant(token: str) -> Any:
    raise ValueError(f"{token} is not JSON")
