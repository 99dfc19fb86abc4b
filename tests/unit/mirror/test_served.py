"""The packument the mirror serves for an upstream package (assay.mirror.served)."""

from __future__ import annotations

import json
from typing import Any

from assay.mirror.served import served_packument
from assay.npm.names import PackageName

ORIGIN = "http://mirror.invalid"


def upstream() -> dict[str, Any]:
    def version(v: str) -> dict[str, Any]:
        return {
            "name": "left-pad",
            "version": v,
            "gitHead": "0" * 40,
            "_npmUser": {"name": "someone", "email": "someone@example.invalid"},
            "maintainers": [{"name": "someone", "email": "someone@example.invalid"}],
            "dependencies": {"a": "^1.0.0"},
            "dist": {
                "integrity": "sha512-AAAA",
                "tarball": f"https://registry.npmjs.org/left-pad/-/left-pad-{v}.tgz",
            },
        }

    return {
        "_id": "left-pad",
        "_rev": "9-abc",
        "name": "left-pad",
        "dist-tags": {"latest": "1.1.0", "next": "2.0.0-rc.1"},
        "versions": {v: version(v) for v in ("1.0.0", "1.1.0", "2.0.0-rc.1")},
        "time": {
            "created": "2020",
            "modified": "2021",
            "1.0.0": "a",
            "1.1.0": "b",
            "2.0.0-rc.1": "c",
        },
    }


def test_only_allowed_versions_are_served_and_tags_follow() -> None:
    packument = served_packument(
        upstream(), PackageName("left-pad"), {"1.0.0"}, origin=ORIGIN, changed_ms=0
    )
    full = json.loads(packument.full.body)
    assert list(full["versions"]) == ["1.0.0"]
    assert full["dist-tags"] == {"latest": "1.0.0"}  # latest moved, next dropped
    assert set(full["time"]) == {"created", "modified", "1.0.0"}
    assert "_rev" not in full
    dist = full["versions"]["1.0.0"]["dist"]
    assert dist["tarball"] == f"{ORIGIN}/left-pad/-/left-pad-1.0.0.tgz"
    assert dist["integrity"] == "sha512-AAAA"
    corgi = json.loads(packument.corgi.body)
    assert list(corgi["versions"]) == ["1.0.0"]


def test_the_uplinks_claims_of_publisher_and_commit_are_not_served() -> None:
    packument = served_packument(
        upstream(), PackageName("left-pad"), {"1.0.0", "1.1.0"}, origin=ORIGIN, changed_ms=0
    )
    full = json.loads(packument.full.body)
    assert "maintainers" not in full
    for manifest in full["versions"].values():
        assert not {"gitHead", "_npmUser", "maintainers"} & set(manifest)
        assert manifest["dependencies"] == {"a": "^1.0.0"}  # checked on ingest, kept
