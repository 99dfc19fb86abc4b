"""Where to sign: a Sigstore signing config, or the one inside a client trust config.

sigstore.md §5.2: a ``signing_config`` v0.2 lists CAs, OIDC providers, logs and TSAs, each with
``url``, ``majorApiVersion``, ``validFor`` and ``operator``; a ``client_trust_config`` carries
one as its ``signingConfig``. We pick, as the selector ``ANY`` does, the first v1 service of each
kind valid now — of each API version we speak: Fulcio v1, Rekor v1 and v2, TSA v1. An Assay
instance serves its own at ``/-/trust/signing_config.json``; it lists its log twice (v1 and v2
at one base URL) and its TSA by the full timestamp URL (sigstore.md §5.2).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import httpx

from assay.sign.errors import SigningError
from assay.sign.http import http_session, reason, request

__all__ = ["CLIENT_TRUST_CONFIG_MEDIA_TYPE", "SIGNING_CONFIG_MEDIA_TYPE", "SigningConfig"]

SIGNING_CONFIG_MEDIA_TYPE: Final = "application/vnd.dev.sigstore.signingconfig.v0.2+json"
CLIENT_TRUST_CONFIG_MEDIA_TYPE: Final = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"


def _parse_time(value: object, where: str) -> datetime:
    if not isinstance(value, str):
        raise SigningError(f"signing config: {where} must be an RFC 3339 string")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise SigningError(f"signing config: {where} is not an RFC 3339 time: {value!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _select(services: object, kind: str, now: datetime, version: int = 1) -> str:
    """The first service of ``kind`` with API ``version`` valid at ``now`` (selector ``ANY``).

    sigstore.md §5.2: each entry has ``url``, ``majorApiVersion``, ``validFor`` and
    ``operator``; entries of other API versions are skipped.
    """
    if not isinstance(services, list):
        raise SigningError(f"signing config: {kind} must be a list")
    for index, service in enumerate(services):
        where = f"{kind}[{index}]"
        if not isinstance(service, dict) or not isinstance(service.get("url"), str):
            raise SigningError(f"signing config: {where} has no url")
        if service.get("majorApiVersion", 1) != version:
            continue
        valid = service.get("validFor") or {}
        if not isinstance(valid, dict):
            raise SigningError(f"signing config: {where}.validFor must be an object")
        if "start" in valid and _parse_time(valid["start"], f"{where}.validFor.start") > now:
            continue
        if "end" in valid and _parse_time(valid["end"], f"{where}.validFor.end") < now:
            continue
        url: str = service["url"].rstrip("/")
        if urlsplit(url).scheme not in ("http", "https"):
            raise SigningError(f"signing config: {where}.url is not an http(s) URL: {url!r}")
        return url
    raise SigningError(
        f"signing config: no {kind} entry with majorApiVersion {version} is valid now"
    )


def _optional(services: object, kind: str, now: datetime, version: int = 1) -> str | None:
    try:
        return _select(services or [], kind, now, version)
    except SigningError:
        return None


@dataclass(frozen=True, slots=True)
class SigningConfig:
    """Where to get a certificate, a log entry and a timestamp: base URLs of a Fulcio v2 API
    and a Rekor v1 API; of a Rekor v2 API and the full URL of a TSA, when the config lists them
    (signing through Rekor v2 needs both: a v2 entry has no signed time of its own)."""

    ca_url: str
    tlog_url: str
    oidc_url: str | None = None
    tlog_v2_url: str | None = None
    tsa_url: str | None = None

    def log_for(self, rekor_version: int) -> str:
        """The log base URL to sign through with ``rekor_version``; refuses what is not listed."""
        if rekor_version == 1:
            return self.tlog_url
        if rekor_version != 2:
            raise SigningError(f"unknown Rekor API version {rekor_version}; use 1 or 2")
        if self.tlog_v2_url is None:
            raise SigningError("signing config: no rekorTlogUrls entry with majorApiVersion 2")
        if self.tsa_url is None:
            raise SigningError(
                "signing config: Rekor v2 needs a timestamp authority, and tsaUrls lists none"
            )
        return self.tlog_v2_url

    @classmethod
    def from_dict(cls, document: object, *, now: datetime | None = None) -> SigningConfig:
        """From a signing_config v0.2 or a client trust config (its ``signingConfig`` member)."""
        if not isinstance(document, dict):
            raise SigningError("signing config must be a JSON object")
        if document.get("mediaType") == CLIENT_TRUST_CONFIG_MEDIA_TYPE:
            return cls.from_dict(document.get("signingConfig"), now=now)
        if document.get("mediaType") != SIGNING_CONFIG_MEDIA_TYPE:
            raise SigningError(
                f"not a signing config: mediaType {document.get('mediaType')!r} "
                f"(expected {SIGNING_CONFIG_MEDIA_TYPE!r} or a client trust config)"
            )
        moment = now or datetime.now(UTC)
        oidc = document.get("oidcUrls") or []
        logs = document.get("rekorTlogUrls")
        return cls(
            ca_url=_select(document.get("caUrls"), "caUrls", moment),
            tlog_url=_select(logs, "rekorTlogUrls", moment),
            oidc_url=_select(oidc, "oidcUrls", moment) if oidc else None,
            tlog_v2_url=_optional(logs, "rekorTlogUrls", moment, version=2),
            tsa_url=_optional(document.get("tsaUrls"), "tsaUrls", moment),
        )

    @classmethod
    def from_json(cls, text: str | bytes, *, source: str = "signing config") -> SigningConfig:
        try:
            document = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SigningError(f"{source} is not JSON: {exc}", source=source) from exc
        return cls.from_dict(document)

    @classmethod
    def from_file(cls, path: Path) -> SigningConfig:
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise SigningError(f"cannot read {path}: {exc.strerror}", path=str(path)) from exc
        return cls.from_json(text, source=str(path))

    @classmethod
    def fetch(cls, instance: str, *, client: httpx.Client | None = None) -> SigningConfig:
        """The signing config an Assay instance serves at ``/-/trust/signing_config.json``."""
        url = f"{instance.rstrip('/')}/-/trust/signing_config.json"
        with http_session(client) as http:
            response = request(http, "GET", url, what="the signing config")
        if response.status_code != 200:
            raise SigningError(
                f"GET {url} answered {response.status_code}: {reason(response)}", url=url
            )
        return cls.from_json(response.content, source=url)
