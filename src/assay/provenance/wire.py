"""Proto3 JSON objects that remember how they were spelled, and write themselves back the same way.

The codecs of :mod:`assay.provenance.encoding` turn single values into Python; this module reads
and writes whole JSON objects of the models (bundles, DSSE envelopes). A parsed object carries a
:class:`WireForm` — key order, the spelling of each key (JSON name or proto field name), values
whose canonical printing would differ from the source (a JSON number for an int64, URL-safe
base64, an explicit ``null``) and the unknown fields — so that re-serializing a stored
attestation gives back exactly the bytes that were verified (the proto3 JSON mapping,
https://protobuf.dev/programming-guides/json/, lets parsers accept many spellings of one value).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType
from typing import Final, NoReturn, Protocol, TypeVar

from assay.errors import FormatError
from assay.provenance.encoding import (
    JSONValue,
    check_text,
    copy_json,
    decode_base64,
    encode_base64,
    format_int64,
    invalid,
    join_path,
    json_type_name,
    parse_int64,
)

T = TypeVar("T")


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


@cache
def _snake_case(name: str) -> str:
    # Field names are the models' own constants, a few dozen: each is converted once.
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
            check_text(key, error=error, field=path)
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
        source = self._object
        key = name
        if self._proto_names and (snake := _snake_case(name)) != name and snake in source:
            if name in source:
                self.fail(name, f"is given twice, as {name!r} and {snake!r}")
            key = snake
        elif name not in source:
            return False, None
        self._spelling[name] = key
        return True, source[key]

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
        check_text(raw, error=self.error, field=self.child(name))
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
        unknown: dict[str, JSONValue] = {}
        known = set(self._spelling.values())  # source keys read, a subset of the object's
        if len(known) != len(self._object):
            unknown = {
                key: copy_json(value, error=self.error, field=self.child(key))
                for key, value in self._object.items()
                if key not in known
            }
        return WireForm(
            parsed=True,
            order=tuple(self._object),
            spelling=MappingProxyType(dict(self._spelling)),
            verbatim=MappingProxyType(dict(self._verbatim)) if self._verbatim else _EMPTY_VERBATIM,
            unknown=MappingProxyType(unknown) if unknown else _EMPTY_JSON,
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
