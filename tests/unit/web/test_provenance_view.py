"""The provenance panel's fields, read from REAL npm attestations (tests/fixtures/npm-real).

What the panel states about a build comes from the signing certificate (FactsView over
VerifiedFacts); the statement is only the builder's claim (issue 10).
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest

from assay.provenance.fulcio import EXTENSION_NAMES
from assay.verify.facts import EMULATED_CI, GITHUB_ACTIONS_ISSUER, VerifiedFacts
from assay.web.provenance_view import (
    PUBLIC_GOOD_REKOR_LOG_ID,
    FactsView,
    Link,
    attestations_view,
    bundle_facts,
    claims_check,
    provenance_bundle,
    web_url,
)
from tests.npm_real import ROOT

GUNDAM = ROOT / "slsa-verifier" / "gundam-visor-cli-v1-tag.tgz.json"
COMMIT = "599500821344b070902a7a5666064bfdaba715df"
REPO = "https://github.com/ramonpetgrave64/gundam-visor"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / name).read_text())
    return data


def facts_of(data: object, instance_issuer: str | None = None) -> FactsView:
    facts = bundle_facts(provenance_bundle(data), instance_issuer=instance_issuer)
    assert facts is not None
    return FactsView(facts)


def test_gundam_visor_reads_as_npmjs_shows_it() -> None:
    data = json.loads(GUNDAM.read_text())
    view = attestations_view(data)
    assert view.problems == ()
    provenance = view.provenance
    assert provenance is not None
    assert provenance.slsa_version == "SLSA v1"
    assert provenance.statement.subject.name == "pkg:npm/gundam-visor@1.0.1"
    facts = facts_of(data)
    assert facts.signed_on == "Built and signed on GitHub Actions"
    assert not facts.emulated
    assert facts.issuer == GITHUB_ACTIONS_ISSUER
    assert facts.source_repository == Link("github.com/ramonpetgrave64/gundam-visor", REPO)
    assert facts.source_commit == Link(COMMIT, f"{REPO}/tree/{COMMIT}")
    assert facts.ref == "refs/tags/v1.0.1"
    assert facts.build_file == Link(
        ".github/workflows/npm-publish.yml",
        f"{REPO}/blob/{COMMIT}/.github/workflows/npm-publish.yml",
    )
    run = f"{REPO}/actions/runs/9358004112/attempts/1"
    assert facts.build_summary == run
    assert facts.run == Link(run, run)
    assert facts.trigger == "release"
    assert facts.runner_environment == "github-hosted"
    # The builder's claims agree with the certificate on everything it states.
    assert claims_check(provenance.statement, facts.facts).mismatch is None
    assert {"repository", "commit", "ref", "workflow path", "run URI"} <= set(
        claims_check(provenance.statement, facts.facts).agreed
    )


def _with_statement(data: dict[str, Any], change: Any) -> dict[str, Any]:
    """``data`` with its provenance statement rewritten (the signature no longer matters for
    reading: the registry verified before it stored)."""
    data = copy.deepcopy(data)
    attestation = next(a for a in data["attestations"] if "slsa" in a["predicateType"])
    envelope = attestation["bundle"]["dsseEnvelope"]
    statement = json.loads(base64.b64decode(envelope["payload"]))
    change(statement)
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    return data


def test_a_statements_claims_never_become_facts() -> None:
    """The attack of issue 10: the statement names facebook/react, a React commit and a build
    summary anywhere; the page states the certificate's repository, commit and run."""

    def spoof(statement: dict[str, Any]) -> None:
        definition = statement["predicate"]["buildDefinition"]
        workflow = definition["externalParameters"]["workflow"]
        workflow["repository"] = "https://github.com/facebook/react"
        definition["resolvedDependencies"][0]["uri"] = (
            "git+https://github.com/facebook/react@refs/heads/main"
        )
        definition["resolvedDependencies"][0]["digest"]["gitCommit"] = "f" * 40
        statement["predicate"]["runDetails"]["metadata"]["invocationId"] = (
            "https://evil.example/run"
        )

    data = _with_statement(json.loads(GUNDAM.read_text()), spoof)
    facts = facts_of(data)
    assert facts.source_repository == Link("github.com/ramonpetgrave64/gundam-visor", REPO)
    assert facts.source_commit is not None
    assert facts.source_commit.text == COMMIT
    assert facts.build_summary == f"{REPO}/actions/runs/9358004112/attempts/1"
    provenance = attestations_view(data).provenance
    assert provenance is not None
    assert provenance.build.source_repository == "https://github.com/facebook/react"  # a claim
    check = claims_check(provenance.statement, facts.facts)
    assert check.mismatch is not None
    assert check.mismatch.startswith("Failed to validate repository information")
    assert "facebook/react" in check.mismatch


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
    facts = facts_of(load(name))
    assert facts.signed_on == "Built and signed on GitHub Actions"
    assert facts.source_repository is not None
    assert facts.source_repository.href == f"https://github.com/{repository}"
    assert facts.source_commit is not None
    assert facts.build_file is not None
    assert facts.build_file.text == f".github/workflows/{workflow}"
    assert claims_check(provenance.statement, facts.facts).mismatch is None
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


def test_the_instances_issuer_is_labelled_emulated_ci() -> None:
    """A certificate from this instance's issuer is "emulated CI", even when its repository and
    run look like GitHub's (the emulation mints GitHub-shaped tokens)."""
    data = json.loads(GUNDAM.read_text())
    assert facts_of(data, "https://registry.example/-/oidc").ci == "GitHub Actions"
    facts = bundle_facts(provenance_bundle(data), instance_issuer=GITHUB_ACTIONS_ISSUER + "/")
    assert facts is not None
    assert facts.ci == EMULATED_CI
    view = FactsView(facts)
    assert view.emulated
    assert view.signed_on == "Built and signed on emulated CI of this instance"
    assert "GitHub Actions" not in view.signed_on
    # Its run URI names a run no forge ran: shown as text, never as "View build summary".
    assert view.build_summary is None
    assert view.run == Link(f"{REPO}/actions/runs/9358004112/attempts/1", None)


def facts(**fields: str | None) -> FactsView:
    base: dict[str, Any] = {
        "issuer": GITHUB_ACTIONS_ISSUER,
        "ci": "GitHub Actions",
        "signer_identity": f"{REPO}/.github/workflows/release.yml@refs/heads/main",
        "source_repository_uri": REPO,
        "source_repository_digest": COMMIT,
        "source_repository_ref": "refs/heads/main",
        "build_config_uri": f"{REPO}/.github/workflows/release.yml@refs/heads/main",
        "run_invocation_uri": f"{REPO}/actions/runs/1/attempts/1",
    }
    return FactsView(VerifiedFacts(**{**base, **fields}))


def test_build_summary_links_only_to_the_run_on_the_repositorys_host() -> None:
    assert facts().build_summary == f"{REPO}/actions/runs/1/attempts/1"
    for run in (
        "https://evil.example/acme/actions/runs/1",  # another host
        "http://github.com/o/r/actions/runs/1",  # another scheme (port)
        "https://github.com:8443/o/r/actions/runs/1",  # another port
        "javascript:alert(1)//github.com",
        "data:text/html,x",
        "1234-1",  # an id, not a URL
    ):
        view = facts(run_invocation_uri=run)
        assert view.build_summary is None, run
        assert view.run == Link(run, None)
    assert facts(run_invocation_uri=None).run is None
    # A repository that is no web URL: nothing is on its host.
    view = facts(source_repository_uri="javascript:alert(1)//")
    assert view.build_summary is None
    assert view.source_repository == Link("javascript:alert(1)//", None)
    assert view.source_commit == Link(COMMIT, None)
    assert view.build_file is not None
    assert view.build_file.href is None
    # GitLab's paths: /-/tree and /-/blob, the pipeline file from the Build Config URI.
    gitlab = "https://gitlab.com/acme/widget"
    view = facts(
        issuer="https://gitlab.com",
        source_repository_uri=gitlab,
        build_config_uri=f"{gitlab}//.gitlab-ci.yml@refs/heads/main",
        run_invocation_uri=f"{gitlab}/-/jobs/42",
    )
    assert view.source_commit == Link(COMMIT, f"{gitlab}/-/tree/{COMMIT}")
    assert view.build_file == Link(".gitlab-ci.yml", f"{gitlab}/-/blob/{COMMIT}/.gitlab-ci.yml")
    assert view.build_summary == f"{gitlab}/-/jobs/42"


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
