"""in-toto statements: the signed payload of every npm attestation.

Statement v1 (https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md) is what
npm writes for SLSA v1 provenance; v0.1 is what it wrote before (and still writes for GitLab CI
and for the registry's publish attestation, npm-registry spec §2.2, §3.5). Both share one
shape: ``_type``, ``subject`` (a non-empty list of resource descriptors with digests),
``predicateType`` and ``predicate`` (an object whose schema the predicate type names).

A :class:`Statement` keeps its predicate as the JSON object it was given so that
``from_dict(x).to_dict() == x`` for every statement; typed readings of predicates live in
:mod:`assay.provenance.slsa` and :mod:`assay.provenance.publish`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from assay.errors import StatementError
from assay.provenance.encoding import dump_json, load_json_object
from assay.provenance.subject import Digest

STATEMENT_V1 = "https://in-toto.io/Statement/v1"
STATEMENT_V01 = "https://in-toto.io/Statement/v0.1"
STATEMENT_TYPES = (STATEMENT_V1, STATEMENT_V01)

# The DSSE payload type of in-toto statements (in-toto attestation spec, envelope.md).
PAYLOAD_TYPE = "application/vnd.in-toto+json"

JSONObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Subject:
    """A resource descriptor naming one signed artifact (in-toto v1 ResourceDescriptor).

    ``digest`` maps algorithm names to lower-case hex; ``extra`` keeps any other descriptor
    fields (uri, annotations, …) so a statement re-serializes unchanged.
    """

    name: str
    digest: Mapping[str, str]
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.digest:
            raise StatementError("subject has no digest", subject=self.name)
        for algorithm, value in self.digest.items():
            if not isinstance(algorithm, str) or not isinstance(value, str) or not value:
                raise StatementError("subject digest values must be non-empty strings")

    @classmethod
    def from_dict(cls, obj: object, where: str = "subject") -> Subject:
        if not isinstance(obj, dict):
            raise StatementError(f"{where} must be an object")
        name = obj.get("name", "")
        digest = obj.get("digest")
        if not isinstance(name, str):
            raise StatementError(f"{where}.name must be a string")
        if not isinstance(digest, dict):
            raise StatementError(f"{where}.digest must be an object")
        extra = {k: v for k, v in obj.items() if k not in ("name", "digest")}
        return cls(name=name, digest=dict(digest), extra=extra)

    def to_dict(self) -> JSONObject:
        out: JSONObject = {"name": self.name, "digest": dict(self.digest)}
        out.update(self.extra)
        return out

    def matches(self, digest: Digest) -> bool:
        """Whether this subject records ``digest`` (compared as bytes, so hex case is moot)."""
        recorded = self.digest.get(digest.algorithm)
        if recorded is None:
            return False
        try:
            return Digest.from_hex(digest.algorithm, recorded) == digest
        except StatementError:
            return False


@dataclass(frozen=True, slots=True)
class Statement:
    """An in-toto statement (v1 or v0.1), checked on construction."""

    subjects: tuple[Subject, ...]
    predicate_type: str
    # None when the statement has no predicate at all (optional in in-toto v1).
    predicate: Mapping[str, Any] | None
    type: str = STATEMENT_V1

    def __post_init__(self) -> None:
        if self.type not in STATEMENT_TYPES:
            raise StatementError(f"unknown statement _type {self.type!r}", type=self.type)
        if not self.subjects:
            raise StatementError("statement has no subject")
        if not self.predicate_type:
            raise StatementError("statement has no predicateType")

    @classmethod
    def from_json(cls, text: str | bytes) -> Statement:
        """Parse a statement from JSON text (a DSSE payload)."""
        return cls.from_dict(load_json_object(text, error=StatementError, what="statement"))

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> Statement:
        if not isinstance(obj, Mapping):
            raise StatementError("statement must be an object")
        unknown = set(obj) - {"_type", "subject", "predicateType", "predicate"}
        if unknown:
            raise StatementError(f"unknown statement fields: {sorted(unknown)}")
        type_ = obj.get("_type")
        subjects = obj.get("subject")
        predicate_type = obj.get("predicateType")
        predicate = obj.get("predicate")
        if not isinstance(type_, str):
            raise StatementError("statement _type must be a string")
        if not isinstance(subjects, list):
            raise StatementError("statement subject must be a list")
        if not isinstance(predicate_type, str):
            raise StatementError("statement predicateType must be a string")
        if ("predicate" in obj and predicate is None) or (
            predicate is not None and not isinstance(predicate, dict)
        ):
            raise StatementError("statement predicate must be an object")
        return cls(
            type=type_,
            subjects=tuple(Subject.from_dict(s, f"subject[{i}]") for i, s in enumerate(subjects)),
            predicate_type=predicate_type,
            predicate=predicate,
        )

    def to_dict(self) -> JSONObject:
        """The statement as JSON data, keys in the order npm writes them."""
        out: JSONObject = {
            "_type": self.type,
            "subject": [s.to_dict() for s in self.subjects],
            "predicateType": self.predicate_type,
        }
        if self.predicate is not None:
            out["predicate"] = self.predicate
        return out

    def to_json(self) -> bytes:
        """Compact JSON, as ``JSON.stringify`` writes it: the bytes npm signs."""
        return dump_json(self.to_dict()).encode()

    @property
    def subject(self) -> Subject:
        """The only subject; npm statements have exactly one (libnpmpublish verifyProvenance)."""
        if len(self.subjects) != 1:
            raise StatementError(
                f"expected exactly one subject, found {len(self.subjects)}",
                count=len(self.subjects),
            )
        return self.subjects[0]
