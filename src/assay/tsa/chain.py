"""The TSA's certificates: its own self-signed root and the leaf that signs timestamps.

What verifiers require (sigstore.md §3.4; RFC 3161 §2.3):

* the leaf: extendedKeyUsage with **only** id-kp-timeStamping, marked **critical** (RFC 3161
  §2.3; rfc3161-client refuses a non-critical EKU), keyUsage digitalSignature (critical), not a
  CA, an AuthorityKeyIdentifier naming the root;
* the root: BasicConstraints ``ca=True`` (critical), keyCertSign + cRLSign (critical);
* the trusted root lists them leaf first, root last (sigstore-python takes ``[0]`` as the TSA
  certificate and ``[-1]`` as the anchor; sigstore-js matches the token's signer against
  ``[0]`` by issuer and serial).

A root of its own, not the CA's: the CA's root vouches for code-signing identities and nothing
else, and a TSA key can be rotated without touching the CA.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from assay.ca.chain import (
    SIGNING_KEY_USAGE,
    ca_signature_hash,
    self_signed_root,
    serial_number,
)
from assay.errors import ConfigError


def create_tsa_chain(
    root_key: ec.EllipticCurvePrivateKey,
    signing_key: ec.EllipticCurvePrivateKey,
    organization: str,
    now: datetime,
    years: int = 10,
) -> tuple[x509.Certificate, x509.Certificate]:
    """``(leaf, root)``, both valid from ``now`` for ``years``; the leaf signs timestamps."""
    if now.tzinfo is None:
        raise ConfigError("the TSA chain needs a timezone-aware creation time")
    if not organization:
        raise ConfigError("the TSA needs an organization name for its certificate subjects")
    if not isinstance(signing_key.curve, ec.SECP256R1):
        raise ConfigError("the TSA signing key must be ECDSA P-256 (tokens are signed SHA-256)")
    root_hash = ca_signature_hash(root_key)
    not_before = now.astimezone(UTC).replace(microsecond=0)
    not_after = not_before + timedelta(days=365 * years)

    def name(common_name: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            ]
        )

    root_name = name(f"{organization}-tsa-root")
    root_ski = x509.SubjectKeyIdentifier.from_public_key(root_key.public_key())
    root = self_signed_root(
        root_key,
        root_name,
        path_length=0,
        not_before=not_before,
        not_after=not_after,
        algorithm=root_hash,
    )
    leaf = (
        x509.CertificateBuilder()
        .serial_number(serial_number())
        .subject_name(name(f"{organization}-tsa"))
        .issuer_name(root_name)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .public_key(signing_key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(SIGNING_KEY_USAGE, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(signing_key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski),
            critical=False,
        )
        .sign(root_key, root_hash)
    )
    return leaf, root
