"""Signed tree heads: C2SP tlog-checkpoint bodies in C2SP signed-note envelopes, as Rekor v1 writes
them and as sigstore-python and sigstore-js verify them (sigstore.md §3.1 "Checkpoint (v1)").

A signed checkpoint looks like this (c2sp.org/signed-note, c2sp.org/tlog-checkpoint)::

    rekor.sigstore.dev - 2605736670972794746      <- origin
    90244728                                      <- tree size, decimal, no leading zeros
    b45zjIwrqMHFQdj7eah4JmY18uZ8NuHTn5IzKFNQZfY=  <- base64 root hash
    [extension lines, non-empty, opaque]
                                                  <- one blank line
    — rekor.sigstore.dev wNI9ajBFAiEAj2qidu/…     <- em dash, key name, base64(key ID || signature)

The signature covers the note text: every line above the blank line, each with its newline.
Rekor v1 (pkg/util/checkpoint.go, signed_note.go) uses the origin ``<hostname> - <treeID>`` and the
key name ``<hostname>``; the 4-byte key ID of an ECDSA key is ``SHA-256(DER SPKI)[:4]`` (also the
C2SP ``0x02`` ECDSA convention), and of an Ed25519 key the C2SP ``SHA-256(name || 0x0A || 0x01 ||
32-byte key)[:4]``.

Parsing is as strict as sigstore-python's (``_internal/rekor/checkpoint.py``): exactly one blank
line separates text and signatures, the note ends with a newline, and we additionally refuse
everything signed-note forbids (control characters, key names with spaces or ``+``, non-canonical
base64) so that one checkpoint has exactly one spelling. Malformed input raises
:class:`~assay.errors.FormatError`; a signature that does not verify raises
:class:`~assay.errors.VerificationError`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import Final, Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from assay.errors import FormatError, VerificationError
from assay.keys import PublicKey, spki_der, verify_signature
from assay.transparency.merkle import HASH_SIZE, MAX_TREE_SIZE

__all__ = [
    "Checkpoint",
    "NoteSignature",
    "NoteSigner",
    "SignedNote",
    "note_key_id",
    "parse_signed_note",
    "rekor_origin",
    "sign_checkpoint",
    "sign_note",
    "verify_checkpoint",
]

EM_DASH: Final = "\u2014"

# signed-note: verifiers "MUST accept at least up to 16 signatures" and SHOULD bound the count or
# the size; post-quantum signatures are up to ~5 kB, so 100 lines fit comfortably in 1 MiB.
MAX_SIGNATURES: Final = 100
MAX_NOTE_BYTES: Final = 1 << 20

# signed-note §Signatures: Ed25519 signature type identifier byte.
_ED25519_TYPE: Final = b"\x01"
_SIZE: Final = re.compile(r"0|[1-9][0-9]{0,19}")
# signed-note: no ASCII control characters other than newline, anywhere in the note.
_CONTROL: Final = re.compile(r"[\x00-\x09\x0b-\x1f]")


class NoteSigner(Protocol):
    """What signs a note: :class:`assay.keys.Signer` (ECDSA with the curve's hash, or Ed25519)."""

    def sign(self, message: bytes) -> bytes: ...

    @property
    def public_key(self) -> PublicKey: ...


def _b64decode(value: str, what: str) -> bytes:
    """Standard, padded, canonical base64 (RFC 4648 §4, as signed-note specifies) or FormatError.

    Canonical: re-encoding must give the same text back, so non-zero padding bits are refused and
    a signature line has exactly one spelling.
    """
    try:
        decoded = binascii.a2b_base64(value.encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise FormatError(f"{what} is not base64", reason=str(exc)) from None
    if base64.b64encode(decoded).decode("ascii") != value:
        raise FormatError(f"{what} is not canonical base64")
    return decoded


def _check_line(value: str, what: str) -> None:
    if "\n" in value or _CONTROL.search(value):
        raise FormatError(f"{what} contains a newline or control character")


def _check_key_name(name: str) -> None:
    # signed-note: "Key names MUST be non-empty and MUST NOT contain any Unicode spaces or plus
    # (U+002B) characters."
    if not name or "+" in name or any(ch.isspace() for ch in name):
        raise FormatError(f"invalid note key name {name[:80]!r}")
    _check_line(name, "key name")


# --- the checkpoint body --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The note text of a checkpoint (c2sp.org/tlog-checkpoint §"Note text")."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin:
            raise FormatError("checkpoint origin is empty")
        _check_line(self.origin, "checkpoint origin")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise FormatError("checkpoint size must be an integer")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise FormatError(f"checkpoint size {self.size} is out of range")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != HASH_SIZE:
            raise FormatError(f"checkpoint root hash must be {HASH_SIZE} bytes")
        for line in self.extensions:
            # "Extension lines, if any, MUST be non-empty."
            if not line:
                raise FormatError("checkpoint extension lines must be non-empty")
            _check_line(line, "checkpoint extension line")

    def to_text(self) -> str:
        """The note text: origin, size, base64 root, extension lines, each ending in newline."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode("ascii")]
        return "".join(f"{line}\n" for line in (*lines, *self.extensions))

    @classmethod
    def from_text(cls, text: str) -> Checkpoint:
        """Parse note text (with its final newline) as a checkpoint, or raise FormatError."""
        if not text.endswith("\n"):
            raise FormatError("checkpoint text must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise FormatError("checkpoint text has fewer than three lines")
        origin, size_text, root_text, *extensions = lines
        if not _SIZE.fullmatch(size_text):
            raise FormatError(f"checkpoint size {size_text[:24]!r} is not a decimal integer")
        root = _b64decode(root_text, "checkpoint root hash")
        return cls(origin=origin, size=int(size_text), root_hash=root, extensions=tuple(extensions))


def rekor_origin(hostname: str, tree_id: int) -> str:
    """Rekor v1's checkpoint origin, ``<hostname> - <treeID>`` (pkg/util/checkpoint.go)."""
    return f"{hostname} - {tree_id}"


# --- signed notes -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line: ``— <name> base64(key_id || signature)``."""

    name: str
    key_id: bytes
    signature: bytes

    def __post_init__(self) -> None:
        _check_key_name(self.name)
        if len(self.key_id) != 4:
            raise FormatError("note key IDs are 4 bytes")
        if not self.signature:
            raise FormatError("note signature is empty")

    def to_line(self) -> str:
        encoded = base64.b64encode(self.key_id + self.signature).decode("ascii")
        return f"{EM_DASH} {self.name} {encoded}\n"

    @classmethod
    def from_line(cls, line: str) -> NoteSignature:
        """Parse one line without its newline."""
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != EM_DASH:
            raise FormatError("malformed note signature line")
        _, name, encoded = parts
        _check_key_name(name)
        raw = _b64decode(encoded, "note signature")
        if len(raw) < 5:
            raise FormatError("note signature is too short")
        return cls(name=name, key_id=raw[:4], signature=raw[4:])


@dataclass(frozen=True, slots=True)
class SignedNote:
    """A note text and its signatures, exactly as written on the wire."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def __post_init__(self) -> None:
        if not self.text.endswith("\n") or "\n\n" in self.text or self.text.startswith("\n"):
            raise FormatError("note text must be non-empty lines, each ending in a newline")
        if _CONTROL.search(self.text):
            raise FormatError("note text contains a control character")
        if not 1 <= len(self.signatures) <= MAX_SIGNATURES:
            raise FormatError(f"a note carries 1 to {MAX_SIGNATURES} signatures")

    def to_text(self) -> str:
        return self.text + "\n" + "".join(sig.to_line() for sig in self.signatures)

    @classmethod
    def from_text(cls, note: str | bytes) -> SignedNote:
        """Parse a signed note; FormatError for anything that is not exactly one.

        The text may not contain blank lines (a checkpoint has none), so the single blank line is
        the separator: sigstore-python requires exactly one ``\\n\\n``.
        """
        if isinstance(note, bytes):
            if len(note) > MAX_NOTE_BYTES:
                raise FormatError("signed note is too large")
            try:
                note = note.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise FormatError("signed note is not UTF-8", reason=str(exc)) from None
        if not isinstance(note, str):
            raise FormatError("signed note must be text")
        if len(note) > MAX_NOTE_BYTES:
            raise FormatError("signed note is too large")
        try:
            note.encode("utf-8")
        except UnicodeEncodeError:
            raise FormatError("signed note is not valid Unicode") from None
        if _CONTROL.search(note):
            raise FormatError("signed note contains a control character")
        if not note.endswith("\n"):
            raise FormatError("signed note must end with a newline")
        if note.count("\n\n") != 1:
            raise FormatError(
                "signed note must contain exactly one blank line between text and signatures"
            )
        split = note.index("\n\n")
        text, block = note[: split + 1], note[split + 2 :]
        if not block:
            raise FormatError("signed note has no signatures")
        lines = block[:-1].split("\n")
        if len(lines) > MAX_SIGNATURES:
            raise FormatError(f"signed note has more than {MAX_SIGNATURES} signatures")
        return cls(text=text, signatures=tuple(NoteSignature.from_line(line) for line in lines))


def note_key_id(name: str, public_key: PublicKey) -> bytes:
    """The 4-byte key ID a signature line carries for ``public_key`` under key name ``name``.

    ECDSA: ``SHA-256(DER SPKI)[:4]`` (Rekor v1; C2SP signature type 0x02). Ed25519:
    ``SHA-256(name || 0x0A || 0x01 || 32-byte key)[:4]`` (C2SP signed-note §"Ed25519 signatures").
    """
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return hashlib.sha256(name.encode("utf-8") + b"\n" + _ED25519_TYPE + raw).digest()[:4]
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return hashlib.sha256(spki_der(public_key)).digest()[:4]
    raise TypeError(f"unsupported note key type {type(public_key).__name__}")


def sign_note(text: str, name: str, signer: NoteSigner) -> NoteSignature:
    """Sign note ``text`` (lines ending in newline) as key ``name``."""
    _check_key_name(name)
    signature = signer.sign(text.encode("utf-8"))
    return NoteSignature(
        name=name, key_id=note_key_id(name, signer.public_key), signature=signature
    )


def sign_checkpoint(checkpoint: Checkpoint, name: str, signer: NoteSigner) -> str:
    """The signed-note text of ``checkpoint`` with one signature by ``signer`` as ``name``."""
    text = checkpoint.to_text()
    return SignedNote(text=text, signatures=(sign_note(text, name, signer),)).to_text()


def parse_signed_note(note: str | bytes) -> tuple[Checkpoint, list[NoteSignature]]:
    """Parse a signed checkpoint *without verifying it*: its text and its signature lines.

    The checkpoint must not be trusted until :func:`verify_checkpoint` has checked a signature.
    """
    signed = SignedNote.from_text(note)
    return Checkpoint.from_text(signed.text), list(signed.signatures)


def verify_checkpoint(note: str | bytes, name: str | None, public_key: PublicKey) -> Checkpoint:
    """Verify a signed checkpoint with the log's key and return the checkpoint it signs.

    Signature lines of other keys are ignored (signed-note: "Verifiers MUST ignore signatures from
    unknown keys"). A line is the log's if its key ID is the key's and, when ``name`` is given, its
    key name is ``name``; ``name=None`` matches on the key ID alone, as sigstore-python does. If a
    line of the log's key fails to verify, the whole note is refused (signed-note: "clients SHOULD
    reject the whole note"); if no line is the log's, it is refused too (fail closed).
    """
    signed = SignedNote.from_text(note)
    checkpoint = Checkpoint.from_text(signed.text)
    message = signed.text.encode("utf-8")
    verified = False
    for signature in signed.signatures:
        if name is not None and signature.name != name:
            continue
        if signature.key_id != note_key_id(signature.name, public_key):
            continue
        try:
            verify_signature(public_key, signature.signature, message)
        except VerificationError as exc:
            raise VerificationError(
                "checkpoint signature does not verify", name=signature.name
            ) from exc
        verified = True
    if not verified:
        raise VerificationError(
            "checkpoint carries no signature by the log's key",
            name=name or "",
            origin=checkpoint.origin,
        )
    return checkpoint
