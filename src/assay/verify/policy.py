"""Verification policies: who must have signed, checked after the cryptography (sigstore.md §6 14).

A policy is anything with ``verify(result) -> None`` that raises
:class:`~assay.errors.VerificationError` (``step`` = ``"policy"``) when the verified result does
not satisfy it. Policies compose with :class:`AllOf` and :class:`AnyOf`, as in sigstore-python's
``verify/policy.py``. The identity facts come from the signing certificate's SAN and the Sigstore
OID extensions (sigstore.md §1.4), decoded by :class:`~assay.provenance.fulcio.SignerIdentity`,
which also knows which legacy extension stands in for a newer one.

A bundle signed with a bare public key (npm's publish attestation) has no identity: every
identity policy refuses it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from assay.errors import StatementError, VerificationError
from assay.npm.hosted import repository_key
from assay.provenance.fulcio import OID_RUNNER_ENVIRONMENT, SignerIdentity
from assay.provenance.subject import Digest, npm_purl
from assay.verify.result import VerificationResult

__all__ = [
    "SLSA_PREDICATE_TYPES",
    "AllOf",
    "AnyOf",
    "Event",
    "Identity",
    "NpmProvenancePolicy",
    "OIDCExtension",
    "Policy",
    "Ref",
    "RunnerEnvironment",
    "SourceRepository",
    "Subject",
    "Workflow",
]

SLSA_PREDICATE_TYPES = frozenset(
    {"https://slsa.dev/provenance/v1", "https://slsa.dev/provenance/v0.2"}
)


class Policy(Protocol):
    """Checks a verified result; raises VerificationError if it does not hold."""

    def verify(self, result: VerificationResult) -> None: ...


def _fail(message: str, **details: object) -> VerificationError:
    return VerificationError(f"policy: {message}", step="policy", **details)


def _signer(result: VerificationResult, what: str) -> SignerIdentity:
    if result.signer is None:
        raise _fail(f"{what} needs a certificate, but the bundle is signed by a bare key")
    return result.signer


@dataclass(frozen=True, slots=True)
class AllOf:
    """Every policy holds (an empty list is refused: it would accept anything by accident)."""

    policies: Sequence[Policy]

    def verify(self, result: VerificationResult) -> None:
        if not self.policies:
            raise _fail("AllOf() of no policies")
        for policy in self.policies:
            policy.verify(result)


@dataclass(frozen=True, slots=True)
class AnyOf:
    """At least one policy holds; the error lists why each failed."""

    policies: Sequence[Policy]

    def verify(self, result: VerificationResult) -> None:
        reasons: list[str] = []
        for policy in self.policies:
            try:
                policy.verify(result)
            except VerificationError as exc:
                reasons.append(exc.message)
            else:
                return
        raise _fail("none of the alternatives holds: " + "; ".join(reasons) or "(none given)")


@dataclass(frozen=True, slots=True)
class Identity:
    """The SAN equals ``san`` exactly and the OIDC issuer equals ``issuer``.

    sigstore-python reads the issuer from ``.1.1`` and sigstore-js from ``.1.8`` (else ``.1.1``),
    so every one of the two that is present must equal ``issuer`` (sigstore.md §6 14).
    """

    san: str
    issuer: str

    def verify(self, result: VerificationResult) -> None:
        signer = _signer(result, "an identity policy")
        if self.san not in signer.sans:
            raise _fail(
                f"certificate identity {signer.san!r} is not {self.san!r}",
                expected=self.san,
                actual=", ".join(signer.sans),
            )
        issuers = signer.issuers
        if not issuers:
            raise _fail("certificate names no OIDC issuer")
        for value in issuers:
            if value != self.issuer:
                raise _fail(
                    f"certificate OIDC issuer {value!r} is not {self.issuer!r}",
                    expected=self.issuer,
                    actual=value,
                )


@dataclass(frozen=True, slots=True)
class OIDCExtension:
    """The Sigstore extension ``oid`` (dotted) of the signing certificate equals ``value``."""

    oid: str
    value: str

    def verify(self, result: VerificationResult) -> None:
        actual = _signer(result, f"extension {self.oid}").extension(self.oid)
        if actual != self.value:
            raise _fail(
                f"certificate extension {self.oid} is {actual!r}, expected {self.value!r}",
                oid=self.oid,
            )


@dataclass(frozen=True, slots=True)
class SourceRepository:
    """The certificate's Source Repository URI (``.1.12``, else ``.1.5``) is ``repository``.

    Comparison is on the normalised URL (scheme, ``.git`` suffix and case ignored: GitHub
    repository names are case-insensitive), so ``git+https://github.com/o/r.git`` from a
    package.json matches ``https://github.com/o/r``.
    """

    repository: str

    def verify(self, result: VerificationResult) -> None:
        signer = _signer(result, "a source repository policy")
        actual = signer.source_repository_uri
        if actual is None or repository_key(actual) != repository_key(self.repository):
            raise _fail(
                f"built from repository {actual!r}, expected {self.repository!r}",
                expected=self.repository,
                actual=actual,
            )


@dataclass(frozen=True, slots=True)
class Workflow:
    """The build ran workflow file ``path`` (e.g. ``.github/workflows/release.yml``).

    Read from the Build Signer URI (``.1.9``, else the SAN): ``https://github.com/o/r/<path>@<ref>``.
    A full URI without ``@ref`` is accepted as ``path`` too.
    """

    path: str

    def verify(self, result: VerificationResult) -> None:
        signer = _signer(result, "a workflow policy")
        uri = signer.build_signer_uri
        location = uri.rsplit("@", 1)[0]
        wanted = self.path.rsplit("@", 1)[0].lstrip("/")
        if not (location == wanted or location.endswith("/" + wanted)):
            raise _fail(f"built by workflow {uri!r}, expected {self.path!r}", actual=uri)


@dataclass(frozen=True, slots=True)
class Ref:
    """The Source Repository Ref (``.1.14``, else ``.1.6``) matches a glob (``refs/tags/v*``)."""

    pattern: str

    def verify(self, result: VerificationResult) -> None:
        signer = _signer(result, "a ref policy")
        ref = signer.source_repository_ref
        if ref is None or not fnmatch.fnmatchcase(ref, self.pattern):
            raise _fail(f"built from ref {ref!r}, which does not match {self.pattern!r}")


@dataclass(frozen=True, slots=True)
class RunnerEnvironment:
    """The Runner Environment extension (``.1.11``) is ``value`` (``github-hosted``)."""

    value: str

    def verify(self, result: VerificationResult) -> None:
        actual = _signer(result, "a runner policy").extension(OID_RUNNER_ENVIRONMENT)
        if actual != self.value:
            raise _fail(f"runner environment is {actual!r}, expected {self.value!r}")


@dataclass(frozen=True, slots=True)
class Event:
    """The Build Trigger (``.1.20``, else ``.1.2``) is one of ``events`` (``push``, …)."""

    events: tuple[str, ...]

    def verify(self, result: VerificationResult) -> None:
        signer = _signer(result, "an event policy")
        actual = signer.build_trigger
        if actual not in self.events:
            raise _fail(f"build trigger is {actual!r}, expected one of {list(self.events)}")


@dataclass(frozen=True, slots=True)
class Subject:
    """The statement has exactly one subject, named ``name`` with digest ``digest``.

    What pacote checks of every npm attestation (npm-registry.md §4.3, ``EATTESTATIONSUBJECT``):
    ``subject[0].name`` is the purl and ``subject[0].digest.sha512`` the integrity's hex.
    """

    name: str
    digest: Digest

    def verify(self, result: VerificationResult) -> None:
        statement = result.statement
        if statement is None:
            raise _fail("the bundle does not carry an in-toto statement", step_detail="subject")
        if len(statement.subjects) != 1:
            raise _fail(f"statement has {len(statement.subjects)} subjects, expected exactly one")
        subject = statement.subjects[0]
        if subject.name != self.name:
            raise _fail(
                f"subject {subject.name!r} is not {self.name!r}",
                expected=self.name,
                actual=subject.name,
            )
        recorded = subject.digest.get(self.digest.algorithm)
        if recorded != self.digest.hex:
            raise _fail(
                f"subject {self.digest.algorithm} digest {recorded!r} does not match "
                f"{self.digest.hex!r}",
                expected=self.digest.hex,
                actual=recorded,
            )


@dataclass(frozen=True, slots=True)
class NpmProvenancePolicy:
    """What an npm provenance attestation must satisfy, for the registry and for consumers.

    * the statement's one subject is ``pkg:npm/<name>@<version>`` with the tarball's sha512
      (pacote ``EATTESTATIONSUBJECT``; libnpmpublish ``verifyProvenance``);
    * the predicate is SLSA provenance v1 or v0.2;
    * the bundle is keyless (a certificate from the CA: provenance is never registry-signed);
    * optionally the source repository (package.json ``repository``), workflow and ref.
    """

    name: str
    version: str
    digest: Digest
    repository: str | None = None
    workflow: str | None = None
    ref: str | None = None

    def verify(self, result: VerificationResult) -> None:
        try:
            purl = npm_purl(self.name, self.version)
        except StatementError as exc:
            raise _fail(exc.message) from exc
        Subject(purl, self.digest).verify(result)
        statement = result.statement
        if statement is None or statement.predicate_type not in SLSA_PREDICATE_TYPES:
            actual = None if statement is None else statement.predicate_type
            raise _fail(f"predicate type {actual!r} is not SLSA provenance")
        _signer(result, "npm provenance")
        if self.repository is not None:
            SourceRepository(self.repository).verify(result)
        if self.workflow is not None:
            Workflow(self.workflow).verify(result)
        if self.ref is not None:
            Ref(self.ref).verify(result)
