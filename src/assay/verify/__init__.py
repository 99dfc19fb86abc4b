"""The one verification path (DESIGN.md): trust material, the verifier, its result, policies,
npm checks.

Everyone calls this: the registry at publish time, ``assay audit signatures``, ``assay verify``
and the conformance CLI.
"""

from __future__ import annotations

from assay.verify.policy import (
    AllOf,
    AnyOf,
    Event,
    Identity,
    NpmProvenancePolicy,
    OIDCExtension,
    Policy,
    Ref,
    RunnerEnvironment,
    SourceRepository,
    Subject,
    Workflow,
)
from assay.verify.result import SignerIdentity, VerificationResult
from assay.verify.trust import RegistryKey, RegistryKeys, TrustedRoot
from assay.verify.verifier import Artifact, Verifier

__all__ = [
    "AllOf",
    "AnyOf",
    "Artifact",
    "Event",
    "Identity",
    "NpmProvenancePolicy",
    "OIDCExtension",
    "Policy",
    "Ref",
    "RegistryKey",
    "RegistryKeys",
    "RunnerEnvironment",
    "SignerIdentity",
    "SourceRepository",
    "Subject",
    "TrustedRoot",
    "VerificationResult",
    "Verifier",
    "Workflow",
]
