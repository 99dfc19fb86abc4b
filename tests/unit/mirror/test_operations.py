"""The pure parts of the mirror's operator commands and page: what a lockfile asks to prefetch,
how names and ``name@version`` are read, and the page's view of the verdicts."""

from __future__ import annotations

import click
import pytest

from assay.cli.mirror import Wanted, lockfile_wanted, spec_wanted
from assay.mirror.app import parse_spec
from assay.mirror.reports import MirroredVersion
from assay.registry.errors import BadRequest
from assay.verify.facts import VerifiedFacts
from assay.web.mirror_view import ingest_facts, mirror_panel

INTEGRITY = "sha512-" + "A" * 86 + "=="


def test_lockfile_v3_registry_versions_only() -> None:
    lock = {
        "lockfileVersion": 3,
        "packages": {
            "": {"name": "project", "version": "1.0.0"},
            "node_modules/a": {"version": "1.0.0", "resolved": "https://r/a/-/a-1.0.0.tgz",
                               "integrity": INTEGRITY},
            "node_modules/a/node_modules/@s/b": {"version": "2.0.0",
                                                 "resolved": "https://r/@s/b/-/b-2.0.0.tgz"},
            "node_modules/alias": {"name": "a", "version": "1.0.0",
                                   "resolved": "https://r/a/-/a-1.0.0.tgz"},
            "node_modules/linked": {"link": True, "resolved": "../linked"},
            "node_modules/bundled": {"version": "1.0.0", "inBundle": True},
            "node_modules/from-git": {"version": "1.0.0",
                                      "resolved": "git+ssh://git@github.com/o/r.git#abc"},
            "packages/workspace": {"version": "0.0.1"},
        },
    }  # fmt: skip
    assert lockfile_wanted(lock) == [
        Wanted("a", "1.0.0", integrity=INTEGRITY),
        Wanted("@s/b", "2.0.0"),
    ]


def test_lockfile_v1_nested_dependencies() -> None:
    lock = {
        "lockfileVersion": 1,
        "dependencies": {
            "a": {"version": "1.0.0", "integrity": INTEGRITY,
                  "dependencies": {"b": {"version": "2.0.0"}}},
            "c": {"version": "3.0.0", "bundled": True},
            "d": {"version": "file:../d"},
        },
    }  # fmt: skip
    assert lockfile_wanted(lock) == [
        Wanted("a", "1.0.0", integrity=INTEGRITY),
        Wanted("b", "2.0.0"),
    ]


def test_names_on_the_command_line() -> None:
    assert spec_wanted("lodash") == Wanted("lodash", tag="latest")
    assert spec_wanted("lodash@4.17.21") == Wanted("lodash", "4.17.21")
    assert spec_wanted("@types/node@next") == Wanted("@types/node", tag="next")
    assert spec_wanted("@types/node") == Wanted("@types/node", tag="latest")
    for bad in ("lodash@^4.0.0", "lodash@", "@", "@scope", "a/b"):
        with pytest.raises(click.BadParameter):
            spec_wanted(bad)


def test_evict_specs() -> None:
    assert parse_spec("left-pad") == (parse_spec("left-pad")[0], None)
    name, version = parse_spec("@scope%2fpkg@1.0.0")
    assert (name.name, version) == ("@scope/pkg", "1.0.0")
    name, version = parse_spec("@scope/pkg")
    assert (name.name, version) == ("@scope/pkg", None)
    for bad in ("", "a@", "@scope", "a/b", "@s/p/q"):
        with pytest.raises(BadRequest):
            parse_spec(bad)


FACTS = VerifiedFacts(
    issuer="https://token.actions.githubusercontent.com",
    ci="GitHub Actions",
    signer_identity="https://github.com/o/r/.github/workflows/release.yml@refs/heads/main",
    source_repository_uri="https://github.com/o/r",
)


def version(v: str, *, served: bool, facts: VerifiedFacts | None = None) -> MirroredVersion:
    return MirroredVersion(
        version=v, uplink="npmjs", served=served,
        reason=None if served else "refused on ingest: EINTEGRITYSIGNATURE: bad",
        signatures="verified", provenance="https://slsa.dev/provenance/v1" if facts else None,
        facts=facts, verified_ms=1_700_000_000_000, tarball_stored=served,
    )  # fmt: skip


def test_panel_rows_newest_listed_first_and_no_userinfo() -> None:
    versions = [version("1.0.0", served=True, facts=FACTS), version("1.1.0", served=False)]
    panel = mirror_panel(versions, "1.0.0", "https://user:secret@registry.example/npm/")
    assert panel is not None
    assert panel.uplink == "npmjs"
    assert panel.uplink_url == "https://registry.example/npm/"
    assert [row.version for row in panel.rows] == ["1.1.0", "1.0.0"]
    assert panel.held == 1
    assert panel.shown is not None
    assert panel.shown.provenance
    assert mirror_panel([], "1.0.0", None) is None


def test_ingest_facts_only_of_served_versions() -> None:
    versions = [version("1.0.0", served=True, facts=FACTS), version("1.1.0", served=False)]
    assert ingest_facts(versions, "1.0.0") == FACTS
    assert ingest_facts(versions, "1.1.0") is None
    assert ingest_facts(versions, "9.9.9") is None
