"""The certificate authority: proof of possession, then a short-lived leaf with an embedded SCT.

Mirrors Fulcio's ``CreateSigningCertificate`` (fulcio pkg/server/grpc_server.go; sigstore.md
§1.1): find the token (``credentials.oidcIdentityToken`` first, then the bearer header),
authenticate it, check proof of possession of the key (a CSR's own signature, or a signature
over the challenge), then issue the leaf of sigstore.md §1.3 signed by the intermediate, with
the SCT of §2.1 as its last extension. Nothing is issued unless every step passed.

The token's signature, audience and lifetime are checked by a :class:`TokenVerifier` (the OIDC
package's validator); the CA only maps the verified claims (:mod:`assay.ca.extensions`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from assay.ca import CAError, CAFault, CAPermissionDenied, CAUnauthenticated
from assay.ca.chain import SIGNING_KEY_USAGE, ca_signature_hash, serial_number
from assay.ca.extensions import IssuerProfile, map_identity
from assay.ca.sct import sign_with_embedded_sct
from assay.errors import AssayError, ConfigError
from assay.keys import PrivateKey, PublicKey, spki_der

LEAF_LIFETIME = timedelta(minutes=10)  # fulcio pkg/ca/common.go MakeX509
_LEAF_CURVES = frozenset({"secp256r1", "secp384r1"})


class TokenVerifier(Protocol):
    """Validates an OIDC identity token; returns its claims or raises an AssayError.

    It checks the signature (issuer JWKS), ``iss`` (a known issuer), ``aud == "sigstore"`` and
    ``exp``/``nbf``/``iat`` (sigstore.md §1.2).
    """

    def __call__(self, token: str, /) -> Mapping[str, Any]: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


# --- proof of possession ------------------------------------------------------------------------


def check_leaf_key(public: object) -> PublicKey:
    """Accept ECDSA P-256/P-384 and Ed25519 keys; refuse RSA and every other curve.

    Stricter than sigstore's ``cryptoutils.ValidatePubKey`` (which allows RSA ≥ 2048 and P-521):
    the clients we serve generate P-256 keys, and our verifier supports no more than this.
    """
    if isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name in _LEAF_CURVES:
        return public
    if isinstance(public, ed25519.Ed25519PublicKey):
        return public
    if isinstance(public, rsa.RSAPublicKey):
        raise CAError(f"RSA keys ({public.key_size} bits) are not accepted; use ECDSA P-256")
    if isinstance(public, ec.EllipticCurvePublicKey):
        raise CAError(f"the curve {public.curve.name} is not accepted; use ECDSA P-256")
    raise CAError("the public key type is not accepted; use ECDSA P-256")


def challenge(claims: Mapping[str, Any]) -> str:
    """The string a proof of possession signs: ``email`` if the token has one, else ``sub``.

    This is what sigstore-js signs (@sigstore/sign util/oidc.js), and it requires
    ``email_verified`` then. Fulcio uses ``principal.Name()``, which is the same for email
    issuers and for CI tokens (which carry no email).
    """
    email = claims.get("email")
    if email is not None:
        if not isinstance(email, str) or not email:
            raise CAError("identity token claim 'email' must be a non-empty string")
        if claims.get("email_verified") is not True:
            raise CAPermissionDenied("the identity token's email is not verified")
        return email
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise CAError("identity token has no 'sub' claim to prove possession over")
    return subject


@dataclass(frozen=True, slots=True)
class CSRRequest:
    """``certificateSigningRequest``: PEM PKCS#10 whose own signature proves possession."""

    csr_pem: bytes

    def public_key(self, claims: Mapping[str, Any]) -> PublicKey:
        """Parse the CSR, check its key and its signature (``csr.CheckSignature()``).

        Its subject and extensions are ignored, as Fulcio ignores them.
        """
        del claims  # the CSR signature covers the CSR itself, not a challenge
        try:
            csr = x509.load_pem_x509_csr(self.csr_pem)
            public = csr.public_key()
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise CAError("The certificate signing request could not be parsed") from exc
        key = check_leaf_key(public)
        try:
            valid = csr.is_signature_valid
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise CAError("The certificate signing request could not be parsed") from exc
        if not valid:
            raise CAError("The signature supplied in the request could not be verified")
        return key


@dataclass(frozen=True, slots=True)
class PublicKeyRequest:
    """``publicKeyRequest``: a public key (PEM or DER SPKI) and a signature over the challenge."""

    public_key_bytes: bytes
    proof_of_possession: bytes

    def public_key(self, claims: Mapping[str, Any]) -> PublicKey:
        """Parse the key and verify ``proofOfPossession`` over the UTF-8 :func:`challenge`.

        ECDSA signatures are DER over SHA-256 of the message, whatever the curve
        (fulcio challenges.CheckSignature loads its verifier with crypto.SHA256); Ed25519 is pure.
        """
        try:
            if self.public_key_bytes.lstrip().startswith(b"-----BEGIN"):
                public = serialization.load_pem_public_key(self.public_key_bytes)
            else:
                public = serialization.load_der_public_key(self.public_key_bytes)
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise CAError("The public key supplied in the request could not be parsed") from exc
        key = check_leaf_key(public)
        message = challenge(claims).encode("utf-8")
        try:
            if isinstance(key, ed25519.Ed25519PublicKey):
                key.verify(self.proof_of_possession, message)
            else:
                key.verify(self.proof_of_possession, message, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError) as exc:
            raise CAError("The signature supplied in the request could not be verified") from exc
        return key


@dataclass(frozen=True, slots=True)
class SigningRequest:
    """A parsed ``CreateSigningCertificateRequest`` in its proto3 JSON form (sigstore.md §1.1)."""

    token: str | None
    key_request: CSRRequest | PublicKeyRequest

    @classmethod
    def from_json(cls, body: bytes) -> SigningRequest:
        """Parse either request shape; the token may be absent (then the bearer header counts).

        proto3 JSON: ``bytes`` fields are base64 (standard or URL-safe, padding optional);
        unknown fields are ignored, as grpc-gateway does.
        """
        try:
            document = json.loads(body, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            raise CAError("request body is not valid JSON") from exc
        if not isinstance(document, dict):
            raise CAError("request body must be a JSON object")

        token: str | None = None
        credentials = document.get("credentials")
        if credentials is not None:
            if not isinstance(credentials, dict):
                raise CAError("'credentials' must be an object")
            value = credentials.get("oidcIdentityToken")
            if value is not None and not isinstance(value, str):
                raise CAError("'credentials.oidcIdentityToken' must be a string")
            token = value or None

        csr = _bytes_field(document, "certificateSigningRequest")
        if csr:
            return cls(token=token, key_request=CSRRequest(csr))

        request = document.get("publicKeyRequest")
        if not isinstance(request, dict):
            raise CAError("request has neither 'certificateSigningRequest' nor 'publicKeyRequest'")
        public_key = request.get("publicKey")
        if not isinstance(public_key, dict):
            raise CAError("'publicKeyRequest.publicKey' must be an object")
        content = public_key.get("content")
        if not isinstance(content, str) or not content:
            raise CAError("'publicKeyRequest.publicKey.content' must be a non-empty string")
        proof = _bytes_field(request, "proofOfPossession")
        if not proof:
            raise CAError("'publicKeyRequest.proofOfPossession' is missing")
        return cls(
            token=token,
            key_request=PublicKeyRequest(_key_content(content), proof),
        )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _b64decode(value: str) -> bytes:
    """proto3 JSON ``bytes``: standard or URL-safe base64, with or without padding."""
    text = value.strip().replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    return base64.b64decode(text, validate=True)


def _bytes_field(document: Mapping[str, Any], name: str) -> bytes:
    value = document.get(name)
    if value is None:
        return b""
    if not isinstance(value, str):
        raise CAError(f"'{name}' must be a base64 string")
    try:
        return _b64decode(value)
    except (binascii.Error, ValueError) as exc:
        raise CAError(f"'{name}' is not valid base64") from exc


def _key_content(content: str) -> bytes:
    """``publicKey.content``: PEM text, or (since a JSON string cannot carry raw DER) base64 DER."""
    if content.lstrip().startswith("-----BEGIN"):
        return content.encode("utf-8")
    try:
        return _b64decode(content)
    except (binascii.Error, ValueError) as exc:
        raise CAError("The public key supplied in the request could not be parsed") from exc


# --- the authority ------------------------------------------------------------------------------


class CertificateAuthority:
    """Issues Fulcio-profile leaves from ``intermediate`` for the configured issuers.

    Built once from loaded key material; the constructor refuses an inconsistent chain
    (intermediate not issued by the root, key not the intermediate's) so a running CA is valid.
    """

    __slots__ = ("_clock", "_ct_key", "_intermediate", "_intermediate_key", "_profiles", "_root")

    def __init__(  # noqa: PLR0917 - the documented positional signature
        self,
        root: x509.Certificate,
        intermediate: x509.Certificate,
        intermediate_key: PrivateKey,
        ct_key: ec.EllipticCurvePrivateKey,
        profiles: Iterable[IssuerProfile],
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        ca_signature_hash(intermediate_key)
        if spki_der(intermediate_key) != spki_der(_ca_public_key(intermediate)):
            raise ConfigError(
                "the intermediate key does not belong to the intermediate certificate"
            )
        try:
            intermediate.verify_directly_issued_by(root)
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise ConfigError("the intermediate certificate is not issued by the root") from exc
        if not isinstance(ct_key, ec.EllipticCurvePrivateKey) or ct_key.curve.name != "secp256r1":
            raise ConfigError("the CT key must be ECDSA P-256")
        indexed: dict[str, IssuerProfile] = {}
        for profile in profiles:
            if profile.issuer_url in indexed:
                raise ConfigError(f"issuer {profile.issuer_url} is configured twice")
            indexed[profile.issuer_url] = profile
        self._root = root
        self._intermediate = intermediate
        self._intermediate_key = intermediate_key
        self._ct_key = ct_key
        self._profiles: Mapping[str, IssuerProfile] = indexed
        self._clock = clock

    @property
    def root(self) -> x509.Certificate:
        return self._root

    @property
    def intermediate(self) -> x509.Certificate:
        return self._intermediate

    @property
    def profiles(self) -> tuple[IssuerProfile, ...]:
        return tuple(self._profiles.values())

    def trust_bundle(self) -> list[list[x509.Certificate]]:
        """Fulcio ``GetTrustBundle``: each chain from issuing intermediate up to its root."""
        return [[self._intermediate, self._root]]

    def profile(self, issuer_url: str) -> IssuerProfile:
        """The profile of ``issuer_url``; an issuer the CA does not serve is a 401."""
        try:
            return self._profiles[issuer_url]
        except KeyError:
            raise CAUnauthenticated(
                f"the CA does not issue certificates for tokens from {issuer_url!r}",
                issuer=issuer_url,
            ) from None

    def issue(
        self, claims: Mapping[str, Any], public_key: PublicKey, issuer_url: str
    ) -> list[x509.Certificate]:
        """Issue ``[leaf, intermediate, root]`` for verified ``claims`` and a proven key.

        The leaf (sigstore.md §1.3): v3, random 20-octet positive serial, empty subject,
        10-minute validity from now, KeyUsage digitalSignature (critical), EKU codeSigning,
        SKI, AKI, the SAN (critical: the subject is empty, RFC 5280 §4.2.1.6), the Sigstore
        extensions and, last, the embedded SCT.
        """
        identity = map_identity(self.profile(issuer_url), claims)
        key = check_leaf_key(public_key)
        now = self._clock()
        if now.tzinfo is None:
            raise CAFault("the CA clock must be timezone-aware")
        not_before = now.astimezone(UTC).replace(microsecond=0)
        issuer_ski = self._intermediate.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier
        ).value
        builder = (
            x509.CertificateBuilder()
            .serial_number(serial_number())
            .subject_name(x509.Name([]))
            .issuer_name(self._intermediate.subject)
            .not_valid_before(not_before)
            .not_valid_after(not_before + LEAF_LIFETIME)
            .public_key(key)
            .add_extension(SIGNING_KEY_USAGE, critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski),
                critical=False,
            )
            .add_extension(x509.SubjectAlternativeName([identity.san]), critical=True)
        )
        for extension in identity.extensions:
            builder = builder.add_extension(extension, critical=False)
        leaf = sign_with_embedded_sct(
            builder, self._intermediate, self._intermediate_key, self._ct_key, now
        )
        return [leaf, self._intermediate, self._root]


def create_signing_certificate(
    authority: CertificateAuthority,
    verify_token: TokenVerifier,
    request: SigningRequest,
    bearer_token: str | None,
) -> list[x509.Certificate]:
    """Fulcio ``CreateSigningCertificate``: token → claims → proof of possession → chain."""
    token = request.token or bearer_token
    if not token:
        raise CAUnauthenticated("no OIDC identity token in the request")
    try:
        claims = verify_token(token)
    except CAError:
        raise
    except AssayError as exc:
        raise CAUnauthenticated(
            f"There was an error processing the identity token: {exc.message}"
        ) from exc
    issuer = claims.get("iss")
    if not isinstance(issuer, str):
        raise CAUnauthenticated("the identity token has no issuer")
    authority.profile(issuer)
    public_key = request.key_request.public_key(claims)
    return authority.issue(claims, public_key, issuer)


def _ca_public_key(certificate: x509.Certificate) -> PublicKey:
    public = certificate.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        raise ConfigError("the CA certificate's key is not an ECDSA key")
    return public
