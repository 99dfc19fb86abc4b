"""The provenance record stored with a version: round trip and refusal of anything else."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from assay.errors import FormatError
from assay.registry.provenance import ProvenanceRecord
from assay.registry.source_check import SourceCheckResult, SourceStatus
from assay.verify.facts import EMULATED_CI, StatementCheck, VerifiedFacts

FACTS = VerifiedFacts(
    issuer="http://127.0.0.1:4873/-/oidc",
    ci=EMULATED_CI,
    signer_identity="https://github.com/a/b/.github/workflows/r.yml@refs/heads/main",
    source_repository_uri="https://github.com/a/b",
    source_repository_digest="0" * 40,
    source_repository_ref="refs/heads/main",
)


@pytest.mark.parametrize("status", [None, *SourceStatus])
def test_round_trip(status: SourceStatus | None) -> None:
    source = (
        None
        if status is None
        else SourceCheckResult(
            "https://github.com/a/b", "0" * 40, status, datetime(2026, 1, 2, tzinfo=UTC), "x"
        )
    )
    record = ProvenanceRecord(FACTS, StatementCheck(("repository",), ("run URI",)), source)
    assert ProvenanceRecord.from_json(record.to_json()) == record
    assert record.source_flagged == (status is not None and status is not SourceStatus.EXISTS)
    assert record.facts.emulated


def test_absent_record() -> None:
    assert ProvenanceRecord.from_text(None) is None


@pytest.mark.parametrize(
    "text",
    ["[]", "{}", '{"v": 2}', '{"v": 1, "facts": {}, "statement": {}}', "not json"],
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(FormatError):
        ProvenanceRecord.from_text(text)
