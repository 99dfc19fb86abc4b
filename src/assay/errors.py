"""The one error root of Assay.

Every error the project raises on purpose derives from :class:`AssayError`. Third-party
exceptions are wrapped where they enter (parsing JSON, decoding base64, reading a tarball),
so callers catch one type and can always show :meth:`AssayError.diagnostics`.

The hierarchy::

    AssayError
    ├── ConfigError             settings or command-line input that cannot work
    ├── FormatError             bytes that are not what they claim to be
    │   ├── StatementError      in-toto statements, SLSA and npm publish predicates
    │   ├── EnvelopeError       DSSE envelopes
    │   ├── BundleError         Sigstore bundles
    │   ├── TarballError        npm tarballs (unsafe or malformed archives)
    │   └── ManifestError       npm names, versions and package.json fields that break npm's rules
    ├── PackError               a package directory that cannot be packed
    ├── CIEnvironmentError      a CI environment missing what a builder needs
    └── VerificationError       a signature or digest that does not verify

HTTP status mapping lives with the services, in one place each; errors carry structured fields
(``details``) so that mapping never parses messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class AssayError(Exception):
    """Root of every error Assay raises on purpose."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: Mapping[str, Any] = details

    def diagnostics(self) -> str:
        """A human-readable, multi-line explanation: the message, then each detail."""
        lines = [f"{type(self).__name__}: {self.message}"]
        lines.extend(f"  {key}: {value}" for key, value in sorted(self.details.items()))
        if self.__cause__ is not None:
            lines.append(f"  caused by: {type(self.__cause__).__name__}: {self.__cause__}")
        return "\n".join(lines)


class ConfigError(AssayError):
    """Settings or command-line input that cannot work."""


class FormatError(AssayError):
    """Input bytes that are not a well-formed instance of the format they claim."""


class StatementError(FormatError):
    """A malformed in-toto statement or predicate."""


class EnvelopeError(FormatError):
    """A malformed DSSE envelope."""


class BundleError(FormatError):
    """A malformed Sigstore bundle."""


class TarballError(FormatError):
    """An npm tarball that is malformed or unsafe to unpack."""


class ManifestError(FormatError):
    """A package name, version or package.json field that npm's rules refuse."""


class PackError(AssayError):
    """A package directory that cannot be packed."""


class CIEnvironmentError(AssayError):
    """A CI environment that lacks what a provenance builder needs."""


class VerificationError(AssayError):
    """A signature, digest or identity that does not verify."""
