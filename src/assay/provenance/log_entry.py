"""Transparency log entries as a Sigstore bundle carries them (``sigstore_rekor.proto``).

A bundle's ``verificationMaterial.tlogEntries`` are :class:`TlogEntry` messages: the log's
identity, the entry's kind and version, its index and time, the signed entry timestamp
(``inclusionPromise``) and the inclusion proof with its checkpoint. Like every model of
:mod:`assay.provenance.bundle`, each is a frozen dataclass checked when built, parsed only through
``read`` and written back in the spelling it was parsed in. The field checks shared by all the
bundle's messages live here too, because the log entries are the ones with the most of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from assay.errors import BundleError, FormatError
from assay.provenance.encoding import JSONValue, invalid
from assay.provenance.wire import FRESH, ObjectReader, ObjectWriter, WireForm

__all__ = [
    "SHA256_SIZE",
    "Checkpoint",
    "InclusionPromise",
    "InclusionProof",
    "KindVersion",
    "LogId",
    "TlogEntry",
    "check_not_negative",
    "check_size",
    "field_error",
]

# RFC 6962 merkle nodes and Rekor log ids are SHA-256 outputs.
SHA256_SIZE: Final = 32


def field_error(field_path: str, reason: str) -> FormatError:
    return invalid(BundleError, field_path, reason)


def check_size(field_path: str, value: bytes, size: int) -> None:
    if len(value) != size:
        raise field_error(field_path, f"must be {size} bytes, got {len(value)}")


def check_not_negative(field_path: str, value: int) -> None:
    if value < 0:
        raise field_error(field_path, f"must not be negative, got {value}")


@dataclass(frozen=True, slots=True)
class LogId:
    """``LogId``: the 32-byte identity of a transparency log (the hash of its key)."""

    key_id: bytes
    wire: WireForm = field(default=FRESH, compare=False, repr=False)

    def __post_init__(self) -> None:
        check_size("keyId", self.key_id, SHA256_SIZE)

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
            raise field_error("kind", "must not be empty")
        if not self.version:
            raise field_error("version", "must not be empty")

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
        check_not_negative("logIndex", self.log_index)
        # A leaf index must lie inside the tree (RFC 9162 §2.1.3.2 refuses index >= size).
        if self.tree_size <= self.log_index:
            raise field_error(
                "treeSize", f"must exceed logIndex {self.log_index}, got {self.tree_size}"
            )
        check_size("rootHash", self.root_hash, SHA256_SIZE)
        for index, node in enumerate(self.hashes):
            check_size(f"hashes[{index}]", node, SHA256_SIZE)

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
            raise field_error("signedEntryTimestamp", "must not be empty")

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
        check_not_negative("logIndex", self.log_index)
        check_not_negative("integratedTime", self.integrated_time)

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
