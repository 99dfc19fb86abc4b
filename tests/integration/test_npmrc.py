"""`.npmrc` reading against npm itself: where npm can answer (`npm config get`), it is the oracle
for tests/unit/test_npmrc.py's reader."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from assay.npmrc import NpmConfig


@pytest.mark.npm
def test_npm_agrees(tmp_path: Path) -> None:
    """`npm config get` reads the same files to the same values."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is not on PATH")
    home, project = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    project.mkdir()
    (project / "package.json").write_text("{}")
    (home / ".npmrc").write_text(
        "@acme:registry=http://acme.example/${ACME_PATH}/\nregistry=http://user.example/\n"
    )
    (project / ".npmrc").write_text('registry = "http://project.example/" ; why\n')
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "ACME_PATH": "npm",
        "npm_config_cache": str(tmp_path / "cache"),
        "npm_config_update_notifier": "false",
    }
    config = NpmConfig.load(env, project, home=home)
    for key in ("registry", "@acme:registry"):
        done = subprocess.run(
            [npm, "config", "get", key], cwd=project, env=env, capture_output=True, text=True,
            check=True, timeout=60,
        )  # fmt: skip
        assert config.get(key) == done.stdout.strip(), key
