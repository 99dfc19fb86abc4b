"""The pages' view models from registry and log data (web/pages.py), without HTTP."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from assay.keys import Signer, generate_ec
from assay.registry.source_check import SourceCheckResult, SourceStatus
from assay.storage.tlog_store import StoredCheckpoint, StoredEntry
from assay.transparency.checkpoint import Checkpoint, sign_checkpoint
from assay.transparency.merkle import MemoryTree, inclusion_proof, leaf_hash
from assay.web.app import templates
from assay.web.pages import (
    PackageSummary,
    PageNotFound,
    checkpoint_view,
    log_entry_page,
    package_entries_page,
    package_page,
    provenance_page,
    recently_published,
    resolve_version,
    search_page,
    summaries,
    version_rows,
)
from assay.web.provenance_view import attestations_view, bundle_facts, provenance_bundle
from tests.npm_real import ROOT

SLSA = {"provenance": {"predicateType": "https://slsa.dev/provenance/v1"}}


def manifest(version: str, provenance: bool = False, **extra: Any) -> dict[str, Any]:
    dist: dict[str, Any] = {"integrity": "sha512-x", "tarball": f"http://r/w/-/w-{version}.tgz"}
    if provenance:
        dist["attestations"] = {"url": f"http://r/-/npm/v1/attestations/w@{version}", **SLSA}
    return {"name": "w", "version": version, "dist": dist, **extra}


def packument(*versions: tuple[str, str, bool], **top: Any) -> dict[str, Any]:
    """(version, publish time, has provenance), in version order as the registry lists them."""
    return {
        "name": "w",
        "dist-tags": {"latest": versions[-1][0]},
        "versions": {v: manifest(v, p) for v, _, p in versions},
        "time": {"created": versions[0][1], **{v: t for v, t, _ in versions}},
        "maintainers": [{"name": "alice", "email": "a@example.com"}],
        "readme": "# w\n\n<script>alert(1)</script>hello",
        **top,
    }


def test_package_page_shows_latest_with_everything() -> None:
    data = packument(
        ("1.0.0", "2024-01-01T00:00:00.000Z", True), ("1.1.0", "2024-02-01T00:00:00.000Z", True)
    )
    data["versions"]["1.1.0"].update(
        description="A w", license="MIT", keywords=["a", 3, "b"],
        repository={"type": "git", "url": "git+https://github.com/acme/w.git"},
        homepage="https://example.com/w", _npmUser={"name": "alice", "email": "a@example.com"},
    )  # fmt: skip
    data["dist-tags"]["beta"] = "1.0.0"
    page = package_page(data, None, None, registry="http://127.0.0.1:4873")
    assert (page.name, page.version, page.latest, page.is_latest) == ("w", "1.1.0", "1.1.0", True)
    assert page.description == "A w"
    assert page.license == "MIT"
    assert page.keywords == ("a", "b")
    assert page.repository is not None
    assert page.repository.href == "https://github.com/acme/w"
    assert page.homepage is not None
    assert page.homepage.href == "https://example.com/w"
    assert page.maintainers == ("alice",)
    assert page.publisher == "alice"
    assert page.install_command == "npm install w"
    assert page.registry == "http://127.0.0.1:4873/"
    assert page.dist_tags == (("latest", "1.1.0"), ("beta", "1.0.0"))
    assert [(r.version, r.tags, r.provenance) for r in page.versions] == [
        ("1.1.0", ("latest",), True),
        ("1.0.0", ("beta",), True),
    ]
    assert "<h3>w</h3>" in page.readme_html
    assert "script" not in page.readme_html
    assert page.provenance.present
    assert not page.provenance.downgrade
    # No attestations response was given: present per the packument, not verified here.
    assert not page.provenance.verified_by_registry


def test_a_version_or_a_tag_can_be_shown() -> None:
    data = packument(
        ("1.0.0", "2024-01-01T00:00:00Z", False), ("2.0.0", "2024-02-01T00:00:00Z", False)
    )
    data["dist-tags"]["old"] = "1.0.0"
    page = package_page(data, "1.0.0", None, registry="http://r")
    assert (page.version, page.is_latest, page.readme_of_latest) == ("1.0.0", False, True)
    assert page.install_command == "npm install w@1.0.0"
    assert package_page(data, "old", None, registry="http://r").version == "1.0.0"
    with pytest.raises(PageNotFound):
        package_page(data, "3.0.0", None, registry="http://r")


def test_provenance_downgrade_follows_publish_time() -> None:
    # 1.0.1 is published last without provenance, after 2.0.0 had it: a downgrade, though it is
    # not the highest version. 0.9.0 came before any provenance: just "none".
    data = packument(
        ("0.9.0", "2024-01-01T00:00:00Z", False),
        ("1.0.0", "2024-02-01T00:00:00Z", True),
        ("1.0.1", "2024-04-01T00:00:00Z", False),
        ("2.0.0", "2024-03-01T00:00:00Z", True),
    )
    rows = {r.version: r for r in version_rows(data)}
    assert [r.version for r in version_rows(data)] == ["1.0.1", "2.0.0", "1.0.0", "0.9.0"]
    assert rows["1.0.1"].downgrade
    assert not rows["1.0.1"].provenance
    assert not rows["0.9.0"].downgrade
    assert not rows["0.9.0"].provenance
    assert not rows["2.0.0"].downgrade
    assert rows["2.0.0"].provenance
    page = package_page(data, "1.0.1", None, registry="http://r")
    assert page.provenance.downgrade
    assert not page.provenance.present
    assert not package_page(data, "0.9.0", None, registry="http://r").provenance.downgrade


def test_package_page_with_real_attestations() -> None:
    response = json.loads((ROOT / "slsa-verifier" / "gundam-visor-cli-v1-tag.tgz.json").read_text())
    data = packument(("1.0.1", "2024-06-03T22:18:00Z", True))
    page = package_page(data, None, attestations_view(response), registry="http://r")
    assert page.provenance.verified_by_registry
    assert page.provenance.attestations is not None
    assert page.provenance.attestations.provenance is not None
    # Without verified facts the panel states nothing about the build.
    assert page.provenance.facts is None
    facts = bundle_facts(provenance_bundle(response), instance_issuer="http://r/-/oidc")
    page = package_page(data, None, attestations_view(response), registry="http://r", facts=facts)
    assert page.provenance.facts is not None
    assert page.provenance.facts.signed_on == "Built and signed on GitHub Actions"
    assert page.provenance.source_check is None


GUNDAM = ROOT / "slsa-verifier" / "gundam-visor-cli-v1-tag.tgz.json"
GUNDAM_REPO = "https://github.com/ramonpetgrave64/gundam-visor"
GUNDAM_COMMIT = "599500821344b070902a7a5666064bfdaba715df"


def _spoofed_gundam() -> dict[str, Any]:
    """gundam-visor's real attestations with a statement that claims facebook/react and a
    build summary on another site (as an attacker would write it)."""
    data: dict[str, Any] = json.loads(GUNDAM.read_text())
    attestation = next(a for a in data["attestations"] if "slsa" in a["predicateType"])
    envelope = attestation["bundle"]["dsseEnvelope"]
    statement = json.loads(base64.b64decode(envelope["payload"]))
    definition = statement["predicate"]["buildDefinition"]
    definition["externalParameters"]["workflow"]["repository"] = "https://github.com/facebook/react"
    statement["predicate"]["runDetails"]["metadata"]["invocationId"] = "https://evil.example/run"
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    return data


def _render(template: str, **context: Any) -> str:
    return templates("/-/web").get_template(template).render(**context)


def test_rendered_panel_states_the_certificate_not_the_statement() -> None:
    response = _spoofed_gundam()
    data = packument(("1.0.1", "2024-06-03T22:18:00Z", True))
    facts = bundle_facts(provenance_bundle(response), instance_issuer="http://r/-/oidc")
    checked = SourceCheckResult(
        GUNDAM_REPO, GUNDAM_COMMIT, SourceStatus.MISSING, datetime(2026, 1, 2, tzinfo=UTC), "x"
    )
    page = package_page(
        data, None, attestations_view(response), registry="http://r", facts=facts,
        source_check=checked,
    )  # fmt: skip
    html = _render("package.html", page=page)
    assert "Built and signed on GitHub Actions" in html
    assert f'href="{GUNDAM_REPO}/actions/runs/9358004112/attempts/1"' in html
    assert "facebook" not in html
    assert "evil.example" not in html
    assert "https://token.actions.githubusercontent.com" in html
    assert f"commit {GUNDAM_COMMIT[:12]} NOT found in {GUNDAM_REPO}" in html
    assert "emulated CI" not in html

    details = provenance_page(
        "w", "1.0.1", attestations_view(response), facts, attestations_url="/-/npm/v1/x"
    )
    assert details.claims is not None
    assert details.claims.mismatch is not None
    html = _render("provenance.html", page=details)
    assert "What the builder claimed (not verified beyond its signature)" in html
    assert "The statement disagrees with the signing certificate" in html
    assert 'href="https://evil.example' not in html  # a claim is text, never a link
    assert 'href="https://github.com/facebook' not in html


def test_rendered_panel_names_the_emulated_ci() -> None:
    response = json.loads(GUNDAM.read_text())
    data = packument(("1.0.1", "2024-06-03T22:18:00Z", True))
    # This instance's issuer signed it: as the emulated CI's certificates are.
    facts = bundle_facts(
        provenance_bundle(response), instance_issuer="https://token.actions.githubusercontent.com"
    )
    page = package_page(data, None, attestations_view(response), registry="http://r", facts=facts)
    html = _render("package.html", page=page)
    assert "Built and signed on emulated CI of this instance" in html
    assert "GitHub Actions" not in html
    details = provenance_page(
        "w", "1.0.1", attestations_view(response), facts, attestations_url="/-/npm/v1/x"
    )
    html = _render("provenance.html", page=details)
    assert "Built and signed on emulated CI of this instance" in html
    assert "The statement agrees with the certificate on: repository, commit, ref" in html


def test_malformed_packument_values_do_not_break_the_page() -> None:
    data = packument(("1.0.0", "not a date", False))
    data["versions"]["1.0.0"].update(
        repository="acme/w", license={"type": "ISC"}, homepage="javascript:alert(1)", keywords="x"
    )
    data["maintainers"] = [{"name": 3}, "bob", {"name": "carol"}]
    page = package_page(data, None, None, registry="http://r")
    assert page.published is None
    assert page.repository is not None
    assert page.repository.href == "https://github.com/acme/w"
    assert page.license == "ISC"
    assert page.homepage is None
    assert page.keywords == ()
    assert page.maintainers == ("carol",)


def test_search_summaries_and_recent_packages() -> None:
    def obj(name: str, date: str) -> dict[str, Any]:
        package = {"name": name, "version": "1.0.0", "description": f"{name}!", "date": date}
        return {"package": {**package, "keywords": ["k"], "publisher": {"username": "p"}}}

    result = {
        "objects": [
            obj("a", "2024-01-01T00:00:00.000Z"),
            obj("b", "2024-03-01T00:00:00.000Z"),
            obj("c", "2024-02-01T00:00:00.000Z"),
            {"package": {"name": 5}},
            "junk",
        ],
        "total": 3,
    }
    found = summaries(result)
    assert [p.name for p in found] == ["a", "b", "c"]
    assert found[0] == PackageSummary("a", "1.0.0", "a!", found[0].date, "p", ("k",))
    assert found[0].date is not None
    assert [p.name for p in recently_published(found, 2)] == ["b", "c"]
    page = search_page("a b", {**result, "total": 5}, offset=0, size=3)
    assert page.total == 5
    assert page.next_offset == 3
    assert page.previous_offset is None
    assert search_page("a b", result, offset=0, size=3).next_offset is None
    later = search_page("a b", {"objects": [obj("z", "x")], "total": 3}, offset=2, size=2)
    assert later.next_offset is None
    assert later.previous_offset == 0


def _log(bodies: list[bytes]) -> tuple[MemoryTree, list[StoredEntry]]:
    tree = MemoryTree([leaf_hash(body) for body in bodies])
    entries = [
        StoredEntry(i, leaf_hash(body).hex(), "dsse", "0.0.1", body, 1_700_000_000 + i, b"set")
        for i, body in enumerate(bodies)
    ]
    return tree, entries


def test_log_entry_page_checks_the_proof_against_the_checkpoint() -> None:
    bodies = [json.dumps({"kind": "dsse", "n": i}).encode() for i in range(5)]
    tree, entries = _log(bodies)
    proof = inclusion_proof(3, tree.size, tree)
    signer = Signer(generate_ec())
    note = sign_checkpoint(
        Checkpoint("example.org - 1", tree.size, tree.root), "example.org", signer
    )
    other_note = sign_checkpoint(Checkpoint("example.org - 1", 6, tree.root), "example.org", signer)
    rendered = {
        "verification": {
            "inclusionProof": {
                "logIndex": 3,
                "treeSize": tree.size,
                "rootHash": tree.root.hex(),
                "hashes": [h.hex() for h in proof],
                "checkpoint": note,
            }
        }
    }
    page = log_entry_page(entries[3], rendered, "00" * 8 + entries[3].uuid)
    assert page.inclusion.valid, page.inclusion.detail
    assert page.checkpoint is not None
    assert page.checkpoint.size == 5
    assert page.checkpoint.signers == ("example.org",)
    assert '"n": 3' in page.body_json
    assert page.entry.integrated_time is not None
    # The proof for another entry does not hold for this one.
    wrong = log_entry_page(entries[2], rendered, "x")
    assert not wrong.inclusion.valid
    # A checkpoint of another tree size does not back the proof.
    other = {**rendered}
    other["verification"] = {
        "inclusionProof": {**rendered["verification"]["inclusionProof"],
                           "checkpoint": other_note}
    }  # fmt: skip
    mismatched = log_entry_page(entries[3], other, "x")
    assert not mismatched.inclusion.valid
    assert "checkpoint" in mismatched.inclusion.detail


def test_package_entries_page_lists_each_versions_entries() -> None:
    response = json.loads((ROOT / "slsa-verifier" / "gundam-visor-cli-v1-tag.tgz.json").read_text())
    page = package_entries_page("w", [("1.0.1", attestations_view(response)), ("1.0.0", None)])
    assert [(e.version, e.what, e.log_index) for e in page.entries] == [
        ("1.0.1", "SLSA provenance", 99434462),
        ("1.0.1", "publish attestation", 99434465),
    ]
    assert page.without == ("1.0.0",)


def test_checkpoint_view() -> None:
    note = sign_checkpoint(Checkpoint("o - 7", 2, b"\x01" * 32), "o", Signer(generate_ec()))
    view = checkpoint_view(StoredCheckpoint(2, b"\x01" * 32, note, 1_700_000_000))
    assert view.size == 2
    assert view.root_hash == "01" * 32
    assert (view.origin, view.signers) == ("o - 7", ("o",))
    assert view.created is not None
    assert view.created.year == 2023


def test_resolve_version() -> None:
    data = packument(
        ("1.0.0", "2024-01-01T00:00:00Z", True), ("2.0.0", "2024-02-01T00:00:00Z", False)
    )
    data["dist-tags"]["stable"] = "1.0.0"
    assert resolve_version(data, None) == "2.0.0"
    assert resolve_version(data, "stable") == "1.0.0"
    assert resolve_version(data, "1.0.0") == "1.0.0"
    for missing in ("3.0.0", "nightly"):
        with pytest.raises(PageNotFound):
            resolve_version(data, missing)
    del data["dist-tags"]["latest"]
    assert resolve_version(data, None) == "2.0.0"
    with pytest.raises(PageNotFound):
        resolve_version({"name": "w", "versions": {}}, None)
