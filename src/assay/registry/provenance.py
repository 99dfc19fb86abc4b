"""Provenance at publish time: the registry's refusal of anything it cannot verify.

A publish that carries ``<name>-<version>.sigstore`` (npm-registry spec §1.3) is accepted only
if :mod:`assay.verify` — the one verification path — proves, against the trusted roots the
operator configured (this instance's own, the public-good one, or both):

* the bundle: DSSE signature, a certificate chaining to a trusted CA at the log's integrated
  time, its SCT, the log entry's inclusion (proof or promise) and signed checkpoint;
* the statement: exactly one subject, the version's purl and the uploaded tarball's sha512, and
  a SLSA provenance predicate (:class:`~assay.verify.policy.NpmProvenancePolicy`);
* the identity: the certificate's source repository is the one ``package.json`` names in
  ``repository`` (normalized as npm does: ``git+``, ``.git``, shorthands), and the build did not
  run on a self-hosted runner unless the operator allows it — npmjs.org's rules (§6).

A refusal is npm's 422 "Error verifying sigstore provenance bundle: <reason>", and happens
before anything is stored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assay.errors import AssayError, VerificationError
from assay.npm.hosted import repository_field
from assay.provenance.bundle import Bundle
from assay.provenance.fulcio import OID_RUNNER_ENVIRONMENT
from assay.provenance.subject import Digest
from assay.registry.errors import Unprocessable
from assay.verify.policy import NpmProvenancePolicy
from assay.verify.result import VerificationResult
from assay.verify.verifier import Verifier

PREFIX = "Error verifying sigstore provenance bundle: "


def refuse(reason: str) -> Unprocessable:
    """npm's wording for a provenance refusal (npmjs.org answers the same way)."""
    return Unprocessable(PREFIX + reason)


def repository_url(manifest: Mapping[str, Any]) -> str | None:
    """``repository`` of a package.json as written (a string, or an object's ``url``), None
    when absent; the policy compares it with the certificate's repository through the one
    repository normaliser (:func:`assay.npm.hosted.normalise_repository`), which reads every
    form npm accepts (``git+…``, ``.git``, ``github:o/r``, the ``o/r`` shorthand)."""
    return repository_field(manifest.get("repository"))


@dataclass(frozen=True, slots=True)
class VerifiedProvenance:
    """A provenance bundle the registry accepted, kept verbatim with what it proved."""

    bundle_json: str
    predicate_type: str
    result: VerificationResult

    def attestation(self) -> dict[str, Any]:
        """Its entry in the attestations response (§3.4)."""
        return {"predicateType": self.predicate_type, "bundle": json.loads(self.bundle_json)}


class ProvenanceGate:
    """Verifies uploaded provenance against the operator's trusted roots and rules."""

    def __init__(self, verifiers: Sequence[Verifier], allow_self_hosted: bool = False) -> None:
        if not verifiers:
            raise ValueError("a provenance gate needs at least one trusted root")
        self._verifiers = tuple(verifiers)
        self._allow_self_hosted = allow_self_hosted

    def check(
        self,
        bundle_json: str,
        name: str,
        version: str,
        tarball: Digest,
        manifest: Mapping[str, Any],
    ) -> VerifiedProvenance:
        """Verify; raise :func:`refuse` (422) with a reason a person can act on."""
        try:
            bundle = Bundle.from_json(bundle_json)
        except AssayError as exc:
            raise refuse(f"the bundle is malformed: {exc.message}") from exc
        repository = repository_url(manifest)
        if repository is None:
            raise refuse(
                "package.json has no repository.url; provenance is only accepted when it names "
                "the repository the package was built from"
            )
        policy = NpmProvenancePolicy(name, version, tarball, repository=repository)
        failures: list[str] = []
        for verifier in self._for(bundle):
            try:
                result = verifier.verify(bundle, policy=policy)
            except VerificationError as exc:
                failures.append(exc.message)
                continue
            return self._accepted(bundle_json, result)
        # Every trusted root refused it: say why (the reasons are the same for a bad signature
        # or subject; for an unknown CA each root names its own).
        raise refuse("; ".join(dict.fromkeys(failures)))

    def _for(self, bundle: Bundle) -> tuple[Verifier, ...]:
        """The trusted roots that know the bundle's log: only their verdict is worth reporting.

        A bundle from our log is meaningless to the public-good root and vice versa; saying
        both would bury the real reason. A log no root knows is itself the reason.
        """
        entries = bundle.tlog_entries
        if not entries:
            return self._verifiers  # each will say there is no log entry
        log_id = entries[0].log_id.key_id
        known = tuple(v for v in self._verifiers if v.trusted_root.tlog(log_id))
        if not known:
            raise refuse(
                "its transparency log entry is from a log this registry does not trust "
                f"(logId {log_id.hex()})"
            )
        return known

    def _accepted(self, bundle_json: str, result: VerificationResult) -> VerifiedProvenance:
        runner = result.signer.extension(OID_RUNNER_ENVIRONMENT) if result.signer else None
        if runner == "self-hosted" and not self._allow_self_hosted:
            raise refuse(
                "the package was built on a self-hosted runner; this registry only accepts "
                "provenance from hosted runners (the operator can allow self-hosted ones)"
            )
        statement = result.statement
        if statement is None:  # NpmProvenancePolicy already required one
            raise refuse("the bundle does not carry an in-toto statement")
        return VerifiedProvenance(bundle_json, statement.predicate_type, result)
