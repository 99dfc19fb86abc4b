"""The TSA in process: strict TimeStampReq parsing, and tokens rfc3161-client verifies."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime

import pytest
from rfc3161_client import TimestampRequestBuilder, VerifierBuilder, decode_timestamp_response
from rfc3161_client.base import HashAlgorithm

from assay.keys import generate_ec
from assay.provenance import der
from assay.sign.errors import SigningError
from assay.sign.timestamp import check_response, timestamp_request
from assay.tsa import TSAError
from assay.tsa.authority import TimestampAuthority
from assay.tsa.chain import create_tsa_chain
from assay.tsa.request import TimestampRequest

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
ROOT_KEY, KEY = generate_ec("P-384"), generate_ec("P-256")
LEAF, ROOT = create_tsa_chain(ROOT_KEY, KEY, "test", NOW)
TSA = TimestampAuthority(KEY, (LEAF, ROOT), clock=lambda: NOW.timestamp() + 0.75)


def verifier() -> object:
    return VerifierBuilder().tsa_certificate(LEAF).add_root_certificate(ROOT).build()


@pytest.mark.parametrize("algorithm", [HashAlgorithm.SHA256, HashAlgorithm.SHA512])
@pytest.mark.parametrize("nonce", [True, False])
def test_rfc3161_client_verifies_our_tokens(algorithm: HashAlgorithm, nonce: bool) -> None:
    message = b"signature bytes"
    request = TimestampRequestBuilder().hash_algorithm(algorithm).data(message)
    built = request.nonce(nonce=nonce).build()
    response = decode_timestamp_response(TSA.timestamp(TimestampRequest.from_der(built.as_bytes())))
    assert response.status == 0
    assert response.tst_info.gen_time == NOW.replace(microsecond=0)
    assert response.tst_info.policy.dotted_string == "1.3.6.1.4.1.57264.2"
    if nonce:
        assert response.tst_info.nonce == built.nonce
    assert (
        VerifierBuilder()
        .tsa_certificate(LEAF)
        .add_root_certificate(ROOT)
        .build()
        .verify_message(response, message)
    )


def test_cert_req_false_leaves_the_certificate_out() -> None:
    built = TimestampRequestBuilder().data(b"m").cert_request(cert_request=False).build()
    response = decode_timestamp_response(TSA.timestamp(TimestampRequest.from_der(built.as_bytes())))
    assert not response.signed_data.certificates


def _imprint(oid: str, digest: bytes, params: bytes | None = None) -> bytes:
    return der.sequence(der.algorithm_identifier(oid, parameters=params), der.octet_string(digest))


SHA256 = "2.16.840.1.101.3.4.2.1"


@pytest.mark.parametrize(
    ("request_der", "message"),
    [
        (b"", "malformed"),
        (der.sequence(der.integer(2), _imprint(SHA256, b"\0" * 32)), "version"),
        (der.sequence(der.integer(1), _imprint(SHA256, b"\0" * 31)), "incorrect length"),
        (der.sequence(der.integer(1), _imprint("1.3.14.3.2.26", b"\0" * 20)), "Weak"),
        (der.sequence(der.integer(1), _imprint("1.2.840.113549.2.5", b"\0" * 16)), "unsupported"),
        (der.sequence(der.integer(1), _imprint(SHA256, b"\0" * 32, der.integer(0))), "parameters"),
        (der.sequence(der.integer(1), _imprint(SHA256, b"\0" * 32), der.boolean(False)), "default"),
        (der.sequence(der.integer(1), _imprint(SHA256, b"\0" * 32), der.integer(-1)), "nonce"),
        (
            der.sequence(der.integer(1), _imprint(SHA256, b"\0" * 32), der.tlv(0xA0, b"")),
            "extension",
        ),
        (der.sequence(der.integer(1), _imprint(SHA256, b"\0" * 32)) + b"\0", "trailing"),
        (bytes.fromhex("3081") + b"\x05" + bytes.fromhex("0201010000"), "minimally"),
        (
            der.sequence(der.tlv(der.INTEGER, b"\0\1"), _imprint(SHA256, b"\0" * 32)),
            "INTEGER is not minimally",
        ),
    ],
)
def test_bad_requests_are_refused(request_der: bytes, message: str) -> None:
    with pytest.raises(TSAError, match=message):
        TimestampRequest.from_der(request_der)


def test_a_foreign_policy_is_refused() -> None:
    request = der.sequence(der.integer(1), _imprint(SHA256, b"\0" * 32), der.oid("1.2.3.4"))
    with pytest.raises(TSAError, match="unaccepted policy"):
        TSA.timestamp(TimestampRequest.from_der(request))


def test_json_requests() -> None:
    digest = hashlib.sha384(b"m").digest()
    body = {"artifactHash": base64.b64encode(digest).decode(), "hashAlgorithm": "sha384"}
    parsed = TimestampRequest.from_json(json.dumps({**body, "nonce": 7}).encode())
    assert (parsed.hash_name, parsed.digest, parsed.nonce) == ("sha384", digest, 7)
    bad: object
    for bad in ({**body, "hashAlgorithm": "sha1"}, {**body, "artifactHash": "!!"}, {}, []):
        with pytest.raises(TSAError):
            TimestampRequest.from_json(json.dumps(bad).encode())


def test_the_signers_client_checks_imprint_and_nonce() -> None:
    request, imprint = timestamp_request(b"sig", 42)
    reply = TSA.timestamp(TimestampRequest.from_der(request))
    check_response(reply, imprint, 42)
    with pytest.raises(SigningError, match="nonce"):
        check_response(reply, imprint, 43)
    _, other = timestamp_request(b"other", 42)
    with pytest.raises(SigningError, match="another digest"):
        check_response(reply, other, 42)
    with pytest.raises(SigningError, match="not a TimeStampResp"):
        check_response(b"\x30\x00", imprint, 42)


def test_der_round_trips() -> None:
    for value in (0, 1, 127, 128, 255, 256, -1, -128, -129, 2**159 + 3):
        assert der.read_single(der.integer(value)).as_integer() == value
    for dotted in ("1.2.840.113549.1.9.16.1.4", "2.16.840.1.101.3.4.2.1", "1.3.6.1.4.1.57264.2"):
        assert der.read_single(der.oid(dotted)).as_oid() == dotted
    assert verifier() is not None
