"""`assay init`: every key 0600 in a 0700 directory, nothing overwritten, trust files that the
real sigstore-python parses and trusts."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from sigstore._internal.trust import KeyringPurpose
from sigstore.models import ClientTrustConfig

from assay.cli.main import main
from assay.errors import ConfigError
from assay.instance.layout import DataDir, InstanceInfo
from assay.instance.material import InstanceMaterial
from assay.instance.setup import ensure_tsa_material, initialize
from assay.instance.trust import client_trust_config


def test_init_creates_private_keys_and_chain(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    info = initialize(data, organization="example")
    assert stat.S_IMODE(data.root.stat().st_mode) == 0o700
    assert stat.S_IMODE(data.keys.stat().st_mode) == 0o700
    keys = sorted(p.name for p in data.keys.iterdir())
    assert keys == [
        "ca-intermediate.key",
        "ca-root.key",
        "ct.key",
        "oidc.key",
        "registry.key",
        "tlog.key",
        "tsa-root.key",
        "tsa.key",
    ]
    for key in data.keys.iterdir():
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    assert InstanceInfo.load(data) == info
    material = InstanceMaterial.load(data)
    assert material.ca_intermediate.issuer == material.ca_root.subject
    leaf, root = material.tsa_chain
    assert leaf.issuer == root.subject
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical
    assert list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]


def test_a_data_directory_from_before_the_tsa_gets_it_once(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    initialize(data)
    for path in (data.tsa_root_key, data.tsa_key, data.tsa_root_cert, data.tsa_cert):
        path.unlink()
    assert ensure_tsa_material(data)
    assert stat.S_IMODE(data.tsa_key.stat().st_mode) == 0o600
    assert not ensure_tsa_material(data)
    InstanceMaterial.load(data)


def test_init_refuses_an_existing_directory(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    initialize(data)
    before = {p: p.read_bytes() for p in data.keys.iterdir()}
    with pytest.raises(ConfigError, match="refusing to overwrite"):
        initialize(data)
    assert {p: p.read_bytes() for p in data.keys.iterdir()} == before


def test_cli_init(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--data", str(tmp_path / "d")]) == 0
    assert "initialized" in capsys.readouterr().out
    assert main(["init", "--data", str(tmp_path / "d")]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err


def test_uninitialized_directory_is_explained(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="assay init"):
        InstanceMaterial.load(DataDir(tmp_path))


def test_sigstore_python_accepts_the_client_trust_config(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    initialize(data)
    config = client_trust_config(InstanceMaterial.load(data), "http://127.0.0.1:4873")
    parsed = ClientTrustConfig.from_json(json.dumps(config))
    # The keyrings sigstore-python builds from it hold exactly our keys.
    root = parsed.trusted_root
    assert len(root.get_fulcio_certs()) == 2
    assert root.rekor_keyring(purpose=KeyringPurpose.VERIFY) is not None
    assert root.ct_keyring(purpose=KeyringPurpose.VERIFY) is not None
