"""npm's checks: registry signatures (pacote's rules) and whole attestations responses."""

from __future__ import annotations

import base64
import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from assay.errors import ConfigError, VerificationError
from assay.keys import generate_ec, npm_key_id, spki_der
from assay.provenance.subject import Digest
from assay.verify import NpmProvenancePolicy, RegistryKeys, SourceRepository, TrustedRoot, Verifier
from assay.verify.attestations import verify_attestations
from assay.verify.registry_signatures import registry_message, verify_registry_signatures
from assay.verify.trust import RegistryKey
from tests.npm_real import ROOT
from tests.unit.verify.fixtures import NPM_KEYS, Response, responses

SIGNATURES = json.loads((ROOT / "npm-cli" / "registry-signatures-from-audit-test.json").read_text())
AUDIT_KEYS = RegistryKeys.from_dict({"keys": [SIGNATURES["key"]]})
ENTRIES: list[dict[str, Any]] = SIGNATURES["entries"]
VERIFIER = Verifier(TrustedRoot.public_good())
NPMJS = RegistryKeys.npmjs()
RESPONSES = responses()
VALID = [r for r in RESPONSES if not r.negative]
NEGATIVE = [r for r in RESPONSES if r.negative]


def _verify(entry: dict[str, Any], keys: RegistryKeys = AUDIT_KEYS, **changes: Any) -> object:
    values = {**entry, **changes}
    return verify_registry_signatures(
        values["name"],
        values["version"],
        values["integrity"],
        [{"keyid": values["keyid"], "sig": values["sig"]}],
        keys,
        published=values.get("published"),
    )


# --- registry signatures ------------------------------------------------------------------------


def test_both_key_shapes_parse_to_the_same_keys() -> None:
    assert RegistryKeys.from_file(NPM_KEYS) == NPMJS
    old = NPMJS.get(SIGNATURES["key"]["keyid"])
    assert old is not None
    assert old.expires == datetime(2025, 1, 29, tzinfo=UTC)
    assert AUDIT_KEYS.keys[0].public_key == old.public_key
    assert AUDIT_KEYS.keys[0].expires is None
    assert npm_key_id(old.public_key) == old.keyid  # type: ignore[arg-type]


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: f"{e['name']}@{e['version']}")
@pytest.mark.parametrize("keys", [AUDIT_KEYS, NPMJS], ids=["v1-keys", "tuf-keys"])
def test_every_real_registry_signature_verifies(entry: dict[str, Any], keys: RegistryKeys) -> None:
    assert [key.keyid for key in _verify(entry, keys)] == [entry["keyid"]]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "change",
    [
        {"name": "kms-demo2"},
        {"version": "1.0.1"},
        {"integrity": "sha512-" + base64.b64encode(b"\x00" * 64).decode()},
        {"sig": base64.b64encode(b"\x30\x06\x02\x01\x01\x02\x01\x01").decode()},
        {"sig": "not base64!"},
    ],
    ids=["name", "version", "integrity", "signature", "garbage"],
)
def test_a_changed_message_or_signature_is_invalid(change: dict[str, str]) -> None:
    with pytest.raises(VerificationError) as caught:
        _verify(ENTRIES[0], AUDIT_KEYS, **change)
    assert caught.value.details["code"] == "EINTEGRITYSIGNATURE"


def test_an_unknown_keyid_is_a_missing_key() -> None:
    with pytest.raises(VerificationError, match="no corresponding public key") as caught:
        _verify(ENTRIES[0], keyid="SHA256:unknown")
    assert caught.value.details["code"] == "EMISSINGSIGNATUREKEY"


def test_no_signatures_is_missing() -> None:
    with pytest.raises(VerificationError) as caught:
        verify_registry_signatures("a", "1.0.0", "sha512-x", [], AUDIT_KEYS)
    assert caught.value.details["code"] == "EMISSINGSIGNATURE"


def test_key_expiry_follows_pacote() -> None:
    """A key with ``expires`` signs only versions published strictly before it; no time → 2015."""
    entry = ENTRIES[1]
    # The TUF keys expire the old key on 2025-01-29.
    _verify(entry, NPMJS, published="2023-02-09T18:00:00.000Z")
    _verify(entry, NPMJS, published=None)  # pacote's MISSING_TIME_CUTOFF, 2015-01-01
    _verify(entry, NPMJS, published="2025-01-28T23:59:59.999Z")
    for late in ("2025-01-29T00:00:00.000Z", "2026-01-01T00:00:00Z"):
        with pytest.raises(VerificationError, match="has expired") as caught:
            _verify(entry, NPMJS, published=late)
        assert caught.value.details["code"] == "EEXPIREDSIGNATUREKEY"
    # Keys from /-/npm/v1/keys with "expires": null never expire.
    _verify(entry, AUDIT_KEYS, published="2030-01-01T00:00:00Z")


def test_our_own_registry_key_round_trips() -> None:
    private = generate_ec()
    keyid = npm_key_id(private)
    message = registry_message("@scope/pkg", "1.2.3", "sha512-abc")
    assert message == b"@scope/pkg@1.2.3:sha512-abc"
    sig = base64.b64encode(private.sign(message, ec.ECDSA(hashes.SHA256()))).decode()
    keys = RegistryKeys.from_dict(
        {
            "keys": [
                {
                    "keyid": keyid,
                    "key": base64.b64encode(spki_der(private)).decode(),
                    "expires": None,
                }
            ]
        }
    )
    used = verify_registry_signatures(
        "@scope/pkg", "1.2.3", "sha512-abc", [{"keyid": keyid, "sig": sig}], keys
    )
    assert used == (RegistryKey(keyid, private.public_key(), None),)


@pytest.mark.parametrize(
    "document",
    [[], {"keys": "x"}, {"keys": [{"keyid": "a", "key": "!!"}]}, {"keys": [{"key": "AAAA"}]}],
)
def test_malformed_keys_are_config_errors(document: object) -> None:
    with pytest.raises(ConfigError):
        RegistryKeys.from_dict(document)


# --- attestations responses -------------------------------------------------------------------


def _check(response: Response, data: Any = None, **overrides: Any) -> Any:
    args: dict[str, Any] = {
        "name": response.name,
        "version": response.version,
        "integrity": response.integrity,
    }
    args.update(overrides)
    return verify_attestations(
        response.data if data is None else data,
        args["name"],
        args["version"],
        args["integrity"],
        verifier=VERIFIER,
        registry_keys=NPMJS,
    )


@pytest.mark.parametrize("response", VALID, ids=lambda r: r.ident)
def test_every_real_attestations_response_verifies(response: Response) -> None:
    result = _check(response)
    assert result.provenance is not None
    assert result.provenance.signer is not None
    assert result.publish is not None
    assert result.publish.signer is None
    keys = [a.registry_key for a in result.attestations if a.registry_key is not None]
    assert [k.keyid for k in keys] == ["SHA256:jl3bwswu80PjjokCgh0o2w5c2U4LhQAE57gj9cz1kzA"]


@pytest.mark.parametrize("response", NEGATIVE, ids=lambda r: r.ident)
def test_every_tampered_response_fails_naming_the_attestation(response: Response) -> None:
    publish = response.path.name.endswith("invalidsigpub.tgz.json")
    with pytest.raises(VerificationError, match="signature") as caught:
        _check(response)
    details = caught.value.details
    assert details["code"] == "EATTESTATIONVERIFY"
    assert details["failed_step"] == 19
    assert details["predicate_type"].endswith("/publish/v0.1") == publish


@pytest.mark.parametrize(
    "change",
    [
        {"name": "other-package"},
        {"version": "9.9.9"},
        {"integrity": "sha512-" + base64.b64encode(b"\x01" * 64).decode()},
    ],
    ids=["name", "version", "integrity"],
)
def test_a_different_package_or_tarball_fails_the_subject(change: dict[str, str]) -> None:
    with pytest.raises(VerificationError, match="subject") as caught:
        _check(VALID[0], **change)
    assert caught.value.details["code"] == "EATTESTATIONSUBJECT"


def test_a_sha1_only_integrity_is_refused() -> None:
    with pytest.raises(VerificationError, match="no sha512"):
        _check(VALID[0], integrity="sha1-" + base64.b64encode(b"\x01" * 20).decode())


def test_the_publish_key_must_be_known_and_unexpired() -> None:
    response = VALID[0]
    with pytest.raises(VerificationError, match="no corresponding public key") as caught:
        verify_attestations(
            response.data,
            response.name,
            response.version,
            response.integrity,
            verifier=VERIFIER,
            registry_keys=RegistryKeys(()),
        )
    assert caught.value.details["code"] == "EMISSINGSIGNATUREKEY"
    expired = RegistryKeys(
        tuple(
            RegistryKey(k.keyid, k.public_key, datetime(2023, 1, 1, tzinfo=UTC)) for k in NPMJS.keys
        )
    )
    with pytest.raises(VerificationError, match="expired") as caught:
        verify_attestations(
            response.data,
            response.name,
            response.version,
            response.integrity,
            verifier=VERIFIER,
            registry_keys=expired,
        )
    assert caught.value.details["code"] == "EEXPIREDSIGNATUREKEY"


def test_a_mismatched_key_hint_or_predicate_type_is_refused() -> None:
    response = VALID[0]
    data = copy.deepcopy(response.data)
    for attestation in data["attestations"]:
        material = attestation["bundle"]["verificationMaterial"]
        if "publicKey" in material:
            material["publicKey"]["hint"] = "SHA256:other"
    with pytest.raises(VerificationError, match="key hint"):
        _check(response, data)
    data = copy.deepcopy(response.data)
    data["attestations"][0]["predicateType"] = "https://slsa.dev/provenance/v9"
    with pytest.raises(VerificationError, match="predicate type"):
        _check(response, data)


@pytest.mark.parametrize(
    "document", [b"not json", {"attestations": []}, {"other": 1}, {"attestations": [1]}]
)
def test_malformed_responses_fail_closed(document: object) -> None:
    with pytest.raises(VerificationError):
        _check(VALID[0], document)


def test_the_provenance_policy_is_applied() -> None:
    response = next(r for r in VALID if r.name == "sigstore" and r.version == "1.0.0")
    digest = Digest.from_sri(response.integrity)
    good = NpmProvenancePolicy(
        "sigstore", "1.0.0", digest, repository="git+https://github.com/sigstore/sigstore-js.git"
    )
    result = verify_attestations(
        response.data,
        response.name,
        response.version,
        response.integrity,
        verifier=VERIFIER,
        registry_keys=NPMJS,
        provenance_policy=good,
    )
    assert result.provenance is not None
    with pytest.raises(VerificationError, match="repository"):
        verify_attestations(
            response.data,
            response.name,
            response.version,
            response.integrity,
            verifier=VERIFIER,
            registry_keys=NPMJS,
            provenance_policy=SourceRepository("https://github.com/evil/sigstore-js"),
        )
