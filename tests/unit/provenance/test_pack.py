"""`assay.provenance.pack`: the files npm 11 packs, their order and modes, and the tar it writes.

The expected lists here were taken from `npm pack --dry-run --json` (npm 11.19.1); the e2e test
`tests/e2e/test_pack_matches_npm.py` re-checks every fixture against the real npm client.

Trees that git cannot hold faithfully (a `.gitignore` would steer git itself, `.git/` cannot be
committed, file modes beyond the executable bit and symlinks are lost or platform dependent) are
described in Python (:data:`GENERATED`) and built in a temporary directory.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import zlib
from base64 import b64encode
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from assay.cli.main import main
from assay.cli.pack import format_bytes
from assay.errors import PackError
from assay.npm.tarball import read_tarball
from assay.provenance import pack as pack_module
from assay.provenance.pack import (
    PackResult,
    list_package_files,
    pack_directory,
    tarball_filename,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "packages"
CHECKED_IN = ("plain", "files-field", "npmignore", "nested-ignores", "scoped", "always")


@dataclass(frozen=True)
class Tree:
    """A package directory described in Python: files (dicts become JSON), modes, symlinks."""

    files: Mapping[str, str | bytes | dict[str, object]]
    modes: Mapping[str, int] = field(default_factory=dict)
    symlinks: Mapping[str, str] = field(default_factory=dict)

    def build(self, root: Path) -> Path:
        root.mkdir(parents=True, exist_ok=True)
        for rel, content in self.files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, dict):
                path.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
            elif isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
            path.chmod(self.modes.get(rel, 0o644))
        for rel, target in self.symlinks.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.symlink_to(target)
        return root


def _texts(*paths: str) -> dict[str, str | bytes | dict[str, object]]:
    return {p: f"{p}\n" for p in paths}


GENERATED: dict[str, Tree] = {
    # Only a .gitignore: npm falls back to it, per directory; a .npmignore beside it wins.
    "gitignore-only": Tree(
        files={
            "package.json": {"name": "gitignore-only", "version": "1.0.0"},
            ".gitignore": "*.log\ndist/\nsecret.js\n",
            "lib/.gitignore": "generated/\n",
            "lib/both/.gitignore": "a.js\n",
            "lib/both/.npmignore": "b.js\n",
            **_texts(
                "index.js",
                "app.log",
                "dist/out.js",
                "secret.js",
                "lib/real.js",
                "lib/generated/g.js",
                "lib/both/a.js",
                "lib/both/b.js",
                "lib/both/c.js",
            ),
        }
    ),
    # npm-packlist's defaults and strict rules: always excluded, anchored or not.
    "always-excluded": Tree(
        files={
            "package.json": {"name": "always-excluded", "version": "1.0.0"},
            "node_modules/dep/package.json": {"name": "dep", "version": "1.0.0"},
            **_texts(
                ".npmrc",
                "lib/.npmrc",
                "node_modules/dep/index.js",
                "lib/node_modules/x.js",
                ".git/HEAD",
                ".git/config",
                "lib/.git",
                ".svn/entries",
                "CVS/Root",
                "lib/CVS/Root",
                ".hg/store",
                ".DS_Store",
                "lib/.DS_Store",
                "._resource",
                "x.orig",
                ".x.swp",
                ".lock-wscript",
                "lib/.lock-wscript",
                ".wafpickle-7",
                "build/config.gypi",
                "build/other.gypi",
                "npm-debug.log",
                "lib/npm-debug.log",
                "package-lock.json",
                "lib/package-lock.json",
                "yarn.lock",
                "pnpm-lock.yaml",
                "bun.lockb",
                "archived-packages/old.tgz",
                "star*name.js",
                "README.md",
                "LICENSE",
                "index.js",
                "lib/a.js",
            ),
        },
        symlinks={"link.js": "index.js", "linkdir": "lib", "outside": "/etc"},
    ),
    # bin targets are executable, but only when pacote's isPackageBin sees them (see pack.py).
    "bin-modes": Tree(
        files={
            "package.json": {
                "name": "bin-modes",
                "version": "1.0.0",
                "main": "lib/main.js",
                "bin": {"tool": "./bin/tool.js", "other": "cli.js"},
            },
            **_texts(
                "bin/tool.js",
                "cli.js",
                "lib/cli.js",
                "lib/main.js",
                "scripts/run.sh",
                "private.txt",
                "group.txt",
                "odd.txt",
            ),
        },
        modes={
            "scripts/run.sh": 0o755,
            "private.txt": 0o600,
            "group.txt": 0o664,
            "odd.txt": 0o640,
            "lib/main.js": 0o700,
        },
    ),
    "directories-bin": Tree(
        files={
            "package.json": {
                "name": "directories-bin",
                "version": "1.0.0",
                "directories": {"bin": "./scripts"},
                "files": ["a.sh"],
            },
            **_texts("scripts/a.sh", "scripts/sub/b.sh", "scripts/.hidden", "a.sh", "b.sh"),
        }
    ),
    # bundleDependencies: the named packages and their production dependencies, found the Node
    # way; dev and peer dependencies are not bundled.
    "bundled": Tree(
        files={
            "package.json": {
                "name": "bundled",
                "version": "1.0.0",
                "dependencies": {"dep": "1", "@s/scoped": "1", "notbundled": "1"},
                "devDependencies": {"devdep": "1"},
                "bundleDependencies": ["dep", "@s/scoped", "devdep", "missing"],
            },
            "node_modules/dep/package.json": {
                "name": "dep",
                "version": "1.0.0",
                "files": ["index.js"],
                "dependencies": {"transitive": "1"},
            },
            "node_modules/transitive/package.json": {"name": "transitive", "version": "1.0.0"},
            "node_modules/@s/scoped/package.json": {"name": "@s/scoped", "version": "1.0.0"},
            "node_modules/notbundled/package.json": {"name": "notbundled", "version": "1.0.0"},
            "node_modules/devdep/package.json": {"name": "devdep", "version": "1.0.0"},
            "node_modules/transitive/.npmignore": "ignored.js\n",
            "node_modules/transitive/sub/.npmignore": "skip.js\n",
            **_texts(
                "index.js",
                "node_modules/dep/index.js",
                "node_modules/dep/extra.js",
                "node_modules/dep/README.md",
                "node_modules/transitive/main.js",
                "node_modules/transitive/ignored.js",
                "node_modules/transitive/.npmrc",
                "node_modules/transitive/sub/skip.js",
                "node_modules/transitive/sub/keep.js",
                "node_modules/@s/scoped/index.js",
                "node_modules/notbundled/index.js",
                "node_modules/devdep/index.js",
            ),
        }
    ),
    # Long and non-ASCII paths (pax headers, ustar prefix) and ICU collation order.
    "names": Tree(
        files={
            "package.json": {"name": "names", "version": "1.0.0"},
            **_texts(
                "a" * 60 + "/" + "b" * 60 + ".js",
                "c" * 120 + ".txt",
                "/".join(["d" * 60] * 4) + "/e.js",
                "é.js",
                "日本語.md",
                "emoji-😀.txt",
                "@at.js",
                "sub/@x/y.js",
                "Upper.js",
                "lower.js",
                "10.js",
                "9.js",
                "a_b.js",
                "a-b.js",
                "a.b.js",
                "A.JS",
                "noext",
                ".dotfile",
            ),
        }
    ),
    # files globs: braces, extglobs, directory entries, negations, `dir/*`.
    "files-globs": Tree(
        files={
            "package.json": {
                "name": "files-globs",
                "version": "1.0.0",
                "files": [
                    "*.js",
                    "lib/**/*.mjs",
                    "{a,b}/*.txt",
                    "docs/",
                    "@(x|y).md",
                    "!*.test.js",
                    "conf/*",
                    "missing-file.js",
                ],
            },
            ".gitignore": "root.js\n",
            **_texts(
                "root.js",
                "root.test.js",
                "lib/m.mjs",
                "lib/deep/n.mjs",
                "lib/deep/n.js",
                "a/1.txt",
                "b/2.txt",
                "c/3.txt",
                "docs/guide.md",
                "docs/sub/more.md",
                "x.md",
                "y.md",
                "z.md",
                "conf/a.json",
                "conf/sub/b.json",
            ),
        }
    ),
    # files: [] keeps only what npm always includes.
    "files-empty": Tree(
        files={
            "package.json": {"name": "files-empty", "version": "1.0.0", "files": []},
            **_texts("index.js", "README", "LICENSE.md", "copying.txt", "lib/x.js"),
        }
    ),
}


def build(name: str, where: Path) -> Path:
    """A copy of fixture `name` (checked in or generated) under `where`."""
    target = where / name
    if name in GENERATED:
        return GENERATED[name].build(target)
    shutil.copytree(FIXTURES / name, target, symlinks=True)
    return target


def tar_members(result: PackResult) -> list[tarfile.TarInfo]:
    raw = zlib.decompress(result.tarball, 31)
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as archive:
        return archive.getmembers()


# ---------------------------------------------------------------------------------------------
# Which files, in which order (expected values from npm 11.19.1)

EXPECTED: dict[str, list[str]] = {
    "plain": [
        "LICENSE",
        "index.js",
        "test/index.test.js",
        "lib/util.js",
        "lib/data.json",
        "package.json",
        "CHANGELOG.md",
        "docs/intro.md",
        "README.md",
    ],
    "files-field": [
        "lib/a.js",
        "lib/sub/b.js",
        "index.js",  # main: always included
        "dist/x.js",
        "package.json",
        "README.md",
        "assets/logo.svg",
        "types/index.d.ts",
        "assets/sub/deep.txt",  # "assets/*" means "assets/**"
        "extra.txt",
    ],
    "npmignore": [
        "index.js",
        "sub/build/kept.js",  # "/build" is anchored
        "package.json",
        "keep.log",  # "!keep.log" re-includes
        "README.md",
        "z.tmpl",
        "docs/c.txt",
    ],
    "nested-ignores": [
        "a/d/e/deep.js",
        "index.js",
        "a/c/keep.js",
        "package.json",
        "a/d/e/deep.txt",
        "a/important.txt",
        "important.txt",
        "a/note.txt",  # a/.npmignore "!*.txt" overrides the root's "*.txt"
    ],
    "scoped": ["lib/index.js", "package.json", "README.md"],
    "always": [
        "COPYING",
        "LICENSE",
        "browser.js",
        "index.js",
        "main.js",
        "package.json",
        "LICENCE.md",
        "README.md",
    ],
}


@pytest.mark.parametrize("name", CHECKED_IN)
def test_checked_in_fixture_files_and_order(name: str, tmp_path: Path) -> None:
    assert list(list_package_files(build(name, tmp_path))) == EXPECTED[name]


def test_gitignore_is_the_fallback_per_directory(tmp_path: Path) -> None:
    files = set(list_package_files(build("gitignore-only", tmp_path)))
    assert files == {
        "package.json",
        "index.js",
        "lib/real.js",
        "lib/both/a.js",  # lib/both has a .npmignore, so its .gitignore is not read
        "lib/both/c.js",
    }


def test_always_excluded_files(tmp_path: Path) -> None:
    files = set(list_package_files(build("always-excluded", tmp_path)))
    assert files == {
        "package.json",
        "README.md",
        "LICENSE",
        "index.js",
        "lib/a.js",
        # only anchored at the root: nested ones are packed, as npm-packlist does
        "lib/node_modules/x.js",
        "lib/package-lock.json",
        "build/other.gypi",
    }


def test_symlinks_are_skipped_not_followed(tmp_path: Path) -> None:
    files = list_package_files(build("always-excluded", tmp_path))
    assert not any(f.startswith(("link", "outside")) for f in files)


def test_bundled_dependencies(tmp_path: Path) -> None:
    result = pack_directory(build("bundled", tmp_path))
    assert {f.path for f in result.files} == {
        "package.json",
        "index.js",
        "node_modules/dep/package.json",
        "node_modules/dep/index.js",
        "node_modules/dep/README.md",
        "node_modules/transitive/package.json",
        "node_modules/transitive/.npmignore",  # no default rules in a bundled package's root
        "node_modules/transitive/main.js",
        "node_modules/transitive/ignored.js",  # a bundled package's own .npmignore is not read
        "node_modules/transitive/sub/keep.js",  # ...but its subdirectories' are
        "node_modules/@s/scoped/package.json",
        "node_modules/@s/scoped/index.js",
    }
    assert result.bundled == ("transitive", "@s/scoped", "dep")  # in tarball order, as npm


def test_symlinked_bundled_dependency_is_refused(tmp_path: Path) -> None:
    root = Tree(
        files={
            "package.json": {
                "name": "linked",
                "version": "1.0.0",
                "dependencies": {"dep": "1"},
                "bundleDependencies": True,
            },
            "elsewhere/package.json": {"name": "dep", "version": "1.0.0"},
        },
        symlinks={"node_modules/dep": "../elsewhere"},
    ).build(tmp_path / "linked")
    with pytest.raises(PackError, match="symbolic link"):
        pack_directory(root)


def test_files_globs(tmp_path: Path) -> None:
    files = set(list_package_files(build("files-globs", tmp_path)))
    assert files == {
        "package.json",
        "root.js",  # the root .gitignore is not read when there is a files field
        "lib/deep/n.js",  # "*.js" has no slash: matchBase, so it matches at any depth
        "lib/m.mjs",
        "lib/deep/n.mjs",
        "a/1.txt",
        "b/2.txt",
        "docs/guide.md",
        "docs/sub/more.md",
        "x.md",
        "y.md",
        "conf/a.json",
        "conf/sub/b.json",
    }


def test_empty_files_keeps_only_always_included(tmp_path: Path) -> None:
    files = set(list_package_files(build("files-empty", tmp_path)))
    assert files == {"package.json", "README", "LICENSE.md", "copying.txt"}


def test_names_sort_like_icu(tmp_path: Path) -> None:
    files = list_package_files(build("names", tmp_path))
    ext_js = [f for f in files if f.endswith((".js", ".JS")) and "/" not in f]
    assert ext_js == [
        "@at.js",
        "10.js",
        "9.js",
        "a_b.js",
        "a-b.js",
        "a.b.js",
        "A.JS",
        "é.js",
        "lower.js",
        "Upper.js",
    ]


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
        pack_module._read_regular_file(tmp_path, "link.js")
    with pytest.raises(PackError, match="changed while packing"):
        pack_module._read_regular_file(tmp_path, "fifo.js")
    with pytest.raises(PackError, match="cannot read file"):
        pack_module._read_regular_file(tmp_path, "gone.js")


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
