"""The manifest-confusion rule (assay.npm.confusion): a manifest against its tarball's
package.json, both normalised as npm publishes them; what the publish path and the mirror use."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Mapping
from typing import Any

import pytest

from assay.errors import ManifestError
from assay.npm.confusion import (
    CONFUSABLE_FIELDS,
    first_difference,
    manifest_difference,
    stated_difference,
    tarball_manifest,
)
from assay.npm.tarball import TarballContents, read_tarball

PACKAGE: dict[str, Any] = {
    "name": "widget",
    "version": "1.2.3",
    "main": "index.js",
    "license": "MIT",
    "dependencies": {"left-pad": "^1.3.0", "tiny": "1.0.0"},
    "scripts": {"test": "node test.js"},
}


def contents(package_json: Mapping[str, Any], *files: str) -> TarballContents:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
        members = {"package/package.json": json.dumps(package_json).encode()}
        members |= {f"package/{path}": b"x" for path in ("index.js", *files)}
        for path, data in members.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return read_tarball(buffer.getvalue())


def difference(claimed: Mapping[str, Any], packed: Mapping[str, Any], *files: str) -> str | None:
    found = contents(packed, *files)
    return manifest_difference(claimed, found, tarball_manifest(found))


def test_the_same_package_agrees_whatever_the_registry_added() -> None:
    # An upstream packument's version object: the package.json plus the registry's fields.
    served = {
        **PACKAGE,
        "_id": "widget@1.2.3",
        "_npmUser": {"name": "someone"},
        "dist": {"integrity": "sha512-x", "tarball": "https://example.invalid/w.tgz"},
        "gitHead": "0" * 40,
        "readme": "ERROR: No README data found!",
        "dependencies": {"tiny": "1.0.0", "left-pad": "^1.3.0"},  # order does not matter
    }
    assert difference(served, PACKAGE) is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"dependencies": {"left-pad": "^1.3.0"}}, "dependencies"),
        ({"dependencies": {**PACKAGE["dependencies"], "evil": "1.0.0"}}, "dependencies"),
        ({"scripts": {"test": "node test.js", "postinstall": "node x.js"}}, "scripts"),
        ({"bin": {"widget": "cli.js"}}, "bin"),
        ({"engines": {"node": ">=99"}}, "engines"),
        ({"os": ["linux"]}, "os"),
        ({"optionalDependencies": {"fsevents": "2"}}, "optionalDependencies"),
        ({"name": "other"}, "name"),
        ({"version": "1.2.4"}, "version"),
        ({"main": "evil.js"}, "main"),
    ],
)
def test_a_confusable_field_that_differs_is_named(change: dict[str, Any], field: str) -> None:
    assert field in CONFUSABLE_FIELDS
    assert difference(PACKAGE | change, PACKAGE) == field
    # Either side: hiding what the tarball has is the same confusion.
    assert difference(PACKAGE, PACKAGE | change) == field


def test_empty_and_missing_are_the_same_and_build_metadata_may_be_dropped() -> None:
    assert difference(PACKAGE | {"optionalDependencies": {}, "os": []}, PACKAGE) is None
    assert difference(PACKAGE, PACKAGE | {"version": "1.2.3+build.7"}) is None
    assert first_difference({"version": "1.2.3+a"}, {"version": "1.2.3"}) == "version"


def test_npm_normalisation_runs_on_both_sides() -> None:
    # A binding.gyp makes npm add `install: node-gyp rebuild`; directories.bin lists the bin
    # folder; a registry that states the normalised form agrees with the raw package.json.
    packed = PACKAGE | {"directories": {"bin": "bin"}}
    claimed = PACKAGE | {
        "directories": {"bin": "bin"},
        "bin": {"tool": "bin/tool"},
        "scripts": {"test": "node test.js", "install": "node-gyp rebuild"},
        "gypfile": True,
    }
    assert difference(claimed, packed, "binding.gyp", "bin/tool") is None
    # The gyp rule adds the same install script to both sides; a manifest without the bin
    # folder the package.json names does not list its executables.
    assert difference(PACKAGE, packed, "binding.gyp", "bin/tool") == "bin"


def test_the_bundled_alias_is_named_as_the_manifest_spells_it() -> None:
    claimed = PACKAGE | {"bundledDependencies": ["tiny"]}
    assert difference(claimed, PACKAGE) == "bundledDependencies"
    assert difference(claimed, PACKAGE | {"bundleDependencies": ["tiny"]}) is None


def test_a_manifest_npm_would_not_publish_is_an_error() -> None:
    with pytest.raises(ManifestError):
        difference(PACKAGE | {"name": "Not A Name"}, PACKAGE)
    with pytest.raises(ManifestError):
        tarball_manifest(contents(PACKAGE | {"name": 7}))


def test_stated_facts_must_hold_of_the_tarball() -> None:
    plain = contents(PACKAGE)
    actual = tarball_manifest(plain)
    assert stated_difference({}, plain, actual) is None  # nothing stated, nothing checked
    assert stated_difference({"hasInstallScript": False}, plain, actual) is None
    assert stated_difference({"hasInstallScript": True}, plain, actual) == "hasInstallScript"
    assert stated_difference({"_hasShrinkwrap": True}, plain, actual) == "_hasShrinkwrap"
    scripted = contents(PACKAGE | {"scripts": {"postinstall": "node x.js"}}, "npm-shrinkwrap.json")
    actual = tarball_manifest(scripted)
    assert stated_difference({"hasInstallScript": False}, scripted, actual) == "hasInstallScript"
    assert stated_difference({"hasInstallScript": True}, scripted, actual) is None
    assert stated_difference({"_hasShrinkwrap": False}, scripted, actual) == "_hasShrinkwrap"
    # npm's gypfile rule counts: a binding.gyp is an install script.
    gyp = contents(PACKAGE, "binding.gyp")
    assert stated_difference({"hasInstallScript": True}, gyp, tarball_manifest(gyp)) is None
