"""The CA's own certificates: a self-signed root and the intermediate that issues leaves.

What verifiers require of them (sigstore.md §1.5):

* both: BasicConstraints ``ca=True`` marked critical (cryptography's webpki CA policy, which
  sigstore-python's ``_verify_chain_at_time`` uses), KeyUsage keyCertSign + cRLSign marked
  critical, a SubjectKeyIdentifier;
* the intermediate: an AuthorityKeyIdentifier (sigstore-js builds paths AKI→SKI), EKU
  codeSigning (Fulcio's ``VerifyCertChain`` requires EKU chaining; the public-good
  intermediates carry it) and pathLen 0; the root: pathLen 1;
* signatures webpki allows: ECDSA P-256/SHA-256 or P-384/SHA-384 (RFC 5758 §3.2). Fulcio's
  public-good CA is P-384, as ours is by default.

The intermediate is valid for exactly the root's period, so it never outlives its issuer.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from assay.errors import ConfigError
from assay.keys import PrivateKey

# RFC 5758 §3.2 pairs each curve with its hash; webpki accepts exactly these two.
_CA_HASHES: dict[str, type[hashes.SHA256 | hashes.SHA384]] = {
    "secp256r1": hashes.SHA256,
    "secp384r1": hashes.SHA384,
}


def ca_signature_hash(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384:
    """The hash a CA key signs certificates with; refuses keys webpki verifiers reject."""
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name not in _CA_HASHES:
        raise ConfigError("CA keys must be ECDSA P-256 or P-384 (webpki signature algorithms)")
    return _CA_HASHES[key.curve.name]()


# A CA certificate signs certificates and CRLs, nothing else (RFC 5280 §4.2.1.3); critical.
CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)

# An end-entity certificate whose key signs (a Fulcio leaf, the TSA's signing certificate):
# digitalSignature only (RFC 5280 §4.2.1.3); critical.
SIGNING_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)


def self_signed_root(
    key: Any,
    name: x509.Name,
    *,
    path_length: int,
    not_before: datetime,
    not_after: datetime,
    algorithm: Any,
) -> x509.Certificate:
    """A self-signed CA certificate: basicConstraints CA with ``path_length``, the CA key
    usage, its subject key identifier (the roots of the CA and of the TSA)."""
    return (
        x509.CertificateBuilder()
        .serial_number(serial_number())
        .subject_name(name)
        .issuer_name(name)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .public_key(key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(CA_KEY_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, algorithm)
    )


def serial_number() -> int:
    """A random positive serial of at most 20 octets (RFC 5280 §4.1.2.2): 159 random bits."""
    return secrets.randbits(159) | 1


def create_ca_chain(
    root_key: PrivateKey,
    intermediate_key: PrivateKey,
    organization: str,
    now: datetime,
    years: int = 10,
) -> tuple[x509.Certificate, x509.Certificate]:
    """Create ``(root, intermediate)`` valid from ``now`` for ``years`` (365-day years).

    Subjects follow Fulcio's: ``O=<organization>, CN=<organization>`` for the root and
    ``O=<organization>, CN=<organization>-intermediate`` for the intermediate.
    """
    if now.tzinfo is None:
        raise ConfigError("the CA chain needs a timezone-aware creation time")
    if not organization:
        raise ConfigError("the CA needs an organization name for its certificate subjects")
    if years < 1:
        raise ConfigError("the CA chain must be valid for at least one year")
    root_hash = ca_signature_hash(root_key)
    ca_signature_hash(intermediate_key)
    not_before = now.astimezone(UTC).replace(microsecond=0)
    not_after = not_before + timedelta(days=365 * years)

    root_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, organization),
        ]
    )
    intermediate_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{organization}-intermediate"),
        ]
    )
    root_ski = x509.SubjectKeyIdentifier.from_public_key(root_key.public_key())

    root = self_signed_root(
        root_key,
        root_name,
        path_length=1,
        not_before=not_before,
        not_after=not_after,
        algorithm=root_hash,
    )
    intermediate = (
        x509.CertificateBuilder()
        .serial_number(serial_number())
        .subject_name(intermediate_name)
        .issuer_name(root_name)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .public_key(intermediate_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(CA_KEY_USAGE, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(intermediate_key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski),
            critical=False,
        )
        .sign(root_key, root_hash)
    )
    return root, intermediate
