"""The real npm client against our registry: every command a maintainer and a consumer use.

Each test runs against a fresh registry under uvicorn on loopback, once with SQLite + files and
once with PostgreSQL + S3 (SeaweedFS). npm gets its own userconfig, cache and HOME in tmp, and
`fetch-retries=0` so that a refusal fails at once. Exit codes and the messages npm prints are
checked, because those are what a user sees.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.assay_up import running_instance
from tests.conftest import REGISTRY_BACKENDS, backend_settings
from tests.services import running_registry

# No skip without npm: CI has it, and a missing client must fail loudly, not pass quietly.
pytestmark = [pytest.mark.npm]


class Npm:
    """One npm user: an isolated userconfig, cache and HOME, pointed at one registry."""

    def __init__(self, registry: str, home: Path) -> None:
        self.registry = registry
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.userconfig = home / ".npmrc"
        self.userconfig.touch()
        self.env = {
            "PATH": os.environ["PATH"],
            "HOME": str(home),
            "NO_COLOR": "1",
            "npm_config_userconfig": str(self.userconfig),
            "npm_config_cache": str(home / "cache"),
            "npm_config_registry": registry,
            "npm_config_update_notifier": "false",
            "npm_config_audit": "false",
            "npm_config_fund": "false",
            "npm_config_fetch_retries": "0",
            "npm_config_progress": "false",
        }

    def run(
        self, *args: str, cwd: Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["npm", *args],
            cwd=cwd or self.home,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"npm {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
            )
        return result

    def json(self, *args: str, cwd: Path | None = None) -> object:
        return json.loads(self.run(*args, "--json", cwd=cwd).stdout)

    def interactive(self, args: Sequence[str], answers: Sequence[tuple[str, str]]) -> str:
        """Run npm on a pseudo-terminal, answering each prompt as it appears (npm reads
        credentials with `read`, which needs a TTY: piped answers are lost)."""
        master, slave = pty.openpty()
        process = subprocess.Popen(
            ["npm", *args], stdin=slave, stdout=slave, stderr=slave, env=self.env, cwd=self.home
        )
        os.close(slave)
        output, cursor, pending = b"", 0, list(answers)
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([master], [], [], 0.2)
                if ready:
                    try:
                        chunk = os.read(master, 4096)
                    except OSError:  # the child closed the terminal
                        break
                    if not chunk:
                        break
                    output += chunk
                    while pending:
                        at = output.find(pending[0][0].encode(), cursor)
                        if at < 0:
                            break
                        cursor = at + len(pending[0][0])
                        os.write(master, pending.pop(0)[1].encode() + b"\r")
                elif process.poll() is not None:
                    break
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
            os.close(master)
        text = output.decode(errors="replace")
        assert process.returncode == 0, text
        return text

    def adduser(self, name: str, password: str, email: str) -> None:
        self.interactive(
            ["adduser", "--auth-type=legacy"],
            [("Username:", name), ("Password:", password), ("Email", email)],
        )

    def login(self, name: str, password: str) -> None:
        self.interactive(
            ["login", "--auth-type=legacy"], [("Username:", name), ("Password:", password)]
        )


def make_package(root: Path, name: str, version: str, **fields: object) -> Path:
    directory = root / name.replace("/", "__") / version
    directory.mkdir(parents=True, exist_ok=True)
    manifest = {"name": name, "version": version, "main": "index.js", "license": "MIT", **fields}
    (directory / "package.json").write_text(json.dumps(manifest))
    (directory / "index.js").write_text(f"module.exports = {json.dumps(name + '@' + version)};\n")
    (directory / "README.md").write_text(f"# {name}\n\nVersion {version}.\n")
    return directory


@dataclass(frozen=True)
class Registry:
    url: str
    """The origin with a trailing slash, as npm's `registry` config wants it."""
    port: int


@pytest.fixture(params=[*REGISTRY_BACKENDS, "assay-up"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Registry]:
    """The registry alone on each storage backend, and the whole `assay up` instance."""
    if request.param == "assay-up":
        with running_instance(tmp_path / "instance") as instance:
            yield Registry(f"{instance.url}/", int(instance.url.rsplit(":", 1)[1]))
        return
    settings = backend_settings(request, str(request.param), tmp_path / "data")
    with running_registry(settings) as running:
        yield Registry(running.url, running.settings.port)


def test_publish_install_and_maintain(registry: Registry, tmp_path: Path) -> None:
    alice = Npm(registry.url, tmp_path / "alice")
    alice.adduser("alice", "alice-password", "alice@example.com")
    assert alice.run("whoami").stdout.strip() == "alice"
    assert "_authToken=assay_" in alice.userconfig.read_text()

    packages = tmp_path / "packages"
    for version in ("1.0.0", "1.1.0", "2.0.0-beta.1"):
        extra = ("--tag", "next") if "beta" in version else ()
        result = alice.run("publish", *extra, cwd=make_package(packages, "demo-lib", version))
        assert f"+ demo-lib@{version}" in result.stdout
    scoped = make_package(
        packages, "@alice/app-util", "0.1.0", dependencies={"demo-lib": "^1.0.0"},
        description="utilities", keywords=["assay-test", "util"],
    )  # fmt: skip
    assert "+ @alice/app-util@0.1.0" in alice.run("publish", cwd=scoped).stdout

    view = alice.json("view", "demo-lib")
    assert isinstance(view, dict)
    assert view["versions"] == ["1.0.0", "1.1.0", "2.0.0-beta.1"]
    assert view["dist-tags"] == {"latest": "1.1.0", "next": "2.0.0-beta.1"}
    assert view["dist"]["tarball"] == f"{registry.url}demo-lib/-/demo-lib-1.1.0.tgz"

    # A consumer with no account installs the scoped package and its dependency.
    bob = Npm(registry.url, tmp_path / "bob")
    project = tmp_path / "project"
    project.mkdir()
    (project / "package.json").write_text('{"name": "project", "version": "1.0.0"}')
    bob.run("install", "@alice/app-util", cwd=project)
    lock = json.loads((project / "package-lock.json").read_text())["packages"]
    assert lock["node_modules/demo-lib"]["version"] == "1.1.0"
    assert lock["node_modules/demo-lib"]["resolved"] == (
        f"{registry.url}demo-lib/-/demo-lib-1.1.0.tgz"
    )
    assert lock["node_modules/@alice/app-util"]["resolved"] == (
        f"{registry.url}@alice/app-util/-/app-util-0.1.0.tgz"
    )
    assert lock["node_modules/demo-lib"]["integrity"] == view["dist"]["integrity"]
    output = subprocess.run(
        ["node", "-e", "console.log(require('demo-lib'))"],
        cwd=project, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert output.strip() == "demo-lib@1.1.0"

    # dist-tags
    assert (
        "+stable: demo-lib@1.0.0" in alice.run("dist-tag", "add", "demo-lib@1.0.0", "stable").stdout
    )
    listed = alice.run("dist-tag", "ls", "demo-lib").stdout
    assert listed.split("\n")[:3] == ["latest: 1.1.0", "next: 2.0.0-beta.1", "stable: 1.0.0"]
    assert "-stable: demo-lib@1.0.0" in alice.run("dist-tag", "rm", "demo-lib", "stable").stdout

    # deprecate / undeprecate
    alice.run("deprecate", "demo-lib@1.0.0", "please use 1.1")
    assert alice.json("view", "demo-lib@1.0.0", "deprecated") == "please use 1.1"
    alice.run("deprecate", "demo-lib@1.0.0", "")
    assert alice.run("view", "demo-lib@1.0.0", "deprecated").stdout.strip() == ""

    # search
    found = alice.json("search", "assay-test")
    assert isinstance(found, list)
    assert [entry["name"] for entry in found] == ["@alice/app-util"]
    assert found[0]["maintainers"] == [{"username": "alice", "email": "alice@example.com"}]

    # owners: a second account becomes an owner and can publish, then is removed again
    carol = Npm(registry.url, tmp_path / "carol")
    carol.adduser("carol", "carol-password", "carol@example.com")
    assert alice.run("owner", "add", "carol", "demo-lib").stdout.strip() == "+ carol (demo-lib)"
    owners = alice.run("owner", "ls", "demo-lib").stdout.split("\n")
    assert owners[:2] == ["alice <alice@example.com>", "carol <carol@example.com>"]
    carol.run("publish", cwd=make_package(packages, "demo-lib", "1.2.0"))
    assert alice.run("owner", "rm", "carol", "demo-lib").stdout.strip() == "- carol (demo-lib)"
    refused = carol.run("publish", cwd=make_package(packages, "demo-lib", "1.3.0"), check=False)
    assert refused.returncode == 1
    assert "403 Forbidden" in refused.stderr
    assert "You do not have permission to publish 'demo-lib'" in refused.stderr

    # unpublish one version: it disappears, latest moves back, and the number is burnt
    assert "- demo-lib@1.2.0" in alice.run("unpublish", "demo-lib@1.2.0").stdout
    view = alice.json("view", "demo-lib")
    assert isinstance(view, dict)
    assert "1.2.0" not in view["versions"]
    # npm itself moves `latest` off the removed version to the highest remaining one, by
    # semver.compareLoose and pre-releases included (libnpmpublish unpublish.js); we keep that.
    assert view["dist-tags"]["latest"] == "2.0.0-beta.1"
    again = alice.run("publish", cwd=make_package(packages, "demo-lib", "1.2.0"), check=False)
    assert again.returncode == 1
    assert "You cannot publish over the previously published versions: 1.2.0." in again.stderr

    # unpublish a whole package
    alice.run("unpublish", "@alice/app-util", "--force")
    gone = alice.run("view", "@alice/app-util", check=False)
    assert gone.returncode == 1
    assert "E404" in gone.stderr

    # tokens: create, list, use, revoke; logout revokes the login token
    created = alice.run("token", "create", "--password", "alice-password", "--name", "ci")
    secret = created.stdout.strip().removeprefix("Created token ")
    assert secret.startswith("assay_")
    tokens = alice.json("token", "list")
    assert isinstance(tokens, list)
    assert sorted(str(t["name"]) for t in tokens) == ["ci", "npm login"]
    ci = Npm(registry.url, tmp_path / "ci")
    ci.userconfig.write_text(f"//127.0.0.1:{registry.port}/:_authToken={secret}\n")
    assert ci.run("whoami").stdout.strip() == "alice"
    ci_id = next(str(t["id"]) for t in tokens if t["name"] == "ci")
    assert alice.run("token", "revoke", ci_id).stdout.strip() == "Removed 1 token"
    denied = ci.run("whoami", check=False)
    assert denied.returncode == 1
    assert "Unable to authenticate, your authentication token seems to be invalid" in (
        denied.stderr
    )

    alice.run("logout")
    assert "_authToken" not in alice.userconfig.read_text() if alice.userconfig.exists() else True
    alice.login("alice", "alice-password")
    assert alice.run("whoami").stdout.strip() == "alice"


def test_refusals(registry: Registry, tmp_path: Path) -> None:
    alice = Npm(registry.url, tmp_path / "alice")
    alice.adduser("alice", "alice-password", "alice@example.com")
    packages = tmp_path / "packages"
    alice.run("publish", cwd=make_package(packages, "taken", "1.0.0"))

    # Publishing over an existing version: npm refuses by itself, and with --force (which
    # skips its own check) the registry refuses.
    for extra in ((), ("--force",)):
        result = alice.run(
            "publish", *extra, cwd=make_package(packages, "taken", "1.0.0"), check=False
        )
        assert result.returncode == 1
        assert "You cannot publish over the previously published versions: 1.0.0." in (
            result.stderr
        )

    # Someone else cannot publish to it, nor claim alice's scope.
    mallory = Npm(registry.url, tmp_path / "mallory")
    mallory.adduser("mallory", "mallory-password", "mallory@example.com")
    result = mallory.run("publish", cwd=make_package(packages, "taken", "1.0.1"), check=False)
    assert result.returncode == 1
    assert "E403" in result.stderr
    alice.run("publish", cwd=make_package(packages, "@alice/first", "1.0.0"))
    result = mallory.run(
        "publish", cwd=make_package(packages, "@alice/second", "1.0.0"), check=False
    )
    assert result.returncode == 1
    assert "your own scope @mallory, not in @alice" in result.stderr
    result = mallory.run("dist-tag", "add", "taken@1.0.0", "evil", check=False)
    assert result.returncode == 1
    assert "403 Forbidden" in result.stderr

    # A wrong password at login, and a bad token anywhere.
    wrong = Npm(registry.url, tmp_path / "wrong")
    with pytest.raises(AssertionError, match="Incorrect or missing password"):
        wrong.login("alice", "not-the-password")
    wrong.userconfig.write_text(f"//127.0.0.1:{registry.port}/:_authToken=assay_not-a-real-token\n")
    result = wrong.run("publish", cwd=make_package(packages, "other", "1.0.0"), check=False)
    assert result.returncode == 1
    assert "E401" in result.stderr
    assert "your authentication token seems to be invalid" in result.stderr

    # A read-only token reads but never writes.
    created = alice.run(
        "token", "create", "--password", "alice-password",
        "--packages-and-scopes-permission", "read-only",
    )  # fmt: skip
    secret = created.stdout.strip().removeprefix("Created token ")
    reader = Npm(registry.url, tmp_path / "reader")
    reader.userconfig.write_text(f"//127.0.0.1:{registry.port}/:_authToken={secret}\n")
    assert reader.run("whoami").stdout.strip() == "alice"
    result = reader.run("publish", cwd=make_package(packages, "taken", "1.0.2"), check=False)
    assert result.returncode == 1
    assert "This token is read-only" in result.stderr

    # Nothing refused above left a trace.
    view = alice.json("view", "taken", "versions")
    assert view in ("1.0.0", ["1.0.0"])
