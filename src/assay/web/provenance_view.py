"""An attestations response turned into what the provenance panel and detail page show.

Input: the body of ``GET /-/npm/v1/attestations/<name>@<version>``,
``{"attestations": [{"predicateType", "bundle"}, …]}`` (npm-registry spec §3.4): a SLSA
provenance bundle signed keylessly in CI and the registry's own publish attestation.

Output, as npmjs.org's package page shows it (anchors.md §4: "Built and signed on GitHub
Actions", build summary, source commit, build file, public ledger) and more for the detail page:
the leaf certificate's identity (SAN, issuer, every Sigstore extension named in words, fulcio
docs/oid-info.md), the log entry with its inclusion proof checked here against the root hash the
bundle carries (RFC 9162 §2.1.3.2), and the statement.

What the pages *state* about a build — the CI, issuer, repository, commit, ref, workflow and
run — is :class:`FactsView`, read from the verified certificate
(:class:`~assay.verify.facts.VerifiedFacts`). The statement is the builder's own claim: it is
shown as such (text, never links) and compared with the facts (:func:`claims_check`), issue 10.

Pure: no I/O. Everything read from a bundle is untrusted text: links are made only from
``http``/``https`` URLs (a statement could carry ``javascript:``), and templates escape the rest.
The *cryptographic* verdict — signature, chain, SCT, signed checkpoint, identity policy — is the
registry's, given at publish by :mod:`assay.verify`; this module only reads and explains.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote, urlsplit

from cryptography import x509

from assay.errors import AssayError, FormatError, VerificationError
from assay.provenance.bundle import (
    Bundle,
    TlogEntry,
    X509Certificate,
    X509CertificateChain,
)
from assay.provenance.dsse import Envelope
from assay.provenance.fulcio import (
    EXTENSION_NAMES,
    RAW_OIDS,
    SignerIdentity,
    arc_number,
    decode_extension_value,
    sigstore_extensions,
)
from assay.provenance.publish import PUBLISH_PREDICATE_TYPE, PublishPredicate
from assay.provenance.slsa import SLSA_V02, SLSA_V1, BuildSummary, summarize
from assay.provenance.statement import Statement
from assay.transparency.merkle import leaf_hash, verify_inclusion
from assay.verify.facts import ProvenanceMismatch, VerifiedFacts, check_statement

# The public-good Rekor's log id (SHA-256 of its key), whose entries search.sigstore.dev shows.
PUBLIC_GOOD_REKOR_LOG_ID: Final = "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d"
PUBLIC_GOOD_SEARCH: Final = "https://search.sigstore.dev/?logIndex="


# --- small values -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Link:
    """Text to show and, when the value is a web URL, where it points."""

    text: str
    href: str | None = None


def web_url(value: object) -> str | None:
    """``value`` if it is an absolute http(s) URL with a host, else None (never a link)."""
    if not isinstance(value, str) or any(c in value for c in "\x00\r\n\t "):
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return value


def utc(seconds: int) -> datetime | None:
    """A Unix time as an aware datetime (None for 0, the proto3 default meaning "absent")."""
    if seconds <= 0:
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


# --- the certificate --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CertificateExtension:
    oid: str
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class CertificateView:
    """The signing certificate: who it names (SAN, OIDC issuer) and what Fulcio recorded."""

    san: str
    issuer: str | None
    extensions: tuple[CertificateExtension, ...]
    not_before: datetime
    not_after: datetime
    ca: str
    serial: str

    def extension(self, arc: int) -> str | None:
        """The shown value of the Sigstore extension numbered ``arc`` on Fulcio's OID arc."""
        return next((e.value for e in self.extensions if arc_number(e.oid) == arc), None)


def certificate_view(der: bytes) -> CertificateView:
    """Read a Fulcio leaf certificate; raise VerificationError if it is not DER X.509."""
    try:
        certificate = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise VerificationError(f"the signing certificate is not DER X.509: {exc}") from exc
    try:
        identity = SignerIdentity.from_certificate(certificate)
        present = list(sigstore_extensions(certificate))
    except FormatError as exc:
        raise VerificationError(exc.message) from exc
    extensions: list[CertificateExtension] = []
    for oid, raw in present:
        # Show a value even when it is not encoded as its OID requires (the verifier ignores it).
        text = decode_extension_value(oid, raw)
        if text is None:
            text = (
                raw.decode("utf-8", errors="replace")
                if oid in RAW_OIDS
                else "(not a UTF-8 string: " + raw.hex() + ")"
            )
        name = EXTENSION_NAMES.get(oid, f"Sigstore extension {oid.dotted_string}")
        extensions.append(CertificateExtension(oid.dotted_string, name, text))
    extensions.sort(key=lambda e: [int(p) for p in e.oid.split(".")])
    return CertificateView(
        san=identity.san,
        issuer=identity.issuer,
        extensions=tuple(extensions),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        ca=certificate.issuer.rfc4514_string(),
        serial=format(certificate.serial_number, "x"),
    )


# --- the log entry ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InclusionView:
    """An inclusion proof and whether it leads from the entry to the root hash it names."""

    log_index: int
    tree_size: int
    root_hash: str
    hashes: tuple[str, ...]
    checkpoint: str | None
    valid: bool
    detail: str


def inclusion_view(
    body: bytes,
    *,
    log_index: int,
    tree_size: int,
    root_hash: bytes,
    hashes: Sequence[bytes],
    checkpoint: str | None,
) -> InclusionView:
    """Check the proof for ``body`` (RFC 9162 §2.1.3.2) and describe the outcome."""
    if not body:
        valid, detail = False, "the bundle does not carry the entry's body, so it cannot be hashed"
    else:
        try:
            verify_inclusion(leaf_hash(body), log_index, tree_size, list(hashes), root_hash)
        except VerificationError as exc:
            valid, detail = False, f"the proof does not hold: {exc.message}"
        else:
            valid = True
            detail = (
                f"the entry's leaf hash and {len(hashes)} proof hashes lead to the root hash "
                f"of the tree of size {tree_size}"
            )
    return InclusionView(
        log_index=log_index,
        tree_size=tree_size,
        root_hash=root_hash.hex(),
        hashes=tuple(h.hex() for h in hashes),
        checkpoint=checkpoint,
        valid=valid,
        detail=detail,
    )


@dataclass(frozen=True, slots=True)
class LogEntryView:
    """One ``tlogEntries[]`` item of a bundle."""

    log_index: int
    log_id: str
    kind: str
    kind_version: str
    integrated_time: datetime | None
    uuid: str | None
    has_promise: bool
    inclusion: InclusionView | None
    ledger: Link
    in_this_log: bool


LedgerLink = Callable[[str, int], Link | None]
"""``(log id hex, log index) → link`` for logs the caller knows (ours); None otherwise."""


def log_entry_view(entry: TlogEntry, ledger: LedgerLink | None = None) -> LogEntryView:
    log_id = entry.log_id.key_id.hex()
    body = entry.canonicalized_body
    proof = entry.inclusion_proof
    inclusion = None
    if proof is not None:
        inclusion = inclusion_view(
            body,
            log_index=proof.log_index,
            tree_size=proof.tree_size,
            root_hash=proof.root_hash,
            hashes=proof.hashes,
            checkpoint=proof.checkpoint.envelope if proof.checkpoint else None,
        )
    own = ledger(log_id, entry.log_index) if ledger else None
    if own is not None:
        link = own
    elif log_id == PUBLIC_GOOD_REKOR_LOG_ID:
        link = Link(
            f"Sigstore public-good Rekor, entry {entry.log_index}",
            f"{PUBLIC_GOOD_SEARCH}{entry.log_index}",
        )
    else:
        link = Link(f"log {log_id[:16]}…, entry {entry.log_index}")
    return LogEntryView(
        log_index=entry.log_index,
        log_id=log_id,
        kind=entry.kind_version.kind,
        kind_version=entry.kind_version.version,
        integrated_time=utc(entry.integrated_time),
        uuid=leaf_hash(body).hex() if body else None,
        has_promise=entry.inclusion_promise is not None,
        inclusion=inclusion,
        ledger=link,
        in_this_log=own is not None,
    )


# --- the statement and the build ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProvenanceView:
    """A SLSA provenance attestation, read.

    ``build`` and ``statement`` are what the builder *claimed*: the statement is signed, but its
    content was written by the build itself. The pages show where a version was built from
    :class:`FactsView` (the signing certificate) and these only as the builder's claims, as text,
    never as links (issue 10: a statement may name any repository and any "build summary" URL).
    """

    predicate_type: str
    statement: Statement
    build: BuildSummary
    media_type: str
    certificate: CertificateView | None
    public_key_hint: str | None
    log_entry: LogEntryView | None
    bundle: Mapping[str, Any]
    statement_json: str

    @property
    def slsa_version(self) -> str:
        return {SLSA_V1: "SLSA v1", SLSA_V02: "SLSA v0.2"}.get(self.predicate_type, "SLSA")


def _forge_path(repository: str) -> str:
    """``/-/`` on GitLab (``…/-/tree/<sha>``), ``/`` on GitHub and the rest."""
    host = urlsplit(repository).hostname or ""
    return "/-/" if "gitlab" in host else "/"


# --- the verified facts ----------------------------------------------------------------------


def _origin(url: str | None) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of a web URL, for "same host" comparisons; None if not a web URL."""
    href = web_url(url)
    if href is None:
        return None
    parts = urlsplit(href)
    try:
        port = parts.port
    except ValueError:
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    return parts.scheme, (parts.hostname or "").lower(), port or default


@dataclass(frozen=True, slots=True)
class FactsView:
    """Where a version was built, as its verified signing certificate states it.

    Everything here comes from :class:`~assay.verify.facts.VerifiedFacts` — the certificate the
    CA wrote from the CI system's OIDC token — never from the statement. Links are made only
    from web URLs; the "View build summary" link only to the certificate's Run Invocation URI,
    and only when it is on the source repository's host (a run of ``github.com/o/r`` is a page
    of ``github.com``), as npmjs.org links the run of the workflow that signed.
    """

    facts: VerifiedFacts

    @property
    def ci(self) -> str:
        return self.facts.ci

    @property
    def signed_on(self) -> str:
        """npm's headline, with the CI named by its OIDC issuer: "Built and signed on …"."""
        return f"Built and signed on {self.facts.ci}"

    @property
    def emulated(self) -> bool:
        return self.facts.emulated

    @property
    def issuer(self) -> str:
        return self.facts.issuer

    @property
    def source_repository(self) -> Link | None:
        repository = self.facts.source_repository_uri
        if not repository:
            return None
        href = web_url(repository)
        return Link(repository.split("://", 1)[-1] if href else repository, href)

    @property
    def source_commit(self) -> Link | None:
        commit = self.facts.source_repository_digest
        if not commit:
            return None
        base = web_url(self.facts.source_repository_uri)
        if base is None:
            return Link(commit)
        base = base.rstrip("/")
        return Link(commit, f"{base}{_forge_path(base)}tree/{quote(commit, safe='')}")

    @property
    def ref(self) -> str | None:
        return self.facts.source_repository_ref

    @property
    def build_file(self) -> Link | None:
        """The workflow file (Build Config URI) as a path in the repository, linked at the
        commit; a workflow of another repository is shown whole, not linked."""
        path = self.facts.workflow_path
        if not path:
            return None
        base = web_url(self.facts.source_repository_uri)
        commit = self.facts.source_repository_digest
        if base is None or not commit or "://" in path or path.startswith("/"):
            return Link(path)
        base = base.rstrip("/")
        target = f"{quote(commit, safe='')}/{quote(path, safe='/')}"
        return Link(path, f"{base}{_forge_path(base)}blob/{target}")

    @property
    def build_summary(self) -> str | None:
        """Where "View build summary" points: the Run Invocation URI, if it is a web URL on the
        same host as the source repository; else nowhere. Never for the emulated CI: its run
        URI names a run that no forge ran (the job was registered with this instance)."""
        run = self.facts.run_invocation_uri
        if self.facts.emulated:
            return None
        origin = _origin(run)
        if origin is None or origin != _origin(self.facts.source_repository_uri):
            return None
        return run

    @property
    def run(self) -> Link | None:
        run = self.facts.run_invocation_uri
        return Link(run, self.build_summary) if run else None

    @property
    def trigger(self) -> str | None:
        return self.facts.build_trigger

    @property
    def runner_environment(self) -> str | None:
        return self.facts.runner_environment

    @property
    def signer_identity(self) -> str:
        return self.facts.signer_identity


def leaf_certificate(bundle_json: object) -> x509.Certificate | None:
    """The signing certificate of a bundle (None when it is signed with a bare key).

    Raises AssayError when the bundle or the certificate cannot be read.
    """
    bundle = Bundle.from_dict(bundle_json)
    der, _ = _key_material(bundle)
    if der is None:
        return None
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise VerificationError(f"the signing certificate is not DER X.509: {exc}") from exc


def bundle_facts(bundle_json: object, *, instance_issuer: str | None) -> VerifiedFacts | None:
    """The verified facts of a provenance bundle the registry accepted (None: no certificate).

    Only for bundles that passed :mod:`assay.verify` (every provenance this registry stores did,
    at publish): reading the certificate here checks nothing. ``instance_issuer`` is this
    instance's OIDC issuer, so that its emulated CI is named as such (never "GitHub Actions").
    Raises AssayError for a bundle or certificate that cannot be read.
    """
    leaf = leaf_certificate(bundle_json)
    if leaf is None:
        return None
    try:
        signer = SignerIdentity.from_certificate(leaf)
    except FormatError as exc:
        raise VerificationError(exc.message) from exc
    return VerifiedFacts.from_signer(signer, instance_issuer=instance_issuer)


def provenance_bundle(response: object) -> object | None:
    """The SLSA provenance bundle of an attestations response (None without one)."""
    items = response.get("attestations") if isinstance(response, Mapping) else None
    for item in items if isinstance(items, list) else []:
        if isinstance(item, Mapping) and item.get("predicateType") in (SLSA_V1, SLSA_V02):
            bundle: object = item.get("bundle")
            return bundle
    return None


@dataclass(frozen=True, slots=True)
class ClaimsCheck:
    """The builder's statement compared with the verified facts
    (:func:`assay.verify.facts.check_statement`), for the detail page."""

    agreed: tuple[str, ...]
    unverified: tuple[str, ...]
    mismatch: str | None
    """The first claim that disagrees with the certificate (a version accepted before the
    registry compared them), in npm's wording; None if every comparable claim agrees."""


def claims_check(statement: Statement, facts: VerifiedFacts) -> ClaimsCheck:
    try:
        checked = check_statement(statement, facts)
    except ProvenanceMismatch as exc:
        return ClaimsCheck((), (), exc.message)
    return ClaimsCheck(checked.agreed, checked.unverified, None)


@dataclass(frozen=True, slots=True)
class PublishView:
    """The registry's publish attestation: "this registry accepted name@version"."""

    name: str
    version: str
    registry: str
    key_hint: str | None
    log_entry: LogEntryView | None


@dataclass(frozen=True, slots=True)
class AttestationsView:
    provenance: ProvenanceView | None
    publish: PublishView | None
    problems: tuple[str, ...]
    """Attestations present but unreadable (named, with the reason)."""


def _key_material(bundle: Bundle) -> tuple[bytes | None, str | None]:
    content = bundle.verification_material.content
    if isinstance(content, X509Certificate):
        return content.raw_bytes, None
    if isinstance(content, X509CertificateChain):
        return content.certificates[0].raw_bytes, None
    return None, content.hint or None


def _statement(bundle: Bundle) -> Statement:
    if not isinstance(bundle.content, Envelope):
        raise VerificationError("the bundle signs a message, not an in-toto statement")
    return Statement.from_json(bundle.content.payload)


def provenance_view(bundle_json: object, ledger: LedgerLink | None = None) -> ProvenanceView:
    """Read a SLSA provenance bundle; raise AssayError when it cannot be read."""
    bundle = Bundle.from_dict(bundle_json)
    statement = _statement(bundle)
    build = summarize(statement)
    der, hint = _key_material(bundle)
    entries = bundle.verification_material.tlog_entries
    return ProvenanceView(
        predicate_type=statement.predicate_type,
        statement=statement,
        build=build,
        media_type=bundle.media_type,
        certificate=certificate_view(der) if der is not None else None,
        public_key_hint=hint,
        log_entry=log_entry_view(entries[0], ledger) if entries else None,
        bundle=bundle.to_dict(),
        statement_json=json.dumps(statement.to_dict(), indent=2, ensure_ascii=False),
    )


def publish_view(bundle_json: object, ledger: LedgerLink | None = None) -> PublishView:
    bundle = Bundle.from_dict(bundle_json)
    predicate = PublishPredicate.from_statement(_statement(bundle))
    _, hint = _key_material(bundle)
    entries = bundle.verification_material.tlog_entries
    return PublishView(
        name=predicate.name,
        version=predicate.version,
        registry=predicate.registry,
        key_hint=hint,
        log_entry=log_entry_view(entries[0], ledger) if entries else None,
    )


def attestations_view(response: object, ledger: LedgerLink | None = None) -> AttestationsView:
    """Read an attestations response; what cannot be read is reported, never raised."""
    items = response.get("attestations") if isinstance(response, Mapping) else None
    provenance: ProvenanceView | None = None
    publish: PublishView | None = None
    problems: list[str] = []
    for index, item in enumerate(items if isinstance(items, list) else []):
        predicate_type = item.get("predicateType") if isinstance(item, Mapping) else None
        bundle = item.get("bundle") if isinstance(item, Mapping) else None
        label = predicate_type if isinstance(predicate_type, str) else f"attestation {index}"
        try:
            if predicate_type == PUBLISH_PREDICATE_TYPE and publish is None:
                publish = publish_view(bundle, ledger)
            elif predicate_type in (SLSA_V1, SLSA_V02) and provenance is None:
                provenance = provenance_view(bundle, ledger)
        except AssayError as exc:
            problems.append(f"{label}: {exc.message}")
    return AttestationsView(provenance, publish, tuple(problems))
