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

The spelling is kept in a :class:`WireForm` that travels with each parsed object but is not part of
its value: two objects that differ only in spelling compare equal.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Final, NoReturn, Protocol, TypeAlias, TypeVar

from assay.errors import FormatError

JSONValue: TypeAlias = "bool | int | float | str | list[JSONValue] | dict[str, JSONValue] | None"
"""A value as the standard library's :mod:`json` module produces it."""

T = TypeVar("T")

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
    try:
        value = json.loads(
            data,
            object_pairs_hook=_object_without_duplicates,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
        )
    except (ValueError, TypeError, RecursionError) as exc:
        # ValueError covers JSONDecodeError, UnicodeDecodeError and our hooks' refusals.
        raise error(f"{what} is not valid JSON: {exc}", reason=str(exc)) from exc
    if not isinstance(value, dict):
        raise error(f"{what} must be a JSON object, got {json_type_name(value)}")
    copy_json(value, error=error, field="")  # depth and Unicode checks
    return value


def dump_json(value: JSONValue) -> str:
    """Compact JSON text (no insignificant whitespace), non-ASCII characters kept as they are."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _check_text(text: str, *, error: type[FormatError], field: str) -> None:
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
            _check_text(item, error=error, field=path)
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
                _check_text(key, error=error, field=path)
                target[key] = convert(element, join_path(path, key), depth + 1)
    return root


def join_path(parent: str, child: str) -> str:
    """``parent.child``, or ``child`` at the top; ``[i]`` suffixes attach without a dot."""
    if not parent:
        return child
    if not child:
        return parent
    return f"{parent}{child}" if child.startswith("[") else f"{parent}.{child}"


# --- spelling-preserving object reader and writer --------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class WireForm:
    """How one JSON object was spelled when it was parsed; not part of the value it carries.

    ``parsed`` is False for objects built in code, which then print in canonical proto3 JSON.
    ``order`` holds the source keys in source order, ``spelling`` maps a field's JSON name to the
    key actually used (the JSON name or the original proto field name), ``verbatim`` maps a field
    to ``(value it decoded to, source JSON)`` where printing the value canonically would not give
    the source back (a JSON number for an int64, URL-safe base64, an explicit ``null``), and
    ``unknown`` holds the fields we do not model, copied verbatim.
    """

    parsed: bool = False
    order: tuple[str, ...] = ()
    spelling: Mapping[str, str] = field(default_factory=lambda: _EMPTY_STR)
    verbatim: Mapping[str, tuple[object, JSONValue]] = field(
        default_factory=lambda: _EMPTY_VERBATIM
    )
    unknown: Mapping[str, JSONValue] = field(default_factory=lambda: _EMPTY_JSON)


_EMPTY_STR: Final[Mapping[str, str]] = MappingProxyType({})
_EMPTY_VERBATIM: Final[Mapping[str, tuple[object, JSONValue]]] = MappingProxyType({})
_EMPTY_JSON: Final[Mapping[str, JSONValue]] = MappingProxyType({})

FRESH: Final = WireForm()
"""The wire form of an object built in code rather than parsed.

Model dataclasses declare ``wire: WireForm = field(default=FRESH, compare=False, repr=False)``:
the spelling is left out of ``==``, hashing and ``repr`` because it is not part of the value.
"""


def _snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


class ObjectReader:
    """Reads the fields of one JSON object, checking types and recording the :class:`WireForm`.

    ``proto_names`` also accepts each field under its original proto name (``log_index`` for
    ``logIndex``), as protobuf's JSON parsers do; giving both spellings is an error. DSSE's
    ``envelope.proto`` spells its fields in camelCase already, so it has no second spelling.
    """

    def __init__(
        self, value: object, *, path: str, error: type[FormatError], proto_names: bool = True
    ) -> None:
        if not isinstance(value, dict):
            raise invalid(error, path, f"expected a JSON object, got {json_type_name(value)}")
        for key in value:
            if not isinstance(key, str):
                raise invalid(error, path, f"has a non-string key {key!r}")
            _check_text(key, error=error, field=path)
        self._object: dict[str, object] = value
        self.path = path
        self.error = error
        self._proto_names = proto_names
        self._spelling: dict[str, str] = {}
        self._verbatim: dict[str, tuple[object, JSONValue]] = {}

    # -- plumbing

    def child(self, name: str) -> str:
        """The JSON path of field ``name`` of this object."""
        return join_path(self.path, name)

    def fail(self, name: str, reason: str) -> NoReturn:
        """Raise this reader's error about field ``name``."""
        raise invalid(self.error, self.child(name), reason)

    def _lookup(self, name: str) -> tuple[bool, object]:
        keys = [name]
        if self._proto_names and (snake := _snake_case(name)) != name:
            keys.append(snake)
        found = [key for key in keys if key in self._object]
        if not found:
            return False, None
        if len(found) > 1:
            self.fail(name, f"is given twice, as {found[0]!r} and {found[1]!r}")
        self._spelling[name] = found[0]
        return True, self._object[found[0]]

    def _keep(self, name: str, decoded: object, source: object, canonical: JSONValue) -> None:
        if source != canonical or type(source) is not type(canonical):
            self._verbatim[name] = (
                decoded,
                copy_json(source, error=self.error, field=self.child(name)),
            )

    def present(self, name: str) -> bool:
        """Whether field ``name`` is present with a non-null value (without consuming it)."""
        keys = [name, _snake_case(name)] if self._proto_names else [name]
        return any(self._object.get(key) is not None for key in keys)

    # -- scalar fields

    def string(self, name: str, *, required: bool = False) -> str:
        """A ``string`` field; absent or ``null`` is ``""`` unless ``required``."""
        found, raw = self._lookup(name)
        if raw is None:
            if required:
                self.fail(name, "is required")
            if found:
                self._keep(name, "", None, "")
            return ""
        if not isinstance(raw, str):
            self.fail(name, f"expected a string, got {json_type_name(raw)}")
        _check_text(raw, error=self.error, field=self.child(name))
        return str(raw)

    def binary(self, name: str, *, required: bool = False) -> bytes:
        """A proto ``bytes`` field (base64); absent or ``null`` is ``b""`` unless ``required``."""
        found, raw = self._lookup(name)
        if raw is None:
            if required:
                self.fail(name, "is required")
            if found:
                self._keep(name, b"", None, "")
            return b""
        decoded = decode_base64(raw, error=self.error, field=self.child(name))
        self._keep(name, decoded, raw, encode_base64(decoded))
        return decoded

    def int64(self, name: str) -> int:
        """An ``int64`` field; absent or ``null`` is 0."""
        found, raw = self._lookup(name)
        if raw is None:
            if found:
                self._keep(name, 0, None, "0")
            return 0
        number = parse_int64(raw, error=self.error, field=self.child(name))
        self._keep(name, number, raw, format_int64(number))
        return number

    def enum(self, name: str, numbers: Mapping[str, int]) -> str:
        """An enum field, by value name or number; returns the value name.

        ``numbers`` maps each known name to its number; the first name is the zero default.
        """
        default = next(iter(numbers))
        found, raw = self._lookup(name)
        if raw is None:
            if found:
                self._keep(name, default, None, default)
            return default
        if isinstance(raw, str) and raw in numbers:
            return raw
        if isinstance(raw, int) and not isinstance(raw, bool):
            for value_name, number in numbers.items():
                if number == raw:
                    self._keep(name, value_name, raw, value_name)
                    return value_name
        raise invalid(self.error, self.child(name), f"is not one of {', '.join(numbers)}")

    # -- message and repeated fields

    def message(
        self, name: str, parse: Callable[[ObjectReader], T], *, proto_names: bool | None = None
    ) -> T | None:
        """A message field, parsed by ``parse``; ``None`` when absent or ``null``.

        ``proto_names`` overrides this reader's setting for the nested object (a DSSE envelope
        inside a bundle has no snake_case names).
        """
        found, raw = self._lookup(name)
        if raw is None:
            if found:
                self._keep(name, None, None, None)
            return None
        return parse(self._nested(raw, self.child(name), proto_names))

    def required_message(
        self, name: str, parse: Callable[[ObjectReader], T], *, proto_names: bool | None = None
    ) -> T:
        """A message field that must be present."""
        result = self.message(name, parse, proto_names=proto_names)
        if result is None:
            self.fail(name, "is required")
        return result

    def repeated_message(
        self, name: str, parse: Callable[[ObjectReader], T], *, required: bool = False
    ) -> tuple[T, ...]:
        """A repeated message field (a JSON array of objects)."""
        items = self._array(name, required=required)
        return tuple(
            parse(self._nested(item, f"{self.child(name)}[{index}]"))
            for index, item in enumerate(items)
        )

    def repeated_binary(self, name: str) -> tuple[bytes, ...]:
        """A repeated proto ``bytes`` field (a JSON array of base64 strings)."""
        found, raw = self._lookup(name)
        items = self._array(name, found=found, raw=raw)
        decoded = tuple(
            decode_base64(item, error=self.error, field=f"{self.child(name)}[{index}]")
            for index, item in enumerate(items)
        )
        if found:
            self._keep(name, decoded, raw, [encode_base64(item) for item in decoded])
        return decoded

    def _array(
        self, name: str, *, required: bool = False, found: bool | None = None, raw: object = None
    ) -> list[object]:
        if found is None:
            found, raw = self._lookup(name)
            if found and raw is None:
                self._keep(name, (), None, [])
        if raw is None:
            if required:
                self.fail(name, "is required")
            return []
        if not isinstance(raw, list):
            self.fail(name, f"expected an array, got {json_type_name(raw)}")
        return raw

    def _nested(self, value: object, path: str, proto_names: bool | None = None) -> ObjectReader:
        if proto_names is None:
            proto_names = self._proto_names
        return ObjectReader(value, path=path, error=self.error, proto_names=proto_names)

    # -- finishing

    def wire(self) -> WireForm:
        """The wire form of everything read so far; fields not read are kept as unknown."""
        known = set(self._spelling.values())
        unknown = {
            key: copy_json(value, error=self.error, field=self.child(key))
            for key, value in self._object.items()
            if key not in known
        }
        return WireForm(
            parsed=True,
            order=tuple(self._object),
            spelling=MappingProxyType(dict(self._spelling)),
            verbatim=MappingProxyType(dict(self._verbatim)),
            unknown=MappingProxyType(unknown),
        )

    def build(self, make: Callable[[WireForm], T]) -> T:
        """Construct the object (``make`` calls the class with the fields read and the wire form).

        The constructor checks the object's invariants and raises with a path relative to the
        object; this re-anchors that path under this reader's and converts the error to this
        reader's class (a DSSE envelope inside a bundle fails as a bundle).
        """
        wire = self.wire()
        try:
            return make(wire)
        except FormatError as exc:
            relative = str(exc.details.get("field", ""))
            reason = str(exc.details.get("reason", exc.message))
            raise invalid(self.error, join_path(self.path, relative), reason) from None


class Message(Protocol):
    """Anything that prints itself as a JSON object: every model in this package."""

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON object."""
        ...


class ObjectWriter:
    """Writes one JSON object back in the spelling its :class:`WireForm` recorded.

    Source keys come first, in source order and spelling, with verbatim values where recorded
    (only while the field still holds the value it was parsed as, so ``dataclasses.replace``
    cannot resurrect a stale spelling). Fields the source did not have follow in declaration
    order, written canonically and only when they differ from their default, as proto3 JSON
    printers do; ``always`` fields of objects built in code are written even when default.
    """

    def __init__(self, wire: WireForm) -> None:
        self._wire = wire
        self._fields: dict[str, tuple[object, JSONValue, bool]] = {}

    def put(
        self, name: str, value: object, encoded: JSONValue, *, default: bool, always: bool = False
    ) -> None:
        """Declare field ``name`` holding ``value``, canonically encoded as ``encoded``."""
        emit_default = always and not self._wire.parsed
        self._fields[name] = (value, encoded, default and not emit_default)

    def string(self, name: str, value: str, *, always: bool = False) -> None:
        """Declare a ``string`` field."""
        self.put(name, value, value, default=value == "", always=always)

    def binary(self, name: str, value: bytes) -> None:
        """Declare a proto ``bytes`` field."""
        self.put(name, value, encode_base64(value), default=not value)

    def int64(self, name: str, value: int) -> None:
        """Declare an ``int64`` field."""
        self.put(name, value, format_int64(value), default=value == 0)

    def repeated_binary(self, name: str, values: tuple[bytes, ...]) -> None:
        """Declare a repeated proto ``bytes`` field."""
        self.put(name, values, [encode_base64(value) for value in values], default=not values)

    def message(self, name: str, value: Message | None) -> None:
        """Declare a message field; ``None`` is absent."""
        encoded = None if value is None else value.to_dict()
        self.put(name, value, encoded, default=value is None)

    def repeated_message(
        self, name: str, values: tuple[Message, ...], *, always: bool = False
    ) -> None:
        """Declare a repeated message field."""
        encoded: list[JSONValue] = [value.to_dict() for value in values]
        self.put(name, values, encoded, default=not values, always=always)

    def result(self) -> dict[str, JSONValue]:
        """The JSON object."""
        wire = self._wire
        source_key = {key: name for name, key in wire.spelling.items()}
        out: dict[str, JSONValue] = {}
        for key in wire.order:
            if key in wire.unknown:
                out[key] = _copy_trusted(wire.unknown[key])
            elif (name := source_key.get(key)) is not None and name in self._fields:
                out[key] = self._value(name)
        for name, (_, encoded, default) in self._fields.items():
            if name not in wire.spelling and not default:
                out[name] = encoded
        return out

    def _value(self, name: str) -> JSONValue:
        value, encoded, _ = self._fields[name]
        kept = self._wire.verbatim.get(name)
        if kept is not None and kept[0] == value and type(kept[0]) is type(value):
            return _copy_trusted(kept[1])
        return encoded


def _copy_trusted(value: JSONValue) -> JSONValue:
    # Values in a WireForm were checked by copy_json when parsed; copying them again with the
    # same iterative routine hands callers a fresh structure they may mutate.
    return copy_json(value, error=FormatError, field="")
