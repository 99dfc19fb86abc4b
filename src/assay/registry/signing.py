"""The registry's own signatures: one on every version, and the keys that verify them.

npm's registry signature (npm-registry spec §3.2) is ECDSA P-256 / SHA-256, DER, base64, over
the UTF-8 string ``"<name>@<version>:<dist.integrity>"``, listed in ``dist.signatures`` as
``{keyid, sig}``; the key id is the OpenSSH-style ``SHA256:<base64>`` fingerprint npm matches
as a string (:func:`assay.keys.npm_key_id`). Keys are published at ``/-/npm/v1/keys`` (§3.3) and,
for clients that use TUF, as a ``<host>/keys.json`` target (the ``keyId``/``publicKey`` shape).

Rotation: a retired key stays listed with ``expires`` set to its retirement time, so versions it
signed before then still verify, as pacote's rule requires (``time[version] < expires``); the
current key has ``expires: null``. Retired keys live in ``keys/registry-retired.json``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from assay.errors import ConfigError
from assay.keys import (
    Signer,
    generate_ec,
    load_private_key,
    npm_key_id,
    spki_der,
    write_private_key,
)

RETIRED_FILE = "registry-retired.json"
KEY_FILE = "registry.key"


def _iso(moment: datetime) -> str:
    # npm writes key expiry as ISO 8601 with milliseconds and Z (§3.3).
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


@dataclass(frozen=True, slots=True)
class PublicRegistryKey:
    public_key: ec.EllipticCurvePublicKey
    expires: datetime | None

    @property
    def keyid(self) -> str:
        return npm_key_id(self.public_key)

    def npm_json(self) -> dict[str, Any]:
        """One entry of ``GET /-/npm/v1/keys``."""
        return {
            "expires": _iso(self.expires) if self.expires else None,
            "keyid": self.keyid,
            "keytype": "ecdsa-sha2-nistp256",
            "scheme": "ecdsa-sha2-nistp256",
            "key": base64.b64encode(spki_der(self.public_key)).decode("ascii"),
        }

    def tuf_json(self, since: datetime) -> dict[str, Any]:
        """One entry of the TUF ``keys.json`` target (npm maps validFor.end to expires)."""
        valid: dict[str, str] = {"start": _iso(since)}
        if self.expires:
            valid["end"] = _iso(self.expires)
        return {
            "keyId": self.keyid,
            "keyUsage": "npm:signatures",
            "publicKey": {
                "rawBytes": base64.b64encode(spki_der(self.public_key)).decode("ascii"),
                "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                "validFor": valid,
            },
        }


class RegistryKeys:
    """The current signing key and every public key the registry has signed with."""

    def __init__(
        self, current: ec.EllipticCurvePrivateKey, retired: tuple[PublicRegistryKey, ...] = ()
    ) -> None:
        if current.curve.name != "secp256r1":
            raise ConfigError("the registry signs with ECDSA P-256 (npm's registry signatures)")
        self._signer = Signer(current)
        self._private = current
        self.current = PublicRegistryKey(current.public_key(), None)
        self.retired = retired

    @classmethod
    def load_or_create(cls, keys_dir: Path) -> RegistryKeys:
        """Load ``keys_dir/registry.key`` (creating it, 0600, on first use) and retired keys."""
        path = keys_dir / KEY_FILE
        if not path.exists():
            keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_private_key(path, generate_ec("P-256"))
        key = load_private_key(path)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ConfigError(f"{path} must hold an ECDSA P-256 key")
        return cls(key, _load_retired(keys_dir / RETIRED_FILE))

    @property
    def keyid(self) -> str:
        return self.current.keyid

    @property
    def private_key(self) -> ec.EllipticCurvePrivateKey:
        """The current key (it signs the registry's publish attestations, too)."""
        return self._private

    @property
    def signer(self) -> Signer:
        """The current key's signer (also signs the registry's publish attestations)."""
        return self._signer

    def sign(self, name: str, version: str, integrity: str) -> dict[str, str]:
        """The ``dist.signatures`` entry for ``name@version`` with this integrity."""
        message = f"{name}@{version}:{integrity}".encode()
        signature = self._signer.sign(message)
        return {"keyid": self.keyid, "sig": base64.b64encode(signature).decode("ascii")}

    @property
    def all(self) -> tuple[PublicRegistryKey, ...]:
        return (self.current, *self.retired)

    def npm_keys(self) -> dict[str, Any]:
        """The body of ``GET /-/npm/v1/keys``."""
        return {"keys": [key.npm_json() for key in self.all]}


def rotate(keys_dir: Path, now: datetime | None = None) -> RegistryKeys:
    """Retire the current key (listed from now on with ``expires``) and start a new one."""
    now = now or datetime.now(UTC)
    keys = RegistryKeys.load_or_create(keys_dir)
    retired = [*keys.retired, PublicRegistryKey(keys.current.public_key, now)]
    _save_retired(keys_dir / RETIRED_FILE, retired)
    path = keys_dir / KEY_FILE
    # The retired private key is destroyed: nothing may sign with it again.
    path.unlink()
    write_private_key(path, generate_ec("P-256"))
    return RegistryKeys.load_or_create(keys_dir)


def _load_retired(path: Path) -> tuple[PublicRegistryKey, ...]:
    if not path.exists():
        return ()
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        keys = []
        for entry in entries:
            public = serialization.load_der_public_key(base64.b64decode(entry["key"]))
            if not isinstance(public, ec.EllipticCurvePublicKey):
                raise ValueError("not an ECDSA key")
            keys.append(PublicRegistryKey(public, datetime.fromisoformat(entry["expires"])))
        return tuple(keys)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path} is damaged: {exc}") from exc


def _save_retired(path: Path, keys: list[PublicRegistryKey]) -> None:
    entries = [
        {
            "key": base64.b64encode(spki_der(k.public_key)).decode("ascii"),
            "expires": (k.expires or datetime.now(UTC)).isoformat(),
        }
        for k in keys
    ]
    path.write_text(json.dumps(entries, indent=2), encoding="utf-8")
