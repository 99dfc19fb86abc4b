"""The audit report: npm's text and JSON (npm ``lib/utils/verify-signatures.js``), plus policy.

Human output repeats npm's sentences exactly where the meaning is the same (npm-registry.md
§4.4), so people and scripts that know npm's report read ours. Our additions come after npm's
sections: other invalid codes carry their message after the ``name@version (registry)`` line, and
policy findings get a section of their own. JSON is npm's ``{"invalid": [...], "missing": [...]}``
(``verified`` with ``--include-attestations``), plus ``"provenance": [...]`` — the verified facts
of every package whose provenance verified (CI, OIDC issuer, repository, commit, ref, workflow,
run: read from its signing certificate) — and ``"policy": [...]`` when a policy is given. npm's
keys keep npm's meaning; ours are added beside them.
"""

from __future__ import annotations

import json
import math
from typing import Any

import click

from assay.audit.facts import facts_json
from assay.audit.verify import AuditResult, PackageResult

__all__ = ["render_json", "render_text"]

# npm lists only these two codes, in these two sections; ours go where their kind says.
_SIGNATURE_CODE = "EINTEGRITYSIGNATURE"
_ATTESTATION_CODE = "EATTESTATIONVERIFY"


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def render_text(report: AuditResult, *, color: bool = False) -> str:
    """npm's human report (``audited N packages in Xs`` …) plus our policy section."""

    def style(text: str, **how: Any) -> str:
        return click.style(text, **how) if color else text

    verified = style("verified", bold=True)
    missing_word = style("missing", fg="bright_red")
    invalid_word = style("invalid", fg="bright_red")

    def line(result: PackageResult, detail: str | None = None) -> str:
        ident = style(f"{result.package.name}@{result.package.version}", fg="red")
        text = f"{ident} ({result.registry})"
        return f"{text}: {detail}\n" if detail else text + "\n"

    # npm: Math.floor(elapsed seconds)
    seconds = math.floor(report.elapsed)
    msg = f"audited {_plural(report.audited, 'package', 'packages')} in {seconds}s\n\n"
    if report.verified_signatures:
        count = report.verified_signatures
        if count == 1:
            msg += f"1 package has a {verified} registry signature\n"
        else:
            msg += f"{count} packages have {verified} registry signatures\n"
        msg += "\n"
    if report.verified_attestations:
        count = report.verified_attestations
        if count == 1:
            msg += f"1 package has a {verified} attestation\n"
        else:
            msg += f"{count} packages have {verified} attestations\n"
        msg += "(use --json --include-attestations to view attestation details)\n"
        msg += "\n"
    missing = report.missing
    if missing:
        if len(missing) == 1:
            msg += (
                f"1 package has a {missing_word} registry signature but the registry is "
                "providing signing keys:\n"
            )
        else:
            msg += (
                f"{len(missing)} packages have {missing_word} registry signatures but the "
                "registry is providing signing keys:\n"
            )
        msg += "\n"
        msg += "".join(line(r) for r in missing)
    invalid = report.invalid
    if invalid:
        if missing:
            msg += "\n"
        signatures = [r for r in invalid if r.invalid and r.invalid.kind != "attestation"]
        attestations = [r for r in invalid if r.invalid and r.invalid.kind == "attestation"]
        if signatures:
            if len(signatures) == 1:
                msg += f"1 package has an {invalid_word} registry signature:\n"
            else:
                msg += f"{len(signatures)} packages have {invalid_word} registry signatures:\n"
            msg += "\n"
            msg += "".join(line(r, _detail(r, _SIGNATURE_CODE)) for r in signatures)
            msg += "\n"
        if attestations:
            if len(attestations) == 1:
                msg += f"1 package has an {invalid_word} attestation:\n"
            else:
                msg += f"{len(attestations)} packages have {invalid_word} attestations:\n"
            msg += "\n"
            msg += "".join(line(r, _detail(r, _ATTESTATION_CODE)) for r in attestations)
            msg += "\n"
        if len(invalid) == 1:
            msg += (
                "Someone might have tampered with this package since it was published on the "
                "registry!\n"
            )
        else:
            msg += (
                "Someone might have tampered with these packages since they were published on "
                "the registry!\n"
            )
        msg += "\n"
    findings = report.policy_findings
    if findings:
        source = report.policy.source if report.policy is not None else "policy"
        if len(findings) == 1:
            msg += f"1 package does not satisfy the policy ({source}):\n"
        else:
            msg += f"{len(findings)} packages do not satisfy the policy ({source}):\n"
        msg += "\n"
        for result in findings:
            msg += line(result)
            msg += "".join(f"  {f.rule}: {f.reason}\n" for f in result.policy)
        msg += "\n"
    return msg


def _detail(result: PackageResult, npm_code: str) -> str | None:
    """npm prints no reason; for codes npm would have thrown on, say what happened."""
    if result.invalid is None or result.invalid.code == npm_code:
        return None
    return f"{result.invalid.code}: {result.invalid.message}"


def _drop_none(entry: dict[str, Any]) -> dict[str, Any]:
    # JSON.stringify drops undefined properties.
    return {key: value for key, value in entry.items() if value is not None}


def render_json(report: AuditResult, *, include_attestations: bool = False) -> str:
    """npm's ``--json`` document, in npm's key order, plus ``provenance`` (the verified facts
    of each package with provenance) and ``policy`` when a policy is given."""
    document: dict[str, Any] = {
        "invalid": [
            _drop_none(
                {
                    "code": r.invalid.code,
                    "message": r.invalid.message,
                    "integrity": r.integrity,
                    "keyid": r.invalid.keyid,
                    "location": r.package.location,
                    "name": r.package.name,
                    "registry": r.registry,
                    "resolved": r.resolved,
                    "signature": r.invalid.signature,
                    "predicateType": r.invalid.predicate_type,
                    "type": r.package.type,
                    "version": r.package.version,
                }
            )
            for r in report.invalid
            if r.invalid is not None
        ],
        "missing": [
            _drop_none(
                {
                    "integrity": r.integrity,
                    "location": r.package.location,
                    "name": r.package.name,
                    "registry": r.registry,
                    "resolved": r.resolved,
                    "version": r.package.version,
                }
            )
            for r in report.missing
        ],
    }
    if include_attestations:
        document["verified"] = [
            {
                "name": r.package.name,
                "version": r.package.version,
                "location": r.package.location,
                "registry": r.registry,
                "attestations": r.dist_attestations,
                "attestationBundles": list(r.bundles),
            }
            for r in report.results
            if r.attestations == "verified" and r.invalid is None
        ]
    document["provenance"] = [
        {
            "name": r.package.name,
            "version": r.package.version,
            "location": r.package.location,
            "registry": r.registry,
            "facts": facts_json(r.facts),
        }
        for r in report.results
        if r.facts is not None and r.invalid is None
    ]
    if report.policy is not None:
        document["policy"] = [
            {
                "name": r.package.name,
                "version": r.package.version,
                "location": r.package.location,
                "registry": r.registry,
                "findings": [{"rule": f.rule, "reason": f.reason} for f in r.policy],
            }
            for r in report.policy_findings
        ]
    return json.dumps(document, indent=2) + "\n"
