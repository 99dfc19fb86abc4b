"""`assay verify attestations --offline` starts without the network stack or pydantic.

Its cold start is most of its time (bench/verify.py): it verifies a saved file and never uses
the network, so it must not import httpx, pydantic(-settings) or rich, which cost several times
what the verification does. A fresh interpreter is the only honest place to see what a command
imports, hence a subprocess, hence an integration test.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.unit.verify.fixtures import responses

HEAVY = ("httpx", "pydantic", "pydantic_settings", "rich", "fastapi", "sqlalchemy")

PROBE = """
import contextlib, io, json, sys
from assay.cli.main import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def test_offline_attestation_verification_imports_no_network_or_settings_stack() -> None:
    # sigstore@1.0.0: a keyless provenance and the registry's keyed publish attestation.
    response = next(r for r in responses() if r.name == "sigstore" and r.version == "1.0.0")
    args = [
        "verify",
        "attestations",
        "--offline",
        "--package",
        f"{response.name}@{response.version}",
        "--integrity",
        response.integrity,
        str(response.path),
    ]
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True
    )
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["code"] == 0, done.stderr
    loaded = {name.split(".")[0] for name in report["modules"]}
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
