"""Trust material: Sigstore trusted roots and npm registry keys, parsed once and indexed.

``TrustedRoot`` reads the protobuf-specs ``dev.sigstore.trustroot.v1.TrustedRoot`` JSON
(sigstore.md §5.1): transparency logs and CT logs (keys, ``logId``, ``validFor``), certificate
authorities (``certChain`` leafward first, the anchor last, ``validFor``) and timestamp
authorities. Every ``validFor`` is an inclusive window with a required ``start`` (sigstore-python
rejects a missing one; conformance ``trust-root-tlog-missing-validity-start_fail``).

``RegistryKeys`` reads npm registry signing keys in both shapes npm accepts (npm-registry.md
§3.3): ``GET /-/npm/v1/keys`` (``keyid``, base64 DER ``key``, ``expires``) and the TUF target
``registry.npmjs.org/keys.json`` (``keyId``, ``publicKey.rawBytes``, ``validFor.end`` → expires).
npm takes the first key with a matching keyid and ignores ``keyUsage`` and ``validFor.start``;
so do we.

Malformed trust material raises :class:`~assay.errors.ConfigError`: it is configuration, and the
CLI maps it to exit status 2. Parsed objects are immutable; lookups are dictionaries built once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Final

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from assay.errors import ConfigError
from assay.provenance.dsse import PublicKey

__all__ = [
    "TRUSTED_ROOT_MEDIA_TYPES",
    "CertificateAuthority",
    "RegistryKey",
    "RegistryKeys",
    "TransparencyLog",
    "TrustedRoot",
    "ValidityWindow",
    "load_public_key",
    "parse_time",
]

TRUSTED_ROOT_MEDIA_TYPES: Final = frozenset(
    {
        # The only one sigstore-python 4.x accepts (sigstore.md §5.1) …
        "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        # … and the newer spelling protobuf-specs defines (adds fields we do not need).
        "application/vnd.dev.sigstore.trustedroot.v0.2+json",
    }
)

# pacote lib/registry.js MISSING_TIME_CUTOFF: the publish time assumed when time[version] is absent.
NPM_MISSING_TIME: Final = datetime(2015, 1, 1, tzinfo=UTC)


def _json(data: str | bytes, not_json: str) -> object:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{not_json}: {exc}") from None


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None


def parse_time(value: object, where: str) -> datetime:
    """An RFC 3339 timestamp with a zone (``2022-10-31T23:59:59.999Z``) as an aware datetime."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where} must be an RFC 3339 timestamp", field=where)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{where} is not an RFC 3339 timestamp: {value[:40]!r}") from None
    if moment.tzinfo is None:
        raise ConfigError(f"{where} has no time zone: {value[:40]!r}", field=where)
    return moment.astimezone(UTC)


def _b64(value: object, where: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where} must be a non-empty base64 string", field=where)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        pass
    try:  # proto3 JSON parsers accept the URL-safe alphabet too
        return base64.urlsafe_b64decode(value)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{where} is not base64", field=where) from None


def _object(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be an object", field=where)
    return value


def _list(value: object, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(f"{where} must be an array", field=where)
    return value


def load_public_key(der: bytes, where: str) -> PublicKey:
    """A DER SubjectPublicKeyInfo of a key type Sigstore signs with."""
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ConfigError(f"{where} is not a DER public key: {exc}", field=where) from None
    if isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey):
        return key
    raise ConfigError(f"{where} holds an unsupported key type", field=where)


def _spki(key: PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass(frozen=True, slots=True)
class ValidityWindow:
    """``TimeRange``: ``[start, end]``, both inclusive; no ``end`` means still valid."""

    start: datetime
    end: datetime | None = None

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment and (self.end is None or moment <= self.end)

    @classmethod
    def read(cls, value: object, where: str) -> ValidityWindow:
        window = _object(value, where)
        start = parse_time(window.get("start"), f"{where}.start")
        end = window.get("end")
        return cls(start, None if end is None else parse_time(end, f"{where}.end"))


@dataclass(frozen=True, slots=True)
class TransparencyLog:
    """``TransparencyLogInstance``: a Rekor (or CT) log's key, identity and validity."""

    base_url: str
    log_id: bytes
    public_key: PublicKey = field(repr=False)
    valid_for: ValidityWindow

    @classmethod
    def read(cls, value: object, where: str) -> TransparencyLog:
        entry = _object(value, where)
        base_url = entry.get("baseUrl", "")
        if not isinstance(base_url, str):
            raise ConfigError(f"{where}.baseUrl must be a string", field=f"{where}.baseUrl")
        key_json = _object(entry.get("publicKey"), f"{where}.publicKey")
        public_key = load_public_key(
            _b64(key_json.get("rawBytes"), f"{where}.publicKey.rawBytes"),
            f"{where}.publicKey.rawBytes",
        )
        valid_for = ValidityWindow.read(key_json.get("validFor"), f"{where}.publicKey.validFor")
        log_id_json = entry.get("logId")
        if log_id_json is None:
            # Rekor v1 and CT: the log id is SHA-256 of the DER SPKI (sigstore.md §3.1, §2.2).
            log_id = hashlib.sha256(_spki(public_key)).digest()
        else:
            log_id = _b64(_object(log_id_json, f"{where}.logId").get("keyId"), f"{where}.logId")
        return cls(base_url=base_url, log_id=log_id, public_key=public_key, valid_for=valid_for)


@dataclass(frozen=True, slots=True)
class CertificateAuthority:
    """A certificate authority: its chain (leafward first, anchor last) and validity."""

    uri: str
    chain: tuple[x509.Certificate, ...] = field(repr=False)
    valid_for: ValidityWindow

    @classmethod
    def read(cls, value: object, where: str) -> CertificateAuthority:
        entry = _object(value, where)
        uri = entry.get("uri", "")
        if not isinstance(uri, str):
            raise ConfigError(f"{where}.uri must be a string", field=f"{where}.uri")
        chain_json = _object(entry.get("certChain"), f"{where}.certChain")
        certificates: list[x509.Certificate] = []
        for index, item in enumerate(_list(chain_json.get("certificates"), f"{where}.certChain")):
            path = f"{where}.certChain.certificates[{index}]"
            der = _b64(_object(item, path).get("rawBytes"), f"{path}.rawBytes")
            try:
                certificates.append(x509.load_der_x509_certificate(der))
            except ValueError as exc:
                raise ConfigError(f"{path} is not a DER certificate: {exc}") from None
        if not certificates:
            raise ConfigError(f"{where}.certChain has no certificates", field=where)
        valid_for = ValidityWindow.read(entry.get("validFor"), f"{where}.validFor")
        return cls(uri=uri, chain=tuple(certificates), valid_for=valid_for)


@dataclass(frozen=True)
class TrustedRoot:
    """A parsed ``trusted_root.json``; look logs up by id with :meth:`tlog` and :meth:`ctlog`."""

    media_type: str
    tlogs: tuple[TransparencyLog, ...]
    ctlogs: tuple[TransparencyLog, ...]
    certificate_authorities: tuple[CertificateAuthority, ...]
    timestamp_authorities: tuple[CertificateAuthority, ...]
    _tlogs_by_id: Mapping[bytes, tuple[TransparencyLog, ...]] = field(
        init=False, repr=False, compare=False
    )
    _ctlogs_by_id: Mapping[bytes, tuple[TransparencyLog, ...]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tlogs_by_id", _index(self.tlogs))
        object.__setattr__(self, "_ctlogs_by_id", _index(self.ctlogs))

    @classmethod
    def from_dict(cls, value: object) -> TrustedRoot:
        root = _object(value, "trustedRoot")
        media_type = root.get("mediaType")
        if media_type not in TRUSTED_ROOT_MEDIA_TYPES:
            raise ConfigError(
                f"unsupported trusted root media type {str(media_type)[:80]!r}",
                field="mediaType",
            )
        return cls(
            media_type=str(media_type),
            tlogs=tuple(
                TransparencyLog.read(item, f"tlogs[{i}]")
                for i, item in enumerate(_list(root.get("tlogs"), "tlogs"))
            ),
            ctlogs=tuple(
                TransparencyLog.read(item, f"ctlogs[{i}]")
                for i, item in enumerate(_list(root.get("ctlogs"), "ctlogs"))
            ),
            certificate_authorities=tuple(
                CertificateAuthority.read(item, f"certificateAuthorities[{i}]")
                for i, item in enumerate(
                    _list(root.get("certificateAuthorities"), "certificateAuthorities")
                )
            ),
            timestamp_authorities=tuple(
                CertificateAuthority.read(item, f"timestampAuthorities[{i}]")
                for i, item in enumerate(
                    _list(root.get("timestampAuthorities"), "timestampAuthorities")
                )
            ),
        )

    @classmethod
    def from_json(cls, data: str | bytes) -> TrustedRoot:
        return cls.from_dict(_json(data, "trusted root is not JSON"))

    @classmethod
    def from_file(cls, path: Path) -> TrustedRoot:
        return cls.from_json(_read(path, "trusted root"))

    @classmethod
    def public_good(cls, updated: Path | None = None) -> TrustedRoot:
        """The Sigstore public-good trusted root: the copy `assay trust update` fetched into
        ``updated`` if there is one, else the bundled snapshot (see ``bundled/README.md``)."""
        if updated is not None and (updated / "trusted_root.json").is_file():
            return cls.from_file(updated / "trusted_root.json")
        return _public_good()

    def tlog(self, log_id: bytes) -> tuple[TransparencyLog, ...]:
        """The transparency logs with this id (normally one)."""
        return self._tlogs_by_id.get(log_id, ())

    def ctlog(self, log_id: bytes) -> tuple[TransparencyLog, ...]:
        """The CT logs with this id (normally one)."""
        return self._ctlogs_by_id.get(log_id, ())


def _index(logs: tuple[TransparencyLog, ...]) -> Mapping[bytes, tuple[TransparencyLog, ...]]:
    # By the trusted root's logId (sigstore-js) and by SHA-256 of the SPKI (sigstore-python's
    # keyring); for Rekor v1 and CT logs the two are the same value.
    index: dict[bytes, list[TransparencyLog]] = {}
    for log in logs:
        for key in {log.log_id, hashlib.sha256(_spki(log.public_key)).digest()}:
            index.setdefault(key, []).append(log)
    return {key: tuple(value) for key, value in index.items()}


def _bundled(name: str) -> bytes:
    # pkgutil rather than importlib.resources, which costs a cold `assay verify` more to import
    # (tempfile, shutil, the compression modules) than reading the file; both read from wheels
    # and zips alike, through the package's loader.
    data = pkgutil.get_data("assay.verify", f"bundled/{name}")
    if data is None:
        raise ConfigError(f"the bundled {name} cannot be read")
    return data


@cache
def _public_good() -> TrustedRoot:
    return TrustedRoot.from_json(_bundled("trusted_root.json"))


# --- npm registry keys ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegistryKey:
    """One npm registry signing key: ``keyid`` (``SHA256:…``), the key, and npm's expiry."""

    keyid: str
    public_key: PublicKey = field(repr=False)
    expires: datetime | None = None

    def valid_at(self, moment: datetime) -> bool:
        """npm's rule (pacote lib/registry.js): valid for ``moment`` strictly before ``expires``."""
        return self.expires is None or moment < self.expires


@dataclass(frozen=True)
class RegistryKeys:
    """npm registry keys in file order; :meth:`get` returns the first with a keyid, as npm does."""

    keys: tuple[RegistryKey, ...]
    _by_id: Mapping[str, RegistryKey] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_id: dict[str, RegistryKey] = {}
        for key in self.keys:
            by_id.setdefault(key.keyid, key)
        object.__setattr__(self, "_by_id", by_id)

    def get(self, keyid: str) -> RegistryKey | None:
        return self._by_id.get(keyid)

    def __len__(self) -> int:
        return len(self.keys)

    @classmethod
    def from_dict(cls, value: object) -> RegistryKeys:
        """``{"keys": [...]}`` in the ``/-/npm/v1/keys`` shape or the TUF ``keys.json`` shape."""
        document = _object(value, "keys document")
        if not isinstance(document.get("keys"), list):
            raise ConfigError('registry keys need a "keys" array', field="keys")
        items = _list(document["keys"], "keys")
        keys: list[RegistryKey] = []
        for index, item in enumerate(items):
            where = f"keys[{index}]"
            entry = _object(item, where)
            if "keyId" in entry:
                # TUF target shape: npm maps validFor.end to expires (npm-registry.md §3.3).
                keyid = entry.get("keyId")
                public = _object(entry.get("publicKey"), f"{where}.publicKey")
                der = _b64(public.get("rawBytes"), f"{where}.publicKey.rawBytes")
                valid_for = public.get("validFor")
                end = None if valid_for is None else _object(valid_for, where).get("end")
            else:
                keyid = entry.get("keyid")
                der = _b64(entry.get("key"), f"{where}.key")
                end = entry.get("expires")
            if not isinstance(keyid, str) or not keyid:
                raise ConfigError(f"{where} has no keyid", field=where)
            expires = None if end is None else parse_time(end, f"{where}.expires")
            keys.append(RegistryKey(keyid, load_public_key(der, f"{where}.key"), expires))
        return cls(tuple(keys))

    @classmethod
    def from_json(cls, data: str | bytes) -> RegistryKeys:
        return cls.from_dict(_json(data, "registry keys are not JSON"))

    @classmethod
    def from_file(cls, path: Path) -> RegistryKeys:
        return cls.from_json(_read(path, "registry keys"))

    @classmethod
    def npmjs(cls, updated: Path | None = None) -> RegistryKeys:
        """registry.npmjs.org's keys: `assay trust update`'s copy in ``updated`` if there is
        one, else the bundled TUF target snapshot (see ``bundled/README.md``)."""
        if updated is not None and (updated / "registry.npmjs.org-keys.json").is_file():
            return cls.from_file(updated / "registry.npmjs.org-keys.json")
        return _npmjs()


@cache
def _npmjs() -> RegistryKeys:
    return RegistryKeys.from_json(_bundled("registry.npmjs.org-keys.json"))
