"""`assay backup` while publishes and log appends run, then the data directory wiped and
`assay restore`d: `assay check` passes, everything acknowledged before the backup began is
back, key files keep mode 0600, and a client holding a checkpoint fetched before the backup
still gets a consistency proof from the restored log."""

from __future__ import annotations

import json
import shutil
import stat
import threading
from pathlib import Path

import httpx
import pytest

from assay.transparency.checkpoint import parse_signed_note
from assay.transparency.merkle import verify_consistency
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
from tests.rekord import hashedrekord


def _head(url: str) -> tuple[int, bytes]:
    checkpoint, _ = parse_signed_note(httpx.get(f"{url}/-/tlog/checkpoint").text)
    return checkpoint.size, checkpoint.root_hash


@pytest.mark.slow  # ~30-60 s: several `assay up` starts
def test_backup_under_load_restores_and_checks(tmp_path: Path) -> None:
    data, port, log = tmp_path / "data", free_port(), tmp_path / "up.log"
    instance = start(data, port, log)
    before: set[tuple[str, str]] = set()
    try:
        token = admin_token(data)
        headers = {"authorization": f"Bearer {token}"}
        with httpx.Client(base_url=instance.url, headers=headers, timeout=30) as http:
            for body in with_provenance(instance, ["kept-prov"], "1.0.0"):
                assert put(http, body) == 201
                before.add(("kept-prov", "1.0.0"))
            for n in range(5):
                assert put(http, plain("kept", f"1.{n}.0")) == 201
                before.add(("kept", f"1.{n}.0"))
            # An unpublished version: its blob goes, its tombstone stays.
            assert put(http, plain("gone", "1.0.0")) == 201
            assert http.delete("/gone/-rev/1").status_code in (200, 201)
        old_size, old_root = _head(instance.url)  # the checkpoint a client holds
        assert old_size >= 2

        stop_load = threading.Event()
        during: list[tuple[str, str]] = []

        def load() -> None:
            n = 0
            with httpx.Client(base_url=instance.url, headers=headers, timeout=30) as http:
                while not stop_load.is_set():
                    n += 1
                    if put(http, plain("busy", f"2.{n}.0")) == 201:
                        during.append(("busy", f"2.{n}.0"))
                    http.post("/-/tlog/api/v1/log/entries", json=hashedrekord(b"during %d" % n))

        thread = threading.Thread(target=load)
        thread.start()
        try:
            done = assay("backup", "--data", str(data), str(tmp_path / "backup"), port=port)
        finally:
            stop_load.set()
            thread.join(30)
        assert done.returncode == 0, done.stderr
        assert during, "the backup ran under no load"
    finally:
        stop(instance)

    backup = tmp_path / "backup"
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["log"]["treeSize"] >= old_size
    modes = {r["path"]: r["mode"] for r in manifest["files"]}
    assert modes["files/keys/registry.key"] == "0600"
    assert stat.S_IMODE((backup / "files/keys/tlog.key").stat().st_mode) == 0o600

    # A restore refuses a data directory that is not empty.
    refused = assay("restore", "--data", str(data), str(backup), port=port)
    assert refused.returncode != 0
    assert "not empty" in refused.stderr

    # A tampered backup is refused before anything is written.
    tampered = tmp_path / "tampered"
    shutil.copytree(backup, tampered)
    blob = next(p for p in (tampered / "blobs").rglob("*") if p.is_file())
    blob.write_bytes(blob.read_bytes() + b"x")
    refused = assay("restore", "--data", str(tmp_path / "elsewhere"), str(tampered), port=port)
    assert refused.returncode != 0
    assert "does not match the manifest" in refused.stderr
    assert not (tmp_path / "elsewhere").exists()

    shutil.rmtree(data)  # the disk is lost
    restored = assay("restore", "--data", str(data), str(backup), port=port)
    assert restored.returncode == 0, restored.stderr
    for key in (data / "keys").glob("*.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    assert stat.S_IMODE((data / "keys").stat().st_mode) == 0o700

    report = check_report(data, port)
    assert report["ok"], report
    assert not [f for f in report["findings"] if f["kind"] == "orphan-blob"], report
    assert report["counts"]["log entries"] == manifest["log"]["treeSize"]

    instance = start(data, port, log)
    try:
        served = assert_served_whole(instance.url, {"kept", "kept-prov", "busy", "gone"})
        for name, version in before:
            assert version in served[name]
        assert "gone" not in served or not served["gone"]
        new_size, new_root = _head(instance.url)
        assert new_size == manifest["log"]["treeSize"]
        proof = httpx.get(
            f"{instance.url}/-/tlog/api/v1/log/proof",
            params={"firstSize": old_size, "lastSize": new_size},
        ).json()
        assert bytes.fromhex(proof["rootHash"]) == new_root
        verify_consistency(
            old_size, new_size, [bytes.fromhex(h) for h in proof["hashes"]], old_root, new_root
        )
        # The restored instance takes writes again.
        with httpx.Client(
            base_url=instance.url, headers={"authorization": f"Bearer {token}"}, timeout=30
        ) as http:
            assert put(http, plain("kept", "9.0.0")) == 201
    finally:
        stop(instance)
