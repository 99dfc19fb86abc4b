"""Keys: 0600 files that are never overwritten, fail-closed loading, the public forms."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from assay.errors import ConfigError, VerificationError
from assay.keys import (
    PrivateKey,
    Signer,
    generate_ec,
    generate_ed25519,
    key_details,
    key_id,
    load_private_key,
    npm_key_id,
    spki_der,
    verify_signature,
    write_private_key,
)
from tests.npm_real import ROOT


def test_written_with_mode_0600_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    key = generate_ec()
    write_private_key(path, key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(ConfigError, match="refusing to overwrite"):
        write_private_key(path, generate_ec())
    loaded = load_private_key(path)
    assert spki_der(loaded) == spki_der(key)


def test_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    write_private_key(path, generate_ed25519())
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_private_key(path)


@pytest.mark.parametrize("content", [b"", b"not pem", b"-----BEGIN PRIVATE KEY-----\nxx\n"])
def test_garbage_key_file_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "k.pem"
    path.write_bytes(content)
    os.chmod(path, 0o600)
    with pytest.raises(ConfigError):
        load_private_key(path)


def test_missing_key_file_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_private_key(tmp_path / "absent.pem")


@pytest.mark.parametrize("key", [generate_ec("P-256"), generate_ec("P-384"), generate_ed25519()])
def test_sign_and_verify(key: PrivateKey) -> None:
    signer = Signer(key)
    signature = signer.sign(b"message")
    verify_signature(signer.public_key, signature, b"message")
    with pytest.raises(VerificationError):
        verify_signature(signer.public_key, signature, b"other message")
    assert len(key_id(key)) == 32


def test_key_details() -> None:
    assert key_details(generate_ec("P-256")) == "PKIX_ECDSA_P256_SHA_256"
    assert key_details(generate_ec("P-384")) == "PKIX_ECDSA_P384_SHA_384"
    assert key_details(generate_ed25519()) == "PKIX_ED25519"


def test_npm_key_id_matches_npmjs() -> None:
    data = json.loads((ROOT / "npm-cli/registry-signatures-from-audit-test.json").read_text())
    public = serialization.load_der_public_key(base64.b64decode(data["key"]["key"]))
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert npm_key_id(public) == data["key"]["keyid"]
    # And the real registry signatures verify with the same signing rule as ours.
    for entry in data["entries"]:
        message = f"{entry['name']}@{entry['version']}:{entry['integrity']}".encode()
        verify_signature(public, base64.b64decode(entry["sig"]), message)


def test_npm_key_id_needs_p256() -> None:
    with pytest.raises(ConfigError):
        npm_key_id(generate_ed25519())
