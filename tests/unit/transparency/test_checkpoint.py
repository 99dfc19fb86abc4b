"""Checkpoints: signing and verifying signed notes (ECDSA as Rekor v1, Ed25519 as C2SP), the real
public-good Rekor checkpoint, sigstore-python's checkpoint code as an oracle, strict parsing.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import load_der_public_key
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.errors import FormatError, VerificationError
from assay.keys import PublicKey, Signer, generate_ec, generate_ed25519, key_id, spki_der
from assay.transparency.checkpoint import (
    Checkpoint,
    NoteSignature,
    SignedNote,
    note_key_id,
    parse_signed_note,
    rekor_origin,
    sign_checkpoint,
    sign_note,
    verify_checkpoint,
)
from tests.npm_real import ROOT

ROOT_HASH = hashlib.sha256(b"root").digest()
CHECKPOINT = Checkpoint(origin=rekor_origin("log.example", 1234), size=42, root_hash=ROOT_HASH)
EC_SIGNER = Signer(generate_ec())
ED_SIGNER = Signer(generate_ed25519())


# --- the real public-good checkpoint -----------------------------------------------------------


def _real_entry() -> dict[str, Any]:
    path = ROOT / "slsa-verifier" / "provenance-npm-test-cli-v1-prega.tgz.json"
    bundle = json.loads(path.read_text())["attestations"][0]["bundle"]
    entry: dict[str, Any] = bundle["verificationMaterial"]["tlogEntries"][0]
    return entry


def _rekor_key(log_id_b64: str) -> PublicKey:
    trusted_root = ROOT / "public-good" / "sigstore-tuf-4.0.2" / "targets" / "trusted_root.json"
    for tlog in json.loads(trusted_root.read_text())["tlogs"]:
        if tlog["logId"]["keyId"] == log_id_b64:
            key = load_der_public_key(base64.b64decode(tlog["publicKey"]["rawBytes"]))
            assert isinstance(key, ec.EllipticCurvePublicKey)
            return key
    raise AssertionError("no tlog with that log ID")


def test_real_public_good_checkpoint_verifies() -> None:
    entry = _real_entry()
    note = entry["inclusionProof"]["checkpoint"]["envelope"]
    key = _rekor_key(entry["logId"]["keyId"])
    assert key_id(key) == base64.b64decode(entry["logId"]["keyId"])
    checkpoint = verify_checkpoint(note, "rekor.sigstore.dev", key)
    assert checkpoint.origin == "rekor.sigstore.dev - 2605736670972794746"
    assert checkpoint.size == int(entry["inclusionProof"]["treeSize"])
    assert checkpoint.root_hash == base64.b64decode(entry["inclusionProof"]["rootHash"])
    assert checkpoint.extensions == ()
    # The hint is the log ID's first four bytes (sigstore.md §3.1).
    _, signatures = parse_signed_note(note)
    assert signatures[0].key_id == key_id(key)[:4] == note_key_id("rekor.sigstore.dev", key)
    # Without a name, match on the key ID alone (sigstore-python).
    assert verify_checkpoint(note, None, key) == checkpoint
    # Our serialization gives the same bytes back.
    assert SignedNote.from_text(note).to_text() == note
    assert checkpoint.to_text() + "\n" + signatures[0].to_line() == note


def test_real_checkpoint_refused_when_tampered_or_wrong_key() -> None:
    entry = _real_entry()
    note: str = entry["inclusionProof"]["checkpoint"]["envelope"]
    key = _rekor_key(entry["logId"]["keyId"])
    tampered = note.replace("90244728", "90244729", 1)
    with pytest.raises(VerificationError, match="does not verify"):
        verify_checkpoint(tampered, "rekor.sigstore.dev", key)
    with pytest.raises(VerificationError, match="no signature"):
        verify_checkpoint(note, "rekor.sigstore.dev", EC_SIGNER.public_key)
    with pytest.raises(VerificationError, match="no signature"):
        verify_checkpoint(note, "rekor.sigstage.dev", key)


# --- sign and verify --------------------------------------------------------------------------


@pytest.mark.parametrize("signer", [EC_SIGNER, ED_SIGNER], ids=["ecdsa-p256", "ed25519"])
def test_sign_and_verify(signer: Signer) -> None:
    checkpoint = Checkpoint(
        origin="log.example - 7", size=0, root_hash=ROOT_HASH, extensions=("Timestamp: 1",)
    )
    note = sign_checkpoint(checkpoint, "log.example", signer)
    assert note.startswith("log.example - 7\n0\n" + base64.b64encode(ROOT_HASH).decode() + "\n")
    assert "\nTimestamp: 1\n\n\u2014 log.example " in note
    assert verify_checkpoint(note, "log.example", signer.public_key) == checkpoint
    assert verify_checkpoint(note.encode(), None, signer.public_key) == checkpoint
    other = Signer(generate_ec()) if isinstance(signer.key, ec.EllipticCurvePrivateKey) else None
    other = other or Signer(generate_ed25519())
    with pytest.raises(VerificationError):
        verify_checkpoint(note, "log.example", other.public_key)


def test_ed25519_key_id_is_c2sp() -> None:
    public = ED_SIGNER.public_key
    assert isinstance(public, ed25519.Ed25519PublicKey)
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    expected = hashlib.sha256(b"example.com/log\n\x01" + raw).digest()[:4]
    assert note_key_id("example.com/log", public) == expected
    # The key ID depends on the name: the same key under another name is another key.
    assert note_key_id("example.com/other", public) != expected


def test_ecdsa_key_id_is_spki_hash() -> None:
    public = EC_SIGNER.public_key
    assert note_key_id("anything", public) == hashlib.sha256(spki_der(public)).digest()[:4]


def test_other_keys_signatures_are_ignored_and_failing_own_signature_refuses() -> None:
    text = CHECKPOINT.to_text()
    witness = sign_note(text, "witness.example", Signer(generate_ed25519()))
    ours = sign_note(text, "log.example", EC_SIGNER)
    note = SignedNote(text=text, signatures=(witness, ours)).to_text()
    assert verify_checkpoint(note, "log.example", EC_SIGNER.public_key) == CHECKPOINT
    # A line with the log's name and key ID whose signature is wrong spoils the note.
    forged = NoteSignature("log.example", ours.key_id, b"\x30\x06\x02\x01\x01\x02\x01\x01")
    note = SignedNote(text=text, signatures=(forged, ours)).to_text()
    with pytest.raises(VerificationError, match="does not verify"):
        verify_checkpoint(note, "log.example", EC_SIGNER.public_key)
    # Same name, other key ID: not ours, ignored; nothing else verifies -> refused.
    stranger = NoteSignature("log.example", b"\x00\x00\x00\x00", ours.signature)
    note = SignedNote(text=text, signatures=(stranger,)).to_text()
    with pytest.raises(VerificationError, match="no signature"):
        verify_checkpoint(note, "log.example", EC_SIGNER.public_key)


def test_sigstore_python_accepts_our_checkpoints() -> None:
    """sigstore-python's own parser and keyring verify what we sign (oracle)."""
    from sigstore._internal.rekor.checkpoint import SignedCheckpoint
    from sigstore._internal.trust import Keyring, RekorKeyring
    from sigstore._utils import KeyID
    from sigstore_models.common import v1 as common_v1

    note = sign_checkpoint(CHECKPOINT, "log.example", EC_SIGNER)
    parsed = SignedCheckpoint.from_text(note)
    assert parsed.checkpoint.log_size == CHECKPOINT.size
    assert parsed.checkpoint.log_hash == ROOT_HASH.hex()
    assert parsed.checkpoint.origin == CHECKPOINT.origin
    public = common_v1.PublicKey.model_validate(
        {
            "rawBytes": base64.b64encode(spki_der(EC_SIGNER.public_key)).decode(),
            "keyDetails": common_v1.PublicKeyDetails.PKIX_ECDSA_P256_SHA_256,
        }
    )
    keyring = RekorKeyring(Keyring([public]))
    parsed.signed_note.verify(keyring, KeyID(key_id(EC_SIGNER.public_key)))


# --- strict parsing ---------------------------------------------------------------------------


GOOD_NOTE = sign_checkpoint(CHECKPOINT, "log.example", EC_SIGNER)


def _good_note() -> str:
    return GOOD_NOTE


@pytest.mark.parametrize(
    "mutate",
    [
        lambda n: n.replace("\n\n", "\n", 1),  # no blank line
        lambda n: n.replace("\n\n", "\n\n\n", 1),  # two blank lines
        lambda n: n[:-1],  # no final newline
        lambda n: n + "\n",  # trailing blank line
        lambda n: n + n,  # duplicate separators
        lambda n: n.replace("\u2014", "-"),  # not an em dash
        lambda n: n.replace("\u2014 ", "\u2014  "),  # double space
        lambda n: n.replace("\n\n", "\nextra\r\n\n", 1),  # control character
        lambda n: n.replace("42\n", "042\n", 1),  # leading zero
        lambda n: n.replace("42\n", "+42\n", 1),
        lambda n: n.replace("42\n", "\u0664\u0662\n", 1),  # Arabic-Indic digits
        lambda n: n.replace("=\n", "\n", 1),  # root without padding
        lambda n: "\n" + n,  # empty first line
        lambda n: n.split("\n", 1)[1],  # fewer than three lines
        lambda n: n.replace(" log.example ", " log+example "),  # plus in a key name
        lambda n: n[: n.rindex(" ") + 1] + "AAAA\n",  # signature shorter than key ID + 1 byte
        lambda n: n[: n.rindex(" ") + 1] + "!!!!\n",  # not base64
        lambda n: n.rstrip("\n") + "=\n",  # bad padding
        lambda n: n.replace("\n\n", "\n\nnot a signature\n", 1),
        lambda n: "",
        lambda n: "\n\n",
    ],
)
def test_malformed_notes_are_format_errors(mutate: Any) -> None:
    note = mutate(_good_note())
    with pytest.raises(FormatError):
        verify_checkpoint(note, "log.example", EC_SIGNER.public_key)


def test_empty_extension_line_and_extreme_sizes() -> None:
    with pytest.raises(FormatError, match="non-empty"):
        Checkpoint(origin="o", size=1, root_hash=ROOT_HASH, extensions=("",))
    with pytest.raises(FormatError, match="out of range"):
        Checkpoint(origin="o", size=2**64, root_hash=ROOT_HASH)
    with pytest.raises(FormatError, match="32 bytes"):
        Checkpoint(origin="o", size=1, root_hash=b"short")
    with pytest.raises(FormatError, match="empty"):
        Checkpoint(origin="", size=1, root_hash=ROOT_HASH)
    with pytest.raises(FormatError, match="newline"):
        Checkpoint(origin="a\nb", size=1, root_hash=ROOT_HASH)
    big = Checkpoint(origin="o", size=2**64 - 1, root_hash=ROOT_HASH)
    assert Checkpoint.from_text(big.to_text()) == big
    with pytest.raises(FormatError):
        Checkpoint.from_text("o\n18446744073709551616\n" + base64.b64encode(ROOT_HASH).decode())


def test_non_canonical_base64_signature_is_refused() -> None:
    text = CHECKPOINT.to_text()
    line = NoteSignature("log.example", b"\x01\x02\x03\x04", b"\x05\x06\x07").to_line()
    # 4 + 3 bytes = 7 -> "AQIDBAUGBw==": the last character before "==" carries 4 unused bits.
    encoded = line.split(" ")[2].rstrip("\n")
    assert encoded == "AQIDBAUGBw=="
    twisted = "AQIDBAUGBx=="
    assert base64.b64decode(twisted) == base64.b64decode(encoded)
    SignedNote.from_text(text + "\n" + line)
    with pytest.raises(FormatError, match="canonical"):
        SignedNote.from_text(text + "\n" + line.replace(encoded, twisted))


def test_too_many_signatures() -> None:
    text = CHECKPOINT.to_text()
    line = sign_note(text, "log.example", EC_SIGNER)
    with pytest.raises(FormatError, match="100"):
        SignedNote.from_text(text + "\n" + line.to_line() * 101)
    assert len(SignedNote.from_text(text + "\n" + line.to_line() * 16).signatures) == 16


def test_invalid_utf8_and_oversized() -> None:
    with pytest.raises(FormatError, match="UTF-8"):
        SignedNote.from_text(b"\xff\n\n")
    with pytest.raises(FormatError, match="too large"):
        SignedNote.from_text("a" * (2 << 20))
    with pytest.raises(FormatError, match="Unicode"):
        SignedNote.from_text("\ud800\n\n\u2014 a AAAAAAA=\n")


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_raises_only_our_errors(text: str) -> None:
    with contextlib.suppress(FormatError, VerificationError):
        verify_checkpoint(text, "log.example", EC_SIGNER.public_key)


_ALPHABET = st.sampled_from(["\n", "\u2014", " ", "log.example", "42", "AAAA", "=", "x", "+"])


@settings(max_examples=400, deadline=None)
@given(st.lists(_ALPHABET, max_size=40).map("".join))
def test_near_miss_text_raises_only_our_errors(text: str) -> None:
    with contextlib.suppress(FormatError):
        parse_signed_note(text)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_good_note_never_verifies_differently(data: st.DataObject) -> None:
    note = _good_note()
    position = data.draw(st.integers(0, len(note) - 1))
    replacement = data.draw(st.characters(codec="utf-8"))
    mutated = note[:position] + replacement + note[position + 1 :]
    try:
        checkpoint = verify_checkpoint(mutated, "log.example", EC_SIGNER.public_key)
    except (FormatError, VerificationError):
        return
    # Only a no-op mutation may still verify.
    assert mutated == note
    assert checkpoint == CHECKPOINT
