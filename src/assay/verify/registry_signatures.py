"""npm registry signatures: ``dist.signatures`` over ``"<name>@<version>:<integrity>"``.

What pacote checks for ``npm audit signatures`` (pacote lib/registry.js, npm-registry.md §3.2,
§4.3), in its order, for *every* entry of ``dist.signatures``:

1. a registry key with the same ``keyid`` exists (``EMISSINGSIGNATUREKEY``);
2. if the key has ``expires``, the version's publish time ``time[version]`` — or
   2015-01-01T00:00:00.000Z when the packument has none (``MISSING_TIME_CUTOFF``) — is strictly
   before it (``EEXPIREDSIGNATUREKEY``);
3. ECDSA P-256 / SHA-256 over the UTF-8 message verifies with the key (``EINTEGRITYSIGNATURE``).

A version with no signatures while the registry has keys is what npm reports as "missing";
:func:`verify_registry_signatures` raises for it too (``code`` = ``EMISSINGSIGNATURE``), so that
the caller decides how to report it. Each failure is a
:class:`~assay.errors.VerificationError` with ``step`` = ``"registry-signature"`` and npm's
``code``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from assay.errors import VerificationError
from assay.verify.trust import NPM_MISSING_TIME, RegistryKey, RegistryKeys, parse_time

__all__ = [
    "RegistrySignature",
    "registry_message",
    "verify_registry_signatures",
]


@dataclass(frozen=True, slots=True)
class RegistrySignature:
    """One ``dist.signatures[]`` entry: the key id and the base64 DER ECDSA signature text."""

    keyid: str
    sig: str

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> RegistrySignature:
        keyid, sig = value.get("keyid"), value.get("sig")
        if not isinstance(keyid, str) or not isinstance(sig, str):
            raise _fail("EINTEGRITYSIGNATURE", "a registry signature lacks keyid or sig")
        return cls(keyid, sig)


def registry_message(name: str, version: str, integrity: str) -> bytes:
    """The signed bytes: ``"<name>@<version>:<integrity>"`` (pacote ``${_id}:${_integrity}``)."""
    return f"{name}@{version}:{integrity}".encode()


def _fail(code: str, message: str, **details: object) -> VerificationError:
    return VerificationError(message, step="registry-signature", code=code, **details)


def verify_registry_signatures(
    name: str,
    version: str,
    integrity: str,
    signatures: Sequence[RegistrySignature | Mapping[str, Any]],
    keys: RegistryKeys,
    *,
    published: datetime | str | None = None,
) -> tuple[RegistryKey, ...]:
    """Verify every registry signature of ``name@version``; return the keys that verified them.

    ``published`` is ``time[version]`` from the packument (a datetime or its ISO text), ``None``
    if the packument has no time for the version.
    """
    ident = f"{name}@{version}"
    if not signatures:
        raise _fail(
            "EMISSINGSIGNATURE",
            f"{ident} has no registry signature but the registry provides signing keys",
        )
    if published is None:
        moment = NPM_MISSING_TIME
    elif isinstance(published, str):
        moment = parse_time(published, f"time[{version}]")
    else:
        moment = published
    message = registry_message(name, version, integrity)
    used: list[RegistryKey] = []
    for item in signatures:
        signature = (
            item if isinstance(item, RegistrySignature) else RegistrySignature.from_dict(item)
        )
        key = keys.get(signature.keyid)
        if key is None:
            raise _fail(
                "EMISSINGSIGNATUREKEY",
                f"{ident} has a registry signature with keyid: {signature.keyid} but no "
                "corresponding public key can be found",
                keyid=signature.keyid,
            )
        if not key.valid_at(moment):
            raise _fail(
                "EEXPIREDSIGNATUREKEY",
                f"{ident} has a registry signature with keyid: {signature.keyid} but the "
                f"corresponding public key has expired {key.expires}",
                keyid=signature.keyid,
            )
        if not _verifies(key, signature.sig, message):
            raise _fail(
                "EINTEGRITYSIGNATURE",
                f"{ident} has an invalid registry signature with keyid: {key.keyid}",
                keyid=key.keyid,
                integrity=integrity,
            )
        used.append(key)
    return tuple(used)


def _verifies(key: RegistryKey, sig: str, message: bytes) -> bool:
    # Node's verifier.verify(pem, sig, 'base64') decodes leniently; a signature npm accepts is
    # standard base64, so we require that.
    try:
        raw = base64.b64decode(sig, validate=True)
    except (binascii.Error, ValueError):
        return False
    public = key.public_key
    if not isinstance(public, ec.EllipticCurvePublicKey):
        return False  # npm registry keys are ECDSA P-256 (keytype ecdsa-sha2-nistp256)
    try:
        public.verify(raw, message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True
