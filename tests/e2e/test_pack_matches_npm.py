"""The real npm client is the oracle for `assay pack`.

Every fixture of `tests/unit/publish/test_pack.py` is packed by `npm pack` (npm 11, with
`--ignore-scripts` and a throw-away cache and config, so nothing of the user's setup is read) and
by us. We require the same report (files with sizes and modes, in npm's listing order; name,
version, filename, counts, bundled packages) and a byte-identical tar inside the gzip.

The gzip bytes themselves differ: Node bundles Chromium's zlib, whose deflate chooses different
matches than the zlib Python links. Re-deflating npm's tar with Python's zlib at level 9 gives
exactly our tarball, which shows the difference is only there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest

from assay.cli.main import main
from assay.npm.tarball import read_tarball
from assay.publish.pack import pack_directory
from tests.unit.publish.test_pack import CHECKED_IN, GENERATED, build

pytestmark = pytest.mark.npm


@pytest.fixture(scope="module")
def npm() -> str:
    path = shutil.which("npm")
    if path is None:
        pytest.fail("npm is not on PATH: the e2e tests need the real npm client")
    return path


@pytest.fixture(scope="module")
def npm_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("npm-home")
    (home / "userrc").write_text("")
    (home / "globalrc").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith("npm_")}
    env.update(
        npm_config_cache=str(home / "cache"),
        npm_config_userconfig=str(home / "userrc"),
        npm_config_globalconfig=str(home / "globalrc"),
        npm_config_update_notifier="false",
        npm_config_fund="false",
        npm_config_audit="false",
        npm_config_loglevel="error",
    )
    return env


def run_npm_pack(npm: str, env: dict[str, str], package: Path, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [npm, "pack", "--json", "--ignore-scripts", *args],
        cwd=package,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    reports = json.loads(done.stdout)
    assert isinstance(reports, list)
    assert len(reports) == 1
    report = reports[0]
    assert isinstance(report, dict)
    return report


def npm_gzip(raw: bytes) -> bytes:
    """gzip as pacote asks node-tar/minizlib to: level 9, OS byte 255 (portable)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = bytearray(compressor.compress(raw) + compressor.flush())
    out[9] = 0xFF
    return bytes(out)


@pytest.mark.parametrize("name", [*CHECKED_IN, *GENERATED])
def test_pack_matches_npm(name: str, tmp_path: Path, npm: str, npm_env: dict[str, str]) -> None:
    package = build(name, tmp_path / "src")
    out = tmp_path / "out"
    out.mkdir()
    report = run_npm_pack(npm, npm_env, package, "--pack-destination", str(out))
    ours = pack_directory(package)
    mine = ours.npm_json()

    assert mine["files"] == report["files"]
    for key in ("id", "name", "version", "filename", "entryCount", "unpackedSize", "bundled"):
        assert mine[key] == report[key], key

    npm_tarball = (out / report["filename"]).read_bytes()
    npm_tar = zlib.decompress(npm_tarball, 31)
    assert zlib.decompress(ours.tarball, 31) == npm_tar
    assert npm_gzip(npm_tar) == ours.tarball
    assert read_tarball(npm_tarball).files == read_tarball(ours.tarball).files


def test_cli_dry_run_json_matches_npm(
    tmp_path: Path,
    npm: str,
    npm_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    package = build("scoped", tmp_path / "src")
    expected = run_npm_pack(npm, npm_env, package, "--dry-run")
    monkeypatch.chdir(tmp_path)
    assert main(["pack", str(package), "--dry-run", "--json"]) == 0
    [report] = json.loads(capsys.readouterr().out)
    differs = {"size", "shasum", "integrity"}  # the gzip bytes (see the module docstring)
    assert {k: v for k, v in report.items() if k not in differs} == {
        k: v for k, v in expected.items() if k not in differs
    }
    assert not list(tmp_path.glob("*.tgz"))
