"""Codecs for the JSON that DSSE envelopes and Sigstore bundles are written in.

Sigstore bundles are the proto3 JSON encoding of ``dev.sigstore.bundle.v1.Bundle`` (protobuf-specs
``sigstore_bundle.proto``), and a DSSE envelope is the JSON of ``io.intoto.Envelope`` (DSSE
``envelope.md``). Both are read by several independent clients, so the parsers here accept
what the proto3 JSON mapping (https://protobuf.dev/programming-guides/json/) says a parser must
accept, refuse everything else with a :class:`~assay.errors.FormatError` subclass chosen by the
caller, and remember how each object was spelled so that a parsed object writes back exactly the
JSON it came from:

* ``bytes`` are base64: "standard base64 encoding with paddings"; parsers accept "either standard or
  URL-safe base64 encoding with/without paddings" (proto3 JSON mapping; DSSE ``protocol.md``:
  verifiers MUST accept either alphabet). Anything else (whitespace, mixed alphabets, bad padding)
  is garbage and refused.
* ``int64`` is written as a decimal string; parsers accept strings and JSON numbers, and the
  mapping also allows exponent notation. Npm's bundles write ``"logIndex": "12988397"``.
* ``null`` stands for the default value of any field, and unknown fields are ignored by the
  clients (sigstore-js's generated ``fromJSON``; DSSE ``envelope.md``: "Consumers MUST ignore
  unrecognized fields"). We keep them rather than drop them, so that re-serializing a stored
  attestation never loses data.

The spelling is kept in a :class:`~assay.provenance.wire.WireForm` that travels with each parsed
object but is not part of its value: two objects that differ only in spelling compare equal.
Reading and writing whole objects that way is :mod:`assay.provenance.wire`; this module holds the
value codecs it and the models share.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from decimal import Decimal, InvalidOperation
from typing import Final, NoReturn, TypeAlias

from assay.errors import FormatError

JSONValue: TypeAlias = "bool | int | float | str | list[JSONValue] | dict[str, JSONValue] | None"
"""A value as the standard library's :mod:`json` module produces it."""

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1

# Bundles nest about eight objects deep; anything far deeper is hostile input, and refusing it
# keeps every later copy and ``json.dumps`` well inside the interpreter's recursion limit.
MAX_JSON_DEPTH: Final = 64

_MAX_INT_BITS: Final = 4096

_STANDARD_ALPHABET = re.compile(r"[A-Za-z0-9+/]*")
_URLSAFE_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")
# The JSON number grammar (RFC 8259 §6), which proto3 JSON also accepts inside an int64 string.
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def invalid(error: type[FormatError], field: str, reason: str) -> FormatError:
    """An error of class ``error`` about ``field`` (a JSON path such as ``a.b[0].c``).

    The message leads with the path; ``details`` carry ``field`` and ``reason`` separately so that a
    parent reader can re-anchor the path (see :meth:`ObjectReader.build`).
    """
    return error(f"{field}: {reason}" if field else reason, field=field, reason=reason)


def json_type_name(value: object) -> str:
    """The JSON name of a parsed value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


# --- base64 ---------------------------------------------------------------------------------


def decode_base64(value: object, *, error: type[FormatError], field: str) -> bytes:
    """Decode a proto3 JSON / DSSE base64 string: either alphabet, padded or not, nothing else.

    This is the rule Go's ``protojson`` applies (URL-safe if the text holds ``-`` or ``_``; padding
    optional but, when present, correct), which is stricter than protobuf-python's lenient decoder
    and sigstore-js's ``Buffer.from(s, "base64")``; both of those silently skip invalid characters,
    which we refuse because they let two different strings stand for one signature.
    """
    if not isinstance(value, str):
        raise invalid(error, field, f"expected a base64 string, got {json_type_name(value)}")
    if not len(value) % 4:
        # Fast path for the common spelling, standard and padded: strict mode accepts exactly
        # the strings the checks below accept in that spelling once the length is a multiple of
        # four (it would take "QUJD=", which the length excludes), and decodes them the same.
        try:
            return binascii.a2b_base64(value, strict_mode=True)
        except ValueError:  # binascii.Error, or non-ASCII text
            pass  # another spelling, or invalid: the checks below say which
    body = value.rstrip("=")
    padding = len(value) - len(body)
    if padding and (padding > 2 or len(value) % 4):
        raise invalid(error, field, "is not base64: wrong padding")
    if len(body) % 4 == 1:
        raise invalid(error, field, "is not base64: truncated")
    if _STANDARD_ALPHABET.fullmatch(body):
        standard = body
    elif _URLSAFE_ALPHABET.fullmatch(body):
        standard = body.replace("-", "+").replace("_", "/")
    else:
        raise invalid(error, field, "is not base64: unexpected character")
    try:
        return binascii.a2b_base64(standard + "=" * (-len(standard) % 4), strict_mode=True)
    except binascii.Error as exc:  # unreachable after the checks above, kept as a backstop
        raise invalid(error, field, f"is not base64: {exc}") from exc


def encode_base64(data: bytes) -> str:
    """Standard, padded base64: what the proto3 JSON mapping says a printer writes."""
    return base64.b64encode(data).decode("ascii")


# --- int64 ----------------------------------------------------------------------------------


def parse_int64(value: object, *, error: type[FormatError], field: str) -> int:
    """Parse a proto3 JSON ``int64``: a decimal string or a JSON integer, within int64 range.

    Strings may use the JSON number grammar with a fraction or exponent if the value is integral
    (the mapping accepts "exponent notation ... in both quoted and unquoted forms"). Unquoted
    fractions and exponents are refused: :mod:`json` hands them over as binary floats, which
    cannot carry an int64 exactly.
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise invalid(
            error, field, f"expected an int64 (string or integer), got {json_type_name(value)}"
        )
    if isinstance(value, int):
        number = value
    else:
        if len(value) > 64 or not _JSON_NUMBER.fullmatch(value):
            raise invalid(error, field, f"is not an integer: {value[:64]!r}")
        try:
            exact = Decimal(value)
        except InvalidOperation as exc:  # pragma: no cover - the regex admits only valid numbers
            raise invalid(error, field, f"is not an integer: {value!r}") from exc
        # Compare before converting: int(Decimal("1e999999")) would build an enormous integer.
        if not INT64_MIN <= exact <= INT64_MAX or exact != exact.to_integral_value():
            raise invalid(error, field, f"is not an int64: {value!r}")
        number = int(exact)
    if not INT64_MIN <= number <= INT64_MAX:
        raise invalid(error, field, "is outside the int64 range")
    return number


def format_int64(value: int) -> str:
    """An int64 as proto3 JSON writes it: a decimal string."""
    return str(value)


# --- JSON documents -------------------------------------------------------------------------


def _object_without_duplicates(pairs: list[tuple[str, JSONValue]]) -> dict[str, JSONValue]:
    # RFC 8259 §4 leaves duplicate names undefined and clients disagree on which one wins (Go's
    # protojson refuses them, JavaScript keeps the last), so a duplicate is refused outright.
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key!r}")
            seen.add(key)
    return result


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"number {text[:32]} is out of range")
    return number


def load_json_object(
    data: str | bytes, *, error: type[FormatError], what: str
) -> dict[str, JSONValue]:
    """Parse a JSON document whose top level must be an object.

    Refused, as ``error``: text that is not JSON (including ``NaN``/``Infinity``, which Python
    accepts by default, and numbers that overflow), duplicate keys, lone surrogates, nesting deeper
    than :data:`MAX_JSON_DEPTH`, and any top level other than an object.
    """
    long_integer = False

    def parse_int(text: str) -> int:
        nonlocal long_integer
        long_integer = long_integer or len(text) > _LONG_INTEGER_DIGITS
        return int(text)

    try:
        value = json.loads(
            data,
            object_pairs_hook=_object_without_duplicates,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=parse_int,
        )
    except (ValueError, TypeError, RecursionError) as exc:
        # ValueError covers JSONDecodeError, UnicodeDecodeError and our hooks' refusals.
        raise error(f"{what} is not valid JSON: {exc}", reason=str(exc)) from exc
    if not isinstance(value, dict):
        raise error(f"{what} must be a JSON object, got {json_type_name(value)}")
    if long_integer or not _surely_within_limits(data):
        copy_json(value, error=error, field="")  # depth, Unicode and number checks
    return value


# Fewer digits than this cannot make an integer of more than _MAX_INT_BITS bits (log10(2**4096)
# is about 1233), which copy_json refuses; the parser flags longer ones for the full walk.
_LONG_INTEGER_DIGITS: Final = 1000
_SURROGATE_ESCAPE_TEXT: Final = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_BYTES: Final = re.compile(rb"\\u[dD][89a-fA-F]")


def _surely_within_limits(data: str | bytes) -> bool:
    """Whether the text alone shows that :func:`copy_json` would find nothing to refuse in what
    it parsed to, so that the walk can be skipped (every bundle and statement we verify).

    Valid UTF-8 (for text: text that encodes to it) with no ``\\uD800``–``\\uDFFF`` escape
    holds no lone surrogate; no more opening brackets than :data:`MAX_JSON_DEPTH` cannot nest
    deeper; non-finite numbers were refused by the parser, and integers too long to print are
    flagged by it (``_LONG_INTEGER_DIGITS``). Anything else takes the full walk.
    """
    try:  # raw surrogates: a str that will not encode, bytes that decode only with surrogatepass
        if isinstance(data, str):
            data.encode("utf-8")
        else:
            data.decode("utf-8")
    except UnicodeError:
        return False
    if isinstance(data, str):
        brackets = data.count("{") + data.count("[")
        escaped = "\\u" in data and _SURROGATE_ESCAPE_TEXT.search(data) is not None
    else:
        brackets = data.count(b"{") + data.count(b"[")
        escaped = b"\\u" in data and _SURROGATE_ESCAPE_BYTES.search(data) is not None
    return brackets <= MAX_JSON_DEPTH and not escaped


def dump_json(value: JSONValue) -> str:
    """Compact JSON text (no insignificant whitespace), non-ASCII characters kept as they are."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def check_text(text: str, *, error: type[FormatError], field: str) -> None:
    if text.isascii():  # no surrogates in ASCII; most keys and values are
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        # A JSON escape such as "\ud800" decodes to a lone surrogate, which no UTF-8 encoder
        # accepts (I-JSON, RFC 7493 §2.1, forbids them).
        raise invalid(error, field, "contains a lone surrogate, not valid Unicode") from exc


def copy_json(value: object, *, error: type[FormatError], field: str) -> JSONValue:
    """A deep copy of ``value`` that is guaranteed to be plain, finite, printable JSON.

    Iterative, so hostile nesting fails with ``error`` instead of :class:`RecursionError`.
    Tuples are refused like any other non-JSON type: the input is meant to come from a JSON parser.
    """

    def convert(item: object, path: str, depth: int) -> JSONValue:
        if depth > MAX_JSON_DEPTH:
            raise invalid(error, field, f"nested deeper than {MAX_JSON_DEPTH} levels")
        if item is None or isinstance(item, bool):
            return item
        if isinstance(item, int):
            # Python's int-to-text limit (4300 digits) would make printing fail later; no JSON
            # producer writes such numbers (I-JSON, RFC 7493 §2.2, keeps to IEEE doubles).
            if item.bit_length() > _MAX_INT_BITS:
                raise invalid(error, path, "is too large a number")
            return int(item)
        if isinstance(item, float):
            if not math.isfinite(item):
                raise invalid(error, path, "is not a finite number")
            return float(item)
        if isinstance(item, str):
            check_text(item, error=error, field=path)
            return str(item)
        if isinstance(item, list):
            new_list: list[JSONValue] = [None] * len(item)
            pending.append((new_list, item, path, depth))
            return new_list
        if isinstance(item, dict):
            new_dict: dict[str, JSONValue] = {}
            pending.append((new_dict, item, path, depth))
            return new_dict
        raise invalid(error, path, f"is not a JSON value ({type(item).__name__})")

    pending: list[tuple[list[JSONValue] | dict[str, JSONValue], object, str, int]] = []
    root = convert(value, field, 0)
    while pending:
        target, source, path, depth = pending.pop()
        if isinstance(target, list) and isinstance(source, list):
            for index, element in enumerate(source):
                target[index] = convert(element, f"{path}[{index}]", depth + 1)
        elif isinstance(target, dict) and isinstance(source, dict):
            for key, element in source.items():
                if not isinstance(key, str):
                    raise invalid(error, path, f"has a non-string key {key!r}")
                check_text(key, error=error, field=path)
                target[key] = convert(element, join_path(path, key), depth + 1)
    return root


def join_path(parent: str, child: str) -> str:
    """``parent.child``, or ``child`` at the top; ``[i]`` suffixes attach without a dot."""
    if not parent:
        return child
    if not child:
        return parent
    return f"{parent}{child}" if child.startswith("[") else f"{parent}.{child}"
