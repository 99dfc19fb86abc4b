"""Sigstore bundles, media types v0.1, v0.2 and v0.3: parsed, checked, and written back unchanged.

A bundle is the proto3 JSON encoding of ``dev.sigstore.bundle.v1.Bundle`` (protobuf-specs
``protos/sigstore_bundle.proto``, with ``sigstore_common.proto``, ``sigstore_rekor.proto`` and
DSSE ``envelope.proto``). Every class here is a frozen dataclass named after its proto message,
with ``bytes`` fields decoded to :class:`bytes` and ``int64`` fields to :class:`int`.
``Bundle.from_json`` and ``Bundle.from_dict`` are the only way in from untrusted data; they raise
:class:`~assay.errors.BundleError`, whose message and ``field`` detail name the JSON path
(``verificationMaterial.tlogEntries[0].inclusionProof.rootHash``), and never anything else.
``to_dict`` gives back the exact JSON that was parsed, unknown fields included (see
:mod:`assay.provenance.encoding`), which is what the registry stores and serves.

Invariants are checked when an object is constructed, so a ``Bundle`` that exists is well formed.
They are the structural rules that protobuf-specs states and that both reference clients enforce
when they load a bundle, or that make verification fail in both of them anyway:

* the media type is one of the four below (sigstore-python ``Bundle._verify``: "unsupported bundle
  format");
* verification material holds exactly one of ``publicKey``, ``x509CertificateChain`` and
  ``certificate`` (proto ``oneof content``). ``certificate`` (field 5) exists only from v0.3 on, and
  a v0.3 bundle must not use ``x509CertificateChain`` (sigstore-js ``assertBundleLatest`` /
  ``validateNoCertificateChain``; sigstore-python: "expected certificate in bundle" and "expected
  certificate chain in bundle"). ``publicKey`` is allowed in every version (proto comment on
  ``VerificationMaterial.content``: form (1) "MAY be used ... for self-managed keys"): npm's
  registry-signed publish attestations use it in v0.1 and v0.2 bundles;
* a certificate chain is not empty and no certificate's ``rawBytes`` is empty (sigstore-js
  ``validateBundleBase``; sigstore-python: "expected non-empty certificate chain");
* each tlog entry has ``logId`` and ``kindVersion`` (sigstore-js ``validateBundleBase``) with a
  32-byte key id (SHA-256 of the log key, or the C2SP key hash for Rekor v2) and non-empty kind and
  version; indices, sizes and times are non-negative and ``inclusionProof.logIndex <
  inclusionProof.treeSize``; root hash and every proof hash are 32 bytes (RFC 6962 SHA-256 nodes);
  a present ``inclusionPromise`` has a non-empty signed entry timestamp;
* v0.1: every tlog entry has an ``inclusionPromise`` ("Required for v0.1 bundles",
  ``TransparencyLogEntry.inclusion_promise``; sigstore-js ``assertBundleV01``; sigstore-python:
  "bundle must contain an inclusion promise"). Its inclusion proof may be missing or lack a
  checkpoint: npm's 2023 bundles have ``"inclusionProof": null``;
* v0.2 and later: every tlog entry has an ``inclusionProof`` with a non-empty ``checkpoint``
  (sigstore-js ``validateInclusionProof``; sigstore-python: "expected checkpoint in inclusion
  proof");
* content is exactly one of ``messageSignature`` and ``dsseEnvelope`` (proto ``oneof content``);
  a message signature has a non-empty signature and a ``messageDigest`` with a non-empty digest,
  and a DSSE envelope has a non-empty payload and exactly one signature, which is not empty
  (sigstore-js ``validateBundleBase``; the ``dsse_envelope`` comment in sigstore_bundle.proto: "DSSE
  envelopes in a bundle MUST have exactly one signature").

Deliberately left to the verifier, because they are policy, depend on the trusted root, or would
make us refuse bundles that one of the reference clients accepts (DESIGN: our verdicts must agree
with theirs): exactly one tlog entry and inclusion proofs in v0.1 (sigstore-python only; npm's v0.1
bundles have none), the entry kind/version (sigstore-python accepts 0.0.1/0.0.2), a source of
signed time for v0.2+ (the proto allows "the current system time for long-lived certificates"), the
DSSE ``keyid`` matching ``publicKey.hint`` (a MUST in the proto that neither client checks),
whether the leaf is a CA, and the certificate DER itself.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, TypeAlias

from assay.errors import BundleError
from assay.provenance.dsse import Envelope
from assay.provenance.encoding import (
    JSONValue,
    dump_json,
    load_json_object,
)
from assay.provenance.log_entry import (
    Checkpoint,
    InclusionPromise,
    InclusionProof,
    KindVersion,
    LogId,
    TlogEntry,
    field_error,
)
from assay.provenance.wire import (
    FRESH,
    ObjectReader,
    ObjectWriter,
    WireForm,
)

__all__ = [
    "MEDIA_TYPES",
    "MEDIA_TYPE_V0_1",
    "MEDIA_TYPE_V0_2",
    "MEDIA_TYPE_V0_3",
    "MEDIA_TYPE_V0_3_LEGACY",
    "Bundle",
    "Checkpoint",
    "HashAlgorithm",
    "HashOutput",
    "InclusionPromise",
    "InclusionProof",
    "KindVersion",
    "LogId",
    "MessageSignature",
    "PublicKeyIdentifier",
    "RFC3161SignedTimestamp",
    "TimestampVerificationData",
    "TlogEntry",
    "VerificationMaterial",
    "X509Certificate",
    "X509CertificateChain",
]

MEDIA_TYPE_V0_1: Final = "application/vnd.dev.sigstore.bundle+json;version=0.1"
MEDIA_TYPE_V0_2: Final = "application/vnd.dev.sigstore.bundle+json;version=0.2"
MEDIA_TYPE_V0_3: Final = "application/vnd.dev.sigstore.bundle.v0.3+json"
# sigstore_bundle.proto: clients "must be able to accept" the earlier spelling of 0.3 as well.
MEDIA_TYPE_V0_3_LEGACY: Final = "application/vnd.dev.sigstore.bundle+json;version=0.3"

MEDIA_TYPES: Final[Mapping[str, tuple[int, int]]] = MappingProxyType(
    {
        MEDIA_TYPE_V0_1: (0, 1),
        MEDIA_TYPE_V0_2: (0, 2),
        MEDIA_TYPE_V0_3: (0, 3),
        MEDIA_TYPE_V0_3_LEGACY: (0, 3),
    }
)
"""Each known bundle media type and the (major, minor) version it names."""

# --- verification material: keys and certificates (sigstore_common.proto) ---------------------


@dataclass(frozen=True, slots=True)
class X509Certificate:
    """``dev.sigstore.common.v1.X509Certificate``: one DER certificate."""

    raw_bytes: bytes
    wire: WireForm = field(default=FRESH, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.raw_bytes:
            raise field_error("rawBytes", "must not be empty")

    @classmethod
    def read(cls, reader: ObjectReader) -> X509Certificate:
        """Parse from a reader positioned on this message."""
        raw_bytes = reader.binary("rawBytes")
        return reader.build(lambda wire: cls(raw_bytes=raw_bytes, wire=wire))

    def to_dict(self) -> dict[str, JSONValue]:
        """The proto3 JSON object."""
        writer = ObjectWriter(self.wire)
        writer.binary("rawBytes", self.raw_bytes)
        return writer.result()


@dataclass(frozen=True, slots=True)
class X509CertificateChain:
    """``X509CertificateChain``: the leaf first, then (optionally) its issuers (v0.1 and v0.2)."""

    certificates: tuple[X509Certificate, ...]
    wire: WireForm = field(default=FRESH, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.certificates:
            raise field_error("certificates", "must hold at least the leaf certificate")

    @classmethod
    def read(cls, reader: ObjectReader) -> X509CertificateChain:
        """Parse from a reader positioned on this message."""
        certificates = reader.repeated_message("certificates", X509Certificate.read)
        return reader.build(lambda wire: cls(certificates=certificates, wire=wire))

    def to_dict(self) -> dict[str, JSONValue]:
        """The proto3 JSON object."""
        writer = ObjectWriter(self.wire)
        writer.repeated_message("certificates", self.certificates)
        return writer.result()


@dataclass(frozen=True, slots=True)
class PublicKeyIdentifier:
    """``PublicKeyIdentifier``: an out-of-band key named by an unauthenticated hint.

    npm's registry uses ``"hint": "SHA256:<base64 of SHA-256 of the SPKI>"``, its key id in
    ``/-/npm/v1/keys``.
    """

    hint: str
    wire: WireForm = field(default=FRESH, compare=False, repr=False)

    @classmethod
    def read(cls, reader: ObjectReader) -> PublicKeyIdentifier:
        """Parse from a reader positioned on this message."""
        hint = reader.string("hint")
        return reader.build(lambda wire: cls(hint=hint, wire=wire))

    def to_dict(self) -> dict[str, JSONValue]:
        """The proto3 JSON object."""
        writer = ObjectWriter(self.wire)
        writer.string("hint", self.hint)
        return writer.result()


KeyMaterial: TypeAlias = X509CertificateChain | X509Certificate | PublicKeyIdentifier
"""``VerificationMaterial.content``: the proto ``oneof`` as a union."""


# --- signed timestamps (sigstore_bundle.proto, sigstore_common.proto) --------------------------


@dataclass(frozen=True, slots=True)
class RFC3161SignedTimestamp:
    """``RFC3161SignedTimestamp``: a DER ``TimeStampResponse`` (RFC 3161 §2.4.2)."""

    signed_timestamp: bytes
    wire: WireForm = field(default=FRESH, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.signed_timestamp:
            raise field_error("signedTimestamp", "must not be empty")

    @classmethod
    def read(cls, reader: ObjectReader) -> RFC3161SignedTimestamp:
        """Parse from a reader positioned on this message."""
        signed_timestamp = reader.binary("signedTimestamp")
        return reader.build(lambda wire: cls(signed_timestamp=signed_timestamp, wire=wire))

    def to_dict(self) -> dict[str, JSONValue]:
        """The proto3 JSON object."""
        writer = ObjectWriter(self.wire)
        writer.binary("signedTimestamp", self.signed_timestamp)
        return writer.result()


@dataclass(frozen=True, slots=True)
class TimestampVerificationData:
    """``TimestampVerificationData``: counter-signatures over the bundle's signature."""

    rfc3161_timestamps: tuple[RFC3161SignedTimestamp, ...] = ()
    wire: WireForm = field(default=FRESH, compare=False, repr=False)

    @classmethod
    def read(cls, reader: ObjectReader) -> TimestampVerificationData:
        """Parse from a reader positioned on this message."""
        timestamps = reader.repeated_message("rfc3161Timestamps", RFC3161SignedTimestamp.read)
        return reader.build(lambda wire: cls(rfc3161_timestamps=timestamps, wire=wire))

    def to_dict(self) -> dict[str, JSONValue]:
        """The proto3 JSON object."""
        writer = ObjectWriter(self.wire)
        writer.repeated_message("rfc3161Timestamps", self.rfc3161_timestamps)
        return writer.result()


@dataclass(frozen=True, slots=True)
class VerificationMaterial:
    """``VerificationMaterial``: the key material, log entries and timestamps."""

    content: KeyMaterial
    tlog_entries: tuple[TlogEntry, ...] = ()
    timestamp_verification_data: TimestampVerificationData | None = None
    wire: WireForm = field(default=FRESH, compare=False, repr=False)

    @classmethod
    def read(cls, reader: ObjectReader) -> VerificationMaterial:
        """Parse from a reader positioned on this message."""
        members = [
            name
            for name in ("publicKey", "x509CertificateChain", "certificate")
            if reader.present(name)
        ]
        if len(members) != 1:
            reader.fail(
                "content",
                "exactly one of publicKey, x509CertificateChain, certificate is required; "
                f"found {', '.join(members) or 'none'}",
            )
        content: KeyMaterial
        if members[0] == "publicKey":
            content = reader.required_message("publicKey", PublicKeyIdentifier.read)
        elif members[0] == "x509CertificateChain":
            content = reader.required_message("x509CertificateChain", X509CertificateChain.read)
        else:
            content = reader.required_message("certificate", X509Certificate.read)
        tlog_entries = reader.repeated_message("tlogEntries", TlogEntry.read)
        timestamps = reader.message("timestampVerificationData", TimestampVerificationData.read)
        return reader.build(
            lambda wire: cls(
                content=content,
                tlog_entries=tlog_entries,
                timestamp_verification_data=timestamps,
                wire=wire,
            )
        )

    def to_dict(self) -> dict[str, JSONValue]:
        """The proto3 JSON object."""
        writer = ObjectWriter(self.wire)
        if isinstance(self.content, PublicKeyIdentifier):
            writer.message("publicKey", self.content)
        elif isinstance(self.content, X509CertificateChain):
            writer.message("x509CertificateChain", self.content)
        else:
            writer.message("certificate", self.content)
        # sigstore-js's validateBundleBase requires the key, so bundles built here always have it.
        writer.repeated_message("tlogEntries", self.tlog_entries, always=True)
        writer.message("timestampVerificationData", self.timestamp_verification_data)
        return writer.result()


# --- signed content -----------------------------------------------------------------------------


class HashAlgorithm(enum.Enum):
    """``dev.sigstore.common.v1.HashAlgorithm``; values are the proto3 JSON names."""

    HASH_ALGORITHM_UNSPECIFIED = "HASH_ALGORITHM_UNSPECIFIED"
    SHA2_256 = "SHA2_256"
    SHA2_384 = "SHA2_384"
    SHA2_512 = "SHA2_512"
    SHA3_256 = "SHA3_256"
    SHA3_384 = "SHA3_384"


# Enum numbers, for the proto3 JSON rule that parsers accept an enum's number as well as its name.
_HASH_ALGORITHM_NUMBERS: Final[Mapping[str, int]] = MappingProxyType(
    {member.value: number for number, member in enumerate(HashAlgorithm)}
)


@dataclass(frozen=True, slots=True)
class HashOutput:
    """``HashOutput``: a digest and the algorithm that produced it."""

    algorithm: HashAlgorithm
    digest: bytes
    wire: WireForm = field(default=FRESH, compare=False, repr=False)

    @classmethod
    def read(cls, reader: ObjectReader) -> HashOutput:
        """Parse from a reader positioned on this message."""
        algorithm = HashAlgorithm(reader.enum("algorithm", _HASH_ALGORITHM_NUMBERS))
        digest = reader.binary("digest")
        return reader.build(lambda wire: cls(algorithm=algorithm, digest=digest, wire=wire))

    def to_dict(self) -> dict[str, JSONValue]:
        """The proto3 JSON object."""
        writer = ObjectWriter(self.wire)
        writer.put(
            "algorithm",
            self.algorithm.value,  # the name: what the reader recorded for a numeric spelling
            self.algorithm.value,
            default=self.algorithm is HashAlgorithm.HASH_ALGORITHM_UNSPECIFIED,
        )
        writer.binary("digest", self.digest)
        return writer.result()


@dataclass(frozen=True, slots=True)
class MessageSignature:
    """``MessageSignature``: a signature over an artifact, with the artifact's digest."""

    message_digest: HashOutput
    signature: bytes
    wire: WireForm = field(default=FRESH, compare=False, repr=False)

    def __post_init__(self) -> None:
        # sigstore-js validateBundleBase: messageDigest present with a non-empty digest, and a
        # non-empty signature (REQUIRED in sigstore_common.proto).
        if not self.message_digest.digest:
            raise field_error("messageDigest.digest", "must not be empty")
        if not self.signature:
            raise field_error("signature", "must not be empty")

    @classmethod
    def read(cls, reader: ObjectReader) -> MessageSignature:
        """Parse from a reader positioned on this message."""
        message_digest = reader.required_message("messageDigest", HashOutput.read)
        signature = reader.binary("signature")
        return reader.build(
            lambda wire: cls(message_digest=message_digest, signature=signature, wire=wire)
        )

    def to_dict(self) -> dict[str, JSONValue]:
        """The proto3 JSON object."""
        writer = ObjectWriter(self.wire)
        writer.message("messageDigest", self.message_digest)
        writer.binary("signature", self.signature)
        return writer.result()


SignedContent: TypeAlias = MessageSignature | Envelope
"""``Bundle.content``: the proto ``oneof`` as a union."""


# --- the bundle ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bundle:
    """``dev.sigstore.bundle.v1.Bundle``: everything needed to verify one signature offline."""

    media_type: str
    verification_material: VerificationMaterial
    content: SignedContent
    wire: WireForm = field(default=FRESH, compare=False, repr=False)

    def __post_init__(self) -> None:
        version = MEDIA_TYPES.get(self.media_type)
        if version is None:
            raise field_error(
                "mediaType", f"is not a known Sigstore bundle media type: {self.media_type!r}"
            )
        material = self.verification_material
        if version < (0, 3) and isinstance(material.content, X509Certificate):
            raise field_error(
                "verificationMaterial.certificate",
                f"is not allowed in a v0.{version[1]} bundle (added in v0.3); "
                "use x509CertificateChain",
            )
        if version >= (0, 3) and isinstance(material.content, X509CertificateChain):
            raise field_error(
                "verificationMaterial.x509CertificateChain",
                "is not allowed in a v0.3 bundle; use certificate",
            )
        for index, entry in enumerate(material.tlog_entries):
            path = f"verificationMaterial.tlogEntries[{index}]"
            if version == (0, 1):
                if entry.inclusion_promise is None:
                    raise field_error(f"{path}.inclusionPromise", "is required in a v0.1 bundle")
                continue
            if entry.inclusion_proof is None:
                raise field_error(f"{path}.inclusionProof", "is required from bundle v0.2 on")
            checkpoint = entry.inclusion_proof.checkpoint
            if checkpoint is None or not checkpoint.envelope:
                raise field_error(
                    f"{path}.inclusionProof.checkpoint", "is required from bundle v0.2 on"
                )
        if isinstance(self.content, Envelope):
            envelope = self.content
            if not envelope.payload:
                raise field_error("dsseEnvelope.payload", "must not be empty")
            if len(envelope.signatures) != 1:
                raise field_error(
                    "dsseEnvelope.signatures",
                    f"must hold exactly one signature in a bundle, got {len(envelope.signatures)}",
                )
            if not envelope.signatures[0].sig:
                raise field_error("dsseEnvelope.signatures[0].sig", "must not be empty")

    # -- parsing and printing

    @classmethod
    def from_json(cls, data: str | bytes) -> Bundle:
        """Parse bundle JSON text. Raises :class:`BundleError` and nothing else."""
        return cls.from_dict(load_json_object(data, error=BundleError, what="Sigstore bundle"))

    @classmethod
    def from_dict(cls, value: object) -> Bundle:
        """Parse a decoded JSON object. Raises :class:`BundleError` and nothing else."""
        return cls.read(ObjectReader(value, path="", error=BundleError))

    @classmethod
    def read(cls, reader: ObjectReader) -> Bundle:
        """Parse from a reader positioned on the bundle object."""
        media_type = reader.string("mediaType")
        material = reader.required_message("verificationMaterial", VerificationMaterial.read)
        members = [name for name in ("messageSignature", "dsseEnvelope") if reader.present(name)]
        if len(members) != 1:
            reader.fail(
                "content",
                "exactly one of messageSignature, dsseEnvelope is required; "
                f"found {', '.join(members) or 'none'}",
            )
        content: SignedContent
        if members[0] == "messageSignature":
            content = reader.required_message("messageSignature", MessageSignature.read)
        else:
            # envelope.proto spells its fields in camelCase as proto names: no snake_case aliases.
            content = reader.required_message("dsseEnvelope", Envelope.read, proto_names=False)
        return reader.build(
            lambda wire: cls(
                media_type=media_type, verification_material=material, content=content, wire=wire
            )
        )

    def to_dict(self) -> dict[str, JSONValue]:
        """The proto3 JSON object; for a parsed bundle, exactly the object it was parsed from."""
        writer = ObjectWriter(self.wire)
        writer.string("mediaType", self.media_type)
        writer.message("verificationMaterial", self.verification_material)
        if isinstance(self.content, MessageSignature):
            writer.message("messageSignature", self.content)
        else:
            writer.message("dsseEnvelope", self.content)
        return writer.result()

    def to_json(self) -> str:
        """Compact JSON text of :meth:`to_dict`."""
        return dump_json(self.to_dict())

    # -- conveniences for the verifier

    @property
    def version(self) -> tuple[int, int]:
        """The bundle format version, e.g. ``(0, 3)`` for both spellings of v0.3."""
        return MEDIA_TYPES[self.media_type]

    @property
    def leaf_certificate_der(self) -> bytes | None:
        """The signing certificate (DER), or ``None`` for a public-key bundle."""
        content = self.verification_material.content
        if isinstance(content, X509Certificate):
            return content.raw_bytes
        if isinstance(content, X509CertificateChain):
            return content.certificates[0].raw_bytes
        return None

    @property
    def chain_der(self) -> tuple[bytes, ...]:
        """Every certificate the bundle carries (DER), leaf first; empty for a public key."""
        content = self.verification_material.content
        if isinstance(content, X509Certificate):
            return (content.raw_bytes,)
        if isinstance(content, X509CertificateChain):
            return tuple(certificate.raw_bytes for certificate in content.certificates)
        return ()

    @property
    def public_key_hint(self) -> str | None:
        """The key hint of a public-key bundle, or ``None`` for a certificate bundle."""
        content = self.verification_material.content
        return content.hint if isinstance(content, PublicKeyIdentifier) else None

    @property
    def signed_content(self) -> SignedContent:
        """What was signed: the DSSE envelope or the message signature (``content``)."""
        return self.content

    @property
    def dsse_envelope(self) -> Envelope | None:
        """The DSSE envelope, if the bundle signs one."""
        return self.content if isinstance(self.content, Envelope) else None

    @property
    def message_signature(self) -> MessageSignature | None:
        """The message signature, if the bundle signs an artifact digest."""
        return self.content if isinstance(self.content, MessageSignature) else None

    @property
    def signature(self) -> bytes:
        """The one signature: what RFC 3161 timestamps and Rekor entries are computed over."""
        if isinstance(self.content, Envelope):
            return self.content.signatures[0].sig
        return self.content.signature

    @property
    def tlog_entries(self) -> tuple[TlogEntry, ...]:
        """``verificationMaterial.tlogEntries``."""
        return self.verification_material.tlog_entries
