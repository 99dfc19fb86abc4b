"""in-toto statements: every real one parses and re-serializes unchanged; bad input is refused."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assay.errors import StatementError
from assay.provenance.statement import STATEMENT_V01, STATEMENT_V1, Statement, Subject
from assay.provenance.subject import Digest
from tests.npm_real import statements

REAL = list(statements())


@pytest.mark.parametrize(("ident", "predicate_type", "data"), REAL, ids=[r[0] for r in REAL])
def test_real_statements_round_trip(ident: str, predicate_type: str, data: dict[str, Any]) -> None:
    statement = Statement.from_dict(data)
    assert statement.predicate_type == predicate_type
    assert statement.to_dict() == data
    assert Statement.from_json(statement.to_json()) == statement


def test_subject_matching() -> None:
    digest = Digest.of(b"tgz")
    subject = Subject("pkg:npm/x@1.0.0", {"sha512": digest.hex.upper()})
    assert subject.matches(digest)
    assert not subject.matches(Digest.of(b"other"))
    assert not subject.matches(Digest.of(b"tgz", "sha256"))
    assert not Subject("n", {"sha512": "zz"}).matches(digest)


def test_exactly_one_subject() -> None:
    one = Subject("pkg:npm/x@1.0.0", {"sha512": "00"})
    two = Statement(subjects=(one, one), predicate_type="t", predicate={})
    with pytest.raises(StatementError, match="exactly one subject"):
        _ = two.subject


V1 = '{"_type": "https://in-toto.io/Statement/v1", '
GOOD_SUBJECT = '"subject": [{"digest": {"a": "b"}}]'


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        "null",
        '{"_type": "https://in-toto.io/Statement/v2", "subject": [], "predicateType": "x"}',
        V1 + '"subject": [], "predicateType": "x"}',
        V1 + '"subject": {}, "predicateType": "x"}',
        V1 + '"subject": [{"name": "a"}], "predicateType": "x"}',
        V1 + '"subject": [{"digest": {}}], "predicateType": "x"}',
        V1 + '"subject": [{"digest": {"a": 1}}], "predicateType": "x"}',
        V1 + GOOD_SUBJECT + "}",
        V1 + GOOD_SUBJECT + ', "predicateType": "x", "predicate": null}',
        V1 + GOOD_SUBJECT + ', "predicateType": "x", "predicate": []}',
        V1 + GOOD_SUBJECT + ', "predicateType": "x", "extra": 1}',
        "[" * 100_000,
        b"\xff\xfe",
    ],
)
def test_malformed_statements_refused(text: str | bytes) -> None:
    with pytest.raises(StatementError):
        Statement.from_json(text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)

subjects = st.builds(
    Subject,
    name=st.text(max_size=30),
    digest=st.dictionaries(
        st.sampled_from(["sha256", "sha512", "gitCommit"]),
        st.text("0123456789abcdef", min_size=1, max_size=16),
        min_size=1,
    ),
    extra=st.dictionaries(st.sampled_from(["uri", "annotations"]), json_values, max_size=2),
)
statements_strategy = st.builds(
    Statement,
    subjects=st.lists(subjects, min_size=1, max_size=3).map(tuple),
    predicate_type=st.text(min_size=1, max_size=40),
    predicate=st.none() | st.dictionaries(st.text(max_size=10), json_values, max_size=5),
    type=st.sampled_from([STATEMENT_V1, STATEMENT_V01]),
)


@given(statements_strategy)
def test_parse_serialize_round_trip(statement: Statement) -> None:
    assert Statement.from_json(statement.to_json()) == statement
    assert Statement.from_dict(json.loads(json.dumps(statement.to_dict()))) == statement


@given(json_values)
def test_any_json_value_gives_our_error_or_a_statement(value: Any) -> None:
    with contextlib.suppress(StatementError):
        Statement.from_json(json.dumps(value))


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "_type": st.sampled_from([STATEMENT_V1, STATEMENT_V01]) | json_values,
            "subject": st.lists(
                st.fixed_dictionaries({}, optional={"name": json_values, "digest": json_values})
                | json_values,
                max_size=3,
            )
            | json_values,
            "predicateType": json_values,
            "predicate": json_values,
        },
    )
)
def test_statement_shaped_garbage_gives_our_error(value: dict[str, Any]) -> None:
    with contextlib.suppress(StatementError):
        Statement.from_dict(value)


@given(st.binary(max_size=200))
def test_any_bytes_give_our_error(data: bytes) -> None:
    with contextlib.suppress(StatementError):
        Statement.from_json(data)
