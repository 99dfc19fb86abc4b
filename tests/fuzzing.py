"""Schemathesis against a running instance, from the OpenAPI document it serves (issue 15 §2).

Shared by the short run of ``tests/e2e/test_openapi_fuzz.py`` and the long one of
``bench/fuzz.py``. Every operation of ``/-/openapi.json`` is driven with generated requests,
both ones that fit the document (positive) and ones that do not (negative); each response is
checked by schemathesis's own checks: no 5xx, a status the document names for the operation,
its media type, its headers (``Retry-After`` on a 429) and its body schema.

Two things make the requests reach past the first refusal:

* the registry's operations carry the admin token half of the time (the others are anonymous,
  or bring a made-up credential from the generator), so publishes, dist-tags, access and
  staging are parsed, not only refused with 401;
* path parameters named for a package, version or file take a real value (a package the run
  published first) in a third of the cases, so packuments, tarballs, pages and attestations
  are served, not only their 404s.

Every failure is kept with the request that caused it (as a curl command), so a 5xx or a
violation found by a long run can be replayed by hand.
"""

from __future__ import annotations

import base64
import hashlib
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from assay.storage.database import database_url, open_engine
from assay.storage.registry_store import RegistryStore
from assay.storage.tlog_store import TlogStore
from assay.transparency.checkpoint import Checkpoint
from assay.transparency.merkle import leaf_hash, root_from_leaves
from tests.rekord import RekordSigner
from tests.unit.registry.tarballs import publish_body

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)


@dataclass(frozen=True)
class Known:
    """Real values for path parameters: a published package, its version and tarball."""

    name: str
    version: str
    filename: str
    stage_id: str | None = None

    def values(self) -> dict[str, list[str]]:
        spec = f"{self.name}@{self.version}"
        page = f"{self.name}/v/{self.version}"
        return {
            "name": [self.name],
            "version": [self.version, "latest"],
            "filename": [self.filename],
            "spec": [spec],
            "page": [self.name, page, f"{page}/provenance", f"{page}/provenance.sigstore.json"],
            "ident": ["0", "1"],
            "stage_id": [self.stage_id] if self.stage_id else [],
        }


@dataclass
class Finding:
    """One response that failed a check: what, where, and how to send it again."""

    operation: str
    status: int
    check: str
    message: str
    curl: str

    def line(self) -> str:
        first = self.message.strip().splitlines()[0] if self.message.strip() else ""
        return f"{self.operation} → {self.status} [{self.check}] {first}"


@dataclass
class Report:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[Finding] = field(default_factory=list)
    violations: list[Finding] = field(default_factory=list)
    transport_errors: int = 0

    @property
    def server_error_count(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)

    def distinct(self, findings: Iterable[Finding]) -> list[Finding]:
        seen: dict[tuple[str, str, int], Finding] = {}
        for finding in findings:
            seen.setdefault((finding.operation, finding.check, finding.status), finding)
        return list(seen.values())


def _registry_operation(operation: Any) -> bool:
    security = operation.definition.raw.get("security") or []
    return any("npmToken" in requirement for requirement in security)


def fuzz(
    base_url: str,
    *,
    examples: int,
    token: str | None = None,
    known: Known | None = None,
    seed: int = 0,
    budget: int | None = None,
    only: Callable[[str], bool] | None = None,
    progress: Callable[[Report], None] | None = None,
    found: Callable[[Finding], None] | None = None,
) -> Report:
    """Drive every operation with up to ``examples`` cases per generation mode; stop once
    ``budget`` requests were sent (None: one pass). ``found`` hears of each finding whose
    operation, check and status are new in this run, as it happens."""
    schema = schemathesis.openapi.from_url(f"{base_url}/-/openapi.json")
    schema.config.update(base_url=base_url)
    report = Report()
    rng = random.Random(seed)  # noqa: S311 - reproducible fuzzing, not secrets
    values = known.values() if known else {}
    session = requests.Session()
    operations = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # the document itself is wrong: no run can be trusted
        operations.append(result.ok())
    if only is not None:
        operations = [op for op in operations if only(op.label)]
    last = time.monotonic()
    seen: set[tuple[str, str, int]] = set()

    def runner(operation: Any, mode: schemathesis.GenerationMode) -> Callable[[], None]:
        registry = _registry_operation(operation)

        @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
        @hypothesis.settings(
            max_examples=examples,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
            derandomize=False,
            print_blob=False,
        )
        @hypothesis.seed(rng.randrange(2**32))
        def run(case: Any) -> None:
            nonlocal last
            if budget is not None and report.requests >= budget:
                return
            for key in list(case.path_parameters or {}):
                choices = values.get(key, [])
                if choices and rng.random() < 0.34:
                    case.path_parameters[key] = rng.choice(choices)
            headers: dict[str, str] = {}
            if registry and token is not None and rng.random() < 0.5:
                headers["Authorization"] = f"Bearer {token}"
            try:
                response = case.call(session=session, headers=headers, timeout=60)
            except requests.RequestException:
                report.transport_errors += 1
                return
            report.requests += 1
            report.statuses[response.status_code] += 1
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except (FailureGroup, Failure) as exc:
                failures = exc.exceptions if isinstance(exc, FailureGroup) else (exc,)
                curl = case.as_curl_command(headers=headers)
                for failure in failures:
                    finding = Finding(
                        operation.label,
                        response.status_code,
                        type(failure).__name__,
                        f"{failure.title}: {failure.message}",
                        curl,
                    )
                    key = (finding.operation, finding.check, finding.status)
                    if found is not None and key not in seen:
                        found(finding)
                    seen.add(key)
                    if response.status_code >= 500:
                        report.server_errors.append(finding)
                    else:
                        report.violations.append(finding)
            if progress is not None and time.monotonic() - last > 10:
                last = time.monotonic()
                progress(report)

        return run

    for operation in operations:
        for mode in MODES:
            if budget is not None and report.requests >= budget:
                return report
            try:
                runner(operation, mode)()
            except hypothesis.errors.Unsatisfiable:
                continue  # nothing to make invalid (an operation without parameters)
    return report


def seed(base_url: str, token: str, name: str = "fuzz-seed") -> Known:
    """Publish ``name@1.0.0``, stage 1.0.1 and append three log entries, so that the
    fuzzer's known values exist."""
    headers = {"Authorization": f"Bearer {token}"}
    body = publish_body(name, "1.0.0", description="seeded for the fuzzer")
    response = requests.put(f"{base_url}/{name}", json=body, headers=headers, timeout=60)
    response.raise_for_status()
    staged = requests.post(
        f"{base_url}/-/stage/package/{name}",
        json=publish_body(name, "1.0.1"),
        headers=headers,
        timeout=60,
    )
    stage_id = staged.json().get("stageId") if staged.status_code == 201 else None
    # A few entries in the log, so that its invariant is checked over a real tree and the
    # index and UUID routes find something.
    signer = RekordSigner()
    for index in range(3):
        entry = signer.hashedrekord(f"{name}-{index}".encode())
        appended = requests.post(f"{base_url}/-/tlog/api/v1/log/entries", json=entry, timeout=60)
        appended.raise_for_status()
    return Known(name, "1.0.0", f"{name}-1.0.0.tgz", stage_id)


def invariants(base_url: str, data_dir: Path) -> tuple[dict[str, int], list[str]]:
    """The instance's invariants after a run, as ``(counts, problems)``; no problems: they hold.

    * every live version's tarball, as served, matches the integrity its packument states
      (the package names come from the database; everything else over HTTP);
    * the log's leaves, read from its database, recompute to the root of the checkpoint it
      serves, and each leaf is its entry's UUID (RFC 6962 leaf hash of the body).
    """
    problems: list[str] = []
    engine = open_engine(database_url(None, data_dir))
    try:
        names, _ = RegistryStore(engine).search((), 1_000_000, 0)
        entries_store = TlogStore(engine)
        checkpoint = Checkpoint.from_text(
            requests.get(f"{base_url}/-/tlog/checkpoint", timeout=60).text.split("\n\n")[0] + "\n"
        )
        entries = entries_store.entries_range(0, checkpoint.size)
    finally:
        engine.dispose()
    versions = 0
    with requests.Session() as session:
        for name in names:
            packument = session.get(f"{base_url}/{quote(name, safe='@')}", timeout=60).json()
            for version, manifest in packument["versions"].items():
                versions += 1
                dist = manifest["dist"]
                tarball = session.get(dist["tarball"], timeout=60)
                algorithm, _, expected = dist["integrity"].partition("-")
                actual = base64.b64encode(hashlib.new(algorithm, tarball.content).digest())
                if tarball.status_code != 200 or actual.decode() != expected:
                    problems.append(f"{name}@{version}: the tarball does not match its integrity")
    leaves = []
    for index, entry in enumerate(entries):
        leaf = leaf_hash(entry.body)
        if entry.log_index != index or entry.uuid != leaf.hex():
            problems.append(f"log entry {index}: its UUID is not its leaf hash")
        leaves.append(leaf)
    if len(leaves) != checkpoint.size:
        problems.append(
            f"the checkpoint names {checkpoint.size} entries, the log holds {len(leaves)}"
        )
    elif root_from_leaves(leaves) != checkpoint.root_hash:
        problems.append(f"the log's {len(leaves)} leaves do not recompute to the checkpoint's root")
    counts = {"packages": len(names), "versions": versions, "log entries": len(leaves)}
    return counts, problems
