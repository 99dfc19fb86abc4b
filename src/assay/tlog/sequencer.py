"""The sequencer: the log's single writer, batching concurrent submissions into one tree update.

Submissions wait in a queue; the sequencer takes everything waiting (up to ``max_batch``) and
commits it as one transaction — entries, new subtree hashes, signed checkpoint — through
:meth:`~assay.storage.tlog_store.TlogStore.append`, so a batch costs one fsync however large it
is (the design of sunlight and tessera's sequencers). A submission is answered only after that
commit returned: an acknowledged entry is durable. The tree work runs in a worker thread so
the event loop keeps accepting requests while a batch commits; the queue is the pushback —
when it is full, :meth:`Sequencer.submit` refuses at once instead of queueing without bound.

Across processes and nodes (docs/deploy.md, "The log across nodes") exactly one sequencer
integrates at a time: the holder of a lease row in the database, renewed while it runs and
taken over within a few seconds when its holder dies. Every other node verifies the entries
posted to it, queues them in the database for the holder, and answers each client once its
entry is in the log under a signed checkpoint. Nothing is acknowledged before it is durable.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from assay.errors import AssayError
from assay.keys import Signer, key_id
from assay.storage.tlog_store import (
    LeaseLost,
    QueuedEntry,
    SequencerConflict,
    StoredCheckpoint,
    StoredEntry,
    TlogStore,
)
from assay.transparency.checkpoint import Checkpoint, rekor_origin, sign_checkpoint
from assay.transparency.merkle import (
    EMPTY_ROOT,
    HashReader,
    NodeId,
    append_leaves,
    inclusion_proof,
    inclusion_proof_nodes,
    leaf_hash,
)
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
    # SHA-256 of the key's SubjectPublicKeyInfo: in every entry the log answers, computed once.
    log_id: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "log_id", key_id(self.signer.public_key))

    @property
    def origin(self) -> str:
        return rekor_origin(self.name, self.tree_id)


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

    def prefetch(self, nodes: Sequence[NodeId]) -> None:
        """Read the uncached ones of ``nodes`` in one query (the nodes of many proofs)."""
        missing = [(n.level, n.index) for n in nodes if self._cache.get((n.level, n.index)) is None]
        if missing:
            self._cache.update(self._store.read_nodes(missing))

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


@dataclass(frozen=True, slots=True)
class _Candidate:
    """What the sequencer integrates: a local submission or one queued by another node."""

    uuid: str
    kind: str
    api_version: str
    body: bytes

    @classmethod
    def of(cls, entry: ProposedEntry) -> _Candidate:
        return cls(entry.uuid, entry.kind, entry.api_version, entry.canonical_body)


@dataclass
class _Forwarded:
    """Submissions handed to the lease holder, waiting to appear under a checkpoint."""

    futures: list[asyncio.Future[Integrated]]
    deadline: float


# The lease (docs/deploy.md, "The log across nodes"): held for LEASE_TTL, renewed every third of
# it; a node that does not hold it tries to take it as often, so a dead holder's lease is taken
# over within LEASE_TTL plus a third of it.
LEASE_TTL = 3.0
# How often the holder looks for queued entries, and a waiting node for its entries.
POLL_INTERVAL = 0.02
# How long a forwarded submission waits for the holder before the client is told to retry (503;
# the entry may still be integrated later, as a Rekor client that times out may find it).
FORWARD_TIMEOUT = 30.0


class Sequencer:
    """Batches submissions; integrates them while this node holds the lease, else hands them to
    the node that does.

    One sequencer per process; across processes and nodes the lease row (storage/tlog_store.py)
    picks the one that integrates. The holder integrates its own submissions and those queued
    by other nodes in one batch per commit; a node without the lease queues its submissions
    (verified, in one transaction per batch) and answers each once it finds the entry in the
    log under a signed checkpoint. Either way a client hears of its entry only after the
    transaction that committed the entry and its checkpoint returned.
    """

    def __init__(
        self,
        store: TlogStore,
        identity: LogIdentity,
        clock: Callable[[], float] = time.time,
        max_batch: int = 512,
        max_pending: int = 8192,
        *,
        holder: str | None = None,
        lease_ttl: float = LEASE_TTL,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        self._store = store
        self._identity = identity
        self._clock = clock
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(maxsize=max_pending)
        self.cache = NodeCache()
        self._task: asyncio.Task[None] | None = None
        # A new name per process (host and pid, for an operator reading the lease row, and a
        # random part): a restarted node is a new holder and waits for the lease to expire.
        self.holder = holder or f"{socket.gethostname()[:32]}:{os.getpid()}:{secrets.token_hex(4)}"
        self._lease_ttl = lease_ttl
        self._poll_interval = poll_interval
        self._lease_until = 0.0  # monotonic: while before it, this node believes it holds
        self._lease_next_try = 0.0  # monotonic: when to renew, or to try to take it again
        self._carry: list[_Pending] = []
        self._forwarded: dict[str, _Forwarded] = {}
        self._seen_size = -1

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
        if self._lease_until:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._store.release_lease, self.holder)
            self._lease_until = self._lease_next_try = 0.0

    async def submit(self, entry: ProposedEntry) -> Integrated:
        """Append ``entry``; return once it is durable. Raises DuplicateEntry, LogOverloaded."""
        self.start()
        future: asyncio.Future[Integrated] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait(_Pending(entry, future))
        except asyncio.QueueFull as exc:
            raise LogOverloaded("the log is busy; retry shortly") from exc
        return await future

    @property
    def holds_lease(self) -> bool:
        """Whether this node believed it held the lease at its last look (for status pages)."""
        return time.monotonic() < self._lease_until

    async def _run(self) -> None:
        while True:
            batch = self._drain()
            now = time.monotonic()
            if now < self._lease_next_try:  # nothing to renew or take yet: no database trip
                holding = now < self._lease_until
            else:
                holding = await asyncio.to_thread(self._hold_lease)
            worked = False
            if holding:
                worked = await self._integrate(batch)
            elif batch:
                await self._forward(batch)
                worked = True
            if self._forwarded:
                await asyncio.to_thread(self._settle_forwarded)
            if not worked:
                await self._wait_for_work()

    def _drain(self) -> list[_Pending]:
        batch, self._carry = self._carry, []
        while len(batch) < self._max_batch and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return [p for p in batch if not p.future.done()]

    async def _wait_for_work(self) -> None:
        with contextlib.suppress(TimeoutError):
            self._carry.append(await asyncio.wait_for(self._queue.get(), self._poll_interval))

    def _hold_lease(self) -> bool:
        """Renew the lease when due, or try to take it when due; whether this node holds it."""
        now = time.monotonic()
        if now < self._lease_next_try:
            return now < self._lease_until
        try:
            taken = self._store.take_lease(
                self.holder, int(self._clock() * 1000), int(self._lease_ttl * 1000)
            )
        except Exception:
            taken = False  # the database is unreachable: act as a non-holder until it is back
        self._lease_until = now + self._lease_ttl if taken else 0.0
        self._lease_next_try = now + self._lease_ttl / 3
        return taken

    async def _integrate(self, batch: list[_Pending]) -> bool:
        """Commit local submissions and queued ones; whether there was anything to commit."""
        try:
            outcomes, queued = await asyncio.to_thread(self._commit, [p.entry for p in batch])
        except LeaseLost:
            self._lease_until = self._lease_next_try = 0.0
            if batch:
                await self._forward(batch)  # the new holder integrates them
            return True
        except Exception as exc:
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(exc)
            return True
        for pending, outcome in zip(batch, outcomes, strict=True):
            if pending.future.done():  # the client went away
                continue
            if isinstance(outcome, Integrated):
                pending.future.set_result(outcome)
            else:
                pending.future.set_exception(outcome)
        return bool(batch) or queued > 0

    async def _forward(self, batch: list[_Pending]) -> None:
        """Hand ``batch`` to the lease holder through the queue table; answer duplicates now."""
        try:
            # One transaction: the entries already in the log come back (answered 409 now),
            # the others are queued.
            existing = await asyncio.to_thread(
                self._store.enqueue,
                [
                    QueuedEntry(0, p.entry.uuid, p.entry.kind, p.entry.api_version, body)
                    for p in batch
                    for body in (p.entry.canonical_body,)
                ],
            )
        except Exception as exc:
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(exc)
            return
        deadline = time.monotonic() + FORWARD_TIMEOUT
        self._seen_size = -1  # look again even if the log has not grown (a duplicate dropped)
        for pending in batch:
            if pending.entry.uuid in existing:
                pending.future.set_exception(DuplicateEntry(existing[pending.entry.uuid]))
                continue
            waiting = self._forwarded.setdefault(pending.entry.uuid, _Forwarded([], deadline))
            waiting.futures.append(pending.future)

    def _settle_forwarded(self) -> None:
        """Answer forwarded submissions whose entries are now under a signed checkpoint."""
        now = time.monotonic()
        for uuid, waiting in list(self._forwarded.items()):
            waiting.futures = [f for f in waiting.futures if not f.done()]
            if not waiting.futures:
                del self._forwarded[uuid]
            elif now > waiting.deadline:
                del self._forwarded[uuid]
                for future in waiting.futures:
                    _resolve(future, LogOverloaded("the log's writer did not answer; retry"))
        if not self._forwarded:
            return
        head, found = self._store.head_and_entries(list(self._forwarded), seen_size=self._seen_size)
        if head is None or head.tree_size == self._seen_size:
            return
        reader = StoreReader(self._store, self.cache)
        # The holder wrote the newest subtree hashes, so this node has not cached them: read
        # what every proof below needs in one query, not one query per entry.
        covered = {u: e for u, e in found.items() if e.log_index < head.tree_size}
        size = head.tree_size
        reader.prefetch(
            [node for e in covered.values() for node in inclusion_proof_nodes(e.log_index, size)]
        )
        for uuid, stored in covered.items():
            proof = tuple(inclusion_proof(stored.log_index, head.tree_size, reader))
            for future in self._forwarded.pop(uuid).futures:
                _resolve(future, Integrated(stored, head, proof))
        if not any(stored.log_index >= head.tree_size for stored in found.values()):
            self._seen_size = head.tree_size

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

    def _commit(self, local: list[ProposedEntry]) -> tuple[list[Integrated | AssayError], int]:
        """Integrate ``local`` and the queued entries of other nodes in one transaction; the
        outcome of each local entry, and how many queued entries were taken."""
        for _attempt in range(5):
            inputs = self._store.batch_inputs((e.uuid for e in local), self._max_batch)
            queued = inputs.queued
            entries = [_Candidate.of(e) for e in local] + [
                _Candidate(q.uuid, q.kind, q.api_version, q.body) for q in queued
            ]
            try:
                outcomes = self._try_commit(
                    entries, inputs.head, inputs.existing, [q.seq for q in queued]
                )
            except LeaseLost:
                raise
            except SequencerConflict:
                continue  # another process extended the log; rebuild on its tree
            return outcomes[: len(local)], len(queued)
        raise AssayError("the log could not commit the batch: concurrent writers kept winning")

    def _try_commit(
        self,
        entries: list[_Candidate],
        head: StoredCheckpoint | None,
        existing: Mapping[str, StoredEntry],
        dequeued: Sequence[int] = (),
    ) -> list[Integrated | AssayError]:
        """Build and commit one batch on ``head`` (``existing``: the entries of the batch
        already in the log). If the log grew since ``head`` was read, the append's
        compare-and-swap refuses it (SequencerConflict) and :meth:`_commit` reads again."""
        store = self._store
        old_size = head.tree_size if head else 0
        outcomes: list[Integrated | AssayError | None] = []
        accepted: list[tuple[int, _Candidate]] = []
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
            body_b64 = base64.b64encode(entry.body).decode("ascii")
            promise = self._identity.signer.sign(
                set_payload(body_b64, integrated_time, log_id_hex, index)
            )
            stored.append(
                StoredEntry(
                    log_index=index,
                    uuid=entry.uuid,
                    kind=entry.kind,
                    api_version=entry.api_version,
                    body=entry.body,
                    integrated_time=integrated_time,
                    signed_entry_timestamp=promise,
                )
            )
        reader: HashReader = StoreReader(store, self.cache)
        appended = append_leaves(old_size, [leaf_hash(e.body) for _, e in accepted], reader)
        checkpoint = self._checkpoint(appended.size, appended.root) if accepted else head
        if accepted and checkpoint is not None:
            store.append(
                old_size,
                stored,
                appended.nodes,
                checkpoint,
                holder=self.holder,
                dequeued=dequeued,
            )
            self.cache.update(appended.nodes)  # committed: now they may be read
        elif dequeued:  # every queued entry was already in the log
            store.drop_queued(dequeued, holder=self.holder)
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


def _resolve(future: asyncio.Future[Integrated], outcome: Integrated | AssayError) -> None:
    """Settle ``future`` from the sequencer's worker thread, on the future's own loop."""

    def settle() -> None:
        if future.done():
            return
        if isinstance(outcome, Integrated):
            future.set_result(outcome)
        else:
            future.set_exception(outcome)

    future.get_loop().call_soon_threadsafe(settle)
