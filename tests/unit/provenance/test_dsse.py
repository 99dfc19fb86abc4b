"""DSSE: PAE, envelopes that round-trip exactly, signing and verification, real npm signatures."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_der_public_key
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.errors import ConfigError, EnvelopeError, VerificationError
from assay.provenance import Bundle, Envelope
from assay.provenance.dsse import PrivateKey, PublicKey, Signature, pae, sign, verify
from tests.npm_real import ROOT

IN_TOTO = "application/vnd.in-toto+json"

# --- PAE ----------------------------------------------------------------------------------------


def test_pae_known_vector() -> None:
    # DSSE protocol.md, "Test Vectors".
    assert (
        pae("http://example.com/HelloWorld", b"hello world")
        == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_pae_counts_bytes_not_characters() -> None:
    assert pae("ü", b"") == b"DSSEv1 2 \xc3\xbc 0 "
    assert pae("", b"\x00 \x01") == b"DSSEv1 0  3 \x00 \x01"


def test_spec_test_vector_verifies() -> None:
    # protocol.md's envelope: ECDSA P-256/SHA-256 with a raw r||s signature (Cryptodome's
    # encoding); our envelopes carry DER, so the vector's signature is re-encoded as DER.
    text = (
        '{"payload": "aGVsbG8gd29ybGQ=", "payloadType": "http://example.com/HelloWorld", '
        '"signatures": [{"sig": "A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfU'
        'iHqJPcIAriEGAHTVeCUjW2JIZA=="}]}'
    )
    envelope = Envelope.from_json(text)
    assert envelope.to_dict() == json.loads(text)  # no "keyid" invented
    assert envelope.pae == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    key = ec.EllipticCurvePublicNumbers(
        46950820868899156662930047687818585632848591499744589407958293238635476079160,
        5640078356564379163099075877009565129882514886557779369047442380624545832820,
        ec.SECP256R1(),
    ).public_key()
    raw = envelope.signatures[0].sig
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    signed = dataclasses.replace(envelope, signatures=(Signature(sig=der),))
    assert verify(signed, key) == b"hello world"
    with pytest.raises(VerificationError):
        verify(envelope, key)  # the raw encoding is not DER


# --- signing and verification -------------------------------------------------------------------


def _keys() -> list[tuple[str, PrivateKey]]:
    return [
        ("P-256", ec.generate_private_key(ec.SECP256R1())),
        ("P-384", ec.generate_private_key(ec.SECP384R1())),
        ("P-521", ec.generate_private_key(ec.SECP521R1())),
        ("Ed25519", ed25519.Ed25519PrivateKey.generate()),
        ("RSA", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    ]


KEYS = _keys()


@pytest.mark.parametrize(("name", "key"), KEYS, ids=[name for name, _ in KEYS])
def test_sign_verify_round_trip(name: str, key: PrivateKey) -> None:
    payload = b'{"_type": "https://in-toto.io/Statement/v1"}'
    envelope = sign(IN_TOTO, payload, key, keyid="k1")
    assert envelope.payload == payload
    assert envelope.signatures[0].keyid == "k1"
    assert verify(envelope, key.public_key()) == payload
    # What is signed survives serialization.
    assert verify(Envelope.from_json(envelope.to_json()), key.public_key()) == payload


def test_ecdsa_signs_the_pae_itself_with_the_curve_hash() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    envelope = sign(IN_TOTO, b"x", key)
    key.public_key().verify(
        envelope.signatures[0].sig, pae(IN_TOTO, b"x"), ec.ECDSA(hashes.SHA384())
    )


@pytest.mark.parametrize(("name", "key"), KEYS, ids=[name for name, _ in KEYS])
def test_tampering_is_detected(name: str, key: PrivateKey) -> None:
    envelope = sign(IN_TOTO, b"payload", key)
    sig = envelope.signatures[0].sig
    tampered = [
        dataclasses.replace(envelope, payload=b"payloaD"),
        dataclasses.replace(envelope, payload_type="application/json"),
        dataclasses.replace(envelope, signatures=(Signature(sig=sig[:-1] + bytes([sig[-1] ^ 1])),)),
        dataclasses.replace(envelope, signatures=(Signature(sig=b""),)),
        dataclasses.replace(envelope, signatures=()),
    ]
    for bad in tampered:
        with pytest.raises(VerificationError):
            verify(bad, key.public_key())
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(VerificationError):
        verify(envelope, other.public_key())


def test_keyid_is_not_authenticated() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    envelope = sign(IN_TOTO, b"p", key, keyid="a")
    relabelled = dataclasses.replace(
        envelope, signatures=(Signature(sig=envelope.signatures[0].sig, keyid="b"),)
    )
    assert verify(relabelled, key.public_key()) == b"p"


def test_any_signature_by_the_key_suffices() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    other = ec.generate_private_key(ec.SECP256R1())
    mine = sign(IN_TOTO, b"p", key).signatures[0]
    theirs = sign(IN_TOTO, b"p", other).signatures[0]
    envelope = Envelope(payload=b"p", payload_type=IN_TOTO, signatures=(theirs, mine))
    assert verify(envelope, key.public_key()) == b"p"


def test_unsupported_keys() -> None:
    key = ec.generate_private_key(ec.SECP256K1())
    with pytest.raises(ConfigError):
        sign(IN_TOTO, b"p", key)
    envelope = sign(IN_TOTO, b"p", ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(VerificationError, match="unsupported"):
        verify(envelope, key.public_key())
    with pytest.raises(ConfigError):
        sign(IN_TOTO, b"p", "not a key")  # type: ignore[arg-type]
    with pytest.raises(VerificationError):
        verify(envelope, "not a key")  # type: ignore[arg-type]


# --- the JSON envelope --------------------------------------------------------------------------


def test_built_envelope_shape() -> None:
    envelope = Envelope(
        payload=b"hi", payload_type=IN_TOTO, signatures=(Signature(sig=b"\x01\x02"),)
    )
    # The shape npm's bundles have, "keyid": "" included.
    assert envelope.to_dict() == {
        "payload": "aGk=",
        "payloadType": IN_TOTO,
        "signatures": [{"sig": "AQI=", "keyid": ""}],
    }
    assert json.loads(envelope.to_json()) == envelope.to_dict()


@pytest.mark.parametrize(
    "value",
    [
        {"payload": "aGk=", "payloadType": "t", "signatures": [{"sig": "AQI=", "keyid": ""}]},
        {"payload": "aGk=", "payloadType": "t", "signatures": [{"sig": "AQI="}]},  # no keyid
        {"payload": "aGk=", "payloadType": "t", "signatures": [{"keyid": None, "sig": "AQI"}]},
        {"signatures": [{"sig": "-_8="}], "payloadType": "t", "payload": "aGk"},  # URL-safe, order
        {"payload": "", "payloadType": "", "signatures": []},  # "REQUIRED ... even if empty"
        {"payload": "aGk=", "payloadType": "t", "signatures": [], "ext": {"a": [1]}},
        {"payload": "aGk=", "payloadType": "t", "signatures": [{"sig": "", "x": 1}]},
    ],
)
def test_envelopes_round_trip_exactly(value: dict[str, Any]) -> None:
    envelope = Envelope.from_dict(value)
    assert envelope.to_dict() == value
    assert list(envelope.to_dict()) == list(value)
    assert Envelope.from_json(envelope.to_json()) == envelope


def test_keyid_unset_equals_empty() -> None:
    # envelope.md: "An unset field MUST be treated the same as set-but-empty."
    with_keyid = Envelope.from_dict(
        {"payload": "", "payloadType": "t", "signatures": [{"sig": "", "keyid": ""}]}
    )
    without = Envelope.from_dict({"payload": "", "payloadType": "t", "signatures": [{"sig": ""}]})
    assert with_keyid == without
    assert with_keyid.to_dict() != without.to_dict()


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"payloadType": "t", "signatures": []}, "payload"),
        ({"payload": None, "payloadType": "t", "signatures": []}, "payload"),
        ({"payload": "", "signatures": []}, "payloadType"),
        ({"payload": "", "payloadType": 1, "signatures": []}, "payloadType"),
        ({"payload": "", "payloadType": "t"}, "signatures"),
        ({"payload": "", "payloadType": "t", "signatures": {}}, "signatures"),
        ({"payload": "", "payloadType": "t", "signatures": ["sig"]}, "signatures[0]"),
        ({"payload": "", "payloadType": "t", "signatures": [{"keyid": "k"}]}, "signatures[0].sig"),
        (
            {"payload": "", "payloadType": "t", "signatures": [{"sig": "", "keyid": 5}]},
            "signatures[0].keyid",
        ),
        (
            {"payload": "", "payloadType": "t", "signatures": [{"sig": ""}, {"sig": "%"}]},
            "signatures[1].sig",
        ),
        ({"payload": "Q", "payloadType": "t", "signatures": []}, "payload"),
        ({"payload": "", "payloadType": "\udc80", "signatures": []}, "payloadType"),
    ],
)
def test_malformed_envelopes_name_the_field(value: dict[str, Any], field: str) -> None:
    with pytest.raises(EnvelopeError) as caught:
        Envelope.from_dict(value)
    assert caught.value.details["field"] == field
    assert str(caught.value).startswith(f"{field}: ")


@pytest.mark.parametrize("text", ["", "[]", "null", '{"payload": "", "payload": ""}', "{", b"\xff"])
def test_malformed_envelope_text(text: str | bytes) -> None:
    with pytest.raises(EnvelopeError):
        Envelope.from_json(text)


def test_direct_construction_checks_unicode() -> None:
    with pytest.raises(EnvelopeError):
        Envelope(payload=b"", payload_type="\udc80", signatures=())


# --- real npm signatures ------------------------------------------------------------------------

NPM_KEYS = ROOT / "public-good" / "sigstore-js-main" / "targets" / "registry.npmjs.org%2Fkeys.json"


def _npm_attestation_keys() -> dict[str, PublicKey]:
    data = json.loads(NPM_KEYS.read_text())
    keys: dict[str, PublicKey] = {}
    for entry in data["keys"]:
        if entry["keyUsage"] == "npm:attestations":
            key = load_der_public_key(base64.b64decode(entry["publicKey"]["rawBytes"]))
            assert isinstance(key, ec.EllipticCurvePublicKey)
            keys[entry["keyId"]] = key
    return keys


def _real_attestations() -> list[tuple[str, Path, int, str]]:
    cases = []
    for path in sorted(ROOT.rglob("*.tgz.json")) + sorted((ROOT / "npm-cli").glob("valid-*.json")):
        data = json.loads(path.read_text())
        for index, attestation in enumerate(data["attestations"]):
            ident = f"{path.relative_to(ROOT)}[{index}]"
            cases.append((ident, path, index, attestation["predicateType"]))
    return cases


REAL = _real_attestations()


def _key_for(bundle: Bundle) -> PublicKey:
    if bundle.public_key_hint is not None:
        return _npm_attestation_keys()[bundle.public_key_hint]
    leaf = bundle.leaf_certificate_der
    assert leaf is not None
    key = x509.load_der_x509_certificate(leaf).public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


@pytest.mark.parametrize(
    ("ident", "path", "index", "predicate_type"), REAL, ids=[c[0] for c in REAL]
)
def test_real_npm_dsse_signatures(ident: str, path: Path, index: int, predicate_type: str) -> None:
    """Provenance verifies with the leaf certificate's key, publish attestations with npm's key.

    In the negative/ files the provenance (``invalidsigprov``) or the publish (``invalidsigpub``)
    bundle was altered; exactly that one must fail.
    """
    bundle = Bundle.from_dict(json.loads(path.read_text())["attestations"][index]["bundle"])
    envelope = bundle.dsse_envelope
    assert envelope is not None
    is_provenance = "slsa.dev/provenance" in predicate_type
    altered = ("invalidsigprov" in path.name and is_provenance) or (
        "invalidsigpub" in path.name and not is_provenance
    )
    if altered:
        with pytest.raises(VerificationError):
            verify(envelope, _key_for(bundle))
    else:
        assert verify(envelope, _key_for(bundle)) == envelope.payload
        assert json.loads(envelope.payload)["predicateType"] == predicate_type


def test_real_v1_provenance_verifies_with_its_leaf_certificate() -> None:
    # The case the brief names: a v0.2 bundle from sigstore@2.3.1 (May 2024), SLSA v1.
    data = json.loads(
        (ROOT / "slsa-verifier" / "provenance-npm-test-cli-v1-prega.tgz.json").read_text()
    )
    (provenance,) = [a for a in data["attestations"] if "slsa.dev/provenance" in a["predicateType"]]
    bundle = Bundle.from_dict(provenance["bundle"])
    assert bundle.version == (0, 2)
    leaf = bundle.leaf_certificate_der
    assert leaf is not None
    assert bundle.dsse_envelope is not None
    key = x509.load_der_x509_certificate(leaf).public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    statement = json.loads(verify(bundle.dsse_envelope, key))
    assert statement["_type"] == "https://in-toto.io/Statement/v1"

    negative = (
        ROOT
        / "slsa-verifier"
        / "negative"
        / "provenance-npm-test-cli-v1-prega-invalidsigprov.tgz.json"
    )
    data = json.loads(negative.read_text())
    (provenance,) = [a for a in data["attestations"] if "slsa.dev/provenance" in a["predicateType"]]
    altered = Bundle.from_dict(provenance["bundle"])
    assert altered.dsse_envelope is not None
    with pytest.raises(VerificationError):
        verify(altered.dsse_envelope, key)


# --- properties ---------------------------------------------------------------------------------

TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)

signatures = st.builds(Signature, sig=st.binary(max_size=80), keyid=TEXT)
envelopes = st.builds(
    Envelope,
    payload=st.binary(max_size=200),
    payload_type=TEXT,
    signatures=st.lists(signatures, max_size=3).map(tuple),
)


@settings(max_examples=200, deadline=None)
@given(envelopes)
def test_envelope_json_round_trip(envelope: Envelope) -> None:
    assert Envelope.from_json(envelope.to_json()) == envelope
    assert Envelope.from_dict(envelope.to_dict()).to_dict() == envelope.to_dict()


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["payload", "payloadType", "signatures", "sig", "keyid", "x"]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(JSONISH)
def test_arbitrary_values_only_raise_envelope_errors(value: object) -> None:
    try:
        envelope = Envelope.from_dict(value)
    except EnvelopeError:
        return
    assert envelope.to_dict() == value


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200) | st.binary(max_size=200))
def test_arbitrary_text_only_raises_envelope_errors(text: str | bytes) -> None:
    try:
        envelope = Envelope.from_json(text)
    except EnvelopeError:
        return
    assert Envelope.from_json(envelope.to_json()) == envelope
