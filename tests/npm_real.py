"""The real npm provenance data under tests/fixtures/npm-real (see its README for origins)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent / "fixtures" / "npm-real"


def attestation_files() -> list[Path]:
    """Every file holding an attestations response (`{"attestations": [...]}`)."""
    return sorted(path for path in ROOT.rglob("*.json") if '"attestations"' in path.read_text())


def attestations(path: Path) -> list[dict[str, Any]]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    result: list[dict[str, Any]] = data["attestations"]
    return result


def statements() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(test id, predicateType, decoded statement) for every attestation in the fixtures."""
    for path in attestation_files():
        for index, attestation in enumerate(attestations(path)):
            payload = attestation["bundle"]["dsseEnvelope"]["payload"]
            statement: dict[str, Any] = json.loads(base64.b64decode(payload))
            ident = f"{path.relative_to(ROOT)}[{index}]"
            yield ident, attestation["predicateType"], statement
