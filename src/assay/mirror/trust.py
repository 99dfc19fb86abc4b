"""What an uplink's versions are verified with: its registry keys and trusted root.

One rule, :func:`assay.verify.package.registry_trust` (shared with ``assay verify`` and ``assay
audit signatures``): an uplink with ``trust = "npmjs"`` is verified with npm's keys and the
public-good trusted root (bundled, or ``assay trust update``'s newer copy), any other with what
it serves at ``/-/npm/v1/keys`` and ``/-/trust/trusted_root.json`` (public-good when it serves
no root). Files the operator names (``keys``, ``trusted-root``) replace either.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC
from importlib import resources
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from assay.mirror.config import Uplink
from assay.mirror.upstream import UpstreamClient
from assay.verify.package import Served, registry_trust, trust_plan
from assay.verify.trust import RegistryKeys, TrustedRoot
from assay.verify.verifier import Verifier

__all__ = ["UplinkTrust", "load_trust", "npm_key_entries"]


@dataclass(frozen=True)
class UplinkTrust:
    verifier: Verifier
    keys: RegistryKeys | None
    """None: the uplink has no signing keys (its versions' signatures are "unchecked")."""
    root: dict[str, Any]
    """The trusted root as JSON, to serve beside the instance's (stock clients verify the
    uplink's provenance with it)."""


def load_trust(uplink: Uplink, client: UpstreamClient, public_good: Path | None) -> UplinkTrust:
    """The uplink's trust; raises UpstreamError when what it serves cannot be fetched."""
    pinned_keys = None if uplink.keys is None else RegistryKeys.from_file(uplink.keys)
    pinned_root = (
        None if uplink.trusted_root is None else TrustedRoot.from_file(uplink.trusted_root)
    )
    if uplink.trust == "npmjs":
        pinned_keys = pinned_keys or RegistryKeys.npmjs(public_good)
        pinned_root = pinned_root or TrustedRoot.public_good(public_good)
    plan = trust_plan(uplink.url, registry_keys=pinned_keys, trusted_root=pinned_root)

    def served(url: str | None) -> Served | None:
        if url is None:
            return None
        answer = client.document(url)
        return Served(url, answer.status, answer.body)

    plan_root = served(plan.trusted_root_url)
    trust = registry_trust(
        uplink.url,
        served_keys=served(plan.keys_url),
        served_root=plan_root,
        registry_keys=pinned_keys,
        trusted_root=pinned_root,
        public_good=public_good,
    )
    return UplinkTrust(
        Verifier(trust.trusted_root), trust.keys, _root_json(uplink, public_good, plan_root)
    )


def npm_key_entries(keys: RegistryKeys) -> list[dict[str, Any]]:
    """``keys`` in the ``GET /-/npm/v1/keys`` shape (npm-registry.md §3.3), one per keyid, so
    that the stock ``npm audit signatures`` against the mirror finds the uplink's keys."""
    entries: list[dict[str, Any]] = []
    seen: set[str] = set()
    for key in keys.keys:
        if key.keyid in seen:
            continue
        seen.add(key.keyid)
        der = key.public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        expires = None
        if key.expires is not None:
            moment = key.expires.astimezone(UTC)
            expires = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
        entries.append({
            "expires": expires,
            "keyid": key.keyid,
            "keytype": "ecdsa-sha2-nistp256",
            "scheme": "ecdsa-sha2-nistp256",
            "key": base64.b64encode(der).decode("ascii"),
        })  # fmt: skip
    return entries


def _root_json(uplink: Uplink, public_good: Path | None, served: Served | None) -> dict[str, Any]:
    """The JSON of the trusted root :func:`load_trust` chose (same order of precedence)."""
    if uplink.trusted_root is not None:
        data = uplink.trusted_root.read_bytes()
    elif served is not None and served.status == 200:
        data = served.body
    elif public_good is not None and (public_good / "trusted_root.json").is_file():
        data = (public_good / "trusted_root.json").read_bytes()
    else:
        data = resources.files("assay.verify").joinpath("bundled/trusted_root.json").read_bytes()
    value: dict[str, Any] = json.loads(data)
    return value
