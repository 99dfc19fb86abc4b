"""Rekor v2 entry bodies: real hashedrekord 0.0.2 bodies from the conformance cases parse, and
their canonical form is byte for byte what the log recorded; malformed bodies are refused."""

from __future__ import annotations

import base64
import json

import pytest

from assay.errors import FormatError
from assay.transparency.rekor_v2 import (
    DsseV002,
    HashedRekordV002,
    V2Signature,
    V2Verifier,
    canonical_body,
    parse_entry_body,
)
from tests.conformance_cases import cases


def _v2_bodies() -> list[tuple[str, bytes]]:
    bodies = []
    for case in cases():
        try:
            entry = json.loads(case.bundle.read_bytes())["verificationMaterial"]["tlogEntries"][0]
        except (ValueError, KeyError, IndexError):
            continue
        kind = entry.get("kindVersion", {})
        if kind == {"kind": "hashedrekord", "version": "0.0.2"} and not case.must_fail:
            bodies.append((case.name, base64.b64decode(entry["canonicalizedBody"])))
    return bodies


BODIES = _v2_bodies()


def test_there_are_real_v2_bodies() -> None:
    assert len(BODIES) >= 10


@pytest.mark.parametrize(("name", "body"), BODIES, ids=[name for name, _ in BODIES])
def test_a_real_body_round_trips_canonically(name: str, body: bytes) -> None:
    entry = parse_entry_body(body)
    assert isinstance(entry, HashedRekordV002)
    assert entry.algorithm == "SHA2_256"
    assert entry.signature.verifier.x509_certificate is not None
    assert canonical_body(entry) == body


def test_a_dsse_body_round_trips() -> None:
    verifier = V2Verifier("PKIX_ECDSA_P256_SHA_256", public_key=b"\x30\x59key")
    entry = DsseV002("SHA2_256", b"\x01" * 32, (V2Signature(b"sig", verifier),))
    body = canonical_body(entry)
    assert body.startswith(b'{"apiVersion":"0.0.2","kind":"dsse","spec":{"dsseV002":')
    assert parse_entry_body(body) == entry


@pytest.mark.parametrize(
    "mutate",
    [
        lambda body: body.update(apiVersion="0.0.1"),
        lambda body: body.update(kind="intoto"),
        lambda body: body["spec"].update(extra=1),
        lambda body: body["spec"]["hashedRekordV002"]["data"].update(algorithm="MD5"),
        lambda body: body["spec"]["hashedRekordV002"]["data"].update(digest="AAAA"),
        lambda body: body["spec"]["hashedRekordV002"]["signature"].update(content="%%"),
        lambda body: body["spec"]["hashedRekordV002"]["signature"]["verifier"].update(
            publicKey={"rawBytes": "AAAA"}
        ),
        lambda body: body["spec"]["hashedRekordV002"]["signature"]["verifier"].pop("keyDetails"),
    ],
    ids=[
        "api-version",
        "kind",
        "unknown-field",
        "hash",
        "digest-size",
        "base64",
        "two-verifiers",
        "no-key-details",
    ],
)
def test_a_malformed_body_is_refused(mutate: object) -> None:
    body = json.loads(BODIES[0][1])
    mutate(body)  # type: ignore[operator]
    with pytest.raises(FormatError):
        parse_entry_body(json.dumps(body).encode())


def test_a_body_that_is_not_json_is_refused() -> None:
    with pytest.raises(FormatError, match="not JSON"):
        parse_entry_body(b"\xff")
