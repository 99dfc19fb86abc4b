"""The numbered steps of verification (sigstore.md §6), and the error each failure raises.

Every refusal of :class:`~assay.verify.verifier.Verifier` names its step: the message starts with
``step N (name)`` and the :class:`~assay.errors.VerificationError` carries ``step`` and ``check``
details, so callers (the registry's 422, the audit's report, the conformance harness) can tell
which check failed without parsing the message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from assay.errors import VerificationError

__all__ = ["STEPS", "fail"]

STEPS: Final[Mapping[int | str, str]] = {
    1: "media type",
    2: "tlog entries",
    3: "key material",
    4: "entry kind",
    5: "inclusion proof",
    6: "time source",
    7: "DSSE signatures",
    8: "RFC 3161 timestamps",
    9: "integrated time",
    10: "verified time",
    11: "certificate chain",
    12: "SCT",
    13: "key usage",
    15: "inclusion proof",
    16: "checkpoint",
    17: "inclusion promise",
    18: "certificate validity",
    19: "signature",
    20: "log entry body",
    21: "subject",
}
"""Each step number of sigstore.md §6 and the short name errors carry as ``check``."""


def fail(step: int, message: str, **details: object) -> VerificationError:
    name = STEPS.get(step, "")
    return VerificationError(f"step {step} ({name}): {message}", step=step, check=name, **details)
