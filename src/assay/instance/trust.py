"""The trust files Sigstore clients read, generated from an instance's keys and URL.

* ``trusted_root.json`` (protobuf-specs ``TrustedRoot``, media type
  ``application/vnd.dev.sigstore.trustedroot+json;version=0.1`` — the only one sigstore-python
  4.x accepts): our log, our CA chain (intermediate first, root last), our CT key.
* ``signing_config.json`` (v0.2): where to get a certificate, a log entry and a token. Every
  service carries an ``operator`` (sigstore-python requires it) and a ``validFor.start``.
* ``client_trust_config.json``: both together, what ``sigstore --trust-config`` reads.

All of it follows sigstore.md §5; every key's ``validFor.start`` is the instance's creation time,
so the keys verify everything the instance ever produced.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import serialization

from assay.instance.material import InstanceMaterial
from assay.keys import PublicKey, key_details, key_id, public_of, spki_der

TRUSTED_ROOT_MEDIA_TYPE = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
SIGNING_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.signingconfig.v0.2+json"
CLIENT_TRUST_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _log_key(base_url: str, key: PublicKey, start: str) -> dict[str, Any]:
    return {
        "baseUrl": base_url,
        "hashAlgorithm": "SHA2_256",
        "publicKey": {
            "rawBytes": _b64(spki_der(key)),
            "keyDetails": key_details(key),
            "validFor": {"start": start},
        },
        "logId": {"keyId": _b64(key_id(key))},
    }


def service_urls(origin: str) -> dict[str, str]:
    """Base URLs of the trust services under one origin (DESIGN.md, one origin)."""
    return {
        "oidc": f"{origin}/-/oidc",
        # The origin itself: sigstore-python urljoins "/api/v2/signingCert" onto this URL,
        # dropping any path, so the instance serves the CA's paths at the origin too.
        "ca": origin,
        "tlog": f"{origin}/-/tlog",
        "ct": f"{origin}/-/ct",
    }


def trusted_root(material: InstanceMaterial, origin: str) -> dict[str, Any]:
    urls = service_urls(origin)
    start = _time(material.info.created_at)
    der = serialization.Encoding.DER
    return {
        "mediaType": TRUSTED_ROOT_MEDIA_TYPE,
        "tlogs": [_log_key(urls["tlog"], public_of(material.tlog_key), start)],
        "certificateAuthorities": [
            {
                "subject": {
                    "organization": material.info.organization,
                    "commonName": material.info.organization,
                },
                "uri": urls["ca"],
                "certChain": {
                    "certificates": [
                        {"rawBytes": _b64(material.ca_intermediate.public_bytes(der))},
                        {"rawBytes": _b64(material.ca_root.public_bytes(der))},
                    ]
                },
                "validFor": {"start": start},
            }
        ],
        "ctlogs": [_log_key(urls["ct"], public_of(material.ct_key), start)],
        "timestampAuthorities": [],
    }


def signing_config(material: InstanceMaterial, origin: str) -> dict[str, Any]:
    urls = service_urls(origin)

    def service(url: str) -> dict[str, Any]:
        return {
            "url": url,
            "majorApiVersion": 1,
            "validFor": {"start": _time(material.info.created_at)},
            "operator": material.info.organization,
        }

    return {
        "mediaType": SIGNING_CONFIG_MEDIA_TYPE,
        "caUrls": [service(urls["ca"])],
        "oidcUrls": [service(urls["oidc"])],
        "rekorTlogUrls": [service(urls["tlog"])],
        "rekorTlogConfig": {"selector": "ANY"},
        "tsaUrls": [],
        "tsaConfig": {"selector": "ANY"},
    }


def client_trust_config(material: InstanceMaterial, origin: str) -> dict[str, Any]:
    return {
        "mediaType": CLIENT_TRUST_CONFIG_MEDIA_TYPE,
        "trustedRoot": trusted_root(material, origin),
        "signingConfig": signing_config(material, origin),
    }


def with_uplinks(own: dict[str, Any], uplink_roots: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The instance's trusted root with its mirror's uplinks' appended (assay.mirror): their
    CAs, logs, CT logs and TSAs, so that a client verifying a mirrored version's provenance
    against the mirror finds the upstream's trust anchors (docs/mirror.md)."""
    merged = {key: list(value) if isinstance(value, list) else value for key, value in own.items()}
    for root in uplink_roots:
        for key in ("certificateAuthorities", "tlogs", "ctlogs", "timestampAuthorities"):
            entries = root.get(key)
            if isinstance(entries, list):
                known = merged.setdefault(key, [])
                known.extend(entry for entry in entries if entry not in known)
    return merged
