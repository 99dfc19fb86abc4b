"""The verified facts of a provenance, as `assay verify` prints them and the audit reports them.

Both commands verify the provenance first (:mod:`assay.verify.package`); what they then say about
the build — the CI, the OIDC issuer, the source repository, commit and ref, the workflow and the
run — is :class:`~assay.verify.facts.VerifiedFacts`, read from the verified signing certificate,
never from the builder's own statement (issue 10).

An Assay instance serves its OIDC issuer (its CI emulation) at ``<origin>/-/oidc``, the same
layout :func:`assay.verify.package.trust_plan` relies on for the trusted root; certificates from
that issuer are labelled "emulated CI of this instance".
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlsplit

from assay.errors import VerificationError
from assay.verify.facts import VerifiedFacts
from assay.verify.package import is_npmjs
from assay.verify.result import VerificationResult

__all__ = ["facts_json", "facts_lines", "instance_issuer", "provenance_facts"]

OIDC_PATH: Final = "/-/oidc"


def instance_issuer(registry: str) -> str | None:
    """The OIDC issuer an Assay instance at ``registry`` serves; None for registry.npmjs.org."""
    if is_npmjs(registry):
        return None
    parts = urlsplit(registry)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}{OIDC_PATH}"


def provenance_facts(
    result: VerificationResult | None, registry: str | None = None
) -> VerifiedFacts | None:
    """The facts of a verified keyless provenance (None without one, or for a bare key)."""
    if result is None or result.signer is None:
        return None
    issuer = instance_issuer(registry) if registry is not None else None
    try:
        return VerifiedFacts.from_result(result, instance_issuer=issuer)
    except VerificationError:
        return None


def facts_json(facts: VerifiedFacts) -> dict[str, Any]:
    """The facts in the audit's ``--json`` (npm's camelCase), ``null`` where the certificate
    does not state one."""
    return {
        "ci": facts.ci,
        "emulated": facts.emulated,
        "issuer": facts.issuer,
        "sourceRepository": facts.source_repository_uri,
        "sourceCommit": facts.source_repository_digest,
        "sourceRef": facts.source_repository_ref,
        "workflow": facts.workflow_path,
        "buildConfigUri": facts.build_config_uri,
        "runInvocationUri": facts.run_invocation_uri,
        "runnerEnvironment": facts.runner_environment,
        "trigger": facts.build_trigger,
        "signerIdentity": facts.signer_identity,
    }


def facts_lines(facts: VerifiedFacts) -> list[str]:
    """``label: value`` lines for people, in the provenance panel's order."""
    rows = [
        ("built and signed on", facts.ci),
        ("OIDC issuer", facts.issuer),
        ("source repository", facts.source_repository_uri),
        ("source commit", facts.source_repository_digest),
        ("source ref", facts.source_repository_ref),
        ("workflow", facts.workflow_path),
        ("run", facts.run_invocation_uri),
    ]
    return [f"{label}: {value}" for label, value in rows if value]
