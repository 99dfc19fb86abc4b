"""The log's read and write operations in Rekor v1's shapes (sigstore.md §3.1), and Rekor v2's
write (§3.3): one tree, one key, one sequence of checkpoints behind both APIs.

Entry IDs: Rekor names an entry by its UUID, hex ``SHA256(0x00 || body)``, and in responses by
the 80-hex "entry ID" ``<16-hex tree ID><uuid>``; both are accepted on lookup. Every entry comes
back with its signed entry timestamp and an inclusion proof against the newest checkpoint, whose
size and root the proof uses (sigstore-js recomputes the root from the checkpoint's size).
"""

from __future__ import annotations

import asyncio
import base64
import re
from typing import Any

from assay.errors import AssayError, FormatError
from assay.keys import spki_pem
from assay.storage.tlog_store import StoredCheckpoint, StoredEntry, TlogStore
from assay.tlog.sequencer import DuplicateEntry, Integrated, LogIdentity, Sequencer, StoreReader
from assay.tlog.tiles import TILE_HEIGHT, TILE_WIDTH, EntryBundle, Tile, encode_entry_bundle
from assay.transparency.merkle import consistency_proof, inclusion_proof, tree_root
from assay.transparency.rekor import ProposedEntry
from assay.transparency.rekor_v2_entry import proposed_entry_v2

_UUID = re.compile(r"(?:[0-9a-f]{16})?([0-9a-f]{64})")


class NotFound(AssayError):
    """No such entry, checkpoint or tile (HTTP 404)."""


class LogService:
    """Everything the log's HTTP API does, without HTTP."""

    def __init__(self, store: TlogStore, identity: LogIdentity, sequencer: Sequencer) -> None:
        self.store = store
        self.identity = identity
        self.sequencer = sequencer
        sequencer.ensure_initial_checkpoint()

    # --- identifiers ------------------------------------------------------------------------

    def entry_id(self, uuid: str) -> str:
        return f"{self.identity.tree_id:016x}{uuid}"

    @property
    def public_key_pem(self) -> str:
        return spki_pem(self.identity.signer.public_key)

    # --- writes -----------------------------------------------------------------------------

    async def create(self, request_body: bytes) -> tuple[str, dict[str, Any]]:
        """Verify and append a proposed entry; return its ID and Rekor's LogEntry object."""
        proposed = ProposedEntry.from_json(request_body)
        integrated = await self.sequencer.submit(proposed)
        return self.entry_id(integrated.entry.uuid), self._render(integrated)

    async def create_v2(self, request_body: bytes) -> dict[str, Any]:
        """Verify and append a Rekor v2 ``CreateEntryRequest``; answer its
        ``TransparencyLogEntry`` once a signed checkpoint covers it (the sequencer answers
        after its commit). An entry already in the log is answered the same way, proven
        against the newest checkpoint: the request is idempotent, as in rekor-tiles, whose
        deduplication hands back the existing index."""
        proposed = proposed_entry_v2(request_body)
        try:
            integrated = await self.sequencer.submit(proposed)
        except DuplicateEntry as duplicate:
            integrated = await asyncio.to_thread(self._prove, duplicate.existing)
        return self._render_v2(integrated)

    # --- reads ------------------------------------------------------------------------------

    def head(self) -> StoredCheckpoint:
        head = self.store.latest_checkpoint()
        if head is None:
            raise NotFound("the log has no checkpoint yet")
        return head

    def entry(self, stored: StoredEntry) -> dict[str, Any]:
        """Rekor's LogEntry object for a committed entry, proven against the newest checkpoint."""
        return self._render(self._prove(stored))

    def _prove(self, stored: StoredEntry) -> Integrated:
        head = self.head()
        proof = inclusion_proof(
            stored.log_index, head.tree_size, StoreReader(self.store, self.sequencer.cache)
        )
        return Integrated(stored, head, tuple(proof))

    def by_uuid(self, text: str) -> StoredEntry:
        match = _UUID.fullmatch(text.lower())
        if not match:
            raise FormatError("entry UUID must be 64 or 80 hex characters")
        if len(text) == 80 and text[:16].lower() != f"{self.identity.tree_id:016x}":
            raise NotFound("no entry with that UUID in this log's tree")
        found = self.store.entries_by_uuid([match.group(1)]).get(match.group(1))
        if found is None:
            raise NotFound("no entry with that UUID")
        return found

    def by_index(self, log_index: int) -> StoredEntry:
        found = self.store.entry_by_index(log_index) if log_index >= 0 else None
        if found is None:
            raise NotFound(f"no entry at index {log_index}")
        return found

    def by_body(self, request_body: bytes) -> StoredEntry:
        """The committed entry a ProposedEntry would become (Rekor's search by entry)."""
        proposed = ProposedEntry.from_json(request_body)
        found = self.store.entries_by_uuid([proposed.uuid]).get(proposed.uuid)
        if found is None:
            raise NotFound("no such entry")
        return found

    def log_info(self) -> dict[str, Any]:
        head = self.head()
        return {
            "rootHash": head.root_hash.hex(),
            "treeSize": head.tree_size,
            "signedTreeHead": head.note,
            "treeID": str(self.identity.tree_id),
            "inactiveShards": [],
        }

    def consistency(self, first_size: int, last_size: int | None) -> dict[str, Any]:
        head = self.head()
        last = head.tree_size if last_size is None else last_size
        if not 0 <= first_size <= last or last > head.tree_size:
            raise FormatError(
                f"need 0 <= firstSize <= lastSize <= {head.tree_size}",
                first_size=first_size,
                last_size=last,
            )
        reader = StoreReader(self.store, self.sequencer.cache)
        hashes = consistency_proof(first_size, last, reader) if first_size else []
        root = head.root_hash if last == head.tree_size else tree_root(last, reader)
        return {"rootHash": root.hex(), "hashes": [h.hex() for h in hashes]}

    def tile(self, tile: Tile) -> bytes:
        """A hash tile (c2sp.org/tlog-tiles); only tiles that exist in the newest tree."""
        size = self.head().tree_size
        level_size = size >> (TILE_HEIGHT * tile.level)
        start = tile.index * TILE_WIDTH
        if start + tile.width > level_size:
            raise NotFound("no such tile in the current tree")
        if tile.width < TILE_WIDTH and start + TILE_WIDTH <= level_size:
            raise NotFound("the full tile exists; partial tiles are served only at the edge")
        hashes = self.store.read_level(TILE_HEIGHT * tile.level, start, start + tile.width)
        return b"".join(hashes)

    def entry_bundle(self, bundle: EntryBundle) -> bytes:
        size = self.head().tree_size
        start = bundle.index * TILE_WIDTH
        if start + bundle.width > size:
            raise NotFound("no such entry bundle in the current tree")
        if bundle.width < TILE_WIDTH and start + TILE_WIDTH <= size:
            raise NotFound("the full bundle exists; partial bundles are served only at the edge")
        entries = self.store.entries_range(start, start + bundle.width)
        return encode_entry_bundle([e.body for e in entries])

    # --- rendering --------------------------------------------------------------------------

    def _render_v2(self, integrated: Integrated) -> dict[str, Any]:
        """protobuf-specs ``TransparencyLogEntry`` in proto3 JSON (int64 as strings, bytes as
        base64), what rekor-tiles answers and clients put into the bundle unchanged: no
        inclusion promise and ``integratedTime`` 0 — a v2 entry's time comes from a TSA."""
        entry, head = integrated.entry, integrated.checkpoint

        def b64(data: bytes) -> str:
            return base64.b64encode(data).decode("ascii")

        return {
            "logIndex": str(entry.log_index),
            "logId": {"keyId": b64(self.identity.log_id)},
            "kindVersion": {"kind": entry.kind, "version": entry.api_version},
            "integratedTime": "0",
            "inclusionProof": {
                "logIndex": str(entry.log_index),
                "rootHash": b64(head.root_hash),
                "treeSize": str(head.tree_size),
                "hashes": [b64(h) for h in integrated.proof],
                "checkpoint": {"envelope": head.note},
            },
            "canonicalizedBody": b64(entry.body),
        }

    def _render(self, integrated: Integrated) -> dict[str, Any]:
        entry, head = integrated.entry, integrated.checkpoint
        return {
            "body": base64.b64encode(entry.body).decode("ascii"),
            "integratedTime": entry.integrated_time,
            "logID": self.identity.log_id.hex(),
            "logIndex": entry.log_index,
            "verification": {
                "signedEntryTimestamp": base64.b64encode(entry.signed_entry_timestamp).decode(),
                "inclusionProof": {
                    "logIndex": entry.log_index,
                    "treeSize": head.tree_size,
                    "rootHash": head.root_hash.hex(),
                    "hashes": [h.hex() for h in integrated.proof],
                    "checkpoint": head.note,
                },
            },
        }
