"""The Fulcio profile: OID arc, extension encodings, the DER string codec, the signer identity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat import asn1
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID, ObjectIdentifier
from hypothesis import given
from hypothesis import strategies as st

from assay.errors import FormatError
from assay.keys import generate_ec
from assay.provenance.fulcio import (
    EXTENSION_NAMES,
    OID_BUILD_TRIGGER,
    OID_GITHUB_WORKFLOW_REF,
    OID_GITHUB_WORKFLOW_REPOSITORY,
    OID_GITHUB_WORKFLOW_TRIGGER,
    OID_ISSUER,
    OID_ISSUER_V2,
    OID_OTHER_NAME,
    OID_SOURCE_REPOSITORY_URI,
    RAW_OIDS,
    SIGSTORE_ARC,
    SignerIdentity,
    arc_number,
    decode_der_utf8_string,
    decode_extension_value,
    der_utf8_string,
    encode_extension_value,
    sigstore_extensions,
)
from tests.unit.ca.identities import real_fulcio_leaf


@pytest.mark.parametrize("length", [0, 1, 127, 128, 255, 256, 65535, 65536])
def test_der_utf8_string_lengths(length: int) -> None:
    value = "a" * length
    assert der_utf8_string(value) == asn1.encode_der(value)
    assert asn1.decode_der(str, der_utf8_string(value)) == value
    assert decode_der_utf8_string(der_utf8_string(value)) == value


@given(st.text(max_size=400))
def test_der_utf8_string_matches_cryptography_and_round_trips(value: str) -> None:
    assert der_utf8_string(value) == asn1.encode_der(value)
    assert decode_der_utf8_string(asn1.encode_der(value)) == value


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b"\x0c",
        b"\x13\x01a",  # PrintableString, not UTF8String
        b"\x0c\x02a",  # truncated
        b"\x0c\x01ab",  # trailing bytes
        b"\x0c\x80",  # indefinite length
        b"\x0c\x85\x00\x00\x00\x00\x01a",  # more length octets than we read
        b"\x0c\x01\xff",  # not UTF-8
    ],
)
def test_der_utf8_string_decoder_refuses(value: bytes) -> None:
    assert decode_der_utf8_string(value) is None


def test_the_arc_and_its_encodings() -> None:
    assert SIGSTORE_ARC == "1.3.6.1.4.1.57264.1"
    assert arc_number(OID_ISSUER) == 1
    assert arc_number(f"{SIGSTORE_ARC}.24") == 24
    assert arc_number(f"{SIGSTORE_ARC}.8.1") is None
    assert arc_number("1.3.6.1.4.1.57264.2.1") is None
    assert {arc_number(oid) for oid in RAW_OIDS} == set(range(1, 7))
    assert {arc_number(oid) for oid in EXTENSION_NAMES} == set(range(1, 25))
    # .1–.6 are raw UTF-8; from .8 on a DER UTF8String (sigstore.md §1.4).
    assert encode_extension_value(OID_ISSUER, "https://x") == b"https://x"
    assert encode_extension_value(OID_ISSUER_V2, "https://x") == b"\x0c\x09https://x"
    assert decode_extension_value(OID_ISSUER, b"https://x") == "https://x"
    assert decode_extension_value(OID_ISSUER, b"\xff") is None
    assert decode_extension_value(OID_ISSUER_V2, b"https://x") is None
    assert decode_extension_value(OID_ISSUER_V2, b"\x0c\x09https://x") == "https://x"


def test_signer_identity_of_a_real_fulcio_leaf() -> None:
    identity = SignerIdentity.from_certificate(real_fulcio_leaf())
    workflow = "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml"
    assert identity.sans == (f"{workflow}@refs/heads/main",)
    assert identity.san == identity.build_signer_uri == f"{workflow}@refs/heads/main"
    assert identity.issuer == "https://token.actions.githubusercontent.com"
    assert identity.issuers == (identity.issuer, identity.issuer)
    assert identity.source_repository_uri == "https://github.com/sigstore/sigstore-js"
    assert identity.source_repository_ref == "refs/heads/main"
    assert identity.build_trigger == "push"
    assert identity.extension(OID_SOURCE_REPOSITORY_URI) == identity.source_repository_uri
    assert identity.extension(OID_SOURCE_REPOSITORY_URI.dotted_string) == (
        identity.source_repository_uri
    )
    assert len(list(sigstore_extensions(real_fulcio_leaf()))) == len(identity.extensions) == 21


def _certificate(
    extensions: dict[ObjectIdentifier, bytes], san: x509.GeneralName | None = None
) -> x509.Certificate:
    key = generate_ec()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    now = datetime(2024, 5, 16, tzinfo=UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(minutes=10))
    )
    if san is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName([san]), critical=False)
    for oid, value in extensions.items():
        builder = builder.add_extension(x509.UnrecognizedExtension(oid, value), critical=False)
    return builder.sign(key, hashes.SHA256())


def test_legacy_extensions_stand_in_for_the_new_ones() -> None:
    """A 2022-era GitHub leaf: only .1.1–.1.6, so the fallbacks policies rely on apply."""
    identity = SignerIdentity.from_certificate(
        _certificate(
            {
                OID_ISSUER: b"https://token.actions.githubusercontent.com",
                OID_GITHUB_WORKFLOW_TRIGGER: b"release",
                OID_GITHUB_WORKFLOW_REPOSITORY: b"o/r",
                OID_GITHUB_WORKFLOW_REF: b"refs/tags/v1",
            },
            x509.UniformResourceIdentifier("https://github.com/o/r/.github/workflows/a.yml@v1"),
        )
    )
    assert identity.issuer == "https://token.actions.githubusercontent.com"
    assert identity.issuers == ("https://token.actions.githubusercontent.com",)
    assert identity.source_repository_uri == "https://github.com/o/r"
    assert identity.source_repository_ref == "refs/tags/v1"
    assert identity.build_trigger == "release"
    assert identity.build_signer_uri == "https://github.com/o/r/.github/workflows/a.yml@v1"


def test_misencoded_values_are_left_out_and_other_names_are_read() -> None:
    identity = SignerIdentity.from_certificate(
        _certificate(
            {
                OID_ISSUER_V2: b"https://issuer.example",  # raw where DER is required
                OID_BUILD_TRIGGER: der_utf8_string("push"),
            },
            x509.OtherName(OID_OTHER_NAME, der_utf8_string("user@realm")),
        )
    )
    assert identity.sans == ("user@realm",)
    assert identity.issuer is None
    assert identity.issuers == ()
    assert identity.build_trigger == "push"
    assert list(identity.extensions) == [OID_BUILD_TRIGGER.dotted_string]


class _UnparsableExtensions:
    """Stands in for a certificate whose extension list cryptography cannot parse (it refuses
    to build such a certificate, and parses extensions lazily)."""

    @property
    def extensions(self) -> x509.Extensions:
        raise ValueError("error parsing asn1 value")


def test_unparsable_extensions_are_a_format_error() -> None:
    certificate: x509.Certificate = _UnparsableExtensions()  # type: ignore[assignment]
    with pytest.raises(FormatError, match="malformed extensions"):
        list(sigstore_extensions(certificate))
    with pytest.raises(FormatError, match="malformed extensions"):
        SignerIdentity.from_certificate(certificate)
