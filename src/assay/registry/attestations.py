"""The registry's publish attestations: its own signed statement that it accepted a tarball as a
version (npm/attestation publish v0.1), signed with the registry key and logged, as npmjs.org does
for every publish with provenance (npm-registry spec §3.5).

Signed and logged only *after* the version's transaction commits (never before: a publish that
loses its race, or is refused, must leave no signed entry in the log). When the log is down at
that moment the version stays published, and the attestation is completed when the version's
attestations are next read, once :data:`REPAIR_AFTER_MS` has passed.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from assay.npm.names import PackageName
from assay.provenance.publish import PUBLISH_PREDICATE_TYPE, publish_statement
from assay.provenance.statement import PAYLOAD_TYPE
from assay.provenance.subject import Digest
from assay.registry.errors import NotFound
from assay.registry.signing import RegistryKeys
from assay.sign.errors import SigningError
from assay.sign.log import LogWriter
from assay.sign.signer import sign_dsse_with_key
from assay.storage.account_store import now_ms
from assay.storage.registry_store import RegistryStore

__all__ = ["REPAIR_AFTER_MS", "PublishAttestations"]

log = logging.getLogger(__name__)

# A version whose publish attestation could not be logged right after its commit (the log was
# down) gets it when its attestations are next read, once this long has passed since the
# publish: long enough that the publishing request has finished its own attempt.
REPAIR_AFTER_MS = 30_000


class PublishAttestations:
    """Signs, logs and stores the publish attestation of committed versions; serves the
    attestations of a version. One completion at a time per process."""

    def __init__(self, store: RegistryStore, keys: RegistryKeys, log: LogWriter, origin: str):
        self.store = store
        self.keys = keys
        self.log = log
        self.origin = origin
        self._lock = threading.Lock()

    def sign(self, name: str, version: str, sha512: Digest) -> dict[str, Any]:
        """The registry's own statement that it accepted this tarball as this version
        (npm/attestation publish v0.1), signed with the registry key and logged — as
        npmjs.org does for every publish with provenance (npm-registry spec §3.5)."""
        statement = publish_statement(name, version, self.origin, sha512)
        bundle = sign_dsse_with_key(
            statement.to_json(), PAYLOAD_TYPE, self.keys.private_key, self.keys.keyid, self.log
        )
        return {"predicateType": PUBLISH_PREDICATE_TYPE, "bundle": bundle.to_dict()}

    def complete(self, name: str, version: str) -> bool:
        """Sign, log and store the publish attestation of a committed version lacking one.

        Called right after a publish commits (never before: a publish that loses its race or
        is refused must leave no signed entry in the log), and again when the attestations of
        a version whose attempt failed are read. One at a time per process; the row is
        re-read under the lock and updated by compare-and-set. False if the log is down.
        """
        with self._lock:
            state = self.store.load_package(name)
            row = state.versions.get(version) if state is not None else None
            if row is None or not row.live or row.attestations is None:
                return False
            current = json.loads(row.attestations)
            if any(a.get("predicateType") == PUBLISH_PREDICATE_TYPE for a in current):
                return True
            try:
                publish = self.sign(name, version, Digest.from_sri(row.integrity))
            except SigningError as exc:
                log.warning(
                    "publish attestation of %s@%s not logged yet (retried when read): %s",
                    name,
                    version,
                    exc.message,
                )
                return False
            # npmjs.org's order: the registry's publish attestation, then the provenance.
            records = json.dumps([publish, *current], separators=(",", ":"), ensure_ascii=False)
            return self.store.add_attestation(
                name, version, row.integrity, row.attestations, records
            )

    def read(self, name: PackageName, version: str) -> dict[str, Any]:
        """``GET /-/npm/v1/attestations/<name>@<version>`` (npm-registry spec §3.4)."""
        state = self.store.load_package(name.name)
        row = state.versions.get(version) if state is not None else None
        if row is None or not row.live or row.attestations is None:
            raise NotFound("Not found")
        records = json.loads(row.attestations)
        if (
            not any(a.get("predicateType") == PUBLISH_PREDICATE_TYPE for a in records)
            and now_ms() - row.published_ms > REPAIR_AFTER_MS
            and self.complete(name.name, version)
        ):
            return self.read(name, version)
        return {"attestations": records}
