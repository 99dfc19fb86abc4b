"""The registry's provenance gate on real npmjs.org bundles: which OIDC issuers may sign.

The bundles verify against the bundled public-good root; only the issuer allow-list decides.
"""

from __future__ import annotations

import json

import pytest

from assay.errors import AssayError
from assay.provenance.bundle import Bundle
from assay.provenance.subject import Digest
from assay.registry.errors import Unprocessable
from assay.registry.provenance import PREFIX, ProvenanceGate
from assay.verify import TrustedRoot, Verifier
from assay.verify.facts import GITHUB_ACTIONS, GITHUB_ACTIONS_ISSUER, GITLAB_ISSUER
from tests.unit.verify.fixtures import bundles

VERIFIER = Verifier(TrustedRoot.public_good())
GUNDAM = next(
    b for b in bundles() if b.ident == "slsa-verifier/gundam-visor-cli-v1-tag.tgz.json[1]"
)


def _check(gate: ProvenanceGate) -> str:
    """The gate's verdict on gundam-visor@1.0.1's provenance: its CI label, or raises."""
    statement = VERIFIER.verify(Bundle.from_dict(GUNDAM.bundle)).statement
    assert statement is not None
    digest = Digest("sha512", bytes.fromhex(statement.subjects[0].digest["sha512"]))
    manifest = {"repository": "git+https://github.com/ramonpetgrave64/gundam-visor.git"}
    accepted = gate.check(json.dumps(GUNDAM.bundle), "gundam-visor", "1.0.1", digest, manifest)
    assert accepted.record is not None
    return accepted.record.facts.ci


def test_an_allowed_issuer_is_accepted_and_named() -> None:
    assert _check(ProvenanceGate([VERIFIER], issuers=(GITHUB_ACTIONS_ISSUER,))) == GITHUB_ACTIONS
    assert _check(ProvenanceGate([VERIFIER])) == GITHUB_ACTIONS  # None: any certified issuer


@pytest.mark.parametrize("issuers", [(GITLAB_ISSUER,), ()], ids=["gitlab only", "none"])
def test_an_issuer_not_allowed_is_refused_with_npms_422(issuers: tuple[str, ...]) -> None:
    with pytest.raises(Unprocessable) as caught:
        _check(ProvenanceGate([VERIFIER], issuers=issuers))
    assert caught.value.message.startswith(PREFIX)
    assert GITHUB_ACTIONS_ISSUER in caught.value.message


def test_the_instance_issuer_label_needs_the_instance_issuer_allowed() -> None:
    """Naming another issuer as the instance's own never relabels a GitHub Actions version."""
    gate = ProvenanceGate(
        [VERIFIER], issuers=(GITHUB_ACTIONS_ISSUER,), instance_issuer="https://assay.example/-/oidc"
    )
    assert _check(gate) == GITHUB_ACTIONS


def test_a_malformed_bundle_is_refused_before_anything_else() -> None:
    gate = ProvenanceGate([VERIFIER], issuers=(GITHUB_ACTIONS_ISSUER,))
    with pytest.raises(AssayError, match="malformed"):
        gate.check("{", "gundam-visor", "1.0.1", Digest("sha512", bytes(64)), {})
