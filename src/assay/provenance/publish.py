"""The npm publish attestation predicate.

npm/attestation ``specs/publish/v0.1``: the registry states that it accepted a tarball as
``name@version``. The statement is in-toto v0.1 (npmjs.org still writes v0.1), its subject the
package's purl and tarball sha512, its predicate ``{name, version, registry}``; the registry
signs it with its own key (npm-registry spec §3.5).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from assay.errors import StatementError
from assay.provenance.statement import STATEMENT_V01, Statement, Subject
from assay.provenance.subject import Digest, npm_purl

PUBLISH_PREDICATE_TYPE = "https://github.com/npm/attestation/tree/main/specs/publish/v0.1"


@dataclass(frozen=True, slots=True)
class PublishPredicate:
    """``{name, version, registry}``: which registry accepted which version."""

    name: str
    version: str
    registry: str

    @classmethod
    def from_statement(cls, statement: Statement) -> PublishPredicate:
        if statement.predicate_type != PUBLISH_PREDICATE_TYPE:
            raise StatementError(
                f"not a publish attestation: {statement.predicate_type!r}",
                predicate_type=statement.predicate_type,
            )
        return cls.from_dict(statement.predicate or {})

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> PublishPredicate:
        values = [obj.get(key) for key in ("name", "version", "registry")]
        if not all(isinstance(v, str) and v for v in values):
            raise StatementError("publish predicate needs string name, version and registry")
        name, version, registry = values
        return cls(name=str(name), version=str(version), registry=str(registry))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "registry": self.registry}


def publish_statement(name: str, version: str, registry: str, tarball: Digest) -> Statement:
    """The statement a registry signs when it accepts ``name@version`` with this tarball."""
    if tarball.algorithm != "sha512":
        raise StatementError("npm subjects use the tarball's sha512")
    return Statement(
        type=STATEMENT_V01,
        subjects=(Subject(npm_purl(name, version), {"sha512": tarball.hex}),),
        predicate_type=PUBLISH_PREDICATE_TYPE,
        predicate=PublishPredicate(name, version, registry.rstrip("/")).to_dict(),
    )
