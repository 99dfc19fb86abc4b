"""The real npm client publishes what it always did, though the registry now takes each
version's manifest from the tarball and refuses a body that differs from it.

npm packs package.json as the author wrote it and sends the manifest normalised (bin and
repository shorthands, array dependencies, ``node_modules/.bin`` script paths, a ``v`` in the
version, build metadata dropped, ``server.js``/``binding.gyp`` scripts, ``directories.bin``,
bundled dependencies, the git HEAD). The registry normalises the tarball's package.json the same
way, so every one of these publishes is accepted, and what it serves is the tarball's.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import backend_settings
from tests.e2e.test_npm_registry import Npm
from tests.services import running_registry

pytestmark = [pytest.mark.npm]


@pytest.fixture
def npm(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Npm]:
    settings = backend_settings(request, "sqlite-files", tmp_path / "data")
    with running_registry(settings) as running:
        alice = Npm(running.url, tmp_path / "alice")
        alice.adduser("alice", "alice-password", "alice@example.com")
        yield alice


def _package(root: Path, manifest: dict[str, Any], files: dict[str, str]) -> Path:
    root.mkdir(parents=True)
    (root / "package.json").write_text(json.dumps(manifest))
    (root / "README.md").write_text(f"# {manifest['name']}\n")
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


def _git_commit(folder: Path) -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
            cwd=folder, check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip

    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "release")
    return git("rev-parse", "HEAD")


def test_npm_publishes_of_shorthand_manifests_are_accepted(npm: Npm, tmp_path: Path) -> None:
    shorthand = _package(
        tmp_path / "shorthand",
        {
            "name": "@alice/shorthand", "version": "v1.0.0", "bin": "./cli.js",
            "repository": "github:alice/shorthand",
            "scripts": {"build": "node_modules/.bin/tsc -p ."},
            "dependencies": {"a": "1.0.0", "left-pad": "github:stevemao/left-pad"},
            "bundledDependencies": ["a"], "os": ["linux", "darwin"], "cpu": ["x64", "arm64"],
            "engines": {"node": ">=18"}, "main": "lib/index.js",
            "optionalDependencies": {"fsevents": "^2"}, "peerDependencies": {"react": "*"},
        },
        {
            "cli.js": "#!/usr/bin/env node\n", "lib/index.js": "module.exports = 1\n",
            "server.js": "", "binding.gyp": "{}\n",
            "node_modules/a/package.json": '{"name": "a", "version": "1.0.0"}',
        },
    )  # fmt: skip
    head = _git_commit(shorthand)
    assert "+ @alice/shorthand@1.0.0" in npm.run("publish", cwd=shorthand).stdout

    bins = _package(
        tmp_path / "bins",
        {"name": "@alice/bins", "version": "2.0.0+build.7", "directories": {"bin": "bin"}},
        {"bin/one.js": "", "bin/sub/two.js": "", "bin/.hidden": "", "index.d.ts": "export {}\n"},
    )
    assert "+ @alice/bins@2.0.0" in npm.run("publish", cwd=bins).stdout

    served = npm.json("view", "@alice/shorthand@1.0.0")
    assert isinstance(served, dict)
    assert served["bin"] == {"shorthand": "cli.js"}
    assert served["repository"] == {
        "type": "git",
        "url": "git+https://github.com/alice/shorthand.git",
    }
    assert served["scripts"] == {
        "build": "tsc -p .",
        "install": "node-gyp rebuild",
        "start": "node server.js",
    }
    assert served["dependencies"]["left-pad"] == "github:stevemao/left-pad"
    assert served["bundleDependencies"] == ["a"]
    # npm sent the work tree's HEAD; without provenance nothing verifies it, so it is not served.
    assert head
    assert "gitHead" not in served
    assert served["_npmVersion"] == npm.run("--version").stdout.strip()

    bin_view = npm.json("view", "@alice/bins")
    assert isinstance(bin_view, dict)
    assert bin_view["version"] == "2.0.0"
    # npm's glob('**') lists folders too, so `sub` becomes a bin as well (npm's doing).
    assert bin_view["bin"] == {"one.js": "bin/one.js", "sub": "bin/sub", "two.js": "bin/sub/two.js"}
    assert bin_view["types"] == "./index.d.ts"

    # The tarball is what npm packed: package.json as written.
    packed = npm.run("pack", "@alice/bins@2.0.0", "--json", cwd=tmp_path)
    name = json.loads(packed.stdout)[0]["filename"]
    listing = subprocess.run(
        ["tar", "xzf", str(tmp_path / name), "-O", "package/package.json"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert json.loads(listing)["version"] == "2.0.0+build.7"
