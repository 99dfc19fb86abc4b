"""The mirror's policy over stored verdicts: deny/allow, release-age quarantine, the audit
policy's require-provenance and no-downgrade."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from assay.errors import ConfigError
from assay.mirror.policy import MirrorPolicy
from assay.storage.mirror_store import StoredVerdict

NOW = datetime(2026, 1, 10, tzinfo=UTC).timestamp()


def verdict(version: str, *, provenance: bool = False, ok: bool = True) -> StoredVerdict:
    return StoredVerdict(
        "pkg", version, "npmjs", "sha512-x", "verified" if ok else "refused", None,
        "verified", "https://slsa.dev/provenance/v1" if provenance else None, None,
        None, 0,
    )  # fmt: skip


def document(times: dict[str, str]) -> dict[str, object]:
    return {"name": "pkg", "versions": {v: {} for v in times}, "time": times}


def test_empty_policy_holds_nothing() -> None:
    policy = MirrorPolicy.from_config(None)
    decided = policy.decide("pkg", document({"1.0.0": "2020-01-01T00:00:00.000Z"}),
                            {"1.0.0": verdict("1.0.0")}, {}, lambda _: None, now=NOW)  # fmt: skip
    assert decided.held == {}


def test_release_age_quarantines_young_versions() -> None:
    policy = MirrorPolicy.from_config({"min-release-age": "3d"})
    times = {"1.0.0": "2026-01-01T00:00:00.000Z", "1.1.0": "2026-01-09T00:00:00.000Z"}
    verdicts = {v: verdict(v) for v in times}
    decided = policy.decide("pkg", document(times), verdicts, {}, lambda _: None, now=NOW)
    assert set(decided.held) == {"1.1.0"}
    assert "min-release-age" in decided.held["1.1.0"]
    assert decided.changes_in == pytest.approx(2 * 86400)


def test_deny_wins_allow_exempts() -> None:
    policy = MirrorPolicy.from_config(
        {"deny": ["pkg@1.0.0"], "allow": ["pkg@1.1.0"], "min-release-age": 30}
    )
    times = {"1.0.0": "2026-01-09T00:00:00.000Z", "1.1.0": "2026-01-09T00:00:00.000Z"}
    verdicts = {v: verdict(v) for v in times}
    decided = policy.decide("pkg", document(times), verdicts, {}, lambda _: None, now=NOW)
    assert set(decided.held) == {"1.0.0"}
    assert "deny" in decided.held["1.0.0"]


def test_require_provenance_and_downgrade() -> None:
    policy = MirrorPolicy.from_config(
        {"require-provenance": [{"packages": ["other-*"]}], "downgrade": {"check": True}}
    )
    times = {"1.0.0": "2025-01-01T00:00:00.000Z", "1.1.0": "2025-02-01T00:00:00.000Z",
             "0.9.0": "2024-01-01T00:00:00.000Z"}  # fmt: skip
    verdicts = {"0.9.0": verdict("0.9.0"), "1.0.0": verdict("1.0.0", provenance=True),
                "1.1.0": verdict("1.1.0")}  # fmt: skip
    # The provenance reader is only asked about versions with provenance; none here needs
    # identity rules, so a missing result reads as "no provenance".
    decided = policy.decide("pkg", document(times), verdicts, {}, lambda _: None, now=NOW)
    assert "1.1.0" in decided.held
    assert "downgrade" in decided.held["1.1.0"]
    assert "0.9.0" not in decided.held  # before any version had provenance


def test_bad_durations_refused() -> None:
    with pytest.raises(ConfigError, match="min-release-age"):
        MirrorPolicy.from_config({"min-release-age": "soon"})
