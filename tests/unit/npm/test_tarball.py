"""`assay.npm.tarball`: reading npm tarballs, and refusing hostile or malformed ones.

Hostile archives are built here with :mod:`tarfile`, or byte by byte when tarfile cannot write
the trick (signed checksums, GNU headers with a prefix, smuggled entries after a zero block).
"""

from __future__ import annotations

import io
import json
import tarfile
import time
import zlib
from collections.abc import Iterable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay.errors import TarballError
from assay.npm.tarball import TarballContents, TarballLimits, read_tarball
from assay.publish.pack import pack_directory

PACKAGE_JSON = json.dumps({"name": "x", "version": "1.0.0"}).encode()
Member = tuple[tarfile.TarInfo, bytes]


def gz(raw: bytes, level: int = 6) -> bytes:
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)
    return compressor.compress(raw) + compressor.flush()


def member(
    name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, mode: int = 0o644, link: str = ""
) -> Member:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.linkname = link
    info.size = len(data) if kind in (tarfile.REGTYPE, tarfile.AREGTYPE) else 0
    return info, data


def tar(members: Iterable[Member], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if info.size else None)
    return buf.getvalue()


def tgz(*members: Member, fmt: int = tarfile.PAX_FORMAT) -> bytes:
    return gz(tar(members, fmt))


def package(*extra: Member, prefix: str = "package") -> bytes:
    return tgz(member(f"{prefix}/package.json", PACKAGE_JSON), *extra)


def raw_header(
    name: bytes,
    size: int = 0,
    *,
    kind: bytes = b"0",
    magic: bytes = b"ustar\x0000",
    prefix: bytes = b"",
    size_field: bytes | None = None,
    signed_checksum: bool = False,
) -> bytes:
    """One ustar header block, written by hand."""
    block = bytearray(512)
    block[0 : len(name)] = name
    block[100:108] = b"0000644\0"
    block[108:116] = b"0000000\0"
    block[116:124] = b"0000000\0"
    block[124:136] = size_field if size_field is not None else b"%011o\0" % size
    block[136:148] = b"00000000000\0"
    block[156:157] = kind
    block[257:265] = magic
    block[345 : 345 + len(prefix)] = prefix
    block[148:156] = b" " * 8
    if signed_checksum:
        block[200] = 0xFF  # a byte >127 in the (unused) linkname area makes the sums differ
        block[157] = 0  # keep the linkname empty to C readers
        checksum = sum((b - 256) if b > 127 else b for b in block)
    else:
        checksum = sum(block)
    block[148:156] = b"%06o\0 " % checksum
    return bytes(block)


def pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 512)


END = b"\0" * 1024


def refused(data: bytes, match: str, limits: TarballLimits | None = None) -> TarballError:
    with pytest.raises(TarballError, match=match) as caught:
        read_tarball(data, limits) if limits else read_tarball(data)
    return caught.value


# ---------------------------------------------------------------------------------------------
# Reading


def test_reads_an_npm_packed_tarball(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    (root / "lib").mkdir(parents=True)
    (root / "package.json").write_text('{"name": "@s/x", "version": "1.2.3", "bin": "cli.js"}')
    (root / "cli.js").write_text("#!/usr/bin/env node\n")
    (root / "lib" / "a.js").write_text("a\n")
    packed = pack_directory(root)
    contents = read_tarball(packed.tarball)
    assert isinstance(contents, TarballContents)
    assert contents.prefix == "package"
    assert contents.package_json == {"name": "@s/x", "version": "1.2.3", "bin": "cli.js"}
    assert [(f.path, f.mode) for f in contents.files] == [
        ("lib/a.js", 0o644),  # npm-packlist order: extension, then basename
        ("cli.js", 0o755),
        ("package.json", 0o644),
    ]
    assert contents.entry_count == 3
    assert contents.unpacked_size == sum(f.size for f in packed.files)
    assert contents.compressed_size == len(packed.tarball)
    assert contents.file("lib/a.js") is not None
    assert contents.file("nope") is None


def test_package_json_is_read_only() -> None:
    contents = read_tarball(package())
    with pytest.raises(TypeError):
        contents.package_json["name"] = "y"  # type: ignore[index]


def test_readme_is_read_in_the_same_pass() -> None:
    # npm's preference (readme.md first), case-insensitive, top level only, truncated.
    contents = read_tarball(
        package(
            member("package/README.txt", b"text"),
            member("package/docs/README.md", b"nested"),
            member("package/ReadMe.md", b"markdown " * 10),
        ),
        TarballLimits(max_readme_bytes=12),
    )
    assert contents.readme == "markdown mar"
    assert read_tarball(package(member("package/README", b"\xff!"))).readme == "\ufffd!"
    assert read_tarball(package(member("package/docs/README.md", b"x"))).readme is None


def test_any_single_prefix_is_accepted() -> None:
    # npm strips the first segment whatever it is (pacote: tar strip: 1)
    contents = read_tarball(package(member("node/index.js", b"1"), prefix="node"))
    assert contents.prefix == "node"
    assert [f.path for f in contents.files] == ["package.json", "index.js"]


def test_directory_entries_are_counted_not_listed() -> None:
    data = tgz(
        member("package", kind=tarfile.DIRTYPE, mode=0o755),
        member("package/lib", kind=tarfile.DIRTYPE, mode=0o755),
        member("package/lib/a.js", b"a"),
        member("package/package.json", PACKAGE_JSON),
    )
    contents = read_tarball(data)
    assert [f.path for f in contents.files] == ["lib/a.js", "package.json"]
    assert contents.entry_count == 4


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
def test_long_names_in_every_format(fmt: int) -> None:
    # 138 characters: a pax record, a GNU long name, or the ustar prefix field
    long_name = "package/" + "/".join(["d" * 40] * 3) + "/file.js"
    data = tgz(member("package/package.json", PACKAGE_JSON), member(long_name), fmt=fmt)
    assert read_tarball(data).files[1].path == long_name.removeprefix("package/")


def test_gnu_long_name() -> None:
    long_name = "package/" + "n" * 150 + ".js"
    data = tgz(
        member("package/package.json", PACKAGE_JSON), member(long_name), fmt=tarfile.GNU_FORMAT
    )
    assert read_tarball(data).files[1].path == "n" * 150 + ".js"


def test_unicode_names() -> None:
    data = package(member("package/日本語.md", b"x"))
    assert read_tarball(data).files[1].path == "日本語.md"


def test_package_json_with_bom() -> None:
    data = tgz(member("package/package.json", b"\xef\xbb\xbf" + PACKAGE_JSON))
    assert read_tarball(data).package_json["name"] == "x"


def test_concatenated_gzip_members_and_zero_padding() -> None:
    raw = tar([member("package/package.json", PACKAGE_JSON)])
    assert read_tarball(gz(raw[:1024]) + gz(raw[1024:])).package_json["version"] == "1.0.0"
    assert read_tarball(gz(raw) + b"\0" * 100).prefix == "package"


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        TarballLimits(max_entries=0)
    with pytest.raises(ValueError, match="ratio_grace_bytes"):
        TarballLimits(ratio_grace_bytes=-1)


# ---------------------------------------------------------------------------------------------
# Refusing


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("package/../evil.js", r"'\.\.' segment"),
        ("../evil.js", r"'\.\.' segment"),
        ("/etc/passwd", "absolute path"),
        ("package/lib\\..\\..\\evil.js", "backslash"),
        ("C:/evil.js", "drive-letter"),
        ("package//x.js", "empty or '.' segment"),
        ("package/./x.js", "empty or '.' segment"),
        ("other/x.js", "outside the tarball's single top-level folder"),
        ("package", "in place of the top-level folder"),
    ],
)
def test_unsafe_paths(name: str, match: str) -> None:
    error = refused(package(member(name, b"x")), match)
    assert error.details["path"] == name


@pytest.mark.parametrize(
    ("kind", "match"),
    [
        (tarfile.SYMTYPE, "symbolic links"),
        (tarfile.LNKTYPE, "hard links"),
        (tarfile.CHRTYPE, "device files"),
        (tarfile.BLKTYPE, "device files"),
        (tarfile.FIFOTYPE, "FIFOs"),
        (tarfile.CONTTYPE, None),  # contiguous file: a regular file to npm
    ],
)
def test_entry_types(kind: bytes, match: str | None) -> None:
    link = "package/package.json" if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
    data = package(member("package/special", kind=kind, link=link))
    if match is None:
        assert [f.path for f in read_tarball(data).files] == ["package.json", "special"]
    else:
        assert refused(data, match).details["path"] == "package/special"


def test_unknown_entry_type() -> None:
    refused(package(member("package/x", kind=b"Z")), "unsupported tar entry type")


def test_duplicates_and_conflicts() -> None:
    refused(package(member("package/package.json", b"{}")), "duplicate")
    refused(package(member("package/a", b"1"), member("package/a/b", b"2")), "below a file")
    refused(
        package(member("package/a/b", b"1"), member("package/a", b"2")),
        "duplicate or conflicting",
    )


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2, 3]", "not a JSON object"),
        (b'"name"', "not a JSON object"),
        (b'{"version": NaN}', "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    ],
)
def test_bad_package_json(content: bytes, match: str) -> None:
    error = refused(tgz(member("package/package.json", content)), match)
    assert error.details["path"] == "package/package.json"


def test_missing_package_json() -> None:
    refused(tgz(member("package/index.js", b"1")), "no package.json")
    refused(tgz(member("package/lib/package.json", PACKAGE_JSON)), "no package.json")
    refused(tgz(member("package/package.json", kind=tarfile.DIRTYPE)), "no package.json")


def test_empty_archive() -> None:
    refused(gz(END), "no entries")
    refused(gz(b""), "corrupt tar archive|no entries")


def test_package_json_too_large() -> None:
    big = b'{"name": "x", "version": "1.0.0", "pad": "' + b"a" * 2000 + b'"}'
    refused(
        tgz(member("package/package.json", big)),
        "too large",
        TarballLimits(max_package_json_bytes=1000),
    )


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "not a gzip stream"),
        (b"PK\x03\x04 this is a zip", "not a gzip stream"),
        (tar([member("package/package.json", PACKAGE_JSON)]), "not a gzip stream"),
        (b"\x1f\x8b\x08\x00", "truncated gzip|corrupt gzip"),
        (b"\x1f\x8b\xff\xff" + b"\0" * 20, "corrupt gzip"),
    ],
)
def test_not_gzip(data: bytes, match: str) -> None:
    refused(data, match)


def test_truncated_and_corrupt_gzip() -> None:
    good = package(member("package/index.js", b"console.log(1)\n" * 100))
    refused(good[: len(good) // 2], "truncated gzip")
    refused(good[:-4], "truncated gzip")  # no ISIZE
    corrupt = bytearray(good)
    corrupt[-6] ^= 0xFF  # CRC32
    refused(bytes(corrupt), "corrupt gzip")
    refused(good + b"trailing garbage", "unexpected data after the gzip stream")


def test_truncated_tar_inside_valid_gzip() -> None:
    raw = tar([member("package/package.json", PACKAGE_JSON), member("package/a", b"x" * 5000)])
    refused(gz(raw[: 512 * 4]), "truncated tar archive|unexpected end of data")
    refused(gz(raw[:700]), "corrupt tar archive|truncated")


# -- limits


def test_gzip_bomb_is_stopped_early() -> None:
    size = 50 * 1024 * 1024
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    info = tarfile.TarInfo("package/zeros")
    info.size = size
    parts = [compressor.compress(info.tobuf(tarfile.USTAR_FORMAT))]
    chunk = bytes(1024 * 1024)
    parts += [compressor.compress(chunk) for _ in range(size // len(chunk))]
    parts.append(compressor.flush())
    bomb = b"".join(parts)
    started = time.perf_counter()
    error = refused(bomb, "compression ratio too high")
    assert time.perf_counter() - started < 1
    assert error.details["inflated"] < 2 * 1024 * 1024  # stopped right after the grace bytes


def test_ratio_is_not_checked_for_small_archives() -> None:
    data = package(member("package/zeros", bytes(500_000)))
    assert len(data) * 200 < 500_000
    assert read_tarball(data).files[1].size == 500_000


def test_inflated_size_limit() -> None:
    # small files, but the stream inflates past the limit (zero padding after the archive)
    data = gz(tar([member("package/package.json", PACKAGE_JSON)]) + bytes(300_000))
    limits = TarballLimits(max_unpacked_bytes=100_000, max_ratio=10_000)
    error = refused(data, "inflates past the size limit", limits)
    assert error.details["inflated"] <= 100_000 + 16 * 1024


def test_declared_size_limit_is_checked_before_the_data() -> None:
    header = raw_header(b"package/huge", 2**40)
    data = gz(raw_header(b"package/package.json", len(PACKAGE_JSON)) + pad(PACKAGE_JSON) + header)
    refused(data, "exceed the size limit")


def _fast_header(name: bytes) -> bytes:
    block = bytearray(_TEMPLATE)
    block[0 : len(name)] = name
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


_TEMPLATE = bytearray(raw_header(b""))
_TEMPLATE[148:156] = b" " * 8


def test_hundred_thousand_entries_are_refused_fast() -> None:
    started = time.perf_counter()
    blocks = [_fast_header(b"package/package.json")]
    blocks += [_fast_header(b"package/%x" % i) for i in range(100_000)]
    data = gz(b"".join(blocks) + END, level=1)
    error = refused(data, "too many entries")
    assert error.details["limit"] == 10_000
    assert time.perf_counter() - started < 5


# -- where npm (node-tar) and Python's tarfile would disagree


def test_entry_after_a_single_zero_block_is_refused() -> None:
    # tarfile stops at the first zero block; node-tar only at two, and would unpack evil.js
    raw = tar([member("package/package.json", PACKAGE_JSON)])
    body = raw[: 512 * 2] + b"\0" * 512 + raw_header(b"package/evil.js", 4) + pad(b"evil") + END
    refused(gz(body), "data after the end of the tar archive")


def test_signed_checksum_is_refused() -> None:
    # Python accepts a signed checksum; node-tar skips such a block and reads its data as headers
    header = raw_header(b"package/package.json", len(PACKAGE_JSON), signed_checksum=True)
    refused(gz(header + pad(PACKAGE_JSON) + END), "checksum|corrupt tar")


def test_prefix_in_gnu_header_is_refused() -> None:
    # Python joins prefix/name for any header; node-tar only for POSIX ustar ones
    header = raw_header(b"x/package.json", len(PACKAGE_JSON), magic=b"ustar  \0", prefix=b"package")
    refused(gz(header + pad(PACKAGE_JSON) + END), "prefix field in a non-POSIX")


def test_posix_prefix_is_accepted() -> None:
    header = raw_header(b"package.json", len(PACKAGE_JSON), prefix=b"package")
    assert read_tarball(gz(header + pad(PACKAGE_JSON) + END)).prefix == "package"


@pytest.mark.parametrize("field", [b"0000000_144\0", b"+0000000144\0", b"00000001 44\0"])
def test_size_fields_read_differently_are_refused(field: bytes) -> None:
    header = raw_header(b"package/package.json", size_field=field)
    refused(gz(header + pad(PACKAGE_JSON) + END), "malformed tar header size|corrupt tar")


def _pax(records: dict[str, str], kind: bytes = b"x") -> bytes:
    body = b"".join(
        b"%d %s=%s\n" % (len(f" {k}={v}\n".encode()) + 2, k.encode(), v.encode())
        for k, v in records.items()
    )
    return raw_header(b"PaxHeader/x", len(body), kind=kind) + pad(body)


@pytest.mark.parametrize(
    ("records", "match"),
    [
        ({"mode": "755"}, "unsupported pax header keyword"),
        ({"hdrcharset": "BINARY"}, "unsupported pax header keyword"),
        ({"GNU.sparse.size": "10"}, "unsupported pax header keyword|sparse"),
        ({"linkpath": "x"}, "unsupported pax header keyword|link target"),
    ],
)
def test_pax_keywords_with_different_meanings(records: dict[str, str], match: str) -> None:
    data = _pax(records) + raw_header(b"package/package.json", len(PACKAGE_JSON))
    refused(gz(data + pad(PACKAGE_JSON) + END), match)


def test_malformed_pax_records() -> None:
    bad = b"99 path=package/evil.js\n"
    data = raw_header(b"PaxHeader/x", len(bad), kind=b"x") + pad(bad)
    data += raw_header(b"package/package.json", len(PACKAGE_JSON)) + pad(PACKAGE_JSON) + END
    refused(gz(data), "malformed pax|corrupt tar")
    # node-tar skips a bad line and reads the next record; Python stops: refuse the ambiguity
    tricky = b"garbage\n21 path=package/x.js\n"
    data = raw_header(b"PaxHeader/x", len(tricky), kind=b"x") + pad(tricky)
    data += raw_header(b"package/package.json", len(PACKAGE_JSON)) + pad(PACKAGE_JSON) + END
    refused(gz(data), "malformed pax|corrupt tar")


def test_global_pax_header() -> None:
    real = raw_header(b"package/package.json", len(PACKAGE_JSON)) + pad(PACKAGE_JSON) + END
    comment = _pax({"comment": "made by git archive"}, kind=b"g")
    assert read_tarball(gz(comment + real)).prefix == "package"
    # node-tar never applies a global path, Python does
    refused(gz(_pax({"path": "package/evil.js"}, kind=b"g") + real), "global pax header")


def test_gnu_long_name_with_trailing_junk() -> None:
    name = b"package/package.json\0\nother"
    data = raw_header(b"././@LongLink", len(name), kind=b"L") + pad(name)
    data += raw_header(b"x", len(PACKAGE_JSON)) + pad(PACKAGE_JSON) + END
    refused(gz(data), "malformed GNU long name")


def test_link_target_on_a_regular_file() -> None:
    header = bytearray(raw_header(b"package/package.json", len(PACKAGE_JSON)))
    header[157:163] = b"target"
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    refused(gz(bytes(header) + pad(PACKAGE_JSON) + END), "link target")


def test_non_utf8_name() -> None:
    # ustar: tarfile writes the raw byte; pax would add hdrcharset=BINARY (refused as well)
    name = member("package/\udcff.js", b"x")
    refused(
        tgz(member("package/package.json", PACKAGE_JSON), name, fmt=tarfile.USTAR_FORMAT), "UTF-8"
    )
    error = refused(tgz(member("package/package.json", PACKAGE_JSON), name), "pax header keyword")
    assert error.details["keyword"] == "hdrcharset"


# ---------------------------------------------------------------------------------------------
# Property: any input is either read or refused with TarballError


def _valid_raw() -> bytes:
    return tar(
        [
            member("package/package.json", PACKAGE_JSON),
            member("package/lib/" + "x" * 120 + ".js", b"console.log('hi')\n"),
            member("package/README.md", b"# readme\n"),
        ]
    )


_VALID_RAW = _valid_raw()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_arbitrary_bytes(data: bytes) -> None:
    _read_or_refuse(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096))
def test_arbitrary_gzipped_bytes(data: bytes) -> None:
    _read_or_refuse(gz(data))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, len(_VALID_RAW) - 1), st.integers(0, 255)),
        min_size=1,
        max_size=8,
    ),
    st.integers(0, len(_VALID_RAW)),
)
def test_mutated_tarballs(edits: list[tuple[int, int]], cut: int) -> None:
    raw = bytearray(_VALID_RAW)
    for offset, value in edits:
        raw[offset] = value
    _read_or_refuse(gz(bytes(raw[:cut])))
    _read_or_refuse(gz(bytes(raw)))


def _read_or_refuse(data: bytes) -> None:
    """Either TarballError, or contents that are safe to unpack under one folder."""
    try:
        contents = read_tarball(data)
    except TarballError:
        return
    paths = [f.path for f in contents.files]
    assert "package.json" in paths
    assert len(set(paths)) == len(paths)
    for path in paths:
        segments = path.split("/")
        assert "" not in segments
        assert ".." not in segments
        assert "\\" not in path
    assert "/" not in contents.prefix
    assert contents.entry_count >= len(contents.files)
