"""Fulcio's certificate profile: the Sigstore OID arc, how its extension values are encoded, and
the signer identity a leaf certificate names.

Every Sigstore extension OID is named here, once (fulcio docs/oid-info.md; sigstore.md §1.4). The
CA writes them (:mod:`assay.ca.extensions`), the verifier's policies read them
(:mod:`assay.verify.policy`), the audit policy and the web pages show them.

Encodings of the extnValue (sigstore.md §1.4):

* ``1.3.6.1.4.1.57264.1.1``–``.1.6`` (deprecated): the **raw UTF-8 bytes** of the value — Fulcio's
  historical mistake, kept because sigstore-python's ``OIDCIssuer`` policy still reads ``.1.1``;
* ``.1.7`` is not an extension but the type-id of an ``otherName`` SAN, whose value is a DER
  UTF8String;
* ``.1.8`` onwards: a DER UTF8String (X.690 §8.23, universal tag 12).

Pure: no I/O, only ``cryptography``'s X.509 parser.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

from assay.errors import FormatError

__all__ = [
    "EXTENSION_NAMES",
    "OID_BUILD_CONFIG_DIGEST",
    "OID_BUILD_CONFIG_URI",
    "OID_BUILD_SIGNER_DIGEST",
    "OID_BUILD_SIGNER_URI",
    "OID_BUILD_TRIGGER",
    "OID_DEPLOYMENT_ENVIRONMENT",
    "OID_GITHUB_WORKFLOW_NAME",
    "OID_GITHUB_WORKFLOW_REF",
    "OID_GITHUB_WORKFLOW_REPOSITORY",
    "OID_GITHUB_WORKFLOW_SHA",
    "OID_GITHUB_WORKFLOW_TRIGGER",
    "OID_ISSUER",
    "OID_ISSUER_V2",
    "OID_OTHER_NAME",
    "OID_RUNNER_ENVIRONMENT",
    "OID_RUN_INVOCATION_URI",
    "OID_SOURCE_REPOSITORY_DIGEST",
    "OID_SOURCE_REPOSITORY_IDENTIFIER",
    "OID_SOURCE_REPOSITORY_OWNER_IDENTIFIER",
    "OID_SOURCE_REPOSITORY_OWNER_URI",
    "OID_SOURCE_REPOSITORY_REF",
    "OID_SOURCE_REPOSITORY_URI",
    "OID_SOURCE_REPOSITORY_VISIBILITY",
    "OID_TOKEN_SUBJECT",
    "RAW_OIDS",
    "SIGSTORE_ARC",
    "SignerIdentity",
    "arc_number",
    "decode_der_utf8_string",
    "decode_extension_value",
    "der_tlv",
    "der_utf8_string",
    "encode_extension_value",
    "sigstore_extensions",
]

SIGSTORE_ARC: Final = "1.3.6.1.4.1.57264.1"
"""Sigstore's private-enterprise arc for Fulcio (IANA PEN 57264, arc 1)."""


def _oid(number: int) -> ObjectIdentifier:
    return ObjectIdentifier(f"{SIGSTORE_ARC}.{number}")


# fulcio docs/oid-info.md, in the order Fulcio's ``Extensions.Render`` emits them.
OID_ISSUER: Final = _oid(1)  # raw, deprecated
OID_GITHUB_WORKFLOW_TRIGGER: Final = _oid(2)  # raw, deprecated
OID_GITHUB_WORKFLOW_SHA: Final = _oid(3)  # raw, deprecated
OID_GITHUB_WORKFLOW_NAME: Final = _oid(4)  # raw, deprecated
OID_GITHUB_WORKFLOW_REPOSITORY: Final = _oid(5)  # raw, deprecated
OID_GITHUB_WORKFLOW_REF: Final = _oid(6)  # raw, deprecated
OID_OTHER_NAME: Final = _oid(7)  # SAN otherName type-id only, never an extension
OID_ISSUER_V2: Final = _oid(8)
OID_BUILD_SIGNER_URI: Final = _oid(9)
OID_BUILD_SIGNER_DIGEST: Final = _oid(10)
OID_RUNNER_ENVIRONMENT: Final = _oid(11)
OID_SOURCE_REPOSITORY_URI: Final = _oid(12)
OID_SOURCE_REPOSITORY_DIGEST: Final = _oid(13)
OID_SOURCE_REPOSITORY_REF: Final = _oid(14)
OID_SOURCE_REPOSITORY_IDENTIFIER: Final = _oid(15)
OID_SOURCE_REPOSITORY_OWNER_URI: Final = _oid(16)
OID_SOURCE_REPOSITORY_OWNER_IDENTIFIER: Final = _oid(17)
OID_BUILD_CONFIG_URI: Final = _oid(18)
OID_BUILD_CONFIG_DIGEST: Final = _oid(19)
OID_BUILD_TRIGGER: Final = _oid(20)
OID_RUN_INVOCATION_URI: Final = _oid(21)
OID_SOURCE_REPOSITORY_VISIBILITY: Final = _oid(22)
OID_DEPLOYMENT_ENVIRONMENT: Final = _oid(23)
OID_TOKEN_SUBJECT: Final = _oid(24)

EXTENSION_NAMES: Final[Mapping[ObjectIdentifier, str]] = {
    OID_ISSUER: "Issuer (deprecated)",
    OID_GITHUB_WORKFLOW_TRIGGER: "GitHub Workflow Trigger (deprecated)",
    OID_GITHUB_WORKFLOW_SHA: "GitHub Workflow SHA (deprecated)",
    OID_GITHUB_WORKFLOW_NAME: "GitHub Workflow Name (deprecated)",
    OID_GITHUB_WORKFLOW_REPOSITORY: "GitHub Workflow Repository (deprecated)",
    OID_GITHUB_WORKFLOW_REF: "GitHub Workflow Ref (deprecated)",
    OID_OTHER_NAME: "OtherName SAN",
    OID_ISSUER_V2: "Issuer",
    OID_BUILD_SIGNER_URI: "Build Signer URI",
    OID_BUILD_SIGNER_DIGEST: "Build Signer Digest",
    OID_RUNNER_ENVIRONMENT: "Runner Environment",
    OID_SOURCE_REPOSITORY_URI: "Source Repository URI",
    OID_SOURCE_REPOSITORY_DIGEST: "Source Repository Digest",
    OID_SOURCE_REPOSITORY_REF: "Source Repository Ref",
    OID_SOURCE_REPOSITORY_IDENTIFIER: "Source Repository Identifier",
    OID_SOURCE_REPOSITORY_OWNER_URI: "Source Repository Owner URI",
    OID_SOURCE_REPOSITORY_OWNER_IDENTIFIER: "Source Repository Owner Identifier",
    OID_BUILD_CONFIG_URI: "Build Config URI",
    OID_BUILD_CONFIG_DIGEST: "Build Config Digest",
    OID_BUILD_TRIGGER: "Build Trigger",
    OID_RUN_INVOCATION_URI: "Run Invocation URI",
    OID_SOURCE_REPOSITORY_VISIBILITY: "Source Repository Visibility At Signing",
    OID_DEPLOYMENT_ENVIRONMENT: "Deployment Environment",
    OID_TOKEN_SUBJECT: "Token Subject",
}
"""The names Fulcio gives its extensions (docs/oid-info.md), for people to read."""

RAW_OIDS: Final = frozenset(
    {
        OID_ISSUER,
        OID_GITHUB_WORKFLOW_TRIGGER,
        OID_GITHUB_WORKFLOW_SHA,
        OID_GITHUB_WORKFLOW_NAME,
        OID_GITHUB_WORKFLOW_REPOSITORY,
        OID_GITHUB_WORKFLOW_REF,
    }
)
"""The deprecated extensions whose extnValue is raw UTF-8 rather than a DER UTF8String."""

_UTF8_STRING: Final = 0x0C  # X.690 §8.23, universal tag 12


def arc_number(oid: ObjectIdentifier | str) -> int | None:
    """``n`` for ``1.3.6.1.4.1.57264.1.n``, or None for an OID that is not directly on the arc."""
    dotted = oid if isinstance(oid, str) else oid.dotted_string
    head, _, tail = dotted.rpartition(".")
    if head != SIGSTORE_ARC or not tail.isdigit():
        return None
    return int(tail)


# --- DER, the little of it the profile needs ----------------------------------------------------


def der_tlv(tag: int, content: bytes) -> bytes:
    """One DER TLV with a single-octet tag (X.690 §8.1.2–§8.1.3, definite length)."""
    length = len(content)
    if length < 0x80:
        return bytes([tag, length]) + content
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(octets)]) + octets + content


def der_utf8_string(value: str) -> bytes:
    """DER UTF8String (universal tag 12, X.690 §8.23)."""
    return der_tlv(_UTF8_STRING, value.encode("utf-8"))


def decode_der_utf8_string(value: bytes) -> str | None:
    """The text of a DER UTF8String (X.690 §8.23), or None if ``value`` is not exactly one.

    Long-form lengths of up to four octets are read (no Fulcio value comes near 2**32 bytes); the
    TLV must span all of ``value`` and its content must be UTF-8.
    """
    if len(value) < 2 or value[0] != _UTF8_STRING:
        return None
    length, offset = value[1], 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4 or len(value) < 2 + count:
            return None
        length, offset = int.from_bytes(value[2 : 2 + count], "big"), 2 + count
    if len(value) != offset + length:
        return None
    try:
        return value[offset:].decode("utf-8")
    except UnicodeDecodeError:
        return None


# --- extension values ---------------------------------------------------------------------------


def encode_extension_value(oid: ObjectIdentifier, value: str) -> bytes:
    """The extnValue octets Fulcio writes for ``value`` under ``oid`` (raw or DER, see above)."""
    return value.encode("utf-8") if oid in RAW_OIDS else der_utf8_string(value)


def decode_extension_value(oid: ObjectIdentifier, raw: bytes) -> str | None:
    """The text of a Sigstore extension's extnValue, or None if it is not encoded as it must be."""
    if oid in RAW_OIDS:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return decode_der_utf8_string(raw)


def sigstore_extensions(certificate: x509.Certificate) -> Iterator[tuple[ObjectIdentifier, bytes]]:
    """``(oid, extnValue)`` of every extension under the Sigstore arc, in certificate order.

    Raises :class:`~assay.errors.FormatError` if the certificate's extensions do not parse.
    """
    try:
        extensions = list(certificate.extensions)
    except (ValueError, x509.DuplicateExtension) as exc:
        raise FormatError(f"the certificate has malformed extensions: {exc}") from exc
    prefix = SIGSTORE_ARC + "."
    for extension in extensions:
        value = extension.value
        # cryptography parses every Sigstore extension as exactly UnrecognizedExtension: an
        # identity test first spares the ABC isinstance and the OID text on the usual ones.
        if type(value) is x509.UnrecognizedExtension and extension.oid.dotted_string.startswith(
            prefix
        ):
            yield extension.oid, value.value


# --- the signer identity ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignerIdentity:
    """Who a Fulcio certificate names: its SANs and its Sigstore extensions, decoded.

    ``sans`` are the URI and rfc822Name SANs and the ``.1.7`` otherName SANs, in that order.
    ``extensions`` maps the dotted OID of every well-encoded Sigstore extension to its text; a
    value not encoded as its OID requires is left out. Build with :meth:`from_certificate`.
    """

    certificate: x509.Certificate = field(repr=False)
    sans: tuple[str, ...]
    extensions: Mapping[str, str]

    @classmethod
    def from_certificate(cls, certificate: x509.Certificate) -> SignerIdentity:
        """Decode the SAN and the Sigstore extensions; FormatError if the extensions do not
        parse."""
        extensions = {
            oid.dotted_string: text
            for oid, raw in sigstore_extensions(certificate)
            if (text := decode_extension_value(oid, raw)) is not None
        }
        sans: list[str] = []
        try:
            names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        except x509.ExtensionNotFound:
            names = None
        if names is not None:
            sans.extend(names.value.get_values_for_type(x509.UniformResourceIdentifier))
            sans.extend(names.value.get_values_for_type(x509.RFC822Name))
            for other in names.value.get_values_for_type(x509.OtherName):
                if (
                    other.type_id == OID_OTHER_NAME
                    and (text := decode_der_utf8_string(other.value)) is not None
                ):
                    sans.append(text)
        return cls(certificate=certificate, sans=tuple(sans), extensions=extensions)

    def extension(self, oid: ObjectIdentifier | str) -> str | None:
        """The text of extension ``oid`` (an OID or its dotted string), or None if absent."""
        return self.extensions.get(oid if isinstance(oid, str) else oid.dotted_string)

    @property
    def san(self) -> str:
        """The first SAN (Fulcio certificates have exactly one)."""
        return self.sans[0] if self.sans else ""

    @property
    def issuer(self) -> str | None:
        """The OIDC issuer: ``.1.8`` if present, else the legacy ``.1.1`` (sigstore-js's order)."""
        return self.extension(OID_ISSUER_V2) or self.extension(OID_ISSUER)

    @property
    def issuers(self) -> tuple[str, ...]:
        """Every OIDC issuer the certificate states (``.1.1`` and/or ``.1.8``).

        sigstore-python reads ``.1.1`` and sigstore-js ``.1.8``, so a policy must hold for each.
        """
        values = (self.extension(OID_ISSUER), self.extension(OID_ISSUER_V2))
        return tuple(value for value in values if value is not None)

    @property
    def source_repository_uri(self) -> str | None:
        """Source Repository URI (``.1.12``), else the legacy GitHub repository (``.1.5``), as a
        URL on the SAN's origin (the forge the CA prefixed: github.com, or a GitHub Enterprise
        host), github.com when the SAN has none."""
        uri = self.extension(OID_SOURCE_REPOSITORY_URI)
        if uri is None:
            legacy = self.extension(OID_GITHUB_WORKFLOW_REPOSITORY)
            if legacy is None:
                return None
            parts = urlsplit(self.san)
            origin = (
                f"{parts.scheme}://{parts.netloc}"
                if parts.scheme in ("http", "https") and parts.netloc
                else "https://github.com"
            )
            uri = f"{origin}/{legacy}"
        return uri

    @property
    def source_repository_digest(self) -> str | None:
        """Source Repository Digest (``.1.13``), else the legacy GitHub Workflow SHA (``.1.3``)."""
        return self.extension(OID_SOURCE_REPOSITORY_DIGEST) or self.extension(
            OID_GITHUB_WORKFLOW_SHA
        )

    @property
    def source_repository_ref(self) -> str | None:
        """Source Repository Ref (``.1.14``), else the legacy GitHub Workflow Ref (``.1.6``)."""
        return self.extension(OID_SOURCE_REPOSITORY_REF) or self.extension(OID_GITHUB_WORKFLOW_REF)

    @property
    def build_signer_uri(self) -> str:
        """Build Signer URI (``.1.9``), else the SAN (for CI issuers they are the same)."""
        return self.extension(OID_BUILD_SIGNER_URI) or self.san

    @property
    def build_trigger(self) -> str | None:
        """Build Trigger (``.1.20``), else the legacy GitHub Workflow Trigger (``.1.2``)."""
        return self.extension(OID_BUILD_TRIGGER) or self.extension(OID_GITHUB_WORKFLOW_TRIGGER)
