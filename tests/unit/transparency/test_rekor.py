"""Rekor v1 entries: requests built by sigstore-python (and as @sigstore/sign builds them) accepted
with the bodies the clients expect, real public-good bodies reproduced byte for byte, refusals.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay.errors import EnvelopeError, FormatError, VerificationError
from assay.keys import verify_signature
from assay.provenance import dsse
from assay.transparency.merkle import leaf_hash
from assay.transparency.rekor import (
    MAX_ENTRY_BYTES,
    ProposedEntry,
    canonical_json,
    entry_uuid,
    set_payload,
)
from tests.npm_real import ROOT, attestation_files, attestations

IN_TOTO = "application/vnd.in-toto+json"
STATEMENT = json.dumps(
    {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "pkg:npm/demo@1.0.0", "digest": {"sha512": "ab" * 64}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {"buildDefinition": {"buildType": "x"}},
    },
    separators=(",", ":"),
).encode()

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


def make_cert(key: PrivateKey, name: str = "signer") -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(minutes=10))
    )
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(key, algorithm)


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


KEY = ec.generate_private_key(ec.SECP256R1())
CERT = make_cert(KEY)
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_CERT = make_cert(OTHER_KEY, "other")


# --- hashedrekord -----------------------------------------------------------------------------


def hashedrekord(
    digest: bytes,
    sig: bytes,
    key_pem: bytes,
    algorithm: str = "sha256",
) -> dict[str, Any]:
    return {
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": algorithm, "value": digest.hex()}},
            "signature": {"content": b64(sig), "publicKey": {"content": b64(key_pem)}},
        },
    }


def sign_digest(key: ec.EllipticCurvePrivateKey, digest: bytes) -> bytes:
    return key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))


DIGEST = hashlib.sha256(b"artifact").digest()
GOOD_HASHEDREKORD = hashedrekord(DIGEST, sign_digest(KEY, DIGEST), pem(CERT))


def test_hashedrekord_from_sigstore_python_request() -> None:
    import rekor_types
    from sigstore._internal.rekor import _hashedrekord_from_parts
    from sigstore._internal.rekor.client import RekorClient
    from sigstore.hashes import Hashed
    from sigstore_models.common.v1 import HashAlgorithm

    hashed = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=DIGEST)
    sig = sign_digest(KEY, DIGEST)
    request = RekorClient("http://log.invalid")._build_hashed_rekord_request(hashed, sig, CERT)
    entry = ProposedEntry.from_json(json.dumps(request))
    assert (entry.kind, entry.api_version) == ("hashedrekord", "0.0.1")
    # The canonical body is the request canonicalized (sigstore.md §3.2).
    assert entry.canonical_body == rfc8785.dumps(request)
    # sigstore-python's own consistency check (verification step 20) accepts the body.
    actual = rekor_types.Hashedrekord.model_validate_json(entry.canonical_body)
    assert actual == _hashedrekord_from_parts(CERT, sig, hashed)
    assert entry.digest == DIGEST
    assert entry.digest_algorithm == "sha256"
    assert entry.certificates == (CERT.public_bytes(serialization.Encoding.DER),)
    assert entry.signatures[0].signature == sig
    assert entry.uuid == hashlib.sha256(b"\x00" + entry.canonical_body).hexdigest()
    assert entry.leaf_hash == leaf_hash(entry.canonical_body)
    assert entry.payload is None


def test_hashedrekord_with_public_key_and_non_canonical_pem() -> None:
    spki = KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    sig = sign_digest(KEY, DIGEST)
    entry = ProposedEntry.from_json(json.dumps(hashedrekord(DIGEST, sig, spki)))
    assert entry.certificates == ()
    assert entry.signatures[0].verifier.pem == spki
    # CRLF line ends and surrounding whitespace: accepted, re-encoded canonically in the body
    # (rekor pki/x509 CanonicalValue).
    sloppy = b"\n  " + pem(CERT).replace(b"\n", b"\r\n")
    entry = ProposedEntry.from_json(json.dumps(hashedrekord(DIGEST, sig, sloppy)))
    body = json.loads(entry.canonical_body)
    assert base64.b64decode(body["spec"]["signature"]["publicKey"]["content"]) == pem(CERT)


@pytest.mark.parametrize("algorithm", ["sha384", "sha512"])
def test_hashedrekord_other_digests(algorithm: str) -> None:
    hash_cls = {"sha384": hashes.SHA384, "sha512": hashes.SHA512}[algorithm]
    digest = hashlib.new(algorithm, b"artifact").digest()
    sig = KEY.sign(digest, ec.ECDSA(Prehashed(hash_cls())))
    entry = ProposedEntry.from_json(json.dumps(hashedrekord(digest, sig, pem(CERT), algorithm)))
    assert entry.digest_algorithm == algorithm


def test_hashedrekord_rsa() -> None:
    from cryptography.hazmat.primitives.asymmetric import padding

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sig = key.sign(DIGEST, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    ProposedEntry.from_json(json.dumps(hashedrekord(DIGEST, sig, pem(make_cert(key)))))


def _mutated(request: dict[str, Any], path: str, value: Any) -> str:
    copy = json.loads(json.dumps(request))
    *parents, last = path.split(".")
    target = copy
    for part in parents:
        target = target[part]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return json.dumps(copy)


_DELETE = object()
OTHER_DIGEST = hashlib.sha256(b"other").digest()


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        ("spec.data.hash.value", OTHER_DIGEST.hex(), VerificationError),  # mismatched hash
        # ECDSA signatures are random: ids that are the same in every process (pytest-xdist).
        pytest.param(
            "spec.signature.content",
            b64(sign_digest(KEY, OTHER_DIGEST)),
            VerificationError,
            id="spec.signature.content-over-other-digest",
        ),
        pytest.param(
            "spec.signature.content",
            b64(sign_digest(OTHER_KEY, DIGEST)),
            VerificationError,
            id="spec.signature.content-by-other-key",
        ),
        ("spec.signature.content", b64(b"\x30\x00"), VerificationError),
        ("spec.signature.publicKey.content", b64(pem(OTHER_CERT)), VerificationError),
        ("spec.data.hash.value", DIGEST.hex().upper(), FormatError),
        ("spec.data.hash.value", DIGEST.hex()[:-2], FormatError),
        ("spec.data.hash.algorithm", "md5", FormatError),
        ("spec.data.hash.algorithm", "sha384", FormatError),  # wrong length for sha384
        ("spec.data.hash", _DELETE, FormatError),
        ("spec.data", _DELETE, FormatError),
        ("spec.signature", _DELETE, FormatError),
        ("spec.signature.content", "", FormatError),
        ("spec.signature.content", "not base64!", FormatError),
        ("spec.signature.content", 12, FormatError),
        ("spec.signature.publicKey.content", b64(b"garbage"), FormatError),
        ("spec.signature.publicKey.content", b64(pem(CERT) + pem(OTHER_CERT)), FormatError),
        ("spec.signature.publicKey.content", b64(pem(CERT))[:-1], FormatError),
        ("spec.signature.publicKey", "x", FormatError),
        ("spec", [], FormatError),
        ("spec", _DELETE, FormatError),
        ("kind", "rekord", FormatError),
        ("kind", "HashedRekord", FormatError),
        ("kind", None, FormatError),
        ("apiVersion", "0.0.2", FormatError),
        ("apiVersion", 1, FormatError),
    ],
)
def test_hashedrekord_refusals(path: str, value: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        ProposedEntry.from_json(_mutated(GOOD_HASHEDREKORD, path, value))


def test_hashedrekord_refuses_ed25519_and_weak_keys() -> None:
    ed = ed25519.Ed25519PrivateKey.generate()
    with pytest.raises(FormatError, match="Ed25519"):
        ProposedEntry.from_json(json.dumps(hashedrekord(DIGEST, b"x" * 64, pem(make_cert(ed)))))
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - on purpose
    with pytest.raises(FormatError, match="unsupported key"):
        ProposedEntry.from_json(json.dumps(hashedrekord(DIGEST, b"x", pem(make_cert(weak)))))
    k1 = ec.generate_private_key(ec.SECP256K1())
    with pytest.raises(FormatError, match="unsupported key"):
        ProposedEntry.from_json(json.dumps(hashedrekord(DIGEST, b"x", pem(make_cert(k1)))))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"null",
        b"[]",
        b"{",
        b'{"kind":"hashedrekord","apiVersion":"0.0.1","spec":{},"kind":"dsse"}',  # duplicate
        b'{"kind":"hashedrekord","apiVersion":"0.0.1","spec":NaN}',
        b"\xff\xfe",
        "{}",
        '{"apiVersion":"0.0.1","kind":"dsse"}',
    ],
)
def test_malformed_json(data: bytes | str) -> None:
    with pytest.raises(FormatError):
        ProposedEntry.from_json(data)


def test_oversized_request() -> None:
    request = dict(GOOD_HASHEDREKORD, padding="x" * MAX_ENTRY_BYTES)
    with pytest.raises(FormatError, match="larger than"):
        ProposedEntry.from_json(json.dumps(request))
    with pytest.raises(FormatError, match="larger than"):
        ProposedEntry.from_json(json.dumps(GOOD_HASHEDREKORD), max_bytes=100)
    huge_sig = _mutated(GOOD_HASHEDREKORD, "spec.signature.content", b64(b"x" * 20000))
    with pytest.raises(FormatError, match="too large"):
        ProposedEntry.from_json(huge_sig)
    with pytest.raises(FormatError):
        ProposedEntry.from_json(cast(Any, 12))


# --- dsse -------------------------------------------------------------------------------------


def dsse_request(envelope_json: str, *verifier_pems: bytes) -> dict[str, Any]:
    return {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "proposedContent": {
                "envelope": envelope_json,
                "verifiers": [b64(p) for p in verifier_pems],
            }
        },
    }


def test_dsse_from_sigstore_python_request() -> None:
    import rekor_types
    from sigstore._internal.rekor.client import RekorClient
    from sigstore.dsse import Statement, _sign
    from sigstore.verify.verifier import _validate_dsse_v001_entry_body

    envelope = _sign(KEY, Statement(STATEMENT))
    request = RekorClient("http://log.invalid")._build_dsse_request(envelope, CERT)
    entry = ProposedEntry.from_json(json.dumps(request))
    assert (entry.kind, entry.api_version) == ("dsse", "0.0.1")
    body = json.loads(entry.canonical_body)
    assert body["spec"]["envelopeHash"] == {
        "algorithm": "sha256",
        "value": hashlib.sha256(envelope.to_json().encode()).hexdigest(),
    }
    assert body["spec"]["payloadHash"]["value"] == hashlib.sha256(STATEMENT).hexdigest()
    assert entry.payload == STATEMENT
    assert entry.payload_type == IN_TOTO
    assert entry.digest == hashlib.sha256(STATEMENT).digest()
    rekor_types.Dsse.model_validate_json(entry.canonical_body)
    # sigstore-python's own body check (verification step 20), on a stand-in bundle.
    stand_in = SimpleNamespace(
        log_entry=SimpleNamespace(_inner=SimpleNamespace(canonicalized_body=entry.canonical_body)),
        _dsse_envelope=envelope,
        signing_certificate=CERT,
    )
    _validate_dsse_v001_entry_body(cast(Any, stand_in))
    # JCS, key order and all.
    assert entry.canonical_body == rfc8785.dumps(body)
    assert list(body) == ["apiVersion", "kind", "spec"]


def test_dsse_multiple_signatures_sorted_with_their_verifiers() -> None:
    one = dsse.sign(IN_TOTO, STATEMENT, KEY)
    two = dsse.sign(IN_TOTO, STATEMENT, OTHER_KEY)
    envelope = dsse.Envelope(STATEMENT, IN_TOTO, (*one.signatures, *two.signatures))
    request = dsse_request(envelope.to_json(), pem(OTHER_CERT), pem(CERT))
    entry = ProposedEntry.from_json(json.dumps(request))
    body = json.loads(entry.canonical_body)
    pairs = [(s["signature"], base64.b64decode(s["verifier"])) for s in body["spec"]["signatures"]]
    expected = sorted(
        [(b64(one.signatures[0].sig), pem(CERT)), (b64(two.signatures[0].sig), pem(OTHER_CERT))]
    )
    assert pairs == expected
    assert [s.signature for s in entry.signatures] == [base64.b64decode(sig) for sig, _ in expected]
    assert set(entry.certificates) == {
        c.public_bytes(serialization.Encoding.DER) for c in (CERT, OTHER_CERT)
    }


def test_dsse_envelope_hash_is_over_the_string_as_submitted() -> None:
    envelope = dsse.sign(IN_TOTO, STATEMENT, KEY)
    compact = envelope.to_json()
    spaced = json.dumps(json.loads(compact), indent=2)
    a = ProposedEntry.from_json(json.dumps(dsse_request(compact, pem(CERT))))
    b = ProposedEntry.from_json(json.dumps(dsse_request(spaced, pem(CERT))))
    body_a, body_b = json.loads(a.canonical_body), json.loads(b.canonical_body)
    assert body_a["spec"]["envelopeHash"]["value"] == hashlib.sha256(compact.encode()).hexdigest()
    assert body_b["spec"]["envelopeHash"]["value"] == hashlib.sha256(spaced.encode()).hexdigest()
    assert body_a["spec"]["signatures"] == body_b["spec"]["signatures"]
    assert a.uuid != b.uuid


def test_dsse_ed25519_and_rsa_verifiers() -> None:
    for key in (
        ed25519.Ed25519PrivateKey.generate(),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
    ):
        envelope = dsse.sign(IN_TOTO, STATEMENT, key)
        spki = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        entry = ProposedEntry.from_json(json.dumps(dsse_request(envelope.to_json(), spki)))
        assert entry.signatures[0].verifier.pem == spki


GOOD_ENVELOPE = dsse.sign(IN_TOTO, STATEMENT, KEY)


def _envelope_json(**changes: Any) -> str:
    document = json.loads(GOOD_ENVELOPE.to_json())
    document.update(changes)
    return json.dumps(document)


@pytest.mark.parametrize(
    ("request_", "error"),
    [
        (dsse_request(GOOD_ENVELOPE.to_json(), pem(OTHER_CERT)), VerificationError),  # wrong key
        (dsse_request(GOOD_ENVELOPE.to_json(), pem(CERT), pem(OTHER_CERT)), VerificationError),
        (dsse_request(_envelope_json(payload=b64(b"{}")), pem(CERT)), VerificationError),
        (dsse_request(_envelope_json(payloadType="text/plain"), pem(CERT)), VerificationError),
        (dsse_request(_envelope_json(signatures=[]), pem(CERT)), FormatError),
        (
            dsse_request(
                _envelope_json(signatures=[GOOD_ENVELOPE.signatures[0].to_dict()] * 2), pem(CERT)
            ),
            FormatError,
        ),
        (
            dsse_request(
                _envelope_json(
                    signatures=[
                        {"sig": b64(b"\x01" * 70).rstrip("="), "keyid": ""}  # unpadded
                    ]
                ),
                pem(CERT),
            ),
            FormatError,
        ),
        (dsse_request("not json", pem(CERT)), EnvelopeError),
        (dsse_request("[]", pem(CERT)), EnvelopeError),
        (dsse_request("", pem(CERT)), FormatError),
        (dsse_request(GOOD_ENVELOPE.to_json()), FormatError),  # no verifiers
        (dsse_request(GOOD_ENVELOPE.to_json(), b"not pem"), FormatError),
        (dsse_request(GOOD_ENVELOPE.to_json(), *[pem(CERT)] * 9), FormatError),  # too many
        (
            {
                **dsse_request(GOOD_ENVELOPE.to_json(), pem(CERT)),
                "spec": {
                    **dsse_request(GOOD_ENVELOPE.to_json(), pem(CERT))["spec"],
                    "payloadHash": {"algorithm": "sha256", "value": "00" * 32},
                },
            },
            FormatError,
        ),
        (
            {"apiVersion": "0.0.1", "kind": "dsse", "spec": {"envelopeHash": {}}},
            FormatError,
        ),
        ({**dsse_request(GOOD_ENVELOPE.to_json(), pem(CERT)), "apiVersion": "0.0.2"}, FormatError),
    ],
)
def test_dsse_refusals(request_: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        ProposedEntry.from_json(json.dumps(request_))


def test_dsse_real_npm_envelope_with_its_fulcio_certificate() -> None:
    """A real npm provenance envelope and its real Fulcio leaf, proposed as a dsse entry.

    The public-good bodies in our fixtures are all intoto 0.0.2, so there is no real dsse body to
    compare with; what the clients check of a dsse body (payloadHash, and signature + verifier)
    must match the bundle, and sigstore-python's check must accept it.
    """
    from sigstore.dsse import Envelope as SigstoreEnvelope
    from sigstore.verify.verifier import _validate_dsse_v001_entry_body

    path = ROOT / "slsa-verifier" / "provenance-npm-test-cli-v1-prega.tgz.json"
    for attestation in attestations(path):
        bundle = attestation["bundle"]
        material = bundle["verificationMaterial"]
        if "x509CertificateChain" not in material:
            continue
        leaf_der = base64.b64decode(material["x509CertificateChain"]["certificates"][0]["rawBytes"])
        leaf = x509.load_der_x509_certificate(leaf_der)
        envelope_json = json.dumps(bundle["dsseEnvelope"])
        entry = ProposedEntry.from_json(json.dumps(dsse_request(envelope_json, pem(leaf))))
        body = json.loads(entry.canonical_body)
        payload = base64.b64decode(bundle["dsseEnvelope"]["payload"])
        assert body["spec"]["payloadHash"]["value"] == hashlib.sha256(payload).hexdigest()
        assert body["spec"]["signatures"] == [
            {
                "signature": bundle["dsseEnvelope"]["signatures"][0]["sig"],
                "verifier": b64(pem(leaf)),
            }
        ]
        assert entry.certificates == (leaf_der,)
        stand_in = SimpleNamespace(
            log_entry=SimpleNamespace(
                _inner=SimpleNamespace(canonicalized_body=entry.canonical_body)
            ),
            _dsse_envelope=SigstoreEnvelope._from_json(envelope_json),
            signing_certificate=leaf,
        )
        _validate_dsse_v001_entry_body(cast(Any, stand_in))
        return
    raise AssertionError("no certificate-signed attestation in the fixture")


# --- intoto 0.0.2 -----------------------------------------------------------------------------


def intoto_request(
    envelope: dsse.Envelope, key_pem: bytes, *, hash_value: str | None = None
) -> dict[str, Any]:
    """The request @sigstore/sign (witness/tlog/entry.js toProposedIntotoEntry) sends."""
    signature = envelope.signatures[0]
    hashed: dict[str, Any] = {
        "payloadType": envelope.payload_type,
        "payload": b64(envelope.payload),
        "signatures": [{"sig": b64(signature.sig), "publicKey": key_pem.decode()}],
    }
    item: dict[str, Any] = {"sig": b64(b64(signature.sig).encode()), "publicKey": b64(key_pem)}
    if signature.keyid:
        hashed["signatures"][0]["keyid"] = signature.keyid
        item["keyid"] = signature.keyid
    return {
        "apiVersion": "0.0.2",
        "kind": "intoto",
        "spec": {
            "content": {
                "envelope": {
                    "payloadType": envelope.payload_type,
                    "payload": b64(b64(envelope.payload).encode()),
                    "signatures": [item],
                },
                "hash": {
                    "algorithm": "sha256",
                    "value": hash_value or hashlib.sha256(rfc8785.dumps(hashed)).hexdigest(),
                },
                "payloadHash": {
                    "algorithm": "sha256",
                    "value": hashlib.sha256(envelope.payload).hexdigest(),
                },
            }
        },
    }


def test_intoto_accepted_with_rekor_body() -> None:
    request = intoto_request(GOOD_ENVELOPE, pem(CERT))
    entry = ProposedEntry.from_json(json.dumps(request))
    assert (entry.kind, entry.api_version) == ("intoto", "0.0.2")
    content = request["spec"]["content"]
    signature = content["envelope"]["signatures"][0]
    assert json.loads(entry.canonical_body) == {
        "apiVersion": "0.0.2",
        "kind": "intoto",
        "spec": {
            "content": {
                "envelope": {
                    "payloadType": IN_TOTO,
                    # keyid "" is omitted (omitempty), payload is not kept.
                    "signatures": [{"publicKey": signature["publicKey"], "sig": signature["sig"]}],
                },
                "hash": content["hash"],
                "payloadHash": content["payloadHash"],
            }
        },
    }
    assert entry.payload == STATEMENT
    assert entry.certificates == (CERT.public_bytes(serialization.Encoding.DER),)
    # payloadHash is optional in the request; the log computes it.
    del content["payloadHash"]
    assert ProposedEntry.from_json(json.dumps(request)).canonical_body == entry.canonical_body


def test_intoto_keeps_a_non_empty_keyid() -> None:
    envelope = dsse.sign(IN_TOTO, STATEMENT, KEY, keyid="SHA256:abc")
    entry = ProposedEntry.from_json(json.dumps(intoto_request(envelope, pem(CERT))))
    body = json.loads(entry.canonical_body)
    assert body["spec"]["content"]["envelope"]["signatures"][0]["keyid"] == "SHA256:abc"


def _intoto_with(path: str, value: Any) -> str:
    return _mutated(intoto_request(GOOD_ENVELOPE, pem(CERT)), path, value)


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        (
            "spec.content.payloadHash",
            {"algorithm": "sha256", "value": "00" * 32},
            VerificationError,
        ),
        ("spec.content.envelope.payload", b64(b64(b"{}").encode()), VerificationError),
        ("spec.content.envelope.payloadType", "text/plain", VerificationError),
        (
            "spec.content.envelope.signatures",
            [
                {
                    "sig": b64(b64(GOOD_ENVELOPE.signatures[0].sig).encode()),
                    "publicKey": b64(pem(OTHER_CERT)),
                }
            ],
            VerificationError,
        ),
        ("spec.content.hash", _DELETE, FormatError),
        ("spec.content.hash", {"algorithm": "sha512", "value": "00" * 64}, FormatError),
        ("spec.content.payloadHash", "x", FormatError),
        ("spec.content.envelope.payload", _DELETE, FormatError),
        ("spec.content.envelope.payload", b64(b"!!not base64!!"), FormatError),
        ("spec.content.envelope.payload", b64("é".encode()), FormatError),
        ("spec.content.envelope.payloadType", "", FormatError),
        ("spec.content.envelope.signatures", [], FormatError),
        ("spec.content.envelope.signatures", ["x"], FormatError),
        ("spec.content.envelope.signatures", [{"sig": b64(b"AAAA"), "publicKey": 1}], FormatError),
        (
            "spec.content.envelope.signatures",
            [{"sig": b64(b""), "publicKey": b64(pem(CERT))}],
            FormatError,
        ),
        ("spec.content.envelope", "x", FormatError),
        ("spec.content", _DELETE, FormatError),
        ("apiVersion", "0.0.1", FormatError),  # intoto 0.0.1 is not accepted
    ],
)
def test_intoto_refusals(path: str, value: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        ProposedEntry.from_json(_intoto_with(path, value))


def test_intoto_keyid_must_be_a_string() -> None:
    request = intoto_request(GOOD_ENVELOPE, pem(CERT))
    request["spec"]["content"]["envelope"]["signatures"][0]["keyid"] = 5
    with pytest.raises(FormatError, match="keyid"):
        ProposedEntry.from_json(json.dumps(request))


def test_intoto_url_safe_inner_base64_is_decoded() -> None:
    request = intoto_request(GOOD_ENVELOPE, pem(CERT))
    item = request["spec"]["content"]["envelope"]["signatures"][0]
    urlsafe = base64.urlsafe_b64encode(GOOD_ENVELOPE.signatures[0].sig)
    item["sig"] = b64(urlsafe)
    entry = ProposedEntry.from_json(json.dumps(request))
    assert entry.signatures[0].signature == GOOD_ENVELOPE.signatures[0].sig


# --- the real public-good bodies ---------------------------------------------------------------


def _real_intoto_cases() -> list[tuple[str, Path, int]]:
    return [
        (f"{path.relative_to(ROOT)}[{i}]", path, i)
        for path in attestation_files()
        for i, attestation in enumerate(attestations(path))
        if attestation["bundle"]["verificationMaterial"]["tlogEntries"][0]["kindVersion"]["kind"]
        == "intoto"
    ]


REAL = _real_intoto_cases()


def _rebuild_intoto_request(bundle: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """The request the client sent, from the bundle's envelope plus what only the body keeps
    (the publicKey PEM and the client-computed hash)."""
    entry = bundle["verificationMaterial"]["tlogEntries"][0]
    body_bytes = base64.b64decode(entry["canonicalizedBody"])
    content = json.loads(body_bytes)["spec"]["content"]
    envelope = bundle["dsseEnvelope"]
    signatures = []
    for sig, kept in zip(envelope["signatures"], content["envelope"]["signatures"], strict=True):
        item = {"sig": b64(sig["sig"].encode()), "publicKey": kept["publicKey"]}
        if sig.get("keyid"):
            item["keyid"] = sig["keyid"]
        signatures.append(item)
    request = {
        "apiVersion": "0.0.2",
        "kind": "intoto",
        "spec": {
            "content": {
                "envelope": {
                    "payloadType": envelope["payloadType"],
                    "payload": b64(envelope["payload"].encode()),
                    "signatures": signatures,
                },
                "hash": content["hash"],
                "payloadHash": content["payloadHash"],
            }
        },
    }
    return request, body_bytes


@pytest.mark.parametrize(("ident", "path", "index"), REAL, ids=[ident for ident, _, _ in REAL])
def test_real_intoto_bodies_are_reproduced(ident: str, path: Path, index: int) -> None:
    bundle = attestations(path)[index]["bundle"]
    request, body = _rebuild_intoto_request(bundle)
    if "negative" in ident:
        # The slsa-verifier negatives alter one of the two bundles' payload or signature; the
        # altered one must not verify, the other one reproduces its body.
        try:
            entry = ProposedEntry.from_json(json.dumps(request))
        except VerificationError:
            return
    else:
        entry = ProposedEntry.from_json(json.dumps(request))
    assert entry.canonical_body == body
    assert entry.uuid == leaf_hash(body).hex() == entry_uuid(body)


def test_every_real_negative_has_an_altered_bundle() -> None:
    negatives = sorted({path for ident, path, _ in REAL if "negative" in ident})
    assert negatives
    for path in negatives:
        refused = 0
        for attestation in attestations(path):
            request, _ = _rebuild_intoto_request(attestation["bundle"])
            with contextlib.suppress(VerificationError):
                ProposedEntry.from_json(json.dumps(request))
                continue
            refused += 1
        assert refused >= 1, path


def test_sigstore_js_envelope_hash_scheme_matches_2024_bodies() -> None:
    """The ``hash`` is the client's: @sigstore/sign 2.x hashes JCS({payloadType, payload,
    signatures:[{sig, publicKey: PEM, keyid?}]}); the 2023 bundles (sigstore 1.0) hashed
    something else, and Rekor accepted both because it never checks it. So neither do we."""
    path = ROOT / "slsa-verifier" / "provenance-npm-test-cli-v1-prega.tgz.json"
    for attestation in attestations(path):
        bundle = attestation["bundle"]
        request, body = _rebuild_intoto_request(bundle)
        envelope = dsse.Envelope.from_json(json.dumps(bundle["dsseEnvelope"]))
        key_pem = base64.b64decode(
            request["spec"]["content"]["envelope"]["signatures"][0]["publicKey"]
        )
        rebuilt = intoto_request(envelope, key_pem)
        assert rebuilt["spec"]["content"]["hash"] == request["spec"]["content"]["hash"]
        assert ProposedEntry.from_json(json.dumps(rebuilt)).canonical_body == body


def test_real_signed_entry_timestamps_verify() -> None:
    trusted_root = ROOT / "public-good" / "sigstore-tuf-4.0.2" / "targets" / "trusted_root.json"
    tlogs = {t["logId"]["keyId"]: t for t in json.loads(trusted_root.read_text())["tlogs"]}
    checked = 0
    for ident, path, index in REAL:
        if "negative" in ident:
            continue
        entry = attestations(path)[index]["bundle"]["verificationMaterial"]["tlogEntries"][0]
        key = serialization.load_der_public_key(
            base64.b64decode(tlogs[entry["logId"]["keyId"]]["publicKey"]["rawBytes"])
        )
        assert isinstance(key, ec.EllipticCurvePublicKey)
        payload = set_payload(
            entry["canonicalizedBody"],
            int(entry["integratedTime"]),
            base64.b64decode(entry["logId"]["keyId"]).hex(),
            int(entry["logIndex"]),
        )
        sig = base64.b64decode(entry["inclusionPromise"]["signedEntryTimestamp"])
        verify_signature(key, sig, payload)
        with pytest.raises(VerificationError):
            verify_signature(key, sig, payload.replace(b'"logIndex":', b'"logIndex":1'))
        checked += 1
    assert checked >= 8


def test_set_payload_bytes() -> None:
    assert set_payload("Ym9keQ==", 1700000000, "ab" * 32, 7) == (
        b'{"body":"Ym9keQ==","integratedTime":1700000000,"logID":"'
        + b"ab" * 32
        + b'","logIndex":7}'
    )
    with pytest.raises(ValueError, match="log_index"):
        set_payload("", 0, "", -1)
    with pytest.raises(ValueError, match="integrated_time"):
        set_payload("", 2**53, "", 0)


# --- arbitrary input -------------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
_VALID = [
    GOOD_HASHEDREKORD,
    dsse_request(GOOD_ENVELOPE.to_json(), pem(CERT)),
    intoto_request(GOOD_ENVELOPE, pem(CERT)),
]


def _leaf_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths: list[tuple[Any, ...]] = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            paths.extend(_leaf_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            paths.extend(_leaf_paths(child, (*prefix, i)))
    return paths


def _only_our_errors(data: bytes | str) -> None:
    with contextlib.suppress(FormatError, VerificationError):
        ProposedEntry.from_json(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes(data: bytes) -> None:
    _only_our_errors(data)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["hashedrekord", "dsse", "intoto", "x"]),
    st.sampled_from(["0.0.1", "0.0.2"]),
    _JSON,
)
def test_arbitrary_specs(kind: str, version: str, spec: Any) -> None:
    _only_our_errors(json.dumps({"apiVersion": version, "kind": kind, "spec": spec}))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_valid_requests(data: st.DataObject) -> None:
    request = json.loads(json.dumps(data.draw(st.sampled_from(_VALID))))
    path = data.draw(st.sampled_from(_leaf_paths(request)[1:]))
    replacement = data.draw(_JSON)
    target = request
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = replacement
    _only_our_errors(json.dumps(request))


_JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.sampled_from(["", "a/b+c=", "\x7f", '"', "\\", "\u2028", "\U0001f600", "\ue000"])
)
_JSON = st.recursive(
    _JSON_LEAVES,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=6) | st.sampled_from(["\ue000", "\U0001f600"]), children)
    ),
    max_leaves=12,
)


@given(_JSON)
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_canonical_json_is_rfc8785_for_every_value(value: Any) -> None:
    """The fast path of canonical_json (json.dumps for plain ASCII values) writes exactly what
    the general RFC 8785 serializer writes, and refuses what it refuses."""
    try:
        expected: bytes | None = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        expected = None
    if expected is None:
        with pytest.raises(FormatError):
            canonical_json(value)
    else:
        assert canonical_json(value) == expected
