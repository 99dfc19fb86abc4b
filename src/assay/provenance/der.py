"""The little DER (X.690) that RFC 3161 timestamps need, read and written.

``cryptography`` builds certificates but not RFC 3161 structures or a CMS ``SignedData`` whose
content is not ``id-data``, so the timestamp authority (:mod:`assay.tsa`) and the signer's TSA
client (:mod:`assay.sign.timestamp`) write and read those with this module: definite lengths,
minimal integer and length octets, SET OF elements sorted by their encodings (X.690 §10–§11).
The reader is strict in the same way — it refuses indefinite or non-minimal lengths,
non-minimal integers and trailing bytes — so a request is accepted in exactly one encoding (a
TimeStampReq "shall be DER-encoded", RFC 3161 §2.4.1). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from assay.errors import FormatError

BOOLEAN: Final = 0x01
INTEGER: Final = 0x02
OCTET_STRING: Final = 0x04
NULL: Final = 0x05
OID: Final = 0x06
UTF8_STRING: Final = 0x0C
GENERALIZED_TIME: Final = 0x18
SEQUENCE: Final = 0x30
SET: Final = 0x31


def context(number: int, *, constructed: bool = True) -> int:
    """The tag octet of ``[number]`` (context-specific class, X.690 §8.1.2.2)."""
    return 0x80 | (0x20 if constructed else 0) | number


# --- writing ------------------------------------------------------------------------------------


def tlv(tag: int, content: bytes) -> bytes:
    """One TLV with a single-octet tag and a definite, minimal length (X.690 §8.1.3, §10.1)."""
    length = len(content)
    if length < 0x80:
        return bytes([tag, length]) + content
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(octets)]) + octets + content


def sequence(*items: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(items))


def set_of(*items: bytes) -> bytes:
    """SET OF, its elements in ascending order of their encodings (X.690 §11.6)."""
    return tlv(SET, b"".join(sorted(items)))


def integer(value: int) -> bytes:
    """A two's-complement INTEGER in the fewest octets (X.690 §8.3.2)."""
    size = (value + (value < 0)).bit_length() // 8 + 1
    return tlv(INTEGER, value.to_bytes(size, "big", signed=True))


def boolean(value: bool) -> bytes:
    return tlv(BOOLEAN, b"\xff" if value else b"\x00")  # DER TRUE is 0xFF (X.690 §11.1)


def octet_string(value: bytes) -> bytes:
    return tlv(OCTET_STRING, value)


def null() -> bytes:
    return tlv(NULL, b"")


def oid(dotted: str) -> bytes:
    """An OBJECT IDENTIFIER from its dotted form (X.690 §8.19)."""
    arcs = [int(arc) for arc in dotted.split(".")]
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] > 39):
        raise ValueError(f"not an object identifier: {dotted}")
    body = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        rest = arc >> 7
        while rest:
            chunk.append(0x80 | (rest & 0x7F))
            rest >>= 7
        body += bytes(reversed(chunk))
    return tlv(OID, bytes(body))


def generalized_time(moment: datetime) -> bytes:
    """GeneralizedTime in UTC with whole seconds, ``YYYYMMDDHHMMSSZ`` (RFC 3161 §2.4.2: "the
    encoding MUST terminate with a Z"; no fraction, so none with trailing zeros either)."""
    utc = moment.astimezone(UTC)
    return tlv(GENERALIZED_TIME, utc.strftime("%Y%m%d%H%M%SZ").encode("ascii"))


def algorithm_identifier(dotted: str, *, parameters: bytes | None = None) -> bytes:
    return sequence(oid(dotted), *((parameters,) if parameters is not None else ()))


# --- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Element:
    """One TLV read from a buffer: its tag, its content and its whole encoding."""

    tag: int
    content: bytes
    encoding: bytes

    def children(self) -> list[Element]:
        """The elements a constructed value holds, in order; all of its content."""
        if not self.tag & 0x20:
            raise FormatError("expected a constructed value", tag=self.tag)
        return read_all(self.content)

    def as_integer(self) -> int:
        if self.tag != INTEGER:
            raise FormatError("expected an INTEGER", tag=self.tag)
        data = self.content
        if not data or (
            len(data) > 1
            and ((data[0] == 0 and data[1] < 0x80) or (data[0] == 0xFF and data[1] >= 0x80))
        ):
            raise FormatError("INTEGER is not minimally encoded")
        return int.from_bytes(data, "big", signed=True)

    def as_boolean(self) -> bool:
        if self.tag != BOOLEAN or self.content not in (b"\x00", b"\xff"):
            raise FormatError("expected a DER BOOLEAN")
        return self.content == b"\xff"

    def as_octets(self) -> bytes:
        if self.tag != OCTET_STRING:
            raise FormatError("expected an OCTET STRING", tag=self.tag)
        return self.content

    def as_oid(self) -> str:
        if self.tag != OID or not self.content or self.content[-1] & 0x80:
            raise FormatError("expected an OBJECT IDENTIFIER", tag=self.tag)
        arcs: list[int] = []
        value, starting = 0, True
        for octet in self.content:
            if starting and octet == 0x80:
                raise FormatError("OBJECT IDENTIFIER arc is not minimally encoded")
            value = (value << 7) | (octet & 0x7F)
            starting = not octet & 0x80
            if starting:
                arcs.append(value)
                value = 0
            if len(arcs) > 128:  # timestamp-authority's limit on a policy OID
                raise FormatError("OBJECT IDENTIFIER has too many arcs")
        first = min(arcs[0] // 40, 2)
        return ".".join(str(arc) for arc in [first, arcs[0] - 40 * first, *arcs[1:]])


def read_one(data: bytes, offset: int = 0) -> tuple[Element, int]:
    """The element at ``offset`` and the offset after it."""
    if offset + 2 > len(data):
        raise FormatError("truncated DER")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise FormatError("multi-octet DER tags are not used here")
    first = data[offset + 1]
    start = offset + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4:
            raise FormatError("indefinite or oversized DER length")
        if start + count > len(data):
            raise FormatError("truncated DER length")
        length = int.from_bytes(data[start : start + count], "big")
        if length < 0x80 or data[start] == 0:
            raise FormatError("DER length is not minimally encoded")
        start += count
    end = start + length
    if end > len(data):
        raise FormatError("truncated DER value")
    return Element(tag, data[start:end], data[offset:end]), end


def read_all(data: bytes) -> list[Element]:
    """Every element of ``data``, which they must fill exactly."""
    elements: list[Element] = []
    offset = 0
    while offset < len(data):
        element, offset = read_one(data, offset)
        elements.append(element)
    return elements


def read_single(data: bytes) -> Element:
    """The one element ``data`` holds, with nothing after it."""
    element, end = read_one(data)
    if end != len(data):
        raise FormatError("trailing bytes after the DER value")
    return element
