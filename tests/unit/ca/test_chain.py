"""The CA chain: what sigstore.md §1.5 requires, checked the way sigstore-python checks it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)
from sigstore._utils import cert_is_ca, cert_is_leaf, cert_is_root_ca

from assay.ca.chain import create_ca_chain
from assay.errors import ConfigError
from assay.keys import Curve, generate_ec, generate_ed25519
from tests.unit.ca.identities import CA_CREATED, GITHUB_CLAIMS, NOW, make_ca


def verify_like_sigstore_python(
    leaf: x509.Certificate,
    store: list[x509.Certificate],
    at: datetime,
    intermediates: list[x509.Certificate] | None = None,
) -> list[x509.Certificate]:
    """sigstore-python 4.5 ``Verifier._verify_chain_at_time``: webpki, EKU made optional."""
    ca_policy = ExtensionPolicy.webpki_defaults_ca().may_be_present(
        x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None
    )
    ee_policy = ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None
    )
    verifier = (
        PolicyBuilder()
        .store(Store(store))
        .time(at)
        .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy)
        .build_client_verifier()
    )
    return verifier.verify(leaf, intermediates or []).chain


@pytest.mark.parametrize("curve", ["P-384", "P-256"])
def test_chain_profile(curve: Curve) -> None:
    root_key, intermediate_key = generate_ec(curve), generate_ec(curve)
    root, intermediate = create_ca_chain(root_key, intermediate_key, "assay", CA_CREATED)

    assert root.subject == root.issuer
    assert root.subject.rfc4514_string() == "CN=assay,O=assay"
    assert intermediate.subject.rfc4514_string() == "CN=assay-intermediate,O=assay"
    assert intermediate.issuer == root.subject
    intermediate.verify_directly_issued_by(root)
    root.verify_directly_issued_by(root)
    expected_hash = "sha384" if curve == "P-384" else "sha256"
    for certificate, path_length in ((root, 1), (intermediate, 0)):
        assert certificate.version == x509.Version.v3
        assert certificate.signature_hash_algorithm is not None
        assert certificate.signature_hash_algorithm.name == expected_hash
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
        assert constraints.critical
        assert constraints.value == x509.BasicConstraints(ca=True, path_length=path_length)
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage)
        assert usage.critical
        assert usage.value.key_cert_sign
        assert usage.value.crl_sign
        assert not usage.value.digital_signature
        certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        assert certificate.not_valid_before_utc == CA_CREATED
        assert certificate.not_valid_after_utc == CA_CREATED + timedelta(days=3650)
        assert 0 < certificate.serial_number < 1 << 159
    eku = intermediate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert not eku.critical
    assert list(eku.value) == [ExtendedKeyUsageOID.CODE_SIGNING]
    aki = intermediate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    root_ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == root_ski.digest
    # sigstore-python's own predicates.
    assert cert_is_root_ca(root)
    assert cert_is_ca(intermediate)
    assert not cert_is_root_ca(intermediate)


@pytest.mark.parametrize("curve", ["P-384", "P-256"])
def test_leaf_chains_under_sigstore_pythons_policy(curve: Curve) -> None:
    ca = make_ca(curve=curve)
    leaf, intermediate, root = ca.authority.issue(
        GITHUB_CLAIMS, generate_ec().public_key(), GITHUB_CLAIMS["iss"]
    )
    assert cert_is_leaf(leaf)
    # As sigstore-python does: every certificate of the trusted root's chain in the store.
    chain = verify_like_sigstore_python(leaf, [intermediate, root], NOW)
    assert chain[0] == leaf
    assert chain[1] == intermediate
    # With only the root trusted, the intermediate as an untrusted intermediate.
    chain = verify_like_sigstore_python(leaf, [root], NOW + timedelta(minutes=9), [intermediate])
    assert chain == [leaf, intermediate, root]


def test_leaf_does_not_verify_outside_its_ten_minutes() -> None:
    ca = make_ca()
    leaf, intermediate, root = ca.authority.issue(
        GITHUB_CLAIMS, generate_ec().public_key(), GITHUB_CLAIMS["iss"]
    )
    for moment in (NOW - timedelta(seconds=5), NOW + timedelta(minutes=10, seconds=1)):
        with pytest.raises(VerificationError):
            verify_like_sigstore_python(leaf, [intermediate, root], moment)


def test_leaf_from_another_ca_does_not_verify() -> None:
    ours, theirs = make_ca(), make_ca()
    leaf = theirs.authority.issue(GITHUB_CLAIMS, generate_ec().public_key(), GITHUB_CLAIMS["iss"])[
        0
    ]
    with pytest.raises(VerificationError):
        verify_like_sigstore_python(leaf, [ours.intermediate, ours.root], NOW)


def test_refuses_keys_webpki_rejects() -> None:
    with pytest.raises(ConfigError, match="P-256 or P-384"):
        create_ca_chain(generate_ed25519(), generate_ec("P-384"), "assay", CA_CREATED)
    with pytest.raises(ConfigError, match="P-256 or P-384"):
        create_ca_chain(generate_ec("P-384"), generate_ed25519(), "assay", CA_CREATED)


def test_refuses_bad_parameters() -> None:
    key = generate_ec("P-384")
    with pytest.raises(ConfigError, match="timezone"):
        create_ca_chain(key, key, "assay", datetime(2024, 1, 1))
    with pytest.raises(ConfigError, match="organization"):
        create_ca_chain(key, key, "", CA_CREATED)
    with pytest.raises(ConfigError, match="one year"):
        create_ca_chain(key, key, "assay", CA_CREATED, years=0)


def test_times_are_normalized_to_utc_seconds() -> None:
    from datetime import timezone

    created = datetime(2024, 1, 1, 2, 0, 0, 999_999, tzinfo=timezone(timedelta(hours=2)))
    root, _ = create_ca_chain(generate_ec("P-384"), generate_ec("P-384"), "assay", created)
    assert root.not_valid_before_utc == datetime(2024, 1, 1, tzinfo=UTC)
