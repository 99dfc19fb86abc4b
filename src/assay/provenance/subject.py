"""npm subjects: package URLs and tarball digests as npm writes them.

An npm provenance statement names its one subject with the purl of the package version and the
sha512 of the tarball in hex (npm/cli libnpmpublish ``lib/provenance.js``); the packument carries
the same digest as a Subresource Integrity string (``dist.integrity`` = ``sha512-<base64>``,
W3C SRI §3.5). This module converts between the two and builds purls exactly as
npm-package-arg's ``toPurl`` does: ``pkg:npm/`` + the name with a leading ``@`` written ``%40``
(the slash of a scope is kept) + ``@`` + the exact version.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from assay.errors import StatementError
from assay.npm.names import validate
from assay.npm.versions import is_version

PURL_PREFIX = "pkg:npm/"

# Digest sizes in bytes of the algorithms SRI allows (W3C SRI §3.2) plus sha1, which npm
# still writes as `dist.shasum` and accepts in old lockfiles.
DIGEST_SIZES = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}
_STRENGTH = ("sha1", "sha256", "sha384", "sha512")


def npm_purl(name: str, version: str) -> str:
    """The purl npm writes for ``name@version``: ``pkg:npm/%40scope/pkg@1.0.0``."""
    # npm-package-arg, which npm's toPurl goes through, takes any name valid for old packages
    # (capitals and all); the version must be exact (assay.npm holds both rules).
    if not validate(name).valid_for_old_packages:
        raise StatementError(f"not an npm package name: {name!r}", name=name)
    if not is_version(version):
        raise StatementError(f"not an exact semver version: {version!r}", version=version)
    encoded = "%40" + name[1:] if name.startswith("@") else name
    return f"{PURL_PREFIX}{encoded}@{version}"


def parse_npm_purl(purl: str) -> tuple[str, str]:
    """Split an npm purl into ``(name, version)``; the inverse of :func:`npm_purl`.

    Qualifiers (``?repository_url=…``) are dropped: npm adds them only for non-default
    registries and they do not name a different package.
    """
    if not purl.startswith(PURL_PREFIX):
        raise StatementError(f"not an npm purl: {purl!r}", purl=purl)
    raw = purl[len(PURL_PREFIX) :].split("?", 1)[0].split("#", 1)[0]
    decoded = "@" + raw[3:] if raw.startswith("%40") else raw
    name, sep, version = decoded.rpartition("@")
    if not sep or not name:
        raise StatementError(f"npm purl has no version: {purl!r}", purl=purl)
    # Rebuilding must give the same text: this refuses a literal `@scope`, which npm never writes.
    if npm_purl(name, version) != PURL_PREFIX + raw:
        raise StatementError(f"npm purl is not in npm's form: {purl!r}", purl=purl)
    return name, version


@dataclass(frozen=True, slots=True)
class Digest:
    """One hash of one byte string: an algorithm name and the raw digest bytes."""

    algorithm: str
    value: bytes

    def __post_init__(self) -> None:
        size = DIGEST_SIZES.get(self.algorithm)
        if size is None:
            raise StatementError(f"unsupported digest algorithm {self.algorithm!r}")
        if len(self.value) != size:
            raise StatementError(
                f"{self.algorithm} digest must be {size} bytes, got {len(self.value)}",
                algorithm=self.algorithm,
            )

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha512") -> Digest:
        """Hash ``data``."""
        if algorithm not in DIGEST_SIZES:
            raise StatementError(f"unsupported digest algorithm {algorithm!r}")
        return cls(algorithm, hashlib.new(algorithm, data).digest())

    @classmethod
    def from_hex(cls, algorithm: str, text: str) -> Digest:
        """A digest from its lower- or upper-case hex form (as in statement subjects)."""
        if not re.fullmatch(r"[0-9a-fA-F]*", text):
            raise StatementError(f"{algorithm} digest is not hex: {text!r}")
        return cls(algorithm, bytes.fromhex(text))

    @classmethod
    def from_sri(cls, sri: str) -> Digest:
        """The strongest hash of an SRI string (``sha512-<base64>``; several may be listed).

        SRI §3.3: tokens are separated by whitespace, each ``alg-base64[?options]``; unknown
        algorithms are ignored, and the strongest known one is the one that counts.
        """
        best: Digest | None = None
        for token in sri.split():
            algorithm, sep, rest = token.partition("-")
            if not sep or algorithm not in DIGEST_SIZES:
                continue
            encoded = rest.split("?", 1)[0]
            try:
                value = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise StatementError(f"integrity is not base64: {token!r}") from exc
            digest = cls(algorithm, value)
            if best is None or _STRENGTH.index(algorithm) > _STRENGTH.index(best.algorithm):
                best = digest
        if best is None:
            raise StatementError(f"no supported hash in integrity {sri!r}", integrity=sri)
        return best

    @property
    def hex(self) -> str:
        """Lower-case hex, as npm writes subject digests and `shasum`."""
        return self.value.hex()

    @property
    def sri(self) -> str:
        """The SRI form, as npm writes ``dist.integrity``."""
        return f"{self.algorithm}-{base64.b64encode(self.value).decode('ascii')}"


def sri_to_hex(sri: str) -> str:
    """``sha512-<base64>`` → 128 hex characters."""
    return Digest.from_sri(sri).hex


def hex_to_sri(hex_digest: str, algorithm: str = "sha512") -> str:
    """128 hex characters → ``sha512-<base64>``."""
    return Digest.from_hex(algorithm, hex_digest).sri
