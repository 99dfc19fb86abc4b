"""The trust files Sigstore clients read, generated from an instance's keys and URL.

* ``trusted_root.json`` (protobuf-specs ``TrustedRoot``, media type
  ``application/vnd.dev.sigstore.trustedroot+json;version=0.1`` — the only one sigstore-python
  4.x accepts): our log, our CA chain (intermediate first, root last), our CT key, and our
  timestamp authority (its signing certificate first, its root last; sigstore.md §3.4).
* ``signing_config.json`` (v0.2): where to get a certificate, a log entry, a timestamp and a
  token. Every service carries an ``operator`` (sigstore-python requires it) and a
  ``validFor.start``. The log is listed twice, with ``majorApiVersion`` 1 (Rekor v1) and 2
  (Rekor v2), at the same base URL: one tree, two write APIs. The TSA's ``url`` is the full
  timestamp URL (sigstore.md §5.2). Selectors are ``ANY``, the only one sigstore-js signs with.

  A client that follows the config picks the newest log API it speaks (sigstore-python keeps
  the highest ``majorApiVersion`` per operator), so sigstore-python signs through Rekor v2 and
  the TSA unless told ``--rekor-version 1``.
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
        # timestamp-authority's path under the TSA's mount; the full URL is what clients post to.
        "tsa": f"{origin}/-/tsa/api/v1/timestamp",
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
        "timestampAuthorities": [
            {
                "subject": {
                    "organization": material.info.organization,
                    "commonName": f"{material.info.organization}-tsa",
                },
                "uri": urls["tsa"],
                "certChain": {
                    "certificates": [
                        {"rawBytes": _b64(certificate.public_bytes(der))}
                        for certificate in material.tsa_chain
                    ]
                },
                # From the TSA certificate's own start: an instance made before the TSA existed
                # got it later, and no timestamp can predate it.
                "validFor": {"start": _time(material.tsa_chain[0].not_valid_before_utc)},
            }
        ],
    }


def signing_config(material: InstanceMaterial, origin: str) -> dict[str, Any]:
    urls = service_urls(origin)

    def service(url: str, version: int = 1, start: datetime | None = None) -> dict[str, Any]:
        return {
            "url": url,
            "majorApiVersion": version,
            "validFor": {"start": _time(start or material.info.created_at)},
            "operator": material.info.organization,
        }

    return {
        "mediaType": SIGNING_CONFIG_MEDIA_TYPE,
        "caUrls": [service(urls["ca"])],
        "oidcUrls": [service(urls["oidc"])],
        "rekorTlogUrls": [service(urls["tlog"], 2), service(urls["tlog"], 1)],
        "rekorTlogConfig": {"selector": "ANY"},
        "tsaUrls": [service(urls["tsa"], start=material.tsa_chain[0].not_valid_before_utc)],
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
