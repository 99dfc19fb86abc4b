"""Provenance at publish time: the registry's refusal of anything it cannot verify.

A publish that carries ``<name>-<version>.sigstore`` (npm-registry spec §1.3) is accepted only
if :mod:`assay.verify` — the one verification path — proves, against the trusted roots the
operator configured (this instance's own, the public-good one, or both):

* the bundle: DSSE signature, a certificate chaining to a trusted CA at the log's integrated
  time, its SCT, the log entry's inclusion (proof or promise) and signed checkpoint;
* the statement: exactly one subject, the version's purl and the uploaded tarball's sha512, and
  a SLSA provenance predicate (:class:`~assay.verify.policy.NpmProvenancePolicy`);
* the identity: the certificate's source repository is the one the *tarball's* ``package.json``
  names in ``repository`` (normalized as npm does: ``git+``, ``.git``, shorthands), and the
  build did not run on a self-hosted runner unless the operator allows it — npmjs.org's rules
  (§6);
* the issuer: the certificate's OIDC issuer is one the operator accepts provenance from
  (``settings.provenance_issuers``; the instance's own only with CI emulation on);
* the statement: every claim it makes about the build — source repository, commit, ref,
  workflow file, run — agrees with the certificate (:func:`assay.verify.facts.check_statement`).
  The statement is written by the build, the certificate by the CA from the CI system's token:
  only the certificate's values are kept, as :class:`~assay.verify.facts.VerifiedFacts`;
* optionally the source: the commit the certificate names exists in the repository it names
  (``settings.source_check``, :mod:`assay.registry.source_check`).

A refusal is npm's 422 "Error verifying sigstore provenance bundle: <reason>" (a source check
that cannot reach the forge in ``require`` mode: 503 with ``Retry-After``), and happens before
anything is stored. What was verified is kept with the version as a :class:`ProvenanceRecord`
(``registry_versions.provenance_facts``; docs/provenance-facts.md).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from assay.errors import AssayError, ConfigError, FormatError, VerificationError
from assay.npm.hosted import repository_field
from assay.provenance.bundle import Bundle
from assay.provenance.fulcio import OID_RUNNER_ENVIRONMENT
from assay.provenance.subject import Digest
from assay.registry.errors import Unavailable, Unprocessable
from assay.registry.source_check import (
    SourceChecker,
    SourceCheckError,
    SourceCheckMode,
    SourceCheckResult,
    SourceStatus,
)
from assay.verify.facts import ProvenanceMismatch, StatementCheck, VerifiedFacts, check_statement
from assay.verify.policy import NpmProvenancePolicy
from assay.verify.result import VerificationResult
from assay.verify.verifier import Verifier

PREFIX = "Error verifying sigstore provenance bundle: "
RECORD_VERSION: Final = 1
"""The ``v`` of :meth:`ProvenanceRecord.to_json`."""
SOURCE_RETRY_AFTER: Final = 60
"""Seconds a client is asked to wait when the forge could not be reached (``Retry-After``)."""


def refuse(reason: str) -> Unprocessable:
    """npm's wording for a provenance refusal (npmjs.org answers the same way)."""
    return Unprocessable(PREFIX + reason)


def _issuer(value: str) -> str:
    return value.rstrip("/")


def repository_url(manifest: Mapping[str, Any]) -> str | None:
    """``repository`` of a package.json as written (a string, or an object's ``url``), None
    when absent; the policy compares it with the certificate's repository through the one
    repository normaliser (:func:`assay.npm.hosted.normalise_repository`), which reads every
    form npm accepts (``git+…``, ``.git``, ``github:o/r``, the ``o/r`` shorthand)."""
    return repository_field(manifest.get("repository"))


@dataclass(frozen=True, slots=True)
class ProvenanceRecord:
    """What the registry verified about a version's provenance, stored with the version.

    ``facts`` come from the verified certificate alone; ``statement`` says which of the
    statement's claims were compared with them (``agreed``) and which the certificate could not
    confirm (``unverified``: never shown as facts); ``source`` is the source check's result
    (None when the instance does not check). JSON: :meth:`to_json`, docs/provenance-facts.md.
    """

    facts: VerifiedFacts
    statement: StatementCheck
    source: SourceCheckResult | None = None

    @property
    def source_flagged(self) -> bool:
        """The source was checked and not found (or not reachable): shown as a warning."""
        return self.source is not None and not self.source.exists

    def to_json(self) -> dict[str, Any]:
        return {
            "v": RECORD_VERSION,
            "facts": self.facts.to_json(),
            "statement": {
                "agreed": list(self.statement.agreed),
                "unverified": list(self.statement.unverified),
            },
            "source": None if self.source is None else self.source.to_json(),
        }

    @classmethod
    def from_json(cls, data: object) -> ProvenanceRecord:
        """Read back :meth:`to_json`; FormatError for anything else."""
        if not isinstance(data, Mapping) or data.get("v") != RECORD_VERSION:
            raise FormatError(f"a provenance record must be a JSON object with v={RECORD_VERSION}")
        statement = data.get("statement")
        if not isinstance(statement, Mapping):
            raise FormatError("a provenance record needs its statement check")
        agreed, unverified = statement.get("agreed"), statement.get("unverified")
        if not isinstance(agreed, list) or not isinstance(unverified, list):
            raise FormatError("a provenance record's statement check must list its fields")
        source = data.get("source")
        return cls(
            facts=VerifiedFacts.from_json(data.get("facts")),
            statement=StatementCheck(
                agreed=tuple(str(f) for f in agreed), unverified=tuple(str(f) for f in unverified)
            ),
            source=None if source is None else SourceCheckResult.from_json(source),
        )

    @classmethod
    def from_text(cls, text: str | None) -> ProvenanceRecord | None:
        """The record stored in ``registry_versions.provenance_facts`` (None when absent)."""
        if text is None:
            return None
        try:
            return cls.from_json(json.loads(text))
        except ValueError as exc:
            raise FormatError(f"the stored provenance record is not JSON: {exc}") from exc


@dataclass(frozen=True, slots=True)
class VerifiedProvenance:
    """A provenance bundle the registry accepted, kept verbatim with what it proved."""

    bundle_json: str
    predicate_type: str
    result: VerificationResult
    record: ProvenanceRecord

    @property
    def facts(self) -> VerifiedFacts:
        return self.record.facts

    def attestation(self) -> dict[str, Any]:
        """Its entry in the attestations response (§3.4)."""
        return {"predicateType": self.predicate_type, "bundle": json.loads(self.bundle_json)}


class ProvenanceGate:
    """Verifies uploaded provenance against the operator's trusted roots and rules.

    ``issuers``: the OIDC issuers whose certificates are accepted (``None``: any issuer the
    trusted CAs certified — for tools that only verify). ``instance_issuer``: this instance's
    own issuer, whose versions are labelled "emulated CI of this instance"; it is accepted only
    if it is among ``issuers``. ``source_checker``: the source check (off by default).
    """

    def __init__(
        self,
        verifiers: Sequence[Verifier],
        allow_self_hosted: bool = False,
        *,
        issuers: Collection[str] | None = None,
        instance_issuer: str | None = None,
        source_checker: SourceChecker | None = None,
    ) -> None:
        if not verifiers:
            raise ValueError("a provenance gate needs at least one trusted root")
        self._verifiers = tuple(verifiers)
        self._allow_self_hosted = allow_self_hosted
        self._issuers = None if issuers is None else tuple(_issuer(i) for i in issuers)
        self._instance_issuer = instance_issuer
        self._source = source_checker or SourceChecker()

    @property
    def issuers(self) -> tuple[str, ...] | None:
        """The accepted OIDC issuers (None: any)."""
        return self._issuers

    @property
    def instance_issuer(self) -> str | None:
        return self._instance_issuer

    def check(
        self,
        bundle_json: str,
        name: str,
        version: str,
        tarball: Digest,
        manifest: Mapping[str, Any],
    ) -> VerifiedProvenance:
        """Verify; raise :func:`refuse` (422) with a reason a person can act on.

        ``manifest`` is the package.json *inside the tarball* (its ``repository`` is compared
        with the certificate), never the request body's copy. Raises :class:`Unavailable`
        (503, retryable) when ``require`` source checking cannot reach the forge.
        """
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
        try:
            facts = VerifiedFacts.from_result(result, instance_issuer=self._instance_issuer)
        except (VerificationError, FormatError) as exc:
            raise refuse(exc.message) from exc
        self._check_issuer(facts)
        try:
            compared = check_statement(statement, facts)
        except ProvenanceMismatch as exc:
            raise refuse(exc.message) from exc
        record = ProvenanceRecord(facts, compared, self._check_source(facts))
        return VerifiedProvenance(bundle_json, statement.predicate_type, result, record)

    def _check_issuer(self, facts: VerifiedFacts) -> None:
        if self._issuers is None or _issuer(facts.issuer) in self._issuers:
            return
        allowed = ", ".join(self._issuers) or "none"
        hint = (
            " (this instance's own issuer signs only for its CI emulation, which is off)"
            if self._instance_issuer is not None
            and _issuer(facts.issuer) == _issuer(self._instance_issuer)
            else ""
        )
        raise refuse(
            f'the signing certificate was issued for OIDC issuer "{facts.issuer}"{hint}; this '
            f"registry accepts provenance only from {allowed}"
        )

    def _check_source(self, facts: VerifiedFacts) -> SourceCheckResult | None:
        """Run the source check on the certificate's repository and commit (the facts)."""
        checker = self._source
        if checker.mode is SourceCheckMode.OFF:
            return None
        repository = facts.source_repository_uri
        commit = facts.source_repository_digest
        try:
            if not repository or not commit:
                raise ConfigError(
                    "the signing certificate names no source repository and commit to check"
                )
            return checker.check(repository, commit)
        except SourceCheckError as exc:
            if exc.retryable:
                raise Unavailable(PREFIX + exc.message, retry_after=SOURCE_RETRY_AFTER) from exc
            raise refuse(exc.message) from exc
        except ConfigError as exc:
            # A repository that is not http(s) or a commit that is not a full SHA cannot be
            # confirmed: refused in `require`, recorded as missing in `warn`.
            if checker.mode is SourceCheckMode.REQUIRE:
                raise refuse(f"the source commit cannot be checked: {exc.message}") from exc
            return SourceCheckResult(
                repository=repository or "",
                commit=commit or "",
                status=SourceStatus.MISSING,
                checked_at=datetime.now(UTC),
                detail=f"cannot be checked: {exc.message}",
            )
