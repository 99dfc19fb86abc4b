"""The proto3 JSON codecs: strict base64 and int64, safe JSON loading, spelling kept on objects."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.errors import BundleError, EnvelopeError, FormatError
from assay.provenance.encoding import (
    INT64_MAX,
    INT64_MIN,
    MAX_JSON_DEPTH,
    JSONValue,
    copy_json,
    decode_base64,
    dump_json,
    encode_base64,
    format_int64,
    load_json_object,
    parse_int64,
)
from assay.provenance.wire import (
    FRESH,
    ObjectReader,
    ObjectWriter,
)

# --- base64 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", b""),
        ("QQ==", b"A"),
        ("QQ", b"A"),  # unpadded (proto3 JSON: "with/without paddings")
        ("QUI=", b"AB"),
        ("QUJD", b"ABC"),
        ("+/8=", b"\xfb\xff"),  # standard alphabet
        ("-_8=", b"\xfb\xff"),  # URL-safe alphabet (DSSE: verifiers MUST accept either)
        ("-_8", b"\xfb\xff"),
    ],
)
def test_base64_accepts_both_alphabets_with_or_without_padding(text: str, expected: bytes) -> None:
    assert decode_base64(text, error=BundleError, field="f") == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("Q", "truncated"),
        ("QQ=", "padding"),
        ("Q===", "padding"),
        ("QQ===", "padding"),
        ("====", "padding"),
        ("QQ==QQ==", "unexpected character"),
        ("QQ =", "unexpected character"),
        ("QUJ\nDQ==", "unexpected character"),
        ("+_8=", "unexpected character"),  # mixed alphabets
        ("QUJ*", "unexpected character"),
        ("QU\u0663D", "unexpected character"),  # a non-ASCII digit
        (None, "got null"),
        (12, "got number"),
        (["QQ=="], "got array"),
    ],
)
def test_base64_refuses_garbage(value: object, reason: str) -> None:
    with pytest.raises(EnvelopeError, match=reason) as caught:
        decode_base64(value, error=EnvelopeError, field="payload")
    assert caught.value.details["field"] == "payload"


@given(st.binary(max_size=64))
def test_base64_round_trip_in_every_accepted_form(data: bytes) -> None:
    standard = encode_base64(data)
    assert standard == base64.b64encode(data).decode()
    urlsafe = base64.urlsafe_b64encode(data).decode()
    for text in (standard, standard.rstrip("="), urlsafe, urlsafe.rstrip("=")):
        assert decode_base64(text, error=BundleError, field="f") == data


# --- int64 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0),
        ("12988397", 12988397),
        (12988397, 12988397),
        ("-5", -5),
        ("1e3", 1000),  # proto3 JSON: exponent notation accepted, quoted or not
        ("1.5e1", 15),
        ("2.0", 2),
        (str(INT64_MAX), INT64_MAX),
        (str(INT64_MIN), INT64_MIN),
        (INT64_MAX, INT64_MAX),
    ],
)
def test_int64_accepts_strings_and_integers(value: object, expected: int) -> None:
    assert parse_int64(value, error=BundleError, field="logIndex") == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        " 7",
        "+7",
        "007",
        "0x10",
        "1.5",
        "1_000",
        "1e999999999",  # must be refused without building the number
        "9" * 100,
        str(INT64_MAX + 1),
        str(INT64_MIN - 1),
        INT64_MAX + 1,
        2**200,
        1.0,  # a JSON number with a fraction: json hands it over as a binary float
        True,
        None,
        [1],
    ],
)
def test_int64_refuses_everything_else(value: object) -> None:
    with pytest.raises(BundleError) as caught:
        parse_int64(value, error=BundleError, field="treeSize")
    assert caught.value.details["field"] == "treeSize"


def test_int64_is_written_as_a_decimal_string() -> None:
    assert format_int64(95271036) == "95271036"
    assert format_int64(-1) == "-1"


# --- JSON documents ---------------------------------------------------------------------------


def test_load_json_object_accepts_text_and_bytes() -> None:
    assert load_json_object('{"a": [1, 2.5, null]}', error=BundleError, what="x") == {
        "a": [1, 2.5, None]
    }
    assert load_json_object('{"é": "ü"}'.encode(), error=BundleError, what="x") == {"é": "ü"}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("", "not valid JSON"),
        ("{", "not valid JSON"),
        ("[]", "must be a JSON object, got array"),
        ('"text"', "must be a JSON object, got string"),
        ("null", "must be a JSON object, got null"),
        ('{"a": 1, "a": 2}', "duplicate key 'a'"),
        ('{"a": NaN}', "NaN is not JSON"),
        ('{"a": -Infinity}', "-Infinity is not JSON"),
        ('{"a": 1e999}', "out of range"),
        ('{"a": "\\ud800"}', "lone surrogate"),
        ('{"\\udfff": 1}', "lone surrogate"),
        (b'{"a": "\xff"}', "not valid JSON"),
        ('{"a": ' + "1" * 5000 + "}", "not valid JSON"),  # Python's int digit limit
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),  # RecursionError inside json
        ('{"a":' + "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1) + "}", "deeper"),
        # What the fast path (no walk when the text shows nothing to refuse) must not let by:
        ('{"a": "\\uDbFf", "b": "é"}', "lone surrogate"),  # an escape, in any case, non-ASCII
        ('{"a": "\ud800"}', "lone surrogate"),  # a raw surrogate in text
        (b'{"a": "\xed\xa0\x80"}', "lone surrogate"),  # its surrogatepass bytes
        ('{"a": ' + "9" * 1300 + "}", "too large a number"),  # > 4096 bits, < Python's limit
        (b'{"a": ' + b"9" * 1300 + b"}", "too large a number"),
    ],
)
def test_load_json_object_refuses(data: str | bytes, reason: str) -> None:
    with pytest.raises(BundleError, match=reason):
        load_json_object(data, error=BundleError, what="bundle")


def test_load_json_object_refuses_wrong_input_types() -> None:
    with pytest.raises(EnvelopeError):
        load_json_object(42, error=EnvelopeError, what="envelope")  # type: ignore[arg-type]


def test_copy_json_checks_and_copies() -> None:
    source: dict[str, Any] = {"a": [1, {"b": None}], "c": 1.5}
    copied = copy_json(source, error=BundleError, field="x")
    assert copied == source
    assert isinstance(copied, dict)
    inner = copied["a"]
    assert isinstance(inner, list)
    assert inner is not source["a"]


@pytest.mark.parametrize(
    "value",
    [
        (1, 2),
        {1, 2},
        b"bytes",
        float("nan"),
        float("inf"),
        {1: "non-string key"},
        {"k": object()},
        2**5000,
        "\udc80",
    ],
)
def test_copy_json_refuses_non_json(value: object) -> None:
    with pytest.raises(BundleError):
        copy_json({"v": value}, error=BundleError, field="x")


def test_copy_json_refuses_cycles_without_recursing() -> None:
    cycle: list[object] = []
    cycle.append(cycle)
    with pytest.raises(BundleError, match="deeper"):
        copy_json(cycle, error=BundleError, field="x")


def test_dump_json_is_compact_and_keeps_unicode() -> None:
    assert dump_json({"a": ["é", 1]}) == '{"a":["é",1]}'


# --- spelling-preserving reader and writer ----------------------------------------------------


def _read_and_write(value: dict[str, Any], *, proto_names: bool = True) -> dict[str, JSONValue]:
    """Read three fields the way the models do and write them back."""
    reader = ObjectReader(value, path="entry", error=BundleError, proto_names=proto_names)
    index = reader.int64("logIndex")
    body = reader.binary("canonicalizedBody")
    kind = reader.string("kind")
    writer = ObjectWriter(reader.wire())
    writer.int64("logIndex", index)
    writer.binary("canonicalizedBody", body)
    writer.string("kind", kind)
    return writer.result()


@pytest.mark.parametrize(
    "value",
    [
        {"logIndex": "5", "canonicalizedBody": "QQ==", "kind": "dsse"},
        {"kind": "dsse", "logIndex": 5, "canonicalizedBody": "QQ"},  # order, number, no padding
        {"log_index": "5", "canonicalized_body": "-_8"},  # proto names, URL-safe base64
        {"logIndex": None, "canonicalizedBody": None, "kind": None},  # explicit nulls
        {"logIndex": "0", "canonicalizedBody": "", "kind": ""},  # explicit defaults
        {"x-extra": {"nested": [1, "two", None]}, "logIndex": "1e1", "z": True},  # unknown fields
        {},
    ],
)
def test_reader_and_writer_round_trip_the_source_spelling(value: dict[str, Any]) -> None:
    assert _read_and_write(value) == value
    assert list(_read_and_write(value)) == list(value)  # key order too


def test_fresh_objects_are_written_canonically_without_defaults() -> None:
    writer = ObjectWriter(ObjectReader({}, path="", error=BundleError).wire())
    writer.int64("logIndex", 0)
    writer.binary("body", b"")
    writer.string("kind", "", always=True)
    assert writer.result() == {}  # a parsed empty object stays empty, even for "always" fields
    writer = ObjectWriter(FRESH)
    writer.int64("logIndex", 0)
    writer.int64("treeSize", 7)
    writer.binary("rootHash", b"\x00")
    writer.string("keyid", "", always=True)
    assert writer.result() == {"treeSize": "7", "rootHash": "AA==", "keyid": ""}


def test_a_changed_value_drops_its_verbatim_spelling() -> None:
    reader = ObjectReader({"logIndex": 5}, path="", error=BundleError)
    reader.int64("logIndex")
    wire = reader.wire()
    writer = ObjectWriter(wire)
    writer.int64("logIndex", 6)  # as after dataclasses.replace(entry, log_index=6)
    assert writer.result() == {"logIndex": "6"}


def test_both_spellings_of_one_field_are_refused() -> None:
    with pytest.raises(BundleError, match="given twice") as caught:
        _read_and_write({"logIndex": "1", "log_index": "1"})
    assert caught.value.details["field"] == "entry.logIndex"


def test_proto_names_only_when_asked() -> None:
    value = {"log_index": "5"}
    assert _read_and_write(value, proto_names=False) == value  # kept, but as an unknown field
    reader = ObjectReader(value, path="", error=EnvelopeError, proto_names=False)
    assert reader.int64("logIndex") == 0


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"logIndex": []}, "entry.logIndex"),
        ({"canonicalizedBody": 5}, "entry.canonicalizedBody"),
        ({"kind": 5}, "entry.kind"),
        ({"kind": "\udc80"}, "entry.kind"),
    ],
)
def test_reader_errors_name_the_field(value: dict[str, Any], field: str) -> None:
    with pytest.raises(BundleError) as caught:
        _read_and_write(value)
    assert caught.value.details["field"] == field
    assert str(caught.value).startswith(field + ": ")


@pytest.mark.parametrize("value", [[], "x", None, 3, {1: 2}])
def test_reader_requires_an_object(value: object) -> None:
    with pytest.raises(FormatError):
        ObjectReader(value, path="a.b", error=BundleError)


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["logIndex", "log_index", "canonicalizedBody", "kind", "other"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=8),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner),
            max_leaves=6,
        ),
    )
)
def test_reader_accepts_or_refuses_but_always_round_trips(value: dict[str, Any]) -> None:
    try:
        written = _read_and_write(value)
    except BundleError:
        return
    assert written == value
    assert json.loads(dump_json(written)) == value
