"""The sequencer: the log's single writer, batching concurrent submissions into one tree update.

Submissions wait in a queue; the sequencer takes everything waiting (up to ``max_batch``) and
commits it as one transaction — entries, new subtree hashes, signed checkpoint — through
:meth:`~assay.storage.tlog_store.TlogStore.append`, so a batch costs one fsync however large it
is (the design of sunlight and tessera's sequencers). A submission is answered only after that
commit returned: an acknowledged entry is durable. The tree work runs in a worker thread so
the event loop keeps accepting requests while a batch commits; the queue is the pushback —
when it is full, :meth:`Sequencer.submit` refuses at once instead of queueing without bound.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from assay.errors import AssayError
from assay.keys import Signer, key_id
from assay.storage.tlog_store import SequencerConflict, StoredCheckpoint, StoredEntry, TlogStore
from assay.transparency.checkpoint import Checkpoint, rekor_origin, sign_checkpoint
from assay.transparency.merkle import EMPTY_ROOT, HashReader, NodeId, append_leaves, inclusion_proof
from assay.transparency.rekor import ProposedEntry, set_payload


class LogOverloaded(AssayError):
    """Too many submissions are waiting; the client should retry later (HTTP 503)."""


class DuplicateEntry(AssayError):
    """The entry is already in the log (Rekor answers 409 with the existing entry)."""

    def __init__(self, existing: StoredEntry) -> None:
        super().__init__("an equivalent entry already exists in the log", uuid=existing.uuid)
        self.existing = existing


@dataclass(frozen=True, slots=True)
class LogIdentity:
    """Who the log is: its signing key and the names its checkpoints carry.

    ``name`` is the key name on checkpoint signatures; sigstore-js accepts a signature only if
    that name is a substring of the log's ``baseUrl`` in the trusted root (sigstore.md §3.1), so
    it is the host (and port) of the public URL. The origin line is Rekor's ``<name> - <treeID>``.
    """

    name: str
    tree_id: int
    signer: Signer

    @property
    def origin(self) -> str:
        return rekor_origin(self.name, self.tree_id)

    @property
    def log_id(self) -> bytes:
        return key_id(self.signer.public_key)


@dataclass(frozen=True, slots=True)
class Integrated:
    """An entry as committed, with its inclusion proof in the checkpoint that first covers it."""

    entry: StoredEntry
    checkpoint: StoredCheckpoint
    proof: tuple[bytes, ...]


class NodeCache:
    """Stored subtree hashes already read or written, kept in memory.

    A complete subtree's hash never changes (merkle.py: each is written once), so a cached value
    can never be stale, even with other processes appending to the same database. Proofs for
    the entries of one batch share most of their nodes, and the newest nodes are the ones read
    most; a plain dict, emptied when it grows past ``limit``, is enough.
    """

    def __init__(self, limit: int = 1 << 18) -> None:
        self._nodes: dict[tuple[int, int], bytes] = {}
        self._limit = limit

    def get(self, key: tuple[int, int]) -> bytes | None:
        return self._nodes.get(key)

    def update(self, nodes: dict[tuple[int, int], bytes]) -> None:
        if len(self._nodes) + len(nodes) > self._limit:
            self._nodes.clear()
        self._nodes.update(nodes)


class StoreReader:
    """A :class:`~assay.transparency.merkle.HashReader` over the store, through a
    :class:`NodeCache`."""

    def __init__(self, store: TlogStore, cache: NodeCache | None = None) -> None:
        self._store = store
        self._cache = cache if cache is not None else NodeCache()

    def read_hashes(self, nodes: Sequence[NodeId]) -> list[bytes]:
        keys = [(node.level, node.index) for node in nodes]
        missing = [key for key in keys if self._cache.get(key) is None]
        if missing:
            found = self._store.read_nodes(missing)
            self._cache.update(found)
        result = []
        for key in keys:
            value = self._cache.get(key)
            if value is None:
                raise AssayError("the log's stored hashes are incomplete", node=key)
            result.append(value)
        return result


@dataclass
class _Pending:
    entry: ProposedEntry
    future: asyncio.Future[Integrated] = field(repr=False)


class Sequencer:
    """Batches submissions; one per log per process (PostgreSQL guards across processes)."""

    def __init__(
        self,
        store: TlogStore,
        identity: LogIdentity,
        clock: Callable[[], float] = time.time,
        max_batch: int = 512,
        max_pending: int = 8192,
    ) -> None:
        self._store = store
        self._identity = identity
        self._clock = clock
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(maxsize=max_pending)
        self.cache = NodeCache()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the batching loop on the running event loop (idempotent).

        :meth:`submit` calls this itself, so a server needs no lifespan hook to start the log;
        the task lives on the loop that serves requests.
        """
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="tlog-sequencer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def submit(self, entry: ProposedEntry) -> Integrated:
        """Append ``entry``; return once it is durable. Raises DuplicateEntry, LogOverloaded."""
        self.start()
        future: asyncio.Future[Integrated] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait(_Pending(entry, future))
        except asyncio.QueueFull as exc:
            raise LogOverloaded("the log is busy; retry shortly") from exc
        return await future

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                outcomes = await asyncio.to_thread(self._commit, [p.entry for p in batch])
            except Exception as exc:
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(exc)
                continue
            for pending, outcome in zip(batch, outcomes, strict=True):
                if pending.future.done():  # the client went away
                    continue
                if isinstance(outcome, Integrated):
                    pending.future.set_result(outcome)
                else:
                    pending.future.set_exception(outcome)

    # --- the synchronous part, in a worker thread -------------------------------------------

    def ensure_initial_checkpoint(self) -> None:
        """Give an empty log its signed checkpoint of size 0, so it can be read before written."""
        if self._store.latest_checkpoint() is None:
            with contextlib.suppress(SequencerConflict):
                self._store.append(0, [], {}, self._checkpoint(0, EMPTY_ROOT))

    def _checkpoint(self, size: int, root: bytes) -> StoredCheckpoint:
        now = self._clock()
        # Rekor v1 checkpoints carry a `Timestamp: <unix ns>` extension line (checkpoint.go).
        body = Checkpoint(
            origin=self._identity.origin,
            size=size,
            root_hash=root,
            extensions=(f"Timestamp: {int(now * 1e9)}",),
        )
        note = sign_checkpoint(body, self._identity.name, self._identity.signer)
        return StoredCheckpoint(size, root, note, int(now))

    def _commit(self, entries: list[ProposedEntry]) -> list[Integrated | AssayError]:
        for _attempt in range(5):
            try:
                return self._try_commit(entries)
            except SequencerConflict:
                continue  # another process extended the log; rebuild on its tree
        raise AssayError("the log could not commit the batch: concurrent writers kept winning")

    def _try_commit(self, entries: list[ProposedEntry]) -> list[Integrated | AssayError]:
        store = self._store
        head = store.latest_checkpoint()
        old_size = head.tree_size if head else 0
        existing = store.entries_by_uuid(e.uuid for e in entries)
        outcomes: list[Integrated | AssayError | None] = []
        accepted: list[tuple[int, ProposedEntry]] = []
        seen: dict[str, int] = {}
        for position, entry in enumerate(entries):
            uuid = entry.uuid
            if uuid in existing:
                outcomes.append(DuplicateEntry(existing[uuid]))
            elif uuid in seen:
                outcomes.append(None)  # same entry twice in one batch: resolved below
            else:
                seen[uuid] = position
                accepted.append((position, entry))
                outcomes.append(None)
        integrated_time = int(self._clock())
        log_id_hex = self._identity.log_id.hex()
        stored: list[StoredEntry] = []
        for offset, (_, entry) in enumerate(accepted):
            index = old_size + offset
            body_b64 = base64.b64encode(entry.canonical_body).decode("ascii")
            promise = self._identity.signer.sign(
                set_payload(body_b64, integrated_time, log_id_hex, index)
            )
            stored.append(
                StoredEntry(
                    log_index=index,
                    uuid=entry.uuid,
                    kind=entry.kind,
                    api_version=entry.api_version,
                    body=entry.canonical_body,
                    integrated_time=integrated_time,
                    signed_entry_timestamp=promise,
                )
            )
        reader: HashReader = StoreReader(store, self.cache)
        appended = append_leaves(old_size, [e.leaf_hash for _, e in accepted], reader)
        checkpoint = self._checkpoint(appended.size, appended.root) if accepted else head
        if accepted and checkpoint is not None:
            store.append(old_size, stored, appended.nodes, checkpoint)
            self.cache.update(appended.nodes)  # committed: now they may be read
        assert checkpoint is not None  # noqa: S101 - ensure_initial_checkpoint ran at start
        by_uuid: dict[str, Integrated] = {}
        for (position, _), entry_row in zip(accepted, stored, strict=True):
            proof = inclusion_proof(entry_row.log_index, checkpoint.tree_size, reader)
            result = Integrated(entry_row, checkpoint, tuple(proof))
            outcomes[position] = result
            by_uuid[entry_row.uuid] = result
        final: list[Integrated | AssayError] = []
        for entry, outcome in zip(entries, outcomes, strict=True):
            if outcome is None:
                final.append(DuplicateEntry(by_uuid[entry.uuid].entry))
            else:
                final.append(outcome)
        return final
