"""The one verification path: a Sigstore bundle, checked in the numbered steps of sigstore.md §6.

:meth:`Verifier.verify` runs every step in order and either returns a :class:`VerificationResult`
(the verified payload and statement, who signed, the log entry and its verified time) or raises
:class:`~assay.errors.VerificationError` whose ``step`` detail is the §6 step number and whose
message names exactly what failed. It fails closed: an unknown media type, entry kind or key
type, a missing proof, a timestamp that does not verify — all are refusals, never a silent pass.
It does no I/O. docs/verification.md says what is accepted, and against which oracles.

What is checked, by step (sigstore.md §6, compiled from sigstore-python 4.5.1 and
@sigstore/verify 4.1.3; where they differ we take the stricter rule, so that whatever we accept
both accept):

1. a known bundle media type;
2. exactly one transparency log entry;
3. the key material: the v0.3 ``certificate`` or ``x509CertificateChain[0]`` is a leaf (not a
   CA; v3; the rest of a chain is ignored: paths are built from the trusted root alone), or
   a public-key hint with the key supplied by the caller (npm's registry-signed attestations);
4. the entry kind/version is one we can rebuild — Rekor v1 ``hashedrekord`` 0.0.1, ``dsse``
   0.0.1, ``intoto`` 0.0.2; Rekor v2 ``hashedrekord`` and ``dsse`` 0.0.2 — and matches the
   bundle content (message signature vs DSSE; Rekor v2 may log a DSSE envelope as a hashedrekord
   over its PAE, rekor-v2-spec §6.1.4);
5. an inclusion proof with a checkpoint, or (v0.1 only, what npm's 2023 bundles carry and
   sigstore-js accepts) an inclusion promise alone; a Rekor v2 entry has an inclusion proof and
   no promise and no integrated time;
6. v0.2 and later: an inclusion promise or RFC 3161 timestamps as the time source;
7. a DSSE envelope has exactly one signature;
8. RFC 3161 timestamps (:mod:`assay.verify.timestamp`): every one verifies over the bundle's
   signature with a TSA of the trusted root, its chain valid at its ``genTime``, which lies in
   the TSA's ``validFor``; each ``genTime`` is a verified time;
9. the inclusion promise's ``integratedTime`` is the verified time (checked in step 17);
10. at least one verified time (a Rekor v2 entry gives none: it needs a timestamp);
11. at every verified time, the leaf chains to a trusted CA whose ``validFor`` contains it, with
    every certificate of the path valid then, under the WebPKI profile sigstore-python applies
    (cryptography's verifier, EKU left to step 13);
12. exactly one embedded SCT, from a CT log of the trusted root whose key was valid at the SCT's
    time, verifying over the precertificate;
13. the leaf has KeyUsage digitalSignature and EKU codeSigning;
14. identity: left to the caller's policy (:mod:`assay.verify.policy`), run last;
15. the RFC 6962 inclusion proof leads from the body's leaf hash to the proof's root;
16. the checkpoint is signed by the entry's log (key hint = ``logId[:4]``, key name inside the
    log's ``baseUrl``; the log's line may be anywhere among witness cosignatures, which are
    ignored) and names the same root and size;
17. the SET verifies over JCS(body, integratedTime, logID, logIndex) with that log's key, valid
    at ``integratedTime``;
18. every verified time lies within the leaf's validity;
19. the signature: ECDSA over the artifact digest (``messageDigest`` must equal it), or over the
    DSSE PAE;
20. the log entry's body says the same as the bundle (CVE-2022-36056): same signature, same
    certificate or key, same digest / payload hash (Rekor v2 bodies:
    :mod:`assay.transparency.rekor_v2`);
21. with an artifact, a DSSE statement has a subject with the artifact's digest.

The step names and the error each failure raises are in :mod:`assay.verify.steps`; the checks of
what the log recorded (steps 16, 17 and 20) in :mod:`assay.verify.log_entry`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
)
from cryptography.x509.verification import VerificationError as X509VerificationError

from assay.errors import AssayError, FormatError, VerificationError
from assay.provenance import dsse
from assay.provenance.bundle import MEDIA_TYPES, Bundle
from assay.provenance.dsse import Envelope, PublicKey
from assay.provenance.fulcio import SignerIdentity
from assay.provenance.statement import PAYLOAD_TYPE, Statement
from assay.provenance.subject import Digest
from assay.transparency.merkle import leaf_hash, verify_inclusion
from assay.transparency.sct import verify_embedded_sct
from assay.verify.log_entry import (
    MESSAGE_HASHES,
    check_dsse_body,
    check_dsse_v2_body,
    check_hashedrekord_body,
    check_hashedrekord_v2_body,
    check_intoto_body,
    entry_body,
    entry_body_v2,
    verify_checkpoint_note,
    verify_promise,
)
from assay.verify.policy import Policy
from assay.verify.result import VerificationResult
from assay.verify.steps import STEPS, fail
from assay.verify.timestamp import TimestampAuthorities
from assay.verify.trust import CertificateAuthority, TrustedRoot

__all__ = [
    "STEPS",
    "Artifact",
    "Verifier",
]

Artifact = bytes | Digest
"""The signed file's bytes, or its digest (``sha256:<hex>`` on the conformance command line)."""

_PREHASH: Final[Mapping[str, type[hashes.HashAlgorithm]]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_REKOR_V1_KINDS: Final = frozenset(
    {("hashedrekord", "0.0.1"), ("dsse", "0.0.1"), ("intoto", "0.0.2")}
)
_REKOR_V2_KINDS: Final = frozenset({("hashedrekord", "0.0.2"), ("dsse", "0.0.2")})

# sigstore-python's chain policy: WebPKI defaults with EKU allowed (codeSigning is step 13).
_CA_POLICY: Final = ExtensionPolicy.webpki_defaults_ca().may_be_present(
    x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None
)
_EE_POLICY: Final = ExtensionPolicy.webpki_defaults_ee().may_be_present(
    x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None
)


# --- small decoders -----------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _certificate(der: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(der)


# --- the verifier -------------------------------------------------------------------------------


class Verifier:
    """Verifies bundles against one trusted root. Build once, use for many bundles (thread-safe).

    Trust lookups are indexed when the :class:`TrustedRoot` is built; each CA's certificate store
    is built here once. Nothing touches the network.
    """

    def __init__(self, trusted_root: TrustedRoot) -> None:
        self.trusted_root = trusted_root
        self._stores: tuple[tuple[CertificateAuthority, Store], ...] = tuple(
            (authority, Store(list(authority.chain)))
            for authority in trusted_root.certificate_authorities
        )
        self._timestamp_authorities = TimestampAuthorities(trusted_root.timestamp_authorities)

    def verify(
        self,
        bundle: Bundle,
        *,
        artifact: Artifact | None = None,
        policy: Policy | None = None,
        public_key: PublicKey | None = None,
    ) -> VerificationResult:
        """Verify ``bundle`` (sigstore.md §6), then ``policy``; return what it proves.

        ``artifact`` is the signed file (or its digest): required for a message signature,
        optional for DSSE (then a statement subject must carry its digest). ``public_key`` is the
        key for a public-key bundle, chosen by the caller from its hint (npm: the registry key).
        Raises :class:`VerificationError` and nothing else.
        """
        try:
            result = self._verify(bundle, artifact, public_key)
        except VerificationError:
            raise
        except AssayError as exc:  # a FormatError from a parser we call on untrusted bytes
            raise VerificationError(exc.message, step="format", **exc.details) from exc
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            # cryptography refusing malformed DER somewhere we did not expect: fail closed.
            raise VerificationError(
                f"malformed input: {type(exc).__name__}: {exc}", step="format"
            ) from exc
        if policy is not None:
            policy.verify(result)
        return result

    def _verify(
        self, bundle: Bundle, artifact: Artifact | None, public_key: PublicKey | None
    ) -> VerificationResult:
        # 1. A known media type (Bundle refuses others when parsed; re-checked for fresh ones).
        if bundle.media_type not in MEDIA_TYPES:
            raise fail(1, f"unknown bundle media type {bundle.media_type!r}")
        # 2. Exactly one log entry (sigstore-python Bundle._verify).
        entries = bundle.tlog_entries
        if len(entries) != 1:
            raise fail(2, f"expected exactly one transparency log entry, found {len(entries)}")
        entry = entries[0]
        # 3. The key material.
        leaf, key = self._key_material(bundle, public_key)
        # 4. The entry kind/version, and that it fits the content.
        kind = (entry.kind_version.kind, entry.kind_version.version)
        rekor_v2 = kind in _REKOR_V2_KINDS
        if not rekor_v2 and kind not in _REKOR_V1_KINDS:
            raise fail(4, f"unsupported log entry kind {kind[0]!r} version {kind[1]!r}")
        envelope = bundle.dsse_envelope
        # Rekor v2 logs a DSSE envelope as dsse 0.0.2 or as hashedrekord 0.0.2 over its PAE
        # (rekor-v2-spec §6.1.4); a message signature only ever as a hashedrekord.
        if kind == ("dsse", "0.0.2") and envelope is None:
            raise fail(4, "a dsse log entry cannot record a message signature")
        if not rekor_v2 and (kind[0] == "hashedrekord") != (envelope is None):
            content = "a DSSE envelope" if envelope is not None else "a message signature"
            raise fail(4, f"a {kind[0]} log entry cannot record {content}")
        # 5. Proof of inclusion.
        proof, promise = entry.inclusion_proof, entry.inclusion_promise
        if proof is None and promise is None:
            raise fail(5, "the log entry has neither an inclusion proof nor an inclusion promise")
        if proof is not None and (proof.checkpoint is None or not proof.checkpoint.envelope):
            raise fail(5, "the inclusion proof has no checkpoint")
        if proof is None and bundle.version >= (0, 2):
            raise fail(5, "bundles from v0.2 on must carry an inclusion proof")
        if rekor_v2 and (proof is None or promise is not None or entry.integrated_time != 0):
            # Rekor v2 signs no entry timestamp: inclusion proof and checkpoint only.
            raise fail(5, "a Rekor v2 entry carries an inclusion proof only, with no SET or time")
        # 6. A source of time.
        data = bundle.verification_material.timestamp_verification_data
        timestamps = data.rfc3161_timestamps if data is not None else ()
        if bundle.version >= (0, 2) and promise is None and not timestamps:
            raise fail(6, "no inclusion promise and no RFC 3161 timestamp to establish time")
        # 7. DSSE: exactly one signature (also a Bundle invariant).
        if envelope is not None and len(envelope.signatures) != 1:
            raise fail(7, f"expected one DSSE signature, found {len(envelope.signatures)}")
        # 8. RFC 3161 timestamps: each one's genTime is a verified time (timestamp.py).
        verified_times = self._timestamp_authorities.verify(
            bundle.signature, [stamp.signed_timestamp for stamp in timestamps]
        )
        logs = self.trusted_root.tlog(entry.log_id.key_id)
        if not logs:
            raise fail(
                17 if promise is not None else 16,
                f"the entry is from a log not in the trusted root (logId "
                f"{entry.log_id.key_id.hex()})",
            )
        # 9 and 17. The inclusion promise: the integrated time, once its SET verifies.
        integrated_time: datetime | None = None
        if promise is not None:
            if entry.integrated_time == 0:
                raise fail(9, "the inclusion promise has no integrated time")
            integrated_time = datetime.fromtimestamp(entry.integrated_time, UTC)
            verify_promise(entry, promise.signed_entry_timestamp, logs, integrated_time)
            verified_times.append(integrated_time)
        # 10. At least one verified time (a Rekor v2 entry alone has none: it needs a TSA).
        if not verified_times:
            raise fail(10, "no verified time for the signature")
        signer: SignerIdentity | None = None
        if leaf is not None:
            # 11. The chain, at every verified time.
            path: list[x509.Certificate] = []
            for moment in verified_times:
                path = self._verify_chain(leaf, moment)
            # 12. The SCT.
            self._verify_sct(leaf, path[1])
            # 18. Every verified time within the leaf's validity (inclusive).
            for moment in verified_times:
                if not leaf.not_valid_before_utc <= moment <= leaf.not_valid_after_utc:
                    raise fail(
                        18,
                        f"the certificate was not valid at {moment.isoformat()} (valid "
                        f"{leaf.not_valid_before_utc.isoformat()} to "
                        f"{leaf.not_valid_after_utc.isoformat()})",
                    )
            signer = SignerIdentity.from_certificate(leaf)
        # 15 and 16. Inclusion proof and checkpoint.
        if proof is not None:
            try:
                verify_inclusion(
                    leaf_hash(entry.canonicalized_body),
                    proof.log_index,
                    proof.tree_size,
                    proof.hashes,
                    proof.root_hash,
                )
            except VerificationError as exc:
                raise fail(15, f"the inclusion proof does not verify: {exc.message}") from exc
            note = proof.checkpoint.envelope if proof.checkpoint is not None else ""
            verify_checkpoint_note(note, proof.root_hash, proof.tree_size, entry, logs)
        # 19. The signature.
        payload: bytes | None = None
        if envelope is not None:
            payload = self._verify_envelope(envelope, key)
        else:
            self._verify_message(bundle, key, artifact)
        # 20. The body says what the bundle says.
        if rekor_v2:
            body_v2 = entry_body_v2(entry, kind)
            if kind[0] == "dsse" and envelope is not None:
                check_dsse_v2_body(body_v2, envelope, leaf, key)
            else:
                check_hashedrekord_v2_body(body_v2, bundle, leaf, key)
        else:
            body = entry_body(entry, kind)
            if envelope is not None and kind == ("dsse", "0.0.1"):
                check_dsse_body(body, envelope, leaf, key)
            elif envelope is not None:
                check_intoto_body(body, envelope, leaf, key)
            else:
                check_hashedrekord_body(body, bundle, leaf, key)
        # 21. The statement and its subject.
        statement: Statement | None = None
        if envelope is not None:
            statement = self._statement(envelope, artifact)
        return VerificationResult(
            bundle=bundle,
            kind=kind[0],
            kind_version=kind[1],
            log_entry=entry,
            log_index=entry.log_index,
            integrated_time=integrated_time,
            verified_times=tuple(verified_times),
            signer=signer,
            public_key_hint=bundle.public_key_hint,
            payload_type=envelope.payload_type if envelope is not None else None,
            payload=payload,
            statement=statement,
        )

    # -- step 3

    def _key_material(
        self, bundle: Bundle, public_key: PublicKey | None
    ) -> tuple[x509.Certificate | None, PublicKey]:
        hint = bundle.public_key_hint
        if hint is not None:
            if public_key is None:
                raise fail(3, f"the bundle is signed by key {hint!r}, and no key was given")
            return None, public_key
        chain: list[x509.Certificate] = []
        for index, der in enumerate(bundle.chain_der):
            try:
                chain.append(_certificate(der))
            except ValueError as exc:
                raise fail(3, f"certificate {index} of the bundle does not parse: {exc}") from None
        leaf = chain[0]
        try:
            if leaf.version != x509.Version.v3:
                raise fail(3, "the signing certificate is not an X.509 v3 certificate")
            if _is_ca(leaf):
                raise fail(3, "the signing certificate is a CA certificate, not a leaf")
            # The other certificates of a v0.1/v0.2 chain are untrusted and never used: paths
            # are built from the trusted root alone. (npm's 2023 bundles carry the root too,
            # which sigstore-python only warns about.)
            # 13. KeyUsage digitalSignature and EKU codeSigning.
            try:
                usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
                extended = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            except x509.ExtensionNotFound as exc:
                raise fail(13, f"the signing certificate lacks {exc.oid.dotted_string}") from None
            if not usage.digital_signature:
                raise fail(13, "the signing certificate's key usage lacks digitalSignature")
            if ExtendedKeyUsageOID.CODE_SIGNING not in extended:
                raise fail(13, "the signing certificate's extended key usage lacks codeSigning")
            key = leaf.public_key()
        except (ValueError, x509.DuplicateExtension, UnsupportedAlgorithm) as exc:
            raise fail(3, f"the signing certificate is malformed: {exc}") from None
        if not isinstance(
            key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey
        ):
            raise fail(3, f"unsupported signing key type {type(key).__name__}")
        return leaf, key

    # -- steps 11, 12

    def _verify_chain(self, leaf: x509.Certificate, moment: datetime) -> list[x509.Certificate]:
        reasons: list[str] = []
        for authority, store in self._stores:
            # sigstore-js filters CAs by validFor at the verified time.
            if not authority.valid_for.contains(moment):
                continue
            verifier = (
                PolicyBuilder()
                .store(store)
                .time(moment)
                .extension_policies(ca_policy=_CA_POLICY, ee_policy=_EE_POLICY)
                .build_client_verifier()
            )
            try:
                return list(verifier.verify(leaf, []).chain)
            except (X509VerificationError, x509.UnsupportedGeneralNameType, ValueError) as exc:
                reasons.append(f"{authority.uri or 'CA'}: {exc}")
        if not reasons:
            raise fail(
                11, f"no certificate authority of the trusted root is valid at {moment.isoformat()}"
            )
        raise fail(
            11,
            f"the signing certificate does not chain to a trusted CA at {moment.isoformat()}: "
            + "; ".join(reasons),
        )

    def _verify_sct(self, leaf: x509.Certificate, issuer: x509.Certificate) -> None:
        try:
            scts = list(
                leaf.extensions.get_extension_for_class(
                    x509.PrecertificateSignedCertificateTimestamps
                ).value
            )
        except x509.ExtensionNotFound:
            raise fail(12, "the signing certificate has no embedded SCT") from None
        if len(scts) != 1:
            raise fail(12, f"expected exactly one embedded SCT, found {len(scts)}")
        sct = scts[0]
        logs = self.trusted_root.ctlog(sct.log_id)
        if not logs:
            raise fail(12, f"the SCT is from a CT log not in the trusted root ({sct.log_id.hex()})")
        moment = sct.timestamp.replace(tzinfo=UTC)
        candidates = [log for log in logs if log.valid_for.contains(moment)]
        if not candidates:
            raise fail(12, f"the CT log's key was not valid at the SCT's time {moment.isoformat()}")
        failures: list[str] = []
        for log in candidates:
            if not isinstance(log.public_key, ec.EllipticCurvePublicKey):
                failures.append("the CT log key is not an ECDSA key")
                continue
            try:
                verify_embedded_sct(leaf, issuer, log.public_key)
            except VerificationError as exc:
                failures.append(exc.message)
            else:
                return
        raise fail(12, "the SCT does not verify: " + "; ".join(failures))

    # -- step 19

    def _verify_envelope(self, envelope: Envelope, key: PublicKey) -> bytes:
        try:
            return dsse.verify(envelope, key)
        except VerificationError as exc:
            raise fail(19, "the DSSE signature does not verify with the signer's key") from exc

    def _verify_message(self, bundle: Bundle, key: PublicKey, artifact: Artifact | None) -> None:
        message = bundle.message_signature
        if message is None:  # step 4 matched hashedrekord to a message signature
            raise fail(19, "the bundle has no message signature")
        algorithm = MESSAGE_HASHES.get(message.message_digest.algorithm)
        if algorithm is None:
            raise fail(19, f"unsupported message digest {message.message_digest.algorithm.value}")
        if artifact is None:
            raise fail(19, "a message signature can only be verified against the artifact")
        if isinstance(artifact, Digest):
            if artifact.algorithm != algorithm:
                raise fail(
                    19, f"the artifact digest is {artifact.algorithm}; the bundle signs {algorithm}"
                )
            digest = artifact.value
        else:
            digest = hashlib.new(algorithm, artifact).digest()
        if message.message_digest.digest != digest:
            raise fail(19, "the bundle's message digest does not match the artifact")
        prehashed = Prehashed(_PREHASH[algorithm]())
        try:
            if isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(message.signature, digest, ec.ECDSA(prehashed))
            elif isinstance(key, rsa.RSAPublicKey):
                key.verify(message.signature, digest, padding.PKCS1v15(), prehashed)
            else:
                raise fail(19, "Ed25519 message signatures are not supported")
        except (InvalidSignature, ValueError):
            raise fail(19, "the message signature does not verify over the artifact") from None

    # -- step 21

    def _statement(self, envelope: Envelope, artifact: Artifact | None) -> Statement | None:
        statement: Statement | None = None
        if envelope.payload_type == PAYLOAD_TYPE:
            try:
                statement = Statement.from_json(envelope.payload)
            except FormatError as exc:
                raise fail(21, f"the payload is not an in-toto statement: {exc.message}") from None
        if artifact is None:
            return statement
        if statement is None:
            raise fail(21, f"payload type {envelope.payload_type!r} has no subjects to match")
        digest = artifact if isinstance(artifact, Digest) else Digest.of(artifact, "sha256")
        if not any(subject.matches(digest) for subject in statement.subjects):
            raise fail(
                21, f"no subject of the statement has the artifact's {digest.algorithm} digest"
            )
        return statement


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False
