"""`assay.npm.names`: the one package-name validator (validate-npm-package-name) and paths."""

from __future__ import annotations

import pytest

from assay.errors import ManifestError
from assay.npm.names import (
    PackageName,
    escaped_name,
    name_problem,
    parse_package_path,
    validate,
)
from assay.npm.package_json import check_name


@pytest.mark.parametrize(
    "name", ["a", "lodash", "@scope/pkg", "my-pkg.js", "a_b", "-dash", "x" * 214]
)
def test_valid_names(name: str) -> None:
    assert name_problem(name) is None
    assert validate(name).valid_for_new_packages


@pytest.mark.parametrize(
    "name",
    ["", ".x", "_x", "Upper", " x", "x ", "fs", "http", "node_modules", "favicon.ico",
     "a/b", "@scope", "@scope/", "@/x", "@scope/.x", "@scope/..", "@../x", "a~b", "a!b",
     "a(b)", "a'b", "a*b", "a b", "x" * 215, "..", "a\\b", "@s/a/b", "%2e%2e"],
)  # fmt: skip
def test_invalid_names(name: str) -> None:
    assert name_problem(name) is not None
    with pytest.raises(ManifestError, match="Invalid package name"):
        PackageName.parse(name)


@pytest.mark.parametrize(
    ("name", "old", "new"),
    [
        # What old packages may have (JSONStream, long names, core names) but new ones not.
        ("JSONStream", True, False),
        ("x" * 215, True, False),
        ("fs", True, False),
        ("a~b", True, False),
        ("@Scope/x", True, False),
        # Errors: invalid for everyone.
        ("", False, False),
        (".x", False, False),
        ("_x", False, False),
        (" x", False, False),
        ("node_modules", False, False),
        ("a/b", False, False),
        ("a:b", False, False),
        ("@s/a/b", False, False),
        ("é", False, False),
    ],
)
def test_validate_old_and_new(name: str, old: bool, new: bool) -> None:
    validity = validate(name)
    assert (validity.valid_for_old_packages, validity.valid_for_new_packages) == (old, new)


def test_validate_wording() -> None:
    assert validate("Pkg").warnings == ("name can no longer contain capital letters",)
    assert validate("fs").warnings == ("fs is a core module name",)
    assert validate("a b").errors == ("name can only contain URL-friendly characters",)
    assert validate(None).errors == ("name cannot be null",)
    assert validate(3).errors == ("name must be a string",)


def test_registry_is_stricter_for_scope_parts() -> None:
    # Valid for npm, refused here: no part of a name may read as `.`/`..` or a hidden file.
    assert validate("@scope/.x").valid_for_new_packages
    assert name_problem("@scope/.x") == "scoped name must be @scope/name, both parts url-safe"


def test_publisher_takes_what_npm_publish_takes() -> None:
    assert check_name("  JSONStream ") == "JSONStream"
    for bad in ("_x", ".x", "a/b", "node_modules", 1):
        with pytest.raises(ManifestError):
            check_name(bad)


def test_package_paths() -> None:
    assert parse_package_path("@s/p").kind == "doc"
    assert parse_package_path("p/-rev/3-abc").rev == "3-abc"
    tarball_path = parse_package_path("@s/p/-/p-1.0.0.tgz/-rev/2-x")
    assert (tarball_path.name.name, tarball_path.filename, tarball_path.rev) == (
        "@s/p",
        "p-1.0.0.tgz",
        "2-x",
    )
    assert parse_package_path("p/latest").version == "latest"
    for bad in ("../etc", "p/-/../x.tgz", "p/-/.x.tgz", "p\\..", "@s", "p/a/b", "p/-/x.txt"):
        with pytest.raises(ManifestError):
            parse_package_path(bad)


def test_url_forms() -> None:
    name = PackageName.parse("@s/p")
    assert name.tarball_filename("1.0.0") == "p-1.0.0.tgz"
    assert name.attachment_key("1.0.0") == "@s/p-1.0.0.tgz"
    assert name.escaped == escaped_name("@s/p") == "@s%2fp"
    assert (name.scope, name.bare) == ("s", "p")
