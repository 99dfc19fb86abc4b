"""The real npm client is the oracle for the publish document `assay publish` sends.

npm does not print what it PUTs, so a tiny capture server on loopback stands in for the
registry: it answers the packument lookup with 404 and the PUT with 200 `{}`, and records
every request. `npm publish` and `assay publish` publish the same package to it, and the two
documents must agree field by field: the same keys in the same order, the same prepared manifest
(npm's `fix`, `prepare` and libnpmpublish's `patchManifest`), the same dist-tags, access and
tarball URL, and attachments with the same names whose tarballs hold byte-identical tars.

What legitimately differs: `_npmVersion`/`_nodeVersion` (we are neither, and write neither), and
the gzip bytes, hence `integrity`, `shasum`, attachment `data` and `length` (Node's zlib deflates
differently; tests/e2e/test_pack_matches_npm.py shows the tars are identical) — for those we
check that our document is consistent with itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.types import Receive, Scope, Send

from tests.servers import serve_app

pytestmark = pytest.mark.npm

PACKAGES = Path(__file__).parents[1] / "fixtures" / "packages"
TOKEN = "capture-token"  # noqa: S105 - a test credential for a throw-away server


@dataclass
class Captured:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class CaptureApp:
    """An ASGI registry that records requests: 404 to GETs, 200 `{}` to everything else."""

    requests: list[Captured] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self.requests.append(Captured(scope["method"], scope["raw_path"].decode(), headers, body))
        status = 404 if scope["method"] == "GET" else 200
        payload = b'{"error":"Not found"}' if status == 404 else b"{}"
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    def put(self) -> Captured:
        (put,) = [r for r in self.requests if r.method == "PUT"]
        self.requests.clear()
        return put


@pytest.fixture(scope="module")
def capture() -> Iterator[tuple[CaptureApp, str]]:
    app = CaptureApp()
    with serve_app(app) as url:
        yield app, url + "/"


def client_env(home: Path, registry: str) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    host = registry.split("://", 1)[1]
    (home / "userrc").write_text(f"//{host}:_authToken={TOKEN}\n")
    (home / "globalrc").write_text("")
    keep = ("PATH", "LANG", "TMPDIR", "SYSTEMROOT")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        HOME=str(home),
        npm_config_cache=str(home / "cache"),
        npm_config_userconfig=str(home / "userrc"),
        npm_config_globalconfig=str(home / "globalrc"),
        npm_config_registry=registry,
        npm_config_update_notifier="false",
        npm_config_fund="false",
        npm_config_audit="false",
        npm_config_fetch_retries="0",
        npm_config_loglevel="error",
    )
    return env


def npm_publish(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is not on PATH: these tests need the real npm client")
    done = subprocess.run(
        [npm, "publish", "--ignore-scripts", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


def assay_publish(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "assay", "publish", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


def tar_of(attachment: dict[str, Any]) -> bytes:
    return zlib.decompress(base64.b64decode(attachment["data"]), wbits=31)


def compare(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    """Field by field, allowing only the differences the module docstring names."""
    assert list(ours) == list(theirs)
    for key in ("_id", "name", "dist-tags", "access"):
        assert ours[key] == theirs[key], key
    assert ours.get("description") == theirs.get("description")
    (version,) = theirs["versions"]
    assert list(ours["versions"]) == [version]
    mine, npm = ours["versions"][version], dict(theirs["versions"][version])
    npm.pop("_npmVersion", None)
    npm.pop("_nodeVersion", None)
    assert list(mine) == list(npm)
    for key, value in npm.items():
        if key != "dist":
            assert mine[key] == value, key
    assert list(mine["dist"]) == list(npm["dist"]) == ["integrity", "shasum", "tarball"]
    assert mine["dist"]["tarball"] == npm["dist"]["tarball"]

    assert list(ours["_attachments"]) == list(theirs["_attachments"])
    for name, attachment in theirs["_attachments"].items():
        own = ours["_attachments"][name]
        assert list(own) == list(attachment) == ["content_type", "data", "length"]
        assert own["content_type"] == attachment["content_type"]
        assert tar_of(own) == tar_of(attachment), name
        # Ours agrees with itself: length, integrity and shasum describe the bytes we sent.
        data = base64.b64decode(own["data"])
        assert own["length"] == len(data)
        digest = base64.b64encode(hashlib.sha512(data).digest()).decode()
        assert mine["dist"]["integrity"] == f"sha512-{digest}"
        assert mine["dist"]["shasum"] == hashlib.sha1(data).hexdigest()  # noqa: S324


def publish_both(
    capture: tuple[CaptureApp, str], package: Path, home: Path, *args: str
) -> tuple[dict[str, Any], dict[str, Any], Captured, Captured]:
    app, registry = capture
    env = client_env(home, registry)
    npm_publish(env, package, *args)
    theirs = app.put()
    done = assay_publish(env, package, *args)
    ours = app.put()
    name = json.loads(theirs.body)["name"]
    version = next(iter(json.loads(theirs.body)["versions"]))
    assert done.stdout.strip() == f"+ {name}@{version}"
    return json.loads(ours.body), json.loads(theirs.body), ours, theirs


@pytest.mark.parametrize(
    ("fixture", "args"),
    [
        ("plain", ()),
        ("scoped", ("--tag", "beta", "--access", "public")),
        ("files-field", ()),
        ("npmignore", ("--tag", "next")),
    ],
)
def test_same_document_as_npm(
    capture: tuple[CaptureApp, str], tmp_path: Path, fixture: str, args: tuple[str, ...]
) -> None:
    package = Path(shutil.copytree(PACKAGES / fixture, tmp_path / fixture))
    ours, theirs, our_request, their_request = publish_both(
        capture, package, tmp_path / "home", *args
    )
    compare(ours, theirs)
    # The request itself: same path (scoped names escaped as %2f), same auth and content type.
    assert our_request.path == their_request.path
    for header in ("authorization", "content-type", "npm-command"):
        assert our_request.headers[header] == their_request.headers[header], header


def test_npm_normalizations(capture: tuple[CaptureApp, str], tmp_path: Path) -> None:
    """The manifest steps that change what is published: repository shortcuts, bugs and
    homepage from the host, people strings, bin strings, script paths, `_` fields, readme,
    man pages from directories.man, types from an index.d.ts, server.js, gitHead."""
    package = tmp_path / "rich"
    (package / "man").mkdir(parents=True)
    manifest = {
        "name": "rich",
        "version": "2.1.0",
        "repository": "acme/rich",
        "author": "Ann Example <ann@example.com> (https://ann.example)",
        "contributors": [{"name": "Bob", "email": "bob@example.com", "url": "https://b.example"}],
        "bin": "./cli.js",
        "keywords": "alpha, beta",
        "scripts": {"test": "node_modules/.bin/tap test", "bad": 3},
        "dependencies": {"dep": "acme/dep#v1", "semver": "^7.0.0"},
        "directories": {"man": "./man"},
        "_secret": "dropped by npm",
        "publishConfig": {"tag": "edge"},
    }
    (package / "package.json").write_text(json.dumps(manifest, indent=2))
    (package / "cli.js").write_text("#!/usr/bin/env node\n")
    (package / "index.d.ts").write_text("export {};\n")
    (package / "server.js").write_text("// server\n")
    (package / "README.markdown").write_text("# rich\n\nA rich package\nfor tests.\n\n## Use\n")
    (package / "man" / "rich.1").write_text(".TH RICH 1\n")
    git = shutil.which("git")
    if git is not None:
        for command in (
            ["init", "-q", "-b", "main"],
            ["add", "-A"],
            ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init"],
        ):
            subprocess.run([git, *command], cwd=package, check=True, capture_output=True)
    ours, theirs, _, _ = publish_both(capture, package, tmp_path / "home")
    compare(ours, theirs)
    published = theirs["versions"]["2.1.0"]
    # A few of the effects, so a regression in npm's behaviour shows here by name.
    assert published["repository"] == {"type": "git", "url": "git+https://github.com/acme/rich.git"}
    assert published["bugs"] == {"url": "https://github.com/acme/rich/issues"}
    assert published["homepage"] == "https://github.com/acme/rich#readme"
    assert published["bin"] == {"rich": "cli.js"}
    assert "_secret" not in published
    assert theirs["dist-tags"] == {"edge": "2.1.0"}
    if git is not None:
        assert len(published["gitHead"]) == 40


def test_tarball_source(capture: tuple[CaptureApp, str], tmp_path: Path) -> None:
    """`publish ./pkg.tgz`: pacote's manifest of a file adds _integrity, _resolved, _from."""
    package = Path(shutil.copytree(PACKAGES / "plain", tmp_path / "plain"))
    app, registry = capture
    env = client_env(tmp_path / "home", registry)
    npm = shutil.which("npm")
    assert npm is not None
    subprocess.run(
        [npm, "pack", "--ignore-scripts", "--pack-destination", str(tmp_path)],
        cwd=package, env=env, check=True, capture_output=True,
    )  # fmt: skip
    npm_publish(env, tmp_path, "./plain-1.0.0.tgz")
    theirs = json.loads(app.put().body)
    assay_publish(env, tmp_path, "./plain-1.0.0.tgz")
    ours = json.loads(app.put().body)
    compare(ours, theirs)
    # Here the tarball is the same file, so everything matches exactly.
    assert ours["_attachments"] == theirs["_attachments"]
    assert ours["versions"]["1.0.0"]["dist"] == theirs["versions"]["1.0.0"]["dist"]
    assert ours["versions"]["1.0.0"]["_from"] == "file:plain-1.0.0.tgz"
