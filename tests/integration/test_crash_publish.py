"""`kill -9` of `assay up` at random points of concurrent publishes — before, during and after the
blob write, the transaction and the publish attestation's log append — then a restart.

After every restart: every acknowledged (201) version is served, every served version has its
tarball and the tarball matches its integrity (nothing half-published), and at the end
`assay check` finds no error — in particular no registry-signed log entry for a version that
does not exist (the registry logs its publish attestation only after the version commits). What
a crash may leave is reported as a warning: orphan blobs (a blob written, its transaction never
committed), which `assay gc` then collects, and a version whose publish attestation was not
logged or not stored yet, which the registry completes when the version's attestations are read.
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.assay_up import free_port, start, stop
from tests.publish_load import (
    admin_token,
    assay,
    assert_served_whole,
    check_report,
    plain,
    put,
    with_provenance,
)

ROUNDS = 3
PUBLISHERS = 6
PER_PUBLISHER = 4


@pytest.mark.slow  # ~30-60 s: several `assay up` starts
def test_kill_9_during_publishes_loses_nothing_acknowledged(tmp_path: Path) -> None:
    seed = random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)  # noqa: S311 - kill timing, not cryptography; seed in failures
    data, port, log = tmp_path / "data", free_port(), tmp_path / "up.log"
    instance = start(data, port, log)
    acknowledged: set[tuple[str, str]] = set()
    names: set[str] = set()
    statuses: Counter[int | str] = Counter()
    try:
        token = admin_token(data)
        for round_number in range(ROUNDS):
            # Bodies of this round: plain publishes and publishes with provenance (those also
            # append the registry's publish attestation to the log after their commit).
            version = f"1.{round_number}.0"
            prov_names = [f"crash-prov-{n}" for n in range(PUBLISHERS)]
            bodies: list[list[dict[str, Any]]] = [[] for _ in range(PUBLISHERS)]
            for n, body in enumerate(with_provenance(instance, prov_names, version)):
                bodies[n].append(body)
            for n in range(PUBLISHERS):
                for k in range(PER_PUBLISHER - 1):
                    bodies[n].append(plain(f"crash-{n}", f"{round_number}.{k}.0"))
            names |= {b["name"] for group in bodies for b in group}
            pending = [list(group) for group in bodies]

            def publisher(url: str, queue: list[dict[str, Any]]) -> None:
                headers = {"authorization": f"Bearer {token}"}
                with httpx.Client(base_url=url, headers=headers, timeout=10) as http:
                    while queue:
                        body = queue[0]
                        try:
                            status = put(http, body)
                        except httpx.TransportError:
                            statuses["cut"] += 1
                            return  # killed mid-request: not acknowledged, retried below
                        statuses[status] += 1
                        if status in (200, 201):
                            version_of = next(iter(body["versions"]))
                            acknowledged.add((body["name"], version_of))
                        queue.pop(0)

            threads = [threading.Thread(target=publisher, args=(instance.url, q)) for q in pending]
            for thread in threads:
                thread.start()
            time.sleep(rng.uniform(0.02, 0.8))
            instance.kill()  # SIGKILL, wherever the publishes are
            for thread in threads:
                thread.join(30)
            instance = start(data, port, log)
            assert_served_whole(instance.url, names)
            served = assert_served_whole(instance.url, names)
            lost = {(n, v) for n, v in acknowledged if v not in served.get(n, set())}
            assert not lost, f"seed {seed}, round {round_number}: acknowledged, lost: {lost}"
            # The client retries what was cut off: it either lands now or was already in.
            with httpx.Client(
                base_url=instance.url, headers={"authorization": f"Bearer {token}"}, timeout=30
            ) as http:
                for queue in pending:
                    for body in queue:
                        status = put(http, body)
                        assert status in (200, 201, 403), status
        served = assert_served_whole(instance.url, names)
    finally:
        stop(instance)

    report = check_report(data, port)
    assert report["ok"], report
    kinds = Counter(f["kind"] for f in report["findings"])
    assert set(kinds) <= {
        "orphan-blob",
        "publish-attestation-pending",
        "publish-attestation-not-stored",
    }, kinds
    assert report["counts"]["registry log entries"] >= 1
    print(f"seed {seed}; statuses {dict(statuses)}; check findings {dict(kinds)}")

    collected = assay("gc", "--data", str(data), "--grace", "0", "--json", port=port)
    assert collected.returncode == 0, collected.stderr
    after = check_report(data, port)
    assert after["ok"], after
    assert not [f for f in after["findings"] if f["kind"] == "orphan-blob"]

    # And check fails (exit 1) when something is off; gc leaves young orphans alone.
    blobs = sorted(p for p in (data / "blobs").rglob("*") if p.is_file())
    blobs[0].write_bytes(blobs[0].read_bytes()[:-1])
    blobs[1].unlink()
    orphan = data / "blobs" / "tarballs" / "00" / ("00" * 64)
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"left by a publish in flight")
    young = json.loads(assay("gc", "--data", str(data), "--json", port=port).stdout)
    assert (young["young"], young["collected"]) == (1, 0)
    dry = json.loads(assay("gc", "--data", str(data), "--grace", "0", "--dry-run", "--json").stdout)
    assert dry["collectedKeys"] == [orphan.relative_to(data / "blobs").as_posix()]
    assert orphan.exists()
    with sqlite3.connect(data / "assay.db") as db:
        db.execute("UPDATE tlog_checkpoints SET root_hash = zeroblob(32) WHERE tree_size = 1")
    broken = assay("check", "--data", str(data), port=port)
    assert broken.returncode == 1, broken.stdout
    for kind in ("integrity", "missing-blob", "orphan-blob", "checkpoint"):
        assert f": {kind}: " in broken.stdout, broken.stdout
    assert broken.stdout.rstrip().splitlines()[-1].startswith("FAILED")
