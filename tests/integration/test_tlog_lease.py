"""The log's sequencer across nodes: one lease holder integrates, the others hand it entries.

Two (or three) sequencers over one database stand for the nodes of a cluster: the store's lease
is exclusive and fenced, every submission through any node ends in the log under a checkpoint,
and when the holder stops without a word (its loop cancelled, its lease left to expire) another
node takes over within the lease's time and keeps integrating.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assay.keys import Signer, generate_ec
from assay.storage.database import migrate, open_engine, sqlite_url
from assay.storage.tlog_store import (
    LeaseLost,
    QueuedEntry,
    StoredCheckpoint,
    StoredEntry,
    TlogStore,
)
from assay.tlog.sequencer import DuplicateEntry, Integrated, LogIdentity, Sequencer
from assay.transparency.merkle import leaf_hash, verify_inclusion
from assay.transparency.rekor import ProposedEntry
from tests.rekord import RekordSigner
from tests.services import Postgres


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TlogStore]:
    if request.param == "sqlite":
        url = sqlite_url(tmp_path / "log.db")
    else:
        postgres: Postgres = request.getfixturevalue("postgres")
        url = postgres.create_database("lease")
    engine = open_engine(url)
    migrate(engine)
    yield TlogStore(engine)
    engine.dispose()


def test_the_lease_has_one_holder_until_it_expires(store: TlogStore) -> None:
    now = int(time.time() * 1000)
    assert store.take_lease("a", now, 3000)
    assert not store.take_lease("b", now + 1000, 3000)
    assert store.take_lease("a", now + 1000, 3000)  # renewed by its holder
    assert not store.take_lease("b", now + 3999, 3000)
    assert store.take_lease("b", now + 4000, 3000)  # expired: taken over
    assert store.lease_holder() == ("b", now + 7000)
    store.release_lease("a")  # not a's to release: nothing changes
    assert store.lease_holder() == ("b", now + 7000)
    store.release_lease("b")
    assert store.take_lease("a", now + 4001, 3000)


def test_an_append_without_the_lease_writes_nothing(store: TlogStore) -> None:
    now = int(time.time() * 1000)
    assert store.take_lease("b", now, 3000)
    store.enqueue([QueuedEntry(0, "ab" * 32, "hashedrekord", "0.0.1", b"{}")])
    (queued,) = store.queued(10)
    entry = StoredEntry(0, "ab" * 32, "hashedrekord", "0.0.1", b"{}", 1, b"sig")
    checkpoint = StoredCheckpoint(1, leaf_hash(b"{}"), "note", 1)
    with pytest.raises(LeaseLost):
        store.append(
            0, [entry], {(0, 0): leaf_hash(b"{}")}, checkpoint, holder="a", dequeued=[queued.seq]
        )
    assert store.latest_checkpoint() is None
    assert store.queued(10) == [queued]
    store.append(
        0, [entry], {(0, 0): leaf_hash(b"{}")}, checkpoint, holder="b", dequeued=[queued.seq]
    )
    assert store.latest_checkpoint() == checkpoint
    assert store.queued(10) == []


def _identity() -> LogIdentity:
    return LogIdentity(name="log.test", tree_id=7, signer=Signer(generate_ec()))


def _entries(count: int, tag: str) -> list[ProposedEntry]:
    signer = RekordSigner()
    return [
        ProposedEntry.from_json(json.dumps(signer.hashedrekord(f"{tag} {n}".encode())))
        for n in range(count)
    ]


def _check(result: Integrated, store: TlogStore) -> None:
    verify_inclusion(  # raises if the proof is wrong
        leaf_hash(result.entry.body),
        result.entry.log_index,
        result.checkpoint.tree_size,
        list(result.proof),
        result.checkpoint.root_hash,
    )
    assert store.checkpoint_at(result.checkpoint.tree_size) == result.checkpoint


def test_submissions_through_every_node_are_integrated_once(tmp_path: Path) -> None:
    """Three nodes (SQLite here; the cluster test runs them on PostgreSQL): one integrates."""
    engine = open_engine(sqlite_url(tmp_path / "log.db"))
    migrate(engine)
    store = TlogStore(engine)
    identity = _identity()
    nodes = [Sequencer(store, identity, lease_ttl=1.0) for _ in range(3)]
    nodes[0].ensure_initial_checkpoint()
    batches = [_entries(40, f"node {n}") for n in range(3)]

    async def main() -> list[Integrated | BaseException]:
        results = await asyncio.gather(
            *(nodes[n].submit(entry) for n in range(3) for entry in batches[n]),
            return_exceptions=True,
        )
        # The same entry again, through another node: found in the log, a duplicate.
        with pytest.raises(DuplicateEntry):
            await nodes[2].submit(batches[0][0])
        for node in nodes:
            await node.stop()
        return results

    results = asyncio.run(main())
    integrated = [r for r in results if isinstance(r, Integrated)]
    assert len(integrated) == 120, [r for r in results if not isinstance(r, Integrated)]
    assert sorted(r.entry.log_index for r in integrated) == list(range(120))
    for result in integrated:
        _check(result, store)
    assert store.queued(1000) == []
    engine.dispose()


def test_a_dead_holder_is_replaced_within_the_lease(postgres: Postgres) -> None:
    engine = open_engine(postgres.create_database("lease"))
    migrate(engine)
    store = TlogStore(engine)
    identity = _identity()
    first, second = (Sequencer(store, identity, lease_ttl=1.0) for _ in range(2))
    first.ensure_initial_checkpoint()
    entries = _entries(20, "takeover")

    async def main() -> float:
        await asyncio.gather(*(first.submit(e) for e in entries[:5]))
        assert first.holds_lease
        # The holder dies: its loop stops, its lease is not released.
        assert first._task is not None
        first._task.cancel()
        started = time.monotonic()
        results = await asyncio.gather(*(second.submit(e) for e in entries[5:]))
        took = time.monotonic() - started
        for result in results:
            _check(result, store)
        assert second.holds_lease
        await second.stop()
        return took

    took = asyncio.run(main())
    assert took < 5.0  # the lease's 1 s and a third of it, with room for a busy machine
    head = store.latest_checkpoint()
    assert head is not None
    assert head.tree_size == 20
    engine.dispose()
