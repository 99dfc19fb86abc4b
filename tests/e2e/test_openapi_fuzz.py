"""A short schemathesis run against a real `assay up` of its own (issue 15 §2).

Every operation of the instance's OpenAPI document (``/-/openapi.json``) gets a few generated
requests, fitting the document and not; no response may be a 5xx or differ from the document
(status, media type, headers, body schema), and afterwards the instance's invariants hold.
``bench/fuzz.py`` is the long run (100,000 requests) of the same driver, tests/fuzzing.py.
"""

from __future__ import annotations

from pathlib import Path

from tests.assay_up import running_instance
from tests.fuzzing import fuzz, invariants, seed

EXAMPLES = 8  # per operation and generation mode: about a thousand requests in all


def test_no_5xx_and_no_schema_violation(tmp_path: Path) -> None:
    with running_instance(tmp_path / "fuzz") as instance:
        token = (instance.data / "admin.token").read_text().strip()
        known = seed(instance.url, token)
        report = fuzz(instance.url, examples=EXAMPLES, token=token, known=known, seed=15)
        findings = [f"{f.line()}\n  {f.curl}" for f in report.distinct(report.server_errors)]
        findings += [f"{f.line()}\n  {f.curl}" for f in report.distinct(report.violations)]
        assert not findings, "\n".join(findings)
        assert report.transport_errors == 0
        assert report.requests > 500
        assert {200, 400, 401, 404} <= set(report.statuses)
        counts, problems = invariants(instance.url, instance.data)
        assert not problems
        assert counts["versions"] >= 1
        assert counts["log entries"] >= 3
