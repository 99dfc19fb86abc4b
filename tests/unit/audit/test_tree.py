"""Reading the installed tree: hidden lockfile, lockfile v1/v2/v3, node_modules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from assay.audit.tree import load_tree
from assay.errors import ConfigError

REG = "https://registry.npmjs.org"


def write(path: Path, value: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))
    return path


V3_PACKAGES: dict[str, Any] = {
    "": {"name": "app", "version": "1.0.0", "dependencies": {"a": "^1"}},
    "node_modules/a": {"version": "1.0.0", "resolved": f"{REG}/a/-/a-1.0.0.tgz",
                       "integrity": "sha512-AAA="},
    "node_modules/@s/b": {"version": "2.0.0", "resolved": f"{REG}/@s/b/-/b-2.0.0.tgz",
                          "integrity": "sha512-BBB=", "dev": True},
    "node_modules/a/node_modules/c": {"version": "3.0.0",
                                      "resolved": f"{REG}/c/-/c-3.0.0.tgz", "optional": True},
    "node_modules/alias": {"name": "real", "version": "1.2.3",
                           "resolved": f"{REG}/real/-/real-1.2.3.tgz"},
    # skipped as npm skips them: links/workspaces, git, file, remote tarballs
    "node_modules/ws": {"resolved": "packages/ws", "link": True},
    "packages/ws": {"name": "ws", "version": "0.0.1"},
    "node_modules/g": {"version": "1.0.0", "resolved": "git+ssh://git@github.com/o/g.git#abc"},
    "node_modules/f": {"version": "1.0.0", "resolved": "file:../f"},
    "node_modules/r": {"version": "1.0.0", "resolved": "https://example.com/r.tgz"},
}  # fmt: skip


def test_hidden_lockfile_is_preferred(tmp_path: Path) -> None:
    write(tmp_path / "package.json", {"dependencies": {"a": "^1", "alias": "npm:real@^1"},
                                      "devDependencies": {"@s/b": "^2"}})  # fmt: skip
    write(tmp_path / "package-lock.json", {"lockfileVersion": 3, "packages": {}})
    hidden = {"lockfileVersion": 3, "packages": {k: v for k, v in V3_PACKAGES.items() if k}}
    write(tmp_path / "node_modules" / ".package-lock.json", hidden)
    tree = load_tree(tmp_path)
    assert tree.source == "hidden-lockfile"
    found = {(p.name, p.version, p.location, p.type) for p in tree.packages}
    assert found == {
        ("a", "1.0.0", "node_modules/a", "dependencies"),
        ("@s/b", "2.0.0", "node_modules/@s/b", "devDependencies"),
        ("c", "3.0.0", "node_modules/a/node_modules/c", "optionalDependencies"),
        ("real", "1.2.3", "node_modules/alias", "dependencies"),
    }
    a = next(p for p in tree.packages if p.name == "a")
    assert (a.integrity, a.resolved) == ("sha512-AAA=", f"{REG}/a/-/a-1.0.0.tgz")
    assert {p.name for p in tree.omit(frozenset({"dev"})).packages} == {"a", "c", "real"}
    assert {p.name for p in tree.omit(frozenset({"dev", "optional"})).packages} == {"a", "real"}


def test_lockfile_v2_without_node_modules(tmp_path: Path) -> None:
    lock = {"lockfileVersion": 2, "packages": V3_PACKAGES,
            "dependencies": {"ignored": {"version": "9.9.9"}}}  # fmt: skip
    write(tmp_path / "package-lock.json", lock)
    tree = load_tree(tmp_path)
    assert tree.source == "lockfile"
    assert {p.name for p in tree.packages} == {"a", "@s/b", "c", "real"}


def test_lockfile_v1_nested_dependencies(tmp_path: Path) -> None:
    lock = {
        "lockfileVersion": 1,
        "dependencies": {
            "a": {"version": "1.0.0", "resolved": f"{REG}/a/-/a-1.0.0.tgz",
                  "integrity": "sha512-AAA=",
                  "dependencies": {"c": {"version": "3.0.0", "dev": True}}},
            "alias": {"version": "npm:real@1.2.3"},
            "g": {"version": "github:o/g#abc"},
            "f": {"version": "file:../f"},
        },
    }  # fmt: skip
    path = write(tmp_path / "npm-shrinkwrap.json", lock)
    tree = load_tree(path)
    found = {(p.name, p.version, p.location, p.dev) for p in tree.packages}
    assert found == {
        ("a", "1.0.0", "node_modules/a", False),
        ("c", "3.0.0", "node_modules/a/node_modules/c", True),
        ("real", "1.2.3", "node_modules/alias", False),
    }


def test_node_modules_walk(tmp_path: Path) -> None:
    write(tmp_path / "package.json", {"dependencies": {"a": "^1"}})
    write(tmp_path / "node_modules/a/package.json", {"name": "a", "version": "1.0.0",
                                                     "_integrity": "sha512-AAA="})  # fmt: skip
    write(tmp_path / "node_modules/@s/b/package.json", {"name": "@s/b", "version": "2.0.0"})
    write(tmp_path / "node_modules/a/node_modules/c/package.json",
          {"name": "c", "version": "3.0.0"})  # fmt: skip
    git = {"name": "g", "version": "1.0.0", "_resolved": "git+https://github.com/o/g.git"}
    write(tmp_path / "node_modules/g/package.json", git)
    (tmp_path / "workspace").mkdir()
    write(tmp_path / "workspace/package.json", {"name": "ws", "version": "1.0.0"})
    (tmp_path / "node_modules/ws").symlink_to(tmp_path / "workspace")
    tree = load_tree(tmp_path)
    assert tree.source == "node_modules"
    found = {(p.name, p.location, p.integrity) for p in tree.packages}
    assert found == {
        ("a", "node_modules/a", "sha512-AAA="),
        ("@s/b", "node_modules/@s/b", None),
        ("c", "node_modules/a/node_modules/c", None),
    }


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such project"):
        load_tree(tmp_path / "absent")
    (tmp_path / "package-lock.json").write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read"):
        load_tree(tmp_path)
