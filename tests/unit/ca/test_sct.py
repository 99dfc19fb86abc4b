"""Embedded SCTs: our verifier, sigstore-python's ``verify_sct``, and a real public-good SCT."""

from __future__ import annotations

import hashlib
import struct
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sigstore._internal.sct import verify_sct
from sigstore.errors import VerificationError as SigstoreVerificationError

from assay.ca.sct import SCT_LIST_OID, SignedCertificateTimestamp, sct_list_extension
from assay.errors import VerificationError
from assay.keys import generate_ec, key_id, spki_der
from assay.transparency.sct import digitally_signed, timestamp_ms, verify_embedded_sct
from tests.unit.ca.identities import (
    GITHUB_CLAIMS,
    NOW,
    TestCA,
    ct_keyring,
    make_ca,
    public_good_ct_keys,
    public_good_intermediate,
    real_fulcio_leaf,
)


def issue(ca: TestCA) -> list[x509.Certificate]:
    return ca.authority.issue(GITHUB_CLAIMS, generate_ec().public_key(), GITHUB_CLAIMS["iss"])


def test_our_sct_verifies_with_our_verifier_and_sigstore_python() -> None:
    ca = make_ca()
    leaf, intermediate, root = issue(ca)
    assert verify_embedded_sct(leaf, intermediate, ca.ct_key.public_key()) == NOW.replace(
        microsecond=345_000
    )
    verify_sct(leaf, [intermediate, root], ct_keyring(spki_der(ca.ct_key)))
    # sigstore-python also finds the key when the log id hint matches nothing else in the ring.
    verify_sct(leaf, [intermediate, root], ct_keyring(spki_der(generate_ec()), spki_der(ca.ct_key)))


def test_p256_ca_sct_verifies_too() -> None:
    ca = make_ca(curve="P-256")
    leaf, intermediate, root = issue(ca)
    verify_embedded_sct(leaf, intermediate, ca.ct_key.public_key())
    verify_sct(leaf, [intermediate, root], ct_keyring(spki_der(ca.ct_key)))


def test_sct_is_the_last_extension_and_its_bytes_follow_rfc_6962() -> None:
    ca = make_ca()
    leaf, intermediate, _ = issue(ca)
    last = leaf.extensions[-1]
    assert last.oid == SCT_LIST_OID
    assert not last.critical
    [sct] = list(
        leaf.extensions.get_extension_for_class(
            x509.PrecertificateSignedCertificateTimestamps
        ).value
    )
    assert sct.log_id == key_id(ca.ct_key)
    assert sct.timestamp.replace(tzinfo=UTC) == datetime(2024, 5, 16, 17, 12, 2, 345_000, UTC)
    assert sct.extension_bytes == b""
    # Re-encode from the parsed fields and find exactly those bytes, double-wrapped, in the DER.
    encoded = SignedCertificateTimestamp(
        log_id=sct.log_id, timestamp=timestamp_ms(NOW), signature=sct.signature
    ).encode()
    assert encoded[0] == 0
    assert encoded[41:43] == b"\x00\x00"
    assert encoded[43:45] == b"\x04\x03"
    sct_list = struct.pack("!H", len(encoded) + 2) + struct.pack("!H", len(encoded)) + encoded
    extension = sct_list_extension(
        [SignedCertificateTimestamp(sct.log_id, timestamp_ms(NOW), sct.signature)]
    )
    assert extension.value[0] == 0x04
    assert extension.value.endswith(sct_list)
    assert extension.value in leaf.public_bytes(serialization.Encoding.DER)
    # The signed struct is over the TBS without the SCT list (cryptography's precert TBS).
    issuer_key_hash = hashlib.sha256(spki_der(intermediate.public_key())).digest()  # type: ignore[arg-type]
    signed = digitally_signed(timestamp_ms(NOW), issuer_key_hash, leaf.tbs_precertificate_bytes)
    ca.ct_key.public_key().verify(sct.signature, signed, ec.ECDSA(sct.signature_hash_algorithm))


def test_real_public_good_sct_verifies_with_our_verifier() -> None:
    leaf = real_fulcio_leaf()
    intermediate = public_good_intermediate(leaf)
    keys = [serialization.load_der_public_key(spki) for spki in public_good_ct_keys()]
    logs = {key_id(key): key for key in keys if isinstance(key, ec.EllipticCurvePublicKey)}
    [sct] = list(
        leaf.extensions.get_extension_for_class(
            x509.PrecertificateSignedCertificateTimestamps
        ).value
    )
    moment = verify_embedded_sct(leaf, intermediate, logs[sct.log_id])
    assert moment.date().isoformat() == "2024-05-16"
    other = next(key for log_id, key in logs.items() if log_id != sct.log_id)
    with pytest.raises(VerificationError, match="another log"):
        verify_embedded_sct(leaf, intermediate, other)


def test_wrong_ct_key_fails_both_verifiers() -> None:
    ca = make_ca()
    leaf, intermediate, root = issue(ca)
    stranger = generate_ec()
    with pytest.raises(VerificationError, match="another log"):
        verify_embedded_sct(leaf, intermediate, stranger.public_key())
    with pytest.raises(SigstoreVerificationError):
        verify_sct(leaf, [intermediate, root], ct_keyring(spki_der(stranger)))


def test_wrong_issuer_fails_both_verifiers() -> None:
    """The issuer key hash binds the SCT to the intermediate that signed the leaf."""
    ca, other = make_ca(), make_ca()
    leaf, _, _ = issue(ca)
    with pytest.raises(VerificationError, match="does not verify"):
        verify_embedded_sct(leaf, other.intermediate, ca.ct_key.public_key())
    with pytest.raises(SigstoreVerificationError):
        verify_sct(leaf, [other.intermediate, other.root], ct_keyring(spki_der(ca.ct_key)))


def test_certificate_without_sct_or_non_ca_issuer() -> None:
    ca = make_ca()
    leaf, intermediate, root = issue(ca)
    with pytest.raises(VerificationError, match="no embedded SCT"):
        verify_embedded_sct(intermediate, root, ca.ct_key.public_key())
    with pytest.raises(VerificationError, match="not a CA"):
        verify_embedded_sct(leaf, leaf, ca.ct_key.public_key())


def test_timestamp_ms_is_exact() -> None:
    assert timestamp_ms(datetime(1970, 1, 1, 0, 0, 1, 999_999, UTC)) == 1999
    assert timestamp_ms(NOW) == 1715879522345
    with pytest.raises(ValueError, match="timezone"):
        timestamp_ms(datetime(2024, 1, 1))
