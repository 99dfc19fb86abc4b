"""Rekor v2 ``dsse`` 0.0.2 entries, which no conformance case carries: the DSSE bundle of
``rekor2-dsse-happy-path`` (its certificate, envelope and real TSA timestamp) re-logged in a
two-leaf Rekor v2 log of our own with an Ed25519 checkpoint key, added to a copy of its root."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from assay.errors import VerificationError
from assay.keys import Signer, generate_ed25519, spki_der
from assay.provenance.bundle import Bundle
from assay.transparency.checkpoint import Checkpoint, sign_checkpoint
from assay.transparency.merkle import leaf_hash, node_hash
from assay.transparency.rekor_v2 import DsseV002, V2Signature, V2Verifier, canonical_body
from assay.verify import Identity, TrustedRoot, Verifier
from tests.conformance_cases import cases

SOURCE = next(case for case in cases() if case.name == "rekor2-dsse-happy-path")
LOG_NAME = "log.assay.test"
LOG_KEY = generate_ed25519()
_RAW = LOG_KEY.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
# C2SP signed-note Ed25519 key hash: its first four bytes are the note's key ID.
LOG_ID = hashlib.sha256(LOG_NAME.encode() + b"\n\x01" + _RAW).digest()


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _root() -> TrustedRoot:
    assert SOURCE.trusted_root is not None
    root = json.loads(SOURCE.trusted_root.read_bytes())
    root["tlogs"].append(
        {
            "baseUrl": f"https://{LOG_NAME}",
            "hashAlgorithm": "SHA2_256",
            "publicKey": {
                "rawBytes": _b64(spki_der(LOG_KEY)),
                "keyDetails": "PKIX_ED25519",
                "validFor": {"start": "2020-01-01T00:00:00Z"},
            },
            "logId": {"keyId": _b64(LOG_ID)},
        }
    )
    return TrustedRoot.from_dict(root)


VERIFIER = Verifier(_root())


def _bundle(change: Callable[[DsseV002], DsseV002] | None = None) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SOURCE.bundle.read_bytes())
    certificate = base64.b64decode(document["verificationMaterial"]["certificate"]["rawBytes"])
    envelope = document["dsseEnvelope"]
    entry = DsseV002(
        "SHA2_256",
        hashlib.sha256(base64.b64decode(envelope["payload"])).digest(),
        (
            V2Signature(
                base64.b64decode(envelope["signatures"][0]["sig"]),
                V2Verifier("PKIX_ECDSA_P256_SHA_256", x509_certificate=certificate),
            ),
        ),
    )
    body = canonical_body(change(entry) if change else entry)
    sibling = leaf_hash(b"another entry")
    root = node_hash(leaf_hash(body), sibling)
    note = sign_checkpoint(Checkpoint(LOG_NAME, 2, root), LOG_NAME, Signer(LOG_KEY))
    document["verificationMaterial"]["tlogEntries"] = [
        {
            "logIndex": "0",
            "logId": {"keyId": _b64(LOG_ID)},
            "kindVersion": {"kind": "dsse", "version": "0.0.2"},
            "inclusionProof": {
                "logIndex": "0",
                "rootHash": _b64(root),
                "treeSize": "2",
                "hashes": [_b64(sibling)],
                "checkpoint": {"envelope": note},
            },
            "canonicalizedBody": _b64(body),
        }
    ]
    return document


def _verify(document: dict[str, Any]) -> None:
    VERIFIER.verify(
        Bundle.from_dict(document),
        artifact=SOURCE.artifact.read_bytes(),
        policy=Identity(SOURCE.identity, SOURCE.issuer),
    )


def test_a_dsse_v2_entry_verifies() -> None:
    result = VERIFIER.verify(
        Bundle.from_dict(_bundle()),
        artifact=SOURCE.artifact.read_bytes(),
        policy=Identity(SOURCE.identity, SOURCE.issuer),
    )
    assert (result.kind, result.kind_version) == ("dsse", "0.0.2")
    assert result.integrated_time is None
    assert len(result.verified_times) == 1
    assert result.statement is not None


def _other_verifier(entry: DsseV002) -> DsseV002:
    signature = entry.signatures[0]
    verifier = V2Verifier("PKIX_ED25519", x509_certificate=signature.verifier.x509_certificate)
    return DsseV002(
        entry.payload_algorithm, entry.payload_hash, (V2Signature(signature.content, verifier),)
    )


@pytest.mark.parametrize(
    "change",
    [
        lambda entry: DsseV002(entry.payload_algorithm, b"\x00" * 32, entry.signatures),
        lambda entry: DsseV002(
            entry.payload_algorithm,
            entry.payload_hash,
            (V2Signature(b"other", entry.signatures[0].verifier),),
        ),
        lambda entry: DsseV002(entry.payload_algorithm, entry.payload_hash, entry.signatures * 2),
        _other_verifier,
    ],
    ids=["payload-hash", "signature", "two-signatures", "key-details"],
)
def test_a_body_that_says_something_else_is_refused(
    change: Callable[[DsseV002], DsseV002],
) -> None:
    with pytest.raises(VerificationError) as caught:
        _verify(_bundle(change))
    assert caught.value.details["step"] == 20


def test_a_dsse_v2_entry_without_a_timestamp_is_refused() -> None:
    document = _bundle()
    del document["verificationMaterial"]["timestampVerificationData"]
    with pytest.raises(VerificationError) as caught:
        _verify(document)
    assert caught.value.details["step"] == 6


def test_a_checkpoint_cosigned_by_an_unknown_witness_still_verifies() -> None:
    document = _bundle()
    proof = document["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
    witness = generate_ed25519()
    cosigned = sign_checkpoint(
        Checkpoint(LOG_NAME, 2, base64.b64decode(proof["rootHash"])),
        "witness.test",
        Signer(witness),
    )
    text, _, ours = proof["checkpoint"]["envelope"].partition("\n\n")
    proof["checkpoint"]["envelope"] = text + "\n\n" + cosigned.partition("\n\n")[2] + ours
    _verify(document)


def test_a_checkpoint_signed_by_the_wrong_key_is_refused() -> None:
    document = copy.deepcopy(_bundle())
    proof = document["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
    impostor = generate_ed25519()
    proof["checkpoint"]["envelope"] = sign_checkpoint(
        Checkpoint(LOG_NAME, 2, base64.b64decode(proof["rootHash"])), LOG_NAME, Signer(impostor)
    )
    with pytest.raises(VerificationError) as caught:
        _verify(document)
    assert caught.value.details["step"] == 16
