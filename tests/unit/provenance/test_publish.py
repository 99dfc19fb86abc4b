"""The npm publish attestation: we build exactly the statement npmjs.org signed."""

from __future__ import annotations

from typing import Any

import pytest

from assay.errors import StatementError
from assay.provenance.publish import (
    PUBLISH_PREDICATE_TYPE,
    PublishPredicate,
    publish_statement,
)
from assay.provenance.statement import Statement
from assay.provenance.subject import Digest, parse_npm_purl
from tests.npm_real import statements

# The negative/ fixtures carry tampered payloads (that is their point): not npmjs.org's words.
PUBLISH = [
    (i, d)
    for i, t, d in statements()
    if t == PUBLISH_PREDICATE_TYPE and not i.startswith("slsa-verifier/negative/")
]


@pytest.mark.parametrize(("ident", "data"), PUBLISH, ids=[p[0] for p in PUBLISH])
def test_reproduces_npmjs_publish_statement(ident: str, data: dict[str, Any]) -> None:
    recorded = Statement.from_dict(data)
    name, version = parse_npm_purl(recorded.subject.name)
    digest = Digest.from_hex("sha512", recorded.subject.digest["sha512"])
    built = publish_statement(name, version, "https://registry.npmjs.org/", digest)
    assert built.to_dict() == data
    assert PublishPredicate.from_statement(recorded) == PublishPredicate(
        name, version, "https://registry.npmjs.org"
    )


def test_needs_sha512() -> None:
    with pytest.raises(StatementError):
        publish_statement("x", "1.0.0", "https://r", Digest.of(b"", "sha256"))


@pytest.mark.parametrize(
    "predicate", [{}, {"name": "x", "version": "1"}, {"name": 1, "version": "1", "registry": "r"}]
)
def test_malformed_predicate_refused(predicate: dict[str, Any]) -> None:
    with pytest.raises(StatementError):
        PublishPredicate.from_dict(predicate)
