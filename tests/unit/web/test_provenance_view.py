"""The provenance panel's fields, read from REAL npm attestations (tests/fixtures/npm-real)."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest

from assay.provenance.fulcio import EXTENSION_NAMES
from assay.web.provenance_view import (
    PUBLIC_GOOD_REKOR_LOG_ID,
    Link,
    attestations_view,
    web_url,
)
from tests.npm_real import ROOT

GUNDAM = ROOT / "slsa-verifier" / "gundam-visor-cli-v1-tag.tgz.json"
COMMIT = "599500821344b070902a7a5666064bfdaba715df"
REPO = "https://github.com/ramonpetgrave64/gundam-visor"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / name).read_text())
    return data


def test_gundam_visor_reads_as_npmjs_shows_it() -> None:
    view = attestations_view(json.loads(GUNDAM.read_text()))
    assert view.problems == ()
    provenance = view.provenance
    assert provenance is not None
    assert provenance.signed_on == "Built and signed on GitHub Actions"
    assert provenance.slsa_version == "SLSA v1"
    assert provenance.source_repository == Link("github.com/ramonpetgrave64/gundam-visor", REPO)
    assert provenance.source_commit == Link(COMMIT, f"{REPO}/tree/{COMMIT}")
    assert provenance.build_file == Link(
        ".github/workflows/npm-publish.yml",
        f"{REPO}/blob/{COMMIT}/.github/workflows/npm-publish.yml",
    )
    assert provenance.invocation == Link(
        f"{REPO}/actions/runs/9358004112/attempts/1", f"{REPO}/actions/runs/9358004112/attempts/1"
    )
    assert provenance.build.source_ref == "refs/tags/v1.0.1"
    assert provenance.build.event == "release"
    assert provenance.build.runner_environment == "github-hosted"
    assert provenance.statement.subject.name == "pkg:npm/gundam-visor@1.0.1"


def test_gundam_visor_certificate_names_every_extension() -> None:
    provenance = attestations_view(json.loads(GUNDAM.read_text())).provenance
    assert provenance is not None
    certificate = provenance.certificate
    assert certificate is not None
    assert certificate.san == f"{REPO}/.github/workflows/npm-publish.yml@refs/tags/v1.0.1"
    assert certificate.issuer == "https://token.actions.githubusercontent.com"
    assert certificate.ca == "CN=sigstore-intermediate,O=sigstore.dev"
    names = {e.name: e.value for e in certificate.extensions}
    assert names["Source Repository URI"] == REPO
    assert names["Source Repository Digest"] == COMMIT
    assert names["Build Config URI"] == f"{REPO}/.github/workflows/npm-publish.yml@refs/tags/v1.0.1"
    assert names["Runner Environment"] == "github-hosted"
    assert names["Run Invocation URI"] == f"{REPO}/actions/runs/9358004112/attempts/1"
    assert names["GitHub Workflow Trigger (deprecated)"] == "release"
    assert names["Source Repository Visibility At Signing"] == "public"
    # Every Sigstore extension has a name in words; none is left as a bare OID.
    assert all(not e.name.startswith("Sigstore extension") for e in certificate.extensions)
    arcs = [int(e.oid.rsplit(".", 1)[1]) for e in certificate.extensions]
    assert arcs == sorted(arcs)
    assert {e.oid for e in certificate.extensions} <= {oid.dotted_string for oid in EXTENSION_NAMES}
    assert certificate.extension(12) == REPO


def test_gundam_visor_log_entry_and_inclusion_proof() -> None:
    provenance = attestations_view(json.loads(GUNDAM.read_text())).provenance
    assert provenance is not None
    entry = provenance.log_entry
    assert entry is not None
    assert entry.log_index == 99434462
    assert entry.log_id == PUBLIC_GOOD_REKOR_LOG_ID
    assert (entry.kind, entry.kind_version) == ("intoto", "0.0.2")
    assert entry.integrated_time is not None
    assert entry.integrated_time.year == 2024
    assert entry.ledger.href == "https://search.sigstore.dev/?logIndex=99434462"
    assert not entry.in_this_log
    assert entry.inclusion is not None
    assert entry.inclusion.valid, entry.inclusion.detail
    assert entry.inclusion.tree_size == 95271032
    assert entry.inclusion.checkpoint
    assert entry.inclusion.checkpoint.startswith("rekor.sigstore.dev")


def test_publish_attestation_is_read() -> None:
    publish = attestations_view(json.loads(GUNDAM.read_text())).publish
    assert publish is not None
    assert (publish.name, publish.version) == ("gundam-visor", "1.0.1")
    assert publish.registry == "https://registry.npmjs.org"
    assert publish.key_hint == "SHA256:jl3bwswu80PjjokCgh0o2w5c2U4LhQAE57gj9cz1kzA"
    assert publish.log_entry is not None
    assert publish.log_entry.log_index == 99434465


def test_own_log_entries_link_to_our_log_page() -> None:
    def ours(log_id: str, index: int) -> Link | None:
        return (
            Link("ours", f"/-/web/log/entries/{index}")
            if log_id == PUBLIC_GOOD_REKOR_LOG_ID
            else None
        )

    provenance = attestations_view(json.loads(GUNDAM.read_text()), ours).provenance
    assert provenance is not None
    assert provenance.log_entry is not None
    assert provenance.log_entry.in_this_log
    assert provenance.log_entry.ledger == Link("ours", "/-/web/log/entries/99434462")


GENERATIONS = [
    ("npm-cli/valid-sigstore-attestations.json", "sigstore/sigstore-js", "publish.yml"),
    (
        "slsa-verifier/provenance-npm-test-cli-v02-prega.tgz.json",
        "laurentsimon/provenance-npm-test",
        "release.yml",
    ),
    (
        "slsa-verifier/provenance-npm-test-cli-v1-prega.tgz.json",
        "sigstore/sigstore-js",
        "release.yml",
    ),
    (
        "slsa-verifier/supreme-googles-cli-v02-tag.tgz.json",
        "trishankatdatadog/supreme-goggles",
        "npm-publish.yml",
    ),
]


@pytest.mark.parametrize(("name", "repository", "workflow"), GENERATIONS)
def test_every_generation_of_npm_provenance_reads(
    name: str, repository: str, workflow: str
) -> None:
    view = attestations_view(load(name))
    assert view.problems == ()
    provenance = view.provenance
    assert provenance is not None
    assert provenance.signed_on == "Built and signed on GitHub Actions"
    assert provenance.source_repository is not None
    assert provenance.source_repository.href == f"https://github.com/{repository}"
    assert provenance.build_file is not None
    assert provenance.build_file.text == f".github/workflows/{workflow}"
    assert provenance.log_entry is not None
    # v0.1 bundles carry only the signed promise; v0.2 ones a proof that holds.
    if provenance.media_type.endswith("version=0.1"):
        assert provenance.log_entry.inclusion is None
        assert provenance.log_entry.has_promise
    else:
        assert provenance.log_entry.inclusion is not None
        assert provenance.log_entry.inclusion.valid


def test_tampered_inclusion_proof_does_not_hold() -> None:
    data = json.loads(GUNDAM.read_text())
    provenance = next(a for a in data["attestations"] if "slsa" in a["predicateType"])
    proof = provenance["bundle"]["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
    proof["hashes"][3] = base64.b64encode(b"\x01" * 32).decode()
    view = attestations_view(data).provenance
    assert view is not None
    assert view.log_entry is not None
    assert view.log_entry.inclusion is not None
    assert not view.log_entry.inclusion.valid
    assert "does not hold" in view.log_entry.inclusion.detail


def test_unreadable_attestations_are_reported_not_raised() -> None:
    data = json.loads(GUNDAM.read_text())
    broken = copy.deepcopy(data)
    for attestation in broken["attestations"]:
        attestation["bundle"]["mediaType"] = "application/unknown"
    view = attestations_view(broken)
    assert view.provenance is None
    assert view.publish is None
    assert len(view.problems) == 2
    assert all("mediaType" in problem for problem in view.problems)
    nonsense: object
    for nonsense in (None, [], {"attestations": "x"}, {"attestations": [1, {"bundle": 2}]}):
        empty = attestations_view(nonsense)
        assert empty.provenance is None
        assert empty.publish is None


def test_links_are_made_only_from_web_urls() -> None:
    data = json.loads(GUNDAM.read_text())
    attestation = next(a for a in data["attestations"] if "slsa" in a["predicateType"])
    envelope = attestation["bundle"]["dsseEnvelope"]
    statement = json.loads(base64.b64decode(envelope["payload"]))
    definition = statement["predicate"]["buildDefinition"]
    definition["externalParameters"]["workflow"]["repository"] = "javascript:alert(1)//"
    statement["predicate"]["runDetails"]["metadata"]["invocationId"] = "data:text/html,x"
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    view = attestations_view(data).provenance  # the signature no longer matters for reading
    assert view is not None
    assert view.source_repository == Link("javascript:alert(1)//", None)
    assert view.source_commit == Link(COMMIT, None)
    assert view.build_file is not None
    assert view.build_file.href is None
    assert view.invocation == Link("data:text/html,x", None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://github.com/a/b", "https://github.com/a/b"),
        ("http://127.0.0.1:4873/x", "http://127.0.0.1:4873/x"),
        ("javascript:alert(1)", None),
        ("JAVASCRIPT:alert(1)", None),
        ("data:text/html,x", None),
        ("//evil.example", None),
        ("https://", None),
        ("https://a b", None),
        ("https://a\nb", None),
        (None, None),
        (42, None),
    ],
)
def test_web_url(value: object, expected: str | None) -> None:
    assert web_url(value) == expected
