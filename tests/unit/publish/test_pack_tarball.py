"""`assay.publish.pack`: the tarball npm 11 writes (modes, headers, report), the package.json
checks, and `assay pack`. Fixture trees come from `test_pack.py`."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import zlib
from base64 import b64encode
from pathlib import Path

import pytest

from assay.cli.main import main
from assay.cli.pack import format_bytes
from assay.errors import PackError
from assay.npm.tarball import read_tarball
from assay.publish.pack import PackResult, pack_directory, tarball_filename
from assay.publish.pack.tar import read_regular_file
from tests.unit.publish.test_pack import CHECKED_IN, GENERATED, build


def tar_members(result: PackResult) -> list[tarfile.TarInfo]:
    raw = zlib.decompress(result.tarball, 31)
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as archive:
        return archive.getmembers()


# ---------------------------------------------------------------------------------------------
# The tarball


def test_tarball_is_deterministic_and_described(tmp_path: Path) -> None:
    root = build("plain", tmp_path)
    first, second = pack_directory(root), pack_directory(root)
    assert first.tarball == second.tarball
    digest = b64encode(hashlib.sha512(first.tarball).digest()).decode()
    assert first.integrity == f"sha512-{digest}"
    assert first.shasum == hashlib.sha1(first.tarball, usedforsecurity=False).hexdigest()
    assert first.filename == "plain-1.0.0.tgz"
    assert first.size == len(first.tarball)
    assert first.entry_count == len(first.files) == 9
    assert first.unpacked_size == sum(f.size for f in first.files)
    assert first.tarball[:4] == b"\x1f\x8b\x08\x00"
    assert first.tarball[9] == 0xFF  # OS byte, minizlib portable mode


def test_tar_headers_are_portable(tmp_path: Path) -> None:
    result = pack_directory(build("plain", tmp_path))
    members = tar_members(result)
    assert [m.name for m in members] == [f"package/{f.path}" for f in result.files]
    for member in members:
        assert member.isfile()
        assert member.mtime == 499162500  # 1985-10-26T08:15:00Z
        assert (member.uid, member.gid, member.uname, member.gname) == (0, 0, "", "")
        assert member.mode == 0o644


def test_modes_follow_node_tar_and_pacote(tmp_path: Path) -> None:
    result = pack_directory(build("bin-modes", tmp_path))
    modes = {f.path: f.mode for f in result.files}
    assert modes == {
        "package.json": 0o644,
        "bin/tool.js": 0o644,  # bin "./bin/tool.js": isPackageBin compares "tool.js", no match
        "cli.js": 0o755,  # bin "cli.js"
        "lib/cli.js": 0o755,  # "lib/cli.js" minus its first segment is "cli.js"
        "lib/main.js": 0o700,
        "scripts/run.sh": 0o755,
        "private.txt": 0o600,
        "group.txt": 0o644,  # portable: never group/other writable
        "odd.txt": 0o640,
    }
    assert {m.name.removeprefix("package/"): m.mode for m in tar_members(result)} == modes


def test_directories_bin_files_are_always_included(tmp_path: Path) -> None:
    result = pack_directory(build("directories-bin", tmp_path))
    modes = {f.path: f.mode for f in result.files}
    # every non-dot file below directories.bin is a bin, so included despite "files"; none is
    # made executable: isPackageBin compares "a.sh" (first segment dropped) with "scripts/a.sh"
    assert modes == {
        "package.json": 0o644,
        "a.sh": 0o644,
        "scripts/a.sh": 0o644,
        "scripts/sub/b.sh": 0o644,
    }


def test_long_and_unicode_paths_round_trip(tmp_path: Path) -> None:
    result = pack_directory(build("names", tmp_path))
    names = [m.name for m in tar_members(result)]
    assert names == [f"package/{f.path}" for f in result.files]
    assert "package/" + "/".join(["d" * 60] * 4) + "/e.js" in names
    assert "package/日本語.md" in names


def test_our_reader_accepts_what_we_pack(tmp_path: Path) -> None:
    for name in (*CHECKED_IN, *GENERATED):
        result = pack_directory(build(name, tmp_path))
        contents = read_tarball(result.tarball)
        assert contents.prefix == "package"
        assert contents.package_json["name"] == result.name
        assert [(f.path, f.size, f.mode) for f in contents.files] == [
            (f.path, f.size, f.mode) for f in result.files
        ]


def test_npm_json_report(tmp_path: Path) -> None:
    result = pack_directory(build("scoped", tmp_path))
    report = result.npm_json()
    assert report["id"] == "@scope/x@3.0.0-beta.1"
    assert report["filename"] == "scope-x-3.0.0-beta.1.tgz"
    assert [f["path"] for f in report["files"]] == ["README.md", "lib/index.js", "package.json"]
    assert report["entryCount"] == 3
    assert report["bundled"] == []
    assert set(report) == {
        "id",
        "name",
        "version",
        "size",
        "unpackedSize",
        "shasum",
        "integrity",
        "filename",
        "files",
        "entryCount",
        "bundled",
    }


@pytest.mark.parametrize(
    ("name", "version", "expected"),
    [
        ("x", "1.0.0", "x-1.0.0.tgz"),
        ("@scope/x", "1.0.0", "scope-x-1.0.0.tgz"),
        ("a.b", "1.0.0-rc.1+build.5", "a.b-1.0.0-rc.1+build.5.tgz"),
    ],
)
def test_tarball_filename(name: str, version: str, expected: str) -> None:
    assert tarball_filename(name, version) == expected


# ---------------------------------------------------------------------------------------------
# Refusals


@pytest.mark.parametrize(
    ("package_json", "message"),
    [
        (None, "no package.json"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"version": "1.0.0"}', "must have name and version"),
        (b'{"name": "x"}', "must have name and version"),
        (b'{"name": "x", "version": 1}', "must have name and version"),
        (b'{"name": "../../evil", "version": "1.0.0"}', "invalid package name"),
        (b'{"name": ".hidden", "version": "1.0.0"}', "invalid package name"),
        (b'{"name": "node_modules", "version": "1.0.0"}', "invalid package name"),
        (b'{"name": "x", "version": "1.0"}', "invalid semver"),
        (b'{"name": "x", "version": "1.0.0", "files": "lib"}', "must be an array"),
        (b'{"name": "x", "version": "1.0.0", "files": [1]}', "must be an array"),
        (b'{"name": "x", "version": NaN}', "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_invalid_package_json_is_refused(
    tmp_path: Path, package_json: bytes | None, message: str
) -> None:
    if package_json is not None:
        (tmp_path / "package.json").write_bytes(package_json)
    with pytest.raises(PackError, match=message):
        pack_directory(tmp_path)


def test_package_json_symlink_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real.json").write_text('{"name": "x", "version": "1.0.0"}')
    (tmp_path / "package.json").symlink_to("real.json")
    with pytest.raises(PackError, match="not a regular file"):
        pack_directory(tmp_path)


def test_bom_in_package_json_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_bytes(b'\xef\xbb\xbf{"name": "x", "version": "1.0.0"}')
    assert pack_directory(tmp_path).name == "x"


def test_files_swapped_after_the_walk_are_not_read(tmp_path: Path) -> None:
    # the walk skips links and special files; reading a listed path must not undo that if the
    # file was replaced in between (O_NOFOLLOW, and fstat on what was opened)
    (tmp_path / "secret.txt").write_text("outside\n")
    (tmp_path / "link.js").symlink_to(tmp_path / "secret.txt")
    os.mkfifo(tmp_path / "fifo.js")
    with pytest.raises(PackError, match="cannot read file"):
        read_regular_file(tmp_path, "link.js")
    with pytest.raises(PackError, match="changed while packing"):
        read_regular_file(tmp_path, "fifo.js")
    with pytest.raises(PackError, match="cannot read file"):
        read_regular_file(tmp_path, "gone.js")


# ---------------------------------------------------------------------------------------------
# The command: `assay pack`


def test_cli_writes_the_tarball(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    package = build("scoped", tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.chdir(out)
    assert main(["pack", str(package)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "scope-x-3.0.0-beta.1.tgz\n"
    written = (out / "scope-x-3.0.0-beta.1.tgz").read_bytes()
    assert written == pack_directory(package).tarball
    notices = captured.err.splitlines()
    assert notices[:3] == [
        "assay notice",
        "assay notice package: @scope/x@3.0.0-beta.1",
        "assay notice Tarball Contents",
    ]
    assert "assay notice 11B README.md" in notices
    assert "assay notice filename: scope-x-3.0.0-beta.1.tgz" in notices
    assert "assay notice total files: 3" in notices


def test_cli_dry_run_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    package = build("bundled", tmp_path)
    monkeypatch.chdir(package)
    assert main(["pack", "--dry-run", "--json"]) == 0
    [report] = json.loads(capsys.readouterr().out)
    assert report == pack_directory(package).npm_json()
    assert report["bundled"] == ["transitive", "@s/scoped", "dep"]
    assert not list(package.glob("*.tgz"))


def test_cli_reports_bundled_dependencies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    package = build("bundled", tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["pack", str(package), "--dry-run"]) == 0
    notices = capsys.readouterr().err.splitlines()
    assert "assay notice Bundled Dependencies" in notices
    assert "assay notice bundled deps: 3" in notices
    assert "assay notice own files: 2" in notices
    assert not any("node_modules/" in line for line in notices)


def test_cli_pack_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["pack"]) == 1
    assert "error: no package.json in directory" in capsys.readouterr().err
    assert main(["pack", str(tmp_path / "missing")]) == 2


@pytest.mark.parametrize(
    ("count", "spaced", "compact"),
    [
        (0, "0 B", "0B"),
        (999, "999 B", "999B"),
        (1000, "1.0 kB", "1.0kB"),
        (1050, "1.1 kB", "1.1kB"),  # toFixed rounds the double 1.05 (just above) up
        (1250, "1.3 kB", "1.3kB"),  # 1.25 exactly: half-up, not half-even
        (999_949, "999.9 kB", "999.9kB"),
        (999_950, "1.0 MB", "1.0MB"),
        (12_345_678, "12.3 MB", "12.3MB"),
        (999_950_000, "1.0 GB", "1.0GB"),
    ],
)
def test_format_bytes_like_npm(count: int, spaced: str, compact: str) -> None:
    assert format_bytes(count) == spaced
    assert format_bytes(count, space=False) == compact
