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

from assay.errors import BundleError, FormatError
from assay.provenance.dsse import Envelope
from assay.provenance.encoding import (
    JSONValue,
    dump_json,
    invalid,
    load_json_object,
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

# RFC 6962 merkle nodes and Rekor log ids are SHA-256 outputs.
_SHA256_SIZE: Final = 32


def _fail(field_path: str, reason: str) -> FormatError:
    return invalid(BundleError, field_path, reason)


def _check_size(field_path: str, value: bytes, size: int) -> None:
    if len(value) != size:
        raise _fail(field_path, f"must be {size} bytes, got {len(value)}")


def _check_not_negative(field_path: str, value: int) -> None:
    if value < 0:
        raise _fail(field_path, f"must not be negative, got {value}")


# --- verification material: keys and certificates (sigstore_common.proto) ---------------------


@dataclass(frozen=True, slots=True)
class X509Certificate:
    """``dev.sigstore.common.v1.X509Certificate``: one DER certificate."""

    raw_bytes: bytes
    wire: WireForm = field(default=FRESH, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.raw_bytes:
            raise _fail("rawBytes", "must not be empty")

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
            raise _fail("certificates", "must hold at least the leaf certificate")

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


# --- transparency log entries (sigstore_rekor.proto) ------------------------------------------


@dataclass(frozen=True, slots=True)
class LogId:
    """``LogId``: the 32-byte identity of a transparency log (the hash of its key)."""

    key_id: bytes
    wire: WireForm = field(default=FRESH, compare=False, repr=False)

    def __post_init__(self) -> None:
        _check_size("keyId", self.key_id, _SHA256_SIZE)

    @classmethod
    def read(cls, reader: ObjectReader) -> LogId:
        """Parse from a reader positioned on this message."""
        key_id = reader.binary("keyId")
        return reader.build(lambda wire: cls(key_id=key_id, wire=wire))

    def to_dict(self) -> dict[str, JSONValue]:
        """The proto3 JSON object."""
        writer = ObjectWriter(self.wire)
        writer.binary("keyId", self.key_id)
        return writer.result()


@dataclass(frozen=True, slots=True)
class KindVersion:
    """``KindVersion``: the Rekor entry type, e.g. ``dsse``/``0.0.1`` or ``intoto``/``0.0.2``."""

    kind: str
    version: str
    wire: WireForm = field(default=FRESH, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Both are REQUIRED in the proto; an empty one names no entry type a client can rebuild.
        if not self.kind:
            raise _fail("kind", "must not be empty")
        if not self.version:
            raise _fail("version", "must not be empty")

    @classmethod
    def read(cls, reader: ObjectReader) -> KindVersion:
        """Parse from a reader positioned on this message."""
        kind = reader.string("kind")
        version = reader.string("version")
        return reader.build(lambda wire: cls(kind=kind, version=version, wire=wire))

    def to_dict(self) -> dict[str, JSONValue]:
        """The proto3 JSON object."""
        writer = ObjectWriter(self.wire)
        writer.string("kind", self.kind)
        writer.string("version", self.version)
        return writer.result()


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """``Checkpoint``: the log's signed tree head as signed-note text (C2SP tlog-checkpoint)."""

    envelope: str
    wire: WireForm = field(default=FRESH, compare=False, repr=False)

    @classmethod
    def read(cls, reader: ObjectReader) -> Checkpoint:
        """Parse from a reader positioned on this message."""
        envelope = reader.string("envelope")
        return reader.build(lambda wire: cls(envelope=envelope, wire=wire))

    def to_dict(self) -> dict[str, JSONValue]:
        """The proto3 JSON object."""
        writer = ObjectWriter(self.wire)
        writer.string("envelope", self.envelope)
        return writer.result()


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """``InclusionProof``: an RFC 6962 audit path from the entry's leaf to ``root_hash``."""

    log_index: int
    root_hash: bytes
    tree_size: int
    hashes: tuple[bytes, ...]
    checkpoint: Checkpoint | None = None
    wire: WireForm = field(default=FRESH, compare=False, repr=False)

    def __post_init__(self) -> None:
        _check_not_negative("logIndex", self.log_index)
        # A leaf index must lie inside the tree (RFC 9162 §2.1.3.2 refuses index >= size).
        if self.tree_size <= self.log_index:
            raise _fail("treeSize", f"must exceed logIndex {self.log_index}, got {self.tree_size}")
        _check_size("rootHash", self.root_hash, _SHA256_SIZE)
        for index, node in enumerate(self.hashes):
            _check_size(f"hashes[{index}]", node, _SHA256_SIZE)

    @classmethod
    def read(cls, reader: ObjectReader) -> InclusionProof:
        """Parse from a reader positioned on this message."""
        log_index = reader.int64("logIndex")
        root_hash = reader.binary("rootHash")
        tree_size = reader.int64("treeSize")
        hashes = reader.repeated_binary("hashes")
        checkpoint = reader.message("checkpoint", Checkpoint.read)
        return reader.build(
            lambda wire: cls(
                log_index=log_index,
                root_hash=root_hash,
                tree_size=tree_size,
                hashes=hashes,
                checkpoint=checkpoint,
                wire=wire,
            )
        )

    def to_dict(self) -> dict[str, JSONValue]:
        """The proto3 JSON object."""
        writer = ObjectWriter(self.wire)
        writer.int64("logIndex", self.log_index)
        writer.binary("rootHash", self.root_hash)
        writer.int64("treeSize", self.tree_size)
        writer.repeated_binary("hashes", self.hashes)
        writer.message("checkpoint", self.checkpoint)
        return writer.result()


@dataclass(frozen=True, slots=True)
class InclusionPromise:
    """``InclusionPromise``: the log's signed entry timestamp (SET) over the entry."""

    signed_entry_timestamp: bytes
    wire: WireForm = field(default=FRESH, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.signed_entry_timestamp:
            raise _fail("signedEntryTimestamp", "must not be empty")

    @classmethod
    def read(cls, reader: ObjectReader) -> InclusionPromise:
        """Parse from a reader positioned on this message."""
        signed_entry_timestamp = reader.binary("signedEntryTimestamp")
        return reader.build(
            lambda wire: cls(signed_entry_timestamp=signed_entry_timestamp, wire=wire)
        )

    def to_dict(self) -> dict[str, JSONValue]:
        """The proto3 JSON object."""
        writer = ObjectWriter(self.wire)
        writer.binary("signedEntryTimestamp", self.signed_entry_timestamp)
        return writer.result()


@dataclass(frozen=True, slots=True)
class TlogEntry:
    """``TransparencyLogEntry``: where and when the signature was logged, and the proof of it."""

    log_index: int
    log_id: LogId
    kind_version: KindVersion
    integrated_time: int = 0
    inclusion_promise: InclusionPromise | None = None
    inclusion_proof: InclusionProof | None = None
    canonicalized_body: bytes = b""
    wire: WireForm = field(default=FRESH, compare=False, repr=False)

    def __post_init__(self) -> None:
        _check_not_negative("logIndex", self.log_index)
        _check_not_negative("integratedTime", self.integrated_time)

    @property
    def body(self) -> bytes:
        """The canonicalized entry body (Rekor's ``body``), the leaf the log hashed."""
        return self.canonicalized_body

    @classmethod
    def read(cls, reader: ObjectReader) -> TlogEntry:
        """Parse from a reader positioned on this message."""
        log_index = reader.int64("logIndex")
        log_id = reader.required_message("logId", LogId.read)
        kind_version = reader.required_message("kindVersion", KindVersion.read)
        integrated_time = reader.int64("integratedTime")
        inclusion_promise = reader.message("inclusionPromise", InclusionPromise.read)
        inclusion_proof = reader.message("inclusionProof", InclusionProof.read)
        canonicalized_body = reader.binary("canonicalizedBody")
        return reader.build(
            lambda wire: cls(
                log_index=log_index,
                log_id=log_id,
                kind_version=kind_version,
                integrated_time=integrated_time,
                inclusion_promise=inclusion_promise,
                inclusion_proof=inclusion_proof,
                canonicalized_body=canonicalized_body,
                wire=wire,
            )
        )

    def to_dict(self) -> dict[str, JSONValue]:
        """The proto3 JSON object."""
        writer = ObjectWriter(self.wire)
        writer.int64("logIndex", self.log_index)
        writer.message("logId", self.log_id)
        writer.message("kindVersion", self.kind_version)
        writer.int64("integratedTime", self.integrated_time)
        writer.message("inclusionPromise", self.inclusion_promise)
        writer.message("inclusionProof", self.inclusion_proof)
        writer.binary("canonicalizedBody", self.canonicalized_body)
        return writer.result()


# --- signed timestamps (sigstore_bundle.proto, sigstore_common.proto) --------------------------


@dataclass(frozen=True, slots=True)
class RFC3161SignedTimestamp:
    """``RFC3161SignedTimestamp``: a DER ``TimeStampResponse`` (RFC 3161 §2.4.2)."""

    signed_timestamp: bytes
    wire: WireForm = field(default=FRESH, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.signed_timestamp:
            raise _fail("signedTimestamp", "must not be empty")

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
            raise _fail("messageDigest.digest", "must not be empty")
        if not self.signature:
            raise _fail("signature", "must not be empty")

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
            raise _fail(
                "mediaType", f"is not a known Sigstore bundle media type: {self.media_type!r}"
            )
        material = self.verification_material
        if version < (0, 3) and isinstance(material.content, X509Certificate):
            raise _fail(
                "verificationMaterial.certificate",
                f"is not allowed in a v0.{version[1]} bundle (added in v0.3); "
                "use x509CertificateChain",
            )
        if version >= (0, 3) and isinstance(material.content, X509CertificateChain):
            raise _fail(
                "verificationMaterial.x509CertificateChain",
                "is not allowed in a v0.3 bundle; use certificate",
            )
        for index, entry in enumerate(material.tlog_entries):
            path = f"verificationMaterial.tlogEntries[{index}]"
            if version == (0, 1):
                if entry.inclusion_promise is None:
                    raise _fail(f"{path}.inclusionPromise", "is required in a v0.1 bundle")
                continue
            if entry.inclusion_proof is None:
                raise _fail(f"{path}.inclusionProof", "is required from bundle v0.2 on")
            checkpoint = entry.inclusion_proof.checkpoint
            if checkpoint is None or not checkpoint.envelope:
                raise _fail(f"{path}.inclusionProof.checkpoint", "is required from bundle v0.2 on")
        if isinstance(self.content, Envelope):
            envelope = self.content
            if not envelope.payload:
                raise _fail("dsseEnvelope.payload", "must not be empty")
            if len(envelope.signatures) != 1:
                raise _fail(
                    "dsseEnvelope.signatures",
                    f"must hold exactly one signature in a bundle, got {len(envelope.signatures)}",
                )
            if not envelope.signatures[0].sig:
                raise _fail("dsseEnvelope.signatures[0].sig", "must not be empty")

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
