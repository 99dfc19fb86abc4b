"""Registry signatures: every version is signed, the keys endpoint verifies them the way
pacote does, and rotation keeps old signatures verifiable."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from assay.keys import verify_signature
from assay.registry.signing import RegistryKeys, rotate
from tests.integration import test_registry_api
from tests.integration.test_registry_api import Api
from tests.unit.registry.tarballs import publish_body

api = test_registry_api.api  # the same registry fixture, on both backends


def _key(entry: dict[str, object]) -> ec.EllipticCurvePublicKey:
    public = serialization.load_der_public_key(base64.b64decode(str(entry["key"])))
    assert isinstance(public, ec.EllipticCurvePublicKey)
    return public


def test_every_version_is_signed_and_verifies_with_the_published_key(api: Api) -> None:
    for name in ("plain-lib", "@team/scoped-lib"):
        assert api.publish(name, publish_body(name, "1.0.0")).status_code in (200, 201)
    keys = api.client.get("/-/npm/v1/keys").json()["keys"]
    assert [k["expires"] for k in keys] == [None]
    assert keys[0]["keyid"].startswith("SHA256:")
    assert keys[0]["keytype"] == keys[0]["scheme"] == "ecdsa-sha2-nistp256"
    for name in ("plain-lib", "@team/scoped-lib"):
        escaped = name.replace("/", "%2f")
        for accept in ("application/json", "application/vnd.npm.install-v1+json"):
            packument = api.client.get(f"/{escaped}", headers={"accept": accept}).json()
            dist = packument["versions"]["1.0.0"]["dist"]
            (signature,) = dist["signatures"]
            assert signature["keyid"] == keys[0]["keyid"]
            # pacote: verify "<_id>:<integrity>" with the key whose keyid matches.
            message = f"{name}@1.0.0:{dist['integrity']}".encode()
            verify_signature(_key(keys[0]), base64.b64decode(signature["sig"]), message)


def test_rotation_lists_the_old_key_with_its_expiry(tmp_path: Path) -> None:
    first = RegistryKeys.load_or_create(tmp_path)
    signed = first.sign("x", "1.0.0", "sha512-abc")
    moment = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    second = rotate(tmp_path, moment)
    assert second.keyid != first.keyid
    listed = second.npm_keys()["keys"]
    assert [k["keyid"] for k in listed] == [second.keyid, first.keyid]
    assert [k["expires"] for k in listed] == [None, "2026-01-02T03:04:05.678Z"]
    verify_signature(_key(listed[1]), base64.b64decode(signed["sig"]), b"x@1.0.0:sha512-abc")
    assert RegistryKeys.load_or_create(tmp_path).npm_keys() == second.npm_keys()
