"""`assay trust update`: trust material refreshed through TUF (python-tuf's Updater), here from
an instance's own TUF repository standing in for Sigstore's CDN; the verifier then uses it in
place of the bundled snapshot."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from assay.cli.main import main
from assay.verify.trust import RegistryKeys, TrustedRoot
from tests.assay_up import Instance


@pytest.fixture(scope="module")
def instance(assay_up: Instance) -> Instance:
    """The session's `assay up`, shared (tests/conftest.py): these tests only add to it."""
    return assay_up


def test_update_from_a_tuf_mirror(instance: Instance, tmp_path: Path) -> None:
    mirror = f"{instance.url}/-/trust/tuf"
    root = tmp_path / "1.root.json"
    root.write_bytes(httpx.get(f"{mirror}/1.root.json").content)
    host = instance.url.split("://", 1)[1]
    directory = tmp_path / "trust"
    args = ["trust", "update", "--mirror", mirror, "--root", str(root)]
    args += ["--keys-target", f"{host}/keys.json", "--dir", str(directory)]
    assert main(args) == 0
    served = httpx.get(f"{instance.url}/-/trust/trusted_root.json").json()
    assert json.loads((directory / "trusted_root.json").read_text()) == served
    keys = RegistryKeys.npmjs(directory)
    npm_keys = httpx.get(f"{instance.url}/-/npm/v1/keys").json()["keys"]
    assert keys.get(npm_keys[0]["keyid"]) is not None
    assert TrustedRoot.public_good(directory).tlog(
        TrustedRoot.from_json(json.dumps(served)).tlogs[0].log_id
    )
    # Without the update the bundled public-good material is what one gets.
    assert TrustedRoot.public_good(tmp_path / "empty") is TrustedRoot.public_good()


def test_a_root_the_repository_does_not_chain_to_is_refused(
    instance: Instance, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The bundled Sigstore root did not sign this repository: TUF refuses, nothing is written.
    mirror = f"{instance.url}/-/trust/tuf"
    directory = tmp_path / "trust"
    assert main(["trust", "update", "--mirror", mirror, "--dir", str(directory)]) == 1
    assert "TUF refused the repository" in capsys.readouterr().err
    assert not (directory / "trusted_root.json").exists()
