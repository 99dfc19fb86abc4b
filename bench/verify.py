"""Benchmark: the real npm provenance bundles (tests/fixtures/npm-real) verified per second by
assay.verify, beside sigstore-python on the same bundles, in process, one core.

sigstore-python cannot verify them (Rekor ``intoto`` 0.0.2 entries; v0.1 without an inclusion
proof: sigstore.md §3.2), so its figure is the time to its refusal, parsing included as for
ours: a like-for-like pair only in what both read. The fully verifying comparison, on bundles
both verify (the instance's own hashedrekord and DSSE bundles), is bench/audit.py's last table.
tests/interop/test_verify_differential.py checks that the verdicts agree; this only times them.

    .venv/bin/python bench/verify.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from sigstore.models import Bundle as PyBundle
from sigstore.models import TrustedRoot as PyTrustedRoot
from sigstore.verify import Verifier as PyVerifier
from sigstore.verify.policy import UnsafeNoOp
from tests.unit.verify.fixtures import TRUSTED_ROOT, bundles

from assay.provenance.bundle import Bundle
from assay.verify import TrustedRoot, Verifier


def rate(
    verify: Callable[[dict[str, Any]], object], items: Sequence[dict[str, Any]], rounds: int
) -> float:
    """Bundles per second: best of three passes of ``rounds`` rounds, after a warm-up pass."""
    for item in items:
        verify(item)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(rounds):
            for item in items:
                verify(item)
        best = min(best, time.perf_counter() - started)
    return rounds * len(items) / best


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="passes over the bundles per timing")
    args = parser.parse_args(argv)
    real = [b.bundle for b in bundles() if not b.keyid and not b.tampered]
    ours = Verifier(TrustedRoot.public_good())
    theirs = PyVerifier(trusted_root=PyTrustedRoot.from_file(str(TRUSTED_ROOT)))

    def refused(raw: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):  # every one of them is refused: timed to that point
            theirs.verify_dsse(PyBundle.from_json(json.dumps(raw)), UnsafeNoOp())

    ours_rate = rate(lambda raw: ours.verify(Bundle.from_dict(raw)), real, args.rounds)
    theirs_rate = rate(refused, real, args.rounds)
    print(f"real npm bundles ({len(real)}), per second, one core:")
    print(f"  assay.verify     {ours_rate:8.0f}  (verified)")
    print(f"  sigstore-python  {theirs_rate:8.0f}  (refusing: unsupported entries)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
