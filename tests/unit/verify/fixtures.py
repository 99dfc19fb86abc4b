"""The real npm bundles of tests/fixtures/npm-real, grouped the way the verify tests use them."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.provenance.subject import hex_to_sri, parse_npm_purl
from tests.npm_real import ROOT, attestation_files

PUBLIC_GOOD = ROOT / "public-good" / "sigstore-js-main" / "targets"
TRUSTED_ROOT = PUBLIC_GOOD / "trusted_root.json"
NPM_KEYS = PUBLIC_GOOD / "registry.npmjs.org%2Fkeys.json"
SYNTHETIC = ROOT / "npm-cli" / "libnpmpublish-synthetic"


@dataclass(frozen=True)
class Response:
    """One attestations response file and the package version it is for."""

    path: Path
    ident: str
    data: dict[str, Any]
    name: str
    version: str
    integrity: str

    @property
    def negative(self) -> bool:
        return "negative" in self.path.parts


@dataclass(frozen=True)
class RealBundle:
    ident: str
    predicate_type: str
    bundle: dict[str, Any]
    response: Response
    tampered: bool

    @property
    def keyid(self) -> str:
        keyid: str = self.bundle["dsseEnvelope"]["signatures"][0].get("keyid", "")
        return keyid


def responses() -> list[Response]:
    found = []
    for path in attestation_files():
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        payload = data["attestations"][0]["bundle"]["dsseEnvelope"]["payload"]
        subject = json.loads(base64.b64decode(payload))["subject"][0]
        name, version = parse_npm_purl(subject["name"])
        found.append(
            Response(
                path=path,
                ident=str(path.relative_to(ROOT)),
                data=data,
                name=name,
                version=version,
                integrity=hex_to_sri(subject["digest"]["sha512"]),
            )
        )
    return found


def _tampered(response: Response, predicate_type: str) -> bool:
    """Which bundle of a negative/ file was altered (…invalidsigprov: provenance; …pub: publish)."""
    if not response.negative:
        return False
    publish = predicate_type.endswith("/publish/v0.1")
    return publish == response.path.name.endswith(("invalidsigpub.tgz.json",))


def bundles() -> list[RealBundle]:
    found = []
    for response in responses():
        for index, attestation in enumerate(response.data["attestations"]):
            predicate_type = attestation["predicateType"]
            found.append(
                RealBundle(
                    ident=f"{response.ident}[{index}]",
                    predicate_type=predicate_type,
                    bundle=attestation["bundle"],
                    response=response,
                    tampered=_tampered(response, predicate_type),
                )
            )
    return found
